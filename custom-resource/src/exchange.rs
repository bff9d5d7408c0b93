//! `Custom::ExchangeBucket`: the bucket Trino's fault-tolerant execution spools its
//! exchanges to, emptied when the resource is deleted.
//!
//! CloudFormation deletes only an empty bucket. A query's spool goes when the query
//! ends, but a node that dies mid-query leaves its part behind, and the bucket's
//! lifecycle rule expires it only within a day; so a stack's deletion would fail on
//! the bucket. The launch templates name the bucket through this resource, so that
//! CloudFormation deletes it after the nodes and before the bucket: nothing writes
//! to the bucket any more when it is emptied.

use std::collections::BTreeMap;
use std::future::Future;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use presto_ha_contract::exchange_resource as property;
use presto_ha_coordinators::aws::AwsCallError;
use serde_json::Value;

use crate::event::EventError;
use crate::handler::Success;

/// A `Custom::ExchangeBucket` request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeRequest {
    /// Create or Update: nothing to do but name the bucket.
    Keep {
        /// The bucket.
        bucket: String,
    },
    /// Delete: empty the bucket, so that CloudFormation can delete it next.
    Empty {
        /// The bucket.
        bucket: String,
    },
}

impl ExchangeRequest {
    /// Reads the request of an event whose `ResourceType` is `Custom::ExchangeBucket`.
    /// A Delete reads the bucket from its properties, which a Delete carries too, so
    /// that even a Create that failed is cleaned up by the bucket it named.
    pub fn parse(event: &Value) -> Result<Self, EventError> {
        let given = &event["ResourceProperties"][property::BUCKET_NAME];
        let bucket = given
            .as_str()
            .filter(|name| is_bucket_name(name))
            .map(str::to_owned)
            .ok_or_else(|| EventError::Property {
                name: property::BUCKET_NAME,
                problem: format!("must be an S3 bucket name, not {given}"),
            })?;
        match event.get("RequestType").and_then(Value::as_str) {
            Some("Create" | "Update") => Ok(Self::Keep { bucket }),
            Some("Delete") => Ok(Self::Empty { bucket }),
            other => Err(EventError::Shape(format!(
                "unknown RequestType {other:?}, expected Create, Update or Delete"
            ))),
        }
    }
}

/// Whether `name` can be an S3 bucket's: 3 to 63 lowercase letters, digits, dots and
/// hyphens.
fn is_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

/// One page of a bucket's keys, and where the next begins.
pub type Page = (Vec<String>, Option<String>);

/// The calls that empty a bucket.
pub trait ExchangeStore {
    /// Up to a thousand keys of `bucket`, from `after` (a previous page's token); `None`
    /// when the bucket does not exist.
    fn keys(
        &self,
        bucket: &str,
        after: Option<String>,
    ) -> impl Future<Output = Result<Option<Page>, AwsCallError>> + Send;

    /// Deletes `keys` (at most a thousand) from `bucket`.
    fn delete(
        &self,
        bucket: &str,
        keys: Vec<String>,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;

    /// The multipart uploads under way in `bucket`: key and upload id.
    fn uploads(
        &self,
        bucket: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsCallError>> + Send;

    /// Aborts the multipart upload `upload_id` of `key`.
    fn abort(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// [`ExchangeStore`] in S3.
#[derive(Debug, Clone)]
pub struct S3Exchange {
    client: aws_sdk_s3::Client,
}

impl S3Exchange {
    /// Builds the client from `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_s3::Client::new(config),
        }
    }
}

fn bucket_gone<E: ProvideErrorMetadata>(error: &aws_sdk_s3::error::SdkError<E>) -> bool {
    error.code() == Some("NoSuchBucket")
}

impl ExchangeStore for S3Exchange {
    async fn keys(
        &self,
        bucket: &str,
        after: Option<String>,
    ) -> Result<Option<Page>, AwsCallError> {
        match self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(after)
            .send()
            .await
        {
            Ok(listed) => Ok(Some((
                listed
                    .contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned))
                    .collect(),
                listed.next_continuation_token().map(str::to_owned),
            ))),
            Err(error) if bucket_gone(&error) => Ok(None),
            Err(error) => Err(AwsCallError::sdk(
                "ListObjectsV2",
                format_args!("bucket {bucket}"),
                error,
            )),
        }
    }

