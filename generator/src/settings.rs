//! The validated choices a template is generated from, with their limits.
//!
//! Every pattern lives here once, and every numeric limit once in the shared contract:
//! the command line checks a flag against it, and the template carries the same bound
//! to the console (`MinValue`, `AllowedPattern`), so a value the command accepts is one
//! CloudFormation accepts too.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use ipnet::Ipv4Net;
use presto_ha_contract::limits;
use presto_ha_contract::{ProbeSetting, check_timing};

/// An IPv4 CIDR of any prefix length but 0, which would be the whole internet.
macro_rules! cidr {
    () => {
        r"((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(3[0-2]|[12][0-9]|[1-9])"
    };
}

/// `AllowedPattern` for an IPv4 CIDR parameter.
pub const CIDR_PATTERN: &str = concat!("^", cidr!(), "$");

/// The same, or empty.
pub const OPTIONAL_CIDR_PATTERN: &str = concat!("^$|^", cidr!(), "$");

/// `AllowedPattern` for an EC2 key pair name: up to 255 printable ASCII characters,
/// or empty for none.
pub const KEY_NAME_PATTERN: &str = r"^[\x20-\x7E]{0,255}$";

/// `AllowedPattern` for an e-mail address, or empty for none.
pub const EMAIL_PATTERN: &str = r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$";

