//! The Python tools the test command installs in its virtualenv.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The variable naming the folder that holds `cfn-lint` and `checkov`.
pub const TOOLS_VAR: &str = "PRESTO_HA_TOOLS";

/// Path of an installed tool. Panics with the way to get it when the tests were not
/// started by the README's test command.
pub fn tool(name: &str) -> PathBuf {
    let Some(dir) = std::env::var_os(TOOLS_VAR) else {
        panic!("{TOOLS_VAR} is not set: run the tests with scripts/test.sh, which installs {name}");
    };
    let path = PathBuf::from(dir).join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test.sh",
        path.display()
    );
    path
}

/// Runs a tool with no network at all (a fresh network namespace), so a tool that
/// would phone home cannot, and returns what it printed.
pub fn run_offline(name: &str, args: &[&std::ffi::OsStr]) -> Output {
    Command::new("unshare")
        .arg("--net")
        .arg(tool(name))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("failed to run {name} under unshare: {e}"))
}

/// [`run_offline`] with `input` on the tool's standard input.
pub fn run_offline_with_input(name: &str, args: &[&std::ffi::OsStr], input: &[u8]) -> Output {
    let mut child = Command::new("unshare")
        .arg("--net")
        .arg(tool(name))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("failed to run {name} under unshare: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write the input");
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{name} did not finish: {e}"))
}
