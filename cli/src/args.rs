//! The command line: one tool, five commands, the same AWS flags on each. Raw
//! arguments become checked values here, before any work starts; a bad value is one
//! line that names it.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use presto_ha_contract::limits;
use presto_ha_generator::settings::BucketName;

use crate::aws::Profile;

/// Ships and runs a presto-ha stack: package the Lambdas, deploy or update the stack,
/// show the coordinators, switch over by plan.
#[derive(Debug, Parser)]
#[command(name = "presto-ha", version)]
pub struct Cli {
    /// Named profile of the AWS configuration (otherwise AWS_PROFILE or the default).
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region (otherwise AWS_REGION or the profile's).
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Where the AWS configuration comes from.
    pub fn aws_profile(&self) -> Profile {
        Profile {
            profile: self.profile.clone(),
            region: self.region.clone(),
        }
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build both Lambdas for provided.al2023, upload their zips to S3 under
    /// content-addressed keys, and print the template with those keys as defaults.
    Package(Box<PackageArgs>),
    /// Create the stack, or update it through a change set, and follow it to the end.
    Deploy(DeployArgs),
    /// Show the coordinator record, every coordinator's health, and the last failover.
    Status(StatusArgs),
    /// Move the coordinator record to a healthy standby, for planned maintenance.
    Switchover(SwitchoverArgs),
    /// Open a shell on the active coordinator (or a standby): over Session Manager,
    /// or SSH with the stack's key pair.
    Ssh(ShellArgs),
}

/// Arguments that are each valid but do not fit together, found once they are read
/// as a whole: like a bad flag, they make the command exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadArguments(pub String);

/// How `ssh` reaches the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// Session Manager when the instance is registered there, else SSH.
    Auto,
    /// Session Manager (`aws ssm start-session`, with the Session Manager plugin).
    Ssm,
    /// SSH to the private IP with the stack's key pair (`<KeyName>.pem`).
    Ssh,
}

/// Where `status` and `switchover` probe the coordinators from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProbeFrom {
    /// This machine; when no coordinator answers it (outside the VPC), the stack's
    /// probe function inside the VPC.
    Auto,
    /// This machine only, over the client port as a client would.
    Here,
    /// The stack's probe function only, inside the VPC, as the watcher probes.
    Vpc,
}

/// `ssh`.
#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// The stack.
    #[arg(long, value_name = "NAME", value_parser = parse_stack_name)]
    pub stack_name: String,

    /// A standby instead: the longest-running member in service that the record does
    /// not point at.
    #[arg(long)]
    pub standby: bool,

    /// How to reach it.
    #[arg(long, value_enum, default_value_t = Via::Auto)]
    pub via: Via,

    /// Print the command instead of running it.
    #[arg(long)]
    pub dry_run: bool,
}

/// `package`.
#[derive(Debug, clap::Args)]
pub struct PackageArgs {
    /// S3 bucket for the zips, in the region the stack will run in.
    #[arg(long, value_name = "BUCKET")]
    pub bucket: BucketName,

    /// Key prefix for the zips ("" for none).
    #[arg(long, value_name = "PREFIX", default_value = "presto-ha", value_parser = parse_prefix)]
    pub prefix: String,

    /// The presto-ha workspace to build (defaults to the one this tool was built from).
    #[arg(long, value_name = "DIR")]
    pub source: Option<PathBuf>,

    /// The Cargo profile the Lambdas are built with: release, what a stack should
    /// run; the tests build with package-test, unoptimised, to check the packaging
    /// without an optimised build of the AWS SDK.
    #[arg(long, value_name = "PROFILE", default_value = "release")]
    pub cargo_profile: String,

    /// The template flags, as for `generate` (the code flags are set by `package`).
    #[command(flatten, next_help_heading = "Template")]
    pub template: presto_ha_generator::cli::Args,
}

/// `deploy`.
#[derive(Debug, clap::Args)]
pub struct DeployArgs {
    /// The stack to create or update.
    #[arg(long, value_name = "NAME", value_parser = parse_stack_name)]
    pub stack_name: String,

    /// Template to deploy, JSON or YAML, as `package` or `generate` printed it
    /// (defaults to `generate` with no flags).
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,

    /// Coordinators to run; the same as --parameter HACoordinatorsCount=N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(i64::from(*limits::COORDINATORS.start())..=i64::from(*limits::COORDINATORS.end())))]
    pub coordinators: Option<u8>,

    /// A stack parameter, repeatable. On an update, parameters not given keep their
    /// current values, except the Lambda code location, which follows the template.
    #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = parse_parameter)]
    pub parameters: Vec<(String, String)>,

    /// How long to follow the stack before giving up (the operation goes on).
    #[arg(long, value_name = "DURATION", default_value = "60m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Start the operation and return without following it.
    #[arg(long)]
    pub no_wait: bool,
}

/// `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The stack.
    #[arg(long, value_name = "NAME", value_parser = parse_stack_name)]
    pub stack_name: String,

    /// Print JSON for scripts instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Where to probe the coordinators from.
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = ProbeFrom::Auto)]
    pub probe_from: ProbeFrom,
}

/// `switchover`.
#[derive(Debug, clap::Args)]
pub struct SwitchoverArgs {
    /// The stack.
    #[arg(long, value_name = "NAME", value_parser = parse_stack_name)]
    pub stack_name: String,

    /// The standby to move to (defaults to the longest-running healthy standby).
    #[arg(long, value_name = "INSTANCE_ID", value_parser = parse_instance_id)]
    pub to: Option<String>,

