//! Raw AES-256-GCM with a caller-given 96-bit IV and AAD, the ciphertext (as long as the
//! plaintext) and the 16-byte tag kept apart: the shape of XKS Proxy API v1's Encrypt and
//! Decrypt, for keys that live outside this crate's formats (an external key store proxy
//! whose AES keys a KMS unwraps for it). Nothing here frames, versions or binds anything;
//! the caller owns the IV discipline: [`seal_random_iv`] draws a fresh IV from the CSPRNG for
//! each encryption (never reuse an IV under one key), [`seal`] takes the caller's IV (known
//! answer tests, interop).
//!
//! Every authentication or format failure of [`open`] (wrong key, IV, AAD, ciphertext or tag,
//! an IV that is not 12 bytes, a tag that is not 16) is [`CryptoError::InvalidCiphertext`],
//! with no detail; a key that is not 32 bytes is [`CryptoError::InvalidKeyMaterial`].

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::primitives::fill_random;
use crate::CryptoError;

/// An AES-256 key's length in bytes.
pub const KEY_LEN: usize = 32;
/// The IV's length in bytes (96 bits, GCM's native size).
pub const IV_LEN: usize = NONCE_LEN;
/// The tag's length in bytes (128 bits).
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM encryption: the ciphertext and its tag, apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcmSealed {
    /// As long as the plaintext.
    pub ciphertext: Vec<u8>,
    /// The authentication tag.
    pub tag: [u8; TAG_LEN],
}

fn gcm_key(bytes: &[u8]) -> Result<LessSafeKey, CryptoError> {
    if bytes.len() != KEY_LEN {
        return Err(CryptoError::InvalidKeyMaterial);
    }
    let unbound =
        UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CryptoError::InvalidKeyMaterial)?;
    Ok(LessSafeKey::new(unbound))
}

/// Encrypts `plaintext` with AAD `aad` under the 32-byte `key` and the caller's `iv`.
///
/// The caller guarantees `iv` is never used twice with `key`; prefer [`seal_random_iv`].
/// Errors: [`CryptoError::InvalidKeyMaterial`] if `key` is not 32 bytes,
/// [`CryptoError::Internal`] if the plaintext is beyond GCM's limit.
pub fn seal(
    key: &[u8],
    iv: &[u8; IV_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<GcmSealed, CryptoError> {
    let key = gcm_key(key)?;
    // Sealed in a zeroizing copy, so the plaintext does not linger if sealing fails.
    let mut in_out = Zeroizing::new(plaintext.to_vec());
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(*iv),
            Aad::from(aad),
            &mut in_out[..],
        )
        .map_err(|_| CryptoError::Internal("AES-GCM seal failed"))?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag.as_ref());
    Ok(GcmSealed {
        ciphertext: std::mem::take(&mut *in_out),
        tag: out,
    })
}

