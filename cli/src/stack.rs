//! A deployed presto-ha stack, as the other commands need it: where its coordinator
//! record lives, which group holds the coordinators, and Presto's port, all read from
//! the stack's outputs and parameters.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::Stack;
use presto_ha_contract::{outputs, parameters};
use presto_ha_coordinators::record::RecordAddress;

use crate::aws::AwsContext;

/// `DescribeStacks` for one stack; `None` when no stack has that name.
pub async fn describe(cfn: &Client, name: &str) -> anyhow::Result<Option<Stack>> {
    match cfn.describe_stacks().stack_name(name).send().await {
        Ok(described) => Ok(described.stacks().first().cloned()),
        // CloudFormation has no dedicated error code for a missing stack.
        Err(error)
            if error.code() == Some("ValidationError")
                && error
                    .message()
                    .is_some_and(|m| m.contains("does not exist")) =>
        {
            Ok(None)
        }
        Err(error) => Err(error).aws("DescribeStacks", format_args!("stack {name}")),
    }
}

/// What the commands need of a deployed stack.
#[derive(Debug, Clone)]
pub struct ClusterStack {
    /// The stack's name.
    pub name: String,
    /// Its status, such as `CREATE_COMPLETE`.
    pub status: String,
    /// The coordinator record.
    pub record: RecordAddress,
    /// The coordinator Auto Scaling group.
    pub group: String,
    /// Presto's HTTP port.
    pub port: u16,
}

/// Reads stack `name`; an error names the stack and what it lacks.
pub async fn cluster(cfn: &Client, name: &str) -> anyhow::Result<ClusterStack> {
    let Some(stack) = describe(cfn, name).await? else {
        bail!("stack {name} does not exist in this account and region");
    };
    let outputs: BTreeMap<&str, &str> = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?, o.output_value()?)))
        .collect();
    let output = |key: &str| {
        outputs.get(key).copied().with_context(|| {
            format!(
                "stack {name} has no output {key}: is it a presto-ha stack, deployed and complete?"
            )
        })
    };
    let zone = output(outputs::HOSTED_ZONE_ID)?;
    let record = output(outputs::COORDINATOR_RECORD_NAME)?;
    let port = stack
        .parameters()
        .iter()
        .find(|p| p.parameter_key() == Some(parameters::PRESTO_HTTP_PORT))
        .and_then(|p| p.parameter_value())
        .with_context(|| {
            format!(
                "stack {name} has no parameter {}",
                parameters::PRESTO_HTTP_PORT
            )
        })?;
    Ok(ClusterStack {
        name: name.to_owned(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        record: RecordAddress {
            zone: zone.parse().map_err(|e| {
                anyhow::anyhow!("stack {name}: output {}: {e}", outputs::HOSTED_ZONE_ID)
            })?,
            name: record.parse().map_err(|e| {
                anyhow::anyhow!(
                    "stack {name}: output {}: {e}",
                    outputs::COORDINATOR_RECORD_NAME
                )
            })?,
        },
        group: output(outputs::COORDINATOR_GROUP_NAME)?.to_owned(),
        port: port.parse().with_context(|| {
            format!(
                "stack {name}: parameter {} is '{port}'",
                parameters::PRESTO_HTTP_PORT
            )
        })?,
    })
}

#[cfg(test)]
mod tests {
    use presto_ha_generator::settings::StackSettings;

    use super::*;

    #[test]
    fn the_template_has_every_output_and_parameter_the_commands_read() {
        let template = presto_ha_generator::template::build(&StackSettings::default());
        for output in [
            outputs::HOSTED_ZONE_ID,
            outputs::COORDINATOR_RECORD_NAME,
            outputs::COORDINATOR_GROUP_NAME,
        ] {
            assert!(template["Outputs"][output]["Value"].is_object(), "{output}");
        }
        for parameter in parameters::CODE.iter().chain([
            &parameters::PRESTO_HTTP_PORT,
            &parameters::HA_COORDINATORS_COUNT,
        ]) {
            assert!(template["Parameters"][parameter].is_object(), "{parameter}");
        }
    }
}
