//! The Trent node: configuration, wiring of Raft, storage, crypto and the KMS API, the KMS
//! operations themselves, and the local-cluster launcher behind `make run`.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod aliases;
mod asymmetric_ops;
pub mod config;
mod crypto_ops;
mod key_kinds;
mod keys;
mod leader_tasks;
pub mod local;
pub mod node;
mod planted_bugs;
mod rotation;
mod service;
mod tags_policies;
mod validate;

pub use service::{system_clock, Clock, Kms};
