//! The contract between the parts of a presto-ha stack: every name that the template,
//! the two Lambdas and the `presto-ha` command line must spell alike, and every limit
//! they must agree on.
//!
//! The generator writes these names into the template, the Lambdas read their
//! settings by them, the command line finds the stack's outputs by them. Each is
//! spelled here and nowhere else, so a rename is one edit and a disagreement cannot
//! compile. Nothing here knows AWS or the template's layout.
#![warn(missing_docs)]

use std::ops::RangeInclusive;
use std::time::Duration;

/// Names of the template's parameters, as the console, `deploy --parameter` and the
/// stack's description show them.
pub mod parameters {
    /// The VPC of the cluster.
    pub const VPC_ID: &str = "VpcId";
    /// Subnets of the coordinators and the Lambdas.
    pub const COORDINATOR_SUBNET_IDS: &str = "CoordinatorSubnetIds";
    /// Subnets of the workers.
    pub const WORKER_SUBNET_IDS: &str = "WorkerSubnetIds";
    /// Who may reach the engine's port.
    pub const CLIENT_CIDR: &str = "ClientCidr";
    /// Who may reach port 22; empty: nobody.
    pub const SSH_CIDR: &str = "SshCidr";
    /// A network the nodes may reach on any TCP port (databases, a metastore); empty:
    /// none beyond HTTPS and the cluster's own ports.
    pub const DATA_SOURCE_CIDR: &str = "DataSourceCidr";
    /// How many coordinators run: one active, the rest hot standbys.
    pub const HA_COORDINATORS_COUNT: &str = "HACoordinatorsCount";
    /// Instance type of the coordinators.
    pub const COORDINATOR_INSTANCE_TYPE: &str = "CoordinatorInstanceType";
    /// How many workers run.
    pub const WORKERS_COUNT: &str = "WorkersCount";
    /// Instance type of the workers.
    pub const WORKER_INSTANCE_TYPE: &str = "WorkerInstanceType";
    /// The EC2 key pair for SSH; empty: Session Manager only.
    pub const KEY_NAME: &str = "KeyName";
    /// The nodes' image.
    pub const IMAGE_ID: &str = "ImageId";
    /// The engine every node runs: prestodb or Trino.
    pub const ENGINE: &str = "Engine";
    /// The engine's release; empty means the release this project was checked with.
    pub const PRESTO_VERSION: &str = "PrestoVersion";
    /// The SHA-256 the engine's tarball must have; empty trusts Maven Central's digest.
    pub const PRESTO_TARBALL_SHA256: &str = "PrestoTarballSha256";
    /// Where the hive and iceberg catalogs keep their metadata.
    pub const METASTORE_TYPE: &str = "MetastoreType";
    /// The external Hive metastore's host.
    pub const EXTERNAL_METASTORE_HOST: &str = "ExternalMetastoreHost";
    /// The external Hive metastore's port.
    pub const EXTERNAL_METASTORE_PORT: &str = "ExternalMetastorePort";
    /// The S3 buckets the catalogs may use.
    pub const DATA_BUCKET_NAMES: &str = "DataBucketNames";
    /// An `s3://` zip of an `etc/` tree applied on every coordinator.
    pub const ADDITIONAL_COORDINATOR_CONFIGURATION_URI: &str =
        "AdditionalCoordinatorConfigurationURI";
    /// An `s3://` zip of an `etc/` tree applied on every worker.
    pub const ADDITIONAL_WORKERS_CONFIGURATION_URI: &str = "AdditionalWorkersConfigurationURI";
    /// An `s3://` script every node runs before its engine starts.
    pub const BOOTSTRAP_SCRIPT_URI: &str = "BootstrapScriptURI";
    /// The Secrets Manager secrets the extra configuration may name.
    pub const CONFIGURATION_SECRET_ARNS: &str = "ConfigurationSecretArns";
    /// The engine's HTTP port: the nodes' own traffic and the health probes; clients
    /// reach it only when client security is off.
    pub const PRESTO_HTTP_PORT: &str = "PrestoHttpPort";
    /// The coordinators' HTTPS port for clients.
    pub const PRESTO_HTTPS_PORT: &str = "PrestoHttpsPort";
    /// TLS and passwords for clients, or (labs only) neither.
    pub const CLIENT_SECURITY: &str = "ClientSecurity";
    /// A Secrets Manager secret holding the coordinators' certificate chain and key;
    /// empty to have the stack make its own.
    pub const TLS_CERTIFICATE_SECRET_ARN: &str = "TlsCertificateSecretArn";
    /// A Secrets Manager secret of more users and their passwords.
    pub const USERS_SECRET_ARN: &str = "UsersSecretArn";
    /// A label whose change makes every node read its secrets again and the stack
    /// reissue its certificate: rotation by stack update.
    pub const CREDENTIALS_REVISION: &str = "CredentialsRevision";
    /// The engine's `node.environment`.
    pub const PRESTO_ENVIRONMENT: &str = "PrestoEnvironment";
    /// The private hosted zone's name.
    pub const HOSTED_ZONE_NAME: &str = "HostedZoneName";
    /// The coordinator record's label inside the zone.
    pub const COORDINATOR_RECORD_NAME: &str = "CoordinatorRecordName";
    /// Seconds between two probes.
    pub const PROBE_INTERVAL_SECONDS: &str = "ProbeIntervalSeconds";
    /// Seconds one probe may take.
    pub const PROBE_TIMEOUT_SECONDS: &str = "ProbeTimeoutSeconds";
    /// Seconds the active coordinator must fail before it is replaced.
    pub const FAILOVER_GRACE_SECONDS: &str = "FailoverGraceSeconds";
    /// Seconds the active coordinator may refuse connections (nothing listens on its
    /// port) before it is replaced.
    pub const FAILOVER_REFUSED_SECONDS: &str = "FailoverRefusedSeconds";
    /// Stopped coordinators kept prepared in the group's warm pool, to replace a
    /// failed one in seconds rather than minutes.
    pub const COORDINATOR_WARM_POOL_SIZE: &str = "CoordinatorWarmPoolSize";
    /// The most workers the group may scale out to.
    pub const WORKERS_MAX_COUNT: &str = "WorkersMaxCount";
    /// The workers' average CPU the group's scaling keeps to, in percent.
    pub const WORKERS_TARGET_CPU_PERCENT: &str = "WorkersTargetCpuPercent";
    /// How long a worker the group removes may finish its tasks before it goes.
    pub const WORKER_DRAIN_SECONDS: &str = "WorkerDrainSeconds";
    /// How long an update that replaces the coordinators keeps the old ones for their
    /// queries to finish, after the record has moved; 0 does not wait.
    pub const COORDINATOR_DRAIN_SECONDS: &str = "CoordinatorDrainSeconds";
    /// The share of the workers above none that runs on spot capacity, in percent.
    pub const WORKER_SPOT_PERCENT: &str = "WorkerSpotPercent";
    /// Instance types the workers may run on besides `WorkerInstanceType`, comma
    /// separated; more types find spot capacity more easily.
    pub const WORKER_OTHER_INSTANCE_TYPES: &str = "WorkerOtherInstanceTypes";
    /// Trino's fault-tolerant execution: `None`, `Task` or `Query` (its retry policy),
    /// with the exchange on a bucket the stack makes.
    pub const FAULT_TOLERANT_EXECUTION: &str = "FaultTolerantExecution";
    /// An address the alarms are mailed to; empty: none (the topic stays).
    pub const NOTIFICATION_EMAIL: &str = "NotificationEmail";
    /// The bucket holding the Lambda zips.
    pub const LAMBDA_CODE_BUCKET: &str = "LambdaCodeBucket";
    /// Key of the custom resource's zip.
    pub const CUSTOM_RESOURCE_CODE_KEY: &str = "CustomResourceCodeKey";
    /// Key of the watcher's zip.
    pub const WATCHER_CODE_KEY: &str = "WatcherCodeKey";

