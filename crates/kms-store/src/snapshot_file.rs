//! Snapshot files: each state-machine snapshot is a file in `<store>/snapshots/`, written and
//! read as a stream.
//!
//! Neither the node that builds a snapshot nor the node that receives one holds its encoded
//! bytes in memory. The bytes never pass through RocksDB's write-ahead log either: a snapshot
//! kept as one large RocksDB value (store format 3) delayed the fsyncs of the Raft log appends
//! that share that log.
//!
//! A file holds the bytes format 3 kept in the `snapshot` column family's `data` value: the
//! JSON record tag, then the JSON of the state machine's data (`SmData`; the functions here take any serde type,
//! so this module knows nothing of the state machine). Its length and SHA-256
//! ([`FileDigest`]) are recorded in the snapshot metadata in RocksDB and checked as it is read
//! back, so a truncated or damaged file fails the open instead of loading a wrong state.
//!
//! Files are written as `<id>.partial`, fsynced, then renamed to `<id>.snap`, and the directory
//! is fsynced: a crash never leaves a half-written file under a final name. The metadata in
//! RocksDB names the one current file; the others are removed once a newer one is recorded.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::FORMAT_JSON;
use crate::db::DbError;

/// The directory of snapshot files inside the store's directory.
pub(crate) const DIR: &str = "snapshots";
/// Buffer size of snapshot file reads and writes.
const BUFFER_BYTES: usize = 1 << 20;
/// Suffix of a complete snapshot file.
const FINAL: &str = "snap";
/// Suffix of a file being written or received.
const PARTIAL: &str = "partial";

/// Length and SHA-256 of a snapshot file, recorded with its metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileDigest {
    /// Bytes in the file.
    pub(crate) len: u64,
    /// SHA-256 of the file, lower-case hex.
    pub(crate) sha256: String,
}

/// The snapshot files of one store.
#[derive(Debug)]
pub(crate) struct SnapshotFiles {
    dir: PathBuf,
}

impl SnapshotFiles {
    /// Opens (creating) the snapshot directory of the store in `store_dir`. Partial files left
    /// by a crash are removed: nothing refers to them.
    pub(crate) fn open(store_dir: &Path) -> io::Result<Self> {
        let dir = store_dir.join(DIR);
        fs::create_dir_all(&dir)?;
        let files = Self { dir };
        for path in files.listed(PARTIAL)? {
            fs::remove_file(&path)?;
        }
        Ok(files)
    }

    /// Path of the complete file of snapshot `id`.
    pub(crate) fn path(&self, id: &str) -> Result<PathBuf, DbError> {
        Ok(self.dir.join(format!("{}.{FINAL}", checked_id(id)?)))
    }

    /// Writes `data` as the file of snapshot `id` (streamed, fsynced, renamed into place).
    pub(crate) fn write<T: Serialize>(&self, id: &str, data: &T) -> Result<FileDigest, DbError> {
        self.write_with(id, |out| {
            out.write_all(&[FORMAT_JSON])?;
            serde_json::to_writer(out, data).map_err(crate::codec::CodecError::from)?;
            Ok(())
        })
    }

    /// Writes `bytes` (an encoded snapshot of store format 3) as the file of snapshot `id`, for
    /// the migration to format 4.
    pub(crate) fn write_bytes(&self, id: &str, bytes: &[u8]) -> Result<FileDigest, DbError> {
        self.write_with(id, |out| Ok(out.write_all(bytes)?))
    }

    /// Writes the file of snapshot `id` with `fill` as `<id>.partial`, hashing what passes,
    /// then fsyncs it and renames it into place.
    fn write_with(
        &self,
        id: &str,
        fill: impl FnOnce(&mut BufWriter<Hashing<File>>) -> Result<(), DbError>,
    ) -> Result<FileDigest, DbError> {
        let partial = self.dir.join(format!("{}.{PARTIAL}", checked_id(id)?));
        let mut out = BufWriter::with_capacity(BUFFER_BYTES, Hashing::new(File::create(&partial)?));
        fill(&mut out)?;
        let hashing = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        let (file, digest) = hashing.finish();
        file.sync_all()?;
        drop(file);
        self.adopt(&partial, id)?;
        Ok(digest)
    }

    /// A new file to receive a snapshot into, and its path.
    pub(crate) fn incoming(&self, seq: u64) -> Result<(PathBuf, File), DbError> {
        let path = self.dir.join(format!("incoming-{seq}.{PARTIAL}"));
        let file = File::create(&path)?;
        Ok((path, file))
    }

    /// Moves the complete file at `partial` (fsynced by the caller) to the final name of
    /// snapshot `id` and makes the rename durable.
    pub(crate) fn adopt(&self, partial: &Path, id: &str) -> Result<PathBuf, DbError> {
        let path = self.path(id)?;
        fs::rename(partial, &path)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(path)
    }

    /// Removes every complete snapshot file but `keep`'s.
    pub(crate) fn remove_all_but(&self, keep: &str) -> Result<(), DbError> {
        let keep = self.path(keep)?;
        for path in self.listed(FINAL)? {
            if path != keep {
                fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Removes a file, if it is there.
    pub(crate) fn remove(path: &Path) -> Result<(), DbError> {
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    fn listed(&self, suffix: &str) -> io::Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|ext| ext == suffix) {
                paths.push(path);
            }
        }
        Ok(paths)
    }
}

/// Decodes the snapshot file at `path` as a stream. With `expected`, the file's length and
/// SHA-256 must match it. Returns the data and the file's digest.
pub(crate) fn read<T: DeserializeOwned>(
    path: &Path,
    expected: Option<&FileDigest>,
) -> Result<(T, FileDigest), DbError> {
    let file = File::open(path)?;
    let mut input = BufReader::with_capacity(BUFFER_BYTES, Hashing::new(file));
    let mut tag = [0u8; 1];
    input.read_exact(&mut tag)?;
    if tag[0] != FORMAT_JSON {
        return Err(crate::codec::CodecError::UnknownFormat(tag[0]).into());
    }
    let mut json = serde_json::Deserializer::from_reader(&mut input);
    let decoded = T::deserialize(&mut json).and_then(|data| json.end().map(|()| data));
    // Read what the decoder left (nothing, in a good file) so the digest covers the whole file.
    io::copy(&mut input, &mut io::sink())?;
    let (_, digest) = input.into_inner().finish();
    if let Some(expected) = expected {
        if &digest != expected {
            return Err(DbError::SnapshotMismatch(format!(
                "file {} has {} bytes with SHA-256 {}; its metadata records {} bytes with SHA-256 {}",
                path.display(),
                digest.len,
                digest.sha256,
                expected.len,
                expected.sha256
            )));
        }
    }
    let data = decoded.map_err(crate::codec::CodecError::from)?;
    Ok((data, digest))
}

/// A snapshot id as a file name: openraft ids here are `{term}-{index}-{seq}`; anything else
/// (a leader's id is received over the network) is refused rather than used as a path.
fn checked_id(id: &str) -> Result<&str, DbError> {
    let fine = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if fine {
        Ok(id)
    } else {
        Err(DbError::SnapshotMismatch(format!(
            "snapshot id {id:?} is not a file name"
        )))
    }
}

/// A reader or writer that hashes and counts the bytes passing through it.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    len: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    fn finish(self) -> (T, FileDigest) {
        let sha256 = self
            .hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        (
            self.inner,
            FileDigest {
                len: self.len,
                sha256,
            },
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.len += read as u64;
        Ok(read)
    }
}
