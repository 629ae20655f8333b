//! The state-machine half of the store: the replicated [`kms_core::State`] in memory and the
//! current snapshot, a file in `snapshots/` (`snapshot_file.rs`) named by the metadata in the
//! `snapshot` column family.
//!
//! # Durability
//!
//! [`RaftStateMachine::apply`] only changes memory. The applied state is durable through the Raft
//! log (fsynced by [`crate::LogStore`]) plus the persisted snapshot: every snapshot that is built
//! or installed is fsynced to its file, and its metadata written with a synced write, before it
//! is returned; openraft purges only log entries a snapshot covers, and on restart
//! [`crate::open`] loads the snapshot, after which openraft re-applies the log entries that
//! follow it.
//!
//! # Building without stopping apply
//!
//! The state's large maps are persistent maps, so a builder copies the state in O(1) under the
//! read lock and encodes the copy while apply goes on. The file is streamed to disk, so the
//! encoded bytes are never in memory at once; a follower receives a snapshot chunk by chunk into
//! a file, too.
//!
//! # Snapshot metadata
//!
//! The `meta` key holds the openraft [`SnapshotMeta`], a sequence number that makes snapshot ids
//! unique across restarts, and the length and SHA-256 of the snapshot's file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use kms_core::{Response, State};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{AnyError, EntryPayload, OptionalSend, RaftSnapshotBuilder, StorageIOError};
use serde::{Deserialize, Serialize};

use crate::codec::{decode, encode};
use crate::db::{blocking, cf, synced, Db, DbError, CF_SNAPSHOT};
use crate::snapshot_file::{self, FileDigest, SnapshotFiles};
use crate::{Entry, LogId, SnapshotMeta, StorageError, StoreError, StoredMembership, TypeConfig};

/// `snapshot` key of the snapshot metadata ([`PersistedSnapshotMeta`]).
pub(crate) const KEY_SNAPSHOT_META: &[u8] = b"meta";
/// `snapshot` key under which store formats 2 and 3 kept the snapshot bytes; format 4 keeps
/// them in a file and migrates this value there (`migrate.rs`).
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
    /// The snapshot file's length and SHA-256 (format 4). `None` in the metadata of formats 2
    /// and 3, whose bytes were the `data` value; never `None` once migrated.
    #[serde(default)]
    pub(crate) file: Option<FileDigest>,
}

/// Coordination of snapshot writes shared by the state machine and its snapshot builders.
struct SnapshotSlot {
    /// Next snapshot sequence number.
    next_seq: AtomicU64,
    /// Serializes the read-compare-write of the persisted snapshot metadata and the removal of
    /// superseded files (builds run concurrently with installs and reads).
    write_lock: Mutex<()>,
    /// The snapshot files.
    files: SnapshotFiles,
}

/// The state machine of one node (openraft [`RaftStateMachine`]).
pub struct StateMachineStore {
    db: Arc<Db>,
    data: Arc<RwLock<SmData>>,
    slot: Arc<SnapshotSlot>,
    /// The file handed out by the latest `begin_receiving_snapshot`, which the next
    /// `install_snapshot` adopts.
    receiving: Option<PathBuf>,
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
    /// Builds the state machine from the persisted snapshot, if any (a store of format 4:
    /// [`crate::open`] migrates older ones first).
    pub(crate) fn load(db: Arc<Db>, files: SnapshotFiles) -> Result<Self, StoreError> {
        let persisted = read_meta(&db).map_err(|e| e.into_store_error("snapshot"))?;
        let (data, next_seq) = match persisted {
            None => (SmData::default(), 1),
            Some(meta) => {
                let started = Instant::now();
                let data = read_snapshot_file(&files, &meta)
                    .map_err(|e| e.into_store_error("snapshot data"))?;
                tracing::info!(
                    snapshot_id = %meta.meta.snapshot_id,
                    bytes = meta.file.as_ref().map_or(0, |file| file.len),
                    load_ms = started.elapsed().as_millis(),
                    "loaded snapshot"
                );
                (data, meta.seq.saturating_add(1))
            }
        };
        Ok(Self {
            db,
            data: Arc::new(RwLock::new(data)),
            slot: Arc::new(SnapshotSlot {
                next_seq: AtomicU64::new(next_seq),
                write_lock: Mutex::new(()),
                files,
            }),
            receiving: None,
        })
    }

