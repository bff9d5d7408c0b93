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

pub mod choice;
#[cfg(any(test, feature = "fakes"))]
pub mod fakes;
pub mod group;
pub mod probe;
pub mod record;
