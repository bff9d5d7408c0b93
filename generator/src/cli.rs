//! The `generate` command line: flags, their checks, and the run that prints a
//! template.
//!
//! Each flag sets the default of one template parameter, so a console user can still
//! change any of them when creating the stack.

use std::io::Write;

use clap::Parser;

use crate::output::{self, Format};
use crate::settings::{self, StackSettings};
use crate::template;

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
    /// The template's settings, one flag each.
    #[command(flatten)]
    pub template: StackSettings,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

impl Args {
    /// The settings these arguments ask for, checked as a whole.
    pub fn settings(&self) -> Result<StackSettings, settings::SettingsError> {
        self.template.validate()?;
        Ok(self.template.clone())
    }
}

/// Why `generate` printed no template.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The flags do not fit together.
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    /// The template could not be written.
    #[error(transparent)]
    Write(#[from] output::WriteError),
}

/// Builds the template `args` ask for and writes it to `out`. The whole template is
/// built before the first byte is written, so a failure prints nothing.
pub fn run(args: &Args, out: &mut impl Write) -> Result<(), GenerateError> {
    let template = template::build(&args.settings()?);
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
    use crate::settings::LambdaArchitecture;

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
            "--https-port=9443",
            "--no-tls",
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
            "--refused-grace=6",
            "--coordinator-warm-pool=0",
            "--lambda-architecture=arm64",
            "--format=yaml",
        ])
        .expect("parses");
        let s = args.settings().expect("valid");
        assert_ne!(s, StackSettings::default());
        assert_eq!((s.coordinators, s.workers, s.presto_port), (3, 7, 8443));
        assert_eq!((s.https_port, s.no_tls), (9443, true));
        assert_eq!(s.coordinator_instance_type.as_str(), "r6i.large");
        assert_eq!(s.worker_instance_type.as_str(), "r6i.4xlarge");
        assert_eq!(s.key_name.as_deref(), Some("ops"));
        assert_eq!(s.presto_version.as_ref().map(|v| v.as_str()), Some("0.292"));
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
        assert_eq!((s.refused_seconds, s.coordinator_warm_pool_size), (6, 0));
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
                &["--client-cidr", "0.0.0.0/0"],
                "error: invalid value '0.0.0.0/0' for '--client-cidr <CIDR>': a /0 network is the whole internet",
            ),
            (
                &["--ssh-cidr", "0.0.0.0/0"],
                "error: invalid value '0.0.0.0/0' for '--ssh-cidr <CIDR>': a /0 network is the whole internet",
            ),
            (
                &["--data-source-cidr", "10.0.0.0/0"],
                "error: invalid value '10.0.0.0/0' for '--data-source-cidr <CIDR>': a /0 network is the whole internet",
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