    async fn delete(&self, bucket: &str, keys: Vec<String>) -> Result<(), AwsCallError> {
        let resource = || format!("bucket {bucket}");
        let objects = keys
            .into_iter()
            .map(|key| ObjectIdentifier::builder().key(key).build())
            .collect::<Result<Vec<_>, _>>()
            .and_then(|objects| {
                Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
            })
            .map_err(|e| AwsCallError {
                operation: "DeleteObjects",
                resource: resource(),
                detail: e.to_string(),
            })?;
        let deleted = self
            .client
            .delete_objects()
            .bucket(bucket)
            .delete(objects)
            .send()
            .await
            .map_err(|e| AwsCallError::sdk("DeleteObjects", resource(), e))?;
        match deleted.errors().first() {
            None => Ok(()),
            Some(error) => Err(AwsCallError {
                operation: "DeleteObjects",
                resource: resource(),
                detail: format!(
                    "{} of the objects were not deleted, among them {}: {} {}",
                    deleted.errors().len(),
                    error.key().unwrap_or("?"),
                    error.code().unwrap_or("?"),
                    error.message().unwrap_or_default()
                ),
            }),
        }
    }

    async fn uploads(&self, bucket: &str) -> Result<Vec<(String, String)>, AwsCallError> {
        match self
            .client
            .list_multipart_uploads()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(listed) => Ok(listed
                .uploads()
                .iter()
                .filter_map(|u| Some((u.key()?.to_owned(), u.upload_id()?.to_owned())))
                .collect()),
            Err(error) if bucket_gone(&error) => Ok(Vec::new()),
            Err(error) => Err(AwsCallError::sdk(
                "ListMultipartUploads",
                format_args!("bucket {bucket}"),
                error,
            )),
        }
    }

    async fn abort(&self, bucket: &str, key: &str, upload_id: &str) -> Result<(), AwsCallError> {
        self.client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                AwsCallError::sdk(
                    "AbortMultipartUpload",
                    format_args!("s3://{bucket}/{key}"),
                    e,
                )
            })
    }
}