    /// The parameters that locate the Lambda code. On an update they follow the new
    /// template's defaults (what `package` printed), not the stack's previous values,
    /// so that new code is deployed.
    pub const CODE: [&str; 3] = [
        LAMBDA_CODE_BUCKET,
        CUSTOM_RESOURCE_CODE_KEY,
        WATCHER_CODE_KEY,
    ];
}

/// The engines' releases: the one a stack installs when `PrestoVersion` is empty, and
/// the one the tests boot on the real engine.
pub mod releases {
    /// prestodb's default release (on Corretto 17).
    pub const PRESTO_DEFAULT: &str = "0.297";
    /// Trino's default release (on Corretto 25).
    pub const TRINO_DEFAULT: &str = "479";
    /// The prestodb release the tests boot for real: the newest that the Maven Central
    /// the test machines reach serves (it stops at 0.287). The stack installs it, on
    /// Corretto 11, when `PrestoVersion` names it.
    pub const PRESTO_TESTED: &str = "0.287";
    /// The Trino release the tests boot for real, for the same reason (it stops at
    /// 476): the last before `discovery.uri` took several coordinators.
    pub const TRINO_TESTED: &str = "476";
}

/// Names of the stack's outputs.
pub mod outputs {
    /// The engine's URL for clients.
    pub const PRESTO_COORDINATOR_URL: &str = "PrestoCoordinatorURL";
    /// How to log on to the current coordinator.
    pub const PRESTO_SSH: &str = "PrestoSSH";
    /// The coordinator record's fully qualified name.
    pub const COORDINATOR_RECORD_NAME: &str = "CoordinatorRecordName";
    /// The private hosted zone's id.
    pub const HOSTED_ZONE_ID: &str = "HostedZoneId";
    /// The coordinators' Auto Scaling group.
    pub const COORDINATOR_GROUP_NAME: &str = "CoordinatorGroupName";
    /// The workers' Auto Scaling group.
    pub const WORKER_GROUP_NAME: &str = "WorkerGroupName";
    /// The watcher Lambda.
    pub const WATCHER_FUNCTION_NAME: &str = "WatcherFunctionName";
    /// The secret holding the `admin` user's password.
    pub const ADMIN_PASSWORD_SECRET: &str = "AdminPasswordSecret";
    /// The certificate clients trust the coordinators by.
    pub const CA_CERTIFICATE: &str = "PrestoCACertificate";
    /// The topic every alarm notifies.
    pub const ALARM_TOPIC: &str = "AlarmTopicArn";
    /// The stack's CloudWatch dashboard in the console.
    pub const DASHBOARD_URL: &str = "DashboardURL";
    /// The probe function, which `status` and `switchover` ask from outside the VPC.
    pub const PROBE_FUNCTION_NAME: &str = "ProbeFunctionName";
}

