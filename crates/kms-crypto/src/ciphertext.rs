//! The symmetric (`SYMMETRIC_DEFAULT`, AES-256-GCM) ciphertext blob: the bytes a KMS `Encrypt`
//! returns as `CiphertextBlob` and `Decrypt` accepts. A persistent format: blobs written by any
//! version must stay decryptable.
//!
//! # Format, version 1
//!
//! ```text
//! offset        size   field
//! 0             1      format version, 0x01
//! 1             1      L = key id length, 1..=64
//! 2             L      key id, printable ASCII (0x21..=0x7e), region independent
//!                      (a UUID such as `1234abcd-12ab-34cd-56ef-1234567890ab`, or `mrk-` + 32 hex)
//! 2+L           32     material id (which version of the key's material encrypted this)
//! 34+L          12     nonce, fresh from the CSPRNG for every encryption
//! 46+L          n+16   AES-256-GCM ciphertext of the n-byte plaintext, then the 16-byte tag
//! ```
//!
//! The AAD is the whole header (bytes `0..46+L`, everything before the ciphertext) followed by
//! the canonical encoding of the encryption context: its entries in ascending key order
//! (`BTreeMap` order, i.e. bytewise), each as
//! `u32_be(key.len()) || key || u32_be(value.len()) || value`. An empty context encodes as
//! nothing. Because every field is length-prefixed, distinct contexts never share an encoding.
//!
//! Any altered byte, a different context, a different key or a truncated blob makes
//! [`decrypt`] fail with the opaque [`CryptoError::InvalidCiphertext`].

use std::collections::BTreeMap;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::primitives::fill_random;
use crate::{CryptoError, KeyMaterial, MaterialId};

/// The format version byte this module writes and reads.
pub const FORMAT_VERSION: u8 = 0x01;
/// Longest key id the header can carry, in bytes.
pub const MAX_KEY_ID_LEN: usize = 64;
const MATERIAL_ID_LEN: usize = 32;
const TAG_LEN: usize = 16;

/// The authenticated-but-unencrypted prefix of a ciphertext blob: which key and which of its
/// material versions can decrypt it. Parsing it does not authenticate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiphertextHeader {
    /// The key id (not an ARN, not an alias) that encrypted the blob.
    pub key_id: String,
    /// The material version of that key that encrypted the blob.
    pub material_id: MaterialId,
}

/// A parsed blob: header fields plus where the pieces are.
struct Parsed<'a> {
    header: CiphertextHeader,
    /// Bytes `0..46+L`, the AAD prefix.
    header_bytes: &'a [u8],
    nonce: [u8; NONCE_LEN],
    /// Ciphertext followed by the tag (at least `TAG_LEN` bytes).
    sealed: &'a [u8],
}

fn valid_key_id(key_id: &[u8]) -> bool {
    !key_id.is_empty()
        && key_id.len() <= MAX_KEY_ID_LEN
        && key_id.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// The one parse error, whatever went wrong.
const BAD: CryptoError = CryptoError::InvalidCiphertext;

fn parse(blob: &[u8]) -> Result<Parsed<'_>, CryptoError> {
    let (&version, rest) = blob.split_first().ok_or(BAD)?;
    if version != FORMAT_VERSION {
        return Err(BAD);
    }
    let (&key_id_len, rest) = rest.split_first().ok_or(BAD)?;
    let key_id_len = usize::from(key_id_len);
    let key_id = rest.get(..key_id_len).ok_or(BAD)?;
    if !valid_key_id(key_id) {
        return Err(BAD);
    }
    let rest = &rest[key_id_len..];
    let material_id = rest.get(..MATERIAL_ID_LEN).ok_or(BAD)?;
    let rest = &rest[MATERIAL_ID_LEN..];
    let nonce = rest.get(..NONCE_LEN).ok_or(BAD)?;
    let sealed = &rest[NONCE_LEN..];
    if sealed.len() < TAG_LEN {
        return Err(BAD);
    }
    let header_len = blob.len() - sealed.len();
    let mut material_id_bytes = [0u8; MATERIAL_ID_LEN];
    material_id_bytes.copy_from_slice(material_id);
    let mut nonce_bytes = [0u8; NONCE_LEN];
    nonce_bytes.copy_from_slice(nonce);
    // valid_key_id guarantees ASCII, so this cannot fail; map anyway rather than unwrap.
    let key_id = String::from_utf8(key_id.to_vec()).map_err(|_| BAD)?;
    Ok(Parsed {
        header: CiphertextHeader {
            key_id,
            material_id: MaterialId::from_bytes(material_id_bytes),
        },
        header_bytes: &blob[..header_len],
        nonce: nonce_bytes,
        sealed,
    })
}

