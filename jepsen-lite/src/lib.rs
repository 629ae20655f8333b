//! jepsen-lite: a Jepsen-style harness for Trent. It observes the system only through the
//! public KMS API and process/network control, records a history and checks it. One region of
//! three nodes, or two linked regions (`--regions 2`) for the multi-region key workload.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod catch_up;
pub mod checker;
pub mod client;
pub mod db;
pub mod generator;
pub mod history;
pub mod multi_region;
pub mod nemesis;
pub mod report;
pub mod runner;
pub mod topology;
