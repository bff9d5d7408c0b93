//! What the integration tests share: the AWS emulator and linters that the README's
//! test command starts, a sandbox network whose instances get loopback addresses, and
//! the templates under test. The template's own integration tests live in this crate's
//! `tests/`.
//!
//! A test that needs the emulator or the linters starts with [`needs!`]: under a bare
//! `cargo test` it says on stderr that it was skipped and why, and passes; under the
//! test command ([`REQUIRE_VAR`] set) a missing emulator fails it instead, so CI can
//! never skip it silently.
//!
//! Nothing here reaches beyond the machine: the emulator endpoint must be a loopback
//! address, and the linters run in a network namespace of their own.
#![warn(missing_docs)]

pub mod aws;
pub mod capture;
pub mod engines;
pub mod lambda;
pub mod presto;
pub mod route53;
pub mod sandbox;
pub mod stack;
pub mod templates;
pub mod testnet;
pub mod tls;
pub mod tools;

use std::io::Write;

/// Set by `scripts/test.sh`: a test whose emulator or linters are missing fails
/// instead of being skipped.
pub const REQUIRE_VAR: &str = "PRESTO_HA_REQUIRE_EMULATOR";

/// What a test needs that only the README's test command provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// The AWS emulator on loopback.
    Emulator,
    /// The Python linters in the test command's virtualenv.
    Tools,
    /// Root, with `unshare` and overlay mounts, to run a node's boot in a sandbox.
    Sandbox,
}

/// Whether the test on this thread has what it `needs`. Without it: a line on stderr
/// that names the test and what is missing, and `false` (the test returns and
/// passes); with [`REQUIRE_VAR`] set, a panic instead.
pub fn can_run(needs: Needs) -> bool {
    let (present, missing, what) = match needs {
        Needs::Emulator => (
            std::env::var_os(aws::ENDPOINT_VAR).is_some(),
            format!("{} is not set", aws::ENDPOINT_VAR),
            "scripts/test.sh provides the AWS emulator",
        ),
        Needs::Tools => (
            std::env::var_os(tools::TOOLS_VAR).is_some(),
            format!("{} is not set", tools::TOOLS_VAR),
            "scripts/test.sh provides the Python linters",
        ),
        Needs::Sandbox => (
            sandbox::available(),
            "`unshare --mount --net` failed".to_owned(),
            "the node sandbox needs root and unshare (util-linux)",
        ),
    };
    if present {
        return true;
    }
    assert!(
        std::env::var_os(REQUIRE_VAR).is_none(),
        "{missing} but {REQUIRE_VAR} is set: {what}"
    );
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    // Straight to the process's stderr: the test harness hides what `eprintln!`
    // prints for a test that passes, and a skip must be seen.
    let _ = writeln!(std::io::stderr(), "skipped {test}: {missing}; {what}");
    false
}

/// Returns from the calling test, after saying so, when it lacks what it needs (see
/// [`can_run`]): `needs!(Emulator)`, `needs!(Tools)`, `needs!(Sandbox)`.
#[macro_export]
macro_rules! needs {
    ($what:ident) => {
        if !$crate::can_run($crate::Needs::$what) {
            return;
        }
    };
}
