//! Migration of a store written by the released version (format 2, bincode records) to this
//! build's format 3 (self-describing JSON records), when [`crate::open`] finds one.
//!
//! Every record is decoded as format 2 wrote it and re-encoded: each log entry, the vote, the
//! committed and last purged log ids, the snapshot metadata and data. All rewrites and the new
//! format stamp go into one `WriteBatch` written with a synced write, so the migration is atomic:
//! a crash before the write leaves the format-2 store as it was (the next open migrates it
//! again), a crash after it leaves a format-3 store. A record that does not decode fails the
//! open and changes nothing. Only counts are logged, never record contents.
//!
//! Format-2 log entries and snapshots are decoded into the frozen shapes of the released commit
//! `fed589d` ([`crate::released_v2`]) and moved to today's types with the defaults of fields
//! added since. The fixture test (`tests/tests/t90_migrate_released_data.rs`, data written by
//! fed589d's binary) fails if that breaks.

use std::path::Path;

use rocksdb::{IteratorMode, WriteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{decode_v2, encode};
use crate::db::{
    cf, synced, Db, DbError, CF_LOGS, CF_META, CF_SNAPSHOT, FORMAT_VERSION, KEY_FORMAT,
};
use crate::log_store::{KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE};
use crate::released_v2;
use crate::state_machine::{PersistedSnapshotMeta, SmData, KEY_SNAPSHOT_DATA, KEY_SNAPSHOT_META};
use crate::{Entry, LogId, StoreError, Vote};

/// What one migration rewrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migrated {
    /// Log entries.
    pub(crate) entries: u64,
    /// Meta records (vote, committed, last purged).
    pub(crate) meta: u64,
    /// Whether a snapshot was rewritten.
    pub(crate) snapshot: bool,
}

/// Migrates the format-2 store `db` (in `dir`) to format 3 with one synced write.
pub(crate) fn v2_to_v3(db: &Db, dir: &Path) -> Result<Migrated, StoreError> {
    let (batch, migrated) = batch(db)?;
    db.write_opt(batch, &synced())?;
    tracing::info!(
        dir = %dir.display(),
        entries = migrated.entries,
        meta_records = migrated.meta,
        snapshot = migrated.snapshot,
        "migrated the store from on-disk format 2 to {FORMAT_VERSION}"
    );
    Ok(migrated)
}

/// Builds the migration's write batch (every record re-encoded, then the new stamp) without
/// writing it.
pub(crate) fn batch(db: &Db) -> Result<(WriteBatch, Migrated), StoreError> {
    let mut batch = WriteBatch::default();
    let mut migrated = Migrated::default();

    let logs = cf(db, CF_LOGS).map_err(|e| e.into_store_error("log entry"))?;
    for item in db.iterator_cf(logs, IteratorMode::Start) {
        let (key, value) = item?;
        let entry: Entry = decode_v2::<released_v2::Entry>(&value)
            .and_then(|old| released_v2::upgrade(&old))
            .map_err(|e| DbError::from(e).into_store_error("format-2 log entry"))?;
        let bytes = encode(&entry).map_err(|e| DbError::from(e).into_store_error("log entry"))?;
        batch.put_cf(logs, key, bytes);
        migrated.entries += 1;
    }

    let meta = cf(db, CF_META).map_err(|e| e.into_store_error("meta"))?;
    migrated.meta += rewrite::<Vote, Vote>(db, &mut batch, CF_META, KEY_VOTE, "vote")?;
    migrated.meta +=
        rewrite::<LogId, LogId>(db, &mut batch, CF_META, KEY_COMMITTED, "committed log id")?;
    migrated.meta += rewrite::<LogId, LogId>(
        db,
        &mut batch,
        CF_META,
        KEY_LAST_PURGED,
        "last purged log id",
    )?;

    let snapshot_meta = rewrite::<PersistedSnapshotMeta, PersistedSnapshotMeta>(
        db,
        &mut batch,
        CF_SNAPSHOT,
        KEY_SNAPSHOT_META,
        "snapshot",
    )?;
    let snapshot_data = rewrite::<released_v2::SmData, SmData>(
        db,
        &mut batch,
        CF_SNAPSHOT,
        KEY_SNAPSHOT_DATA,
        "snapshot data",
    )?;
    migrated.snapshot = snapshot_meta + snapshot_data > 0;

    batch.put_cf(meta, KEY_FORMAT, FORMAT_VERSION.to_be_bytes());
    Ok((batch, migrated))
}

/// Re-encodes the record under `key` of `cf_name` into `batch`, if there is one, decoding it in
/// its format-2 shape `Old` and moving it to today's `New`; returns 1 if there was.
fn rewrite<Old: Serialize + DeserializeOwned, New: Serialize + DeserializeOwned + PartialEq>(
    db: &Db,
    batch: &mut WriteBatch,
    cf_name: &'static str,
    key: &[u8],
    record: &'static str,
) -> Result<u64, StoreError> {
    let family = cf(db, cf_name).map_err(|e| e.into_store_error(record))?;
    let Some(bytes) = db.get_pinned_cf(family, key)? else {
        return Ok(0);
    };
    let value: New = decode_v2::<Old>(&bytes)
        .and_then(|old| released_v2::upgrade(&old))
        .map_err(|e| DbError::from(e).into_store_error(record))?;
    let bytes = encode(&value).map_err(|e| DbError::from(e).into_store_error(record))?;
    batch.put_cf(family, key, bytes);
    Ok(1)
}
