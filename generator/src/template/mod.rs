//! The CloudFormation template, built as data.
//!
//! The names the Lambdas and the command line read (parameters, outputs, environment
//! variables, custom-resource properties) come from the shared contract; logical ids
//! are the template's own.
//!
//! This module assembles the template (conditions, rules, mappings, the resources in
//! order) and holds what every part uses; each part of the stack, with the IAM
//! statements it needs, is a room of its own: [`network`], [`nodes`],
//! [`coordinator_dns`], [`lambdas`], [`secrets`], [`exchange`], [`monitoring`] and
//! [`outputs`].

use serde_json::{Map, Value, json};

use presto_ha_contract::{
    CUSTOM_RESOURCE_TIMEOUT_SECONDS, RECORD_TTL_SECONDS, WATCHER_TIMEOUT_SECONDS, alarms,
    custom_resource_env, dns_resource, exchange_resource, image_resource, limits, metrics, notes,
    parameters as param, probe_function, tls_resource, users, watcher_env,
};

use crate::node::{self, Role};
use crate::parameters;
use crate::settings::{
    self, ClientSecurity, Engine, FaultTolerance, LATEST_IMAGE_PARAMETER, LambdaArchitecture,
    Metastore, StackSettings, WORLD_CIDR_REFUSED,
};

mod coordinator_dns;
mod exchange;
mod lambdas;
mod monitoring;
mod network;
mod nodes;
mod outputs;
mod secrets;

use self::{
    coordinator_dns::*, exchange::*, lambdas::*, monitoring::*, network::*, nodes::*, outputs::*,
    secrets::*,
};

/// Logical ids of the resources other code refers to.
pub mod ids {
    /// The private hosted zone holding the coordinator record.
    pub const HOSTED_ZONE: &str = "HostedZone";
    /// The coordinators' Auto Scaling group (active plus hot standbys).
    pub const COORDINATOR_GROUP: &str = "CoordinatorGroup";
    /// The workers' Auto Scaling group.
    pub const WORKER_GROUP: &str = "WorkerGroup";
    /// The `Custom::CoordinatorDns` resource that owns the coordinator record.
    pub const COORDINATOR_DNS: &str = "CoordinatorDns";
    /// The Lambda behind `Custom::CoordinatorDns`.
    pub const CUSTOM_RESOURCE_FUNCTION: &str = "CoordinatorDnsFunction";
    /// The watcher Lambda.
    pub const WATCHER_FUNCTION: &str = "WatcherFunction";
    /// The watcher's code again, answering probe requests for the command line.
    pub const PROBE_FUNCTION: &str = "ProbeFunction";
    /// The custom resource's permissions on the coordinator group and the watcher. A
    /// policy of its own: in the function's role they would make a cycle (the group's
    /// launch template needs the pinned image, which that function serves, and the
    /// watcher names the group).
    pub const GROUP_AND_WATCHER_POLICY: &str = "CoordinatorDnsGroupAndWatcher";
    /// The `Custom::PinnedImage` resource that keeps the nodes' image.
    pub const PINNED_IMAGE: &str = "PinnedImage";
    /// The `Custom::TlsCertificate` resource: the coordinators' certificate.
    pub const TLS_CERTIFICATE: &str = "TlsCertificate";
    /// The secret a certificate the stack makes is written to.
    pub const MADE_CERTIFICATE_SECRET: &str = "TlsCertificateSecret";
    /// The stack's certificate authority, which only the custom resource reads.
    pub const AUTHORITY_SECRET: &str = "CertificateAuthoritySecret";
    /// The `admin` user's generated password.
    pub const ADMIN_PASSWORD_SECRET: &str = "AdminPasswordSecret";
    /// The secret the nodes share to trust each other's requests.
    pub const SHARED_SECRET: &str = "InternalSharedSecret";
    /// The bucket Trino's fault-tolerant execution spools its exchanges to.
    pub const EXCHANGE_BUCKET: &str = "ExchangeBucket";
    /// The `Custom::ExchangeBucket` resource that empties it when the stack goes. The
    /// launch templates name the bucket through it, so that CloudFormation deletes
    /// the nodes first, then empties the bucket, then deletes it.
    pub const EXCHANGE_BUCKET_CLEANUP: &str = "ExchangeBucketCleanup";
}

