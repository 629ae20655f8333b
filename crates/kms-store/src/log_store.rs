//! The Raft log half of the store: entries in the `logs` column family, the vote and log
//! pointers in `meta`.
//!
//! # Durability
//!
//! Raft's safety rests on two promises a node makes to others: "I voted for X in term T" and "I
//! hold these entries". Both are only made after [`RaftLogStorage::save_vote`] returns or the
//! [`LogFlushed`] callback of [`RaftLogStorage::append`] fires, so both write with
//! `WriteOptions::set_sync(true)` and return / call back only after RocksDB has fsynced its
//! write-ahead log. All entries of one `append` call go into one `WriteBatch`, so the many client
//! proposals openraft batches into one call cost one fsync.
//!
//! `truncate`, `purge` and `save_committed` write through the WAL without fsync. That is safe
//! because RocksDB's WAL is one ordered log and every synced write also syncs all WAL records
//! written before it, so each of these becomes durable no later than the next vote or append:
//!
//! - `truncate` removes conflicting, uncommitted entries of a follower. Everything the node tells
//!   others after it (accepting the leader's new entries, granting a vote) waits for a synced
//!   append or vote write, which makes the truncation durable first. If the machine crashes before
//!   that, the log comes back as it was before the truncation, i.e. the state of a node that
//!   crashed just before receiving the conflicting `AppendEntries`, which Raft handles (the leader
//!   truncates it again).
//! - `purge` only removes entries already covered by the persisted snapshot (the snapshot write is
//!   synced). The deletion and the new `last_purged` pointer are one atomic batch, so a lost purge
//!   just brings back both the old entries and the old pointer, a consistent, longer log.
//! - `committed` is a lower bound openraft uses to re-apply entries at startup; an older value
//!   means fewer entries are re-applied at once and the rest after the leader re-announces it.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, OptionalSend, RaftLogReader, StorageIOError};
use rocksdb::{Direction, IteratorMode, WriteBatch};
use serde::de::DeserializeOwned;

use crate::codec::{decode, encode};
use crate::db::{blocking, cf, synced, Db, DbError, CF_LOGS, CF_META};
use crate::{Entry, LogId, StorageError, StoreError, TypeConfig, Vote};

/// `meta` key of the vote.
pub(crate) const KEY_VOTE: &[u8] = b"vote";
/// `meta` key of the last committed log id.
pub(crate) const KEY_COMMITTED: &[u8] = b"committed";
/// `meta` key of the last purged log id.
pub(crate) const KEY_LAST_PURGED: &[u8] = b"last_purged";

/// The `logs` key of a log index: big-endian, so RocksDB's byte order is index order.
pub(crate) fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn key_index(key: &[u8]) -> Result<u64, DbError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| DbError::BadLogKey(key.len()))?;
    Ok(u64::from_be_bytes(bytes))
}

/// The Raft log storage of one node (openraft [`RaftLogStorage`] and [`RaftLogReader`]).
///
/// Cloning is cheap and yields another handle to the same database; openraft uses clones as log
/// readers for its replication tasks.
#[derive(Clone)]
pub struct LogStore {
    pub(crate) db: Arc<Db>,
}