/// The probe function: the watcher's code deployed a second time, inside the VPC and
/// without the watcher's limit of one run at a time, so that `status` and
/// `switchover` run outside the VPC can learn the coordinators' health. It reads the
/// coordinator group and probes its serving members as the watcher does; it changes
/// nothing.
///
/// Its one request is `{"action": "probe"}`; its answer is
/// `{"group": G, "port": P, "probed": [{"instance_id", "ip", "health"}, ...]}`, with
/// `health` as the watcher names it (`"healthy"`, `"starting"`, `{"down": "timed_out"}`,
/// `{"down": {"status": 500}}`, ...).
pub mod probe_function {
    /// The environment variable (set to `true`) that makes the watcher's binary answer
    /// probe requests instead of watching. It also reads the watcher's
    /// `COORDINATOR_GROUP`, `PRESTO_PORT` and `PROBE_TIMEOUT_SECONDS`.
    pub const ONLY_PROBES: &str = "ONLY_PROBES";
    /// The request's one field.
    pub const ACTION: &str = "action";
    /// Its one value: probe every serving member of the group.
    pub const PROBE: &str = "probe";
}

/// The metrics the watcher emits in CloudWatch's embedded metric format (its log
/// lines), which the template's alarms and dashboard read.
pub mod metrics {
    /// Their namespace.
    pub const NAMESPACE: &str = "PrestoHA";
    /// Their one dimension, whose value is the coordinator group's name.
    pub const DIMENSION: &str = "CoordinatorGroup";
    /// Per switch of the record: how long the old coordinator had been failing.
    pub const FAILOVER_SECONDS: &str = "FailoverSeconds";
    /// Per run: the healthy coordinators the record does not point at.
    pub const HEALTHY_STANDBYS: &str = "HealthyStandbys";
    /// Per run: the longest time in it that the record pointed at no healthy
    /// coordinator.
    pub const SECONDS_WITHOUT_HEALTHY_ACTIVE: &str = "SecondsWithoutHealthyActive";
}

