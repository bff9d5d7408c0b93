//! A stand-in for CloudFormation's pre-signed response URL that keeps every PUT.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use serde_json::Value;

/// One PUT the server received.
#[derive(Debug, Clone, PartialEq)]
pub struct CapturedPut {
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body's length in bytes.
    pub length: usize,
    /// The body, parsed.
    pub body: Value,
}

#[derive(Clone, Default)]
struct Shared {
    puts: Arc<Mutex<Vec<CapturedPut>>>,
    failures_left: Arc<Mutex<u32>>,
}

/// The capture server.
#[derive(Clone)]
pub struct ResponseCapture {
    shared: Shared,
    url: String,
}

impl ResponseCapture {
    /// Starts a server on loopback.
    pub async fn start() -> Self {
        let shared = Shared::default();
        let router = Router::new()
            .route("/{*path}", put(keep))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/cloudformation-response?X-Amz-Signature=test",
            listener.local_addr().expect("address")
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { shared, url }
    }

    /// The URL to put in an event's `ResponseURL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Answers the next `count` PUTs with 503 (without keeping them).
    pub fn fail_next(&self, count: u32) {
        *self.shared.failures_left.lock().expect("lock") = count;
    }

    /// Every PUT kept so far, and forgets them.
    pub fn take(&self) -> Vec<CapturedPut> {
        std::mem::take(&mut *self.shared.puts.lock().expect("lock"))
    }
}

async fn keep(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    {
        let mut left = shared.failures_left.lock().expect("lock");
        if *left > 0 {
            *left -= 1;
            return StatusCode::SERVICE_UNAVAILABLE;
        }
    }
    let put = CapturedPut {
        content_type: headers
            .get("content-type")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        length: body.len(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    };
    shared.puts.lock().expect("lock").push(put);
    StatusCode::OK
}
