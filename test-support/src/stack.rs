//! Stacks deployed into the emulator's CloudFormation.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_config::SdkConfig;
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use serde_json::Value;

/// A stack that reached `CREATE_COMPLETE`.
#[derive(Debug, Clone)]
pub struct DeployedStack {
    /// The stack's name.
    pub name: String,
    /// Its outputs, by key.
    pub outputs: BTreeMap<String, String>,
}

/// Creates stack `name` from `template` with `parameters` and waits for it to finish.
/// Any terminal status but `CREATE_COMPLETE` is an error that lists the stack's
/// failed events.
pub async fn deploy(
    config: &SdkConfig,
    name: &str,
    template: &Value,
    parameters: &[(&str, String)],
) -> Result<DeployedStack> {
    let cfn = aws_sdk_cloudformation::Client::new(config);
    let parameters: Vec<Parameter> = parameters
        .iter()
        .map(|(key, value)| {
            Parameter::builder()
                .parameter_key(*key)
                .parameter_value(value)
                .build()
        })
        .collect();
    let created = cfn
        .create_stack()
        .stack_name(name)
        .template_body(template.to_string())
        .set_parameters(Some(parameters))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await;
    // Every stack name is this call's own (the sandbox's, unique in the emulator): a
    // stack of that name is one an earlier attempt of this call created, when the SDK
    // retried a CreateStack the emulator had taken but answered too late.
    if let Err(error) = created
        && !error
            .as_service_error()
            .is_some_and(|e| e.is_already_exists_exception())
    {
        return Err(error).with_context(|| format!("CreateStack {name} failed"));
    }

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let described = cfn
            .describe_stacks()
            .stack_name(name)
            .send()
            .await
            .with_context(|| format!("DescribeStacks {name} failed"))?;
        let stack = described
            .stacks()
            .first()
            .context("DescribeStacks returned no stack")?;
        match stack.stack_status() {
            Some(StackStatus::CreateComplete) => {
                let outputs = stack
                    .outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_owned(), o.output_value()?.to_owned()))
                    })
                    .collect();
                return Ok(DeployedStack {
                    name: name.to_owned(),
                    outputs,
                });
            }
            Some(StackStatus::CreateInProgress) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            status => {
                let events = cfn.describe_stack_events().stack_name(name).send().await?;
                let failures: Vec<String> = events
                    .stack_events()
                    .iter()
                    .filter(|e| {
                        e.resource_status()
                            .is_some_and(|s| s.as_str().ends_with("FAILED"))
                    })
                    .map(|e| {
                        format!(
                            "{}: {}",
                            e.logical_resource_id().unwrap_or("?"),
                            e.resource_status_reason().unwrap_or("no reason")
                        )
                    })
                    .collect();
                bail!(
                    "stack {name} ended {status:?} ({}); failed: {failures:?}",
                    stack.stack_status_reason().unwrap_or("no reason")
                );
            }
        }
    }
}