/// The stack's CloudWatch alarms. Each is named after the stack, so that `status`
/// finds exactly this stack's alarms by name.
pub mod alarms {
    /// The watcher switched the record.
    pub const FAILOVER: &str = "failover";
    /// Fewer healthy standbys than there should be.
    pub const STANDBYS: &str = "standbys-missing";
    /// The record pointed at no healthy coordinator for longer than the grace.
    pub const NO_HEALTHY_ACTIVE: &str = "no-healthy-coordinator";
    /// The watcher did not run.
    pub const WATCHER_NOT_RUNNING: &str = "watcher-not-running";
    /// A watcher run failed.
    pub const WATCHER_ERRORS: &str = "watcher-errors";
    /// The watcher was throttled more than its one-at-a-time overlap explains.
    pub const WATCHER_THROTTLES: &str = "watcher-throttled";
    /// Every alarm, in the order `status` lists them.
    pub const ALL: [&str; 6] = [
        FAILOVER,
        NO_HEALTHY_ACTIVE,
        STANDBYS,
        WATCHER_NOT_RUNNING,
        WATCHER_ERRORS,
        WATCHER_THROTTLES,
    ];

    /// The name of alarm `which` of stack `stack` (or of `${AWS::StackName}`).
    pub fn name(stack: &str, which: &str) -> String {
        format!("{stack}-{which}")
    }
}

/// Environment variables the watcher Lambda reads.
pub mod watcher_env {
    /// Id of the private hosted zone.
    pub const HOSTED_ZONE_ID: &str = "HOSTED_ZONE_ID";
    /// Fully qualified name of the coordinator A record, without the final dot.
    pub const RECORD_NAME: &str = "RECORD_NAME";
    /// TTL of the record, in seconds.
    pub const RECORD_TTL: &str = "RECORD_TTL";
    /// Name of the coordinators' Auto Scaling group.
    pub const COORDINATOR_GROUP: &str = "COORDINATOR_GROUP";
    /// The engine's HTTP port on the coordinators.
    pub const PRESTO_PORT: &str = "PRESTO_PORT";
    /// Seconds between two probes.
    pub const PROBE_INTERVAL_SECONDS: &str = "PROBE_INTERVAL_SECONDS";
    /// Seconds a probe may take.
    pub const PROBE_TIMEOUT_SECONDS: &str = "PROBE_TIMEOUT_SECONDS";
    /// Seconds a coordinator must fail without a break before it is replaced.
    pub const GRACE_SECONDS: &str = "GRACE_SECONDS";
    /// Seconds the active coordinator may do nothing but refuse connections before it
    /// is replaced.
    pub const REFUSED_SECONDS: &str = "REFUSED_SECONDS";
}

/// Environment variables the custom-resource Lambda reads: whom it answers.
pub mod custom_resource_env {
    /// The stack it serves; an event of any other stack is refused.
    pub const STACK_ID: &str = "STACK_ID";
    /// The domain of the services answers go to (`amazonaws.com`, or
    /// `amazonaws.com.cn` in China): a `ResponseURL` must be `https://` on a host
    /// in it.
    pub const RESPONSE_DOMAIN: &str = "RESPONSE_DOMAIN";
}

