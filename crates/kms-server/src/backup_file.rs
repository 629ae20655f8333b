//! The backup file `trent backup create` writes and `trent restore` reads: one region's state
//! at one applied index, key material still wrapped by the region's root key.
//!
//! ```text
//! {header: BackupHeader as one JSON line}\n
//! {the region's State as JSON}
//! ```
//!
//! The header names the format and its version, the region, the node and index the image was
//! read at, when, the Trent version, what the state holds, and the state's length and SHA-256;
//! [`BackupFile::parse`] checks all of them, so a truncated, edited or foreign file is refused
//! before anything is restored. The file is as sensitive as a node's disk (it is useless without
//! the region's root of trust, as the disk is) and is written with mode 0600.

use anyhow::{bail, ensure, Context};
use kms_core::{State, StateSummary};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The `format` field of every backup.
pub const FORMAT: &str = "trent-backup";
/// The version of the layout above this build writes and reads.
pub const VERSION: u32 = 1;

/// The first line of a backup file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version ([`VERSION`]).
    pub version: u32,
    /// The region the state is of; a restore goes only to a region of that name.
    pub region: String,
    /// The node that read the image.
    pub node_id: u64,
    /// The Raft index the image was read at, after a linearizable read barrier: every write
    /// acknowledged before the backup began is at or below it.
    pub applied_index: Option<u64>,
    /// When the image was read, ms since the epoch.
    pub created_ms: i64,
    /// The `trent` version that wrote the file.
    pub trent_version: String,
    /// What the state holds.
    pub summary: StateSummary,
    /// Length of the state part, bytes.
    pub state_bytes: usize,
    /// SHA-256 of the state part, lowercase hex.
    pub state_sha256: String,
}

/// A backup: its header and the state's JSON.
#[derive(Debug, Clone)]
pub struct BackupFile {
    /// The header.
    pub header: BackupHeader,
    /// The state, as JSON (what `Command::Restore` carries).
    pub state_json: Vec<u8>,
}

impl BackupFile {
    /// A backup of `state`, read on `node_id` of `region` at `applied_index`.
    pub fn of_state(
        state: &State,
        region: &str,
        node_id: u64,
        applied_index: Option<u64>,
        created_ms: i64,
    ) -> anyhow::Result<BackupFile> {
        let state_json = serde_json::to_vec(state).context("encoding the state")?;
        Ok(BackupFile {
            header: BackupHeader {
                format: FORMAT.into(),
                version: VERSION,
                region: region.into(),
                node_id,
                applied_index,
                created_ms,
                trent_version: env!("CARGO_PKG_VERSION").into(),
                summary: state.summary(),
                state_bytes: state_json.len(),
                state_sha256: hex::encode(kms_crypto::sha256(&state_json)),
            },
            state_json,
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let mut out = serde_json::to_vec(&self.header).context("encoding the header")?;
        out.push(b'\n');
        out.extend_from_slice(&self.state_json);
        Ok(out)
    }

    /// Reads a backup file's bytes and checks them: format and version, length and checksum
    /// of the state, that the state decodes, and that it holds what the header says. Returns
    /// the backup and the decoded state.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<(BackupFile, State)> {
        let newline = bytes
            .iter()
            .position(|b| *b == b'\n')
            .context("not a Trent backup: no header line")?;
        let (header, rest) = bytes.split_at(newline);
        let header: BackupHeader =
            serde_json::from_slice(header).context("not a Trent backup: the header is not JSON")?;
        ensure!(
            header.format == FORMAT,
            "not a Trent backup: format {:?}",
            header.format
        );
        if header.version != VERSION {
            bail!(
                "backup format version {} is not one this trent ({}) reads (it reads version {VERSION})",
                header.version,
                env!("CARGO_PKG_VERSION")
            );
        }
        let state_json = &rest[1..];
        ensure!(
            state_json.len() == header.state_bytes,
            "the backup is damaged: its state is {} bytes, the header says {} (truncated?)",
            state_json.len(),
            header.state_bytes
        );
        let digest = hex::encode(kms_crypto::sha256(state_json));
        ensure!(
            digest == header.state_sha256,
            "the backup is damaged: its state's SHA-256 is {digest}, the header says {}",
            header.state_sha256
        );
        let state: State =
            serde_json::from_slice(state_json).context("the backup's state does not decode")?;
        ensure!(
            state.summary() == header.summary,
            "the backup's state holds {:?}, the header says {:?}",
            state.summary(),
            header.summary
        );
        Ok((
            BackupFile {
                header,
                state_json: state_json.to_vec(),
            },
            state,
        ))
    }

    /// Writes the file at `path` (new, mode 0600, synced); refuses to replace a file.
    pub fn write_new(&self, path: &Path) -> anyhow::Result<()> {
        let bytes = self.to_bytes()?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup() -> BackupFile {
        BackupFile::of_state(&State::default(), "us-east-1", 2, Some(41), 1_000).unwrap()
    }

    #[test]
    fn a_backup_reads_back_as_written() {
        let bytes = backup().to_bytes().unwrap();
        let (read, state) = BackupFile::parse(&bytes).unwrap();
        assert_eq!(read.header, backup().header);
        assert_eq!(state, State::default());
    }

    #[test]
    fn a_damaged_or_foreign_file_is_refused_naming_why() {
        let bytes = backup().to_bytes().unwrap();
        let truncated = &bytes[..bytes.len() - 1];
        let error = BackupFile::parse(truncated).unwrap_err().to_string();
        assert!(error.contains("truncated"), "{error}");

        let mut flipped = bytes.clone();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        let error = BackupFile::parse(&flipped).unwrap_err().to_string();
        assert!(error.contains("SHA-256"), "{error}");

        let mut header = backup().header;
        header.version = 9;
        let newer = BackupFile {
            header,
            state_json: backup().state_json,
        };
        let error = BackupFile::parse(&newer.to_bytes().unwrap())
            .unwrap_err()
            .to_string();
        assert!(error.contains("version 9"), "{error}");

        let error = BackupFile::parse(b"hello\nworld").unwrap_err().to_string();
        assert!(error.contains("not a Trent backup"), "{error}");
    }

    #[test]
    fn a_file_is_never_overwritten_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.backup");
        backup().write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(backup().write_new(&path).is_err());
    }
}
