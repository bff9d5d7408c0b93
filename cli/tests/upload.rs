//! `package`'s upload against a stand-in S3 on loopback that answers `HeadObject` as
//! told: the emulator has no way to refuse a `HeadObject` with 403, which S3 does for a
//! missing key when the caller may not list the bucket.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::routing::any;
use presto_ha_cli::package::upload;

#[derive(Clone)]
struct FakeS3 {
    head_status: StatusCode,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn answer(State(s3): State<FakeS3>, method: Method, uri: Uri) -> StatusCode {
    if let Ok(mut requests) = s3.requests.lock() {
        requests.push(format!("{method} {}", uri.path()));
    }
    if method == Method::HEAD {
        s3.head_status
    } else {
        StatusCode::OK
    }
}

/// Uploads one zip to a stand-in S3 whose `HeadObject` answers `head_status`; returns
/// the outcome and the requests it saw.
async fn upload_with_head(head_status: StatusCode) -> (anyhow::Result<bool>, Vec<String>) {
    let fake = FakeS3 {
        head_status,
        requests: Arc::default(),
    };
    let router = Router::new().fallback(any(answer)).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(format!("http://{address}"))
        .force_path_style(true)
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    let s3 = aws_sdk_s3::Client::from_conf(config);
    let result = upload(
        &s3,
        "code",
        "presto-ha/watcher-abc.zip",
        b"zip".to_vec(),
        "application/zip",
    )
    .await;
    let requests = fake.requests.lock().map(|r| r.clone()).unwrap_or_default();
    (result, requests)
}

const HEAD: &str = "HEAD /code/presto-ha/watcher-abc.zip";
const PUT: &str = "PUT /code/presto-ha/watcher-abc.zip";

#[tokio::test]
async fn a_zip_already_there_is_not_uploaded_again() {
    let (result, requests) = upload_with_head(StatusCode::OK).await;
    assert!(!result.expect("ok"));
    assert_eq!(requests, [HEAD]);
}

#[tokio::test]
async fn a_missing_zip_is_uploaded() {
    let (result, requests) = upload_with_head(StatusCode::NOT_FOUND).await;
    assert!(result.expect("ok"));
    assert_eq!(requests, [HEAD, PUT]);
}

#[tokio::test]
async fn a_refused_look_is_answered_by_uploading() {
    let (result, requests) = upload_with_head(StatusCode::FORBIDDEN).await;
    assert!(result.expect("ok"));
    assert_eq!(requests, [HEAD, PUT]);
}

#[tokio::test]
async fn another_failure_names_the_operation_and_the_object() {
    let (result, requests) = upload_with_head(StatusCode::INTERNAL_SERVER_ERROR).await;
    let error = result.expect_err("fails").to_string();
    assert!(
        error.starts_with("HeadObject failed for s3://code/presto-ha/watcher-abc.zip: "),
        "{error}"
    );
    assert_eq!(requests, [HEAD]);
}
