//! `Custom::TlsCertificate`: the coordinators' certificate for the coordinator record.
//!
//! Every coordinator, the active one and each standby, serves the same certificate, so
//! that clients keep trusting the record whichever machine it points at. Two sources:
//!
//! - **Made by the stack** (no secret given): a certificate authority of the stack's
//!   own, limited by a name constraint to the record's zone, kept in a secret that
//!   only this resource reads; and a certificate for the record signed by it, written
//!   with its key to the secret the coordinators read. The authority is made once per
//!   zone and kept: an update that renames the record or bumps the credentials
//!   revision reissues the certificate under the same authority, so clients keep
//!   trusting it, and a zone change rolled back finds its old authority again.
//! - **Given by the user**: the secret is read and checked (a chain and its key, the
//!   key belonging to the first certificate, which must be valid for the record), so
//!   that a wrong certificate fails the stack operation with its reason instead of
//!   every coordinator's boot.
//!
//! The secrets are the stack's own resources: CloudFormation removes them with the
//! stack, and a Delete of this resource has nothing of its own to remove.

use std::collections::BTreeMap;
use std::future::Future;

use presto_ha_contract::{tls_resource as property, tls_secret};
use presto_ha_coordinators::aws::AwsCallError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::{Value, json};

use crate::event::EventError;
use crate::handler::Success;

/// How long the stack's authority is valid.
const AUTHORITY_DAYS: i64 = 20 * 365;
/// How long a certificate the stack makes is valid; a stack update with a new
/// credentials revision reissues it.
pub const CERTIFICATE_DAYS: i64 = 5 * 365;

/// Where the coordinators' certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The user's secret, to be checked.
    Given(String),
    /// Made by the stack.
    Made {
        /// The secret the certificate and key are written to.
        certificate_secret: String,
        /// The secret keeping the stack's authority.
        authority_secret: String,
    },
}

/// A `Custom::TlsCertificate` request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsRequest {
    /// Make or check the certificate (Create, Update).
    Certify {
        /// The name the certificate must be valid for.
        record_name: String,
        /// Where it comes from.
        source: Source,
        /// The credentials revision, part of the physical id.
        revision: String,
    },
    /// The resource is gone; the secrets go with the stack.
    Release {
        /// The physical id.
        physical_id: String,
    },
}

impl TlsRequest {
    /// Reads the request of an event whose `ResourceType` is `Custom::TlsCertificate`.
    pub fn parse(event: &Value) -> Result<Self, EventError> {
        let text = |key: &str| event.get(key).and_then(Value::as_str);
        let properties = event.get("ResourceProperties").unwrap_or(&Value::Null);
        let property_text = |name: &'static str| match properties.get(name) {
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(text)) => Ok(text.trim().to_owned()),
            Some(other) => Err(EventError::Property {
                name,
                problem: format!("must be a string, not {other}"),
            }),
        };
        let secret_arn = |name: &'static str| {
            let arn = property_text(name)?;
            if arn.starts_with("arn:") && arn.contains(":secretsmanager:") {
                Ok(arn)
            } else {
                Err(EventError::Property {
                    name,
                    problem: format!("must be a Secrets Manager secret ARN, not {arn:?}"),
                })
            }
        };
        match text("RequestType") {
            Some("Delete") => Ok(Self::Release {
                physical_id: text("PhysicalResourceId")
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| EventError::Shape("PhysicalResourceId is missing".into()))?
                    .to_owned(),
            }),
            Some("Create" | "Update") => {
                let record_name = property_text(property::RECORD_NAME)?.to_ascii_lowercase();
                if ServerName::try_from(record_name.as_str()).is_err() || !record_name.contains('.')
                {
                    return Err(EventError::Property {
                        name: property::RECORD_NAME,
                        problem: format!("must be a fully qualified DNS name, not {record_name:?}"),
                    });
                }
                let source = if property_text(property::GIVEN_SECRET)?.is_empty() {
                    Source::Made {
                        certificate_secret: secret_arn(property::MADE_SECRET)?,
                        authority_secret: secret_arn(property::AUTHORITY_SECRET)?,
                    }
                } else {
                    Source::Given(secret_arn(property::GIVEN_SECRET)?)
                };
                let revision = property_text(property::REVISION)?;
                let label = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
                if revision.is_empty() || revision.len() > 32 || !revision.chars().all(label) {
                    return Err(EventError::Property {
                        name: property::REVISION,
                        problem: format!(
                            "must be 1 to 32 letters, digits, dots, underscores or hyphens, not {revision:?}"
                        ),
                    });
                }
                Ok(Self::Certify {
                    record_name,
                    source,
                    revision,
                })
            }
            other => Err(EventError::Shape(format!(
                "unknown RequestType {:?}, expected Create, Update or Delete",
                other.unwrap_or_default()
            ))),
        }
    }
}

