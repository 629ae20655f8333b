//! The shared RocksDB instance: column families, keys, write options and the internal error
//! type of the storage code.

use std::path::Path;

use rocksdb::{ColumnFamily, Options, SingleThreaded, WriteOptions};

use crate::codec::CodecError;
use crate::StoreError;

/// The RocksDB handle type. Spelled out (rather than `rocksdb::DB`) so that another crate
/// enabling rocksdb's `multi-threaded-cf` feature cannot change the column-family API under us.
pub(crate) type Db = rocksdb::DBWithThreadMode<SingleThreaded>;

/// Raft log entries, keyed by big-endian log index.
pub(crate) const CF_LOGS: &str = "logs";
/// Vote, committed log id and last purged log id.
pub(crate) const CF_META: &str = "meta";
/// The current snapshot (metadata and data).
pub(crate) const CF_SNAPSHOT: &str = "snapshot";

/// Opens the database, creating it and any missing column family.
pub(crate) fn open(dir: &Path) -> Result<Db, StoreError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.create_missing_column_families(true);
    let db = Db::open_cf(&opts, dir, [CF_LOGS, CF_META, CF_SNAPSHOT])?;
    for name in [CF_LOGS, CF_META, CF_SNAPSHOT] {
        if db.cf_handle(name).is_none() {
            return Err(StoreError::MissingColumnFamily(name));
        }
    }
    Ok(db)
}

/// The on-disk format this build writes and reads: the encoding of log entries, the state
/// machine's snapshot and the meta records. 3: self-describing JSON records (`codec.rs`), so
/// adding a field with `#[serde(default)]` or a `Command` variant needs no new format. 4: the
/// snapshot's bytes in a file of `snapshots/` (`snapshot_file.rs`) rather than a RocksDB
/// value. Stores of formats 2 (the released version) and 3 are migrated at open (`migrate.rs`).
pub const FORMAT_VERSION: u32 = 4;
/// The format of the released version, migrated at open.
pub(crate) const FORMAT_V2: u32 = 2;
/// The format with the snapshot bytes in RocksDB, migrated at open.
pub(crate) const FORMAT_V3: u32 = 3;
/// Where the format version is kept (column family `meta`).
pub(crate) const KEY_FORMAT: &[u8] = b"format_version";

/// What [`check_format`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// A store of this build's format (or a new, now stamped, empty store).
    Current,
    /// A store of format 2, to be migrated.
    V2,
    /// A store of format 3, to be migrated.
    V3,
}

/// Checks the store's format version; stamps an empty store with [`FORMAT_VERSION`]. A store
/// of format 1 (unversioned, before the first release) or of a newer format than this build's
/// is refused with an error that says so, instead of failing later on a record it cannot decode.
pub(crate) fn check_format(db: &Db, dir: &Path) -> Result<Found, StoreError> {
    let meta = db
        .cf_handle(CF_META)
        .ok_or(StoreError::MissingColumnFamily(CF_META))?;
    match db.get_cf(meta, KEY_FORMAT)? {
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_slice())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    record: "format version",
                    reason: format!("{} bytes", bytes.len()),
                })?;
            match found {
                FORMAT_VERSION => Ok(Found::Current),
                FORMAT_V2 => Ok(Found::V2),
                FORMAT_V3 => Ok(Found::V3),
                newer if newer > FORMAT_VERSION => Err(StoreError::NewerFormat {
                    dir: dir.display().to_string(),
                    found: newer,
                }),
                older => Err(StoreError::Format {
                    dir: dir.display().to_string(),
                    found: Some(older),
                }),
            }
        }
        None => {
            let empty = [CF_LOGS, CF_META, CF_SNAPSHOT].into_iter().all(|name| {
                db.cf_handle(name).is_some_and(|cf| {
                    db.iterator_cf(cf, rocksdb::IteratorMode::Start)
                        .next()
                        .is_none()
                })
            });
            if !empty {
                return Err(StoreError::Format {
                    dir: dir.display().to_string(),
                    found: None,
                });
            }
            db.put_cf_opt(meta, KEY_FORMAT, FORMAT_VERSION.to_be_bytes(), &synced())?;
            Ok(Found::Current)
        }
    }
}

/// Looks up a column family handle (always present after [`open`]).
pub(crate) fn cf<'a>(db: &'a Db, name: &'static str) -> Result<&'a ColumnFamily, DbError> {
    db.cf_handle(name).ok_or(DbError::MissingCf(name))
}

/// Write options that make the write durable before it returns: RocksDB appends the batch to
/// its write-ahead log and fsyncs the log (and any earlier, not yet synced WAL data) first.
pub(crate) fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

/// Runs blocking RocksDB work (fsyncs, large snapshot values, snapshot encoding) on tokio's
/// blocking pool so it does not stall the async worker threads, and waits for it.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, DbError>
where
    F: FnOnce() -> Result<T, DbError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(join) => Err(DbError::Join(join)),
    }
}

/// Everything that can go wrong between this crate and RocksDB. Mapped to openraft's
/// `StorageError` at the trait boundary and to [`StoreError`] in [`crate::open`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    /// RocksDB reported an error.
    #[error("rocksdb: {0}")]
    RocksDb(#[from] rocksdb::Error),
    /// A stored record does not decode, or a value does not encode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A column family handle is missing.
    #[error("column family {0:?} is missing")]
    MissingCf(&'static str),
    /// A key in the `logs` column family is not an 8-byte index.
    #[error("log key of {0} bytes is not an 8-byte index")]
    BadLogKey(usize),
    /// The entry stored under a log index carries a different index.
    #[error("entry stored at index {key} has log id index {found}")]
    IndexMismatch {
        /// Index in the key.
        key: u64,
        /// Index inside the decoded entry.
        found: u64,
    },
    /// The snapshot metadata exists but its data does not (or the reverse).
    #[error("snapshot {0} is missing")]
    SnapshotHalfMissing(&'static str),
    /// The snapshot data disagrees with its metadata.
    #[error("snapshot data does not match its metadata: {0}")]
    SnapshotMismatch(String),
    /// A lock was poisoned by a panic in another thread.
    #[error("{0} lock poisoned by a panic")]
    Poisoned(&'static str),
    /// A snapshot file could not be written or read.
    #[error("snapshot file: {0}")]
    Io(#[from] std::io::Error),
    /// A blocking task panicked or was cancelled.
    #[error("blocking task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

impl DbError {
    /// Converts into the open-time error, naming the record involved.
    pub(crate) fn into_store_error(self, record: &'static str) -> StoreError {
        match self {
            DbError::RocksDb(e) => StoreError::RocksDb(e),
            DbError::MissingCf(name) => StoreError::MissingColumnFamily(name),
            other => StoreError::Corrupt {
                record,
                reason: other.to_string(),
            },
        }
    }
}