/// Why a /0 network is refused, wherever a CIDR is given.
pub const WORLD_CIDR_REFUSED: &str = "a /0 network is the whole internet, and nothing of the cluster may face it; give the network that needs access";
/// `AllowedPattern` for a DNS name: lowercase labels of at most 63 characters.
pub const ZONE_NAME_PATTERN: &str =
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.){0,8}[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// `AllowedPattern` for one DNS label.
pub const LABEL_PATTERN: &str = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// `AllowedPattern` for an EC2 instance type.
pub const INSTANCE_TYPE_PATTERN: &str = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$";
/// `AllowedPattern` for the image asked for: empty (keep the pinned one), `latest`,
/// or an AMI id.
pub const IMAGE_PATTERN: &str = r"^(|latest|ami-[0-9a-f]{8}|ami-[0-9a-f]{17})$";
/// The SSM parameter naming the latest Amazon Linux 2023 image for the nodes.
pub const LATEST_IMAGE_PARAMETER: &str =
    "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64";
/// `AllowedPattern` for the engine's release number; empty picks [`Engine::default_version`].
pub const PRESTO_VERSION_PATTERN: &str = r"^([0-9]+(\.[0-9]+)*)?$";
/// `AllowedPattern` for a pinned SHA-256 of the engine's tarball: 64 lowercase hex
/// digits, or empty.
pub const SHA256_PATTERN: &str = r"^([0-9a-f]{64})?$";
/// `AllowedPattern` for the external metastore's host: a DNS name or an IPv4 address,
/// or empty.
pub const HOST_PATTERN: &str = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*)?$";
/// `AllowedPattern` for an optional `s3://bucket/key` object: printable ASCII without
/// spaces or quotes, since the nodes' boot script quotes it.
pub const S3_URI_PATTERN: &str = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[!#-&(-~]{1,1024})?$";
/// `AllowedPattern` of an optional Secrets Manager secret ARN.
pub const SECRET_ARN_PATTERN: &str =
    r"^(arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+)?$";
/// `AllowedPattern` of the credentials revision label.
pub const REVISION_PATTERN: &str = r"^[A-Za-z0-9._-]{1,32}$";
/// `AllowedPattern` for Presto's `node.environment`.
pub const ENVIRONMENT_PATTERN: &str = r"^[a-z0-9][_a-z0-9]*$";
/// `AllowedPattern` for an S3 bucket name.
pub const BUCKET_PATTERN: &str = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
/// `AllowedPattern` for an S3 object key.
pub const OBJECT_KEY_PATTERN: &str = r"^[^/].{0,1023}$";

/// Everything a generated template can vary, and so the flags of `generate`: each
/// field becomes the default of a template parameter, and `None` leaves the parameter
/// without a default, so the console asks for it.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct StackSettings {
    /// Coordinators to run, one active and the rest hot standbys; 1 means no standby
    /// (a failure waits for a replacement). Parameter HACoordinatorsCount.
    #[arg(long, value_name = "N", default_value_t = defaults().coordinators, value_parser = clap::value_parser!(u8).range(clap_range(limits::COORDINATORS)))]
    pub coordinators: u8,

    /// Presto workers. Parameter WorkersCount.
    #[arg(long, value_name = "N", default_value_t = defaults().workers, value_parser = clap::value_parser!(u16).range(clap_range(limits::WORKERS)))]
    pub workers: u16,

    /// The most workers the group scales out to; above --workers, which leaves one
    /// spare for rolling updates. Without it, twice --workers and at least 10.
    /// Parameter WorkersMaxCount.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(clap_range(limits::WORKERS_MAX)))]
    pub workers_max: Option<u16>,

    /// The workers' average CPU (percent) the group adds or removes workers to keep.
    /// Parameter WorkersTargetCpuPercent.
    #[arg(long, value_name = "PERCENT", default_value_t = defaults().workers_target_cpu, value_parser = clap::value_parser!(u8).range(clap_range(limits::WORKERS_TARGET_CPU)))]
    pub workers_target_cpu: u8,

    /// EC2 instance type of the coordinators. Parameter CoordinatorInstanceType.
    #[arg(long, value_name = "TYPE", default_value_t = defaults().coordinator_instance_type)]
    pub coordinator_instance_type: InstanceType,

    /// EC2 instance type of the workers. Parameter WorkerInstanceType.
    #[arg(long, value_name = "TYPE", default_value_t = defaults().worker_instance_type)]
    pub worker_instance_type: InstanceType,

    /// The share of the workers on spot capacity, in percent (a multiple of 10);
    /// coordinators never run on spot. Parameter WorkerSpotPercent.
    #[arg(long, value_name = "PERCENT", default_value_t = 0, value_parser = spot_percent)]
    pub worker_spot_percent: u8,

    /// Up to three more instance types the workers may run on, comma separated, of
    /// a size like --worker-instance-type's. Parameter WorkerOtherInstanceTypes.
    #[arg(long, value_name = "TYPE,...", value_delimiter = ',')]
    pub worker_other_instance_types: Vec<InstanceType>,

    /// EC2 key pair for SSH; without it the nodes have no key and Session Manager
    /// is the way in. Parameter KeyName.
    #[arg(long, value_name = "NAME")]
    pub key_name: Option<String>,

    /// An address the alarms are mailed to; without it, nobody is subscribed to the
    /// alarm topic. Parameter NotificationEmail.
    #[arg(long, value_name = "ADDRESS")]
    pub notification_email: Option<EmailAddress>,

    /// The engine every node runs. Parameter Engine.
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = defaults().engine)]
    pub engine: Engine,

    /// The engine's release; without it, the release this project was checked with
    /// (presto 0.297, trino 479). Parameter PrestoVersion.
    #[arg(long, value_name = "VERSION")]
    pub presto_version: Option<PrestoVersion>,

    /// Where the hive and iceberg catalogs keep their metadata. Parameter
    /// MetastoreType.
    #[arg(long, value_enum, value_name = "TYPE", default_value_t = defaults().metastore)]
    pub metastore: Metastore,

    /// Trino's fault-tolerant execution: its retry policy, with the exchange spooled
    /// to a bucket the stack makes; trino only. Parameter FaultTolerantExecution.
    #[arg(long, value_enum, value_name = "POLICY", default_value_t = defaults().fault_tolerant_execution)]
    pub fault_tolerant_execution: FaultTolerance,

    /// Presto's HTTP port (1024-65535). Parameter PrestoHttpPort.
    #[arg(long, value_name = "PORT", default_value_t = defaults().presto_port, value_parser = clap::value_parser!(u16).range(clap_range(limits::PRESTO_PORT)))]
    pub presto_port: u16,

    /// The coordinators' HTTPS port for clients (1024-65535). Parameter
    /// PrestoHttpsPort.
    #[arg(long, value_name = "PORT", default_value_t = defaults().https_port, value_parser = clap::value_parser!(u16).range(clap_range(limits::PRESTO_PORT)))]
    pub https_port: u16,

    /// Labs only: clients get plain HTTP and no authentication, and anyone who can
    /// reach the client CIDR can run queries as any user. Parameter ClientSecurity.
    #[arg(long = "no-tls")]
    pub no_tls: bool,

    /// Name of the private hosted zone. Parameter HostedZoneName.
    #[arg(long, value_name = "NAME", default_value_t = defaults().zone_name)]
    pub zone_name: DnsName,

    /// Label of the coordinator record inside the zone. Parameter CoordinatorRecordName.
    #[arg(long = "record-name", value_name = "LABEL", default_value_t = defaults().record_label)]
    pub record_label: DnsLabel,

    /// IPv4 CIDR allowed to reach Presto's port; without it the stack's creator must
    /// give one. Parameter ClientCidr.
    #[arg(long, value_name = "CIDR")]
    pub client_cidr: Option<Cidr>,

    /// IPv4 CIDR allowed to reach SSH (with --key-name); without it nobody reaches
    /// port 22 and Session Manager is the way in. Parameter SshCidr.
    #[arg(long, value_name = "CIDR")]
    pub ssh_cidr: Option<Cidr>,

    /// IPv4 CIDR of data sources the nodes may reach on any TCP port (databases, a
    /// Hive metastore); without it nodes reach only HTTPS and each other. Parameter
    /// DataSourceCidr.
    #[arg(long, value_name = "CIDR")]
    pub data_source_cidr: Option<Cidr>,

    /// S3 bucket holding the Lambda zips; without it the stack's creator must give
    /// one. Parameter LambdaCodeBucket.
    #[arg(long, value_name = "BUCKET")]
    pub code_bucket: Option<BucketName>,

    /// S3 key of the DNS custom resource's zip. Parameter CustomResourceCodeKey.
    #[arg(long, value_name = "KEY", default_value_t = defaults().custom_resource_code_key)]
    pub custom_resource_code_key: ObjectKey,

    /// S3 key of the watcher's zip. Parameter WatcherCodeKey.
    #[arg(long, value_name = "KEY", default_value_t = defaults().watcher_code_key)]
    pub watcher_code_key: ObjectKey,

    /// Stopped coordinators kept prepared in the warm pool, to replace a failed one
    /// in about a minute instead of a fresh install's minutes; 0 for none.
    /// Parameter CoordinatorWarmPoolSize.
    #[arg(long = "coordinator-warm-pool", value_name = "N", default_value_t = defaults().coordinator_warm_pool_size, value_parser = clap::value_parser!(u8).range(clap_range(limits::COORDINATOR_WARM_POOL)))]
    pub coordinator_warm_pool_size: u8,

    /// Seconds between two probes of the coordinators. Parameter ProbeIntervalSeconds.
    #[arg(long = "probe-interval", value_name = "SECONDS", default_value_t = defaults().probe_interval_seconds, value_parser = clap::value_parser!(u16).range(clap_range(limits::PROBE_INTERVAL_SECONDS)))]
    pub probe_interval_seconds: u16,

    /// Seconds a probe may take before it counts as failed. Parameter ProbeTimeoutSeconds.
    #[arg(long = "probe-timeout", value_name = "SECONDS", default_value_t = defaults().probe_timeout_seconds, value_parser = clap::value_parser!(u16).range(clap_range(limits::PROBE_TIMEOUT_SECONDS)))]
    pub probe_timeout_seconds: u16,

    /// Seconds the active coordinator must fail without a break before it is replaced;
    /// longer than the probe interval and timeout. Parameter FailoverGraceSeconds.
    #[arg(long = "grace", value_name = "SECONDS", default_value_t = defaults().grace_seconds, value_parser = clap::value_parser!(u16).range(clap_range(limits::GRACE_SECONDS)))]
    pub grace_seconds: u16,

    /// Seconds the active coordinator may do nothing but refuse connections (its
    /// engine is not running) before it is replaced, while a standby is healthy; a
    /// value above the grace acts as the grace. Parameter FailoverRefusedSeconds.
    #[arg(long = "refused-grace", value_name = "SECONDS", default_value_t = defaults().refused_seconds, value_parser = clap::value_parser!(u16).range(clap_range(limits::REFUSED_SECONDS)))]
    pub refused_seconds: u16,

    /// Instruction set the Lambda zips in the bucket were built for (`package`
    /// builds them and sets this). Not a parameter: it must match the code in the
    /// bucket, which `package` knows and the console user does not.
    #[arg(long, value_enum, value_name = "ARCH", default_value_t = defaults().lambda_architecture)]
    pub lambda_architecture: LambdaArchitecture,
}

