//! Route 53 in front of the emulator, faithful where the emulator is not: a change
//! batch applies all or nothing, a `DELETE` must name the record's current TTL and
//! values and a `CREATE` must not find the record, else the whole batch fails with
//! `InvalidChangeBatch`, as Route 53 does. The emulator accepts a stale `DELETE` and a
//! duplicate `CREATE`, so compare-and-swap can only be tested through this.
//!
//! Batches are checked and forwarded one at a time, so a check and its write are
//! atomic; everything else is forwarded as it is. Point a process at it with
//! `AWS_ENDPOINT_URL_ROUTE_53`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::Mutex;

use crate::aws::SdkConfig;

/// The variable that points the SDK's Route 53 client, alone, at an endpoint.
pub const ENDPOINT_VAR: &str = "AWS_ENDPOINT_URL_ROUTE_53";

/// A record's TTL and its values, sorted.
pub type Value = (Option<u32>, Vec<String>);

/// One change of a batch, as far as the check reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// `CREATE`, `DELETE` or `UPSERT`.
    pub action: String,
    /// The record's name, lower case, with the final dot.
    pub name: String,
    /// Its type.
    pub kind: String,
    /// Its TTL and values (sorted), as the change gives them.
    pub value: Value,
}

/// A batch the proxy saw: its changes, and whether it went through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The changes, in order.
    pub changes: Vec<Change>,
    /// Whether it was applied; `false`: refused with `InvalidChangeBatch`.
    pub applied: bool,
}

#[derive(Clone)]
struct Shared {
    emulator: String,
    route53: aws_sdk_route53::Client,
    http: reqwest::Client,
    /// Held from a batch's check to the end of its write.
    batches: Arc<Mutex<Vec<Batch>>>,
    /// How long to hold back the next batch that deletes an A record, once.
    hold: Arc<std::sync::Mutex<Option<Duration>>>,
}

/// The proxy.
pub struct CompareAndSwap {
    url: String,
    shared: Shared,
}

impl CompareAndSwap {
    /// Starts it on loopback in front of the emulator `config` talks to.
    pub async fn start(config: &SdkConfig) -> Self {
        let shared = Shared {
            emulator: crate::aws::endpoint(),
            route53: aws_sdk_route53::Client::new(config),
            http: reqwest::Client::builder()
                .no_proxy()
                .build()
                .expect("an HTTP client"),
            batches: Arc::default(),
            hold: Arc::default(),
        };
        let router = Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://{address}"),
            shared,
        }
    }

    /// The environment that sends a process's Route 53 calls here.
    pub fn env(&self) -> (&'static str, String) {
        (ENDPOINT_VAR, self.url.clone())
    }

    /// Holds the next batch that deletes an A record back for `delay` before it is
    /// checked, so that a second writer's batch, sent meanwhile, goes first: a race
    /// between two swaps, made certain.
    pub fn hold_next_swap(&self, delay: Duration) {
        *self.shared.hold.lock().expect("lock") = Some(delay);
    }

    /// Every change batch seen so far, in order.
    pub async fn batches(&self) -> Vec<Batch> {
        self.shared.batches.lock().await.clone()
    }
}

async fn forward(
    State(shared): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path();
    let zone = path
        .strip_prefix("/2013-04-01/hostedzone/")
        .and_then(|rest| rest.strip_suffix("/rrset/").or(rest.strip_suffix("/rrset")));
    let Some(zone) = zone.filter(|_| method == Method::POST) else {
        return pass(&shared, method, &uri, headers, body).await;
    };
    let changes = parse_changes(&String::from_utf8_lossy(&body));
    let swap = changes
        .iter()
        .any(|c| c.kind == "A" && c.action == "DELETE");
    let held = swap
        .then(|| shared.hold.lock().expect("lock").take())
        .flatten();
    if let Some(delay) = held {
        tokio::time::sleep(delay).await;
    }
    let mut batches = shared.batches.lock().await;
    let refusal = check(&shared.route53, zone, &changes).await;
    batches.push(Batch {
        changes,
        applied: refusal.is_none(),
    });
    match refusal {
        None => pass(&shared, method, &uri, headers, body).await,
        Some(message) => (
            StatusCode::BAD_REQUEST,
            [("content-type", "text/xml")],
            format!(
                "<?xml version=\"1.0\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error><Type>Sender</Type><Code>InvalidChangeBatch</Code><Message>{message}</Message></Error><RequestId>cas-proxy</RequestId></ErrorResponse>"
            ),
        )
            .into_response(),
    }
}