/// The `Custom::CoordinatorDns` resource: its type, its properties (besides
/// `ServiceToken`; CloudFormation delivers every one of them as a string) and the
/// attributes of its answer, read with `Fn::GetAtt`.
pub mod dns_resource {
    /// The resource type.
    pub const TYPE: &str = "Custom::CoordinatorDns";
    /// Property: id of the private hosted zone.
    pub const HOSTED_ZONE_ID: &str = "HostedZoneId";
    /// Property and attribute: fully qualified name of the A record, without the
    /// final dot.
    pub const RECORD_NAME: &str = "RecordName";
    /// Property: TTL of the record, in seconds.
    pub const TTL: &str = "Ttl";
    /// Property: name of the coordinators' Auto Scaling group.
    pub const COORDINATOR_GROUP: &str = "CoordinatorGroupName";
    /// Property: the engine's HTTP port on the coordinators.
    pub const PRESTO_PORT: &str = "PrestoHttpPort";
    /// Property: seconds a probe may take; the parameter's name, so that a refusal
    /// names what the user set.
    pub const PROBE_TIMEOUT_SECONDS: &str = super::parameters::PROBE_TIMEOUT_SECONDS;
    /// Property: seconds between two probes, checked against the grace.
    pub const PROBE_INTERVAL_SECONDS: &str = super::parameters::PROBE_INTERVAL_SECONDS;
    /// Property: the watcher's grace, checked against the probe interval and timeout.
    pub const GRACE_SECONDS: &str = super::parameters::FAILOVER_GRACE_SECONDS;
    /// Property: the watcher Lambda's name, which a stack's deletion stops before it
    /// removes the record and the notes.
    pub const WATCHER_FUNCTION: &str = "WatcherFunctionName";
    /// Property: the watcher Lambda's timeout in seconds, the longest a run that
    /// started before the stop can go on writing.
    pub const WATCHER_TIMEOUT_SECONDS: &str = "WatcherTimeoutSeconds";
    /// Property: seconds an update that replaces the coordinator group waits, after
    /// moving the record, for the old group's queries to finish.
    pub const DRAIN_SECONDS: &str = super::parameters::COORDINATOR_DRAIN_SECONDS;
    /// Property: the port clients reach the coordinators on (HTTPS with client
    /// security on), where the old group's queries are counted.
    pub const CLIENT_PORT: &str = "ClientPort";
    /// Property, present with client security on: the authority the coordinators'
    /// certificate is checked against (PEM), or [`SYSTEM_AUTHORITY`] for a
    /// certificate the user gave, which the system's roots vouch for.
    pub const CLIENT_AUTHORITY: &str = "ClientAuthority";
    /// The [`CLIENT_AUTHORITY`] that means the system's roots.
    pub const SYSTEM_AUTHORITY: &str = "system";
    /// Property, present with client security on: the secret of the admin user's
    /// password, the user the queries are counted as.
    pub const ADMIN_SECRET: &str = "AdminPasswordSecret";
    /// Attribute: the private IP the record points at.
    pub const COORDINATOR_IP: &str = "CoordinatorIp";
    /// Attribute: the instance the record points at.
    pub const COORDINATOR_INSTANCE_ID: &str = "CoordinatorInstanceId";
}

/// The `Custom::PinnedImage` resource: the image every node boots, resolved once and
/// kept, so that an update replaces coordinators only when asked to.
pub mod image_resource {
    /// The resource type.
    pub const TYPE: &str = "Custom::PinnedImage";
    /// Property: the image asked for, the `ImageId` parameter: empty to keep the
    /// pinned one (the latest at creation), [`LATEST`] to take the latest now, or an
    /// AMI id.
    pub const IMAGE_ID: &str = "ImageId";
    /// Property: the SSM parameter that names the latest image.
    pub const LATEST_PARAMETER: &str = "LatestImageParameter";
    /// Attribute: the image pinned.
    pub const PINNED_IMAGE_ID: &str = "ImageId";
    /// The `ImageId` value that asks for the latest image.
    pub const LATEST: &str = "latest";
}

/// The `Custom::TlsCertificate` resource: the coordinators' certificate for the
/// coordinator record, made by the stack under its own certificate authority or
/// checked when the user gives one.
pub mod tls_resource {
    /// The resource type.
    pub const TYPE: &str = "Custom::TlsCertificate";
    /// Property: the name the certificate must be valid for, the coordinator record.
    pub const RECORD_NAME: &str = "RecordName";
    /// Property: the user's secret holding a certificate chain and its key, in the
    /// form of [`super::tls_secret`]; empty to have the stack make one.
    pub const GIVEN_SECRET: &str = "GivenCertificateSecretArn";
    /// Property: the stack's secret a made certificate is written to.
    pub const MADE_SECRET: &str = "MadeCertificateSecretArn";
    /// Property: the stack's secret holding its certificate authority, read by this
    /// resource only.
    pub const AUTHORITY_SECRET: &str = "AuthoritySecretArn";
    /// Property: the credentials revision; a new one reissues the certificate.
    pub const REVISION: &str = super::parameters::CREDENTIALS_REVISION;
    /// Attribute: the secret the coordinators read their certificate from.
    pub const CERTIFICATE_SECRET: &str = "CertificateSecretArn";
    /// Attribute: the stack's certificate authority in PEM, which clients trust;
    /// empty when the user gave the certificate.
    pub const CA_CERTIFICATE: &str = "CaCertificate";
}

/// The `Custom::ExchangeBucket` resource: the bucket Trino's fault-tolerant execution
/// spools to, emptied when the stack is deleted so that CloudFormation can delete it.
pub mod exchange_resource {
    /// The resource type.
    pub const TYPE: &str = "Custom::ExchangeBucket";
    /// Property and attribute: the bucket's name.
    pub const BUCKET_NAME: &str = "BucketName";
}

