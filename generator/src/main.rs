//! `generate`: prints the presto-ha CloudFormation template.

use std::process::ExitCode;

use clap::Parser;
use presto_ha_generator::cli::{self, Args};

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        // --help and --version are answers, not errors.
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("{}", cli::one_line(&error));
            return ExitCode::from(2);
        }
    };
    match cli::run(&args, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Flags that do not fit together are bad arguments too.
            let code = match error {
                cli::GenerateError::Settings(_) => 2,
                cli::GenerateError::Write(_) => 1,
            };
            eprintln!("error: {:#}", anyhow::Error::from(error));
            ExitCode::from(code)
        }
    }
}
