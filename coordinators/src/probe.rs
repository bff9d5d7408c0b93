//! Asking one coordinator's Presto whether it is serving.
//!
//! The probe is `GET http://<private-ip>:<port>/v1/info`, which needs no
//! authentication. Healthy means what Trino Gateway and the Trino Helm chart mean by
//! it: HTTP 200, `"coordinator": true` and `"starting": false`.

use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use serde::Deserialize;

use crate::error_chain;

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Presto answered as a coordinator that has finished starting.
    Healthy,
    /// Presto answered but is still starting.
    Starting,
    /// Presto answered as a worker, not a coordinator.
    NotCoordinator,
    /// No usable answer.
    Down(ProbeFailure),
}

impl Health {
    /// Whether the coordinator can take the record.
    pub fn is_healthy(&self) -> bool {
        *self == Self::Healthy
    }
}

/// Why a probe got no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No answer within the timeout: a hung process (a long GC) or a silent network.
    TimedOut,
    /// The connection failed: nothing listens, or the host is unreachable.
    Unreachable(String),
    /// An HTTP status other than 200.
    Status(u16),
    /// A 200 whose body is not the JSON `/v1/info` returns.
    BadBody(String),
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Healthy => f.write_str("healthy"),
            Self::Starting => f.write_str("starting"),
            Self::NotCoordinator => f.write_str("not a coordinator"),
            Self::Down(ProbeFailure::TimedOut) => f.write_str("timed out"),
            Self::Down(ProbeFailure::Unreachable(why)) => write!(f, "unreachable ({why})"),
            Self::Down(ProbeFailure::Status(status)) => write!(f, "HTTP {status}"),
            Self::Down(ProbeFailure::BadBody(why)) => write!(f, "bad /v1/info body ({why})"),
        }
    }
}

/// Probes one coordinator.
pub trait HealthProbe {
    /// Probes `ip:port`, giving up after `timeout`. Never fails: every outcome is a
    /// [`Health`].
    fn probe(
        &self,
        ip: Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> impl Future<Output = Health> + Send;
}

/// The fields of `/v1/info` the probe reads.
#[derive(Debug, Deserialize)]
struct ServerInfo {
    coordinator: bool,
    starting: bool,
}

/// [`HealthProbe`] over HTTP.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    client: reqwest::Client,
}

impl HttpProbe {
    /// A probe with its own connection pool. Proxies are never used: the target is a
    /// private IP inside the VPC.
    pub fn new() -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .no_proxy()
            // A fresh connection each time: a reused one could hide a host that no
            // longer accepts new connections.
            .pool_max_idle_per_host(0)
            .build()?;
        Ok(Self { client })
    }
}

impl HealthProbe for HttpProbe {
    async fn probe(&self, ip: Ipv4Addr, port: u16, timeout: Duration) -> Health {
        let url = format!("http://{}/v1/info", SocketAddrV4::new(ip, port));
        let response = match self.client.get(&url).timeout(timeout).send().await {
            Ok(response) => response,
            Err(error) if error.is_timeout() => return Health::Down(ProbeFailure::TimedOut),
            Err(error) => return Health::Down(ProbeFailure::Unreachable(error_chain(&error))),
        };
        let status = response.status().as_u16();
        if status != 200 {
            return Health::Down(ProbeFailure::Status(status));
        }
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) if error.is_timeout() => return Health::Down(ProbeFailure::TimedOut),
            Err(error) => return Health::Down(ProbeFailure::BadBody(error_chain(&error))),
        };
        match serde_json::from_slice::<ServerInfo>(&body) {
            Ok(ServerInfo {
                coordinator: false, ..
            }) => Health::NotCoordinator,
            Ok(ServerInfo { starting: true, .. }) => Health::Starting,
            Ok(_) => Health::Healthy,
            Err(error) => Health::Down(ProbeFailure::BadBody(error.to_string())),
        }
    }
}

/// The user the queries listing is asked as. Without authentication, Trino and
/// prestodb only need a name; it shows in their logs.
const LISTING_USER: &str = "presto-ha";

