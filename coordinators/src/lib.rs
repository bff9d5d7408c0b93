//! Finding, probing and pointing at the Presto coordinators: the code the DNS custom
//! resource and the watcher share.
//!
//! AWS sits behind three narrow traits named for the domain: [`group::Coordinators`]
//! lists the members of the coordinator Auto Scaling group, [`probe::HealthProbe`]
//! asks one coordinator's Presto whether it is serving, and [`record::CoordinatorRecord`]
//! reads the coordinator record and changes it only by compare-and-swap. Each has an
//! AWS (or HTTP) implementation here and a fake in the tests of its callers.
//!
//! Throttling (`Throttling`, `PriorRequestNotComplete` and the like) is retried with
//! backoff by the SDK's standard retry strategy; callers configure how many attempts.
#![warn(missing_docs)]

pub mod aws;
pub mod choice;
pub mod drain;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;

/// An error and its sources on one line, for logs and for answers that a person
/// reads (the SDK's and reqwest's own messages alone are terse).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
pub mod group;
pub mod notes;
pub mod probe;
pub mod record;