    /// A read handle on the state for the server.
    pub fn reader(&self) -> StateReader {
        StateReader {
            data: Arc::clone(&self.data),
        }
    }
}

/// Reads the persisted snapshot metadata (the snapshot's bytes are in its file; a format-3
/// `data` value is moved there by the migration before this is read at open).
pub(crate) fn read_meta(db: &Db) -> Result<Option<PersistedSnapshotMeta>, DbError> {
    let cf = cf(db, CF_SNAPSHOT)?;
    match db.get_pinned_cf(cf, KEY_SNAPSHOT_META)? {
        None => Ok(None),
        Some(meta) => Ok(Some(decode(&meta)?)),
    }
}

/// Reads and checks the file of the persisted snapshot `meta`.
fn read_snapshot_file(
    files: &SnapshotFiles,
    meta: &PersistedSnapshotMeta,
) -> Result<SmData, DbError> {
    let digest = meta
        .file
        .as_ref()
        .ok_or(DbError::SnapshotHalfMissing("file"))?;
    let (data, _) = snapshot_file::read(&files.path(&meta.meta.snapshot_id)?, Some(digest))?;
    check_against_meta(&meta.meta, &data)?;
    Ok(data)
}

/// Checks decoded snapshot data against its metadata.
pub(crate) fn check_against_meta(meta: &SnapshotMeta, data: &SmData) -> Result<(), DbError> {
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
    Ok(())
}

/// Records `meta` (whose file is complete and fsynced) as the current snapshot with one synced
/// write, then removes the files it supersedes. With `keep_newer`, a persisted snapshot that
/// covers more of the log than this one is kept, and this one's file removed (a build that
/// raced with an install must not overwrite the installed snapshot). Returns whether the
/// snapshot was recorded.
fn persist_snapshot(
    db: &Db,
    slot: &SnapshotSlot,
    meta: &PersistedSnapshotMeta,
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
                SnapshotFiles::remove(&slot.files.path(&meta.meta.snapshot_id)?)?;
                return Ok(false);
            }
        }
    }
    // Synced: the snapshot is the durable copy of the applied state once the log before it is
    // purged, so it is on disk before anyone learns about it.
    db.put_cf_opt(cf, KEY_SNAPSHOT_META, encode(meta)?, &synced())?;
    slot.files.remove_all_but(&meta.meta.snapshot_id)?;
    Ok(true)
}

/// Opens the current snapshot's file for reading, under the write lock so that no newer
/// snapshot removes it between reading the metadata and opening it (an open file stays
/// readable after it is removed).
fn open_current(
    db: &Db,
    slot: &SnapshotSlot,
) -> Result<Option<(SnapshotMeta, std::fs::File)>, DbError> {
    let _guard = slot
        .write_lock
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let Some(meta) = read_meta(db)? else {
        return Ok(None);
    };
    let file = std::fs::File::open(slot.files.path(&meta.meta.snapshot_id)?)?;
    Ok(Some((meta.meta, file)))
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
        // An O(1) copy of the state (persistent maps) under the read lock; apply goes on while
        // the copy is encoded.
        let data = self.data.read().map_err(|_| poisoned_read())?.clone();
        let seq = self.slot.next_seq.fetch_add(1, Ordering::Relaxed);
        let meta = SnapshotMeta {
            last_log_id: data.last_applied,
            last_membership: data.last_membership.clone(),
            snapshot_id: snapshot_id(data.last_applied.as_ref(), seq),
        };
        let db = Arc::clone(&self.db);
        let slot = Arc::clone(&self.slot);
        let id = meta.snapshot_id.clone();
        let for_file = meta.clone();
        let (file, digest, write_ms, persist_ms) = blocking(move || {
            let writing = Instant::now();
            let digest = slot.files.write(&id, &data)?;
            drop(data);
            let write_ms = writing.elapsed().as_millis();
            // Opened before the metadata is recorded: a newer snapshot may remove the file at
            // any time after that.
            let file = std::fs::File::open(slot.files.path(&id)?)?;
            let persisting = Instant::now();
            let persisted = PersistedSnapshotMeta {
                seq,
                meta: for_file,
                file: Some(digest.clone()),
            };
            if !persist_snapshot(&db, &slot, &persisted, true)? {
                tracing::debug!(snapshot_id = %id, "a newer snapshot is already persisted; keeping it");
            }
            Ok((file, digest, write_ms, persisting.elapsed().as_millis()))
        })
        .await
        .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        tracing::info!(
            snapshot_id = %meta.snapshot_id,
            bytes = digest.len,
            write_ms,
            persist_ms,
            "built snapshot"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        })
    }
}

