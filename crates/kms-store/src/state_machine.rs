//! The state-machine half of the store: the replicated [`kms_core::State`] in memory and the
//! current snapshot in the `snapshot` column family.
//!
//! # Durability
//!
//! [`RaftStateMachine::apply`] only changes memory. The applied state is durable through the Raft
//! log (fsynced by [`crate::LogStore`]) plus the persisted snapshot: every snapshot that is built
//! or installed is written with a synced write before it is returned, openraft purges only log
//! entries a snapshot covers, and on restart [`crate::open`] loads the snapshot, after which
//! openraft re-applies the log entries that follow it.
//!
//! # Snapshot format
//!
//! The snapshot bytes (what followers receive and what `data` in the column family holds) are one
//! encoded record of `(last_applied, last_membership, state)`; the `meta` key holds the openraft
//! [`SnapshotMeta`] plus a sequence number that makes snapshot ids unique across restarts.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use kms_core::{Response, State};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use rocksdb::WriteBatch;
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::db::{blocking, cf, synced, Db, DbError, CF_SNAPSHOT};
use crate::{Entry, LogId, SnapshotMeta, StorageError, StoreError, StoredMembership, TypeConfig};

/// `snapshot` key of the snapshot metadata ([`PersistedSnapshotMeta`]).
pub(crate) const KEY_SNAPSHOT_META: &[u8] = b"meta";
/// `snapshot` key of the snapshot bytes (an encoded [`SmData`]).
pub(crate) const KEY_SNAPSHOT_DATA: &[u8] = b"data";

/// Everything the state machine holds; also the content of a snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct SmData {
    /// Id of the last applied log entry.
    pub(crate) last_applied: Option<LogId>,
    /// The last membership config applied.
    pub(crate) last_membership: StoredMembership,
    /// The replicated key store.
    pub(crate) state: State,
}

/// The persisted snapshot metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PersistedSnapshotMeta {
    /// Sequence number of this snapshot on this node; the next one gets a larger number, also
    /// after a restart.
    pub(crate) seq: u64,
    /// openraft's metadata.
    pub(crate) meta: SnapshotMeta,
}

/// Coordination of snapshot writes shared by the state machine and its snapshot builders.
struct SnapshotSlot {
    /// Next snapshot sequence number.
    next_seq: AtomicU64,
    /// Serializes the read-compare-write of the persisted snapshot (builds run concurrently with
    /// installs).
    write_lock: Mutex<()>,
}

/// The state machine of one node (openraft [`RaftStateMachine`]).
pub struct StateMachineStore {
    db: Arc<Db>,
    data: Arc<RwLock<SmData>>,
    slot: Arc<SnapshotSlot>,
}

/// Builds snapshots of a [`StateMachineStore`] (openraft [`RaftSnapshotBuilder`]).
pub struct SnapshotBuilder {
    db: Arc<Db>,
    data: Arc<RwLock<SmData>>,
    slot: Arc<SnapshotSlot>,
}

/// A cheap, cloneable read handle on the state machine for the server.
///
/// Reads take a short read lock and may run concurrently with `apply`; each read sees the state
/// between two applied entries.
#[derive(Clone)]
pub struct StateReader {
    data: Arc<RwLock<SmData>>,
}

impl StateReader {
    /// Runs `f` on the current state under a read lock and returns its result. Keep `f` short:
    /// applying entries waits for it.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        // A poisoned lock means `State::apply` panicked; Raft stops applying after that, and the
        // last state is still the best answer we have, so reads carry on rather than panic.
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        f(&data.state)
    }

    /// Runs `f` on the current state and the index of the last entry applied to it, read under
    /// one lock so the two agree (a backup records the index its image is at).
    pub fn read_at_index<R>(&self, f: impl FnOnce(Option<u64>, &State) -> R) -> R {
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        f(data.last_applied.map(|log_id| log_id.index), &data.state)
    }

    /// Index of the last log entry applied to the state, `None` before the first.
    pub fn last_applied_index(&self) -> Option<u64> {
        let data = self.data.read().unwrap_or_else(PoisonError::into_inner);
        data.last_applied.map(|log_id| log_id.index)
    }
}

impl StateMachineStore {
    /// Builds the state machine from the persisted snapshot, if any.
    pub(crate) fn load(db: Arc<Db>) -> Result<Self, StoreError> {
        let persisted = read_snapshot(&db).map_err(|e| e.into_store_error("snapshot"))?;
        let (data, next_seq) = match persisted {
            None => (SmData::default(), 1),
            Some((meta, bytes)) => {
                let data = decode_snapshot_data(&meta.meta, &bytes)
                    .map_err(|e| e.into_store_error("snapshot data"))?;
                (data, meta.seq.saturating_add(1))
            }
        };
        Ok(Self {
            db,
            data: Arc::new(RwLock::new(data)),
            slot: Arc::new(SnapshotSlot {
                next_seq: AtomicU64::new(next_seq),
                write_lock: Mutex::new(()),
            }),
        })
    }

    /// A read handle on the state for the server.
    pub fn reader(&self) -> StateReader {
        StateReader {
            data: Arc::clone(&self.data),
        }
    }
}

/// Reads the persisted snapshot metadata and bytes.
fn read_snapshot(db: &Db) -> Result<Option<(PersistedSnapshotMeta, Vec<u8>)>, DbError> {
    let cf = cf(db, CF_SNAPSHOT)?;
    let meta = db.get_pinned_cf(cf, KEY_SNAPSHOT_META)?;
    let data = db.get_cf(cf, KEY_SNAPSHOT_DATA)?;
    match (meta, data) {
        (None, None) => Ok(None),
        (Some(meta), Some(data)) => Ok(Some((decode(&meta)?, data))),
        (Some(_), None) => Err(DbError::SnapshotHalfMissing("data")),
        (None, Some(_)) => Err(DbError::SnapshotHalfMissing("metadata")),
    }
}

