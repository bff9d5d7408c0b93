//! The `generate` command line: flags, their checks, and the run that prints a
//! template.
//!
//! Each flag sets the default of one template parameter, so a console user can still
//! change any of them when creating the stack.

use std::io::Write;
use std::ops::RangeInclusive;

use clap::Parser;

use crate::output::{self, Format};
use crate::settings::{
    self, BucketName, Cidr, DnsLabel, DnsName, InstanceType, LambdaArchitecture, ObjectKey,
    PrestoVersion, StackSettings,
};
use crate::template;

fn defaults() -> StackSettings {
    StackSettings::default()
}

/// A `RangeInclusive<u8>` or `<u16>` as clap's `i64` range.
fn range<T: Into<i64> + Copy>(range: RangeInclusive<T>) -> RangeInclusive<i64> {
    (*range.start()).into()..=(*range.end()).into()
}

/// Prints the CloudFormation template of a Presto cluster whose coordinator survives
/// failures: hot-standby coordinators, workers, a private DNS record and the Lambdas
/// that keep it pointing at a live coordinator.
#[derive(Debug, Parser)]
#[command(
    name = "generate",
    version,
    after_help = "Every flag sets the default of the template parameter named in its help; the stack's creator can still change it."
)]
pub struct Args {
    /// Coordinators to run, one active and the rest hot standbys; 1 means no standby
    /// (a failure waits for a replacement). Parameter HACoordinatorsCount.
    #[arg(long, value_name = "N", default_value_t = defaults().coordinators, value_parser = clap::value_parser!(u8).range(range(settings::COORDINATORS)))]
    pub coordinators: u8,

    /// Presto workers. Parameter WorkersCount.
    #[arg(long, value_name = "N", default_value_t = defaults().workers, value_parser = clap::value_parser!(u16).range(range(settings::WORKERS)))]
    pub workers: u16,

    /// EC2 instance type of the coordinators. Parameter CoordinatorInstanceType.
    #[arg(long, value_name = "TYPE", default_value_t = defaults().coordinator_instance_type)]
    pub coordinator_instance_type: InstanceType,

    /// EC2 instance type of the workers. Parameter WorkerInstanceType.
    #[arg(long, value_name = "TYPE", default_value_t = defaults().worker_instance_type)]
    pub worker_instance_type: InstanceType,

    /// EC2 key pair for SSH; without it the stack's creator picks one. Parameter KeyName.
    #[arg(long, value_name = "NAME")]
    pub key_name: Option<String>,

    /// Presto release installed on the nodes. Parameter PrestoVersion.
    #[arg(long, value_name = "VERSION", default_value_t = defaults().presto_version)]
    pub presto_version: PrestoVersion,

    /// Presto's HTTP port (1024-65535). Parameter PrestoHttpPort.
    #[arg(long, value_name = "PORT", default_value_t = defaults().presto_port, value_parser = clap::value_parser!(u16).range(range(settings::PRESTO_PORT)))]
    pub presto_port: u16,

    /// Name of the private hosted zone. Parameter HostedZoneName.
    #[arg(long, value_name = "NAME", default_value_t = defaults().zone_name)]
    pub zone_name: DnsName,

    /// Label of the coordinator record inside the zone. Parameter CoordinatorRecordName.
    #[arg(long, value_name = "LABEL", default_value_t = defaults().record_label)]
    pub record_name: DnsLabel,

    /// IPv4 CIDR allowed to reach Presto's port; without it the stack's creator must
    /// give one. Parameter ClientCidr.
    #[arg(long, value_name = "CIDR")]
    pub client_cidr: Option<Cidr>,

    /// IPv4 CIDR allowed to reach SSH; without it the stack's creator must give one.
    /// Parameter SshCidr.
    #[arg(long, value_name = "CIDR")]
    pub ssh_cidr: Option<Cidr>,

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

    /// Seconds between two probes of the coordinators. Parameter ProbeIntervalSeconds.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().probe_interval_seconds, value_parser = clap::value_parser!(u16).range(range(settings::PROBE_INTERVAL_SECONDS)))]
    pub probe_interval: u16,

    /// Seconds a probe may take before it counts as failed. Parameter ProbeTimeoutSeconds.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().probe_timeout_seconds, value_parser = clap::value_parser!(u16).range(range(settings::PROBE_TIMEOUT_SECONDS)))]
    pub probe_timeout: u16,

    /// Seconds the active coordinator must fail without a break before it is replaced;
    /// longer than the probe interval and timeout. Parameter FailoverGraceSeconds.
    #[arg(long, value_name = "SECONDS", default_value_t = defaults().grace_seconds, value_parser = clap::value_parser!(u16).range(range(settings::GRACE_SECONDS)))]
    pub grace: u16,