/// How often the schedule starts the watcher. Each run probes for about this long.
pub const WATCHER_SCHEDULE: &str = "rate(1 minute)";
/// How long CloudFormation waits for the custom resource's answer before failing it:
/// a minute beyond the Lambda's timeout.
pub const CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS: u32 = CUSTOM_RESOURCE_TIMEOUT_SECONDS + 60;
/// Root volume size of every node.
pub const ROOT_VOLUME_GIB: u32 = 50;
/// Days the Lambdas' logs are kept.
pub const LOG_RETENTION_DAYS: u32 = 365;
/// How long a node may take to install, verify and start its engine before
/// CloudFormation counts it as failed.
pub const NODE_READY_TIMEOUT: &str = "PT20M";
/// How long a launching coordinator may take to serve before the group abandons it:
/// [`NODE_READY_TIMEOUT`] in seconds.
const LAUNCH_HOOK_SECONDS: u32 = 20 * 60;
/// The parameters the coordinators' launch template reads: changing any of them gives
/// the template a new version, and the coordinator group is then replaced whole (a new
/// group beside the old, the record moved to it, then the old removed). Changing any
/// other parameter leaves the running coordinators alone. The README lists them.
pub const COORDINATOR_DEFINING_PARAMETERS: [&str; 21] = [
    param::COORDINATOR_INSTANCE_TYPE,
    param::KEY_NAME,
    param::IMAGE_ID,
    param::ENGINE,
    param::PRESTO_VERSION,
    param::PRESTO_TARBALL_SHA256,
    param::PRESTO_HTTP_PORT,
    param::PRESTO_ENVIRONMENT,
    param::METASTORE_TYPE,
    param::EXTERNAL_METASTORE_HOST,
    param::EXTERNAL_METASTORE_PORT,
    param::FAULT_TOLERANT_EXECUTION,
    param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
    param::BOOTSTRAP_SCRIPT_URI,
    param::HOSTED_ZONE_NAME,
    param::COORDINATOR_RECORD_NAME,
    param::CLIENT_SECURITY,
    param::PRESTO_HTTPS_PORT,
    param::TLS_CERTIFICATE_SECRET_ARN,
    param::USERS_SECRET_ARN,
    param::CREDENTIALS_REVISION,
];

fn r#ref(name: &str) -> Value {
    json!({ "Ref": name })
}

fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

/// `value` where `condition` holds, nothing otherwise.
fn when(condition: &str, value: Value) -> Value {
    json!({ "Fn::If": [condition, value, { "Ref": "AWS::NoValue" }] })
}

/// The port clients reach the coordinators on. With TLS on, that is only the HTTPS
/// port; the HTTP port, on which prestodb does not authenticate, stays among the
/// nodes and the Lambdas.
fn client_port() -> Value {
    json!({ "Fn::If": [
        CLIENT_TLS,
        r#ref(param::PRESTO_HTTPS_PORT),
        r#ref(param::PRESTO_HTTP_PORT),
    ] })
}

fn get_att(resource: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, attribute] })
}

/// `${Name}`: a parameter or attribute inside an `Fn::Sub` text.
pub(crate) fn placeholder(name: &str) -> String {
    format!("${{{name}}}")
}

/// The coordinator record's fully qualified name, as an `Fn::Sub` text.
pub(crate) fn record_fqdn() -> String {
    format!(
        "{}.{}",
        placeholder(param::COORDINATOR_RECORD_NAME),
        placeholder(param::HOSTED_ZONE_NAME)
    )
}

/// Builds the whole template.
pub fn build(settings: &StackSettings) -> Value {
    let table = parameters::table(settings);
    json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Presto cluster whose coordinator survives failures: hot-standby coordinators behind a private DNS record, moved by a watcher Lambda within seconds of a failure.",
        "Metadata": { "AWS::CloudFormation::Interface": parameters::interface(&table) },
        "Parameters": parameters::declarations(&table),
        "Rules": rules(),
        "Mappings": mappings(),
        "Conditions": conditions(),
        "Resources": resources(settings.lambda_architecture),
        "Outputs": outputs(),
    })
}

