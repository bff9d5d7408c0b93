//! Asking one coordinator's Presto whether it is serving.
//!
//! The probe is `GET /v1/info`: from the Lambdas over plain HTTP on the nodes' own
//! port (`http://<private-ip>:<port>`), which only the cluster's security groups
//! reach and where neither engine asks for a login; from the command line as a client
//! sees it, over HTTPS to each instance's IP with the certificate checked for the
//! coordinator record's name, logged in as the stack's admin (prestodb refuses the
//! request without a login there). Healthy means what Trino Gateway and the Trino Helm
//! chart mean by it: HTTP 200, `"coordinator": true` and `"starting": false`.

use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use presto_ha_contract::users;

use crate::error_chain;

/// What one probe found. Its serde form is the probe function's answer's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeFailure {
    /// No answer within the timeout: a hung process (a long GC) or a silent network.
    TimedOut,
    /// The host refused the connection: it is up and nothing listens on the port
    /// (the engine exited, or has not started yet).
    Refused,
    /// The connection failed otherwise (no route, a TLS failure).
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
            Self::Down(ProbeFailure::Refused) => f.write_str("refused"),
            Self::Down(ProbeFailure::Unreachable(why)) => write!(f, "unreachable ({why})"),
            Self::Down(ProbeFailure::Status(status)) => write!(f, "HTTP {status}"),
            Self::Down(ProbeFailure::BadBody(why)) => write!(f, "bad /v1/info body ({why})"),
        }
    }
}

/// What the probe function answers: the serving members of `group` it probed on
/// `port`, and what each probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The coordinator group.
    pub group: String,
    /// The port probed.
    pub port: u16,
    /// One entry per serving member.
    pub probed: Vec<MemberHealth>,
}

/// One member in a [`ProbeReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberHealth {
    /// The instance, as EC2 names it.
    pub instance_id: String,
    /// The IP probed.
    pub ip: Ipv4Addr,
    /// What the probe found.
    pub health: Health,
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

/// How a probe reaches a coordinator over HTTPS: each instance's IP, with its
/// certificate checked for the coordinator record's name, as a client reaching the
/// record would see it.
#[derive(Debug, Clone)]
struct Tls {
    /// The coordinator record's name, which every coordinator's certificate is for.
    name: String,
    /// The authority to trust instead of the system's roots (the stack's own).
    authority: Option<reqwest::Certificate>,
}

/// A user the coordinators know, for the calls that need one.
#[derive(Clone)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl Credentials {
    /// The stack's admin user, from the text of its password secret (JSON
    /// `{"admin": password}`); `None` when the text is not that.
    pub fn admin(secret_text: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(secret_text).ok()?;
        let password = value.get(users::ADMIN)?.as_str()?;
        Some(Self {
            user: users::ADMIN.to_owned(),
            password: password.to_owned(),
        })
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <password>)", self.user)
    }
}

/// [`HealthProbe`] over HTTP, or HTTPS as a client sees it.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    client: reqwest::Client,
    tls: Option<Tls>,
    credentials: Option<Credentials>,
}

/// The client every probe builds on. Proxies are never used: the target is a private
/// IP inside the VPC.
fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .no_proxy()
        // A fresh connection each time: a reused one could hide a host that no
        // longer accepts new connections.
        .pool_max_idle_per_host(0)
}

impl HttpProbe {
    /// A plain-HTTP probe with its own connection pool.
    pub fn new() -> Result<Self, reqwest::Error> {
        Ok(Self {
            client: client_builder().build()?,
            tls: None,
            credentials: None,
        })
    }

    /// A probe over HTTPS that connects to each instance's IP and accepts only a
    /// certificate valid for `name`, issued by `authority_pem` when given (the stack's
    /// own authority), else by one the system trusts.
    pub fn https(name: &str, authority_pem: Option<&str>) -> Result<Self, reqwest::Error> {
        let authority = authority_pem
            .map(|pem| reqwest::Certificate::from_pem(pem.as_bytes()))
            .transpose()?;
        Ok(Self {
            client: client_builder().build()?,
            tls: Some(Tls {
                name: name.to_owned(),
                authority,
            }),
            credentials: None,
        })
    }

    /// The same probe, logging on as `credentials` where a call needs a user.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The client and URL for `path` on the coordinator at `ip:port`.
    fn request(
        &self,
        ip: Ipv4Addr,
        port: u16,
        path: &str,
    ) -> Result<(reqwest::Client, String), ProbeFailure> {
        let Some(tls) = &self.tls else {
            let url = format!("http://{}{path}", SocketAddrV4::new(ip, port));
            return Ok((self.client.clone(), url));
        };
        // The record's name resolved to this instance alone, for this one request.
        let mut builder =
            client_builder().resolve(&tls.name, SocketAddr::V4(SocketAddrV4::new(ip, port)));
        if let Some(authority) = &tls.authority {
            builder = builder.tls_certs_only([authority.clone()]);
        }
        let client = builder
            .build()
            .map_err(|e| ProbeFailure::Unreachable(error_chain(&e)))?;
        Ok((client, format!("https://{}:{port}{path}", tls.name)))
    }
}

