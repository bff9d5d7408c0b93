//! `presto-ha`: package, deploy, status and switchover for a presto-ha stack.
//!
//! Exit codes: 0 done, 1 failed (one line on stderr says what and where), 2 bad
//! arguments.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use presto_ha_cli::args::{Cli, Command, DeployArgs, PackageArgs, StatusArgs, SwitchoverArgs};
use presto_ha_cli::deploy::{self, DeployRequest, Template};
use presto_ha_cli::{aws, package, stack, status, switchover};
use presto_ha_coordinators::group::{AwsCoordinators, InstanceId};
use presto_ha_coordinators::probe::HttpProbe;
use presto_ha_coordinators::record::Route53Record;
use presto_ha_generator::settings::StackSettings;
use presto_ha_watcher::note::Route53Note;
use presto_ha_watcher::watch::AsgFence;

/// Pause between two polls of CloudFormation while following a stack.
const POLL: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version are answers, not errors.
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error)
            if error.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand =>
        {
            let _ = error.print();
            return ExitCode::from(2);
        }
        Err(error) => {
            eprintln!("{}", presto_ha_cli::args::one_line(&error));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: failed to start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let profile = cli.aws_profile();
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Package(args) => run_package(&profile, *args, &mut stdout).await,
        Command::Deploy(args) => run_deploy(&profile, args, &mut stdout).await,
        Command::Status(args) => run_status(&profile, args, &mut stdout).await,
        Command::Switchover(args) => run_switchover(&profile, args, &mut stdout).await,
    }
}

async fn run_package(
    profile: &aws::Profile,
    mut args: PackageArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let defaults = StackSettings::default();
    if args.template.code_bucket.is_some()
        || args.template.custom_resource_code_key != defaults.custom_resource_code_key
        || args.template.watcher_code_key != defaults.watcher_code_key
    {
        bail!(
            "package sets the code location itself: use --bucket and --prefix, not --code-bucket or the code key flags"
        );
    }
    // Check the flags and the AWS configuration before a build of several minutes.
    args.template.settings()?;
    let config = aws::load(profile).await?;
    let source = args.source.clone().unwrap_or_else(package::default_source);
    let built = package::build(&source, args.template.lambda_architecture)?;
    let s3 = aws_sdk_s3::Client::new(&config);
    let bucket = args.bucket.to_string();
    let packaged = package::package(&s3, &bucket, &args.prefix, &built).await?;
    package::write_report(&bucket, &packaged, &mut std::io::stderr())?;
    args.template.code_bucket = Some(args.bucket);
    for p in &packaged {
        let key = p.key.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        match p.lambda {
            package::Lambda::CustomResource => args.template.custom_resource_code_key = key,
            package::Lambda::Watcher => args.template.watcher_code_key = key,
        }
    }
    presto_ha_generator::cli::run(&args.template, out)?;
    Ok(())
}

async fn run_deploy(
    profile: &aws::Profile,
    args: DeployArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let template = match &args.template {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("failed to read template {}", path.display()))?;
            Template::parse(&text, &path.display().to_string())?
        }
        None => {
            let mut text = Vec::new();
            presto_ha_generator::cli::run(
                &presto_ha_generator::cli::Args::parse_from(["generate"]),
                &mut text,
            )?;
            Template::parse(&String::from_utf8(text)?, "the default template")?
        }
    };
    let mut parameters = BTreeMap::new();
    for (key, value) in args.parameters {
        if parameters.insert(key.clone(), value).is_some() {
            bail!("--parameter {key} is given twice");
        }
    }
    if let Some(n) = args.coordinators
        && parameters
            .insert("HACoordinatorsCount".into(), n.to_string())
            .is_some()
    {
        bail!("--coordinators and --parameter HACoordinatorsCount both set the coordinator count");
    }
    let config = aws::load(profile).await?;
    let request = DeployRequest {
        stack_name: args.stack_name,
        template,
        parameters,
        wait: (!args.no_wait).then_some(args.timeout),
        poll: POLL,
    };
    deploy::deploy(&aws_sdk_cloudformation::Client::new(&config), &request, out).await?;
    Ok(())
}

/// The AWS configuration and the deployed stack `name`.
async fn open_stack(
    profile: &aws::Profile,
    name: &str,
) -> anyhow::Result<(aws_config::SdkConfig, stack::ClusterStack)> {
    let config = aws::load(profile).await?;
    let cluster = stack::cluster(&aws_sdk_cloudformation::Client::new(&config), name).await?;
    Ok((config, cluster))
}

async fn run_status(
    profile: &aws::Profile,
    args: StatusArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (config, cluster) = open_stack(profile, &args.stack_name).await?;
    let route53 = aws_sdk_route53::Client::new(&config);
    let report = status::gather(
        &cluster,
        &AwsCoordinators::new(
            aws_sdk_autoscaling::Client::new(&config),
            aws_sdk_ec2::Client::new(&config),
        ),
        &HttpProbe::new().context("failed to set up the HTTP probe")?,
        &Route53Record::new(route53.clone()),
        &Route53Note::new(route53),
    )
    .await?;
    if args.json {
        status::write_json(&report, out)
    } else {
        status::write_table(&report, out)
    }
}

async fn run_switchover(
    profile: &aws::Profile,
    args: SwitchoverArgs,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let (config, cluster) = open_stack(profile, &args.stack_name).await?;
    let autoscaling = aws_sdk_autoscaling::Client::new(&config);
    let request = switchover::SwitchoverRequest {
        to: args.to.map(InstanceId::new),
        terminate_old: args.terminate_old,
    };
    switchover::switchover(
        &cluster,
        &request,
        &AwsCoordinators::new(autoscaling.clone(), aws_sdk_ec2::Client::new(&config)),
        &HttpProbe::new().context("failed to set up the HTTP probe")?,
        &Route53Record::new(aws_sdk_route53::Client::new(&config)),
        &AsgFence::new(autoscaling),
        out,
    )
    .await
}
