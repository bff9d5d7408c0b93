//! Presto coordinators played by HTTP(S) servers bound to the instances' private IPs
//! (loopback addresses in the sandbox), answering `/v1/info` and `/v1/query` like
//! Presto does; over HTTPS with a certificate, and asking for a password, as a
//! coordinator with TLS and authentication on.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::tls::{Identity, TlsListener};

/// How the fake Presto behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// A coordinator that has finished starting.
    Healthy,
    /// A coordinator still starting.
    Starting,
    /// Accepts connections and never answers, like a JVM in a long full GC.
    Hung,
    /// Answers HTTP 500.
    Failing,
}

/// One fake coordinator.
pub struct FakePresto {
    behaviour: Arc<Mutex<Behaviour>>,
    running: Arc<Mutex<usize>>,
    server: Option<tokio::task::JoinHandle<()>>,
    address: SocketAddr,
    tls: Option<Identity>,
    login: Option<String>,
}

impl FakePresto {
    /// Serves on `ip:port` behaving as `behaviour`.
    pub async fn start(ip: Ipv4Addr, port: u16, behaviour: Behaviour) -> Self {
        let behaviour = Arc::new(Mutex::new(behaviour));
        let address = SocketAddr::from((ip, port));
        let mut fake = Self {
            behaviour,
            running: Arc::new(Mutex::new(0)),
            server: None,
            address,
            tls: None,
            login: None,
        };
        fake.listen().await;
        fake
    }

    /// Serves HTTPS on `ip:port` with `identity`, behaving as `behaviour`; its queries
    /// are listed only to `user` logging on with `password` (HTTP basic
    /// authentication), as a coordinator with password authentication on.
    pub async fn start_https(
        ip: Ipv4Addr,
        port: u16,
        behaviour: Behaviour,
        identity: Identity,
        (user, password): (&str, &str),
    ) -> Self {
        let mut fake = Self {
            behaviour: Arc::new(Mutex::new(behaviour)),
            running: Arc::new(Mutex::new(0)),
            server: None,
            address: SocketAddr::from((ip, port)),
            tls: Some(identity),
            login: Some(basic(user, password)),
        };
        fake.listen().await;
        fake
    }

    async fn listen(&mut self) {
        let router = Router::new()
            .route("/v1/info", get(info))
            .with_state(self.behaviour.clone())
            .route(
                "/v1/query",
                get(queries).with_state((self.running.clone(), self.login.clone())),
            );
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .unwrap_or_else(|e| panic!("failed to bind fake Presto on {}: {e}", self.address));
        let tls = self.tls.clone();
        self.server = Some(tokio::spawn(async move {
            let _ = match tls {
                Some(identity) => axum::serve(TlsListener::new(listener, &identity), router).await,
                None => axum::serve(listener, router).await,
            };
        }));
    }

    /// Changes how it behaves from now on.
    pub fn set(&self, behaviour: Behaviour) {
        self.control().set(behaviour);
    }

    /// A handle that changes its behaviour, or stops it, from another task.
    pub fn control(&self) -> PrestoControl {
        PrestoControl {
            behaviour: self.behaviour.clone(),
            running: self.running.clone(),
            server: self.server.as_ref().map(|s| s.abort_handle()),
        }
    }

    /// Stops listening: connections are refused, as when Presto has exited.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// Changes a [`FakePresto`]'s behaviour, or stops it, from anywhere.
#[derive(Clone)]
pub struct PrestoControl {
    behaviour: Arc<Mutex<Behaviour>>,
    running: Arc<Mutex<usize>>,
    server: Option<tokio::task::AbortHandle>,
}

impl PrestoControl {
    /// Changes how the fake behaves from now on.
    pub fn set(&self, behaviour: Behaviour) {
        *self.behaviour.lock().expect("lock") = behaviour;
    }

    /// Sets how many queries it reports running (besides one finished).
    pub fn set_running_queries(&self, count: usize) {
        *self.running.lock().expect("lock") = count;
    }

    /// Stops listening, as when Presto has exited.
    pub fn stop(&self) {
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

impl Drop for FakePresto {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn info(State(behaviour): State<Arc<Mutex<Behaviour>>>) -> Response {
    let behaviour = *behaviour.lock().expect("lock");
    let body = |starting: bool| {
        format!(
            r#"{{"nodeVersion":{{"version":"0.293"}},"environment":"production","coordinator":true,"starting":{starting},"uptime":"49.00s"}}"#
        )
    };
    match behaviour {
        Behaviour::Healthy => ([("content-type", "application/json")], body(false)).into_response(),
        Behaviour::Starting => ([("content-type", "application/json")], body(true)).into_response(),
        Behaviour::Failing => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Behaviour::Hung => std::future::pending().await,
    }
}

/// The `Authorization` header of HTTP basic authentication as `user` with `password`.
fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// `GET /v1/query`: the running queries set, and one finished, as Presto lists them;
/// 401 without the login it asks for.
async fn queries(
    State((running, login)): State<(Arc<Mutex<usize>>, Option<String>)>,
    headers: HeaderMap,
) -> Response {
    if let Some(login) = login {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if given != Some(login.as_str()) {
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    let running = *running.lock().expect("lock");
    let mut listed: Vec<String> = (0..running)
        .map(|n| format!(r#"{{"queryId":"20261126_{n:06}_00000_aaaaa","state":"RUNNING"}}"#))
        .collect();
    listed.push(r#"{"queryId":"20261126_999999_00000_aaaaa","state":"FINISHED"}"#.to_owned());
    (
        [("content-type", "application/json")],
        format!("[{}]", listed.join(",")),
    )
        .into_response()
}
