//! Generates the presto-ha CloudFormation stack: a Presto cluster whose coordinator
//! runs with hot standbys behind a private DNS record that a watcher Lambda moves
//! within seconds of a failure.
//!
//! [`cli`] turns arguments into validated [`settings::StackSettings`], [`template`]
//! builds the template from them as data, [`node`] holds the user data every node
//! boots with, and [`output`] prints the result as JSON or YAML.
#![warn(missing_docs)]

pub mod cli;
pub mod node;
pub mod output;
pub mod parameters;
pub mod settings;
pub mod template;
