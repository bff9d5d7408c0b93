//! Harness for the integration tests: the AWS emulator and linters that the README's
//! test command starts, a sandbox network whose instances get loopback addresses, and
//! the templates under test.
//!
//! Nothing here reaches beyond the machine: the emulator endpoint must be a loopback
//! address, and the linters run in a network namespace of their own.
#![warn(missing_docs)]

pub mod aws;
pub mod capture;
pub mod lambda;
pub mod presto;
pub mod stack;
pub mod templates;
pub mod tools;
