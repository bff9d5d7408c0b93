//! AWS access shared by both Lambdas and the command line: the configuration, the
//! clients built from it once, and the one error type for a failed AWS call.

use std::fmt::{Debug, Display};

use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};

use crate::error_chain;
use crate::group::AwsCoordinators;
use crate::record::Route53Record;

/// The AWS configuration of the Lambdas: the standard chain (the Lambda's role,
/// region and endpoint), and the SDK's standard retry strategy with five attempts,
/// which retries throttling (`Throttling`, `PriorRequestNotComplete`) with jittered
/// backoff. The command line starts from the same loader and adds a profile and a
/// region.
pub fn config_loader() -> aws_config::ConfigLoader {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
}

/// Loads [`config_loader`]'s configuration.
pub async fn load_config() -> aws_config::SdkConfig {
    config_loader().load().await
}

/// The clients of the services the coordinators live in, built once from one
/// configuration.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// Auto Scaling: the coordinator group, terminations.
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// EC2: the instances' addresses and states.
    pub ec2: aws_sdk_ec2::Client,
    /// Route 53: the coordinator record and the notes beside it.
    pub route53: aws_sdk_route53::Client,
}

impl AwsClients {
    /// Builds every client from `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            route53: aws_sdk_route53::Client::new(config),
        }
    }

    /// The coordinator group's members.
    pub fn coordinators(&self) -> AwsCoordinators {
        AwsCoordinators::new(self.autoscaling.clone(), self.ec2.clone())
    }

    /// The coordinator record.
    pub fn record(&self) -> Route53Record {
        Route53Record::new(self.route53.clone())
    }
}

/// An AWS call that failed, after the retries the SDK makes: which operation, on what,
/// and why, in AWS's own words where AWS gave them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} failed for {resource}: {detail}")]
pub struct AwsCallError {
    /// The API operation, such as `ChangeResourceRecordSets`.
    pub operation: &'static str,
    /// What the call was about, such as a record or a group.
    pub resource: String,
    /// AWS's error code and message, or the whole cause where AWS gave none (a
    /// timeout, a refused connection, an unreadable answer).
    pub detail: String,
}

impl AwsCallError {
    /// A call the SDK reports as failed.
    pub fn sdk<E, R>(operation: &'static str, resource: impl Display, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: Debug + Send + Sync + 'static,
    {
        let detail = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => error_chain(&error),
        };
        Self {
            operation,
            resource: resource.to_string(),
            detail,
        }
    }

    /// A call that could not be made or whose answer could not be read.
    pub fn other(
        operation: &'static str,
        resource: impl Display,
        error: &dyn std::error::Error,
    ) -> Self {
        Self {
            operation,
            resource: resource.to_string(),
            detail: error_chain(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_route53::operation::get_change::GetChangeError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    #[test]
    fn the_error_names_operation_resource_and_aws_words() {
        let refused = SdkError::service_error(
            GetChangeError::generic(
                ErrorMetadata::builder()
                    .code("AccessDenied")
                    .message("not allowed")
                    .build(),
            ),
            Response::new(StatusCode::try_from(403).expect("status"), SdkBody::empty()),
        );
        let error = AwsCallError::sdk("GetChange", "change C1", refused);
        assert_eq!(
            error.to_string(),
            "GetChange failed for change C1: AccessDenied: not allowed"
        );
        let unreadable = "x".parse::<u8>().expect_err("not a number");
        assert_eq!(
            AwsCallError::other("ListResourceRecordSets", "a record", &unreadable).to_string(),
            "ListResourceRecordSets failed for a record: invalid digit found in string"
        );
    }
}
