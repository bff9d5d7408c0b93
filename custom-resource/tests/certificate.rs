//! `Custom::TlsCertificate` through the real custom-resource binary and the Lambda
//! Runtime API, against Secrets Manager in the AWS emulator, with the ResponseURL
//! pointing at a local capture server: every event gets exactly one answer, and the
//! certificate made is checked by a real TLS handshake against the authority the
//! answer hands out.

use std::path::Path;
use std::time::Duration;

use presto_ha_contract::{tls_resource as property, tls_secret};
use presto_ha_test_support::aws::config;
use presto_ha_test_support::capture::{CapturedPut, ResponseCapture};
use presto_ha_test_support::lambda::{Invocation, LambdaProcess};
use presto_ha_test_support::tls::handshake;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

/// The stack of the events, and the one the function serves.
const STACK_ID: &str = "arn:aws:cloudformation:us-east-1:123456789012:stack/certificate/0000";

struct Fixture {
    secrets: aws_sdk_secretsmanager::Client,
    lambda: LambdaProcess,
    capture: ResponseCapture,
    authority: String,
    made: String,
    requests: u32,
}

impl Fixture {
    /// The two secrets the template makes, empty, and the function.
    async fn new(name: &str) -> Self {
        let config = config().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let capture = ResponseCapture::start().await;
        let mut fixture = Self {
            secrets,
            lambda: LambdaProcess::start(
                Path::new(env!("CARGO_BIN_EXE_presto-ha-custom-resource")),
                name,
                &capture.custom_resource_env(STACK_ID),
            )
            .await,
            capture,
            authority: String::new(),
            made: String::new(),
            requests: 0,
        };
        fixture.authority = fixture
            .create_secret(&format!("{name}-authority"), "{}")
            .await;
        fixture.made = fixture.create_secret(&format!("{name}-made"), "{}").await;
        fixture
    }

    async fn create_secret(&self, name: &str, value: &str) -> String {
        self.secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .expect("secret created")
            .arn
            .expect("an ARN")
    }

    async fn secret(&self, arn: &str) -> Value {
        let value = self
            .secrets
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .expect("secret read")
            .secret_string
            .expect("text");
        serde_json::from_str(&value).expect("JSON")
    }

    fn properties(&self, record: &str, given: &str, revision: &str) -> Value {
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:cr",
            "ServiceTimeout": "360",
            property::RECORD_NAME: record,
            property::GIVEN_SECRET: given,
            property::MADE_SECRET: self.made,
            property::AUTHORITY_SECRET: self.authority,
            property::REVISION: revision,
        })
    }

    /// Sends one event and returns the one answer it got.
    async fn answer(
        &mut self,
        request_type: &str,
        properties: Value,
        physical_id: Option<&str>,
    ) -> CapturedPut {
        self.requests += 1;
        let mut event = json!({
            "RequestType": request_type,
            "ResponseURL": self.capture.url(),
            "StackId": STACK_ID,
            "RequestId": format!("request-{}", self.requests),
            "LogicalResourceId": "TlsCertificate",
            "ResourceType": property::TYPE,
            "ResourceProperties": properties,
        });
        if let Some(id) = physical_id {
            event["PhysicalResourceId"] = id.into();
        }
        let invocation = self.lambda.invoke(&event, DEADLINE).await;
        assert_eq!(
            invocation,
            Invocation::Response(Value::Null),
            "log:\n{}",
            self.lambda.log_text()
        );
        let mut puts = self.capture.take();
        assert_eq!(puts.len(), 1, "exactly one answer per event: {puts:?}");
        let put = puts.remove(0);
        assert_eq!(put.content_type.as_deref(), Some(""));
        assert!(put.length <= 4096, "{}", put.length);
        assert_eq!(put.body["RequestId"], event["RequestId"]);
        assert_eq!(put.body["LogicalResourceId"], "TlsCertificate");
        put
    }

    /// Whether a client trusting `authority` accepts the made certificate as `name`.
    async fn accepted(&self, authority: &str, name: &str) -> Result<(), String> {
        let made = self.secret(&self.made).await;
        let text = |key: &str| made[key].as_str().expect("PEM").to_owned();
        handshake(
            &text(tls_secret::CERTIFICATE),
            &text(tls_secret::PRIVATE_KEY),
            authority,
            name,
        )
        .await
    }
}

fn success(put: &CapturedPut, physical_id: &str) -> (String, String) {
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    assert_eq!(put.body["PhysicalResourceId"], physical_id);
    let data = |key: &str| {
        put.body["Data"][key]
            .as_str()
            .expect("attribute")
            .to_owned()
    };
    (
        data(property::CERTIFICATE_SECRET),
        data(property::CA_CERTIFICATE),
    )
}

