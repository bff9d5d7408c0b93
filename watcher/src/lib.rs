//! The coordinator watcher: keeps the coordinator record pointing at a live
//! coordinator.
//!
//! [`decide`] holds the failover decision as a pure function of observed state and
//! time; the simulation in `tests/simulation.rs` drives it with a virtual clock
//! against a faithful model of Route 53, EC2 and the Auto Scaling group.
#![warn(missing_docs)]

pub mod decide;
pub mod probes;
pub mod settings;
pub mod watch;
