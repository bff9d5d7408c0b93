//! Stopping the watcher before a stack's deletion removes what it writes.
//!
//! The watcher writes the record and its notes every round; a run still going when the
//! stack is deleted (CloudFormation does not wait for it) would write them again after
//! they were removed, and the zone, no longer empty, could not be deleted. So a Delete
//! first asks whether the stack is going away; if so it sets the watcher's reserved
//! concurrency to 0, after which no run can start, and then waits out the watcher's
//! timeout, after which none can still be going. Only then are the names removed.
//!
//! A Delete that replaces the resource (a renamed record) leaves the watcher running:
//! it already watches the new name, and only a run started before the update can still
//! write the old one, so the wait alone suffices.

use std::future::Future;

use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use presto_ha_coordinators::aws::AwsCallError;

/// The stack and the watcher, as a Delete needs them.
pub trait WatcherControl {
    /// Whether the stack is going away: being deleted, its creation rolled back, or
    /// already gone. `false` for an update that replaces the resource.
    fn stack_going_away(
        &self,
        stack_id: &str,
    ) -> impl Future<Output = Result<bool, AwsCallError>> + Send;

    /// Stops new runs of the watcher `function`; runs already going continue.
    fn stop_watcher(&self, function: &str)
    -> impl Future<Output = Result<(), AwsCallError>> + Send;
}

/// [`WatcherControl`] through CloudFormation and Lambda.
#[derive(Debug, Clone)]
pub struct AwsWatcherControl {
    cloudformation: aws_sdk_cloudformation::Client,
    lambda: aws_sdk_lambda::Client,
}

impl AwsWatcherControl {
    /// Builds the two clients from `config`.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            cloudformation: aws_sdk_cloudformation::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
        }
    }
}

/// The stack statuses in which the stack is on its way out.
const GOING_AWAY: [&str; 3] = [
    "DELETE_IN_PROGRESS",
    "ROLLBACK_IN_PROGRESS",
    "DELETE_COMPLETE",
];

impl WatcherControl for AwsWatcherControl {
    async fn stack_going_away(&self, stack_id: &str) -> Result<bool, AwsCallError> {
        match self
            .cloudformation
            .describe_stacks()
            .stack_name(stack_id)
            .send()
            .await
        {
            Ok(described) => Ok(described
                .stacks()
                .first()
                .and_then(|stack| stack.stack_status())
                .is_none_or(|status| GOING_AWAY.contains(&status.as_str()))),
            // CloudFormation has no dedicated code for a stack it does not know.
            Err(error)
                if error.code() == Some("ValidationError")
                    && error
                        .message()
                        .is_some_and(|m| m.contains("does not exist")) =>
            {
                Ok(true)
            }
            Err(error) => Err(AwsCallError::sdk(
                "DescribeStacks",
                format_args!("stack {stack_id}"),
                error,
            )),
        }
    }

    async fn stop_watcher(&self, function: &str) -> Result<(), AwsCallError> {
        match self
            .lambda
            .put_function_concurrency()
            .function_name(function)
            .reserved_concurrent_executions(0)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already gone: nothing can run.
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(AwsCallError::sdk(
                "PutFunctionConcurrency",
                format_args!("function {function}"),
                error,
            )),
        }
    }
}
