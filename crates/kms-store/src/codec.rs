//! Byte encoding of every record this crate writes to RocksDB (log entries, vote, log pointers,
//! snapshot metadata and snapshot data).
//!
//! A record is one format tag byte followed by the body. Store format 3 (this build) writes
//! [`FORMAT_JSON`]: `serde_json` with named struct fields and enum variants, i.e.
//! self-describing, so a field added later with `#[serde(default)]` decodes from records
//! written before it, and reordering never misreads. [`encode`] checks that the bytes decode to
//! an equal value before they are written.
//!
//! Store format 2 (the released version) wrote [`FORMAT_BINCODE`] (bincode 2, serde API,
//! positional: not self-describing) and fell back to JSON for values bincode could not
//! round-trip. [`decode_v2`] reads both, for the migration only (`migrate.rs`).
//!
//! Decoding never panics on garbage: unknown tags, truncated bodies and trailing bytes are errors;
//! a record above [`MAX_RECORD_BYTES`] is refused, and bincode runs with a byte limit so a
//! corrupt length prefix cannot make it allocate terabytes.

use std::any::type_name;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Tag byte of a bincode-encoded record (format 2 only).
pub(crate) const FORMAT_BINCODE: u8 = 1;
/// Tag byte of a JSON-encoded record: every format-3 record; format 2's fallback.
pub(crate) const FORMAT_JSON: u8 = 2;

/// Upper bound on the bytes bincode may claim (allocate) while decoding one record.
///
/// Format 2 wrote a record that needed more than this in memory as JSON instead (its round-trip
/// check), so the limit never rejects data it wrote; it only stops a corrupt length prefix from
/// triggering a huge allocation.
const BINCODE_DECODE_LIMIT: usize = 1 << 30;

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
    /// The record is larger than [`MAX_RECORD_BYTES`].
    #[error("record of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Neither bincode nor JSON reproduce the value; nothing was written.
    #[error("{0} does not round-trip through JSON")]
    NoRoundTrip(&'static str),
}

/// Upper bound on the size of one record [`decode`] accepts (JSON allocates no more than its
/// input holds, so this bounds the memory a corrupt or hostile record can cost).
pub(crate) const MAX_RECORD_BYTES: usize = 1 << 30;

/// Encodes `value` as a format-3 record: [`FORMAT_JSON`] and JSON with named fields, checked to
/// decode to an equal value before anything is written.
pub(crate) fn encode<T>(value: &T) -> Result<Vec<u8>, CodecError>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    let mut out = vec![FORMAT_JSON];
    serde_json::to_writer(&mut out, value)?;
    match serde_json::from_slice::<T>(&out[1..]) {
        Ok(back) if back == *value => Ok(out),
        _ => Err(CodecError::NoRoundTrip(type_name::<T>())),
    }
}

/// Decodes a format-3 record written by [`encode`].
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(CodecError::TooLarge(bytes.len()));
    }
    let (&tag, body) = bytes.split_first().ok_or(CodecError::Empty)?;
    match tag {
        FORMAT_JSON => Ok(serde_json::from_slice(body)?),
        other => Err(CodecError::UnknownFormat(other)),
    }
}

/// Encodes `value` as format 2 wrote it (bincode, or JSON where bincode does not round-trip):
/// only the tests write format-2 stores.
#[cfg(test)]
pub(crate) fn encode_v2<T>(value: &T) -> Result<Vec<u8>, CodecError>
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
    encode(value)
}

/// Decodes a record of a format-2 store (bincode or the JSON fallback), for the migration.
pub(crate) fn decode_v2<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
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
