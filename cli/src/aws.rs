//! AWS access for the commands: the standard SDK configuration (profile, region,
//! `AWS_ENDPOINT_URL`, ...), checked before the first call so that a missing region or
//! missing credentials is one clear line, and errors that name the AWS operation and
//! the resource it was about.

use std::fmt::Display;

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_cloudformation::config::ProvideCredentials;
use aws_sdk_cloudformation::error::{ProvideErrorMetadata, SdkError};
use presto_ha_coordinators::aws::{AwsCallError, AwsClients, config_loader};
use presto_ha_coordinators::error_chain;

/// Where to find the configuration; `None` leaves each to the SDK's standard chain.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    /// A named profile of `~/.aws/config`.
    pub profile: Option<String>,
    /// A region, over the environment's and the profile's.
    pub region: Option<String>,
}

/// Loads the SDK configuration the Lambdas use too (the standard retry strategy,
/// which retries throttling with backoff) and checks that it has a region and
/// credentials.
pub async fn load(profile: &Profile) -> anyhow::Result<SdkConfig> {
    let mut loader = config_loader();
    if let Some(name) = &profile.profile {
        loader = loader.profile_name(name);
    }
    if let Some(region) = &profile.region {
        loader = loader.region(RegionProviderChain::first_try(aws_config::Region::new(
            region.clone(),
        )));
    }
    let config = loader.load().await;
    if config.region().is_none_or(|r| r.as_ref().is_empty()) {
        bail!("no AWS region: set AWS_REGION, give your profile a region, or pass --region");
    }
    let credentials = config
        .credentials_provider()
        .context("no AWS credentials provider is configured")?;
    if let Err(error) = credentials.provide_credentials().await {
        // The chain's error lists each provider it tried on a line of its own.
        let tried: Vec<String> = error_chain(&error)
            .lines()
            .map(|line| line.trim().to_owned())
            .collect();
        bail!(
            "no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or sign in with `aws sso login` ({})",
            tried.join("; ")
        );
    }
    Ok(config)
}

/// Names the AWS operation and resource of a failed call.
pub trait AwsContext<T> {
    /// `"<operation> failed for <resource>: <code>: <message>"`, as [`AwsCallError`].
    fn aws(self, operation: &'static str, resource: impl Display) -> anyhow::Result<T>;
}

impl<T, E, R> AwsContext<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    fn aws(self, operation: &'static str, resource: impl Display) -> anyhow::Result<T> {
        self.map_err(|error| AwsCallError::sdk(operation, resource, error).into())
    }
}

/// The AWS configuration and the deployed stack `name`, for the commands that work on
/// a running cluster.
pub async fn open_stack(
    profile: &Profile,
    name: &str,
) -> anyhow::Result<(
    AwsClients,
    crate::stack::ClusterStack,
    aws_config::SdkConfig,
)> {
    let config = load(profile).await?;
    let cluster =
        crate::stack::cluster(&aws_sdk_cloudformation::Client::new(&config), name).await?;
    Ok((AwsClients::new(&config), cluster, config))
}