/// Where the certificates are kept.
pub trait SecretStore {
    /// The current value of the secret `arn`.
    fn read(&self, arn: &str) -> impl Future<Output = Result<String, AwsCallError>> + Send;
    /// Makes `value` the current value of the secret `arn`.
    fn write(
        &self,
        arn: &str,
        value: String,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// [`SecretStore`] in Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    /// Builds the client from `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(config),
        }
    }
}

impl SecretStore for SecretsManager {
    async fn read(&self, arn: &str) -> Result<String, AwsCallError> {
        let got = self
            .client
            .get_secret_value()
            .secret_id(arn)
            .send()
            .await
            .map_err(|e| AwsCallError::sdk("GetSecretValue", format_args!("secret {arn}"), e))?;
        got.secret_string.ok_or_else(|| AwsCallError {
            operation: "GetSecretValue",
            resource: format!("secret {arn}"),
            detail: "it holds binary data, not text".into(),
        })
    }

    async fn write(&self, arn: &str, value: String) -> Result<(), AwsCallError> {
        self.client
            .put_secret_value()
            .secret_id(arn)
            .secret_string(value)
            .send()
            .await
            .map_err(|e| AwsCallError::sdk("PutSecretValue", format_args!("secret {arn}"), e))?;
        Ok(())
    }
}

