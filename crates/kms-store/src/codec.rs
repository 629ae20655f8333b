//! Byte encoding of every record this crate writes to RocksDB (log entries, vote, log pointers,
//! snapshot metadata and snapshot data).
//!
//! A record is one format tag byte followed by the body:
//!
//! - [`FORMAT_BINCODE`]: bincode 2 (serde API, `config::standard()`), the normal case. All openraft
//!   records we store (`Entry`, `Vote`, `LogId`, `SnapshotMeta`, `StoredMembership`) round-trip
//!   through bincode (the tests check this), so they are always written this way.
//! - [`FORMAT_JSON`]: `serde_json`, the fallback. bincode is not self-describing, so serde
//!   attributes such as `skip_serializing_if`, `flatten` or internally tagged / untagged enums
//!   make it write bytes it cannot read back (or, worse, reads back a different value). The
//!   command and state types come from `kms-core` and reuse `kms-types` models that carry such
//!   attributes, so [`encode`] verifies that the bincode bytes decode to an equal value and
//!   falls back to JSON for that one record when they do not. Decoding dispatches on the tag, so
//!   both kinds can be mixed in one database.
//!
//! Decoding never panics on garbage: unknown tags, truncated bodies and trailing bytes are errors,
//! and bincode runs with a byte limit so a corrupt length prefix cannot make it allocate
//! terabytes (bincode allocates a string/byte buffer of the claimed length before reading it).

use std::any::type_name;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Tag byte of a bincode-encoded record.
pub(crate) const FORMAT_BINCODE: u8 = 1;
/// Tag byte of a JSON-encoded record (fallback for values bincode cannot round-trip).
pub(crate) const FORMAT_JSON: u8 = 2;

/// Upper bound on the bytes bincode may claim (allocate) while decoding one record.
///
/// A record that legitimately needs more than this in memory fails the round-trip check in
/// [`encode`] and is therefore written as JSON instead, so the limit never rejects data this
/// crate wrote; it only stops a corrupt length prefix from triggering a huge allocation.
const BINCODE_DECODE_LIMIT: usize = 1 << 30;

/// Set once the first time a record falls back to JSON, so the warning is logged once.
static JSON_FALLBACK_WARNED: AtomicBool = AtomicBool::new(false);

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<BINCODE_DECODE_LIMIT>()
}

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CodecError {
    /// The stored value has no bytes at all.
    #[error("empty record")]
    Empty,
    /// The first byte is not a known format tag.
    #[error("unknown record format tag {0:#04x}")]
    UnknownFormat(u8),
    /// bincode could not encode the value.
    #[error("bincode encode: {0}")]
    BincodeEncode(#[from] bincode::error::EncodeError),
    /// bincode could not decode the body.
    #[error("bincode decode: {0}")]
    BincodeDecode(#[from] bincode::error::DecodeError),
    /// The body decoded but did not consume all bytes.
    #[error("{0} trailing bytes after the record")]
    Trailing(usize),
    /// JSON could not encode or decode the value.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Neither bincode nor JSON reproduce the value; nothing was written.
    #[error("{0} does not round-trip through bincode or JSON")]
    NoRoundTrip(&'static str),
}

/// Encodes `value` as a tagged record (bincode, or JSON if bincode does not round-trip it).
pub(crate) fn encode<T>(value: &T) -> Result<Vec<u8>, CodecError>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    let mut out = vec![FORMAT_BINCODE];
    bincode::serde::encode_into_std_write(value, &mut out, bincode_config())?;
    if let Ok(back) = decode_bincode::<T>(&out[1..]) {
        if back == *value {
            return Ok(out);
        }
    }

    if !JSON_FALLBACK_WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            record = type_name::<T>(),
            "value does not round-trip through bincode; storing it as JSON (check kms-core serde \
             attributes)"
        );
    }
    let mut out = vec![FORMAT_JSON];
    serde_json::to_writer(&mut out, value)?;
    match serde_json::from_slice::<T>(&out[1..]) {
        Ok(back) if back == *value => Ok(out),
        _ => Err(CodecError::NoRoundTrip(type_name::<T>())),
    }
}

/// Decodes a tagged record written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    let (&tag, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    match tag {
        FORMAT_BINCODE => decode_bincode(body),
        FORMAT_JSON => Ok(serde_json::from_slice(body)?),
        other => Err(CodecError::UnknownFormat(other)),
    }
}

fn decode_bincode<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    let (value, used) = bincode::serde::decode_from_slice(body, bincode_config())?;
    if used != body.len() {
        return Err(CodecError::Trailing(body.len().saturating_sub(used)));
    }
    Ok(value)
}
