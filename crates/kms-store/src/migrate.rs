//! Migrations of older stores, when [`crate::open`] finds one: format 2 (the released version,
//! bincode records) to format 3 (self-describing JSON records), then format 3 to this build's
//! format 4 (the snapshot bytes in a file rather than a RocksDB value).
//!
//! ## The backup first
//!
//! Before either migration the store is copied as it is, with a RocksDB checkpoint (hard links
//! to its table files, a copy of the rest), to `pre-migration-format-<N>/` in the data
//! directory, and the path is logged. A migration that fails, or a result the operator does
//! not trust, can be undone by stopping the node and putting that directory's files back. A
//! backup left by an earlier attempt that was cut off is kept as it is: it holds the older
//! state. Once the node has run well, the directory may be deleted.
//!
//! ## 3 to 4
//!
//! The `data` value is written unchanged as the snapshot's file (fsynced, renamed into place),
//! then one synced `WriteBatch` records the file's digest in the metadata, deletes the `data`
//! value and stamps format 4. A crash before the batch leaves a format-3 store (and a file the
//! next open writes again). The file is decoded and checked as the state machine loads it.
//!
//! ## 2 to 3
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

use std::path::{Path, PathBuf};

use rocksdb::{IteratorMode, WriteBatch};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec::{decode_v2, encode};
use crate::db::{
    cf, synced, Db, DbError, Found, CF_LOGS, CF_META, CF_SNAPSHOT, FORMAT_V2, FORMAT_V3,
    FORMAT_VERSION, KEY_FORMAT,
};
use crate::log_store::{KEY_COMMITTED, KEY_LAST_PURGED, KEY_VOTE};
use crate::released_v2;
use crate::snapshot_file::SnapshotFiles;
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

/// Migrates the format-2 store `db` (in `dir`) to format 3 with one synced write; [`v3_to_v4`]
/// follows.
pub(crate) fn v2_to_v3(db: &Db, dir: &Path) -> Result<Migrated, StoreError> {
    let (batch, migrated) = batch(db)?;
    db.write_opt(batch, &synced())?;
    tracing::info!(
        dir = %dir.display(),
        entries = migrated.entries,
        meta_records = migrated.meta,
        snapshot = migrated.snapshot,
        "migrated the store from on-disk format 2 to {FORMAT_V3}"
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

    let snapshot_meta = rewrite::<released_v2::PersistedSnapshotMeta, PersistedSnapshotMeta>(
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

    batch.put_cf(meta, KEY_FORMAT, FORMAT_V3.to_be_bytes());
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

/// Migrates the format-3 store `db` (in `dir`) to format 4: the snapshot's bytes move from the
/// `data` value to a file of `files`.
pub(crate) fn v3_to_v4(db: &Db, files: &SnapshotFiles, dir: &Path) -> Result<(), StoreError> {
    let family = cf(db, CF_SNAPSHOT).map_err(|e| e.into_store_error("snapshot"))?;
    let meta_cf = cf(db, CF_META).map_err(|e| e.into_store_error("meta"))?;
    let meta = crate::state_machine::read_meta(db).map_err(|e| e.into_store_error("snapshot"))?;
    let data = db.get_pinned_cf(family, KEY_SNAPSHOT_DATA)?;
    let mut batch = WriteBatch::default();
    let moved = match (meta, data) {
        (None, None) => false,
        (Some(mut meta), Some(bytes)) => {
            let digest = files
                .write_bytes(&meta.meta.snapshot_id, &bytes)
                .map_err(|e| e.into_store_error("snapshot file"))?;
            meta.file = Some(digest);
            let encoded =
                encode(&meta).map_err(|e| DbError::from(e).into_store_error("snapshot"))?;
            batch.put_cf(family, KEY_SNAPSHOT_META, encoded);
            batch.delete_cf(family, KEY_SNAPSHOT_DATA);
            true
        }
        (Some(_), None) => {
            return Err(DbError::SnapshotHalfMissing("data").into_store_error("snapshot data"))
        }
        (None, Some(_)) => {
            return Err(DbError::SnapshotHalfMissing("metadata").into_store_error("snapshot"))
        }
    };
    batch.put_cf(meta_cf, KEY_FORMAT, FORMAT_VERSION.to_be_bytes());
    db.write_opt(batch, &synced())?;
    tracing::info!(
        dir = %dir.display(),
        snapshot_moved_to_file = moved,
        "migrated the store from on-disk format {FORMAT_V3} to {FORMAT_VERSION}"
    );
    Ok(())
}

/// The directory [`back_up_before_migrating`] writes for a store of `format`.
pub(crate) fn backup_dir(dir: &Path, format: u32) -> PathBuf {
    dir.join(format!("pre-migration-format-{format}"))
}

/// Copies the store as it is (a RocksDB checkpoint) to [`backup_dir`] before it is migrated;
/// keeps a backup an earlier, cut-off attempt left.
pub(crate) fn back_up_before_migrating(
    db: &Db,
    dir: &Path,
    found: Found,
) -> Result<(), StoreError> {
    let format = match found {
        Found::V2 => FORMAT_V2,
        Found::V3 => FORMAT_V3,
        Found::Current => return Ok(()),
    };
    let target = backup_dir(dir, format);
    if target.exists() {
        tracing::info!(
            backup = %target.display(),
            "a backup of the store from an earlier migration attempt is kept"
        );
        return Ok(());
    }
    rocksdb::checkpoint::Checkpoint::new(db)?.create_checkpoint(&target)?;
    tracing::info!(
        backup = %target.display(),
        format,
        "backed up the store before migrating it (delete the backup once the node runs well)"
    );
    Ok(())
}