fn defaults() -> StackSettings {
    StackSettings::default()
}

/// A `RangeInclusive<u8>` or `<u16>` as clap's `i64` range.
fn clap_range<T: Into<i64> + Copy>(range: RangeInclusive<T>) -> RangeInclusive<i64> {
    (*range.start()).into()..=(*range.end()).into()
}

/// The engine every node runs. The names are the template's `AllowedValues` and what
/// the nodes' boot script switches on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Engine {
    /// prestodb.
    #[default]
    Presto,
    /// Trino.
    Trino,
}

impl Engine {
    /// Every engine, in the console's order.
    pub const ALL: [Self; 2] = [Self::Presto, Self::Trino];

    /// The name the template and the boot script use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Presto => "presto",
            Self::Trino => "trino",
        }
    }

    /// The release installed when `PrestoVersion` is empty: one checked to be
    /// published on Maven Central with its digest, and whose Java Amazon Linux 2023
    /// packages (prestodb 0.297 on Corretto 17; Trino 479 on Corretto 25).
    pub fn default_version(self) -> &'static str {
        match self {
            Self::Presto => presto_ha_contract::releases::PRESTO_DEFAULT,
            Self::Trino => presto_ha_contract::releases::TRINO_DEFAULT,
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What clients get: TLS and passwords, or (labs only) neither. The names are the
/// template's `AllowedValues`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientSecurity {
    /// HTTPS with password authentication, and a shared secret between the nodes.
    TlsAndPasswords,
    /// Plain HTTP without authentication.
    None,
}