impl LogStore {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        Self { db }
    }

    /// Decodes the vote and log pointers, so [`crate::open`] fails on a corrupt one.
    pub(crate) fn check_meta(&self) -> Result<(), StoreError> {
        self.get_meta::<Vote>(KEY_VOTE)
            .map_err(|e| e.into_store_error("vote"))?;
        self.get_meta::<LogId>(KEY_COMMITTED)
            .map_err(|e| e.into_store_error("committed log id"))?;
        self.get_meta::<LogId>(KEY_LAST_PURGED)
            .map_err(|e| e.into_store_error("last purged log id"))?;
        Ok(())
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, DbError> {
        let cf = cf(&self.db, CF_META)?;
        match self.db.get_pinned_cf(cf, key)? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Reads the entries whose index lies in `range`, in index order.
    fn read_range(&self, range: &impl RangeBounds<u64>) -> Result<Vec<Entry>, DbError> {
        let start = match range.start_bound() {
            Bound::Included(&start) => start,
            Bound::Excluded(&start) => match start.checked_add(1) {
                Some(start) => start,
                None => return Ok(Vec::new()),
            },
            Bound::Unbounded => 0,
        };
        let cf = cf(&self.db, CF_LOGS)?;
        let key = log_key(start);
        let mut entries = Vec::new();
        for item in self
            .db
            .iterator_cf(cf, IteratorMode::From(&key, Direction::Forward))
        {
            let (key, value) = item?;
            let index = key_index(&key)?;
            // Keys come in ascending order starting at `start`, so the first index outside the
            // range is past its end.
            if !range.contains(&index) {
                break;
            }
            entries.push(decode_entry(index, &value)?);
        }
        Ok(entries)
    }

    fn log_state(&self) -> Result<LogState<TypeConfig>, DbError> {
        let last_purged_log_id = self.get_meta::<LogId>(KEY_LAST_PURGED)?;
        let cf = cf(&self.db, CF_LOGS)?;
        let last_log_id = match self.db.iterator_cf(cf, IteratorMode::End).next() {
            Some(item) => {
                let (key, value) = item?;
                Some(decode_entry(key_index(&key)?, &value)?.log_id)
            }
            // No entries: the log ends where it was purged.
            None => last_purged_log_id,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    /// Deletes the entries with index `>= from` into `batch`.
    fn delete_from(&self, batch: &mut WriteBatch, from: u64) -> Result<(), DbError> {
        let cf = cf(&self.db, CF_LOGS)?;
        // `delete_range` excludes its end key, so the (theoretical) index u64::MAX is deleted
        // separately.
        batch.delete_range_cf(cf, log_key(from), log_key(u64::MAX));
        batch.delete_cf(cf, log_key(u64::MAX));
        Ok(())
    }

    fn truncate_since(&self, log_id: &LogId) -> Result<(), DbError> {
        let mut batch = WriteBatch::default();
        self.delete_from(&mut batch, log_id.index)?;
        // Not synced: see the module documentation.
        self.db.write(batch)?;
        Ok(())
    }

    fn purge_upto(&self, log_id: &LogId) -> Result<(), DbError> {
        if self.get_meta::<LogId>(KEY_LAST_PURGED)?.as_ref() >= Some(log_id) {
            return Ok(());
        }
        let logs = cf(&self.db, CF_LOGS)?;
        let meta = cf(&self.db, CF_META)?;
        let mut batch = WriteBatch::default();
        match log_id.index.checked_add(1) {
            Some(end) => batch.delete_range_cf(logs, log_key(0), log_key(end)),
            None => self.delete_from(&mut batch, 0)?,
        }
        batch.put_cf(meta, KEY_LAST_PURGED, encode(log_id)?);
        // Not synced: see the module documentation.
        self.db.write(batch)?;
        Ok(())
    }

    fn write_committed(&self, committed: Option<&LogId>) -> Result<(), DbError> {
        let cf = cf(&self.db, CF_META)?;
        // Not synced: see the module documentation.
        match committed {
            Some(log_id) => self.db.put_cf(cf, KEY_COMMITTED, encode(log_id)?)?,
            None => self.db.delete_cf(cf, KEY_COMMITTED)?,
        }
        Ok(())
    }
}

fn decode_entry(index: u64, bytes: &[u8]) -> Result<Entry, DbError> {
    let entry: Entry = decode(bytes)?;
    if entry.log_id.index != index {
        return Err(DbError::IndexMismatch {
            key: index,
            found: entry.log_id.index,
        });
    }
    Ok(entry)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.read_range(&range)
            .map_err(|e| StorageIOError::read_logs(&e).into())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        self.log_state()
            .map_err(|e| StorageIOError::read_logs(&e).into())
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let db = Arc::clone(&self.db);
        let vote = *vote;
        blocking(move || {
            let bytes = encode(&vote)?;
            // Synced: the vote is on disk before we return (see the module documentation).
            db.put_cf_opt(cf(&db, CF_META)?, KEY_VOTE, bytes, &synced())?;
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.get_meta(KEY_VOTE)
            .map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.write_committed(committed.as_ref())
            .map_err(|e| StorageIOError::write(&e).into())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        self.get_meta(KEY_COMMITTED)
            .map_err(|e| StorageIOError::read(&e).into())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = WriteBatch::default();
        {
            let logs = cf(&self.db, CF_LOGS).map_err(|e| StorageIOError::write_logs(&e))?;
            for entry in entries {
                let bytes = encode(&entry)
                    .map_err(|e| StorageIOError::write_log_entry(entry.log_id, &e))?;
                batch.put_cf(logs, log_key(entry.log_id.index), bytes);
            }
        }

        // One batch, one synced write: every entry of this call is on disk before the callback
        // tells openraft so. The entries are readable once the write returns, which is also
        // before this method returns, as the trait requires.
        let db = Arc::clone(&self.db);
        let written = blocking(move || Ok(db.write_opt(batch, &synced())?)).await;
        match written {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                // Report the failure both ways: openraft treats a storage error as fatal.
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(&e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.truncate_since(&log_id)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.purge_upto(&log_id)
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}