impl StateMachineStore {
    /// Makes the received snapshot `file` durable and returns the path of a file holding it.
    /// openraft hands back the file of the latest `begin_receiving_snapshot`, filled with the
    /// chunks received; any other handle (a snapshot passed on whole) is copied to a new file.
    async fn settle_received(&mut self, mut file: tokio::fs::File) -> Result<PathBuf, DbError> {
        use tokio::io::{AsyncSeekExt, AsyncWriteExt};
        file.flush().await?;
        let ours = match self.receiving.take() {
            Some(path) if same_file(&path, &file.metadata().await?) => Some(path),
            Some(abandoned) => {
                SnapshotFiles::remove(&abandoned)?;
                None
            }
            None => None,
        };
        if let Some(path) = ours {
            file.sync_all().await?;
            return Ok(path);
        }
        let seq = self.slot.next_seq.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::clone(&self.slot);
        let (path, copy) = blocking(move || slot.files.incoming(seq)).await?;
        let mut copy = tokio::fs::File::from_std(copy);
        file.seek(std::io::SeekFrom::Start(0)).await?;
        tokio::io::copy(&mut file, &mut copy).await?;
        copy.flush().await?;
        copy.sync_all().await?;
        Ok(path)
    }
}

/// Whether the file at `path` is the file `metadata` describes (same device and inode).
fn same_file(path: &std::path::Path, metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|at| at.dev() == metadata.dev() && at.ino() == metadata.ino())
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

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<tokio::fs::File>, StorageError> {
        let seq = self.slot.next_seq.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::clone(&self.slot);
        let (path, file) = blocking(move || slot.files.incoming(seq))
            .await
            .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        // A transfer that was abandoned for this one leaves a file nothing will install.
        if let Some(abandoned) = self.receiving.replace(path) {
            SnapshotFiles::remove(&abandoned)
                .map_err(|e| StorageIOError::write_snapshot(None, &e))?;
        }
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<tokio::fs::File>,
    ) -> Result<(), StorageError> {
        let io_error = |e: &DbError| StorageIOError::write_snapshot(Some(meta.signature()), e);
        let partial = self
            .settle_received(*snapshot)
            .await
            .map_err(|e| io_error(&e))?;
        let seq = self.slot.next_seq.fetch_add(1, Ordering::Relaxed);
        let db = Arc::clone(&self.db);
        let slot = Arc::clone(&self.slot);
        let meta_owned = meta.clone();
        // Decode first (a snapshot that does not decode or contradicts its metadata is rejected
        // before anything is replaced), then record it, then swap the in-memory state.
        let started = Instant::now();
        let result = blocking(move || {
            let checked = snapshot_file::read(&partial, None).and_then(|(data, digest)| {
                check_against_meta(&meta_owned, &data).map(|()| (data, digest))
            });
            let (data, digest) = match checked {
                Ok(checked) => checked,
                Err(e) => {
                    SnapshotFiles::remove(&partial)?;
                    return Err(e);
                }
            };
            slot.files.adopt(&partial, &meta_owned.snapshot_id)?;
            let persisted = PersistedSnapshotMeta {
                seq,
                meta: meta_owned,
                file: Some(digest),
            };
            persist_snapshot(&db, &slot, &persisted, false)?;
            Ok(data)
        })
        .await;
        let data = result.map_err(|e| io_error(&e))?;
        let mut current = self.data.write().map_err(|_| {
            StorageIOError::write_state_machine(&DbError::Poisoned("state machine"))
        })?;
        *current = data;
        tracing::info!(
            snapshot_id = %meta.snapshot_id,
            install_ms = started.elapsed().as_millis(),
            "installed snapshot"
        );
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let db = Arc::clone(&self.db);
        let slot = Arc::clone(&self.slot);
        let current = blocking(move || open_current(&db, &slot))
            .await
            .map_err(|e| StorageIOError::read_snapshot(None, &e))?;
        Ok(current.map(|(meta, file)| Snapshot {
            meta,
            snapshot: Box::new(tokio::fs::File::from_std(file)),
        }))
    }
}
