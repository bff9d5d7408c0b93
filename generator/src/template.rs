//! The CloudFormation template, built as data.
//!
//! The names the Lambdas and the command line read (parameters, outputs, environment
//! variables, custom-resource properties) come from the shared contract; logical ids
//! are the template's own.

use serde_json::{Map, Value, json};

use presto_ha_contract::{
    CUSTOM_RESOURCE_TIMEOUT_SECONDS, RECORD_TTL_SECONDS, WATCHER_TIMEOUT_SECONDS, alarms,
    custom_resource_env, dns_resource, exchange_resource, image_resource, limits, metrics, notes,
    outputs, parameters as param, probe_function, tls_resource, users, watcher_env,
};

use crate::node::{self, Role};
use crate::parameters;
use crate::settings::{
    self, ClientSecurity, Engine, FaultTolerance, LATEST_IMAGE_PARAMETER, LambdaArchitecture,
    Metastore, StackSettings, WORLD_CIDR_REFUSED,
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

/// The private zone and the three security groups. Nothing is open to the world
/// inbound; outbound, the world gets only HTTPS, and the cluster's own port passes
/// only between its groups.
fn network() -> Vec<(&'static str, Value)> {
    let on_port = |port: Value, description: &str, peer: (&str, Value)| {
        let mut rule = json!({
            "Description": description,
            "IpProtocol": "tcp",
            "FromPort": port,
            "ToPort": port,
        });
        rule[peer.0] = peer.1;
        rule
    };
    let presto_port = || r#ref(param::PRESTO_HTTP_PORT);
    let client_port = client_port();
    // Rules between two of the stack's groups are resources of their own: inline,
    // the groups would refer to each other.
    let between = |direction: Direction, group: &str, description: &str, peer: &str| {
        let (kind, peer_key) = match direction {
            Direction::In => ("AWS::EC2::SecurityGroupIngress", "SourceSecurityGroupId"),
            Direction::Out => (
                "AWS::EC2::SecurityGroupEgress",
                "DestinationSecurityGroupId",
            ),
        };
        let mut rule = on_port(
            presto_port(),
            description,
            (peer_key, get_att(peer, "GroupId")),
        );
        rule["GroupId"] = get_att(group, "GroupId");
        json!({ "Type": kind, "Properties": rule })
    };
    // Rules the user opens with a parameter are resources of their own, present
    // under its condition.
    let ssh = |group: &str| {
        let mut rule = on_port(
            22.into(),
            "SSH from the SSH CIDR",
            ("CidrIp", r#ref(param::SSH_CIDR)),
        );
        rule["GroupId"] = get_att(group, "GroupId");
        json!({ "Type": "AWS::EC2::SecurityGroupIngress", "Condition": SSH_OPEN, "Properties": rule })
    };
    let data_sources = |group: &str| {
        json!({
            "Type": "AWS::EC2::SecurityGroupEgress",
            "Condition": DATA_SOURCE_OPEN,
            "Metadata": guard_suppression(&[(
                "SECURITY_GROUP_EGRESS_PORT_RANGE_RULE",
                "Data sources listen on ports the stack cannot know; the user names the network, which may not be /0.",
            )]),
            "Properties": {
                "GroupId": get_att(group, "GroupId"),
                "Description": "Data sources in the data source CIDR, any TCP port",
                "IpProtocol": "tcp",
                "FromPort": 0,
                "ToPort": 65535,
                "CidrIp": r#ref(param::DATA_SOURCE_CIDR),
            },
        })
    };
    let https_out =
        |description: &str| on_port(443.into(), description, ("CidrIp", "0.0.0.0/0".into()));
    let node_egress = json!([https_out(
        "HTTPS: package repositories, the engine's download, S3, Glue, Secrets Manager, Session Manager and other AWS APIs"
    ),]);
    let open_egress = guard_suppression(&[(
        "EC2_SECURITY_GROUP_EGRESS_OPEN_TO_WORLD_RULE",
        "Only HTTPS goes to the world: AWS APIs and the engine's downloads have no fixed addresses and the stack cannot assume VPC endpoints.",
    )]);
    let group = |description: &str, ingress: Option<Value>, egress: Value| {
        let mut group = json!({
            "Type": "AWS::EC2::SecurityGroup",
            "Metadata": open_egress,
            "Properties": {
                "GroupDescription": description,
                "VpcId": r#ref(param::VPC_ID),
                "SecurityGroupEgress": egress,
            },
        });
        if let Some(ingress) = ingress {
            group["Properties"]["SecurityGroupIngress"] = ingress;
        }
        group
    };
    vec![
        (
            ids::HOSTED_ZONE,
            json!({
                "Type": "AWS::Route53::HostedZone",
                "Properties": {
                    "Name": r#ref(param::HOSTED_ZONE_NAME),
                    "HostedZoneConfig": { "Comment": sub("Presto coordinator record of stack ${AWS::StackName}") },
                    "VPCs": [{ "VPCId": r#ref(param::VPC_ID), "VPCRegion": r#ref("AWS::Region") }],
                },
            }),
        ),
        (
            "CoordinatorSecurityGroup",
            group(
                "Presto coordinators: in, HTTPS (HTTP with client security off) from clients, HTTP from workers and the Lambdas, SSH from the SSH CIDR; out, HTTPS, HTTP to workers, the data source CIDR",
                Some(json!([on_port(
                    client_port,
                    "Presto clients from the client CIDR",
                    ("CidrIp", r#ref(param::CLIENT_CIDR))
                )])),
                node_egress.clone(),
            ),
        ),
        ("CoordinatorSsh", ssh("CoordinatorSecurityGroup")),
        (
            "CoordinatorToDataSources",
            data_sources("CoordinatorSecurityGroup"),
        ),
        (
            "CoordinatorFromWorkers",
            between(
                Direction::In,
                "CoordinatorSecurityGroup",
                "Presto from the workers (discovery announcements, results)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "CoordinatorFromLambdas",
            between(
                Direction::In,
                "CoordinatorSecurityGroup",
                "Presto health probes from the watcher and the DNS custom resource",
                "LambdaSecurityGroup",
            ),
        ),
        (
            "CoordinatorFromLambdasOverHttps",
            https_between_lambdas_and_coordinators(Direction::In),
        ),
        (
            "LambdasToCoordinatorsOverHttps",
            https_between_lambdas_and_coordinators(Direction::Out),
        ),
        (
            "CoordinatorToWorkers",
            between(
                Direction::Out,
                "CoordinatorSecurityGroup",
                "Presto to the workers (task scheduling)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "WorkerSecurityGroup",
            group(
                "Presto workers: in, HTTP from the coordinators and other workers, SSH from the SSH CIDR; out, HTTPS, HTTP to coordinators and workers, the data source CIDR",
                None,
                node_egress,
            ),
        ),
        ("WorkerSsh", ssh("WorkerSecurityGroup")),
        ("WorkerToDataSources", data_sources("WorkerSecurityGroup")),
        (
            "WorkerFromCoordinators",
            between(
                Direction::In,
                "WorkerSecurityGroup",
                "Presto from the coordinators (task scheduling)",
                "CoordinatorSecurityGroup",
            ),
        ),
        (
            "WorkerFromWorkers",
            between(
                Direction::In,
                "WorkerSecurityGroup",
                "Presto between workers (exchanges)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "WorkerToCoordinators",
            between(
                Direction::Out,
                "WorkerSecurityGroup",
                "Presto to the coordinators (announcements, results)",
                "CoordinatorSecurityGroup",
            ),
        ),
        (
            "WorkerToWorkers",
            between(
                Direction::Out,
                "WorkerSecurityGroup",
                "Presto between workers (exchanges)",
                "WorkerSecurityGroup",
            ),
        ),
        (
            "LambdaSecurityGroup",
            group(
                "Watcher and DNS custom resource: no inbound; HTTPS to AWS APIs, Presto port to the coordinators",
                None,
                json!([
                    https_out("AWS APIs and the CloudFormation response URL"),
                    on_port(
                        presto_port(),
                        "Presto health probes to the coordinators",
                        (
                            "DestinationSecurityGroupId",
                            get_att("CoordinatorSecurityGroup", "GroupId")
                        )
                    ),
                ]),
            ),
        ),
    ]
}

/// With TLS on, the DNS custom resource counts the queries of the coordinators an
/// update replaces as a client does, over HTTPS: the rule on the coordinators' side
/// (`In`) or the Lambdas' (`Out`).
fn https_between_lambdas_and_coordinators(direction: Direction) -> Value {
    let (kind, group, peer_key, peer) = match direction {
        Direction::In => (
            "AWS::EC2::SecurityGroupIngress",
            "CoordinatorSecurityGroup",
            "SourceSecurityGroupId",
            "LambdaSecurityGroup",
        ),
        Direction::Out => (
            "AWS::EC2::SecurityGroupEgress",
            "LambdaSecurityGroup",
            "DestinationSecurityGroupId",
            "CoordinatorSecurityGroup",
        ),
    };
    json!({
        "Type": kind,
        "Condition": CLIENT_TLS,
        "Properties": {
            "GroupId": get_att(group, "GroupId"),
            "Description": "Presto HTTPS between the DNS custom resource and the coordinators: an update's drain counts the old ones' queries",
            "IpProtocol": "tcp",
            "FromPort": r#ref(param::PRESTO_HTTPS_PORT),
            "ToPort": r#ref(param::PRESTO_HTTPS_PORT),
            peer_key: get_att(peer, "GroupId"),
        },
    })
}

/// Which way a rule between two security groups goes.
#[derive(Clone, Copy)]
enum Direction {
    In,
    Out,
}

fn launch_template(role: Role) -> Value {
    let (instance_type, security_group, group, profile) = match role {
        Role::Coordinator => (
            param::COORDINATOR_INSTANCE_TYPE,
            "CoordinatorSecurityGroup",
            ids::COORDINATOR_GROUP,
            "CoordinatorInstanceProfile",
        ),
        Role::Worker => (
            param::WORKER_INSTANCE_TYPE,
            "WorkerSecurityGroup",
            ids::WORKER_GROUP,
            "WorkerInstanceProfile",
        ),
    };
    json!({
        "Type": "AWS::EC2::LaunchTemplate",
        "Properties": {
            "LaunchTemplateData": {
                "ImageId": get_att(ids::PINNED_IMAGE, image_resource::PINNED_IMAGE_ID),
                "InstanceType": r#ref(instance_type),
                "KeyName": { "Fn::If": [KEY_GIVEN, r#ref(param::KEY_NAME), { "Ref": "AWS::NoValue" }] },
                "IamInstanceProfile": { "Arn": get_att(profile, "Arn") },
                // Only through an interface can a launch template refuse a public
                // address, whatever the subnet's auto-assign setting.
                "NetworkInterfaces": [{
                    "DeviceIndex": 0,
                    "AssociatePublicIpAddress": false,
                    "Groups": [get_att(security_group, "GroupId")],
                    "DeleteOnTermination": true,
                }],
                "MetadataOptions": {
                    "HttpEndpoint": "enabled",
                    "HttpTokens": "required",
                    "HttpPutResponseHopLimit": 1,
                },
                "BlockDeviceMappings": [{
                    "DeviceName": "/dev/xvda",
                    "Ebs": {
                        "VolumeSize": ROOT_VOLUME_GIB,
                        "VolumeType": "gp3",
                        "Encrypted": true,
                        "DeleteOnTermination": true,
                    },
                }],
                "Monitoring": { "Enabled": true },
                "UserData": node::user_data(role, group),
                "TagSpecifications": [{
                    "ResourceType": "volume",
                    "Tags": [{ "Key": "Name", "Value": sub(&format!("${{AWS::StackName}}-{}", role.as_str())) }],
                }],
            },
        },
    })
}

/// The secrets a node of `role` reads at boot: the nodes' shared secret; on a
/// coordinator also its certificate and the users.
fn stack_secrets_policy(role: Role) -> Value {
    let mut secrets = vec![r#ref(ids::SHARED_SECRET)];
    if role == Role::Coordinator {
        secrets.extend([
            get_att(ids::TLS_CERTIFICATE, tls_resource::CERTIFICATE_SECRET),
            r#ref(ids::ADMIN_PASSWORD_SECRET),
            json!({ "Fn::If": [USERS_GIVEN, r#ref(param::USERS_SECRET_ARN), { "Ref": "AWS::NoValue" }] }),
        ]);
    }
    json!({
        "PolicyName": "stack-secrets",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Sid": "StackSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secrets,
            }],
        },
    })
}

/// What a node needs to complete its group's lifecycle hook (a worker's drain, a
/// coordinator's launch): to learn its group and to complete the hook. The group is
/// named by its CloudFormation tags, not its name: the name would make a cycle (the
/// group's launch template names this role's profile), and a pattern of it would
/// break on long stack names.
fn lifecycle_policy(role: Role) -> Value {
    // A worker that cannot serve has no launch to abandon: it marks itself unhealthy.
    let (name, sid, group, actions) = match role {
        Role::Worker => (
            "drain",
            "LeaveWhenDrained",
            ids::WORKER_GROUP,
            json!([
                "autoscaling:CompleteLifecycleAction",
                "autoscaling:SetInstanceHealth"
            ]),
        ),
        Role::Coordinator => (
            "launch",
            "ServeWhenReady",
            ids::COORDINATOR_GROUP,
            json!("autoscaling:CompleteLifecycleAction"),
        ),
    };
    json!({
        "PolicyName": name,
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "FindOwnGroup",
                    "Effect": "Allow",
                    // It supports no resource-level permissions.
                    "Action": "autoscaling:DescribeAutoScalingInstances",
                    "Resource": "*",
                },
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": sub("arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/*"),
                    "Condition": { "StringEquals": {
                        "autoscaling:ResourceTag/aws:cloudformation:stack-id": r#ref("AWS::StackId"),
                        "autoscaling:ResourceTag/aws:cloudformation:logical-id": group,
                    } },
                },
            ],
        },
    })
}

/// The instance role of the nodes of `role`.
fn node_role(role: Role) -> Value {
    let description = match role {
        Role::Coordinator => {
            "Presto coordinators: their certificate, the users, the nodes' shared secret, and the Glue catalog, data buckets, configuration objects and secrets the stack names."
        }
        Role::Worker => {
            "Presto workers: the nodes' shared secret, and the Glue catalog, data buckets, configuration objects and secrets the stack names; leaving their group once drained."
        }
    };
    let policies = vec![
        node_policy(),
        stack_secrets_policy(role),
        lifecycle_policy(role),
    ];
    let mut role = service_role("ec2.amazonaws.com", description, json!(policies));
    // Session Manager: a shell on any node without a key or an open port.
    role["Properties"]["ManagedPolicyArns"] = json!([sub(
        "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
    )]);
    role["Metadata"] = guard_suppression(&[
        INLINE_POLICIES,
        (
            "IAM_POLICYDOCUMENT_NO_WILDCARD_RESOURCE",
            "Only DescribeAutoScalingInstances, which supports no resource-level permissions, has Resource * (a node finds its group with it to complete the group's lifecycle hook).",
        ),
    ]);
    role
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

/// The nodes' own permissions: what the stack's catalogs and extra configuration
/// need, each statement present only when its parameter asks for it. The first
/// statement is always there: nodes never call AWS without TLS.
fn node_policy() -> Value {
    let partition_arn =
        |service_and_rest: &str| sub(&format!("arn:${{AWS::Partition}}:{service_and_rest}"));
    // IAM matches any partition for `*`; an `Fn::Join` delimiter cannot hold
    // `${AWS::Partition}`, and a list parameter can only be turned into ARNs by one.
    let bucket_arns = |suffix: &str| {
        json!({ "Fn::Split": [",", { "Fn::Join": ["", [
            "arn:*:s3:::",
            { "Fn::Join": [format!("{suffix},arn:*:s3:::"), r#ref(param::DATA_BUCKET_NAMES)] },
            suffix,
        ]] }] })
    };
    let object_arn = |name: &str| {
        json!({ "Fn::If": [
            object_given(name),
            { "Fn::Join": ["", [
                partition_arn("s3:::"),
                { "Fn::Select": [1, { "Fn::Split": ["s3://", r#ref(name)] }] },
            ]] },
            { "Ref": "AWS::NoValue" },
        ] })
    };
    json!({
        "PolicyName": "catalogs-and-configuration",
        "PolicyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "OnlyOverTls",
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": { "Bool": { "aws:SecureTransport": "false" } },
                },
                when(USES_GLUE, json!({
                    "Sid": "GlueDataCatalog",
                    "Effect": "Allow",
                    "Action": [
                        "glue:GetCatalogImportStatus", "glue:GetDatabase", "glue:GetDatabases",
                        "glue:CreateDatabase", "glue:UpdateDatabase", "glue:DeleteDatabase",
                        "glue:GetTable", "glue:GetTables", "glue:GetTableVersions",
                        "glue:CreateTable", "glue:UpdateTable", "glue:DeleteTable",
                        "glue:GetPartition", "glue:GetPartitions", "glue:BatchGetPartition",
                        "glue:CreatePartition", "glue:BatchCreatePartition", "glue:UpdatePartition",
                        "glue:BatchUpdatePartition", "glue:DeletePartition", "glue:BatchDeletePartition",
                        "glue:GetColumnStatisticsForTable", "glue:UpdateColumnStatisticsForTable",
                        "glue:DeleteColumnStatisticsForTable", "glue:GetColumnStatisticsForPartition",
                        "glue:UpdateColumnStatisticsForPartition", "glue:DeleteColumnStatisticsForPartition",
                    ],
                    "Resource": [
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:catalog"),
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:database/*"),
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:table/*/*"),
                        // Dropping a database drops its functions.
                        partition_arn("glue:${AWS::Region}:${AWS::AccountId}:userDefinedFunction/*/*"),
                    ],
                })),
                when(HAS_DATA_BUCKETS, json!({
                    "Sid": "DataBuckets",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                    "Resource": bucket_arns(""),
                })),
                when(HAS_DATA_BUCKETS, json!({
                    "Sid": "DataObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    "Resource": bucket_arns("/*"),
                })),
                when(HAS_NODE_OBJECTS, json!({
                    "Sid": "ConfigurationObjects",
                    "Effect": "Allow",
                    "Action": "s3:GetObject",
                    "Resource": NODE_OBJECTS.map(object_arn),
                })),
                when(HAS_CONFIGURATION_SECRETS, json!({
                    "Sid": "ConfigurationSecrets",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": r#ref(param::CONFIGURATION_SECRET_ARNS),
                })),
                when(FAULT_TOLERANT, json!({
                    "Sid": "ExchangeBucket",
                    "Effect": "Allow",
                    "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                    "Resource": get_att(ids::EXCHANGE_BUCKET, "Arn"),
                })),
                when(FAULT_TOLERANT, json!({
                    "Sid": "ExchangeObjects",
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                    "Resource": exchange_objects(),
                })),
            ],
        },
    })
}

fn group_tags(role: &str) -> Value {
    json!([
        { "Key": "Name", "Value": sub(&format!("${{AWS::StackName}}-{role}")), "PropagateAtLaunch": true },
        { "Key": "presto-ha:role", "Value": role, "PropagateAtLaunch": true },
    ])
}

/// Launch templates, Auto Scaling groups and the instance role of the Presto nodes.
fn nodes() -> Vec<(&'static str, Value)> {
    let launch_template_ref = |id: &str| {
        json!({
            "LaunchTemplateId": r#ref(id),
            "Version": get_att(id, "LatestVersionNumber"),
        })
    };
    vec![
        ("CoordinatorRole", node_role(Role::Coordinator)),
        (
            "CoordinatorInstanceProfile",
            json!({
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": { "Roles": [r#ref("CoordinatorRole")] },
            }),
        ),
        ("WorkerRole", node_role(Role::Worker)),
        (
            "WorkerInstanceProfile",
            json!({
                "Type": "AWS::IAM::InstanceProfile",
                "Properties": { "Roles": [r#ref("WorkerRole")] },
            }),
        ),
        (
            "CoordinatorLaunchTemplate",
            launch_template(Role::Coordinator),
        ),
        (
            ids::COORDINATOR_GROUP,
            json!({
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                // Creation waits until every coordinator's Presto is serving.
                "CreationPolicy": {
                    "ResourceSignal": {
                        "Count": r#ref(param::HA_COORDINATORS_COUNT),
                        "Timeout": NODE_READY_TIMEOUT,
                    },
                },
                // A change to the coordinators builds a whole new group next to the
                // old one; the custom resource then moves the record to it, and only
                // then is the old group removed.
                "UpdatePolicy": {
                    "AutoScalingReplacingUpdate": { "WillReplace": true },
                },
                "Properties": {
                    // A coordinator stays in Pending:Wait until its engine serves, at
                    // its first boot and at every start from the warm pool; one that
                    // never does is abandoned, and the group launches another.
                    "LifecycleHookSpecificationList": [{
                        "LifecycleHookName": node::LAUNCH_HOOK,
                        "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                        "HeartbeatTimeout": LAUNCH_HOOK_SECONDS,
                        "DefaultResult": "ABANDON",
                    }],
                    "LaunchTemplate": launch_template_ref("CoordinatorLaunchTemplate"),
                    "MinSize": r#ref(param::HA_COORDINATORS_COUNT),
                    "MaxSize": r#ref(param::HA_COORDINATORS_COUNT),
                    "DesiredCapacity": r#ref(param::HA_COORDINATORS_COUNT),
                    "VPCZoneIdentifier": r#ref(param::COORDINATOR_SUBNET_IDS),
                    "HealthCheckType": "EC2",
                    "Tags": group_tags("coordinator"),
                },
            }),
        ),
        (
            "CoordinatorWarmPool",
            json!({
                "Type": "AWS::AutoScaling::WarmPool",
                "Condition": HAS_WARM_POOL,
                // Stopped instances that ran their whole boot: a replacement starts
                // from one, its engine starting from its enabled service. The pool
                // belongs to the group: a change to the coordinators replaces both,
                // so no prepared instance outlives the template that made it.
                "Properties": {
                    "AutoScalingGroupName": r#ref(ids::COORDINATOR_GROUP),
                    "MinSize": r#ref(param::COORDINATOR_WARM_POOL_SIZE),
                    "PoolState": "Stopped",
                    "InstanceReusePolicy": { "ReuseOnScaleIn": false },
                },
            }),
        ),
        ("WorkerLaunchTemplate", launch_template(Role::Worker)),
        (
            "WorkerScaling",
            json!({
                "Type": "AWS::AutoScaling::ScalingPolicy",
                "Properties": {
                    "AutoScalingGroupName": r#ref(ids::WORKER_GROUP),
                    "PolicyType": "TargetTrackingScaling",
                    "TargetTrackingConfiguration": {
                        "PredefinedMetricSpecification": { "PredefinedMetricType": "ASGAverageCPUUtilization" },
                        "TargetValue": r#ref(param::WORKERS_TARGET_CPU_PERCENT),
                    },
                },
            }),
        ),
        (
            ids::WORKER_GROUP,
            json!({
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                // Creation waits until every worker's engine is serving.
                "CreationPolicy": {
                    "ResourceSignal": {
                        "Count": r#ref(param::WORKERS_COUNT),
                        "Timeout": NODE_READY_TIMEOUT,
                    },
                },
                // A new worker launch template (another engine, version, catalog,
                // instance type or image) replaces the workers one at a time, each new
                // one first and serving before an old one goes, so that the count in
                // service never drops below WorkersCount; a new worker that fails its
                // boot rolls the update back.
                "UpdatePolicy": {
                    "AutoScalingRollingUpdate": {
                        "MaxBatchSize": 1,
                        "MinInstancesInService": r#ref(param::WORKERS_COUNT),
                        "WaitOnResourceSignals": true,
                        "PauseTime": NODE_READY_TIMEOUT,
                    },
                },
                "Properties": {
                    // A removed worker drains first: it stops taking tasks, finishes
                    // its running ones (at most WorkerDrainSeconds), then completes
                    // the hook; if it never does, the removal goes on anyway.
                    "LifecycleHookSpecificationList": [{
                        "LifecycleHookName": node::DRAIN_HOOK,
                        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
                        "HeartbeatTimeout": r#ref(param::WORKER_DRAIN_SECONDS),
                        "DefaultResult": "CONTINUE",
                    }],
                    "MixedInstancesPolicy": worker_instances(launch_template_ref("WorkerLaunchTemplate")),
                    // A spot worker at risk of interruption is replaced early, and
                    // the old one leaves through the drain like any removed worker.
                    "CapacityRebalance": { "Fn::If": [WORKERS_ON_SPOT, true, false] },
                    // No DesiredCapacity: the scaling policy owns it, and an update
                    // would reset it. The group starts at its minimum.
                    "MinSize": r#ref(param::WORKERS_COUNT),
                    "MaxSize": r#ref(param::WORKERS_MAX_COUNT),
                    "VPCZoneIdentifier": r#ref(param::WORKER_SUBNET_IDS),
                    "HealthCheckType": "EC2",
                    "Tags": group_tags("worker"),
                },
            }),
        ),
    ]
}

/// Statements both Lambdas need: read the coordinators; read the stack's zone and
/// change in it only the coordinator record and its notes, of the types and by the
/// actions `actions` (what the Lambda's code sends).
/// Listing the coordinator group's members and their addresses.
fn read_coordinators_statement() -> Value {
    json!({
        "Sid": "ReadCoordinators",
        "Effect": "Allow",
        // These describe calls support no resource-level scoping.
        "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"],
        "Resource": "*",
    })
}

fn coordinator_dns_statements(actions: &[&str]) -> Vec<Value> {
    let record = record_fqdn();
    let names: Vec<Value> = [
        record.clone(),
        format!("{}.{record}", notes::MEMORY_PREFIX),
        format!("{}.{record}", notes::LAST_FAILOVER_PREFIX),
    ]
    .into_iter()
    .chain(limits::COORDINATORS.map(|slot| notes::member_name(slot, &record)))
    .map(|name| sub(&name))
    .collect();
    let zone = sub("arn:${AWS::Partition}:route53:::hostedzone/${HostedZone}");
    vec![
        read_coordinators_statement(),
        json!({
            "Sid": "ReadTheZone",
            "Effect": "Allow",
            "Action": "route53:ListResourceRecordSets",
            "Resource": zone,
        }),
        json!({
            "Sid": "CoordinatorRecordAndNotes",
            "Effect": "Allow",
            "Action": "route53:ChangeResourceRecordSets",
            "Resource": zone,
            "Condition": { "ForAllValues:StringEquals": {
                "route53:ChangeResourceRecordSetsNormalizedRecordNames": names,
                "route53:ChangeResourceRecordSetsRecordTypes": ["A", "TXT"],
                "route53:ChangeResourceRecordSetsActions": actions,
            } },
        }),
    ]
}

/// Moving the protection from scale-in to the active coordinator.
fn protect_statement() -> Value {
    json!({
        "Sid": "ProtectActiveCoordinator",
        "Effect": "Allow",
        "Action": "autoscaling:SetInstanceProtection",
        "Resource": coordinator_group_arn(),
    })
}

/// The coordinator group's ARN; its UUID part cannot be known, hence the `*`.
fn coordinator_group_arn() -> Value {
    sub(&format!(
        "arn:${{AWS::Partition}}:autoscaling:${{AWS::Region}}:${{AWS::AccountId}}:autoScalingGroup:*:autoScalingGroupName/{}",
        placeholder(ids::COORDINATOR_GROUP)
    ))
}

/// The role of a Lambda that logs to `log_group`: `statements`, and what every one
/// of them needs: its own log group, the network interfaces of a function in a VPC,
/// and the queue of failed invocations.
fn lambda_role(description: &str, log_group: &str, mut statements: Vec<Value>) -> Value {
    let ec2_arn = |kind: &str| {
        sub(&format!(
            "arn:${{AWS::Partition}}:ec2:${{AWS::Region}}:${{AWS::AccountId}}:{kind}/*"
        ))
    };
    statements.extend([
        json!({
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": get_att(log_group, "Arn"),
        }),
        json!({
            "Sid": "DescribeVpcNetwork",
            "Effect": "Allow",
            // Describe calls support no resource-level scoping.
            "Action": ["ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets"],
            "Resource": "*",
        }),
        // Every interface, subnet and group of the account and region: Lambda
        // checks these permissions when it creates the function, before the
        // interfaces it will make have ids.
        json!({
            "Sid": "CreateVpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": "ec2:CreateNetworkInterface",
            "Resource": [ec2_arn("network-interface"), ec2_arn("subnet"), ec2_arn("security-group")],
        }),
        json!({
            "Sid": "ManageVpcNetworkInterfaces",
            "Effect": "Allow",
            "Action": [
                "ec2:DeleteNetworkInterface",
                "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses",
            ],
            "Resource": ec2_arn("network-interface"),
        }),
        json!({
            "Sid": "RecordFailedInvocations",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": get_att(FAILED_INVOCATIONS_QUEUE, "Arn"),
        }),
    ]);
    let mut role = service_role(
        "lambda.amazonaws.com",
        description,
        json!([{
            "PolicyName": "coordinator-record",
            "PolicyDocument": { "Version": "2012-10-17", "Statement": statements },
        }]),
    );
    role["Metadata"] = guard_suppression(&[
        INLINE_POLICIES,
        (
            "IAM_POLICYDOCUMENT_NO_WILDCARD_RESOURCE",
            "Only the describe calls, which support no resource-level permissions, have Resource *.",
        ),
    ]);
    role
}

fn log_group() -> Value {
    const UNENCRYPTED: &str = "Logs hold instance ids, private IPs and probe results, no secrets; CloudWatch Logs encrypts them at rest with its own key.";
    json!({
        "Type": "AWS::Logs::LogGroup",
        "Metadata": suppressed(
            &[("CKV_AWS_158", UNENCRYPTED)],
            &[("CLOUDWATCH_LOG_GROUP_ENCRYPTED", UNENCRYPTED)],
        ),
        "Properties": { "RetentionInDays": LOG_RETENTION_DAYS },
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

/// Why the stack's roles carry inline policies.
const INLINE_POLICIES: (&str, &str) = (
    "IAM_NO_INLINE_POLICY_CHECK",
    "Each policy belongs to one role of this stack and goes with it; a managed policy could be attached to other principals.",
);

/// Why the Lambdas have no dead-letter queue.
const ON_FAILURE_DESTINATION: &str = "Failed asynchronous invocations go to the FailedInvocations queue through the function's EventInvokeConfig on-failure destination, which records the error with the event.";

const LAMBDA_SKIPS: [(&str, &str); 2] = [
    ("CKV_AWS_116", ON_FAILURE_DESTINATION),
    (
        "CKV_AWS_173",
        "The environment holds only resource names and timings, no secrets.",
    ),
];

/// How many runs of a function may overlap.
enum Concurrency {
    /// At most this many, reserved from the account's capacity.
    Reserved(u32),
    /// As many as the account allows, for the reason given.
    Unreserved(&'static str),
}

fn function(
    architecture: LambdaArchitecture,
    description: &str,
    code_key: &str,
    role: &str,
    log_group: &str,
    timeout: u32,
    concurrency: Concurrency,
) -> Value {
    let mut skips = LAMBDA_SKIPS.to_vec();
    let mut guard = vec![("LAMBDA_DLQ_CHECK", ON_FAILURE_DESTINATION)];
    if let Concurrency::Unreserved(why) = concurrency {
        skips.push(("CKV_AWS_115", why));
        guard.push(("LAMBDA_CONCURRENCY_CHECK", why));
    }
    let mut function = json!({
        "Type": "AWS::Lambda::Function",
        "Metadata": suppressed(&skips, &guard),
        "Properties": {
            "Description": description,
            "Runtime": "provided.al2023",
            "Handler": "bootstrap",
            "Architectures": [architecture.as_str()],
            "MemorySize": 128,
            "Timeout": timeout,
            "Code": { "S3Bucket": r#ref(param::LAMBDA_CODE_BUCKET), "S3Key": r#ref(code_key) },
            "Role": get_att(role, "Arn"),
            "VpcConfig": {
                "SubnetIds": r#ref(param::COORDINATOR_SUBNET_IDS),
                "SecurityGroupIds": [get_att("LambdaSecurityGroup", "GroupId")],
            },
            "LoggingConfig": { "LogGroup": r#ref(log_group), "LogFormat": "JSON" },
        },
    });
    if let Concurrency::Reserved(reserved) = concurrency {
        function["Properties"]["ReservedConcurrentExecutions"] = reserved.into();
    }
    function
}

/// The topic every alarm notifies, its key, and the dashboard.
const ALARM_TOPIC: &str = "AlarmTopic";
const ALARM_KEY: &str = "AlarmTopicKey";
const DASHBOARD: &str = "Dashboard";

/// Why the custom resource reserves no concurrency.
const UNRESERVED: &str = "Runs only during stack operations; reserving concurrency for it would take capacity from the account for nothing.";

/// Why the probe function reserves no concurrency.
const PROBES_UNRESERVED: &str = "Runs only when an operator asks; a reserved limit would throttle two operators at once, and reserving capacity for it would take it from the account for nothing.";

/// Seconds the probe function may take: reading the group and one probe.
const PROBE_FUNCTION_TIMEOUT_SECONDS: u32 = 30;

/// Why the queue of failed invocations has no KMS key.
const SQS_MANAGED_KEYS: &str = "Encrypted with SQS-managed keys (SqsManagedSseEnabled), which need no key policy for Lambda to send; the messages hold events, no secrets.";

/// Where failed asynchronous invocations of both Lambdas are kept, 14 days.
const FAILED_INVOCATIONS_QUEUE: &str = "FailedInvocations";

/// The asynchronous invocations of `function`: at most `limits` (retries, age in
/// seconds) when given, Lambda's defaults otherwise, and every failure recorded.
fn invoke_config(function: &str, limits: Option<(u32, u32)>) -> Value {
    let mut properties = json!({
        "FunctionName": r#ref(function),
        "Qualifier": "$LATEST",
        "DestinationConfig": { "OnFailure": { "Destination": get_att(FAILED_INVOCATIONS_QUEUE, "Arn") } },
    });
    if let Some((retries, age)) = limits {
        properties["MaximumRetryAttempts"] = retries.into();
        properties["MaximumEventAgeInSeconds"] = age.into();
    }
    json!({ "Type": "AWS::Lambda::EventInvokeConfig", "Properties": properties })
}

/// The two Lambdas, their roles and logs, and what starts the watcher.
fn lambdas(architecture: LambdaArchitecture) -> Vec<(&'static str, Value)> {
    let mut dns_statements = coordinator_dns_statements(&["CREATE", "DELETE"]);
    dns_statements.extend([
        json!({
            "Sid": "ChangeStatus",
            "Effect": "Allow",
            "Action": "route53:GetChange",
            "Resource": sub("arn:${AWS::Partition}:route53:::change/*"),
        }),
        json!({
            "Sid": "ReadTheLatestImage",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            // AWS's public parameters have no account in their ARNs; `*` matches
            // that, and only AWS may create parameters under /aws.
            "Resource": sub(&format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:*:parameter{LATEST_IMAGE_PARAMETER}"
            )),
        }),
        json!({
            "Sid": "StackCertificate",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue"],
            "Resource": [r#ref(ids::AUTHORITY_SECRET), r#ref(ids::MADE_CERTIFICATE_SECRET)],
        }),
        when(
            CLIENT_TLS,
            json!({
                "Sid": "CountTheOldCoordinatorsQueries",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": r#ref(ids::ADMIN_PASSWORD_SECRET),
            }),
        ),
        when(
            CERTIFICATE_GIVEN,
            json!({
                "Sid": "CheckTheGivenCertificate",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": r#ref(param::TLS_CERTIFICATE_SECRET_ARN),
            }),
        ),
        when(
            FAULT_TOLERANT,
            json!({
                "Sid": "EmptyTheExchangeBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": get_att(ids::EXCHANGE_BUCKET, "Arn"),
            }),
        ),
        when(
            FAULT_TOLERANT,
            json!({
                "Sid": "EmptyTheExchangeBucketObjects",
                "Effect": "Allow",
                "Action": ["s3:DeleteObject", "s3:AbortMultipartUpload"],
                "Resource": exchange_objects(),
            }),
        ),
        json!({
            "Sid": "KnowWhetherTheStackIsBeingDeleted",
            "Effect": "Allow",
            "Action": "cloudformation:DescribeStacks",
            "Resource": r#ref("AWS::StackId"),
        }),
    ]);
    let mut watcher_statements = coordinator_dns_statements(&["CREATE", "DELETE", "UPSERT"]);
    watcher_statements.push(protect_statement());
    watcher_statements.push(json!({
        "Sid": "ReplaceFailedCoordinator",
        "Effect": "Allow",
        "Action": "autoscaling:TerminateInstanceInAutoScalingGroup",
        "Resource": coordinator_group_arn(),
    }));
    let watcher_environment = json!({
        watcher_env::HOSTED_ZONE_ID: r#ref(ids::HOSTED_ZONE),
        watcher_env::RECORD_NAME: sub(&record_fqdn()),
        watcher_env::RECORD_TTL: RECORD_TTL_SECONDS.to_string(),
        watcher_env::COORDINATOR_GROUP: r#ref(ids::COORDINATOR_GROUP),
        watcher_env::PRESTO_PORT: r#ref(param::PRESTO_HTTP_PORT),
        watcher_env::PROBE_INTERVAL_SECONDS: r#ref(param::PROBE_INTERVAL_SECONDS),
        watcher_env::PROBE_TIMEOUT_SECONDS: r#ref(param::PROBE_TIMEOUT_SECONDS),
        watcher_env::GRACE_SECONDS: r#ref(param::FAILOVER_GRACE_SECONDS),
        watcher_env::REFUSED_SECONDS: r#ref(param::FAILOVER_REFUSED_SECONDS),
    });
    let mut watcher = function(
        architecture,
        "Probes the Presto coordinators and moves the coordinator record to a healthy standby when the active one fails.",
        param::WATCHER_CODE_KEY,
        "WatcherRole",
        "WatcherLogGroup",
        WATCHER_TIMEOUT_SECONDS,
        // One watcher at a time; compare-and-swap keeps two safe anyway.
        Concurrency::Reserved(1),
    );
    watcher["Properties"]["Environment"] = json!({ "Variables": watcher_environment });
    let watcher_arn = get_att(ids::WATCHER_FUNCTION, "Arn");
    let invoke_permission = |rule: &str| {
        json!({
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": watcher_arn,
                "Principal": "events.amazonaws.com",
                "SourceArn": get_att(rule, "Arn"),
            },
        })
    };
    // The watcher starts only once the record exists, so it never races the
    // custom resource for the first write.
    let rule = |description: &str, trigger: (&str, Value)| {
        let mut properties = json!({
            "Description": description,
            "State": "ENABLED",
            "Targets": [{ "Id": "watcher", "Arn": watcher_arn }],
        });
        properties[trigger.0] = trigger.1;
        json!({
            "Type": "AWS::Events::Rule",
            "DependsOn": ids::COORDINATOR_DNS,
            "Properties": properties,
        })
    };
    let mut custom_resource = function(
        architecture,
        "Seeds, keeps and removes the coordinator DNS record (Custom::CoordinatorDns), pins the nodes' image (Custom::PinnedImage) and makes or checks the coordinators' certificate (Custom::TlsCertificate) for CloudFormation.",
        param::CUSTOM_RESOURCE_CODE_KEY,
        "CoordinatorDnsRole",
        "CoordinatorDnsLogGroup",
        CUSTOM_RESOURCE_TIMEOUT_SECONDS,
        Concurrency::Unreserved(UNRESERVED),
    );
    let mut probe = function(
        architecture,
        "Probes the Presto coordinators from inside the VPC for presto-ha status and switchover run outside it; changes nothing.",
        param::WATCHER_CODE_KEY,
        "ProbeRole",
        "ProbeLogGroup",
        PROBE_FUNCTION_TIMEOUT_SECONDS,
        Concurrency::Unreserved(PROBES_UNRESERVED),
    );
    probe["Properties"]["Environment"] = json!({ "Variables": {
        probe_function::ONLY_PROBES: "true",
        watcher_env::COORDINATOR_GROUP: r#ref(ids::COORDINATOR_GROUP),
        watcher_env::PRESTO_PORT: r#ref(param::PRESTO_HTTP_PORT),
        watcher_env::PROBE_TIMEOUT_SECONDS: r#ref(param::PROBE_TIMEOUT_SECONDS),
    } });
    // Whom it answers: events of this stack only, answered on AWS's own hosts.
    custom_resource["Properties"]["Environment"] = json!({ "Variables": {
        custom_resource_env::STACK_ID: r#ref("AWS::StackId"),
        custom_resource_env::RESPONSE_DOMAIN: r#ref("AWS::URLSuffix"),
    } });
    vec![
        (
            "CoordinatorDnsRole",
            lambda_role(
                "Custom resources: read the coordinators, write the coordinator record (and when the stack is deleted, stop the watcher); pin the image; make or check the coordinators' certificate.",
                "CoordinatorDnsLogGroup",
                dns_statements,
            ),
        ),
        ("CoordinatorDnsLogGroup", log_group()),
        (
            ids::GROUP_AND_WATCHER_POLICY,
            json!({
                "Type": "AWS::IAM::Policy",
                "Metadata": guard_suppression(&[INLINE_POLICIES]),
                "Properties": {
                    "PolicyName": "coordinator-group-and-watcher",
                    "Roles": [r#ref("CoordinatorDnsRole")],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            protect_statement(),
                            {
                                "Sid": "StopTheWatcherWhenTheStackIsDeleted",
                                "Effect": "Allow",
                                "Action": "lambda:PutFunctionConcurrency",
                                "Resource": get_att(ids::WATCHER_FUNCTION, "Arn"),
                            },
                        ],
                    },
                },
            }),
        ),
        (ids::CUSTOM_RESOURCE_FUNCTION, custom_resource),
        (
            "CoordinatorDnsInvokeConfig",
            invoke_config(ids::CUSTOM_RESOURCE_FUNCTION, None),
        ),
        (
            "WatcherRole",
            lambda_role(
                "Coordinator watcher: probe the coordinators, replace a failed one, move the record.",
                "WatcherLogGroup",
                watcher_statements,
            ),
        ),
        ("WatcherLogGroup", log_group()),
        (ids::WATCHER_FUNCTION, watcher),
        (
            "ProbeRole",
            lambda_role(
                "Coordinator probe for the command line: read the coordinator group, probe its members.",
                "ProbeLogGroup",
                vec![read_coordinators_statement()],
            ),
        ),
        ("ProbeLogGroup", log_group()),
        (ids::PROBE_FUNCTION, probe),
        // Its callers wait for the answer; an asynchronous request has no one to
        // answer, so it is not retried.
        (
            "ProbeInvokeConfig",
            invoke_config(ids::PROBE_FUNCTION, Some((0, 60))),
        ),
        // A watcher event older than a minute has been overtaken by the next
        // scheduled run; retrying it would only queue stale work.
        (
            "WatcherInvokeConfig",
            invoke_config(ids::WATCHER_FUNCTION, Some((0, 60))),
        ),
        (
            FAILED_INVOCATIONS_QUEUE,
            json!({
                "Type": "AWS::SQS::Queue",
                "Metadata": suppressed(
                    &[("CKV_AWS_27", SQS_MANAGED_KEYS)],
                    &[("SQS_QUEUE_KMS_MASTER_KEY_ID_RULE", SQS_MANAGED_KEYS)],
                ),
                "Properties": {
                    "SqsManagedSseEnabled": true,
                    "MessageRetentionPeriod": 14 * 24 * 3600,
                },
            }),
        ),
        (
            "WatcherSchedule",
            rule(
                "Starts the coordinator watcher every minute; each run probes for a minute.",
                ("ScheduleExpression", WATCHER_SCHEDULE.into()),
            ),
        ),
        (
            "WatcherSchedulePermission",
            invoke_permission("WatcherSchedule"),
        ),
        (
            "WatcherInstanceStateRule",
            rule(
                "Starts the coordinator watcher at once when an instance stops or terminates.",
                (
                    "EventPattern",
                    json!({
                        "source": ["aws.ec2"],
                        "detail-type": ["EC2 Instance State-change Notification"],
                        "detail": { "state": ["stopping", "stopped", "shutting-down", "terminated"] },
                    }),
                ),
            ),
        ),
        (
            "WatcherInstanceStatePermission",
            invoke_permission("WatcherInstanceStateRule"),
        ),
    ]
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

/// How the worker group mixes instances: on demand on `WorkerInstanceType` first,
/// the spot share in whichever of the types' pools is least likely to be
/// interrupted.
fn worker_instances(launch_template: Value) -> Value {
    let ty = |value: Value| json!({ "InstanceType": value });
    let other = |index: usize| json!({ "Fn::Select": [index, { "Fn::Split": [",", r#ref(param::WORKER_OTHER_INSTANCE_TYPES)] }] });
    let primary = ty(r#ref(param::WORKER_INSTANCE_TYPE));
    // One list for each number of other types given, the longest first.
    let mut overrides = json!([primary.clone()]);
    for count in 1..=limits::WORKER_OTHER_INSTANCE_TYPES {
        let mut longer = vec![primary.clone()];
        longer.extend((0..count).map(|i| ty(other(i))));
        overrides = json!({ "Fn::If": [other_worker_types(count), longer, overrides] });
    }
    json!({
        "InstancesDistribution": {
            "OnDemandAllocationStrategy": "prioritized",
            "OnDemandBaseCapacity": 0,
            "OnDemandPercentageAboveBaseCapacity": {
                "Fn::FindInMap": [ON_DEMAND_BY_SPOT, r#ref(param::WORKER_SPOT_PERCENT), "OnDemand"],
            },
            "SpotAllocationStrategy": "capacity-optimized",
        },
        "LaunchTemplate": {
            "LaunchTemplateSpecification": launch_template,
            "Overrides": overrides,
        },
    })
}

/// An alarm on one metric that notifies the alarm topic when it fires and when it
/// clears.
struct Alarm<'a> {
    /// Which of the contract's alarms.
    name: &'a str,
    description: &'a str,
    /// Namespace, name and dimensions.
    metric: (&'a str, &'a str, &'a Value),
    statistic: &'a str,
    period: u32,
    periods: u32,
    /// Comparison operator and threshold.
    breaches: (&'a str, Value),
    missing_data: &'a str,
}

impl Alarm<'_> {
    fn resource(self) -> Value {
        json!({
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmName": sub(&alarms::name("${AWS::StackName}", self.name)),
                "AlarmDescription": self.description,
                "Namespace": self.metric.0,
                "MetricName": self.metric.1,
                "Dimensions": self.metric.2,
                "Statistic": self.statistic,
                "Period": self.period,
                "EvaluationPeriods": self.periods,
                "ComparisonOperator": self.breaches.0,
                "Threshold": self.breaches.1,
                "TreatMissingData": self.missing_data,
                "AlarmActions": [r#ref(ALARM_TOPIC)],
                "OKActions": [r#ref(ALARM_TOPIC)],
            },
        })
    }
}

/// The alarm topic and its key, the alarms, and the dashboard. Each alarm's
/// description says what happened and what to do.
fn monitoring() -> Vec<(&'static str, Value)> {
    let group = json!([{ "Name": metrics::DIMENSION, "Value": r#ref(ids::COORDINATOR_GROUP) }]);
    let watcher = json!([{ "Name": "FunctionName", "Value": r#ref(ids::WATCHER_FUNCTION) }]);
    let mut standbys = Alarm {
        name: alarms::STANDBYS,
        description: "Fewer healthy standby coordinators than HACoordinatorsCount - 1 for 3 minutes: the next failure will wait for a new coordinator to boot (minutes), or find none. Look at the coordinator group's activity (a launch failing?) and the watcher's log.",
        metric: (metrics::NAMESPACE, metrics::HEALTHY_STANDBYS, &group),
        statistic: "Minimum",
        period: 60,
        periods: 3,
        breaches: ("LessThanThreshold", json!({ "Fn::FindInMap": [STANDBYS_BY_COUNT, r#ref(param::HA_COORDINATORS_COUNT), "Standbys"] })),
        missing_data: "missing",
    }
    .resource();
    standbys["Condition"] = HAS_STANDBYS.into();
    vec![
        (
            ALARM_KEY,
            json!({
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": sub("Encrypts the alarm topic of stack ${AWS::StackName}"),
                    "EnableKeyRotation": true,
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "TheAccountManagesTheKey",
                                "Effect": "Allow",
                                "Principal": { "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") },
                                "Action": "kms:*",
                                "Resource": "*",
                            },
                            {
                                "Sid": "CloudWatchPublishesAlarms",
                                "Effect": "Allow",
                                "Principal": { "Service": "cloudwatch.amazonaws.com" },
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Resource": "*",
                                "Condition": { "StringEquals": { "aws:SourceAccount": r#ref("AWS::AccountId") } },
                            },
                        ],
                    },
                },
            }),
        ),
        (
            ALARM_TOPIC,
            json!({
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    // At most 100 characters: a stack name may be 128.
                    "DisplayName": "Presto HA alarms",
                    // The AWS-managed SNS key would refuse CloudWatch.
                    "KmsMasterKeyId": r#ref(ALARM_KEY),
                },
            }),
        ),
        (
            "AlarmEmail",
            json!({
                "Type": "AWS::SNS::Subscription",
                "Condition": EMAIL_GIVEN,
                "Properties": {
                    "TopicArn": r#ref(ALARM_TOPIC),
                    "Protocol": "email",
                    "Endpoint": r#ref(param::NOTIFICATION_EMAIL),
                },
            }),
        ),
        (
            "FailoverAlarm",
            Alarm {
                name: alarms::FAILOVER,
                description: "The watcher moved the coordinator record to a standby: the active coordinator failed and was replaced (queries running on it failed). presto-ha status shows the last failover; the watcher's log says why.",
                metric: (metrics::NAMESPACE, metrics::FAILOVER_SECONDS, &group),
                statistic: "SampleCount",
                period: 60,
                periods: 1,
                breaches: ("GreaterThanOrEqualToThreshold", 1.into()),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        ("StandbysAlarm", standbys),
        (
            "NoHealthyActiveAlarm",
            Alarm {
                name: alarms::NO_HEALTHY_ACTIVE,
                description: "The coordinator record pointed at no healthy coordinator for longer than the failover grace: clients cannot run queries and no failover has fixed it. Check presto-ha status, the watcher's log and the coordinator group.",
                metric: (metrics::NAMESPACE, metrics::SECONDS_WITHOUT_HEALTHY_ACTIVE, &group),
                statistic: "Maximum",
                period: 60,
                periods: 1,
                breaches: ("GreaterThanThreshold", r#ref(param::FAILOVER_GRACE_SECONDS)),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        (
            "WatcherNotRunningAlarm",
            Alarm {
                name: alarms::WATCHER_NOT_RUNNING,
                description: "The watcher has not run for 3 minutes: nothing would fail over. Check its reserved concurrency (0 stops it), the WatcherSchedule rule and the FailedInvocations queue.",
                metric: ("AWS/Lambda", "Invocations", &watcher),
                statistic: "Sum",
                period: 60,
                periods: 3,
                breaches: ("LessThanThreshold", 1.into()),
                missing_data: "breaching",
            }
            .resource(),
        ),
        (
            "WatcherErrorsAlarm",
            Alarm {
                name: alarms::WATCHER_ERRORS,
                description: "A watcher run failed (a crash or a timeout): failover may be late. Read the watcher's log and the FailedInvocations queue.",
                metric: ("AWS/Lambda", "Errors", &watcher),
                statistic: "Sum",
                period: 60,
                periods: 1,
                breaches: ("GreaterThanOrEqualToThreshold", 1.into()),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        (
            "WatcherThrottlesAlarm",
            Alarm {
                name: alarms::WATCHER_THROTTLES,
                description: "The watcher was throttled 10 times in 5 minutes. An instance state-change event that arrives while a run is going is throttled by design (one run at a time); this many means runs themselves are refused, or the account's Lambda concurrency is exhausted.",
                metric: ("AWS/Lambda", "Throttles", &watcher),
                statistic: "Sum",
                period: 300,
                periods: 1,
                breaches: ("GreaterThanOrEqualToThreshold", 10.into()),
                missing_data: "notBreaching",
            }
            .resource(),
        ),
        (
            DASHBOARD,
            json!({
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": { "DashboardBody": sub(&dashboard_body()) },
            }),
        ),
    ]
}

/// The dashboard, as the text of an `Fn::Sub`: failovers and their duration,
/// standbys, the active coordinator's health, the watcher's runs, errors and
/// throttles, the nodes' CPU and the worker group's size.
fn dashboard_body() -> String {
    let group = placeholder(ids::COORDINATOR_GROUP);
    let watcher = placeholder(ids::WATCHER_FUNCTION);
    let workers = placeholder(ids::WORKER_GROUP);
    let ours = |name: &str, stat: &str| json!([metrics::NAMESPACE, name, metrics::DIMENSION, group, { "stat": stat }]);
    let lambda =
        |name: &str| json!(["AWS/Lambda", name, "FunctionName", watcher, { "stat": "Sum" }]);
    let cpu = |asg: &str| json!(["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", asg, { "stat": "Average" }]);
    let size = |name: &str| json!(["AWS/AutoScaling", name, "AutoScalingGroupName", workers, { "stat": "Maximum" }]);
    let widget = |index: u32, title: &str, metrics: Value| {
        json!({
            "type": "metric",
            "x": (index % 2) * 12,
            "y": (index / 2) * 6,
            "width": 12,
            "height": 6,
            "properties": { "title": title, "region": "${AWS::Region}", "period": 60, "view": "timeSeries", "metrics": metrics },
        })
    };
    json!({
        "widgets": [
            widget(0, "Failovers, and how long the old coordinator had failed (s)", json!([ours(metrics::FAILOVER_SECONDS, "SampleCount"), ours(metrics::FAILOVER_SECONDS, "Maximum")])),
            widget(1, "Healthy standbys; seconds without a healthy active", json!([ours(metrics::HEALTHY_STANDBYS, "Minimum"), ours(metrics::SECONDS_WITHOUT_HEALTHY_ACTIVE, "Maximum")])),
            widget(2, "Watcher runs, errors and throttles", json!([lambda("Invocations"), lambda("Errors"), lambda("Throttles")])),
            widget(3, "CPU of coordinators and workers (%)", json!([cpu(&group), cpu(&workers)])),
            widget(4, "Workers in the group", json!([size("GroupInServiceInstances"), size("GroupDesiredCapacity")])),
        ],
    })
    .to_string()
}

/// The secrets the stack makes. Every value is generated or written by the stack;
/// none passes through a parameter.
fn secrets() -> Vec<(&'static str, Value)> {
    const ROTATED_BY_REVISION: &str = "Rotated by stack update: CredentialsRevision makes every node read it again (README, Rotation).";
    const ACCOUNT_KEY: &str = "Encrypted with the account's Secrets Manager key; a customer managed key would be one more thing the stack must keep and the nodes must be granted.";
    let skips = suppressed(
        &[
            ("CKV_AWS_149", ACCOUNT_KEY),
            ("CKV2_AWS_57", ROTATED_BY_REVISION),
        ],
        &[
            ("SECRETSMANAGER_USING_CMK", ACCOUNT_KEY),
            ("SECRETSMANAGER_ROTATION_ENABLED_CHECK", ROTATED_BY_REVISION),
        ],
    );
    let secret = |description: &str, value: (&str, Value)| {
        let mut resource = json!({
            "Type": "AWS::SecretsManager::Secret",
            "Metadata": skips,
            "Properties": {
                "Description": sub(&format!("{description} (stack ${{AWS::StackName}})")),
            },
        });
        resource["Properties"][value.0] = value.1;
        resource
    };
    let empty = ("SecretString", json!("{}"));
    vec![
        (
            ids::ADMIN_PASSWORD_SECRET,
            secret(
                "Password of the Presto user admin, as JSON {\"admin\": password}",
                (
                    "GenerateSecretString",
                    json!({
                        "SecretStringTemplate": "{}",
                        "GenerateStringKey": users::ADMIN,
                        "PasswordLength": 32,
                        "ExcludePunctuation": true,
                    }),
                ),
            ),
        ),
        (
            ids::SHARED_SECRET,
            secret(
                "Secret the Presto nodes share to trust each other's requests",
                (
                    "GenerateSecretString",
                    json!({ "PasswordLength": 64, "ExcludePunctuation": true }),
                ),
            ),
        ),
        (
            ids::AUTHORITY_SECRET,
            secret(
                "Certificate authority of the Presto coordinators' certificate; read by the custom resource only",
                empty.clone(),
            ),
        ),
        (
            ids::MADE_CERTIFICATE_SECRET,
            secret(
                "Certificate and key of the Presto coordinators, made by the stack",
                empty,
            ),
        ),
    ]
}

/// The coordinators' certificate: made under the stack's own authority, or the
/// user's, checked.
fn tls_certificate() -> (&'static str, Value) {
    (
        ids::TLS_CERTIFICATE,
        json!({
            "Type": tls_resource::TYPE,
            "Properties": {
                "ServiceToken": get_att(ids::CUSTOM_RESOURCE_FUNCTION, "Arn"),
                "ServiceTimeout": CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS,
                tls_resource::RECORD_NAME: sub(&record_fqdn()),
                tls_resource::GIVEN_SECRET: r#ref(param::TLS_CERTIFICATE_SECRET_ARN),
                tls_resource::MADE_SECRET: r#ref(ids::MADE_CERTIFICATE_SECRET),
                tls_resource::AUTHORITY_SECRET: r#ref(ids::AUTHORITY_SECRET),
                tls_resource::REVISION: r#ref(param::CREDENTIALS_REVISION),
            },
        }),
    )
}

/// The ARNs of the exchange bucket's objects.
fn exchange_objects() -> Value {
    sub(&format!("${{{}.Arn}}/*", ids::EXCHANGE_BUCKET))
}

/// The bucket fault-tolerant execution spools to: private, encrypted, reached only
/// over TLS, its objects expired after a day (a query's spool is deleted when the
/// query ends; what a crash leaves, the rule removes), and emptied by the custom
/// resource when the stack is deleted.
fn exchange() -> Vec<(&'static str, Value)> {
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

/// The image every node boots, resolved by the custom-resource Lambda and kept.
fn pinned_image() -> (&'static str, Value) {
    (
        ids::PINNED_IMAGE,
        json!({
            "Type": image_resource::TYPE,
            "Properties": {
                "ServiceToken": get_att(ids::CUSTOM_RESOURCE_FUNCTION, "Arn"),
                "ServiceTimeout": CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS,
                image_resource::IMAGE_ID: r#ref(param::IMAGE_ID),
                image_resource::LATEST_PARAMETER: LATEST_IMAGE_PARAMETER,
            },
        }),
    )
}

fn coordinator_dns() -> (&'static str, Value) {
    (
        ids::COORDINATOR_DNS,
        json!({
            "Type": dns_resource::TYPE,
            // Created after, and deleted before, the permissions it uses.
            "DependsOn": ids::GROUP_AND_WATCHER_POLICY,
            "Properties": {
                "ServiceToken": get_att(ids::CUSTOM_RESOURCE_FUNCTION, "Arn"),
                "ServiceTimeout": CUSTOM_RESOURCE_SERVICE_TIMEOUT_SECONDS,
                dns_resource::HOSTED_ZONE_ID: r#ref(ids::HOSTED_ZONE),
                dns_resource::RECORD_NAME: sub(&record_fqdn()),
                dns_resource::TTL: RECORD_TTL_SECONDS,
                dns_resource::COORDINATOR_GROUP: r#ref(ids::COORDINATOR_GROUP),
                dns_resource::PRESTO_PORT: r#ref(param::PRESTO_HTTP_PORT),
                dns_resource::PROBE_TIMEOUT_SECONDS: r#ref(param::PROBE_TIMEOUT_SECONDS),
                dns_resource::PROBE_INTERVAL_SECONDS: r#ref(param::PROBE_INTERVAL_SECONDS),
                dns_resource::GRACE_SECONDS: r#ref(param::FAILOVER_GRACE_SECONDS),
                dns_resource::WATCHER_FUNCTION: r#ref(ids::WATCHER_FUNCTION),
                dns_resource::WATCHER_TIMEOUT_SECONDS: WATCHER_TIMEOUT_SECONDS,
                dns_resource::DRAIN_SECONDS: r#ref(param::COORDINATOR_DRAIN_SECONDS),
                dns_resource::CLIENT_PORT: client_port(),
                dns_resource::CLIENT_AUTHORITY: when(CLIENT_TLS, json!({ "Fn::If": [
                    CERTIFICATE_GIVEN,
                    "",
                    get_att(ids::TLS_CERTIFICATE, tls_resource::CA_CERTIFICATE),
                ] })),
                dns_resource::ADMIN_SECRET: when(CLIENT_TLS, r#ref(ids::ADMIN_PASSWORD_SECRET)),
            },
        }),
    )
}

fn outputs() -> Value {
    let output =
        |description: &str, value: Value| json!({ "Description": description, "Value": value });
    let fqdn = record_fqdn();
    json!({
        outputs::PRESTO_COORDINATOR_URL: output(
            "Presto Web UI, REST API and CLI/JDBC/ODBC endpoint; resolves only inside the VPC (or over a VPN into it).",
            json!({ "Fn::If": [
                CLIENT_TLS,
                sub(&format!("https://{fqdn}:{}", placeholder(param::PRESTO_HTTPS_PORT))),
                sub(&format!("http://{fqdn}:{}", placeholder(param::PRESTO_HTTP_PORT))),
            ] }),
        ),
        outputs::ADMIN_PASSWORD_SECRET: output(
            "Secret holding the admin user's password, as JSON {\"admin\": password}.",
            r#ref(ids::ADMIN_PASSWORD_SECRET),
        ),
        outputs::CA_CERTIFICATE: output(
            "The certificate clients trust the coordinators by (PEM).",
            json!({ "Fn::If": [
                CERTIFICATE_GIVEN,
                sub(&format!("The issuer of your certificate in {}", placeholder(param::TLS_CERTIFICATE_SECRET_ARN))),
                get_att(ids::TLS_CERTIFICATE, tls_resource::CA_CERTIFICATE),
            ] }),
        ),
        outputs::PRESTO_SSH: output(
            "A shell on the active coordinator (the one protected from scale-in): SSH with the key pair (after a failover the host key changes: remove the old one from known_hosts), or Session Manager without one.",
            json!({ "Fn::If": [
                KEY_GIVEN,
                sub(&format!("ssh -i {}.pem ec2-user@{fqdn}", placeholder(param::KEY_NAME))),
                sub(&format!(
                    "aws ssm start-session --region ${{AWS::Region}} --target $(aws autoscaling describe-auto-scaling-groups --region ${{AWS::Region}} --auto-scaling-group-names {} --query 'AutoScalingGroups[0].Instances[?ProtectedFromScaleIn].InstanceId | [0]' --output text)",
                    placeholder(ids::COORDINATOR_GROUP)
                )),
            ] }),
        ),
        outputs::COORDINATOR_RECORD_NAME: output("The coordinator record: an A record (TTL 5 s) holding the active coordinator's private IP.", sub(&fqdn)),
        outputs::HOSTED_ZONE_ID: output("Private hosted zone holding the coordinator record.", r#ref(ids::HOSTED_ZONE)),
        outputs::COORDINATOR_GROUP_NAME: output("Auto Scaling group of the coordinators (active and standbys).", r#ref(ids::COORDINATOR_GROUP)),
        outputs::WORKER_GROUP_NAME: output("Auto Scaling group of the workers.", r#ref(ids::WORKER_GROUP)),
        outputs::WATCHER_FUNCTION_NAME: output("The watcher Lambda; its logs record every failover.", r#ref(ids::WATCHER_FUNCTION)),
        outputs::PROBE_FUNCTION_NAME: output("The probe function, which presto-ha status and switchover invoke from outside the VPC (needs lambda:InvokeFunction on it).", r#ref(ids::PROBE_FUNCTION)),
        outputs::ALARM_TOPIC: output("The SNS topic every alarm notifies: subscribe more addresses or endpoints to it.", r#ref(ALARM_TOPIC)),
        outputs::DASHBOARD_URL: output(
            "The stack's CloudWatch dashboard: failovers, standbys, the watcher, the nodes' CPU.",
            sub(&format!("https://${{AWS::Region}}.console.aws.amazon.com/cloudwatch/home?region=${{AWS::Region}}#dashboards:name={}", placeholder(DASHBOARD))),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(settings: &StackSettings) -> Value {
        build(settings)
    }

    fn resources_of_type<'a>(
        template: &'a Value,
        kind: &str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> {
        let kind = kind.to_owned();
        template["Resources"]
            .as_object()
            .expect("resources")
            .iter()
            .filter(move |(_, r)| r["Type"] == kind.as_str())
    }

    #[test]
    fn coordinator_count_is_the_parameter_default_in_ec2_configuration() {
        for n in presto_ha_contract::limits::COORDINATORS {
            let t = template(&StackSettings {
                coordinators: n,
                ..StackSettings::default()
            });
            let parameter = &t["Parameters"]["HACoordinatorsCount"];
            assert_eq!(parameter["Default"], n);
            assert_eq!(
                (
                    parameter["MinValue"].as_u64(),
                    parameter["MaxValue"].as_u64()
                ),
                (Some(1), Some(5))
            );
        }
        let t = template(&StackSettings::default());
        let groups = t["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
            .as_array()
            .expect("groups");
        let ec2 = groups
            .iter()
            .find(|g| g["Label"]["default"] == "EC2 Configuration")
            .expect("EC2 Configuration");
        assert!(
            ec2["Parameters"]
                .as_array()
                .expect("list")
                .contains(&"HACoordinatorsCount".into())
        );
        let group = &t["Resources"][ids::COORDINATOR_GROUP]["Properties"];
        for size in ["MinSize", "MaxSize", "DesiredCapacity"] {
            assert_eq!(group[size], r#ref("HACoordinatorsCount"), "{size}");
        }
    }

    #[test]
    fn every_parameter_is_in_a_console_group_with_a_label() {
        let t = template(&StackSettings::default());
        let interface = &t["Metadata"]["AWS::CloudFormation::Interface"];
        let grouped: Vec<&Value> = interface["ParameterGroups"]
            .as_array()
            .expect("groups")
            .iter()
            .flat_map(|g| g["Parameters"].as_array().expect("list"))
            .collect();
        let parameters = t["Parameters"].as_object().expect("parameters");
        assert_eq!(grouped.len(), parameters.len());
        for name in parameters.keys() {
            assert!(
                grouped.contains(&&Value::from(name.as_str())),
                "{name} is in no group"
            );
            assert!(
                interface["ParameterLabels"][name]["default"].is_string(),
                "{name} has no label"
            );
        }
    }

    /// Every rule of `kind` (`Ingress` or `Egress`), inline or a resource of its own.
    fn security_group_rules<'a>(t: &'a Value, kind: &str) -> Vec<&'a Value> {
        let mut rules: Vec<&Value> = resources_of_type(t, "AWS::EC2::SecurityGroup")
            .flat_map(|(_, g)| {
                g["Properties"][format!("SecurityGroup{kind}")]
                    .as_array()
                    .into_iter()
                    .flatten()
            })
            .collect();
        let kind = format!("AWS::EC2::SecurityGroup{kind}");
        rules.extend(resources_of_type(t, &kind).map(|(_, r)| &r["Properties"]));
        rules
    }

    #[test]
    fn nothing_faces_the_internet() {
        let t = template(&StackSettings::default());
        let inbound = security_group_rules(&t, "Ingress");
        assert!(inbound.len() >= 6, "{inbound:?}");
        for rule in inbound {
            assert_ne!(rule["CidrIp"], "0.0.0.0/0", "{rule}");
            assert!(rule["CidrIpv6"].is_null(), "{rule}");
        }
        // Outbound, the world gets HTTPS only; everything else goes to a group of
        // the stack or to the data source CIDR.
        let outbound = security_group_rules(&t, "Egress");
        assert!(outbound.len() >= 7, "{outbound:?}");
        for rule in outbound {
            assert_eq!(rule["IpProtocol"], "tcp", "{rule}");
            assert!(rule["CidrIpv6"].is_null(), "{rule}");
            match &rule["CidrIp"] {
                Value::Null => assert!(rule["DestinationSecurityGroupId"].is_object(), "{rule}"),
                cidr if cidr == "0.0.0.0/0" => {
                    assert_eq!(
                        (&rule["FromPort"], &rule["ToPort"]),
                        (&443.into(), &443.into()),
                        "{rule}"
                    )
                }
                cidr => assert_eq!(cidr, &r#ref(param::DATA_SOURCE_CIDR), "{rule}"),
            }
        }
        // No public address, whatever the subnet's auto-assign setting.
        for (id, lt) in resources_of_type(&t, "AWS::EC2::LaunchTemplate") {
            let data = &lt["Properties"]["LaunchTemplateData"];
            assert!(data["SecurityGroupIds"].is_null(), "{id}");
            let interfaces = data["NetworkInterfaces"].as_array().expect("interfaces");
            assert_eq!(interfaces.len(), 1, "{id}");
            assert_eq!(interfaces[0]["DeviceIndex"], 0, "{id}");
            assert_eq!(interfaces[0]["AssociatePublicIpAddress"], false, "{id}");
        }
        // Every CIDR parameter refuses a /0, and the client CIDR must be given.
        assert!(t["Parameters"][param::CLIENT_CIDR]["Default"].is_null());
        for cidr in [param::CLIENT_CIDR, param::SSH_CIDR, param::DATA_SOURCE_CIDR] {
            let pattern = t["Parameters"][cidr]["AllowedPattern"]
                .as_str()
                .expect("pattern");
            let pattern = regex::Regex::new(pattern).expect("compiles");
            for world in ["0.0.0.0/0", "10.0.0.0/0", "::/0"] {
                assert!(!pattern.is_match(world), "{cidr} accepts {world}");
            }
            assert!(pattern.is_match("10.0.0.0/8"), "{cidr}");
            let refused = t["Rules"]["NothingFacesTheInternet"]["Assertions"]
                .as_array()
                .expect("assertions")
                .iter()
                .any(|a| {
                    a["Assert"]["Fn::Not"][0]["Fn::Equals"] == json!([r#ref(cidr), "0.0.0.0/0"])
                });
            assert!(refused, "{cidr}");
        }
    }

    #[test]
    fn alarms_notify_the_topic_and_the_standby_alarm_expects_one_fewer_than_the_count() {
        let t = template(&StackSettings::default());
        let alarms: Vec<_> = resources_of_type(&t, "AWS::CloudWatch::Alarm").collect();
        assert_eq!(alarms.len(), 6);
        for (id, alarm) in &alarms {
            let p = &alarm["Properties"];
            assert_eq!(p["AlarmActions"], json!([r#ref(ALARM_TOPIC)]), "{id}");
            assert!(
                p["AlarmDescription"].as_str().is_some_and(|d| d.len() > 60),
                "{id}"
            );
        }
        let standbys = &t["Resources"]["StandbysAlarm"];
        assert_eq!(standbys["Condition"], HAS_STANDBYS);
        assert_eq!(
            t["Conditions"][HAS_STANDBYS],
            json!({ "Fn::Not": [{ "Fn::Equals": [r#ref(param::HA_COORDINATORS_COUNT), 1] }] })
        );
        for count in limits::COORDINATORS {
            assert_eq!(
                t["Mappings"][STANDBYS_BY_COUNT][count.to_string()]["Standbys"],
                count - 1
            );
        }
        assert_eq!(t["Resources"]["AlarmEmail"]["Condition"], EMAIL_GIVEN);
        assert_eq!(
            t["Resources"][ALARM_TOPIC]["Properties"]["KmsMasterKeyId"],
            r#ref(ALARM_KEY)
        );
    }

    #[test]
    fn nodes_require_imdsv2_and_encrypted_volumes() {
        let t = template(&StackSettings::default());
        let templates: Vec<_> = resources_of_type(&t, "AWS::EC2::LaunchTemplate").collect();
        assert_eq!(templates.len(), 2);
        for (id, lt) in templates {
            let data = &lt["Properties"]["LaunchTemplateData"];
            assert_eq!(data["MetadataOptions"]["HttpTokens"], "required", "{id}");
            for mapping in data["BlockDeviceMappings"].as_array().expect("mappings") {
                assert_eq!(mapping["Ebs"]["Encrypted"], true, "{id}");
            }
        }
    }

    #[test]
    fn the_watcher_may_terminate_only_this_stacks_coordinators() {
        let t = template(&StackSettings::default());
        let statements = t["Resources"]["WatcherRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
            .as_array()
            .expect("statements");
        let terminate: Vec<&Value> = statements
            .iter()
            .filter(|s| s["Action"].to_string().contains("Terminate"))
            .collect();
        assert_eq!(terminate.len(), 1);
        assert!(
            terminate[0]["Resource"]["Fn::Sub"]
                .as_str()
                .expect("scoped")
                .ends_with("autoScalingGroupName/${CoordinatorGroup}")
        );
        let writes = statements
            .iter()
            .find(|s| s["Action"].to_string().contains("ChangeResourceRecordSets"))
            .expect("record write");
        assert_eq!(
            writes["Resource"],
            sub("arn:${AWS::Partition}:route53:::hostedzone/${HostedZone}")
        );
        for statement in statements.iter().filter(|s| s["Resource"] == "*") {
            let actions = statement["Action"].to_string();
            assert!(
                !actions.contains("Terminate") && !actions.contains("Change"),
                "{statement}"
            );
        }
    }

    #[test]
    fn lambdas_run_on_the_architecture_their_code_was_built_for() {
        for architecture in [LambdaArchitecture::X86_64, LambdaArchitecture::Arm64] {
            let t = template(&StackSettings {
                lambda_architecture: architecture,
                ..StackSettings::default()
            });
            let functions: Vec<_> = resources_of_type(&t, "AWS::Lambda::Function").collect();
            assert_eq!(functions.len(), 3);
            for (id, function) in functions {
                assert_eq!(
                    function["Properties"]["Architectures"],
                    json!([architecture.as_str()]),
                    "{id}"
                );
            }
        }
    }

    #[test]
    fn lambdas_get_the_contract_they_read() {
        let t = template(&StackSettings::default());
        let watcher = &t["Resources"][ids::WATCHER_FUNCTION]["Properties"];
        let variables = watcher["Environment"]["Variables"]
            .as_object()
            .expect("variables");
        let expected = [
            watcher_env::HOSTED_ZONE_ID,
            watcher_env::RECORD_NAME,
            watcher_env::RECORD_TTL,
            watcher_env::COORDINATOR_GROUP,
            watcher_env::PRESTO_PORT,
            watcher_env::PROBE_INTERVAL_SECONDS,
            watcher_env::PROBE_TIMEOUT_SECONDS,
            watcher_env::GRACE_SECONDS,
            watcher_env::REFUSED_SECONDS,
        ];
        assert_eq!(
            variables.keys().map(String::as_str).collect::<Vec<_>>(),
            expected
        );
        assert_eq!(watcher["ReservedConcurrentExecutions"], 1);
        let dns = &t["Resources"][ids::COORDINATOR_DNS];
        assert_eq!(dns["Type"], "Custom::CoordinatorDns");
        assert_eq!(dns["Properties"][dns_resource::TTL], 5);
        // An update's drain counts the old coordinators' queries as a client does:
        // over HTTPS as the admin with TLS on, and only then may it reach that port
        // and read that secret.
        let drain = &dns["Properties"];
        assert_eq!(
            drain[dns_resource::DRAIN_SECONDS],
            r#ref(param::COORDINATOR_DRAIN_SECONDS)
        );
        assert_eq!(drain[dns_resource::CLIENT_PORT], client_port());
        assert_eq!(
            drain[dns_resource::ADMIN_SECRET],
            when(CLIENT_TLS, r#ref(ids::ADMIN_PASSWORD_SECRET))
        );
        assert_eq!(
            drain[dns_resource::CLIENT_AUTHORITY]["Fn::If"][0],
            CLIENT_TLS
        );
        assert_eq!(
            t["Resources"]["CoordinatorFromLambdasOverHttps"]["Condition"],
            CLIENT_TLS
        );
        let role = t["Resources"]["CoordinatorDnsRole"].to_string();
        assert!(role.contains("CountTheOldCoordinatorsQueries"), "{role}");
        for rule in ["WatcherSchedule", "WatcherInstanceStateRule"] {
            assert_eq!(
                t["Resources"][rule]["DependsOn"],
                ids::COORDINATOR_DNS,
                "{rule}"
            );
        }
    }

    #[test]
    fn each_node_boots_the_same_script_with_its_own_settings() {
        let t = template(&StackSettings::default());
        let user_data = |id: &str| {
            let parts = &t["Resources"][id]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
                ["Fn::Join"][1];
            let header = parts[0]["Fn::Sub"][0]
                .as_str()
                .expect("settings")
                .to_owned();
            let body = parts[1].as_str().expect("script").to_owned();
            // Every value CloudFormation fills in counted as a long ARN.
            let filled = header.matches("${").count() * 128;
            assert!(
                header.len() + filled + body.len() < node::USER_DATA_LIMIT_BYTES,
                "{id}: user data over EC2's limit"
            );
            (header, body)
        };
        let (worker, worker_body) = user_data("WorkerLaunchTemplate");
        let (coordinator, coordinator_body) = user_data("CoordinatorLaunchTemplate");
        assert_eq!(worker_body, coordinator_body);
        let record = "${CoordinatorRecordName}.${HostedZoneName}";
        assert!(worker.contains(&format!(
            "ANNOUNCE_HOSTS='{record} member-1.{record} member-2.{record} member-3.{record} member-4.{record} member-5.{record}'"
        )));
        assert!(worker.contains("SIGNAL_RESOURCE='WorkerGroup'"));
        assert!(worker.contains("EXTRA_CONFIG_URI='${AdditionalWorkersConfigurationURI}'"));
        assert!(coordinator.contains("ANNOUNCE_HOSTS='localhost'"));
        assert!(coordinator.contains("SIGNAL_RESOURCE='CoordinatorGroup'"));
        assert!(coordinator.contains("DNS_CACHE_SECONDS='5'"));
        for group in [ids::COORDINATOR_GROUP, ids::WORKER_GROUP] {
            assert_eq!(
                t["Resources"][group]["CreationPolicy"]["ResourceSignal"]["Timeout"],
                NODE_READY_TIMEOUT
            );
        }
    }

    #[test]
    fn nodes_may_read_only_what_the_stack_names() {
        let t = template(&StackSettings::default());
        let statements = &t["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]
            ["Statement"];
        let statements = statements.as_array().expect("statements");
        assert_eq!(statements[0]["Effect"], "Deny");
        for conditional in &statements[1..] {
            let condition = conditional["Fn::If"][0].as_str().expect("conditional");
            assert!(t["Conditions"].get(condition).is_some(), "{condition}");
            let allowed = &conditional["Fn::If"][1];
            assert_ne!(allowed["Resource"], "*", "{allowed}");
            assert_eq!(conditional["Fn::If"][2], json!({ "Ref": "AWS::NoValue" }));
        }
        let allowed = |sid: &str| {
            statements
                .iter()
                .map(|s| &s["Fn::If"][1])
                .find(|s| s["Sid"] == sid)
                .unwrap_or_else(|| panic!("no statement {sid}"))
                .clone()
        };
        // Exactly the named buckets and their objects, the named secrets.
        let names = r#ref(param::DATA_BUCKET_NAMES);
        let buckets = allowed("DataBuckets")["Resource"].to_string();
        let objects = allowed("DataObjects")["Resource"].to_string();
        assert!(
            buckets.contains(&names.to_string()) && buckets.contains(r#""arn:*:s3:::""#),
            "{buckets}"
        );
        assert!(
            objects.contains(r#""/*,arn:*:s3:::""#) && objects.contains(&names.to_string()),
            "{objects}"
        );
        assert_eq!(
            allowed("ConfigurationSecrets")["Resource"],
            r#ref(param::CONFIGURATION_SECRET_ARNS)
        );
    }

    /// The parameters a custom resource's attributes depend on: its properties, less
    /// the function that serves it.
    fn custom_parameters_named(template: &Value, resource: &str, found: &mut Vec<String>) {
        let resource = &template["Resources"][resource];
        if resource["Type"]
            .as_str()
            .is_some_and(|t| t.starts_with("Custom::"))
        {
            let mut properties = resource["Properties"].clone();
            properties.as_object_mut().map(|p| p.remove("ServiceToken"));
            parameters_named(template, &properties, found);
        }
    }

    /// Every parameter `value` names, through `Ref` or an `Fn::Sub` placeholder.
    fn parameters_named(template: &Value, value: &Value, found: &mut Vec<String>) {
        let is_parameter = |name: &str| template["Parameters"].get(name).is_some();
        match value {
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), inner) {
                        ("Ref", Value::String(name)) if is_parameter(name) => {
                            found.push(name.clone())
                        }
                        // A custom resource passes its parameters through.
                        ("Fn::GetAtt", Value::Array(parts)) => {
                            let resource = parts[0].as_str().unwrap_or_default();
                            custom_parameters_named(template, resource, found);
                        }
                        // So does a condition.
                        ("Fn::If", Value::Array(parts)) => {
                            let condition = parts[0].as_str().unwrap_or_default();
                            parameters_named(template, &template["Conditions"][condition], found);
                            parameters_named(template, &Value::from(parts[1..].to_vec()), found);
                        }
                        ("Fn::Sub", Value::String(text)) => {
                            for piece in text.split("${").skip(1) {
                                let name = piece.split('}').next().unwrap_or_default();
                                if is_parameter(name) {
                                    found.push(name.to_owned());
                                } else if let Some((resource, _)) = name.split_once('.') {
                                    custom_parameters_named(template, resource, found);
                                }
                            }
                        }
                        ("Fn::Sub", Value::Array(parts)) => {
                            let text = json!({ "Fn::Sub": parts[0] });
                            parameters_named(template, &text, found);
                            parameters_named(template, &parts[1], found);
                        }
                        _ => parameters_named(template, inner, found),
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    parameters_named(template, item, found);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn only_the_documented_parameters_change_the_coordinator_launch_template() {
        let t = template(&StackSettings::default());
        let mut found = Vec::new();
        parameters_named(&t, &t["Resources"]["CoordinatorLaunchTemplate"], &mut found);
        found.sort();
        found.dedup();
        let mut documented: Vec<String> = COORDINATOR_DEFINING_PARAMETERS
            .iter()
            .map(|p| (*p).to_owned())
            .collect();
        documented.sort();
        assert_eq!(found, documented);
    }

    #[test]
    fn workers_roll_one_at_a_time_and_the_image_is_pinned_for_every_node() {
        let t = template(&StackSettings::default());
        let workers = &t["Resources"][ids::WORKER_GROUP];
        let rolling = &workers["UpdatePolicy"]["AutoScalingRollingUpdate"];
        assert_eq!(rolling["MaxBatchSize"], 1);
        assert_eq!(
            rolling["MinInstancesInService"],
            r#ref(param::WORKERS_COUNT)
        );
        // The room for the extra worker of a rolling update: the maximum, which
        // `generate` requires above the minimum.
        assert_eq!(
            workers["Properties"]["MaxSize"],
            r#ref(param::WORKERS_MAX_COUNT)
        );
        assert!(workers["Properties"]["DesiredCapacity"].is_null());
        let scaling = &t["Resources"]["WorkerScaling"]["Properties"];
        assert_eq!(scaling["AutoScalingGroupName"], r#ref(ids::WORKER_GROUP));
        assert_eq!(
            scaling["TargetTrackingConfiguration"]["TargetValue"],
            r#ref(param::WORKERS_TARGET_CPU_PERCENT)
        );
        let settings = StackSettings {
            workers_max: Some(2),
            ..StackSettings::default()
        };
        assert_eq!(
            settings.validate().map_err(|e| e.to_string()),
            Err("--workers-max (2) must exceed --workers (2): a rolling update needs one worker above the minimum".to_owned())
        );
        for id in ["CoordinatorLaunchTemplate", "WorkerLaunchTemplate"] {
            assert_eq!(
                t["Resources"][id]["Properties"]["LaunchTemplateData"]["ImageId"],
                get_att(ids::PINNED_IMAGE, image_resource::PINNED_IMAGE_ID),
                "{id}"
            );
        }
        assert_eq!(
            t["Resources"][ids::PINNED_IMAGE]["Type"],
            "Custom::PinnedImage"
        );
    }

    #[test]
    fn a_coordinator_serves_before_it_counts_and_the_warm_pool_keeps_prepared_ones() {
        let t = template(&StackSettings::default());
        let hooks =
            &t["Resources"][ids::COORDINATOR_GROUP]["Properties"]["LifecycleHookSpecificationList"];
        assert_eq!(
            hooks,
            &json!([{
                "LifecycleHookName": node::LAUNCH_HOOK,
                "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
                "HeartbeatTimeout": LAUNCH_HOOK_SECONDS,
                "DefaultResult": "ABANDON",
            }])
        );
        assert_eq!(
            NODE_READY_TIMEOUT,
            format!("PT{}M", LAUNCH_HOOK_SECONDS / 60)
        );
        let pool = &t["Resources"]["CoordinatorWarmPool"];
        assert_eq!(pool["Condition"], HAS_WARM_POOL);
        assert_eq!(
            pool["Properties"]["AutoScalingGroupName"],
            r#ref(ids::COORDINATOR_GROUP)
        );
        assert_eq!(
            pool["Properties"]["MinSize"],
            r#ref(param::COORDINATOR_WARM_POOL_SIZE)
        );
        assert_eq!(pool["Properties"]["PoolState"], "Stopped");
        // A coordinator completes its own group's hook, found by the group's tags.
        let launch = t["Resources"]["CoordinatorRole"]["Properties"]["Policies"]
            .as_array()
            .expect("policies")
            .iter()
            .find(|p| p["PolicyName"] == "launch")
            .expect("the launch policy")
            .clone();
        let statement = &launch["PolicyDocument"]["Statement"][1];
        assert_eq!(statement["Action"], "autoscaling:CompleteLifecycleAction");
        assert_eq!(
            statement["Condition"]["StringEquals"]["autoscaling:ResourceTag/aws:cloudformation:logical-id"],
            ids::COORDINATOR_GROUP
        );
    }
}