/// Condition: clients get TLS and passwords.
pub(crate) const CLIENT_TLS: &str = "ClientTls";
/// Condition: the user gave the coordinators' certificate.
const CERTIFICATE_GIVEN: &str = "TlsCertificateGiven";
/// Condition: the user gave more users.
const USERS_GIVEN: &str = "UsersGiven";
/// Condition: the nodes have a key pair.
const KEY_GIVEN: &str = "KeyPairGiven";
/// Condition: port 22 is open to the SSH CIDR.
const SSH_OPEN: &str = "SshOpen";
/// Condition: the nodes may reach the data source CIDR.
const DATA_SOURCE_OPEN: &str = "DataSourceOpen";
/// Condition: the alarms are mailed to an address.
const EMAIL_GIVEN: &str = "NotificationEmailGiven";
/// Condition: there are standbys to count.
const HAS_STANDBYS: &str = "HasStandbys";
/// Condition: the coordinator group keeps a warm pool.
const HAS_WARM_POOL: &str = "HasCoordinatorWarmPool";
/// Condition: some workers run on spot capacity.
const WORKERS_ON_SPOT: &str = "WorkersOnSpot";
/// Mapping: the on-demand share of the workers by their spot share.
const ON_DEMAND_BY_SPOT: &str = "OnDemandPercentBySpotPercent";

/// Condition name: `WorkerOtherInstanceTypes` names at least `count` types.
fn other_worker_types(count: usize) -> String {
    format!("OtherWorkerTypes{count}")
}

/// Condition: the catalogs use the Glue Data Catalog.
const USES_GLUE: &str = "UsesGlueDataCatalog";
/// Condition: Trino spools its exchanges to the stack's bucket.
pub(crate) const FAULT_TOLERANT: &str = "FaultTolerantExecution";
/// Condition: `DataBucketNames` is not empty.
const HAS_DATA_BUCKETS: &str = "HasDataBuckets";
/// Condition: `ConfigurationSecretArns` is not empty.
const HAS_CONFIGURATION_SECRETS: &str = "HasConfigurationSecrets";

/// Condition name: the optional S3 object parameter `name` is set.
fn object_given(name: &str) -> String {
    format!("{name}Given")
}

/// The optional S3 objects a node may read at boot.
const NODE_OBJECTS: [&str; 3] = [
    param::ADDITIONAL_COORDINATOR_CONFIGURATION_URI,
    param::ADDITIONAL_WORKERS_CONFIGURATION_URI,
    param::BOOTSTRAP_SCRIPT_URI,
];
/// Condition: at least one of [`NODE_OBJECTS`] is set.
const HAS_NODE_OBJECTS: &str = "HasNodeObjects";

fn not_empty(value: Value) -> Value {
    json!({ "Fn::Not": [{ "Fn::Equals": [value, ""] }] })
}