impl ClientSecurity {
    /// Every choice, in the console's order.
    pub const ALL: [Self; 2] = [Self::TlsAndPasswords, Self::None];

    /// The choice `generate` was asked for.
    pub fn of(settings: &StackSettings) -> Self {
        if settings.no_tls {
            Self::None
        } else {
            Self::TlsAndPasswords
        }
    }

    /// The name the template uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TlsAndPasswords => "TLS and passwords",
            Self::None => "None (labs only)",
        }
    }
}

/// Where the hive and iceberg catalogs keep their metadata. The names are Starburst's,
/// which users of its template know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Metastore {
    /// No hive or iceberg catalog (only `tpch` and the user's own).
    #[default]
    None,
    /// The AWS Glue Data Catalog of the stack's region.
    Glue,
    /// A Hive metastore service at `ExternalMetastoreHost:ExternalMetastorePort`.
    External,
}

impl Metastore {
    /// Every type, in the console's order.
    pub const ALL: [Self; 3] = [Self::None, Self::Glue, Self::External];

    /// The value of the `MetastoreType` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Glue => "AWS Glue Data Catalog",
            Self::External => "External Hive Metastore Service",
        }
    }
}

impl fmt::Display for Metastore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Trino's fault-tolerant execution, as the `FaultTolerantExecution` parameter names
/// its retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum FaultTolerance {
    /// A query fails with the first task that fails (the engines' default).
    #[default]
    None,
    /// A failed task is retried on another worker from the exchange's spooled data.
    Task,
    /// A failed query is retried whole.
    Query,
}

impl FaultTolerance {
    /// Every policy, in the console's order.
    pub const ALL: [Self; 3] = [Self::None, Self::Task, Self::Query];

    /// The value of the `FaultTolerantExecution` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Task => "Task",
            Self::Query => "Query",
        }
    }
}

impl fmt::Display for FaultTolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The instruction set of the Lambda functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LambdaArchitecture {
    /// Intel and AMD.
    #[default]
    #[value(name = "x86_64")]
    X86_64,
    /// Graviton: the same work for about 20% less per second.
    Arm64,
}