    /// Terminate the old coordinator once the record has moved, clients have followed
    /// it, and its queries have finished; the Auto Scaling group launches a new
    /// standby in its place.
    #[arg(long)]
    pub terminate_old: bool,

    /// With --terminate-old: how long clients may keep the old address beyond the
    /// record's TTL (a JVM caches a lookup for 30 s by default).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration_or_zero)]
    pub client_cache: Duration,

    /// With --terminate-old: the longest wait for the old coordinator's queries to
    /// finish; then it is terminated anyway.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration_or_zero)]
    pub drain_timeout: Duration,

    /// Where to probe the coordinators from.
    #[arg(long, value_enum, value_name = "WHERE", default_value_t = ProbeFrom::Auto)]
    pub probe_from: ProbeFrom,
}

/// A CloudFormation stack name: a letter, then letters, digits and hyphens, at most
/// 128 characters.
fn parse_stack_name(value: &str) -> Result<String, String> {
    let mut chars = value.chars();
    let valid = value.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "'{value}' is not a stack name: a letter, then letters, digits and hyphens, at most 128 characters"
        ))
    }
}

/// An EC2 instance id: `i-` and 8 or 17 hexadecimal digits.
fn parse_instance_id(value: &str) -> Result<String, String> {
    let valid = value.strip_prefix("i-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17) && hex.chars().all(|c| c.is_ascii_hexdigit())
    });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "'{value}' is not an instance id like i-0123456789abcdef0"
        ))
    }
}

fn parse_parameter(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, v)) if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()) => {
            Ok((key.to_owned(), v.to_owned()))
        }
        _ => Err(format!(
            "'{value}' is not KEY=VALUE with an alphanumeric parameter name"
        )),
    }
}

fn parse_duration(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err(format!("'{value}' is zero; give a duration like 30m")),
        Err(error) => Err(format!(
            "'{value}' is not a duration like 90s, 30m or 1h ({error})"
        )),
    }
}

/// A duration that may be zero, for waits one may skip.
fn parse_duration_or_zero(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value)
        .map_err(|error| format!("'{value}' is not a duration like 0s, 30s or 10m ({error})"))
}

/// A key prefix: no leading '/', none of the characters S3 keys handle badly, and
/// the trailing '/' dropped.
fn parse_prefix(value: &str) -> Result<String, String> {
    let prefix = value.trim_end_matches('/');
    if prefix.starts_with('/')
        || prefix.len() > 900
        || prefix.chars().any(|c| c.is_control() || c == '\\')
    {
        Err(format!(
            "'{value}' is not a key prefix: no leading '/', no backslashes or control characters, at most 900 characters"
        ))
    } else {
        Ok(prefix.to_owned())
    }
}

/// A clap error on one line that names the bad or missing argument.
pub fn one_line(error: &clap::Error) -> String {
    presto_ha_generator::cli::one_line_with_hint(error, "see 'presto-ha --help'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("presto-ha").chain(args.iter().copied()))
            .map_err(|e| one_line(&e))
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn deploy_reads_parameters_and_durations() {
        let cli = parse(&[
            "deploy",
            "--stack-name=prod-presto",
            "--coordinators=3",
            "--parameter=VpcId=vpc-1",
            "--parameter",
            "ClientCidr=10.0.0.0/8",
            "--timeout=90s",
            "--no-wait",
            "--region=eu-west-1",
        ])
        .expect("parses");
        let Command::Deploy(deploy) = &cli.command else {
            panic!("not deploy: {cli:?}");
        };
        assert_eq!(deploy.stack_name, "prod-presto");
        assert_eq!(deploy.coordinators, Some(3));
        assert_eq!(
            deploy.parameters,
            vec![
                ("VpcId".into(), "vpc-1".into()),
                ("ClientCidr".into(), "10.0.0.0/8".into())
            ]
        );
        assert_eq!(deploy.timeout, Duration::from_secs(90));
        assert!(deploy.no_wait);
        assert_eq!(cli.aws_profile().region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn package_takes_the_template_flags() {
        let cli = parse(&[
            "package",
            "--bucket=my-code",
            "--prefix=builds/",
            "--coordinators=3",
            "--lambda-architecture=arm64",
        ])
        .expect("parses");
        let Command::Package(package) = &cli.command else {
            panic!("not package: {cli:?}");
        };
        assert_eq!(package.bucket.as_str(), "my-code");
        assert_eq!(package.prefix, "builds");
        assert_eq!(package.template.template.coordinators, 3);
    }

    #[test]
    fn bad_values_are_named() {
        for (args, named) in [
            (vec!["deploy", "--stack-name=9lives"], "'9lives'"),
            (
                vec!["deploy", "--stack-name=s", "--parameter=novalue"],
                "'novalue'",
            ),
            (vec!["deploy", "--stack-name=s", "--timeout=soon"], "'soon'"),
            (vec!["deploy", "--stack-name=s", "--timeout=0s"], "'0s'"),
            (vec!["deploy", "--stack-name=s", "--coordinators=6"], "'6'"),
            (
                vec!["switchover", "--stack-name=s", "--to=web-1"],
                "'web-1'",
            ),
            (vec!["package", "--bucket=Bad_Bucket"], "'Bad_Bucket'"),
            (vec!["package", "--bucket=bkt", "--prefix=/abs"], "'/abs'"),
            (vec!["status"], "--stack-name"),
            (vec!["launch"], "'launch'"),
        ] {
            let error = parse(&args).expect_err("refused");
            assert!(error.contains(named), "{args:?}: {error}");
            assert!(!error.contains('\n'), "{args:?}: {error}");
        }
    }
}