/// Reads the key id and material id from a blob, checking every bound (never panics). Does not
/// authenticate anything: use it to find the key, then [`decrypt`].
pub fn parse_header(blob: &[u8]) -> Result<CiphertextHeader, CryptoError> {
    parse(blob).map(|p| p.header)
}

/// The AAD: header bytes followed by the canonical encryption-context encoding.
pub(crate) fn aad(header: &[u8], ctx: &BTreeMap<String, String>) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::with_capacity(
        header.len()
            + ctx
                .iter()
                .map(|(k, v)| 8 + k.len() + v.len())
                .sum::<usize>(),
    );
    out.extend_from_slice(header);
    for (k, v) in ctx {
        for field in [k.as_bytes(), v.as_bytes()] {
            let len =
                u32::try_from(field.len()).map_err(|_| CryptoError::InvalidEncryptionContext)?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(field);
        }
    }
    Ok(out)
}

fn aes_key(material: &KeyMaterial) -> Result<LessSafeKey, CryptoError> {
    if material.len() != KeyMaterial::SYMMETRIC_LEN {
        return Err(CryptoError::InvalidKeyMaterial);
    }
    let unbound = UnboundKey::new(&AES_256_GCM, material.as_bytes())
        .map_err(|_| CryptoError::InvalidKeyMaterial)?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts `plaintext` under `material` (32-byte AES-256 key), writing a version-1 blob naming
/// `key_id` and `material_id`, bound to `encryption_context`.
///
/// Errors: [`CryptoError::InvalidKeyId`] if `key_id` is empty, over 64 bytes or not printable
/// ASCII; [`CryptoError::InvalidKeyMaterial`] if `material` is not 32 bytes.
pub fn encrypt(
    material: &KeyMaterial,
    key_id: &str,
    material_id: &MaterialId,
    plaintext: &[u8],
    encryption_context: &BTreeMap<String, String>,
) -> Result<Vec<u8>, CryptoError> {
    if !valid_key_id(key_id.as_bytes()) {
        return Err(CryptoError::InvalidKeyId);
    }
    let key = aes_key(material)?;
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce);

    let header_len = 2 + key_id.len() + MATERIAL_ID_LEN + NONCE_LEN;
    let mut blob = Vec::with_capacity(header_len + plaintext.len() + TAG_LEN);
    blob.push(FORMAT_VERSION);
    // valid_key_id bounds the length to 64, so it fits a u8.
    blob.push(u8::try_from(key_id.len()).map_err(|_| CryptoError::InvalidKeyId)?);
    blob.extend_from_slice(key_id.as_bytes());
    blob.extend_from_slice(material_id.as_bytes());
    blob.extend_from_slice(&nonce);
    let aad = aad(&blob, encryption_context)?;

    // Seal in a zeroizing copy so the plaintext does not linger if sealing fails.
    let mut in_out = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    in_out.extend_from_slice(plaintext);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut *in_out,
    )
    .map_err(|_| CryptoError::Internal("AES-GCM seal failed"))?;
    blob.extend_from_slice(&in_out);
    Ok(blob)
}

