//! A stand-in for CloudFormation's pre-signed response URL that keeps every PUT,
//! served over HTTPS as S3 serves it: the custom resource answers only `https://`
//! URLs in its response domain, so the capture is `https://localhost:<port>/...`
//! with a certificate from a test authority, and the function is started with
//! `localhost` as its domain and that authority in `SSL_CERT_FILE`
//! ([`ResponseCapture::custom_resource_env`]).

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::put;
use presto_ha_contract::custom_resource_env;
use serde_json::Value;

use crate::tls::{TestAuthority, TlsListener};

/// The host of the capture's URL, and so the custom resource's response domain.
pub const HOST: &str = "localhost";

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
    authority_file: Arc<tempfile::NamedTempFile>,
}

impl ResponseCapture {
    /// Starts a server on loopback, with a certificate for [`HOST`].
    pub async fn start() -> Self {
        let shared = Shared::default();
        let router = Router::new()
            .route("/{*path}", put(keep))
            .with_state(shared.clone());
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = tcp.local_addr().expect("address").port();
        let authority = TestAuthority::new();
        let authority_file = tempfile::NamedTempFile::new().expect("temp file");
        std::fs::write(authority_file.path(), authority.pem()).expect("write the authority");
        let listener = TlsListener::new(tcp, &authority.issue(HOST));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            shared,
            url: format!("https://{HOST}:{port}/cloudformation-response?X-Amz-Signature=test"),
            authority_file: Arc::new(authority_file),
        }
    }

    /// The environment of a custom-resource function serving the stack `stack_id`
    /// that answers to this capture.
    pub fn custom_resource_env(&self, stack_id: &str) -> Vec<(&'static str, String)> {
        vec![
            (custom_resource_env::STACK_ID, stack_id.to_owned()),
            (custom_resource_env::RESPONSE_DOMAIN, HOST.to_owned()),
            (
                "SSL_CERT_FILE",
                self.authority_file.path().display().to_string(),
            ),
        ]
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
