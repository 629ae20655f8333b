//! RocksDB-backed Raft log and state-machine storage for one Trent node.
//!
//! This crate owns everything a node keeps on disk for consensus and hands openraft the two
//! storage halves of its storage-v2 API:
//!
//! - [`LogStore`] ([`openraft::storage::RaftLogStorage`]): the Raft log, the vote, the committed
//!   log id and the last purged log id. Votes and appended entries are fsynced before openraft is
//!   told they are durable.
//! - [`StateMachineStore`] ([`openraft::storage::RaftStateMachine`]): the replicated
//!   [`kms_core::State`], kept in memory, plus the current snapshot, which is persisted. Applying
//!   an entry does not touch the disk; after a restart the state is rebuilt from the persisted
//!   snapshot and openraft re-applies the log entries after it.
//!
//! Both halves share one RocksDB instance opened by [`open`], with three column families:
//!
//! | column family | key | value |
//! |---|---|---|
//! | `logs` | log index, big-endian `u64` (so byte order is index order) | encoded [`Entry`] |
//! | `meta` | `vote`, `committed`, `last_purged` | encoded [`Vote`] / [`LogId`] |
//! | `snapshot` | `meta` | encoded snapshot metadata, naming the current snapshot file |
//!
//! The snapshot bytes are a file in `snapshots/` beside the database (`snapshot_file.rs`),
//! streamed to disk when built or received.
//!
//! Record encoding (self-describing JSON) is described in `codec.rs`. The store is of on-disk
//! format 4; stores of formats 2 (the released version) and 3 are migrated when they are opened
//! (`migrate.rs`).
//! The server reads the state through a [`StateReader`] obtained from
//! [`StateMachineStore::reader`].

#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod codec;
mod db;
pub use db::FORMAT_VERSION;
mod log_store;
mod migrate;
mod released_v2;
mod snapshot_file;
mod state_machine;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::Arc;

pub use log_store::LogStore;
pub use state_machine::{SnapshotBuilder, StateMachineStore, StateReader};

openraft::declare_raft_types!(
    /// The openraft type configuration of a Trent cluster: [`kms_core::Command`]s in the log,
    /// [`kms_core::Response`]s out of the state machine, `u64` node ids, [`openraft::BasicNode`]
    /// addresses and snapshots in files (`snapshot_file.rs`).
    pub TypeConfig:
        D = kms_core::Command,
        R = kms_core::Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = tokio::fs::File,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Id of a node in the cluster.
pub type NodeId = u64;
/// What the cluster knows about a node (its address).
pub type Node = openraft::BasicNode;
/// One Raft log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// Position of an entry in the Raft log (leader term and node, index).
pub type LogId = openraft::LogId<NodeId>;
/// A Raft vote.
pub type Vote = openraft::Vote<NodeId>;
/// A membership config together with the id of the log entry that carried it.
pub type StoredMembership = openraft::StoredMembership<NodeId, Node>;
/// Metadata of a state-machine snapshot.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, Node>;
/// A state-machine snapshot (metadata plus bytes).
pub type Snapshot = openraft::Snapshot<TypeConfig>;
/// The error openraft's storage traits return.
pub type StorageError = openraft::StorageError<NodeId>;
/// A Raft node of a Trent cluster.
pub type Raft = openraft::Raft<TypeConfig>;

/// Why [`open`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB could not open the database or read from it.
    #[error("rocksdb: {0}")]
    RocksDb(#[from] rocksdb::Error),
    /// A column family is missing although it was requested at open.
    #[error("column family {0:?} is missing")]
    MissingColumnFamily(&'static str),
    /// The store was written in a pre-release on-disk format this build does not migrate.
    #[error(
        "the data in {dir} was written by a pre-release Trent (on-disk format {}), which no released Trent wrote and this build (format {}) cannot read; keep it and open it with the build that wrote it",
        found.map_or("1 (unversioned)".to_string(), |v| v.to_string()),
        db::FORMAT_VERSION
    )]
    Format {
        /// The store's directory.
        dir: String,
        /// The format found (`None`: written before formats were versioned).
        found: Option<u32>,
    },
    /// The store was written by a newer Trent than this build.
    #[error(
        "the data in {dir} was written by a newer Trent (on-disk format {found}); this build reads formats up to {}: run that Trent or a newer one",
        db::FORMAT_VERSION
    )]
    NewerFormat {
        /// The store's directory.
        dir: String,
        /// The format found.
        found: u32,
    },
    /// A persisted record cannot be decoded or contradicts another record.
    #[error("corrupt {record}: {reason}")]
    Corrupt {
        /// Which record (e.g. `"vote"`, `"snapshot data"`).
        record: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// Opens (creating if needed) the node's store in `dir` and returns its two halves.
///
/// The persisted snapshot, if any, is loaded into the state machine, so
/// [`openraft::storage::RaftStateMachine::applied_state`] reports the snapshot's last log id and
/// openraft re-applies the log entries after it. The vote and log pointers are decoded here too,
/// so a corrupt one fails the open rather than the first Raft operation.
pub fn open(dir: &Path) -> Result<(LogStore, StateMachineStore), StoreError> {
    let db = db::open(dir)?;
    let files = snapshot_file::SnapshotFiles::open(dir).map_err(|e| StoreError::Corrupt {
        record: "snapshot directory",
        reason: e.to_string(),
    })?;
    let found = db::check_format(&db, dir)?;
    if found != db::Found::Current {
        migrate::back_up_before_migrating(&db, dir, found)?;
    }
    if found == db::Found::V2 {
        migrate::v2_to_v3(&db, dir)?;
    }
    if matches!(found, db::Found::V2 | db::Found::V3) {
        migrate::v3_to_v4(&db, &files, dir)?;
    }
    let db = Arc::new(db);
    let log = LogStore::new(Arc::clone(&db));
    log.check_meta()?;
    let sm = StateMachineStore::load(db, files)?;
    tracing::info!(dir = %dir.display(), "opened kms store");
    Ok((log, sm))
}