/// What a coordinator still has to do before it can go.
pub trait QueryLoad {
    /// How many queries the coordinator at `ip:port` has not finished: queued,
    /// planning, running or finishing.
    fn unfinished_queries(
        &self,
        ip: Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> impl Future<Output = Result<usize, ProbeFailure>> + Send;
}

/// One query of `GET /v1/query`, as far as it is read.
#[derive(Debug, Deserialize)]
struct QuerySummary {
    state: String,
}

/// Query states after which a query holds nothing on the coordinator.
const DONE_STATES: [&str; 2] = ["FINISHED", "FAILED"];

impl QueryLoad for HttpProbe {
    async fn unfinished_queries(
        &self,
        ip: Ipv4Addr,
        port: u16,
        timeout: Duration,
    ) -> Result<usize, ProbeFailure> {
        let url = format!("http://{}/v1/query", SocketAddrV4::new(ip, port));
        let response = self
            .client
            .get(&url)
            .header("X-Trino-User", LISTING_USER)
            .header("X-Presto-User", LISTING_USER)
            .timeout(timeout)
            .send()
            .await
            .map_err(|error| {
                if error.is_timeout() {
                    ProbeFailure::TimedOut
                } else {
                    ProbeFailure::Unreachable(error_chain(&error))
                }
            })?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ProbeFailure::Status(status));
        }
        let body = response
            .bytes()
            .await
            .map_err(|error| ProbeFailure::BadBody(error_chain(&error)))?;
        let queries: Vec<QuerySummary> = serde_json::from_slice(&body)
            .map_err(|error| ProbeFailure::BadBody(error.to_string()))?;
        Ok(queries
            .iter()
            .filter(|q| !DONE_STATES.contains(&q.state.as_str()))
            .count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::StatusCode;
    use axum::routing::get;

    /// Serves `router` on a free loopback port and returns the port.
    async fn serve(router: Router) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, router).await });
        port
    }

    async fn probe_body(status: StatusCode, body: &'static str) -> Health {
        let port =
            serve(Router::new().route("/v1/info", get(move || async move { (status, body) })))
                .await;
        HttpProbe::new()
            .expect("client")
            .probe(Ipv4Addr::LOCALHOST, port, Duration::from_secs(2))
            .await
    }

    #[tokio::test]
    async fn reads_what_presto_says_about_itself() {
        let info = |coordinator: bool, starting: bool| {
            format!(
                r#"{{"nodeVersion":{{"version":"0.293"}},"environment":"production","coordinator":{coordinator},"starting":{starting},"uptime":"49.00s"}}"#
            )
        };
        let cases = [
            (info(true, false), Health::Healthy),
            (info(true, true), Health::Starting),
            (info(false, false), Health::NotCoordinator),
        ];
        for (body, expected) in cases {
            let body: &'static str = Box::leak(body.into_boxed_str());
            assert_eq!(probe_body(StatusCode::OK, body).await, expected, "{body}");
        }
    }

    #[tokio::test]
    async fn reads_trinos_longer_info_alike() {
        // Trino 479's /v1/info, with the fields prestodb lacks.
        let trino = |starting: bool| {
            format!(
                r#"{{"nodeId":"i-0123456789abcdef0","state":"ACTIVE","nodeVersion":{{"version":"479"}},"environment":"production","coordinator":true,"coordinatorId":"i-0123456789abcdef0","starting":{starting},"uptime":"3.20m","nodeGroups":[]}}"#
            )
        };
        for (body, expected) in [
            (trino(false), Health::Healthy),
            (trino(true), Health::Starting),
        ] {
            let body: &'static str = Box::leak(body.into_boxed_str());
            assert_eq!(probe_body(StatusCode::OK, body).await, expected, "{body}");
        }
    }

    #[tokio::test]
    async fn anything_else_is_down_with_the_reason() {
        assert_eq!(
            probe_body(StatusCode::SERVICE_UNAVAILABLE, "").await,
            Health::Down(ProbeFailure::Status(503))
        );
        assert!(matches!(
            probe_body(StatusCode::OK, "<html>").await,
            Health::Down(ProbeFailure::BadBody(_))
        ));
        assert!(matches!(
            probe_body(StatusCode::OK, r#"{"coordinator":true}"#).await,
            Health::Down(ProbeFailure::BadBody(_))
        ));
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let health = HttpProbe::new()
            .expect("client")
            .probe(Ipv4Addr::LOCALHOST, port, Duration::from_secs(2))
            .await;
        assert!(
            matches!(health, Health::Down(ProbeFailure::Unreachable(_))),
            "{health:?}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_times_out() {
        // Accepts connections and never answers, like a JVM stuck in a full GC.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let _hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let health = HttpProbe::new()
            .expect("client")
            .probe(Ipv4Addr::LOCALHOST, port, Duration::from_millis(300))
            .await;
        assert_eq!(health, Health::Down(ProbeFailure::TimedOut));
    }

    #[tokio::test]
    async fn unfinished_queries_count_all_but_finished_and_failed_ones() {
        let body = r#"[{"queryId":"a","state":"RUNNING"},{"queryId":"b","state":"QUEUED"},{"queryId":"c","state":"FINISHED"},{"queryId":"d","state":"FAILED"},{"queryId":"e","state":"PLANNING"}]"#;
        let port = serve(Router::new().route(
            "/v1/query",
            get(move |headers: axum::http::HeaderMap| async move {
                if headers.get("X-Trino-User").is_none() {
                    return (StatusCode::UNAUTHORIZED, "");
                }
                (StatusCode::OK, body)
            }),
        ))
        .await;
        let probe = HttpProbe::new().expect("client");
        let loopback = Ipv4Addr::LOCALHOST;
        let timeout = Duration::from_secs(2);
        assert_eq!(
            probe.unfinished_queries(loopback, port, timeout).await,
            Ok(3)
        );
        let broken = serve(Router::new().route("/v1/query", get(|| async { "{}" }))).await;
        assert!(matches!(
            probe.unfinished_queries(loopback, broken, timeout).await,
            Err(ProbeFailure::BadBody(_))
        ));
    }
}
