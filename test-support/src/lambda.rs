//! A real Lambda binary driven through the Lambda Runtime API, served here on
//! loopback the way the Lambda service serves it to a `provided.al2023` function.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex, mpsc, oneshot};

/// A binary of another package of this workspace. Cargo hands a test only its own
/// package's binaries (`CARGO_BIN_EXE_*`), but `cargo test --workspace` builds every
/// package's next to the test binaries.
pub fn workspace_binary(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("the target profile folder");
    let binary = profile.join(name);
    assert!(
        binary.is_file(),
        "{} is missing: run the tests with cargo test --workspace (as scripts/test.sh does), which builds it",
        binary.display()
    );
    binary
}

/// How an invocation ended, as the function reported it to the Runtime API.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    /// The handler returned; its JSON result.
    Response(Value),
    /// The handler failed; the error the runtime posted.
    Error(Value),
}

struct Pending {
    request_id: String,
    payload: Vec<u8>,
    deadline_ms: u128,
}

#[derive(Clone)]
struct Api {
    queue: Arc<Mutex<mpsc::Receiver<Pending>>>,
    waiting: Arc<std::sync::Mutex<HashMap<String, oneshot::Sender<Invocation>>>>,
}

/// A Lambda function process and the Runtime API it polls.
pub struct LambdaProcess {
    submit: mpsc::Sender<Pending>,
    waiting: Arc<std::sync::Mutex<HashMap<String, oneshot::Sender<Invocation>>>>,
    child: tokio::process::Child,
    log: PathBuf,
    next_id: u64,
}

impl LambdaProcess {
    /// Starts `binary` against a new Runtime API on loopback, with the AWS emulator's
    /// endpoint and `extra_env`. Its logs go to a file named after `name`.
    pub async fn start(binary: &Path, name: &str, extra_env: &[(&str, String)]) -> Self {
        let (submit, queue) = mpsc::channel(16);
        let waiting = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let api = Api {
            queue: Arc::new(Mutex::new(queue)),
            waiting: waiting.clone(),
        };
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(api);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Runtime API");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });

        let log = std::env::temp_dir().join(format!("presto-ha-{name}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_ENDPOINT_URL", crate::aws::endpoint())
            .env("AWS_REGION", crate::aws::REGION)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("RUST_LOG", "info")
            .envs(extra_env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {}: {e}", binary.display()));
        Self {
            submit,
            waiting,
            child,
            log,
            next_id: 0,
        }
    }

    /// Invokes the function with `payload` (any bytes, as the Lambda service would
    /// pass them) and a deadline `deadline` from now; waits for its result, at most
    /// the deadline plus a margin.
    pub async fn invoke_raw(&mut self, payload: Vec<u8>, deadline: Duration) -> Invocation {
        self.next_id += 1;
        let request_id = format!("invocation-{}", self.next_id);
        let (done, result) = oneshot::channel();
        self.waiting
            .lock()
            .expect("lock")
            .insert(request_id.clone(), done);
        let deadline_ms = (SystemTime::now() + deadline)
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        self.submit
            .send(Pending {
                request_id,
                payload,
                deadline_ms,
            })
            .await
            .expect("Runtime API is up");
        match tokio::time::timeout(deadline + Duration::from_secs(10), result).await {
            Ok(Ok(invocation)) => invocation,
            _ => {
                let exited = self.child.try_wait().ok().flatten();
                panic!(
                    "no result from the function (exited: {exited:?}); its log:\n{}",
                    self.log_text()
                );
            }
        }
    }

    /// Invokes the function with a JSON event.
    pub async fn invoke(&mut self, event: &Value, deadline: Duration) -> Invocation {
        self.invoke_raw(event.to_string().into_bytes(), deadline)
            .await
    }

    /// The file the function logs to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// What the function has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

async fn next(State(api): State<Api>) -> impl IntoResponse {
    let pending = api.queue.lock().await.recv().await;
    let Some(pending) = pending else {
        return (StatusCode::GONE, HeaderMap::new(), Vec::new());
    };
    let mut headers = HeaderMap::new();
    let header = |value: String| HeaderValue::from_str(&value).expect("header value");
    headers.insert("Lambda-Runtime-Aws-Request-Id", header(pending.request_id));
    headers.insert(
        "Lambda-Runtime-Deadline-Ms",
        header(pending.deadline_ms.to_string()),
    );
    headers.insert(
        "Lambda-Runtime-Invoked-Function-Arn",
        header("arn:aws:lambda:us-east-1:123456789012:function:test".into()),
    );
    headers.insert(
        "Lambda-Runtime-Trace-Id",
        header("Root=1-00000000-000000000000000000000000".into()),
    );
    (StatusCode::OK, headers, pending.payload)
}

fn finish(api: &Api, id: &str, invocation: Invocation) -> StatusCode {
    match api.waiting.lock().expect("lock").remove(id) {
        Some(done) => {
            let _ = done.send(invocation);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

fn json_or_text(body: &Bytes) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

async fn respond(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    finish(&api, &id, Invocation::Response(json_or_text(&body)))
}

async fn fail(State(api): State<Api>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    finish(&api, &id, Invocation::Error(json_or_text(&body)))
}

async fn init_error(body: Bytes) -> StatusCode {
    eprintln!(
        "function failed to initialise: {}",
        String::from_utf8_lossy(&body)
    );
    StatusCode::ACCEPTED
}

/// Lambda's `Invoke` API on loopback in front of one [`LambdaProcess`], as a client
/// outside the VPC reaches a function inside it: point the SDK's
/// `AWS_ENDPOINT_URL_LAMBDA` at [`url`](Self::url). Another function's name gets the
/// `ResourceNotFoundException` Lambda answers with.
pub struct InvokeEndpoint {
    /// The endpoint's URL.
    pub url: String,
    invocations: Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Clone)]
struct Invoke {
    function: String,
    process: Arc<Mutex<LambdaProcess>>,
    invocations: Arc<std::sync::atomic::AtomicUsize>,
}

impl InvokeEndpoint {
    /// Serves function `function`, run by `process`.
    pub async fn start(function: &str, process: LambdaProcess) -> Self {
        let invocations = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let state = Invoke {
            function: function.to_owned(),
            process: Arc::new(Mutex::new(process)),
            invocations: invocations.clone(),
        };
        let router = Router::new()
            .route("/2015-03-31/functions/{name}/invocations", post(invoke))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the Invoke API");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, invocations }
    }

    /// How many invocations it has served.
    pub fn invocations(&self) -> usize {
        self.invocations.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn invoke(
    State(state): State<Invoke>,
    UrlPath(name): UrlPath<String>,
    payload: Bytes,
) -> impl IntoResponse {
    let mut headers = HeaderMap::new();
    if name != state.function {
        headers.insert(
            "X-Amzn-ErrorType",
            HeaderValue::from_static("ResourceNotFoundException"),
        );
        let body = serde_json::json!({
            "Type": "User",
            "message": format!("Function not found: {name}"),
        });
        return (StatusCode::NOT_FOUND, headers, body.to_string());
    }
    state
        .invocations
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let invocation = state
        .process
        .lock()
        .await
        .invoke_raw(payload.to_vec(), Duration::from_secs(30))
        .await;
    headers.insert(
        "X-Amz-Executed-Version",
        HeaderValue::from_static("$LATEST"),
    );
    let body = match invocation {
        Invocation::Response(body) => body,
        Invocation::Error(body) => {
            headers.insert(
                "X-Amz-Function-Error",
                HeaderValue::from_static("Unhandled"),
            );
            body
        }
    };
    (StatusCode::OK, headers, body.to_string())
}