/// Carries out an exchange bucket request: the bucket is the physical id and the
/// `BucketName` attribute; a Delete first empties it (a bucket already gone is
/// empty), and says how much it removed.
pub async fn handle(
    store: &impl ExchangeStore,
    request: ExchangeRequest,
) -> Result<Success, AwsCallError> {
    let (bucket, reason) = match request {
        ExchangeRequest::Keep { bucket } => (bucket, None),
        ExchangeRequest::Empty { bucket } => {
            let mut removed = 0;
            let mut after = None;
            while let Some((keys, next)) = store.keys(&bucket, after).await? {
                removed += keys.len();
                if !keys.is_empty() {
                    store.delete(&bucket, keys).await?;
                }
                after = next;
                if after.is_none() {
                    break;
                }
            }
            let uploads = store.uploads(&bucket).await?;
            for (key, upload_id) in &uploads {
                store.abort(&bucket, key, upload_id).await?;
            }
            tracing::info!(
                bucket,
                removed,
                aborted = uploads.len(),
                "exchange bucket emptied"
            );
            let reason = (removed + uploads.len() > 0).then(|| {
                format!(
                    "emptied s3://{bucket} for its deletion: {removed} objects, {} uploads under way",
                    uploads.len()
                )
            });
            (bucket, reason)
        }
    };
    Ok(Success {
        physical_id: bucket.clone(),
        data: BTreeMap::from([(property::BUCKET_NAME.to_owned(), bucket)]),
        reason,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use serde_json::json;

    use super::*;

    /// A bucket in memory: its keys, its uploads, and every call made.
    #[derive(Default)]
    struct FakeBucket {
        keys: Mutex<Option<Vec<String>>>,
        uploads: Mutex<Vec<(String, String)>>,
        /// A page's size, to make the listing take several pages.
        page: usize,
        calls: Mutex<Vec<String>>,
        fail_delete: bool,
    }

    impl FakeBucket {
        fn holding(keys: usize, uploads: usize) -> Self {
            Self {
                keys: Mutex::new(Some((0..keys).map(|n| format!("spool/{n}")).collect())),
                uploads: Mutex::new(
                    (0..uploads)
                        .map(|n| (format!("part/{n}"), format!("u{n}")))
                        .collect(),
                ),
                page: 3,
                ..Self::default()
            }
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().expect("calls").clone()
        }
    }

    impl ExchangeStore for FakeBucket {
        async fn keys(
            &self,
            _bucket: &str,
            after: Option<String>,
        ) -> Result<Option<Page>, AwsCallError> {
            self.calls
                .lock()
                .expect("calls")
                .push(format!("keys {after:?}"));
            let keys = self.keys.lock().expect("keys");
            let Some(keys) = keys.as_ref() else {
                return Ok(None);
            };
            let from: usize = after.map_or(0, |a| a.parse().expect("a token"));
            let page: Vec<String> = keys.iter().skip(from).take(self.page).cloned().collect();
            let next = (from + self.page < keys.len()).then(|| (from + self.page).to_string());
            Ok(Some((page, next)))
        }

        async fn delete(&self, bucket: &str, keys: Vec<String>) -> Result<(), AwsCallError> {
            self.calls
                .lock()
                .expect("calls")
                .push(format!("delete {}", keys.len()));
            if self.fail_delete {
                return Err(AwsCallError {
                    operation: "DeleteObjects",
                    resource: format!("bucket {bucket}"),
                    detail: "AccessDenied: not allowed".into(),
                });
            }
            // The listing's pages do not move as keys go: S3 lists by key, after a token.
            Ok(())
        }

        async fn uploads(&self, _bucket: &str) -> Result<Vec<(String, String)>, AwsCallError> {
            Ok(self.uploads.lock().expect("uploads").clone())
        }

        async fn abort(
            &self,
            _bucket: &str,
            key: &str,
            _upload_id: &str,
        ) -> Result<(), AwsCallError> {
            self.calls
                .lock()
                .expect("calls")
                .push(format!("abort {key}"));
            Ok(())
        }
    }

    fn event(kind: &str, bucket: Value) -> Value {
        json!({
            "RequestType": kind,
            "ResourceType": property::TYPE,
            "ResourceProperties": { "ServiceToken": "arn", property::BUCKET_NAME: bucket },
        })
    }

    #[test]
    fn requests_name_their_bucket_and_a_bad_one_is_refused_by_name() {
        assert_eq!(
            ExchangeRequest::parse(&event("Create", json!("stack-exchangebucket-1a2b"))),
            Ok(ExchangeRequest::Keep {
                bucket: "stack-exchangebucket-1a2b".into()
            })
        );
        assert_eq!(
            ExchangeRequest::parse(&event("Delete", json!("stack-exchangebucket-1a2b"))),
            Ok(ExchangeRequest::Empty {
                bucket: "stack-exchangebucket-1a2b".into()
            })
        );
        for bad in [json!("Not_A_Bucket"), json!(""), json!(7), Value::Null] {
            let refused = ExchangeRequest::parse(&event("Delete", bad.clone()))
                .expect_err("a bad bucket name")
                .to_string();
            assert!(
                refused.contains(property::BUCKET_NAME) && refused.contains(&bad.to_string()),
                "{refused}"
            );
        }
        assert!(ExchangeRequest::parse(&event("Rename", json!("abc"))).is_err());
    }

    #[tokio::test]
    async fn create_names_the_bucket_and_touches_nothing() {
        let bucket = FakeBucket::holding(5, 1);
        let done = handle(
            &bucket,
            ExchangeRequest::Keep {
                bucket: "b-1".into(),
            },
        )
        .await
        .expect("kept");
        assert_eq!(done.physical_id, "b-1");
        assert_eq!(done.data[property::BUCKET_NAME], "b-1");
        assert!(bucket.calls().is_empty());
    }

    #[tokio::test]
    async fn delete_empties_every_page_and_aborts_every_upload() {
        let bucket = FakeBucket::holding(7, 2);
        let done = handle(
            &bucket,
            ExchangeRequest::Empty {
                bucket: "b-1".into(),
            },
        )
        .await
        .expect("emptied");
        assert_eq!(
            bucket.calls(),
            [
                "keys None",
                "delete 3",
                "keys Some(\"3\")",
                "delete 3",
                "keys Some(\"6\")",
                "delete 1",
                "abort part/0",
                "abort part/1",
            ]
        );
        assert_eq!(
            done.reason.as_deref(),
            Some("emptied s3://b-1 for its deletion: 7 objects, 2 uploads under way")
        );
    }

    #[tokio::test]
    async fn a_bucket_already_empty_or_gone_is_left_as_it_is() {
        for bucket in [FakeBucket::holding(0, 0), FakeBucket::default()] {
            let done = handle(
                &bucket,
                ExchangeRequest::Empty {
                    bucket: "b-1".into(),
                },
            )
            .await
            .expect("nothing to empty");
            assert_eq!(done.reason, None);
            assert_eq!(bucket.calls(), ["keys None"]);
        }
    }

    #[tokio::test]
    async fn a_delete_that_cannot_empty_the_bucket_fails_naming_it_and_why() {
        let bucket = FakeBucket {
            fail_delete: true,
            ..FakeBucket::holding(2, 0)
        };
        let failed = handle(
            &bucket,
            ExchangeRequest::Empty {
                bucket: "b-1".into(),
            },
        )
        .await
        .expect_err("AccessDenied");
        let text = failed.to_string();
        assert!(
            text.contains("bucket b-1") && text.contains("AccessDenied"),
            "{text}"
        );
    }
}
