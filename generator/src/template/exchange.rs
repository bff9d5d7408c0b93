//! The exchange bucket of Trino's fault-tolerant execution, and the resource that
//! empties it when the stack goes.

use super::*;

/// The ARNs of the exchange bucket's objects.
pub(super) fn exchange_objects() -> Value {
    sub(&format!("${{{}.Arn}}/*", ids::EXCHANGE_BUCKET))
}

/// The bucket fault-tolerant execution spools to: private, encrypted, reached only
/// over TLS, its objects expired after a day (a query's spool is deleted when the
/// query ends; what a crash leaves, the rule removes), and emptied by the custom
/// resource when the stack is deleted.
pub(super) fn exchange() -> Vec<(&'static str, Value)> {
    const TEMPORARY: &str = "Spooled exchange data lives for one query and expires within a day: versions, replicas and access logs of it would keep what is meant to go.";
    const SSE_S3: &str = "Trino encrypts every spooled exchange with a key of the query's own (fault-tolerant-execution.exchange-encryption-enabled); S3-managed keys encrypt it again at rest without a KMS key's cost and request limits.";
    const NO_LOCK: &str = "Object Lock would keep spooled data past its query; the bucket must be emptied at deletion.";
    vec![
        (
            ids::EXCHANGE_BUCKET,
            json!({
                "Type": "AWS::S3::Bucket",
                "Condition": FAULT_TOLERANT,
                "Metadata": suppressed(
                    &[
                        ("CKV_AWS_18", TEMPORARY),
                        ("CKV_AWS_21", TEMPORARY),
                    ],
                    &[
                        ("S3_BUCKET_LOGGING_ENABLED", TEMPORARY),
                        ("S3_BUCKET_VERSIONING_ENABLED", TEMPORARY),
                        ("S3_BUCKET_REPLICATION_ENABLED", TEMPORARY),
                        ("S3_BUCKET_DEFAULT_LOCK_ENABLED", NO_LOCK),
                        ("S3_DEFAULT_ENCRYPTION_KMS", SSE_S3),
                    ],
                ),
                "Properties": {
                    "BucketEncryption": { "ServerSideEncryptionConfiguration": [{
                        "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" },
                    }] },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": true,
                        "BlockPublicPolicy": true,
                        "IgnorePublicAcls": true,
                        "RestrictPublicBuckets": true,
                    },
                    "OwnershipControls": { "Rules": [{ "ObjectOwnership": "BucketOwnerEnforced" }] },
                    "LifecycleConfiguration": { "Rules": [{
                        "Id": "ExpireSpooledExchanges",
                        "Status": "Enabled",
                        "ExpirationInDays": 1,
                        "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 },
                    }] },
                },
            }),
        ),
        (
            "ExchangeBucketPolicy",
            json!({
                "Type": "AWS::S3::BucketPolicy",
                "Condition": FAULT_TOLERANT,
                "Properties": {
                    "Bucket": r#ref(ids::EXCHANGE_BUCKET),
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{
                            "Sid": "OnlyOverTls",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [get_att(ids::EXCHANGE_BUCKET, "Arn"), exchange_objects()],
                            "Condition": { "Bool": { "aws:SecureTransport": "false" } },
                        }],
                    },
                },
            }),
        ),
        (
            ids::EXCHANGE_BUCKET_CLEANUP,
            json!({
                "Type": exchange_resource::TYPE,
                "Condition": FAULT_TOLERANT,
                "Properties": {
                    "ServiceToken": get_att(ids::CUSTOM_RESOURCE_FUNCTION, "Arn"),
                    "ServiceTimeout": CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS,
                    exchange_resource::BUCKET_NAME: r#ref(ids::EXCHANGE_BUCKET),
                },
            }),
        ),
    ]
}
