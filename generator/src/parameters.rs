//! The template's parameters, each declared once: its name, console section, label,
//! description and what it accepts. `Parameters`, `ParameterGroups` and
//! `ParameterLabels` are all produced from this one table.

use std::ops::RangeInclusive;

use presto_ha_contract::{limits, parameters as name};
use serde_json::{Map, Value, json};

use crate::settings::{self, ClientSecurity, Engine, FaultTolerance, Metastore, StackSettings};

/// A section of the stack-creation form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Where the cluster runs and who may reach it.
    Network,
    /// The machines.
    Ec2,
    /// The engine and its name.
    Presto,
    /// TLS, users and passwords.
    Security,
    /// Catalogs, extra configuration files and the bootstrap script.
    Catalogs,
    /// The watcher's timings.
    HighAvailability,
    /// Where the Lambdas' code is.
    LambdaCode,
}

impl Section {
    /// Every section, in the order the console shows them.
    pub const ALL: [Self; 7] = [
        Self::Network,
        Self::Ec2,
        Self::Presto,
        Self::Security,
        Self::Catalogs,
        Self::HighAvailability,
        Self::LambdaCode,
    ];

    /// The section's heading in the console.
    pub fn label(self) -> &'static str {
        match self {
            Self::Network => "Network Configuration",
            Self::Ec2 => "EC2 Configuration",
            Self::Presto => "Presto Configuration",
            Self::Security => "TLS and Authentication",
            Self::Catalogs => "Catalogs and Extra Configuration",
            Self::HighAvailability => "High Availability",
            Self::LambdaCode => "Lambda Code",
        }
    }
}

/// One parameter of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Its name, from the contract.
    pub name: &'static str,
    /// The console section it is in.
    pub section: Section,
    /// Its label in the console.
    pub label: &'static str,
    /// Its declaration under `Parameters`: type, description, default and limits.
    pub declaration: Value,
}

/// A `Number` parameter bounded like the matching flag.
fn number(
    description: &str,
    default: impl Into<u64>,
    range: RangeInclusive<impl Into<u64> + Copy>,
) -> Value {
    let (min, max) = ((*range.start()).into(), (*range.end()).into());
    json!({
        "Type": "Number",
        "Description": description,
        "Default": default.into(),
        "MinValue": min,
        "MaxValue": max,
        "ConstraintDescription": format!("must be a whole number from {min} to {max}"),
    })
}

/// A `String` parameter with a pattern; no default leaves it for the user to fill.
fn string(description: &str, default: Option<String>, pattern: &str, expected: &str) -> Value {
    let mut parameter = json!({
        "Type": "String",
        "Description": description,
        "AllowedPattern": pattern,
        "ConstraintDescription": format!("must be {expected}"),
    });
    if let Some(default) = default {
        parameter["Default"] = default.into();
    }
    parameter
}

/// A `String` parameter limited to `values`.
fn allowed(description: &str, default: &str, values: &[&str]) -> Value {
    json!({
        "Type": "String",
        "Description": description,
        "Default": default,
        "AllowedValues": values,
    })
}

/// `WorkerSpotPercent`: the console offers each allowed share. A `String`, since
/// the value is a mapping key, which is text.
fn spot_percent(default: u8) -> Value {
    json!({
        "Type": "String",
        "Description": "The share of the workers that runs on spot capacity, in percent, in the pools least likely to be interrupted; the rest, and every coordinator, run on demand. A spot worker may be reclaimed with two minutes' notice: it drains for at most that long, and the group replaces it.",
        "Default": default.to_string(),
        "AllowedValues": settings::spot_percents().map(|p| p.to_string()).collect::<Vec<_>>(),
    })
}

/// A `CommaDelimitedList` parameter, empty by default.
fn list(description: &str) -> Value {
    json!({ "Type": "CommaDelimitedList", "Description": description, "Default": "" })
}

/// An optional `s3://bucket/key` parameter, empty by default.
fn s3_uri(description: &str) -> Value {
    string(
        description,
        Some(String::new()),
        settings::S3_URI_PATTERN,
        "empty or an s3://bucket/key URI without spaces or quotes",
    )
}

