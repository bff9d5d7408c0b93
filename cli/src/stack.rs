//! A deployed presto-ha stack, as the other commands need it: where its coordinator
//! record lives, which group holds the coordinators, and how a client reaches them
//! (port, TLS and the authority to trust, the admin's secret), all read from the
//! stack's outputs.

use std::collections::BTreeMap;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::error::ProvideErrorMetadata;
use aws_sdk_cloudformation::types::Stack;
use presto_ha_contract::{outputs, parameters, users};
use presto_ha_coordinators::group::{Coordinator, Coordinators};
use presto_ha_coordinators::probe::{Credentials, HttpProbe};
use presto_ha_coordinators::record::{ARecord, CoordinatorRecord, RecordAddress};

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
    /// The worker Auto Scaling group.
    pub workers: String,
    /// The port clients reach: HTTPS with TLS on, else HTTP.
    pub port: u16,
    /// With TLS on, the authority to trust: the stack's own, or `None` for a
    /// certificate the user gave, which the system's roots vouch for.
    pub tls: Option<Option<String>>,
    /// The secret holding the admin user's password.
    pub admin_secret: Option<String>,
    /// The nodes' key pair, if the stack has one.
    pub key_name: Option<String>,
    /// The probe function (stacks made by an older template have none).
    pub probe_function: Option<String>,
}

impl ClusterStack {
    /// The coordinator group's members and the record's value (`None` when the record
    /// does not exist), each failure naming what could not be read.
    pub async fn members_and_record(
        &self,
        coordinators: &impl Coordinators,
        record: &impl CoordinatorRecord,
    ) -> anyhow::Result<(Vec<Coordinator>, Option<ARecord>)> {
        let members = coordinators
            .members(&self.group)
            .await
            .with_context(|| format!("failed to list coordinator group {}", self.group))?;
        let value = record
            .read(&self.record)
            .await
            .with_context(|| format!("failed to read record {}", self.record))?;
        Ok((members, value))
    }

    /// A probe that reaches the coordinators as a client does: over HTTPS to each
    /// instance, checking the certificate for the record's name and logged in as the
    /// admin user, when TLS is on.
    pub async fn client_probe(
        &self,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> anyhow::Result<HttpProbe> {
        let probe = self.probe_without_login()?;
        Ok(match self.admin_credentials(secrets).await? {
            Some(admin) => probe.with_credentials(admin),
            None => probe,
        })
    }

    /// [`ClusterStack::client_probe`] without logging in: Trino answers it, prestodb
    /// over HTTPS answers HTTP 401.
    pub fn probe_without_login(&self) -> anyhow::Result<HttpProbe> {
        match &self.tls {
            None => HttpProbe::new(),
            Some(authority) => {
                HttpProbe::https(&self.record.name.to_string(), authority.as_deref())
            }
        }
        .with_context(|| format!("stack {}: cannot set up the probe", self.name))
    }

    /// The admin user's credentials, read from the stack's secret; `None` when the
    /// stack has no authentication.
    pub async fn admin_credentials(
        &self,
        secrets: &aws_sdk_secretsmanager::Client,
    ) -> anyhow::Result<Option<Credentials>> {
        let (Some(_), Some(secret)) = (&self.tls, &self.admin_secret) else {
            return Ok(None);
        };
        let value = secrets
            .get_secret_value()
            .secret_id(secret)
            .send()
            .await
            .aws("GetSecretValue", format_args!("secret {secret}"))?
            .secret_string
            .with_context(|| format!("secret {secret} holds no text"))?;
        let admin = Credentials::admin(&value).with_context(|| {
            format!(
                "secret {secret} is not JSON with the {} user's password",
                users::ADMIN
            )
        })?;
        Ok(Some(admin))
    }
}

/// The scheme and port of the coordinator URL output, such as
/// `https://coordinator.presto.internal:8443`.
fn client_endpoint(url: &str) -> Option<(bool, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let https = match scheme {
        "https" => true,
        "http" => false,
        _ => return None,
    };
    let port = rest
        .rsplit_once(':')?
        .1
        .trim_end_matches('/')
        .parse()
        .ok()?;
    Some((https, port))
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
    let url = output(outputs::PRESTO_COORDINATOR_URL)?;
    let (https, port) = client_endpoint(url).with_context(|| {
        format!(
            "stack {name}: output {} is '{url}', not http(s)://host:port",
            outputs::PRESTO_COORDINATOR_URL
        )
    })?;
    // The stack's own authority is a PEM text; for a certificate the user gave, the
    // output says so in words.
    let authority = outputs
        .get(outputs::CA_CERTIFICATE)
        .filter(|text| text.starts_with("-----BEGIN CERTIFICATE-----"))
        .map(|text| (*text).to_owned());
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
        workers: output(outputs::WORKER_GROUP_NAME)?.to_owned(),
        port,
        tls: https.then_some(authority),
        admin_secret: outputs
            .get(outputs::ADMIN_PASSWORD_SECRET)
            .map(|secret| (*secret).to_owned()),
        key_name: stack
            .parameters()
            .iter()
            .find(|p| p.parameter_key() == Some(parameters::KEY_NAME))
            .and_then(|p| p.parameter_value())
            .filter(|key| !key.is_empty())
            .map(str::to_owned),
        probe_function: outputs
            .get(outputs::PROBE_FUNCTION_NAME)
            .map(|function| (*function).to_owned()),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use presto_ha_contract::parameters;
    use presto_ha_generator::settings::StackSettings;

    use super::*;

    #[test]
    fn the_coordinator_url_gives_the_scheme_and_port() {
        assert_eq!(
            client_endpoint("https://coordinator.presto.internal:8443"),
            Some((true, 8443))
        );
        assert_eq!(
            client_endpoint("http://coordinator.presto.internal:8080/"),
            Some((false, 8080))
        );
        for bad in [
            "ftp://host:21",
            "https://host",
            "host:8443",
            "https://host:port",
        ] {
            assert_eq!(client_endpoint(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_template_has_every_output_and_parameter_the_commands_read() {
        let template = presto_ha_generator::template::build(&StackSettings::default());
        for output in [
            outputs::HOSTED_ZONE_ID,
            outputs::COORDINATOR_RECORD_NAME,
            outputs::COORDINATOR_GROUP_NAME,
            outputs::WORKER_GROUP_NAME,
            outputs::PRESTO_COORDINATOR_URL,
            outputs::CA_CERTIFICATE,
            outputs::ADMIN_PASSWORD_SECRET,
            outputs::PROBE_FUNCTION_NAME,
        ] {
            assert!(template["Outputs"][output]["Value"].is_object(), "{output}");
        }
        for parameter in parameters::CODE
            .iter()
            .chain([&parameters::HA_COORDINATORS_COUNT])
        {
            assert!(template["Parameters"][parameter].is_object(), "{parameter}");
        }
    }
    /// A stack named `s` with plain HTTP on 8080, for the commands' unit tests.
    pub(crate) fn stack() -> ClusterStack {
        ClusterStack {
            name: "s".into(),
            status: "CREATE_COMPLETE".into(),
            record: presto_ha_coordinators::record::RecordAddress {
                zone: "Z1".parse().expect("zone"),
                name: "coordinator.presto.internal".parse().expect("name"),
            },
            group: "g".into(),
            workers: "w".into(),
            port: 8080,
            tls: None,
            admin_secret: None,
            key_name: None,
            probe_function: None,
        }
    }
}