    /// Instruction set the Lambda zips in the bucket were built for (`package`
    /// builds them and sets this).
    #[arg(long, value_enum, value_name = "ARCH", default_value_t = defaults().lambda_architecture)]
    pub lambda_architecture: LambdaArchitecture,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

impl Args {
    /// The settings these arguments ask for, checked as a whole.
    pub fn settings(&self) -> Result<StackSettings, settings::SettingsError> {
        let settings = StackSettings {
            coordinators: self.coordinators,
            workers: self.workers,
            coordinator_instance_type: self.coordinator_instance_type.clone(),
            worker_instance_type: self.worker_instance_type.clone(),
            key_name: self.key_name.clone(),
            presto_version: self.presto_version.clone(),
            presto_port: self.presto_port,
            zone_name: self.zone_name.clone(),
            record_label: self.record_name.clone(),
            client_cidr: self.client_cidr,
            ssh_cidr: self.ssh_cidr,
            code_bucket: self.code_bucket.clone(),
            custom_resource_code_key: self.custom_resource_code_key.clone(),
            watcher_code_key: self.watcher_code_key.clone(),
            probe_interval_seconds: self.probe_interval,
            probe_timeout_seconds: self.probe_timeout,
            grace_seconds: self.grace,
            lambda_architecture: self.lambda_architecture,
        };
        settings.validate()?;
        Ok(settings)
    }
}

/// Why `generate` printed no template.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The flags do not fit together.
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    /// A Presto file did not render.
    #[error(transparent)]
    Render(#[from] crate::presto::RenderError),
    /// The template could not be written.
    #[error(transparent)]
    Write(#[from] output::WriteError),
}

/// Builds the template `args` ask for and writes it to `out`. The whole template is
/// built before the first byte is written, so a failure prints nothing.
pub fn run(args: &Args, out: &mut impl Write) -> Result<(), GenerateError> {
    let template = template::build(&args.settings()?)?;
    let mut text = Vec::new();
    output::write(&template, args.format, &mut text)?;
    out.write_all(&text).map_err(output::WriteError::from)?;
    Ok(())
}

/// A clap error on one line, for `generate`.
pub fn one_line(error: &clap::Error) -> String {
    one_line_with_hint(error, "see 'generate --help' for the flags")
}

/// A clap error on one line: its first line names the argument and what it allows; a
/// missing argument is named on the lines after it, and an unknown one gets `hint`.
/// Shared by the project's command lines.
pub fn one_line_with_hint(error: &clap::Error, hint: &str) -> String {
    use clap::error::ErrorKind;
    let rendered = error.render().to_string();
    let mut lines = rendered.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("error: invalid arguments");
    match error.kind() {
        ErrorKind::MissingRequiredArgument => {
            let missing: Vec<&str> = lines.take_while(|l| !l.starts_with("Usage:")).collect();
            format!("{first} {}", missing.join(", "))
        }
        ErrorKind::UnknownArgument
        | ErrorKind::InvalidSubcommand
        | ErrorKind::MissingSubcommand => {
            format!("{first}; {hint}")
        }
        _ => first.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::try_parse_from(std::iter::once("generate").chain(args.iter().copied()))
            .map_err(|e| one_line(&e))
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Args::command().debug_assert();
    }

    #[test]
    fn no_flags_means_the_default_settings() {
        let args = parse(&[]).expect("parses");
        assert_eq!(args.settings(), Ok(StackSettings::default()));
        assert_eq!(args.format, Format::Json);
    }

    #[test]
    fn every_flag_reaches_the_settings() {
        let args = parse(&[
            "--coordinators=3",
            "--workers=7",
            "--coordinator-instance-type=r6i.large",
            "--worker-instance-type=r6i.4xlarge",
            "--key-name=ops",
            "--presto-version=0.292",
            "--presto-port=8443",
            "--zone-name=data.example",
            "--record-name=presto",
            "--client-cidr=10.1.0.0/16",
            "--ssh-cidr=10.2.3.0/24",
            "--code-bucket=my-code",
            "--custom-resource-code-key=a/cr.zip",
            "--watcher-code-key=a/w.zip",
            "--probe-interval=3",
            "--probe-timeout=1",
            "--grace=30",
            "--lambda-architecture=arm64",
            "--format=yaml",
        ])
        .expect("parses");
        let s = args.settings().expect("valid");
        assert_eq!((s.coordinators, s.workers, s.presto_port), (3, 7, 8443));
        assert_eq!(s.coordinator_instance_type.as_str(), "r6i.large");
        assert_eq!(s.worker_instance_type.as_str(), "r6i.4xlarge");
        assert_eq!(s.key_name.as_deref(), Some("ops"));
        assert_eq!(s.presto_version.as_str(), "0.292");
        assert_eq!(
            (s.zone_name.as_str(), s.record_label.as_str()),
            ("data.example", "presto")
        );
        assert_eq!(
            s.client_cidr.map(|c| c.to_string()),
            Some("10.1.0.0/16".into())
        );
        assert_eq!(
            s.ssh_cidr.map(|c| c.to_string()),
            Some("10.2.3.0/24".into())
        );
        assert_eq!(s.code_bucket.map(|b| b.to_string()), Some("my-code".into()));
        assert_eq!(s.custom_resource_code_key.as_str(), "a/cr.zip");
        assert_eq!(s.watcher_code_key.as_str(), "a/w.zip");
        assert_eq!(
            (
                s.probe_interval_seconds,
                s.probe_timeout_seconds,
                s.grace_seconds
            ),
            (3, 1, 30)
        );
        assert_eq!(s.lambda_architecture, LambdaArchitecture::Arm64);
        assert_eq!(args.format, Format::Yaml);
    }

    #[test]
    fn bad_flags_name_the_flag_and_what_is_allowed() {
        let cases: &[(&[&str], &str)] = &[
            (
                &["--coordinators", "0"],
                "error: invalid value '0' for '--coordinators <N>': 0 is not in 1..=5",
            ),
            (
                &["--coordinators", "6"],
                "error: invalid value '6' for '--coordinators <N>': 6 is not in 1..=5",
            ),
            (
                &["--coordinators", "two"],
                "error: invalid value 'two' for '--coordinators <N>': invalid digit found in string",
            ),
            (
                &["--workers", "0"],
                "error: invalid value '0' for '--workers <N>': 0 is not in 1..=500",
            ),
            (
                &["--presto-port", "80"],
                "error: invalid value '80' for '--presto-port <PORT>': 80 is not in 1024..=65535",
            ),
            (
                &["--presto-port", "70000"],
                "error: invalid value '70000' for '--presto-port <PORT>': 70000 is not in 1024..=65535",
            ),
            (
                &["--client-cidr", "10.0.0.1/8"],
                "error: invalid value '10.0.0.1/8' for '--client-cidr <CIDR>': host bits are set; did you mean 10.0.0.0/8?",
            ),
            (
                &["--ssh-cidr", "everywhere"],
                "error: invalid value 'everywhere' for '--ssh-cidr <CIDR>': expected an IPv4 CIDR like 10.0.0.0/16",
            ),
            (
                &["--zone-name", "Presto.Internal"],
                "error: invalid value 'Presto.Internal' for '--zone-name <NAME>': expected a lowercase DNS name like presto.internal",
            ),
            (
                &["--record-name", "a.b"],
                "error: invalid value 'a.b' for '--record-name <LABEL>': expected a lowercase DNS label like coordinator",
            ),
            (
                &["--code-bucket", "Bad_Bucket"],
                "error: invalid value 'Bad_Bucket' for '--code-bucket <BUCKET>': expected an S3 bucket name (3-63 lowercase letters, digits, '.' or '-')",
            ),
            (
                &["--coordinator-instance-type", "big"],
                "error: invalid value 'big' for '--coordinator-instance-type <TYPE>': expected an instance type like m6i.xlarge",
            ),
            (
                &["--grace", "4"],
                "error: invalid value '4' for '--grace <SECONDS>': 4 is not in 5..=300",
            ),
            (
                &["--format", "xml"],
                "error: invalid value 'xml' for '--format <FORMAT>'",
            ),
            (
                &["--nodes", "3"],
                "error: unexpected argument '--nodes' found; see 'generate --help' for the flags",
            ),
            (
                &["--coordinators"],
                "error: a value is required for '--coordinators <N>' but none was supplied",
            ),
        ];
        for (args, expected) in cases {
            let error = parse(args).expect_err("refused");
            assert!(error.starts_with(expected), "{args:?}: {error}");
            assert!(!error.contains('\n'), "{args:?}: {error}");
        }
    }

    #[test]
    fn flags_that_do_not_fit_together_print_nothing() {
        let args = parse(&["--grace=5", "--probe-interval=5"]).expect("parses");
        let mut out = Vec::new();
        let error = run(&args, &mut out).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "--probe-interval (5s) must be shorter than --grace (5s)"
        );
        assert!(out.is_empty());
    }
}
