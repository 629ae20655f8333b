//! Ciphertext blobs of keys in custom key stores. Like the version-1 blob
//! ([`crate::ciphertext`]) each names its key, so Decrypt finds the key without a KeyId.
//! Persistent formats: blobs written by any version must stay decryptable.
//!
//! ```text
//! external key store (0x02):  0x02 | L | key id | outer
//!     outer = the XKS proxy's encryption (iv, tag, ciphertext, metadata; opaque here) of a
//!             version-1 blob made with the key's KMS-held material: double encryption, so
//!             neither the proxy nor KMS alone can decrypt.
//!     The AAD given to the proxy is "trent-xks-v1" | header (bytes before `outer`).
//! HSM key store (0x03):       0x03 | L | key id | iv (12) | tag (16) | ciphertext
//!     AES-256-GCM inside the token; AAD = header (bytes before the iv) followed by the
//!     canonical encryption-context encoding of the version-1 format.
//! ```
//!
//! L is the key id's length (1..=64), the key id printable ASCII, as in version 1.

use std::collections::BTreeMap;

use crate::ciphertext::{self, MAX_KEY_ID_LEN};
use crate::CryptoError;

/// Format byte of a blob made by a key in an external key store.
pub const XKS_FORMAT: u8 = 0x02;
/// Format byte of a blob made by a key in an HSM key store.
pub const HSM_FORMAT: u8 = 0x03;
const XKS_AAD_PREFIX: &[u8] = b"trent-xks-v1";
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
const BAD: CryptoError = CryptoError::InvalidCiphertext;

/// Which format a blob is in, and the key it names (not authenticated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobKind {
    /// Version 1: a key with KMS-held material.
    Kms,
    /// A key in an external key store.
    Xks,
    /// A key in an HSM key store.
    Hsm,
}

fn header(format: u8, key_id: &str) -> Result<Vec<u8>, CryptoError> {
    let id = key_id.as_bytes();
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !id.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(CryptoError::InvalidKeyId);
    }
    let mut out = Vec::with_capacity(2 + id.len());
    out.push(format);
    out.push(id.len() as u8);
    out.extend_from_slice(id);
    Ok(out)
}

/// Splits `blob` into (format, key id, header length); checks bounds only.
fn split(blob: &[u8]) -> Result<(u8, String, usize), CryptoError> {
    let (&format, rest) = blob.split_first().ok_or(BAD)?;
    let (&len, rest) = rest.split_first().ok_or(BAD)?;
    let id = rest.get(..usize::from(len)).ok_or(BAD)?;
    let key_id = String::from_utf8(id.to_vec()).map_err(|_| BAD)?;
    header(format, &key_id).map_err(|_| BAD)?;
    Ok((format, key_id, 2 + id.len()))
}

/// The format of `blob` and the key id it names. Authenticates nothing: use it to find the
/// key, then open the blob the way its key's store requires.
pub fn blob_key(blob: &[u8]) -> Result<(BlobKind, String), CryptoError> {
    match blob.first() {
        Some(&ciphertext::FORMAT_VERSION) => {
            let header = ciphertext::parse_header(blob)?;
            Ok((BlobKind::Kms, header.key_id))
        }
        Some(&XKS_FORMAT) => split(blob).map(|(_, id, _)| (BlobKind::Xks, id)),
        Some(&HSM_FORMAT) => split(blob).map(|(_, id, _)| (BlobKind::Hsm, id)),
        _ => Err(BAD),
    }
}

/// The AAD to give the XKS proxy for a blob of `key_id`.
pub fn xks_proxy_aad(key_id: &str) -> Result<Vec<u8>, CryptoError> {
    let mut aad = XKS_AAD_PREFIX.to_vec();
    aad.extend_from_slice(&header(XKS_FORMAT, key_id)?);
    Ok(aad)
}

/// An external key store blob: the header for `key_id`, then the proxy's `outer` bytes.
pub fn xks_blob(key_id: &str, outer: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut blob = header(XKS_FORMAT, key_id)?;
    blob.extend_from_slice(outer);
    Ok(blob)
}

