//! jepsen-lite: a Jepsen-style harness for Trent. It observes the system only through the
//! public KMS API and process/network control, records a history and checks it.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod checker;
pub mod client;
pub mod db;
pub mod generator;
pub mod history;
pub mod nemesis;
pub mod report;
pub mod runner;
pub mod topology;