/// Why the certificate could not be made or accepted.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A Secrets Manager call failed.
    #[error(transparent)]
    Aws(#[from] AwsCallError),
    /// The user's secret does not hold a usable certificate for the record.
    #[error("secret {secret}: {problem}")]
    Given {
        /// The secret.
        secret: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The stack's authority secret holds something else than an authority.
    #[error("secret {secret} does not hold the stack's certificate authority: {problem}")]
    Authority {
        /// The secret.
        secret: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Making a key or a certificate failed.
    #[error("cannot make the certificate: {0}")]
    Make(#[from] rcgen::Error),
}

/// Carries out a certificate request.
pub async fn certify(store: &impl SecretStore, request: TlsRequest) -> Result<Success, TlsError> {
    let (record_name, source, revision) = match request {
        TlsRequest::Release { physical_id } => {
            return Ok(Success {
                physical_id,
                data: BTreeMap::new(),
                reason: None,
            });
        }
        TlsRequest::Certify {
            record_name,
            source,
            revision,
        } => (record_name, source, revision),
    };
    let (secret, authority_pem, origin) = match &source {
        Source::Given(secret) => {
            let value = store.read(secret).await?;
            check_given(&value, &record_name).map_err(|problem| TlsError::Given {
                secret: secret.clone(),
                problem,
            })?;
            (secret.clone(), String::new(), "given")
        }
        Source::Made {
            certificate_secret,
            authority_secret,
        } => {
            let zone = zone_of(&record_name);
            let stored = store.read(authority_secret).await?;
            let authority = match Authority::from_secret(&stored, zone) {
                Ok(Some(authority)) => authority,
                Ok(None) => {
                    let authority = Authority::make(zone)?;
                    let kept =
                        authority
                            .kept_with(&stored)
                            .map_err(|problem| TlsError::Authority {
                                secret: authority_secret.clone(),
                                problem,
                            })?;
                    store.write(authority_secret, kept).await?;
                    tracing::info!(zone, "certificate authority made");
                    authority
                }
                Err(problem) => {
                    return Err(TlsError::Authority {
                        secret: authority_secret.clone(),
                        problem,
                    });
                }
            };
            let made = authority.issue(&record_name)?;
            store.write(certificate_secret, made).await?;
            (
                certificate_secret.clone(),
                authority.certificate_pem.clone(),
                "made",
            )
        }
    };
    tracing::info!(record_name, origin, secret, "certificate ready");
    Ok(Success {
        physical_id: format!("{origin}/{record_name}/{revision}"),
        data: BTreeMap::from([
            (property::CERTIFICATE_SECRET.to_owned(), secret),
            (property::CA_CERTIFICATE.to_owned(), authority_pem),
        ]),
        reason: None,
    })
}

/// The zone a record is in: the name less its first label.
fn zone_of(record_name: &str) -> &str {
    record_name
        .split_once('.')
        .map_or(record_name, |(_, zone)| zone)
}

/// The certificate and key texts of a certificate secret.
fn certificate_and_key(value: &str) -> Result<(String, String), String> {
    let json: Value = serde_json::from_str(value).map_err(|_| {
        format!(
            "not JSON: it must hold {} and {}",
            tls_secret::CERTIFICATE,
            tls_secret::PRIVATE_KEY
        )
    })?;
    let field = |name: &str| {
        json.get(name)
            .and_then(Value::as_str)
            .filter(|text| !text.trim().is_empty())
            .map(str::to_owned)
            .ok_or_else(|| format!("has no {name} PEM text"))
    };
    Ok((
        field(tls_secret::CERTIFICATE)?,
        field(tls_secret::PRIVATE_KEY)?,
    ))
}

/// Checks a user's certificate secret: a PEM chain, a key that belongs to its first
/// certificate, and that certificate valid for `record_name`.
pub fn check_given(value: &str, record_name: &str) -> Result<(), String> {
    let (chain, key) = certificate_and_key(value)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{} is not PEM certificates: {e}", tls_secret::CERTIFICATE))?;
    let first = chain
        .first()
        .ok_or_else(|| format!("{} holds no certificate", tls_secret::CERTIFICATE))?;
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
        .map_err(|e| format!("{} is not a PEM private key: {e}", tls_secret::PRIVATE_KEY))?;
    let name = ServerName::try_from(record_name.to_owned())
        .map_err(|e| format!("{record_name} is not a DNS name: {e}"))?;
    webpki::EndEntityCert::try_from(first)
        .map_err(|e| format!("its first certificate cannot be read: {e}"))?
        .verify_is_valid_for_subject_name(&name)
        .map_err(|_| format!("its first certificate is not valid for {record_name}"))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    rustls::sign::CertifiedKey::from_der(chain, key, &provider)
        .map_err(|e| format!("its key does not belong to its first certificate: {e}"))?;
    Ok(())
}

/// The stack's certificate authority.
struct Authority {
    zone: String,
    certificate_pem: String,
    key: KeyPair,
}

impl Authority {
    /// The authority's parameters, which also name it as an issuer: the same for the
    /// same zone, so that a kept authority signs as the one that was made.
    fn params(zone: &str) -> CertificateParams {
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::OrganizationName, "presto-ha");
        name.push(
            DnType::CommonName,
            format!("presto-ha certificate authority for {zone}"),
        );
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // Whoever trusts it trusts it for this zone's names only.
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName(zone.to_owned())],
            excluded_subtrees: Vec::new(),
        });
        params
    }

    fn make(zone: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = Self::params(zone);
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(AUTHORITY_DAYS);
        let certificate = params.self_signed(&key)?;
        Ok(Self {
            zone: zone.to_owned(),
            certificate_pem: certificate.pem(),
            key,
        })
    }

    /// The authorities kept in a secret's value: an object from zone to certificate
    /// and key, empty at first.
    fn kept(value: &str) -> Result<serde_json::Map<String, Value>, String> {
        match serde_json::from_str(value) {
            Ok(Value::Object(kept)) => Ok(kept),
            _ => Err("its value is not a JSON object of zones".to_owned()),
        }
    }

    /// The authority for `zone` kept in `value`; `None` when none was made for it yet.
    fn from_secret(value: &str, zone: &str) -> Result<Option<Self>, String> {
        let Some(entry) = Self::kept(value)?.remove(zone) else {
            return Ok(None);
        };
        let (certificate_pem, key) =
            certificate_and_key(&entry.to_string()).map_err(|e| format!("zone {zone}: {e}"))?;
        let key = KeyPair::from_pem(&key).map_err(|e| format!("zone {zone}: its key: {e}"))?;
        Ok(Some(Self {
            zone: zone.to_owned(),
            certificate_pem,
            key,
        }))
    }

    /// The secret's value `stored` with this authority added for its zone.
    fn kept_with(&self, stored: &str) -> Result<String, String> {
        let mut kept = Self::kept(stored)?;
        kept.insert(
            self.zone.clone(),
            json!({
                tls_secret::CERTIFICATE: self.certificate_pem,
                tls_secret::PRIVATE_KEY: self.key.serialize_pem(),
            }),
        );
        Ok(Value::Object(kept).to_string())
    }

    /// A new key and a certificate for `record_name`, as the coordinators' secret: the
    /// chain holds the certificate and the authority's.
    fn issue(&self, record_name: &str) -> Result<String, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, record_name);
        params.distinguished_name = name;
        params.subject_alt_names = vec![SanType::DnsName(record_name.try_into()?)];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(CERTIFICATE_DAYS);
        let authority = Self::params(&self.zone);
        let issuer = Issuer::from_params(&authority, &self.key);
        let certificate = params.signed_by(&key, &issuer)?;
        Ok(json!({
            tls_secret::CERTIFICATE: format!("{}{}", certificate.pem(), self.certificate_pem),
            tls_secret::PRIVATE_KEY: key.serialize_pem(),
        })
        .to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use presto_ha_test_support::tls::handshake;

    use super::*;

    const AUTHORITY: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:authority-AbCdEf";
    const MADE: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:made-AbCdEf";
    const GIVEN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:given-AbCdEf";
    const RECORD: &str = "coordinator.presto.internal";

    /// Secrets in memory; a secret that was never put is missing, as in Secrets
    /// Manager.
    #[derive(Default)]
    struct FakeSecrets(Mutex<HashMap<String, String>>);

    impl FakeSecrets {
        fn with(secrets: &[(&str, &str)]) -> Self {
            let store = Self::default();
            for (arn, value) in secrets {
                store.put(arn, value);
            }
            store
        }

        fn put(&self, arn: &str, value: &str) {
            self.0
                .lock()
                .expect("lock")
                .insert(arn.to_owned(), value.to_owned());
        }

        fn get(&self, arn: &str) -> String {
            self.0.lock().expect("lock")[arn].clone()
        }
    }

    impl SecretStore for FakeSecrets {
        async fn read(&self, arn: &str) -> Result<String, AwsCallError> {
            self.0
                .lock()
                .expect("lock")
                .get(arn)
                .cloned()
                .ok_or_else(|| AwsCallError {
                    operation: "GetSecretValue",
                    resource: format!("secret {arn}"),
                    detail: "ResourceNotFoundException: Secrets Manager can't find the specified secret.".into(),
                })
        }

        async fn write(&self, arn: &str, value: String) -> Result<(), AwsCallError> {
            self.put(arn, &value);
            Ok(())
        }
    }

    fn made(record: &str, revision: &str) -> TlsRequest {
        TlsRequest::Certify {
            record_name: record.into(),
            source: Source::Made {
                certificate_secret: MADE.into(),
                authority_secret: AUTHORITY.into(),
            },
            revision: revision.into(),
        }
    }

    fn field(secret: &str, name: &str) -> String {
        let json: Value = serde_json::from_str(secret).expect("JSON");
        json[name].as_str().expect("a text").to_owned()
    }

    /// Whether a TLS client trusting `authority` accepts the made certificate as
    /// `name`.
    async fn accepted(store: &FakeSecrets, authority: &str, name: &str) -> Result<(), String> {
        let secret = store.get(MADE);
        handshake(
            &field(&secret, tls_secret::CERTIFICATE),
            &field(&secret, tls_secret::PRIVATE_KEY),
            authority,
            name,
        )
        .await
    }

    #[tokio::test]
    async fn the_made_certificate_verifies_for_the_record_only_and_survives_a_rename() {
        let store = FakeSecrets::with(&[(AUTHORITY, "{}"), (MADE, "{}")]);
        let created = certify(&store, made(RECORD, "1")).await.expect("made");
        assert_eq!(created.physical_id, format!("made/{RECORD}/1"));
        assert_eq!(created.data[property::CERTIFICATE_SECRET], MADE);
        let authority = created.data[property::CA_CERTIFICATE].clone();
        assert!(authority.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_eq!(accepted(&store, &authority, RECORD).await, Ok(()));
        let other = accepted(&store, &authority, "other.presto.internal").await;
        assert!(
            other
                .as_ref()
                .is_err_and(|e| e.contains("not valid for name")),
            "{other:?}"
        );

        // A retried Create, a rename and a new revision keep the authority.
        let kept = store.get(AUTHORITY);
        let again = certify(&store, made(RECORD, "1")).await.expect("made");
        assert_eq!(again.data[property::CA_CERTIFICATE], authority);
        let renamed = "presto.presto.internal";
        let updated = certify(&store, made(renamed, "2")).await.expect("made");
        assert_eq!(updated.physical_id, format!("made/{renamed}/2"));
        assert_eq!(store.get(AUTHORITY), kept);
        assert_eq!(accepted(&store, &authority, renamed).await, Ok(()));
        assert!(accepted(&store, &authority, RECORD).await.is_err());

        // Another zone needs another authority: the name constraint would refuse it.
        let moved = certify(&store, made("coordinator.data.example", "2"))
            .await
            .expect("made");
        let new_authority = &moved.data[property::CA_CERTIFICATE];
        assert_ne!(new_authority, &authority);
        assert_eq!(
            accepted(&store, new_authority, "coordinator.data.example").await,
            Ok(())
        );
        assert!(
            accepted(&store, &authority, "coordinator.data.example")
                .await
                .is_err()
        );
        // Back to the first zone (a rolled-back update): its authority again.
        let back = certify(&store, made(RECORD, "2")).await.expect("made");
        assert_eq!(back.data[property::CA_CERTIFICATE], authority);
    }

    #[tokio::test]
    async fn a_given_certificate_is_checked_and_named_in_every_refusal() {
        let store = FakeSecrets::with(&[(AUTHORITY, "{}"), (MADE, "{}")]);
        certify(&store, made(RECORD, "1")).await.expect("made");
        let good = store.get(MADE);
        let given = |record: &str| TlsRequest::Certify {
            record_name: record.into(),
            source: Source::Given(GIVEN.into()),
            revision: "1".into(),
        };
        store.put(GIVEN, &good);
        let accepted = certify(&store, given(RECORD)).await.expect("accepted");
        assert_eq!(accepted.data[property::CERTIFICATE_SECRET], GIVEN);
        assert_eq!(accepted.data[property::CA_CERTIFICATE], "");
        assert_eq!(accepted.physical_id, format!("given/{RECORD}/1"));

        let refusal = |value: String, record: &'static str| {
            store.put(GIVEN, &value);
            let store = &store;
            async move {
                certify(store, given(record))
                    .await
                    .expect_err("refused")
                    .to_string()
            }
        };
        let prefix = format!("secret {GIVEN}: ");
        let other_key = KeyPair::generate().expect("key").serialize_pem();
        let cases = [
            (
                good.clone(),
                "other.presto.internal",
                "its first certificate is not valid for other.presto.internal",
            ),
            (
                json!({ "certificate": field(&good, "certificate"), "privateKey": other_key })
                    .to_string(),
                RECORD,
                "its key does not belong to its first certificate",
            ),
            (
                "not json".into(),
                RECORD,
                "not JSON: it must hold certificate and privateKey",
            ),
            (
                json!({ "certificate": field(&good, "certificate") }).to_string(),
                RECORD,
                "has no privateKey PEM text",
            ),
            (
                json!({ "certificate": "garbage", "privateKey": other_key }).to_string(),
                RECORD,
                "certificate holds no certificate",
            ),
        ];
        for (value, record, expected) in cases {
            let error = refusal(value, record).await;
            assert!(error.starts_with(&format!("{prefix}{expected}")), "{error}");
        }
        let missing = FakeSecrets::default();
        let error = certify(&missing, given(RECORD)).await.expect_err("refused");
        assert_eq!(
            error.to_string(),
            format!(
                "GetSecretValue failed for secret {GIVEN}: ResourceNotFoundException: Secrets Manager can't find the specified secret."
            )
        );
        // The authority secret holding something else is not silently replaced.
        let broken = FakeSecrets::with(&[(AUTHORITY, "password"), (MADE, "{}")]);
        let error = certify(&broken, made(RECORD, "1"))
            .await
            .expect_err("refused");
        assert_eq!(
            error.to_string(),
            format!(
                "secret {AUTHORITY} does not hold the stack's certificate authority: its value is not a JSON object of zones"
            )
        );
    }

    #[test]
    fn malformed_requests_are_refused_by_name() {
        let event = |kind: &str, properties: Value| json!({ "RequestType": kind, "ResourceType": property::TYPE, "ResourceProperties": properties });
        let good = json!({
            "RecordName": RECORD, "GivenCertificateSecretArn": "",
            "MadeCertificateSecretArn": MADE, "AuthoritySecretArn": AUTHORITY, "CredentialsRevision": "1",
        });
        assert_eq!(
            TlsRequest::parse(&event("Create", good.clone())).expect("valid"),
            made(RECORD, "1")
        );
        let with = |key: &str, value: Value| {
            let mut properties = good.clone();
            properties[key] = value;
            event("Create", properties)
        };
        let cases = [
            (
                with("RecordName", "".into()),
                "property RecordName: must be a fully qualified DNS name, not \"\"",
            ),
            (
                with("RecordName", "coordinator".into()),
                "property RecordName: must be a fully qualified DNS name",
            ),
            (
                with("MadeCertificateSecretArn", "made".into()),
                "property MadeCertificateSecretArn: must be a Secrets Manager secret ARN, not \"made\"",
            ),
            (
                with("GivenCertificateSecretArn", "s3://bucket/key".into()),
                "property GivenCertificateSecretArn: must be a Secrets Manager secret ARN",
            ),
            (
                with("AuthoritySecretArn", json!(5)),
                "property AuthoritySecretArn: must be a string, not 5",
            ),
            (
                with("CredentialsRevision", "".into()),
                "property CredentialsRevision: must be 1 to 32 letters",
            ),
            (
                with("CredentialsRevision", "a/b".into()),
                "property CredentialsRevision: must be 1 to 32 letters",
            ),
            (
                event("Remove", good.clone()),
                "malformed event: unknown RequestType \"Remove\"",
            ),
            (
                event("Delete", good.clone()),
                "malformed event: PhysicalResourceId is missing",
            ),
        ];
        for (event, expected) in cases {
            let error = TlsRequest::parse(&event).expect_err("refused").to_string();
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
