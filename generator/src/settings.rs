//! The validated choices a template is generated from, with their limits.
//!
//! Every limit lives here once: the command line checks a flag against it, and the
//! template carries the same bound to the console (`MinValue`, `AllowedPattern`), so a
//! value the command accepts is one CloudFormation accepts too.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use ipnet::Ipv4Net;

/// How many coordinators (one active, the rest hot standbys) a stack may run.
///
/// One standby covers the usual failure; two cover a second failure while the ASG is
/// still launching the replacement for the first, or the loss of an AZ in a three-AZ
/// layout. Past five, every extra idle coordinator costs a full instance and adds no
/// availability that the ASG's replacement does not already give.
pub const COORDINATORS: RangeInclusive<u8> = 1..=5;
/// Workers per stack. Zero is refused: coordinators do not schedule work here.
pub const WORKERS: RangeInclusive<u16> = 1..=500;
/// Presto's HTTP port. Below 1024 needs root, and Presto runs as its own user.
pub const PRESTO_PORT: RangeInclusive<u16> = 1024..=65535;
/// Seconds between two probes of the coordinators.
pub const PROBE_INTERVAL_SECONDS: RangeInclusive<u16> = 1..=30;
/// Seconds a probe may take before it counts as a failure.
pub const PROBE_TIMEOUT_SECONDS: RangeInclusive<u16> = 1..=30;
/// Seconds a coordinator must fail without a break before it is replaced.
pub const GRACE_SECONDS: RangeInclusive<u16> = 5..=300;

/// TTL of the coordinator record. Workers' JVMs cache lookups for the same time, so
/// after a switch every node follows within about twice this.
pub const RECORD_TTL_SECONDS: u32 = 5;

/// `AllowedPattern` for an IPv4 CIDR parameter.
pub const CIDR_PATTERN: &str = r"^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$";
/// `AllowedPattern` for a DNS name: lowercase labels of at most 63 characters.
pub const ZONE_NAME_PATTERN: &str =
    r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.){0,8}[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// `AllowedPattern` for one DNS label.
pub const LABEL_PATTERN: &str = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";
/// `AllowedPattern` for an EC2 instance type.
pub const INSTANCE_TYPE_PATTERN: &str = r"^[a-z][a-z0-9-]*\.[a-z0-9]+$";
/// `AllowedPattern` for a Presto release number.
pub const PRESTO_VERSION_PATTERN: &str = r"^[0-9]+(\.[0-9]+)*$";
/// `AllowedPattern` for Presto's `node.environment`.
pub const ENVIRONMENT_PATTERN: &str = r"^[a-z0-9][_a-z0-9]*$";
/// `AllowedPattern` for an S3 bucket name.
pub const BUCKET_PATTERN: &str = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
/// `AllowedPattern` for an S3 object key.
pub const OBJECT_KEY_PATTERN: &str = r"^[^/].{0,1023}$";

/// Everything a generated template can vary. Each field becomes the default of a
/// template parameter; `None` leaves the parameter without a default, so the console
/// asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackSettings {
    /// Default of `HACoordinatorsCount`.
    pub coordinators: u8,
    /// Default of `WorkersCount`.
    pub workers: u16,
    /// Default of `CoordinatorInstanceType`.
    pub coordinator_instance_type: InstanceType,
    /// Default of `WorkerInstanceType`.
    pub worker_instance_type: InstanceType,
    /// Default of `KeyName`.
    pub key_name: Option<String>,
    /// Default of `PrestoVersion`.
    pub presto_version: PrestoVersion,
    /// Default of `PrestoHttpPort`.
    pub presto_port: u16,
    /// Default of `HostedZoneName`.
    pub zone_name: DnsName,
    /// Default of `CoordinatorRecordName`, a label inside the zone.
    pub record_label: DnsLabel,
    /// Default of `ClientCidr`: who may reach Presto's port.
    pub client_cidr: Option<Cidr>,
    /// Default of `SshCidr`: who may reach port 22.
    pub ssh_cidr: Option<Cidr>,
    /// Default of `LambdaCodeBucket`.
    pub code_bucket: Option<BucketName>,
    /// Default of `CustomResourceCodeKey`.
    pub custom_resource_code_key: ObjectKey,
    /// Default of `WatcherCodeKey`.
    pub watcher_code_key: ObjectKey,
    /// Default of `ProbeIntervalSeconds`.
    pub probe_interval_seconds: u16,
    /// Default of `ProbeTimeoutSeconds`.
    pub probe_timeout_seconds: u16,
    /// Default of `FailoverGraceSeconds`.
    pub grace_seconds: u16,
    /// The instruction set the Lambda zips were built for. Not a parameter: it must
    /// match the code in the bucket, which `package` knows and the console user does not.
    pub lambda_architecture: LambdaArchitecture,
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
            coordinator_instance_type: InstanceType(parse("m6i.xlarge")),
            worker_instance_type: InstanceType(parse("m6i.2xlarge")),
            key_name: None,
            presto_version: PrestoVersion(parse("0.293")),
            presto_port: 8080,
            zone_name: DnsName(parse("presto.internal")),
            record_label: DnsLabel(parse("coordinator")),
            client_cidr: None,
            ssh_cidr: None,
            code_bucket: None,
            custom_resource_code_key: ObjectKey(parse("presto-ha/custom-resource.zip")),
            watcher_code_key: ObjectKey(parse("presto-ha/watcher.zip")),
            probe_interval_seconds: 2,
            probe_timeout_seconds: 2,
            grace_seconds: 15,
            lambda_architecture: LambdaArchitecture::X86_64,
        }
    }
}

/// A value that does not fit its setting.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    /// Two settings that are each fine do not fit together.
    #[error("{flag} ({value}s) must be shorter than --grace ({grace}s)")]
    LongerThanGrace {
        /// The flag that is too long.
        flag: &'static str,
        /// Its value.
        value: u16,
        /// The grace period it must stay below.
        grace: u16,
    },
}

impl StackSettings {
    /// Checks the rules that span several settings. A grace no longer than one probe
    /// would fail a coordinator on a single slow answer.
    pub fn validate(&self) -> Result<(), SettingsError> {
        for (flag, value) in [
            ("--probe-interval", self.probe_interval_seconds),
            ("--probe-timeout", self.probe_timeout_seconds),
        ] {
            if value >= self.grace_seconds {
                return Err(SettingsError::LongerThanGrace {
                    flag,
                    value,
                    grace: self.grace_seconds,
                });
            }
        }
        Ok(())
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
    /// A Presto release number such as `0.293`.
    PrestoVersion,
    PRESTO_VERSION_PATTERN,
    "a Presto release number like 0.293"
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
        assert!(COORDINATORS.contains(&settings.coordinators));
        assert!(WORKERS.contains(&settings.workers));
        assert!(PRESTO_PORT.contains(&settings.presto_port));
    }

    #[test]
    fn cidr_accepts_canonical_networks_only() {
        assert_eq!(
            "10.0.0.0/8".parse::<Cidr>().map(|c| c.to_string()),
            Ok("10.0.0.0/8".into())
        );
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().map(|c| c.to_string()),
            Ok("0.0.0.0/0".into())
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
        for bad in ["", "0..293", "v0.293", "0.293-SNAPSHOT"] {
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