/// Decrypts a blob written by [`encrypt`] with the same `material` and `encryption_context`.
///
/// The caller picks `material` by [`parse_header`]; this function does not check that the
/// header's key id matches anything. Every authentication or format failure is
/// [`CryptoError::InvalidCiphertext`]; material that is not 32 bytes is
/// [`CryptoError::InvalidKeyMaterial`].
pub fn decrypt(
    material: &KeyMaterial,
    blob: &[u8],
    encryption_context: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key = aes_key(material)?;
    let parsed = parse(blob)?;
    let aad =
        aad(parsed.header_bytes, encryption_context).map_err(|_| CryptoError::InvalidCiphertext)?;
    let mut buf = Zeroizing::new(parsed.sealed.to_vec());
    let plain_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(parsed.nonce),
            Aad::from(aad),
            &mut buf[..],
        )
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::Index;

    const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn round_trip_and_layout() {
        let m = KeyMaterial::generate_symmetric();
        let mid = MaterialId::generate();
        let c = ctx(&[("purpose", "test")]);
        let blob = encrypt(&m, KEY_ID, &mid, b"hello", &c).expect("encrypt");
        assert_eq!(blob.len(), 2 + KEY_ID.len() + 32 + 12 + 5 + 16);
        assert_eq!(blob[0], FORMAT_VERSION);
        assert_eq!(usize::from(blob[1]), KEY_ID.len());
        assert_eq!(&blob[2..2 + KEY_ID.len()], KEY_ID.as_bytes());
        assert_eq!(&blob[2 + KEY_ID.len()..34 + KEY_ID.len()], mid.as_bytes());
        assert_eq!(
            decrypt(&m, &blob, &c).expect("decrypt").as_slice(),
            b"hello"
        );
        let h = parse_header(&blob).expect("header");
        assert_eq!(h.key_id, KEY_ID);
        assert_eq!(h.material_id, mid);
    }

    #[test]
    fn mrk_key_id_and_max_length() {
        let m = KeyMaterial::generate_symmetric();
        let mid = MaterialId::generate();
        let mrk = format!("mrk-{}", "ab".repeat(16));
        let long = "k".repeat(MAX_KEY_ID_LEN);
        for id in [mrk.as_str(), long.as_str(), "x"] {
            let blob = encrypt(&m, id, &mid, b"p", &BTreeMap::new()).expect("encrypt");
            assert_eq!(parse_header(&blob).expect("header").key_id, id);
            assert_eq!(
                decrypt(&m, &blob, &BTreeMap::new())
                    .expect("decrypt")
                    .as_slice(),
                b"p"
            );
        }
    }

    #[test]
    fn encrypt_rejects_bad_key_ids_and_material() {
        let m = KeyMaterial::generate_symmetric();
        let mid = MaterialId::generate();
        let e = BTreeMap::new();
        let too_long = "k".repeat(MAX_KEY_ID_LEN + 1);
        for id in ["", too_long.as_str(), "has space", "ünïcode", "tab\t"] {
            assert_eq!(
                encrypt(&m, id, &mid, b"p", &e),
                Err(CryptoError::InvalidKeyId),
                "{id:?}"
            );
        }
        let short = KeyMaterial::from_bytes(vec![1; 16]);
        assert_eq!(
            encrypt(&short, KEY_ID, &mid, b"p", &e),
            Err(CryptoError::InvalidKeyMaterial)
        );
        let blob = encrypt(&m, KEY_ID, &mid, b"p", &e).expect("encrypt");
        assert_eq!(
            decrypt(&short, &blob, &e),
            Err(CryptoError::InvalidKeyMaterial)
        );
    }

    #[test]
    fn same_plaintext_encrypts_differently() {
        let m = KeyMaterial::generate_symmetric();
        let mid = MaterialId::generate();
        let c = ctx(&[("a", "b")]);
        let a = encrypt(&m, KEY_ID, &mid, b"same", &c).expect("encrypt");
        let b = encrypt(&m, KEY_ID, &mid, b"same", &c).expect("encrypt");
        assert_ne!(a, b);
        let nonce_at = 2 + KEY_ID.len() + 32;
        assert_ne!(a[nonce_at..nonce_at + 12], b[nonce_at..nonce_at + 12]);
        assert_eq!(decrypt(&m, &a, &c).expect("a").as_slice(), b"same");
        assert_eq!(decrypt(&m, &b, &c).expect("b").as_slice(), b"same");
    }

    #[test]
    fn wrong_key_fails() {
        let m = KeyMaterial::generate_symmetric();
        let other = KeyMaterial::generate_symmetric();
        let mid = MaterialId::generate();
        let blob = encrypt(&m, KEY_ID, &mid, b"secret", &BTreeMap::new()).expect("encrypt");
        assert_eq!(
            decrypt(&other, &blob, &BTreeMap::new()),
            Err(CryptoError::InvalidCiphertext)
        );
    }

    #[test]
    fn context_encoding_is_unambiguous() {
        let m = KeyMaterial::generate_symmetric();
        let mid = MaterialId::generate();
        let pairs: [&[(&str, &str)]; 6] = [
            &[("ab", "c")],
            &[("a", "bc")],
            &[("a", ""), ("b", "c")],
            &[("a", "b"), ("c", "")],
            &[],
            &[("", "")],
        ];
        for (i, enc) in pairs.iter().enumerate() {
            let blob = encrypt(&m, KEY_ID, &mid, b"p", &ctx(enc)).expect("encrypt");
            for (j, dec) in pairs.iter().enumerate() {
                let r = decrypt(&m, &blob, &ctx(dec));
                if i == j {
                    assert_eq!(r.expect("same context").as_slice(), b"p");
                } else {
                    assert_eq!(r, Err(CryptoError::InvalidCiphertext), "{enc:?} vs {dec:?}");
                }
            }
        }
    }

    #[test]
    fn truncation_fails_at_every_length() {
        let m = KeyMaterial::generate_symmetric();
        let mid = MaterialId::generate();
        let blob = encrypt(&m, KEY_ID, &mid, b"some plaintext", &BTreeMap::new()).expect("enc");
        for len in 0..blob.len() {
            assert_eq!(
                decrypt(&m, &blob[..len], &BTreeMap::new()),
                Err(CryptoError::InvalidCiphertext),
                "truncated to {len}"
            );
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(
            decrypt(&m, &longer, &BTreeMap::new()),
            Err(CryptoError::InvalidCiphertext)
        );
    }

    #[test]
    fn parse_header_on_garbage() {
        assert_eq!(parse_header(&[]), Err(CryptoError::InvalidCiphertext));
        assert_eq!(
            parse_header(&[FORMAT_VERSION]),
            Err(CryptoError::InvalidCiphertext)
        );
        assert_eq!(parse_header(&[0x00]), Err(CryptoError::InvalidCiphertext));
        // Huge length byte with too little behind it.
        assert_eq!(
            parse_header(&[FORMAT_VERSION, 0xff, b'a']),
            Err(CryptoError::InvalidCiphertext)
        );
        // Length byte over the maximum even with enough bytes behind it.
        let mut big = vec![FORMAT_VERSION, 0xff];
        big.extend(std::iter::repeat_n(b'a', 255 + 32 + 12 + 16));
        assert_eq!(parse_header(&big), Err(CryptoError::InvalidCiphertext));
        // Zero-length key id.
        let mut zero = vec![FORMAT_VERSION, 0];
        zero.extend([0u8; 32 + 12 + 16]);
        assert_eq!(parse_header(&zero), Err(CryptoError::InvalidCiphertext));
        // A well-formed header with a tag-less body is rejected too.
        let mut no_tag = vec![FORMAT_VERSION, 1, b'k'];
        no_tag.extend([0u8; 32 + 12 + 15]);
        assert_eq!(parse_header(&no_tag), Err(CryptoError::InvalidCiphertext));
        no_tag.push(0);
        let h = parse_header(&no_tag).expect("minimal well-formed header");
        assert_eq!(h.key_id, "k");
        assert_eq!(h.material_id, MaterialId::from_bytes([0; 32]));
    }

    fn context_strategy() -> impl Strategy<Value = BTreeMap<String, String>> {
        proptest::collection::btree_map("\\PC{0,12}", "\\PC{0,12}", 0..5)
    }

    fn key_id_strategy() -> impl Strategy<Value = String> {
        "[!-~]{1,64}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn prop_round_trip(
            plaintext in proptest::collection::vec(any::<u8>(), 0..=4096),
            context in context_strategy(),
            key_id in key_id_strategy(),
        ) {
            let m = KeyMaterial::generate_symmetric();
            let mid = MaterialId::generate();
            let blob = encrypt(&m, &key_id, &mid, &plaintext, &context).expect("encrypt");
            let back = decrypt(&m, &blob, &context).expect("decrypt");
            prop_assert_eq!(back.as_slice(), plaintext.as_slice());
        }

        #[test]
        fn prop_header_matches_inputs(
            plaintext in proptest::collection::vec(any::<u8>(), 0..=256),
            context in context_strategy(),
            key_id in key_id_strategy(),
            mid_bytes in any::<[u8; 32]>(),
        ) {
            let m = KeyMaterial::generate_symmetric();
            let mid = MaterialId::from_bytes(mid_bytes);
            let blob = encrypt(&m, &key_id, &mid, &plaintext, &context).expect("encrypt");
            let h = parse_header(&blob).expect("header");
            prop_assert_eq!(h.key_id, key_id);
            prop_assert_eq!(h.material_id, mid);
        }

        #[test]
        fn prop_single_bit_flip_fails(
            plaintext in proptest::collection::vec(any::<u8>(), 0..=512),
            context in context_strategy(),
            index in any::<Index>(),
            bit in 0u8..8,
        ) {
            let m = KeyMaterial::generate_symmetric();
            let mid = MaterialId::generate();
            let mut blob = encrypt(&m, KEY_ID, &mid, &plaintext, &context).expect("encrypt");
            let i = index.index(blob.len());
            blob[i] ^= 1 << bit;
            prop_assert_eq!(decrypt(&m, &blob, &context), Err(CryptoError::InvalidCiphertext));
        }

        #[test]
        fn prop_different_context_fails(
            plaintext in proptest::collection::vec(any::<u8>(), 0..=256),
            context in context_strategy(),
            other in context_strategy(),
        ) {
            prop_assume!(context != other);
            let m = KeyMaterial::generate_symmetric();
            let mid = MaterialId::generate();
            let blob = encrypt(&m, KEY_ID, &mid, &plaintext, &context).expect("encrypt");
            prop_assert_eq!(decrypt(&m, &blob, &other), Err(CryptoError::InvalidCiphertext));
        }

        #[test]
        fn prop_parse_header_never_panics(blob in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = parse_header(&blob);
        }
    }
}