impl HealthProbe for HttpProbe {
    async fn probe(&self, ip: Ipv4Addr, port: u16, timeout: Duration) -> Health {
        let (client, url) = match self.request(ip, port, "/v1/info") {
            Ok(request) => request,
            Err(failure) => return Health::Down(failure),
        };
        let mut request = client.get(&url).timeout(timeout);
        // prestodb asks every HTTPS request to log in, `/v1/info` included (Trino lets
        // that one through); over plain HTTP neither asks, and no password is sent.
        if let (Some(_), Some(credentials)) = (&self.tls, &self.credentials) {
            request = request.basic_auth(&credentials.user, Some(&credentials.password));
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => return Health::Down(send_failure(&error)),
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

/// Why a request got no response: a timeout, a refused connection (told apart from
/// the rest by the operating system's error underneath), or another failure.
fn send_failure(error: &reqwest::Error) -> ProbeFailure {
    if error.is_timeout() {
        return ProbeFailure::TimedOut;
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return ProbeFailure::Refused;
        }
        source = cause.source();
    }
    ProbeFailure::Unreachable(error_chain(error))
}

/// The user the queries listing is asked as without credentials: Trino and prestodb
/// then only need a name; it shows in their logs.
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
        let (client, url) = self.request(ip, port, "/v1/query")?;
        let user = self
            .credentials
            .as_ref()
            .map_or(LISTING_USER, |c| c.user.as_str());
        let mut request = client
            .get(&url)
            .header("X-Trino-User", user)
            .header("X-Presto-User", user)
            .timeout(timeout);
        if let Some(credentials) = &self.credentials {
            request = request.basic_auth(&credentials.user, Some(&credentials.password));
        }
        let response = request.send().await.map_err(|error| send_failure(&error))?;
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
    async fn a_closed_port_is_refused() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let health = HttpProbe::new()
            .expect("client")
            .probe(Ipv4Addr::LOCALHOST, port, Duration::from_secs(2))
            .await;
        assert_eq!(health, Health::Down(ProbeFailure::Refused));
        assert_eq!(health.to_string(), "refused");
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

    /// A loopback port nothing listens on yet.
    async fn free_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        listener.local_addr().expect("addr").port()
    }

    #[tokio::test]
    async fn over_https_only_a_certificate_for_the_record_from_the_authority_is_healthy() {
        use presto_ha_test_support::presto::{Behaviour, FakePresto};
        use presto_ha_test_support::tls::TestAuthority;
        const RECORD: &str = "coordinator.presto.internal";
        let authority = TestAuthority::new();
        let loopback = Ipv4Addr::LOCALHOST;
        let timeout = Duration::from_secs(2);
        let login = ("admin", "s3cret");
        let start = |name: &str, behaviour| {
            let identity = authority.issue(name);
            async move {
                let port = free_port().await;
                let fake =
                    FakePresto::start_https(loopback, port, behaviour, identity, login).await;
                (fake, port)
            }
        };
        let probe = HttpProbe::https(RECORD, Some(authority.pem())).expect("client");

        let (healthy, port) = start(RECORD, Behaviour::Healthy).await;
        assert_eq!(probe.probe(loopback, port, timeout).await, Health::Healthy);
        // A client that does not trust the authority gets nothing.
        let stranger = HttpProbe::https(RECORD, Some(TestAuthority::new().pem())).expect("client");
        let refused = stranger.probe(loopback, port, timeout).await;
        assert!(
            matches!(&refused, Health::Down(ProbeFailure::Unreachable(why)) if why.contains("certificate")),
            "{refused:?}"
        );
        // The queries are listed only to a user who logs on.
        healthy.control().set_running_queries(2);
        assert_eq!(
            probe.unfinished_queries(loopback, port, timeout).await,
            Err(ProbeFailure::Status(401))
        );
        let admin = probe.clone().with_credentials(Credentials {
            user: login.0.into(),
            password: login.1.into(),
        });
        assert_eq!(
            admin.unfinished_queries(loopback, port, timeout).await,
            Ok(2)
        );
        assert!(!format!("{admin:?}").contains(login.1), "{admin:?}");

        // A certificate for another name is a failure, however well the engine runs.
        let (_impostor, port) = start("other.presto.internal", Behaviour::Healthy).await;
        let health = probe.probe(loopback, port, timeout).await;
        assert!(
            matches!(&health, Health::Down(ProbeFailure::Unreachable(why)) if why.contains("certificate")),
            "{health:?}"
        );
        // Starting, hung and refused are told apart over HTTPS as over HTTP.
        let (_starting, port) = start(RECORD, Behaviour::Starting).await;
        assert_eq!(probe.probe(loopback, port, timeout).await, Health::Starting);
        let (_hung, port) = start(RECORD, Behaviour::Hung).await;
        assert_eq!(
            probe
                .probe(loopback, port, Duration::from_millis(300))
                .await,
            Health::Down(ProbeFailure::TimedOut)
        );
        let closed = free_port().await;
        assert_eq!(
            probe.probe(loopback, closed, timeout).await,
            Health::Down(ProbeFailure::Refused)
        );
    }
}
