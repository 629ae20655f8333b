//! The Trent node: configuration, wiring of Raft, storage, crypto and the KMS API, the KMS
//! operations themselves, and the local-cluster launcher behind `make run`.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod aliases;
mod asymmetric_ops;
mod audit;
mod authz;
pub mod config;
mod crypto_ops;
mod grants_ops;
pub mod identities;
mod key_kinds;
mod keys;
mod leader_tasks;
mod link_server;
pub mod local;
mod multi_region_ops;
pub mod node;
#[cfg(feature = "testing")]
mod planted_bugs;
pub mod region_link;
mod rotation;
mod service;
mod shipper;
mod sts_ops;
mod tags_policies;
mod validate;

pub use service::{system_clock, Clock, Kms};
