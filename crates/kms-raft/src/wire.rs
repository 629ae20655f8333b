//! Encoding of the internal RPC bodies (bincode over HTTP POST) and the forwarded-request
//! messages that travel between a follower and its leader.

use kms_core::{Command, CommandOutput};
use kms_types::KmsError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Encodes an RPC body.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
}

/// Decodes an RPC body; malformed input is an error, never a panic.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    bincode::serde::decode_from_slice(bytes, bincode::config::standard())
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
