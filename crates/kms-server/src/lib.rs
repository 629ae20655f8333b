//! The Trent node (`trent`): the KMS operations of one region ([`Kms`], run per request as a
//! `Call` with its caller; one module per area), the leader's background tasks, the node
//! assembly ([`node`]) and the local-cluster launcher behind `make run` ([`local`], whose nodes
//! the [`supervisor`] watches).
//!
//! Who may do what is `kms-authz`; what crosses regions is `kms-replication`.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod aliases;
mod asymmetric_ops;
pub mod backup_file;
mod backup_ops;
mod call;
pub mod cluster_status;
pub mod config;
mod console_view;
mod crypto_ops;
mod custom_key_store_ops;
mod grants_ops;
mod import_ops;
mod key_kinds;
mod key_store_access;
mod key_store_backends;
mod key_store_crypto;
mod key_store_watch;
mod key_use;
mod key_use_ops;
mod keys;
mod leader_tasks;
pub mod local;
pub mod log_rotation;
pub mod logging;
mod membership_ops;
mod metrics;
mod multi_region_ops;
pub mod node;
pub mod operator_client;
#[cfg(feature = "testing")]
mod planted_bugs;
pub mod process_hygiene;
mod raft_admission;
mod readiness;
mod region_link;
pub mod reset;
mod root_key_ops;
mod root_key_rotation;
mod root_keyring;
mod rotation;
pub mod seal_state;
pub mod seed;
mod seed_file;
mod service;
mod sts_peers;
pub mod supervisor;
mod tags_policies;
mod validate;

pub use service::{system_clock, Kms};