/// [`seal`] under a fresh random IV from the system CSPRNG; returns the IV with the result.
pub fn seal_random_iv(
    key: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<([u8; IV_LEN], GcmSealed), CryptoError> {
    let mut iv = [0u8; IV_LEN];
    fill_random(&mut iv);
    let sealed = seal(key, &iv, aad, plaintext)?;
    Ok((iv, sealed))
}

/// Decrypts what [`seal`] made: the same key, IV and AAD, the ciphertext and its tag.
///
/// Errors: [`CryptoError::InvalidKeyMaterial`] if `key` is not 32 bytes, otherwise any
/// failure is [`CryptoError::InvalidCiphertext`].
pub fn open(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let key = gcm_key(key)?;
    let iv: [u8; IV_LEN] = iv.try_into().map_err(|_| CryptoError::InvalidCiphertext)?;
    if tag.len() != TAG_LEN {
        return Err(CryptoError::InvalidCiphertext);
    }
    let mut in_out = Zeroizing::new(Vec::with_capacity(ciphertext.len() + TAG_LEN));
    in_out.extend_from_slice(ciphertext);
    in_out.extend_from_slice(tag);
    let len = key
        .open_in_place(
            Nonce::assume_unique_for_key(iv),
            Aad::from(aad),
            &mut in_out[..],
        )
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    in_out.truncate(len);
    Ok(in_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(text: &str) -> Vec<u8> {
        hex::decode(text).unwrap()
    }

    /// The GCM specification's test case 16 (AES-256, 96-bit IV, 60-byte plaintext, 20-byte
    /// AAD), as NIST's GCM vectors and OpenSSL (`cryptography`'s AESGCM on OpenSSL 3.0)
    /// compute it.
    const K16: &str = "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308";
    const IV16: &str = "cafebabefacedbaddecaf888";
    const P16: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                       1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const A16: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";
    const C16: &str = "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                       8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
    const T16: &str = "76fc6ece0f4e1768cddf8853bb2d551b";

    #[test]
    fn known_answer_with_aad() {
        let iv: [u8; IV_LEN] = unhex(IV16).try_into().unwrap();
        let sealed = seal(&unhex(K16), &iv, &unhex(A16), &unhex(P16)).unwrap();
        assert_eq!(hex::encode(&sealed.ciphertext), C16);
        assert_eq!(hex::encode(sealed.tag), T16);
        let opened = open(&unhex(K16), &iv, &unhex(A16), &unhex(C16), &unhex(T16)).unwrap();
        assert_eq!(hex::encode(opened.as_slice()), P16);
    }

    #[test]
    fn known_answers_with_a_zero_key() {
        // The GCM specification's test cases 13 (empty plaintext) and 14 (one zero block).
        let key = [0u8; KEY_LEN];
        let iv = [0u8; IV_LEN];
        let empty = seal(&key, &iv, b"", b"").unwrap();
        assert!(empty.ciphertext.is_empty());
        assert_eq!(hex::encode(empty.tag), "530f8afbc74536b9a963b4f1c4cb738b");
        let block = seal(&key, &iv, b"", &[0u8; 16]).unwrap();
        assert_eq!(
            hex::encode(&block.ciphertext),
            "cea7403d4d606b6e074ec5d3baf39d18"
        );
        assert_eq!(hex::encode(block.tag), "d0d1c8a799996bf0265b98b5d48ab919");
    }

    #[test]
    fn random_ivs_round_trip_and_differ() {
        let key = crate::random_bytes(KEY_LEN);
        let (iv1, a) = seal_random_iv(&key, b"aad", b"hello").unwrap();
        let (iv2, b) = seal_random_iv(&key, b"aad", b"hello").unwrap();
        assert_ne!(iv1, iv2);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.ciphertext.len(), 5);
        let opened = open(&key, &iv1, b"aad", &a.ciphertext, &a.tag).unwrap();
        assert_eq!(opened.as_slice(), b"hello");
    }

    #[test]
    fn any_change_fails_opaquely() {
        let key = crate::random_bytes(KEY_LEN);
        let (iv, sealed) = seal_random_iv(&key, b"aad", b"secret data").unwrap();
        let mut other_key = key.clone();
        other_key[0] ^= 1;
        let mut other_iv = iv;
        other_iv[11] ^= 1;
        let mut other_ct = sealed.ciphertext.clone();
        other_ct[0] ^= 1;
        let mut other_tag = sealed.tag;
        other_tag[15] ^= 1;
        type Case<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8], &'a [u8]);
        let cases: [Case; 8] = [
            (&other_key, &iv, b"aad", &sealed.ciphertext, &sealed.tag),
            (&key, &other_iv, b"aad", &sealed.ciphertext, &sealed.tag),
            (&key, &iv, b"aaD", &sealed.ciphertext, &sealed.tag),
            (&key, &iv, b"", &sealed.ciphertext, &sealed.tag),
            (&key, &iv, b"aad", &other_ct, &sealed.tag),
            (&key, &iv, b"aad", &sealed.ciphertext, &other_tag),
            (&key, &iv, b"aad", &sealed.ciphertext, &sealed.tag[..15]),
            (&key, &iv[..8], b"aad", &sealed.ciphertext, &sealed.tag),
        ];
        for (i, (k, iv, aad, ct, tag)) in cases.into_iter().enumerate() {
            assert_eq!(
                open(k, iv, aad, ct, tag),
                Err(CryptoError::InvalidCiphertext),
                "case {i}"
            );
        }
    }

    #[test]
    fn keys_must_be_32_bytes() {
        let iv = [0u8; IV_LEN];
        assert_eq!(
            seal(&[0u8; 16], &iv, b"", b"x"),
            Err(CryptoError::InvalidKeyMaterial)
        );
        assert_eq!(
            open(&[0u8; 31], &iv, b"", b"x", &[0u8; TAG_LEN]),
            Err(CryptoError::InvalidKeyMaterial)
        );
    }
}