/// An optional Secrets Manager secret ARN, empty by default.
fn secret_arn(description: &str) -> Value {
    string(
        description,
        Some(String::new()),
        settings::SECRET_ARN_PATTERN,
        "empty or the ARN of a Secrets Manager secret",
    )
}

/// A parameter of an AWS-specific type, which the console fills from the account.
fn aws_typed(kind: &str, description: &str, default: Option<&str>) -> Value {
    let mut parameter = json!({ "Type": kind, "Description": description });
    if let Some(default) = default {
        parameter["Default"] = default.into();
    }
    parameter
}

/// Every parameter, in console order, with the defaults `s` asks for.
pub fn table(s: &StackSettings) -> Vec<Parameter> {
    use Section::*;
    let parameter = |name, section, label, declaration| Parameter {
        name,
        section,
        label,
        declaration,
    };
    let cidr_constraint = |what: &str| {
        format!("{what}; not a /0 network: nothing of the cluster may face the internet")
    };
    vec![
        parameter(
            name::VPC_ID,
            Network,
            "VPC",
            aws_typed(
                "AWS::EC2::VPC::Id",
                "Existing VPC for the cluster. The private hosted zone is attached to it, so the coordinator name resolves only inside it.",
                None,
            ),
        ),
        parameter(
            name::COORDINATOR_SUBNET_IDS,
            Network,
            "Coordinator subnets",
            aws_typed(
                "List<AWS::EC2::Subnet::Id>",
                "Subnets for the coordinators and the Lambdas, ideally in different AZs so a standby survives the loss of one. They need a route to the AWS APIs (NAT gateway or VPC endpoints for Route 53, EC2, Auto Scaling, CloudFormation and S3).",
                None,
            ),
        ),
        parameter(
            name::WORKER_SUBNET_IDS,
            Network,
            "Worker subnets",
            aws_typed(
                "List<AWS::EC2::Subnet::Id>",
                "Subnets for the workers. One AZ avoids cross-AZ transfer charges for shuffles.",
                None,
            ),
        ),
        parameter(
            name::CLIENT_CIDR,
            Network,
            "Client CIDR",
            string(
                "IPv4 CIDR allowed to reach the coordinators' client port, HTTPS (HTTP with client security off): Web UI, REST API, CLI, JDBC, ODBC.",
                s.client_cidr.map(|c| c.to_string()),
                settings::CIDR_PATTERN,
                &cidr_constraint("an IPv4 CIDR such as 10.0.0.0/16"),
            ),
        ),
        parameter(
            name::SSH_CIDR,
            Network,
            "SSH CIDR",
            string(
                "IPv4 CIDR allowed to reach port 22 on the nodes (with a key pair). Empty: nobody; Session Manager needs no open port.",
                Some(s.ssh_cidr.map(|c| c.to_string()).unwrap_or_default()),
                settings::OPTIONAL_CIDR_PATTERN,
                &cidr_constraint("empty or an IPv4 CIDR such as 10.0.0.0/16"),
            ),
        ),
        parameter(
            name::DATA_SOURCE_CIDR,
            Network,
            "Data source CIDR",
            string(
                "IPv4 CIDR the nodes may reach on any TCP port: databases, a Hive metastore, other data sources outside AWS's HTTPS APIs. Empty: the nodes reach only HTTPS (S3, Glue, package repositories, AWS APIs) and each other.",
                Some(
                    s.data_source_cidr
                        .map(|c| c.to_string())
                        .unwrap_or_default(),
                ),
                settings::OPTIONAL_CIDR_PATTERN,
                &cidr_constraint("empty or an IPv4 CIDR such as 10.0.0.0/16"),
            ),
        ),
        parameter(
            name::HA_COORDINATORS_COUNT,
            Ec2,
            "Number of coordinators (HA)",
            number(
                "Coordinators to run. HA is always on: 1 means no hot standby, so after a failure a new coordinator is launched, which takes several minutes; 2 or more keep hot standbys and switch within seconds. 2 or 3 suffice for most clusters.",
                s.coordinators,
                limits::COORDINATORS,
            ),
        ),
        parameter(
            name::COORDINATOR_WARM_POOL_SIZE,
            Ec2,
            "Coordinator warm pool",
            number(
                "Coordinators kept stopped and prepared (Java and the engine installed, configured) in the group's warm pool: a failed coordinator's replacement starts from one in about a minute instead of installing for minutes, which matters most with one coordinator. A stopped instance costs its volume only. 0: none.",
                s.coordinator_warm_pool_size,
                limits::COORDINATOR_WARM_POOL,
            ),
        ),
        parameter(
            name::COORDINATOR_INSTANCE_TYPE,
            Ec2,
            "Coordinator instance type",
            string(
                "EC2 instance type of the coordinators.",
                Some(s.coordinator_instance_type.to_string()),
                settings::INSTANCE_TYPE_PATTERN,
                "an EC2 instance type such as m6i.xlarge",
            ),
        ),
        parameter(
            name::WORKERS_COUNT,
            Ec2,
            "Number of workers",
            number("Presto workers to run.", s.workers, limits::WORKERS),
        ),
        parameter(
            name::WORKER_INSTANCE_TYPE,
            Ec2,
            "Worker instance type",
            string(
                "EC2 instance type of the workers.",
                Some(s.worker_instance_type.to_string()),
                settings::INSTANCE_TYPE_PATTERN,
                "an EC2 instance type such as m6i.2xlarge",
            ),
        ),
        parameter(
            name::WORKER_OTHER_INSTANCE_TYPES,
            Ec2,
            "Other worker instance types",
            string(
                "Up to three more instance types the workers may run on, comma separated, of a size like the worker instance type's: spot capacity is found more easily in several pools. On-demand workers prefer the worker instance type. Empty: only that type.",
                Some(s.other_worker_types()),
                &settings::other_instance_types_pattern(),
                "empty or up to three instance types such as m5.2xlarge,m6a.2xlarge, comma separated",
            ),
        ),
        parameter(
            name::WORKER_SPOT_PERCENT,
            Ec2,
            "Workers on spot (percent)",
            spot_percent(s.worker_spot_percent),
        ),
        parameter(
            name::WORKERS_MAX_COUNT,
            Ec2,
            "Most workers",
            number(
                "The most workers the group scales out to when they are busy; it must exceed the number of workers (the minimum), leaving one for rolling updates.",
                s.most_workers(),
                limits::WORKERS_MAX,
            ),
        ),
        parameter(
            name::WORKERS_TARGET_CPU_PERCENT,
            Ec2,
            "Workers' target CPU (percent)",
            number(
                "The workers' average CPU the group keeps to, adding workers above it (up to the most) and removing them below it (down to the number of workers), each leaving gracefully.",
                s.workers_target_cpu,
                limits::WORKERS_TARGET_CPU,
            ),
        ),
        parameter(
            name::WORKER_DRAIN_SECONDS,
            Ec2,
            "Worker drain time (seconds)",
            number(
                "How long a worker the group removes (a scale-in, a rolling update, a stack deletion) may finish its running tasks after it stops taking new ones; then it goes anyway.",
                300u16,
                limits::WORKER_DRAIN_SECONDS,
            ),
        ),
        parameter(
            name::KEY_NAME,
            Ec2,
            "SSH key pair",
            string(
                "Existing EC2 key pair for SSH to the nodes (user ec2-user), reachable from the SSH CIDR. Empty: no key; connect with Session Manager.",
                Some(s.key_name.clone().unwrap_or_default()),
                settings::KEY_NAME_PATTERN,
                "empty or the name of an existing EC2 key pair",
            ),
        ),
        parameter(
            name::IMAGE_ID,
            Ec2,
            "AMI",
            string(
                "Image of every node. Empty: the latest Amazon Linux 2023 (x86_64) when the stack is created, kept across updates so that an update replaces no coordinator unless asked to. 'latest': the latest now (this update replaces the coordinators if it is newer; set it back to empty to keep it). Or an AMI id.",
                Some(String::new()),
                settings::IMAGE_PATTERN,
                "empty, latest, or an AMI id such as ami-0123456789abcdef0",
            ),
        ),
        parameter(
            name::ENGINE,
            Presto,
            "Engine",
            allowed(
                "The engine every node runs: presto (prestodb) or trino. Changing it replaces every node.",
                s.engine.as_str(),
                &Engine::ALL.map(Engine::as_str),
            ),
        ),
        parameter(
            name::PRESTO_VERSION,
            Presto,
            "Engine version",
            string(
                &format!(
                    "Release of the engine installed on every node. Empty: {} for presto, {} for trino.",
                    Engine::Presto.default_version(),
                    Engine::Trino.default_version()
                ),
                Some(
                    s.presto_version
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
                settings::PRESTO_VERSION_PATTERN,
                "empty or a release number such as 0.297 (presto) or 479 (trino)",
            ),
        ),
        parameter(
            name::PRESTO_TARBALL_SHA256,
            Presto,
            "Engine tarball SHA-256",
            string(
                "SHA-256 the engine's tarball must have (the production choice). Empty: the tarball is checked against the SHA-512 or SHA-1 digest Maven Central publishes beside it. Set it together with the engine version.",
                Some(String::new()),
                settings::SHA256_PATTERN,
                "empty or 64 lowercase hexadecimal digits",
            ),
        ),
        parameter(
            name::PRESTO_HTTP_PORT,
            Presto,
            "Presto HTTP port",
            number(
                "Presto's HTTP port on every node.",
                s.presto_port,
                limits::PRESTO_PORT,
            ),
        ),
        parameter(
            name::PRESTO_ENVIRONMENT,
            Presto,
            "Presto environment name",
            string(
                "Presto node.environment, the same on every node.",
                Some("production".to_owned()),
                settings::ENVIRONMENT_PATTERN,
                "lowercase letters, digits and underscores, starting with a letter or digit",
            ),
        ),
        parameter(
            name::FAULT_TOLERANT_EXECUTION,
            Presto,
            "Fault-tolerant execution (Trino)",
            allowed(
                "Trino only. Task: a task lost with its worker (a spot reclaim, a failed host) is retried on another worker from data spooled to an S3 bucket the stack makes; Query: a failed query is retried whole. Both spool every exchange, which costs latency and S3 requests. None: a lost worker fails its queries.",
                s.fault_tolerant_execution.as_str(),
                &FaultTolerance::ALL.map(FaultTolerance::as_str),
            ),
        ),
        parameter(
            name::HOSTED_ZONE_NAME,
            Presto,
            "Private hosted zone name",
            string(
                "Name of the private hosted zone created for the cluster. Changing it replaces the zone.",
                Some(s.zone_name.to_string()),
                settings::ZONE_NAME_PATTERN,
                "a lowercase DNS name such as presto.internal",
            ),
        ),
        parameter(
            name::COORDINATOR_RECORD_NAME,
            Presto,
            "Coordinator record name",
            string(
                "Label of the coordinator record inside the zone; clients and workers use <label>.<zone>.",
                Some(s.record_label.to_string()),
                settings::LABEL_PATTERN,
                "one lowercase DNS label such as coordinator",
            ),
        ),
        parameter(
            name::CLIENT_SECURITY,
            Security,
            "Client security",
            allowed(
                "TLS and passwords: clients reach only the coordinators' HTTPS port and log on with a password; the nodes share a generated secret. None (labs only): clients get plain HTTP on the HTTP port and anyone who reaches it can run queries as any user.",
                ClientSecurity::of(s).as_str(),
                &ClientSecurity::ALL.map(ClientSecurity::as_str),
            ),
        ),
        parameter(
            name::PRESTO_HTTPS_PORT,
            Security,
            "Presto HTTPS port",
            number(
                "The coordinators' HTTPS port, the only one clients reach with TLS on.",
                s.https_port,
                limits::PRESTO_PORT,
            ),
        ),
        parameter(
            name::TLS_CERTIFICATE_SECRET_ARN,
            Security,
            "TLS certificate secret",
            secret_arn(
                "Secrets Manager secret holding your certificate for the coordinator record: JSON with certificate (PEM chain, the coordinators' certificate first) and privateKey (PEM, PKCS #8). Empty: the stack makes its own certificate authority and certificate, and outputs the authority's certificate for clients to trust.",
            ),
        ),
        parameter(
            name::USERS_SECRET_ARN,
            Security,
            "Users secret",
            secret_arn(
                "Secrets Manager secret of more users: a JSON object of user names and passwords. The stack always makes the admin user, with a generated password in its own secret.",
            ),
        ),
        parameter(
            name::CREDENTIALS_REVISION,
            Security,
            "Credentials revision",
            string(
                "Change it in a stack update after changing a secret's value: every node reads its secrets again (coordinators are replaced, workers roll) and the stack reissues its own certificate.",
                Some("1".to_owned()),
                settings::REVISION_PATTERN,
                "1 to 32 letters, digits, dots, underscores or hyphens",
            ),
        ),
        parameter(
            name::METASTORE_TYPE,
            Catalogs,
            "Metastore type",
            allowed(
                "Metadata store of the hive and iceberg catalogs every node gets. None: only tpch and your own catalogs.",
                s.metastore.as_str(),
                &Metastore::ALL.map(Metastore::as_str),
            ),
        ),
        parameter(
            name::EXTERNAL_METASTORE_HOST,
            Catalogs,
            "External metastore host",
            string(
                "Host of the Hive metastore service, for the External Hive Metastore Service type. Its address must be in the data source CIDR: nothing else but HTTPS leaves the nodes.",
                Some(String::new()),
                settings::HOST_PATTERN,
                "empty, a DNS name or an IPv4 address",
            ),
        ),
        parameter(
            name::EXTERNAL_METASTORE_PORT,
            Catalogs,
            "External metastore port",
            number(
                "Thrift port of the Hive metastore service.",
                9083u16,
                limits::METASTORE_PORT,
            ),
        ),
        parameter(
            name::DATA_BUCKET_NAMES,
            Catalogs,
            "Data buckets",
            list(
                "S3 buckets (names, comma-separated) the catalogs may read and write. The nodes get no other S3 access.",
            ),
        ),
        parameter(
            name::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
            Catalogs,
            "Additional coordinator configuration",
            s3_uri(
                "s3:// zip of an etc/ tree applied on every coordinator at every boot: catalog files added, config.properties and jvm.config lines added or overriding, other files copied.",
            ),
        ),
        parameter(
            name::ADDITIONAL_WORKERS_CONFIGURATION_URI,
            Catalogs,
            "Additional workers configuration",
            s3_uri(
                "s3:// zip of an etc/ tree applied on every worker at every boot, as for the coordinators.",
            ),
        ),
        parameter(
            name::BOOTSTRAP_SCRIPT_URI,
            Catalogs,
            "Bootstrap script",
            s3_uri(
                "s3:// script every node runs before its engine starts, with coordinator or worker as its argument; a failure stops the node's boot.",
            ),
        ),
        parameter(
            name::CONFIGURATION_SECRET_ARNS,
            Catalogs,
            "Configuration secrets",
            list(
                "ARNs of the Secrets Manager secrets the extra configuration may name as ${secret:ID} or ${secret:ID#KEY}; the nodes may read these and no others.",
            ),
        ),
        parameter(
            name::PROBE_INTERVAL_SECONDS,
            HighAvailability,
            "Probe interval (seconds)",
            number(
                "Seconds between two probes of every coordinator's /v1/info.",
                s.probe_interval_seconds,
                limits::PROBE_INTERVAL_SECONDS,
            ),
        ),
        parameter(
            name::PROBE_TIMEOUT_SECONDS,
            HighAvailability,
            "Probe timeout (seconds)",
            number(
                "Seconds a probe may take before it counts as a failure. Keep it below the grace period.",
                s.probe_timeout_seconds,
                limits::PROBE_TIMEOUT_SECONDS,
            ),
        ),
        parameter(
            name::FAILOVER_GRACE_SECONDS,
            HighAvailability,
            "Failover grace period (seconds)",
            number(
                "Seconds the active coordinator must fail without a break before the watcher replaces it; a pause shorter than this (a long GC) causes no failover. A stopped or terminated coordinator is replaced at once.",
                s.grace_seconds,
                limits::GRACE_SECONDS,
            ),
        ),
        parameter(
            name::FAILOVER_REFUSED_SECONDS,
            HighAvailability,
            "Failover on refused connections (seconds)",
            number(
                "Seconds the active coordinator may only refuse connections (nothing listens on its port: the engine exited, or is restarting) before it is replaced, while a standby is healthy. A refusal is never a GC pause, so this can be much shorter than the grace; a value above the grace acts as the grace.",
                s.refused_seconds,
                limits::REFUSED_SECONDS,
            ),
        ),
        parameter(
            name::COORDINATOR_DRAIN_SECONDS,
            HighAvailability,
            "Coordinator drain time (seconds)",
            number(
                "When an update replaces the coordinators: how long the old ones are kept, after the record has moved to a new one that serves, for the queries they run to finish; the update goes on as soon as none is left. 0: the old ones go at once, and their queries fail.",
                600u16,
                limits::COORDINATOR_DRAIN_SECONDS,
            ),
        ),
        parameter(
            name::NOTIFICATION_EMAIL,
            HighAvailability,
            "Notification e-mail",
            string(
                "Address the alarms are mailed to (a failover, no standbys left, the watcher not running, no healthy active coordinator); AWS asks it to confirm the subscription. Empty: subscribe to the AlarmTopicArn output yourself.",
                Some(
                    s.notification_email
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
                settings::EMAIL_PATTERN,
                "empty or an e-mail address",
            ),
        ),
        parameter(
            name::LAMBDA_CODE_BUCKET,
            LambdaCode,
            "Lambda code bucket",
            string(
                "S3 bucket holding the two Lambda zips, in the stack's region.",
                s.code_bucket.as_ref().map(ToString::to_string),
                settings::BUCKET_PATTERN,
                "an S3 bucket name",
            ),
        ),
        parameter(
            name::CUSTOM_RESOURCE_CODE_KEY,
            LambdaCode,
            "DNS custom resource code key",
            string(
                "S3 key of the coordinator DNS custom resource's zip.",
                Some(s.custom_resource_code_key.to_string()),
                settings::OBJECT_KEY_PATTERN,
                "an S3 key without a leading '/'",
            ),
        ),
        parameter(
            name::WATCHER_CODE_KEY,
            LambdaCode,
            "Watcher code key",
            string(
                "S3 key of the watcher's zip.",
                Some(s.watcher_code_key.to_string()),
                settings::OBJECT_KEY_PATTERN,
                "an S3 key without a leading '/'",
            ),
        ),
    ]
}

/// The template's `Parameters`.
pub fn declarations(table: &[Parameter]) -> Value {
    let declared: Map<String, Value> = table
        .iter()
        .map(|p| (p.name.to_owned(), p.declaration.clone()))
        .collect();
    Value::Object(declared)
}

/// The console's `AWS::CloudFormation::Interface`: the sections in order, each with
/// its parameters in table order, and every parameter's label.
pub fn interface(table: &[Parameter]) -> Value {
    let groups: Vec<Value> = Section::ALL
        .iter()
        .map(|&section| {
            let names: Vec<&str> = table
                .iter()
                .filter(|p| p.section == section)
                .map(|p| p.name)
                .collect();
            json!({ "Label": { "default": section.label() }, "Parameters": names })
        })
        .collect();
    let labels: Map<String, Value> = table
        .iter()
        .map(|p| (p.name.to_owned(), json!({ "default": p.label })))
        .collect();
    json!({ "ParameterGroups": groups, "ParameterLabels": labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_holds_a_parameter_and_every_name_is_declared_once() {
        let table = table(&StackSettings::default());
        for section in Section::ALL {
            assert!(
                table.iter().any(|p| p.section == section),
                "{section:?} is empty"
            );
        }
        let mut names: Vec<&str> = table.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), table.len());
        assert!(
            table
                .iter()
                .all(|p| p.declaration["Description"].is_string())
        );
    }

    #[test]
    fn table_order_is_section_order_so_the_console_and_the_template_agree() {
        let table = table(&StackSettings::default());
        let position = |s: Section| Section::ALL.iter().position(|&x| x == s);
        assert!(
            table
                .windows(2)
                .all(|w| position(w[0].section) <= position(w[1].section))
        );
    }
}