fn failed(put: &CapturedPut, reason_start: &str) {
    assert_eq!(put.body["Status"], "FAILED", "{}", put.body);
    let reason = put.body["Reason"].as_str().expect("a reason");
    assert!(reason.starts_with(reason_start), "{reason}");
    assert!(
        !put.body["PhysicalResourceId"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn the_stack_makes_keeps_and_checks_the_coordinators_certificate() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-certificate").await;
    let record = "coordinator.presto.internal";

    // Create: an authority and a certificate the authority vouches for, for the
    // record's name only.
    let put = f
        .answer("Create", f.properties(record, "", "1"), None)
        .await;
    let first_id = format!("made/{record}/1");
    let (secret, authority) = success(&put, &first_id);
    assert_eq!(secret, f.made);
    assert!(authority.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(f.accepted(&authority, record).await, Ok(()));
    assert!(
        f.accepted(&authority, "elsewhere.presto.internal")
            .await
            .is_err()
    );
    let kept = f.secret(&f.authority).await;
    let zones: Vec<&String> = kept.as_object().expect("zones").keys().collect();
    assert_eq!(zones, ["presto.internal"]);

    // A rename reissues under the same authority: clients keep trusting it.
    let renamed = "presto.presto.internal";
    let put = f
        .answer("Update", f.properties(renamed, "", "1"), Some(&first_id))
        .await;
    let second_id = format!("made/{renamed}/1");
    let (_, same_authority) = success(&put, &second_id);
    assert_eq!(same_authority, authority);
    assert_eq!(f.secret(&f.authority).await, kept);
    assert_eq!(f.accepted(&authority, renamed).await, Ok(()));

    // The old id's Delete, which follows a replacement, leaves the new certificate.
    let put = f
        .answer("Delete", f.properties(record, "", "1"), Some(&first_id))
        .await;
    success_without_data(&put, &first_id);
    assert_eq!(f.accepted(&authority, renamed).await, Ok(()));

    // The user's own certificate: accepted when it fits the record, refused with the
    // reason otherwise.
    let made = f.secret(&f.made).await.to_string();
    let given = f.create_secret("cr-certificate-given", &made).await;
    let put = f
        .answer(
            "Update",
            f.properties(renamed, &given, "1"),
            Some(&second_id),
        )
        .await;
    let (secret, authority) = success(&put, &format!("given/{renamed}/1"));
    assert_eq!((secret.as_str(), authority.as_str()), (given.as_str(), ""));
    let put = f
        .answer("Create", f.properties(record, &given, "1"), None)
        .await;
    failed(
        &put,
        &format!("secret {given}: its first certificate is not valid for {record}"),
    );
}

fn success_without_data(put: &CapturedPut, physical_id: &str) {
    assert_eq!(put.body["Status"], "SUCCESS", "{}", put.body);
    assert_eq!(put.body["PhysicalResourceId"], physical_id);
}

#[tokio::test]
async fn malformed_events_and_missing_secrets_are_answered_failed() {
    presto_ha_test_support::needs!(Emulator);
    let mut f = Fixture::new("cr-certificate-bad").await;
    let record = "coordinator.presto.internal";
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf";
    let with = |key: &str, value: Value| {
        let mut properties = f.properties(record, "", "1");
        properties[key] = value;
        properties
    };
    let cases = [
        (
            "Create",
            with(property::RECORD_NAME, "coordinator".into()),
            "property RecordName: must be a fully qualified DNS name, not \"coordinator\"",
        ),
        (
            "Create",
            with(property::MADE_SECRET, "".into()),
            "property MadeCertificateSecretArn: must be a Secrets Manager secret ARN, not \"\"",
        ),
        (
            "Create",
            f.properties(record, missing, "1"),
            &format!("GetSecretValue failed for secret {missing}: ResourceNotFoundException"),
        ),
        (
            "Create",
            with(property::AUTHORITY_SECRET, missing.into()),
            &format!("GetSecretValue failed for secret {missing}: ResourceNotFoundException"),
        ),
    ]
    .map(|(kind, properties, reason)| (kind, properties, reason.to_owned()));
    for (kind, properties, reason) in cases {
        let put = f.answer(kind, properties, None).await;
        failed(&put, &reason);
    }
    // A Delete of a resource whose Create failed succeeds: there is nothing to remove.
    let put = f
        .answer(
            "Delete",
            f.properties(record, "", "1"),
            Some("invalid-request-request-1"),
        )
        .await;
    success_without_data(&put, "invalid-request-request-1");
    // Nothing was written to the stack's secrets by the refused events.
    assert_eq!(f.secret(&f.made).await, json!({}));
}