/// The JSON keys of a certificate secret: PEM texts.
pub mod tls_secret {
    /// The certificate chain, the coordinators' own certificate first.
    pub const CERTIFICATE: &str = "certificate";
    /// The private key of the first certificate, PKCS #8.
    pub const PRIVATE_KEY: &str = "privateKey";
}

/// The users who may log on: each users secret is a JSON object of user names and
/// their passwords.
pub mod users {
    /// The user the stack makes, whose password it generates.
    pub const ADMIN: &str = "admin";
}

/// The TXT records the watcher keeps next to the coordinator record, in the stack's
/// zone: `<prefix>.<record name>`.
pub mod notes {
    /// The watcher's memory across cold starts.
    pub const MEMORY_PREFIX: &str = "_presto-ha-watcher";
    /// The watcher's last switch of the record.
    pub const LAST_FAILOVER_PREFIX: &str = "_presto-ha-failover";
    /// The A records naming each coordinator, `member-<slot>.<record>`, slots 1 to
    /// [`crate::limits::COORDINATORS`]'s end: Trino's workers announce to each, so
    /// that every standby knows them before it takes over.
    pub const MEMBER_PREFIX: &str = "member";

    /// The member record of `slot` for the coordinator record `record` (no trailing dot).
    pub fn member_name(slot: u8, record: &str) -> String {
        format!("{MEMBER_PREFIX}-{slot}.{record}")
    }
}

/// The valid range of every number the parts share. The template carries each as
/// `MinValue`/`MaxValue`, the command line checks its flags against it, and the
/// Lambdas refuse a setting outside it.
pub mod limits {
    use std::ops::RangeInclusive;

    /// How many coordinators (one active, the rest hot standbys) a stack may run.
    ///
    /// One standby covers the usual failure; two cover a second failure while the ASG
    /// is still launching the replacement for the first, or the loss of an AZ in a
    /// three-AZ layout. Past five, every extra idle coordinator costs a full instance
    /// and adds no availability that the ASG's replacement does not already give.
    pub const COORDINATORS: RangeInclusive<u8> = 1..=5;
    /// Stopped coordinators in the warm pool: none, or up to one per coordinator a
    /// single failure can take (an AZ's worth at most).
    pub const COORDINATOR_WARM_POOL: RangeInclusive<u8> = 0..=3;
    /// Workers per stack. Zero is refused: coordinators do not schedule work here.
    pub const WORKERS: RangeInclusive<u16> = 1..=500;
    /// The engine's HTTP port. Below 1024 needs root, and the engine runs as its own
    /// user.
    pub const PRESTO_PORT: RangeInclusive<u16> = 1024..=65535;
    /// The external Hive metastore's port.
    pub const METASTORE_PORT: RangeInclusive<u16> = 1..=65535;
    /// Seconds between two probes of the coordinators.
    pub const PROBE_INTERVAL_SECONDS: RangeInclusive<u16> = 1..=30;
    /// Seconds a probe may take before it counts as a failure.
    pub const PROBE_TIMEOUT_SECONDS: RangeInclusive<u16> = 1..=30;
    /// Seconds a coordinator must fail without a break before it is replaced.
    pub const GRACE_SECONDS: RangeInclusive<u16> = 5..=300;
    /// Seconds the active coordinator may only refuse connections before it is
    /// replaced; a value above the grace acts as the grace.
    pub const REFUSED_SECONDS: RangeInclusive<u16> = 1..=300;
    /// The most workers: one more than the most the minimum may be, for the spare a
    /// rolling update needs.
    pub const WORKERS_MAX: RangeInclusive<u16> = 2..=501;
    /// The workers' target CPU, in percent.
    pub const WORKERS_TARGET_CPU: RangeInclusive<u8> = 10..=90;
    /// Seconds a worker may drain: Auto Scaling's lifecycle hooks wait 30 s to 2 h.
    pub const WORKER_DRAIN_SECONDS: RangeInclusive<u16> = 30..=7200;
    /// Seconds an update keeps the old coordinators for their queries. The drain
    /// happens inside one invocation of the custom resource's Lambda, so it is what
    /// [`super::CUSTOM_RESOURCE_TIMEOUT_SECONDS`] leaves after waiting out the old
    /// watcher's runs ([`super::WATCHER_TIMEOUT_SECONDS`]), moving the record (up to
    /// 2 minutes' wait for a healthy coordinator, 30 s for Route 53) and answering.
    pub const COORDINATOR_DRAIN_SECONDS: RangeInclusive<u16> = 0..=600;
    /// The workers' spot share, in percent: a multiple of [`WORKER_SPOT_STEP`].
    pub const WORKER_SPOT_PERCENT: RangeInclusive<u8> = 0..=100;
    /// The step of the spot share, which keeps the console's choice a short list.
    pub const WORKER_SPOT_STEP: u8 = 10;
    /// How many instance types the workers may run on besides their own.
    pub const WORKER_OTHER_INSTANCE_TYPES: usize = 3;
    /// TTLs of the coordinator record that the Lambdas accept.
    pub const RECORD_TTL_SECONDS: RangeInclusive<u32> = 1..=3600;
}