/// Whether `FaultTolerantExecution` asks for a retry policy: the condition
/// [`FAULT_TOLERANT`], and the rule that only Trino may (rules cannot name conditions).
fn fault_tolerance_asked() -> Value {
    json!({ "Fn::Not": [{ "Fn::Equals": [r#ref(param::FAULT_TOLERANT_EXECUTION), FaultTolerance::None.as_str()] }] })
}

fn conditions() -> Value {
    let mut conditions = Map::new();
    let mut add = |name: &str, condition: Value| {
        conditions.insert(name.to_owned(), condition);
    };
    add(
        node::IS_TRINO,
        json!({ "Fn::Equals": [r#ref(param::ENGINE), Engine::Trino.as_str()] }),
    );
    add(node::VERSION_GIVEN, not_empty(r#ref(param::PRESTO_VERSION)));
    add(
        CLIENT_TLS,
        json!({ "Fn::Equals": [r#ref(param::CLIENT_SECURITY), ClientSecurity::TlsAndPasswords.as_str()] }),
    );
    add(
        CERTIFICATE_GIVEN,
        not_empty(r#ref(param::TLS_CERTIFICATE_SECRET_ARN)),
    );
    add(USERS_GIVEN, not_empty(r#ref(param::USERS_SECRET_ARN)));
    add(KEY_GIVEN, not_empty(r#ref(param::KEY_NAME)));
    add(SSH_OPEN, not_empty(r#ref(param::SSH_CIDR)));
    add(DATA_SOURCE_OPEN, not_empty(r#ref(param::DATA_SOURCE_CIDR)));
    add(EMAIL_GIVEN, not_empty(r#ref(param::NOTIFICATION_EMAIL)));
    add(
        HAS_STANDBYS,
        json!({ "Fn::Not": [{ "Fn::Equals": [r#ref(param::HA_COORDINATORS_COUNT), 1] }] }),
    );
    add(
        HAS_WARM_POOL,
        json!({ "Fn::Not": [{ "Fn::Equals": [r#ref(param::COORDINATOR_WARM_POOL_SIZE), 0] }] }),
    );
    add(
        WORKERS_ON_SPOT,
        json!({ "Fn::Not": [{ "Fn::Equals": [r#ref(param::WORKER_SPOT_PERCENT), "0"] }] }),
    );
    // Padded with empty items, so that selecting past the types given is "".
    let padded = sub(&format!(
        "${{{}}}{}",
        param::WORKER_OTHER_INSTANCE_TYPES,
        ",".repeat(limits::WORKER_OTHER_INSTANCE_TYPES)
    ));
    for count in 1..=limits::WORKER_OTHER_INSTANCE_TYPES {
        add(
            &other_worker_types(count),
            not_empty(json!({ "Fn::Select": [count - 1, { "Fn::Split": [",", padded] }] })),
        );
    }
    add(
        USES_GLUE,
        json!({ "Fn::Equals": [r#ref(param::METASTORE_TYPE), Metastore::Glue.as_str()] }),
    );
    add(FAULT_TOLERANT, fault_tolerance_asked());
    let list_given = |name: &str| not_empty(json!({ "Fn::Join": ["", r#ref(name)] }));
    add(HAS_DATA_BUCKETS, list_given(param::DATA_BUCKET_NAMES));
    add(
        HAS_CONFIGURATION_SECRETS,
        list_given(param::CONFIGURATION_SECRET_ARNS),
    );
    for name in NODE_OBJECTS {
        add(&object_given(name), not_empty(r#ref(name)));
    }
    add(
        HAS_NODE_OBJECTS,
        json!({ "Fn::Or": NODE_OBJECTS.map(|name| json!({ "Condition": object_given(name) })) }),
    );
    Value::Object(conditions)
}

/// Combinations the console refuses before anything is created.
fn rules() -> Value {
    let no_world = [param::CLIENT_CIDR, param::SSH_CIDR, param::DATA_SOURCE_CIDR].map(|cidr| {
        json!({
            "Assert": { "Fn::Not": [{ "Fn::Equals": [r#ref(cidr), "0.0.0.0/0"] }] },
            "AssertDescription": format!("{cidr}: {WORLD_CIDR_REFUSED}"),
        })
    });
    json!({
        "ExternalMetastoreNeedsHost": {
            "RuleCondition": { "Fn::Equals": [r#ref(param::METASTORE_TYPE), Metastore::External.as_str()] },
            "Assertions": [{
                "Assert": not_empty(r#ref(param::EXTERNAL_METASTORE_HOST)),
                "AssertDescription": format!("MetastoreType '{}' needs {}", Metastore::External.as_str(), param::EXTERNAL_METASTORE_HOST),
            }],
        },
        "ExternalMetastoreNeedsDataSourceCidr": {
            "RuleCondition": { "Fn::Equals": [r#ref(param::METASTORE_TYPE), Metastore::External.as_str()] },
            "Assertions": [{
                "Assert": not_empty(r#ref(param::DATA_SOURCE_CIDR)),
                "AssertDescription": format!("MetastoreType '{}' needs {} holding {}: nothing else but HTTPS leaves the nodes", Metastore::External.as_str(), param::DATA_SOURCE_CIDR, param::EXTERNAL_METASTORE_HOST),
            }],
        },
        "DifferentHttpsPort": {
            "Assertions": [{
                "Assert": { "Fn::Not": [{ "Fn::Equals": [r#ref(param::PRESTO_HTTP_PORT), r#ref(param::PRESTO_HTTPS_PORT)] }] },
                "AssertDescription": format!("{} and {} must differ", param::PRESTO_HTTP_PORT, param::PRESTO_HTTPS_PORT),
            }],
        },
        // The CIDR patterns already refuse every /0; this says why in the console.
        "NothingFacesTheInternet": {
            "Assertions": no_world,
        },
        "SshNeedsKeyPair": {
            "RuleCondition": not_empty(r#ref(param::SSH_CIDR)),
            "Assertions": [{
                "Assert": not_empty(r#ref(param::KEY_NAME)),
                "AssertDescription": format!("{} opens port 22 for SSH with a key pair: set {} too, or leave {} empty and use Session Manager", param::SSH_CIDR, param::KEY_NAME, param::SSH_CIDR),
            }],
        },
        "FaultTolerantExecutionNeedsTrino": {
            "RuleCondition": fault_tolerance_asked(),
            "Assertions": [{
                "Assert": { "Fn::Equals": [r#ref(param::ENGINE), Engine::Trino.as_str()] },
                "AssertDescription": format!("{} needs {} trino: prestodb has no fault-tolerant execution", param::FAULT_TOLERANT_EXECUTION, param::ENGINE),
            }],
        },
        "PinnedTarballNeedsVersion": {
            "RuleCondition": not_empty(r#ref(param::PRESTO_TARBALL_SHA256)),
            "Assertions": [{
                "Assert": not_empty(r#ref(param::PRESTO_VERSION)),
                "AssertDescription": format!("{} pins one release's tarball: set {} to that release", param::PRESTO_TARBALL_SHA256, param::PRESTO_VERSION),
            }],
        },
    })
}

fn resources(architecture: LambdaArchitecture) -> Value {
    let mut resources = Map::new();
    for (id, resource) in network()
        .into_iter()
        .chain(nodes())
        .chain(lambdas(architecture))
        .chain(secrets())
        .chain(monitoring())
        .chain([coordinator_dns(), pinned_image(), tls_certificate()])
        .chain(exchange())
    {
        resources.insert(id.to_owned(), resource);
    }
    Value::Object(resources)
}

/// A role that `service` assumes, with inline `policies`.
fn service_role(service: &str, description: &str, policies: Value) -> Value {
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": description,
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": service },
                    "Action": "sts:AssumeRole",
                }],
            },
            "Policies": policies,
        },
    })
}

/// Guard rules (AWS's registry) a resource deliberately does not meet.
fn guard_suppression(rules: &[(&str, &str)]) -> Value {
    suppressed(&[], rules)
}

/// A resource's `Metadata` naming the checkov checks and the Guard rules it
/// deliberately does not meet, each with the reason: checkov reads `skip`, Guard
/// `SuppressedRules`, and `Reasons` is for the reader.
fn suppressed(checkov: &[(&str, &str)], guard: &[(&str, &str)]) -> Value {
    let mut metadata = Map::new();
    if !checkov.is_empty() {
        let skip: Vec<Value> = checkov
            .iter()
            .map(|(id, comment)| json!({ "id": id, "comment": comment }))
            .collect();
        metadata.insert("checkov".into(), json!({ "skip": skip }));
    }
    if !guard.is_empty() {
        let rules: Vec<&str> = guard.iter().map(|(rule, _)| *rule).collect();
        let reasons: Map<String, Value> = guard
            .iter()
            .map(|(rule, reason)| ((*rule).to_owned(), (*reason).into()))
            .collect();
        metadata.insert(
            "guard".into(),
            json!({ "SuppressedRules": rules, "Reasons": reasons }),
        );
    }
    Value::Object(metadata)
}

/// The alarm threshold of healthy standbys for each coordinator count: one fewer.
const STANDBYS_BY_COUNT: &str = "StandbysByCoordinatorCount";

/// The template's mappings.
fn mappings() -> Value {
    let standbys: Map<String, Value> = limits::COORDINATORS
        .map(|count| (count.to_string(), json!({ "Standbys": count - 1 })))
        .collect();
    let on_demand: Map<String, Value> = settings::spot_percents()
        .map(|spot| (spot.to_string(), json!({ "OnDemand": 100 - spot })))
        .collect();
    json!({ STANDBYS_BY_COUNT: standbys, ON_DEMAND_BY_SPOT: on_demand })
}

#[cfg(test)]
mod tests;