/// The key id and the proxy's `outer` bytes of an external key store blob.
pub fn parse_xks_blob(blob: &[u8]) -> Result<(String, &[u8]), CryptoError> {
    let (format, key_id, at) = split(blob)?;
    if format != XKS_FORMAT || blob.len() == at {
        return Err(BAD);
    }
    Ok((key_id, &blob[at..]))
}

/// The AAD an HSM key store key binds for `key_id` and `context`.
pub fn hsm_aad(key_id: &str, context: &BTreeMap<String, String>) -> Result<Vec<u8>, CryptoError> {
    ciphertext::aad(&header(HSM_FORMAT, key_id)?, context)
}

/// An HSM key store blob from the token's GCM output.
pub fn hsm_blob(
    key_id: &str,
    iv: &[u8],
    tag: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    if iv.len() != IV_LEN || tag.len() != TAG_LEN {
        return Err(BAD);
    }
    let mut blob = header(HSM_FORMAT, key_id)?;
    blob.extend_from_slice(iv);
    blob.extend_from_slice(tag);
    blob.extend_from_slice(ciphertext);
    Ok(blob)
}

/// The pieces of an HSM key store blob.
#[derive(Debug, PartialEq, Eq)]
pub struct HsmBlob<'a> {
    /// The key id it names.
    pub key_id: String,
    /// The GCM IV.
    pub iv: &'a [u8],
    /// The GCM tag.
    pub tag: &'a [u8],
    /// The ciphertext.
    pub ciphertext: &'a [u8],
}

/// Splits an HSM key store blob; checks bounds only.
pub fn parse_hsm_blob(blob: &[u8]) -> Result<HsmBlob<'_>, CryptoError> {
    let (format, key_id, at) = split(blob)?;
    if format != HSM_FORMAT {
        return Err(BAD);
    }
    let rest = &blob[at..];
    if rest.len() < IV_LEN + TAG_LEN + 1 {
        return Err(BAD);
    }
    Ok(HsmBlob {
        key_id,
        iv: &rest[..IV_LEN],
        tag: &rest[IV_LEN..IV_LEN + TAG_LEN],
        ciphertext: &rest[IV_LEN + TAG_LEN..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    #[test]
    fn blobs_name_their_key_and_format() {
        let xks = xks_blob(KEY, b"outer").unwrap();
        assert_eq!(blob_key(&xks).unwrap(), (BlobKind::Xks, KEY.to_string()));
        assert_eq!(
            parse_xks_blob(&xks).unwrap(),
            (KEY.to_string(), &b"outer"[..])
        );
        let hsm = hsm_blob(KEY, &[1; 12], &[2; 16], b"ct").unwrap();
        assert_eq!(blob_key(&hsm).unwrap(), (BlobKind::Hsm, KEY.to_string()));
        let parsed = parse_hsm_blob(&hsm).unwrap();
        assert_eq!(
            (parsed.iv, parsed.tag, parsed.ciphertext),
            (&[1u8; 12][..], &[2u8; 16][..], &b"ct"[..])
        );
        // One format is never read as another, and truncation is refused, never a panic.
        assert!(parse_hsm_blob(&xks).is_err() && parse_xks_blob(&hsm).is_err());
        for n in 0..hsm.len() {
            let _ = blob_key(&hsm[..n]);
            let _ = parse_hsm_blob(&hsm[..n]);
            let _ = parse_xks_blob(&xks[..n.min(xks.len())]);
        }
        assert!(parse_xks_blob(&xks[..2 + KEY.len()]).is_err());
        assert!(blob_key(&[0x09, 1, b'a']).is_err());
    }

    #[test]
    fn the_aads_bind_the_key_and_context() {
        let mut context = BTreeMap::new();
        assert_ne!(
            hsm_aad(KEY, &context).unwrap(),
            hsm_aad("other", &context).unwrap()
        );
        let empty = hsm_aad(KEY, &context).unwrap();
        context.insert("k".to_string(), "v".to_string());
        assert_ne!(hsm_aad(KEY, &context).unwrap(), empty);
        assert!(xks_proxy_aad(KEY).unwrap().starts_with(b"trent-xks-v1\x02"));
        assert!(xks_blob("", b"x").is_err());
    }
}