/// The watcher Lambda's timeout: one scheduled minute of probing plus room to finish
/// a failover it started near the end. No run lasts longer, which is what lets a
/// stack's deletion know when the last one has ended.
pub const WATCHER_TIMEOUT_SECONDS: u32 = 90;

/// The custom resource Lambda's timeout: Lambda's longest, for an update's drain of
/// the old coordinators. CloudFormation waits for an answer a little longer.
pub const CUSTOM_RESOURCE_TIMEOUT_SECONDS: u32 = 900;

/// How long a client may keep a resolved address beyond the record's TTL: a JVM
/// caches a lookup for 30 s by default. Whoever drains a coordinator the record has
/// left waits this long (after the TTL) before its query count can mean it is idle.
pub const CLIENT_CACHE_SECONDS: u32 = 30;

/// TTL of the coordinator record. Workers' JVMs cache lookups for the same time, so
/// after a switch every node follows within about twice this.
pub const RECORD_TTL_SECONDS: u32 = 5;

/// A range of any unsigned width as `u64`, for code that reads numbers from text.
pub fn widen<T: Into<u64> + Copy>(range: &RangeInclusive<T>) -> RangeInclusive<u64> {
    (*range.start()).into()..=(*range.end()).into()
}

/// A probe setting that must be shorter than the grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeSetting {
    /// The time between two probes.
    Interval,
    /// The time one probe may take.
    Timeout,
}

/// The watcher's timings do not fit together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{setting:?} of {value:?} is not shorter than the grace of {grace:?}")]
pub struct TimingError {
    /// The setting that is too long.
    pub setting: ProbeSetting,
    /// Its value.
    pub value: Duration,
    /// The grace it must stay below.
    pub grace: Duration,
}

/// The rule that spans the watcher's timings: a grace no longer than one probe
/// interval or one probe timeout would fail a coordinator on a single slow answer.
pub fn check_timing(
    interval: Duration,
    timeout: Duration,
    grace: Duration,
) -> Result<(), TimingError> {
    for (setting, value) in [
        (ProbeSetting::Interval, interval),
        (ProbeSetting::Timeout, timeout),
    ] {
        if value >= grace {
            return Err(TimingError {
                setting,
                value,
                grace,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_below_the_grace_pass_and_the_first_long_one_is_named() {
        let s = Duration::from_secs;
        assert_eq!(check_timing(s(2), s(2), s(15)), Ok(()));
        assert_eq!(
            check_timing(s(15), s(20), s(15)),
            Err(TimingError {
                setting: ProbeSetting::Interval,
                value: s(15),
                grace: s(15)
            })
        );
        assert_eq!(
            check_timing(s(2), s(16), s(15)).map_err(|e| e.setting),
            Err(ProbeSetting::Timeout)
        );
    }

    #[test]
    fn the_defaults_of_the_template_fit_the_limits() {
        assert!(limits::RECORD_TTL_SECONDS.contains(&RECORD_TTL_SECONDS));
        assert_eq!(widen(&limits::PRESTO_PORT), 1024..=65535);
    }

    #[test]
    fn note_prefixes_are_distinct_underscore_labels() {
        for prefix in [notes::MEMORY_PREFIX, notes::LAST_FAILOVER_PREFIX] {
            assert!(prefix.starts_with('_') && !prefix.contains('.'), "{prefix}");
        }
        assert_ne!(notes::MEMORY_PREFIX, notes::LAST_FAILOVER_PREFIX);
    }
}
