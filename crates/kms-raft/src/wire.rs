//! Encoding of the internal RPC bodies (bincode over HTTP POST) and the forwarded-request
//! messages that travel between a follower and its leader.

use kms_core::{Command, CommandOutput};
use kms_types::KmsError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The largest body each internal endpoint accepts, and the most its bincode decoder may
/// allocate: far below what would let a peer make a node buffer or allocate without bound.
pub(crate) mod limits {
    /// `/raft/append`: up to `MAX_PAYLOAD_ENTRIES` log entries (group-committed batches).
    pub const APPEND: usize = 24 * 1024 * 1024;
    /// `/raft/snapshot`: one snapshot chunk (1 MiB) and its metadata.
    pub const SNAPSHOT: usize = 4 * 1024 * 1024;
    /// `/raft/write`: one forwarded command (a batch of at most 256 commands).
    pub const WRITE: usize = 16 * 1024 * 1024;
    /// `/raft/vote`, `/raft/read-index` and every reply but a forwarded write's.
    pub const SMALL: usize = 64 * 1024;
}

/// Encodes an RPC body.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
}

/// Decodes an RPC body of at most `LIMIT` bytes (a length prefix claiming more is refused
/// before anything is allocated); malformed input is an error, never a panic.
pub(crate) fn decode<const LIMIT: usize, T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    if bytes.len() > LIMIT {
        return Err(format!("body of {} bytes exceeds {LIMIT}", bytes.len()));
    }
    let config = bincode::config::standard().with_limit::<LIMIT>();
    bincode::serde::decode_from_slice(bytes, config)
        .map(|(value, _)| value)
        .map_err(|e| e.to_string())
}

/// A write forwarded from a follower to the node it believes is leader.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ForwardedWrite {
    pub command: Command,
}

/// The leader's answer to a forwarded write or read-index request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ForwardReply<T> {
    /// Done: the value, or the KMS error the state machine decided.
    Done(Result<T, KmsError>),
    /// The receiver is not the leader; here is who it thinks is.
    NotLeader { leader: Option<(u64, String)> },
}

/// Result of a forwarded write.
pub(crate) type WriteReply = ForwardReply<CommandOutput>;
/// Result of a read-index request: the log index a linearizable read must wait for.
pub(crate) type ReadIndexReply = ForwardReply<u64>;
