//! `presto-ha`: everything after `generate` in a stack's life. [`package`] builds the
//! two Lambdas and puts their zips in S3 under content-addressed keys, [`deploy`]
//! creates the stack or updates it through a change set and follows it to the end,
//! [`status`] shows the coordinator record and every coordinator's health (and, from
//! [`operations`], the worker group and the alarms), and
//! [`switchover`] moves the record to a healthy standby by plan, through the same
//! compare-and-swap as the watcher, and [`shell`] opens a shell on a coordinator.
//!
//! [`aws`] loads the standard SDK configuration and checks it up front; [`stack`]
//! finds a deployed stack's coordinator record and group from its outputs; [`reach`]
//! probes the coordinators from this machine or, from outside the VPC, through the
//! stack's probe function. Commands
//! write to the writer they are given, so tests read what a person would see.
#![warn(missing_docs)]

pub mod args;
pub mod aws;
pub mod deploy;
pub mod operations;
pub mod package;
pub mod reach;
pub mod shell;
pub mod stack;
pub mod status;
pub mod switchover;