/// Why Route 53 would refuse `changes` to `zone`, if it would.
async fn check(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    changes: &[Change],
) -> Option<String> {
    let mut present: BTreeMap<(String, String), Option<Value>> = BTreeMap::new();
    for change in changes {
        let key = (change.name.clone(), change.kind.clone());
        if !present.contains_key(&key) {
            let current = current(route53, zone, &change.name, &change.kind).await;
            present.insert(key.clone(), current);
        }
        let now = present.get_mut(&key).expect("just read");
        match change.action.as_str() {
            "DELETE" if now.as_ref() != Some(&change.value) => {
                return Some(format!(
                    "Tried to delete resource record set [name='{}', type='{}'] but the values provided do not match the current values",
                    change.name, change.kind
                ));
            }
            "DELETE" => *now = None,
            "CREATE" if now.is_some() => {
                return Some(format!(
                    "Tried to create resource record set [name='{}', type='{}'] but it already exists",
                    change.name, change.kind
                ));
            }
            _ => *now = Some(change.value.clone()),
        }
    }
    None
}

/// The record's TTL and sorted values in the emulator, if it exists.
async fn current(
    route53: &aws_sdk_route53::Client,
    zone: &str,
    name: &str,
    kind: &str,
) -> Option<Value> {
    let listed = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone)
        .start_record_name(name)
        .start_record_type(kind.into())
        .max_items(1)
        .send()
        .await
        .expect("list the records");
    let set = listed.resource_record_sets().first()?;
    if set.name().to_lowercase() != name || set.r#type().as_str() != kind {
        return None;
    }
    let mut values: Vec<String> = set
        .resource_records()
        .iter()
        .map(|r| r.value().to_owned())
        .collect();
    values.sort();
    Some((set.ttl().and_then(|t| u32::try_from(t).ok()), values))
}

async fn pass(
    shared: &Shared,
    method: Method,
    uri: &Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let url = format!(
        "{}{}",
        shared.emulator,
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut request = shared.http.request(method, url).body(body);
    for (name, value) in &headers {
        if name != "host" && name != "content-length" {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.expect("the emulator answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the emulator's body");
    let mut answer = (status, body).into_response();
    for (name, value) in &headers {
        if name != "content-length" && name != "transfer-encoding" {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

/// The text between `<tag>` and `</tag>` in each place it occurs.
fn all<'a>(text: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

/// The changes of a `ChangeResourceRecordSets` request body.
fn parse_changes(body: &str) -> Vec<Change> {
    all(body, "Change")
        .into_iter()
        .map(|change| {
            let first = |tag| all(change, tag).first().map(|s| s.to_string());
            let mut name = first("Name").unwrap_or_default().to_lowercase();
            if !name.ends_with('.') {
                name.push('.');
            }
            let mut values: Vec<String> = all(change, "Value").into_iter().map(unescape).collect();
            values.sort();
            Change {
                action: first("Action").unwrap_or_default(),
                name,
                kind: first("Type").unwrap_or_default(),
                value: (first("TTL").and_then(|t| t.parse().ok()), values),
            }
        })
        .collect()
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_swap_batch_reads_as_its_changes() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch><Changes><Change><Action>DELETE</Action><ResourceRecordSet><Name>Coordinator.presto.internal</Name><Type>A</Type><TTL>5</TTL><ResourceRecords><ResourceRecord><Value>10.0.0.1</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change><Change><Action>CREATE</Action><ResourceRecordSet><Name>coordinator.presto.internal.</Name><Type>TXT</Type><TTL>5</TTL><ResourceRecords><ResourceRecord><Value>&quot;at=1&quot;</Value></ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"#;
        let changes = parse_changes(body);
        assert_eq!(
            changes,
            [
                Change {
                    action: "DELETE".into(),
                    name: "coordinator.presto.internal.".into(),
                    kind: "A".into(),
                    value: (Some(5), vec!["10.0.0.1".into()]),
                },
                Change {
                    action: "CREATE".into(),
                    name: "coordinator.presto.internal.".into(),
                    kind: "TXT".into(),
                    value: (Some(5), vec!["\"at=1\"".into()]),
                },
            ]
        );
    }
}