/// Decodes snapshot bytes and checks them against their metadata.
fn decode_snapshot_data(meta: &SnapshotMeta, bytes: &[u8]) -> Result<SmData, DbError> {
    let data: SmData = decode(bytes)?;
    if data.last_applied != meta.last_log_id {
        return Err(DbError::SnapshotMismatch(format!(
            "data last applied {:?}, metadata last log id {:?}",
            data.last_applied, meta.last_log_id
        )));
    }
    if data.last_membership != meta.last_membership {
        return Err(DbError::SnapshotMismatch(format!(
            "data membership {:?}, metadata membership {:?}",
            data.last_membership, meta.last_membership
        )));
    }
    Ok(data)
}

/// Persists a snapshot with one synced write. With `keep_newer`, a persisted snapshot that covers
/// more of the log than this one is kept (a build that raced with an install must not overwrite
/// the installed snapshot). Returns whether the snapshot was written.
fn persist_snapshot(
    db: &Db,
    slot: &SnapshotSlot,
    meta: &PersistedSnapshotMeta,
    bytes: &[u8],
    keep_newer: bool,
) -> Result<bool, DbError> {
    // The guarded value is `()`, so a poisoned lock protects nothing inconsistent.
    let _guard = slot
        .write_lock
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let cf = cf(db, CF_SNAPSHOT)?;
    if keep_newer {
        if let Some(current) = db.get_pinned_cf(cf, KEY_SNAPSHOT_META)? {
            let current: PersistedSnapshotMeta = decode(&current)?;
            if current.meta.last_log_id > meta.meta.last_log_id {
                return Ok(false);
            }
        }
    }
    let mut batch = WriteBatch::default();
    batch.put_cf(cf, KEY_SNAPSHOT_META, encode(meta)?);
    batch.put_cf(cf, KEY_SNAPSHOT_DATA, bytes);
    // Synced: the snapshot is the durable copy of the applied state once the log before it is
    // purged, so it is on disk before anyone learns about it.
    db.write_opt(batch, &synced())?;
    Ok(true)
}

/// Snapshot id: `{term}-{index}-{seq}` of the last included entry (`0-0-{seq}` when empty).
fn snapshot_id(last: Option<&LogId>, seq: u64) -> String {
    match last {
        Some(log_id) => format!("{}-{}-{}", log_id.leader_id.term, log_id.index, seq),
        None => format!("0-0-{seq}"),
    }
}

fn poisoned_read() -> StorageError {
    StorageIOError::read_state_machine(&DbError::Poisoned("state machine")).into()
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // Copy the state under a short read lock; encoding happens without holding it.
        let data = self.data.read().map_err(|_| poisoned_read())?.clone();
        let seq = self.slot.next_seq.fetch_add(1, Ordering::Relaxed);
        let meta = SnapshotMeta {
            last_log_id: data.last_applied,
            last_membership: data.last_membership.clone(),
            snapshot_id: snapshot_id(data.last_applied.as_ref(), seq),
        };
        let persisted = PersistedSnapshotMeta {
            seq,
            meta: meta.clone(),
        };
        let db = Arc::clone(&self.db);
        let slot = Arc::clone(&self.slot);
        let bytes = blocking(move || {
            let bytes = encode(&data)?;
            if !persist_snapshot(&db, &slot, &persisted, &bytes, true)? {
                tracing::debug!(
                    snapshot_id = %persisted.meta.snapshot_id,
                    "a newer snapshot is already persisted; keeping it"
                );
            }
            Ok(bytes)
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(snapshot_id = %meta.snapshot_id, bytes = bytes.len(), "built snapshot");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let data = self.data.read().map_err(|_| poisoned_read())?;
        Ok((data.last_applied, data.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries = entries.into_iter();
        let mut responses = Vec::with_capacity(entries.size_hint().0);
        for entry in entries {
            // One short write lock per entry, so concurrent readers are not starved by a long
            // batch and always see the state together with its last applied index.
            let mut data = self.data.write().map_err(|_| {
                StorageIOError::apply(
                    entry.log_id,
                    AnyError::new(&DbError::Poisoned("state machine")),
                )
            })?;
            let response = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(command) => data.state.apply(&command),
                EntryPayload::Membership(membership) => {
                    data.last_membership = StoredMembership::new(Some(entry.log_id), membership);
                    Response::default()
                }
            };
            data.last_applied = Some(entry.log_id);
            drop(data);
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            db: Arc::clone(&self.db),
            data: Arc::clone(&self.data),
            slot: Arc::clone(&self.slot),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let persisted = PersistedSnapshotMeta {
            seq: self.slot.next_seq.fetch_add(1, Ordering::Relaxed),
            meta: meta.clone(),
        };
        let db = Arc::clone(&self.db);
        let slot = Arc::clone(&self.slot);
        // Decode first (a snapshot that does not decode or contradicts its metadata is rejected
        // before anything is replaced), then persist, then swap the in-memory state.
        let data = blocking(move || {
            let data = decode_snapshot_data(&persisted.meta, &bytes)?;
            persist_snapshot(&db, &slot, &persisted, &bytes, false)?;
            Ok(data)
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        let mut current = self.data.write().map_err(|_| {
            StorageIOError::write_state_machine(&DbError::Poisoned("state machine"))
        })?;
        *current = data;
        tracing::info!(snapshot_id = %meta.snapshot_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let db = Arc::clone(&self.db);
        let persisted = blocking(move || read_snapshot(&db))
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(persisted.map(|(persisted, bytes)| Snapshot {
            meta: persisted.meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