impl LambdaArchitecture {
    /// The name Lambda uses in `Architectures`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "x86_64",
            Self::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for LambdaArchitecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for StackSettings {
    fn default() -> Self {
        let parse = |s: &str| s.parse().expect("built-in default is valid");
        Self {
            coordinators: 2,
            workers: 2,
            workers_max: None,
            workers_target_cpu: 60,
            coordinator_instance_type: InstanceType(parse("m6i.xlarge")),
            worker_instance_type: InstanceType(parse("m6i.2xlarge")),
            worker_spot_percent: 0,
            worker_other_instance_types: Vec::new(),
            key_name: None,
            notification_email: None,
            engine: Engine::Presto,
            presto_version: None,
            metastore: Metastore::None,
            fault_tolerant_execution: FaultTolerance::None,
            presto_port: 8080,
            https_port: 8443,
            no_tls: false,
            zone_name: DnsName(parse("presto.internal")),
            record_label: DnsLabel(parse("coordinator")),
            client_cidr: None,
            ssh_cidr: None,
            data_source_cidr: None,
            code_bucket: None,
            custom_resource_code_key: ObjectKey(parse("presto-ha/custom-resource.zip")),
            watcher_code_key: ObjectKey(parse("presto-ha/watcher.zip")),
            coordinator_warm_pool_size: 1,
            probe_interval_seconds: 2,
            probe_timeout_seconds: 2,
            grace_seconds: 15,
            refused_seconds: 4,
            lambda_architecture: LambdaArchitecture::X86_64,
        }
    }
}

/// A value that does not fit its setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// The maximum leaves no room above the minimum.
    #[error(
        "--workers-max ({max}) must exceed --workers ({min}): a rolling update needs one worker above the minimum"
    )]
    NoSpareWorker {
        /// --workers-max.
        max: u16,
        /// --workers.
        min: u16,
    },
    /// Too many other worker instance types, or one named twice.
    #[error(
        "--worker-other-instance-types ({given}) must name at most {most} types, each once and none of them --worker-instance-type"
    )]
    OtherInstanceTypes {
        /// The types given.
        given: String,
        /// How many it may name.
        most: usize,
    },
    /// The HTTP and HTTPS ports are one.
    #[error("--presto-port and --https-port are both {0}: the HTTPS port must differ")]
    SamePort(u16),
    /// Fault-tolerant execution asked of prestodb, which has none.
    #[error(
        "--fault-tolerant-execution {0} needs --engine trino: prestodb has no fault-tolerant execution"
    )]
    FaultToleranceNeedsTrino(String),
    /// Two settings that are each fine do not fit together.
    #[error("{flag} ({value}s) must be shorter than --grace ({grace}s)")]
    LongerThanGrace {
        /// The flag that is too long.
        flag: &'static str,
        /// Its value.
        value: u64,
        /// The grace period it must stay below.
        grace: u16,
    },
}

impl StackSettings {
    /// `--workers-max`, or twice `--workers` and at least 10 (at most the limit).
    pub fn most_workers(&self) -> u16 {
        self.workers_max.unwrap_or_else(|| {
            (self.workers.saturating_mul(2))
                .max(10)
                .min(*limits::WORKERS_MAX.end())
        })
    }

    /// `--worker-other-instance-types` as the parameter takes it: comma separated.
    pub fn other_worker_types(&self) -> String {
        let types: Vec<&str> = self
            .worker_other_instance_types
            .iter()
            .map(InstanceType::as_str)
            .collect();
        types.join(",")
    }

    /// Checks the rules that span several settings (the contract's
    /// [`check_timing`]).
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.presto_port == self.https_port {
            return Err(SettingsError::SamePort(self.presto_port));
        }
        if self.engine == Engine::Presto && self.fault_tolerant_execution != FaultTolerance::None {
            return Err(SettingsError::FaultToleranceNeedsTrino(
                self.fault_tolerant_execution.as_str().to_lowercase(),
            ));
        }
        if self.most_workers() <= self.workers {
            return Err(SettingsError::NoSpareWorker {
                max: self.most_workers(),
                min: self.workers,
            });
        }
        let others = &self.worker_other_instance_types;
        let mut all: Vec<&str> = others.iter().map(InstanceType::as_str).collect();
        all.push(self.worker_instance_type.as_str());
        all.sort_unstable();
        all.dedup();
        if others.len() > limits::WORKER_OTHER_INSTANCE_TYPES || all.len() != others.len() + 1 {
            return Err(SettingsError::OtherInstanceTypes {
                given: self.other_worker_types(),
                most: limits::WORKER_OTHER_INSTANCE_TYPES,
            });
        }
        let seconds = |n: u16| Duration::from_secs(n.into());
        check_timing(
            seconds(self.probe_interval_seconds),
            seconds(self.probe_timeout_seconds),
            seconds(self.grace_seconds),
        )
        .map_err(|e| SettingsError::LongerThanGrace {
            flag: match e.setting {
                ProbeSetting::Interval => "--probe-interval",
                ProbeSetting::Timeout => "--probe-timeout",
            },
            value: e.value.as_secs(),
            grace: self.grace_seconds,
        })
    }
}

