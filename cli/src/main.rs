//! `presto-ha`: package, deploy, status, switchover and ssh for a presto-ha stack.
//!
//! Exit codes: 0 done, 1 failed (one line on stderr says what and where), 2 bad
//! arguments.

use std::process::ExitCode;

use clap::Parser;
use presto_ha_cli::args::{BadArguments, Cli, Command};

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
            // Arguments that do not fit together are found only once they are read
            // as a whole; they are bad arguments all the same.
            if error.downcast_ref::<BadArguments>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let profile = cli.aws_profile();
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Command::Package(args) => args.run(&profile, out).await,
        Command::Deploy(args) => args.run(&profile, out).await,
        Command::Status(args) => args.run(&profile, out).await,
        Command::Switchover(args) => args.run(&profile, out).await,
        Command::Ssh(args) => args.run(&profile, out).await,
    }
}
