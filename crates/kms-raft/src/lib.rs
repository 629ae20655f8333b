//! Raft for one region: openraft started on the RocksDB store, the HTTP transport between the
//! region's nodes, leader forwarding of writes, and batched linearizable reads.
//!
//! Architecture invariant: this crate moves opaque [`kms_core::Command`]s and knows nothing of
//! HTTP's KMS dialect, SigV4 or crypto. Any node accepts any command: a follower forwards it to
//! the leader over the internal `/raft/*` endpoints.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod membership;
mod network;
mod node;
mod read_barrier;
mod snapshot_schedule;
mod wire;
pub mod wire_version;
mod write_batcher;

/// The on-disk format version of the node's store (kms-store's), for status and metrics.
pub use kms_store::FORMAT_VERSION as STORE_FORMAT_VERSION;
pub use membership::{MembershipError, MembershipView};
pub use node::{RaftSettings, RegionRaft};
pub use openraft::BasicNode;

/// A node's view of its group (term, leader, log and applied index, and on the leader the
/// replication state of each follower), as openraft reports it.
pub type RaftMetrics = openraft::RaftMetrics<kms_store::NodeId, kms_store::Node>;