macro_rules! validated_string {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $expected:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                check_pattern(s, $pattern, $expected).map(|()| Self(s.to_owned()))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl $name {
            /// The value as written.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

validated_string!(
    /// An EC2 instance type such as `m6i.xlarge`.
    InstanceType,
    INSTANCE_TYPE_PATTERN,
    "an instance type like m6i.xlarge"
);
validated_string!(
    /// An e-mail address.
    EmailAddress,
    EMAIL_PATTERN,
    "an e-mail address like ops@example.com"
);
validated_string!(
    /// The engine's release number, such as `0.297` or `479`.
    PrestoVersion,
    PRESTO_VERSION_PATTERN,
    "a release number like 0.297 (presto) or 479 (trino)"
);
validated_string!(
    /// A lowercase DNS name (one label or several, no trailing dot).
    DnsName,
    ZONE_NAME_PATTERN,
    "a lowercase DNS name like presto.internal"
);
validated_string!(
    /// One lowercase DNS label, such as `coordinator`.
    DnsLabel,
    LABEL_PATTERN,
    "a lowercase DNS label like coordinator"
);
validated_string!(
    /// An S3 bucket name.
    BucketName,
    BUCKET_PATTERN,
    "an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')"
);
validated_string!(
    /// An S3 object key.
    ObjectKey,
    OBJECT_KEY_PATTERN,
    "an S3 key (1-1024 characters, no leading '/')"
);

/// Checks `s` against the same pattern the template gives CloudFormation.
/// Every share of spot workers the stack allows.
pub fn spot_percents() -> impl Iterator<Item = u8> {
    limits::WORKER_SPOT_PERCENT.step_by(limits::WORKER_SPOT_STEP.into())
}

/// `AllowedPattern` of `WorkerOtherInstanceTypes`: empty, or up to
/// [`limits::WORKER_OTHER_INSTANCE_TYPES`] instance types, comma separated.
pub fn other_instance_types_pattern() -> String {
    let one = INSTANCE_TYPE_PATTERN
        .trim_start_matches('^')
        .trim_end_matches('$');
    format!(
        "^({one}(,{one}){{0,{}}})?$",
        limits::WORKER_OTHER_INSTANCE_TYPES - 1
    )
}

/// `--worker-spot-percent`: 0 to 100 in steps of [`limits::WORKER_SPOT_STEP`].
fn spot_percent(s: &str) -> Result<u8, String> {
    let step = limits::WORKER_SPOT_STEP;
    let (low, high) = limits::WORKER_SPOT_PERCENT.into_inner();
    s.parse::<u8>()
        .ok()
        .filter(|p| spot_percents().any(|allowed| allowed == *p))
        .ok_or_else(|| format!("{s} is not a percentage from {low} to {high} in steps of {step}"))
}

fn check_pattern(s: &str, pattern: &str, expected: &str) -> Result<(), String> {
    let regex = regex::Regex::new(pattern).expect("built-in pattern compiles");
    if regex.is_match(s) {
        Ok(())
    } else {
        Err(format!("expected {expected}"))
    }
}

/// An IPv4 network in canonical form (no host bits set), as security group rules
/// take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(Ipv4Net);

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let net: Ipv4Net = s
            .parse()
            .map_err(|_| "expected an IPv4 CIDR like 10.0.0.0/16".to_owned())?;
        if net.prefix_len() == 0 {
            return Err(WORLD_CIDR_REFUSED.to_owned());
        }
        if net.trunc() != net {
            return Err(format!("host bits are set; did you mean {}?", net.trunc()));
        }
        Ok(Self(net))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_consistent() {
        let settings = StackSettings::default();
        assert_eq!(settings.validate(), Ok(()));
        assert!(limits::COORDINATORS.contains(&settings.coordinators));
        assert!(limits::WORKERS.contains(&settings.workers));
        assert!(limits::PRESTO_PORT.contains(&settings.presto_port));
    }

    #[test]
    fn optional_patterns_accept_empty_and_refuse_what_aws_would() {
        let matches = |pattern: &str, text: &str| {
            regex::Regex::new(pattern).expect("compiles").is_match(text)
        };
        for (pattern, good, bad) in [
            (
                EMAIL_PATTERN,
                ["", "ops@example.com"],
                ["ops", "a b@example.com"],
            ),
            (
                KEY_NAME_PATTERN,
                ["", "ops key-1"],
                ["tab\there", "\u{e9}t\u{e9}"],
            ),
            (
                OPTIONAL_CIDR_PATTERN,
                ["", "10.0.0.0/8"],
                ["0.0.0.0/0", "::/0"],
            ),
            (
                &other_instance_types_pattern(),
                ["", "m5.2xlarge,m6a.2xlarge,m7i.2xlarge"],
                ["m5.2xlarge,", "m5.large,m5.xlarge,m5.2xlarge,m5.4xlarge"],
            ),
        ] {
            for text in good {
                assert!(matches(pattern, text), "{pattern} refuses {text:?}");
            }
            for text in bad {
                assert!(!matches(pattern, text), "{pattern} accepts {text:?}");
            }
        }
    }

    #[test]
    fn cidr_accepts_canonical_networks_only() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().map(|c| c.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!("0.0.0.0/0".parse::<Cidr>(), Err(WORLD_CIDR_REFUSED.into()));
        assert_eq!(
            "128.0.0.0/1".parse::<Cidr>().map(|c| c.to_string()),
            Ok("128.0.0.0/1".into())
        );
        assert_eq!(
            "10.1.2.3/16".parse::<Cidr>(),
            Err("host bits are set; did you mean 10.1.0.0/16?".into())
        );
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "256.0.0.0/8",
            "fd00::/8",
            "",
            "10.0.0.0/8 ",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn dns_names_are_lowercase_labels() {
        for good in ["presto.internal", "coordinator", "a-b.c1.example"] {
            assert!(good.parse::<DnsName>().is_ok(), "{good:?} was refused");
        }
        for bad in [
            "",
            "Presto.internal",
            "a..b",
            "-a.b",
            "a-.b",
            "a.b.",
            "a_b",
            &"a".repeat(64),
        ] {
            assert!(bad.parse::<DnsName>().is_err(), "{bad:?} was accepted");
        }
        assert!("coordinator".parse::<DnsLabel>().is_ok());
        assert!("coordinator.presto".parse::<DnsLabel>().is_err());
    }

    #[test]
    fn instance_types_buckets_and_versions() {
        assert!("m6i.xlarge".parse::<InstanceType>().is_ok());
        assert!("u-6tb1.metal".parse::<InstanceType>().is_ok());
        for bad in ["m6i", ".xlarge", "M6i.xlarge", "m6i.", "6i.large"] {
            assert!(bad.parse::<InstanceType>().is_err(), "{bad:?} was accepted");
        }
        assert!("my-code.bucket".parse::<BucketName>().is_ok());
        for bad in ["ab", "My-bucket", "-bucket", "bucket-", &"a".repeat(64)] {
            assert!(bad.parse::<BucketName>().is_err(), "{bad:?} was accepted");
        }
        assert!("0.293".parse::<PrestoVersion>().is_ok());
        assert!("479".parse::<PrestoVersion>().is_ok());
        for bad in ["0..293", "v0.293", "0.293-SNAPSHOT"] {
            assert!(
                bad.parse::<PrestoVersion>().is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn probe_settings_must_fit_inside_the_grace() {
        let settings = StackSettings {
            probe_timeout_seconds: 15,
            ..StackSettings::default()
        };
        assert_eq!(
            settings.validate().map_err(|e| e.to_string()),
            Err("--probe-timeout (15s) must be shorter than --grace (15s)".into())
        );
    }
}
