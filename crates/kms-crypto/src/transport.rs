//! Sealing key material to another region: each region has an X25519 [`TransportKey`] derived
//! from its root key ([`RootKey::transport_key`]); anyone holding its public key can
//! [`seal_material`] to it, and only that region can [`TransportKey::open_material`].
//!
//! The construction is ECIES in the shape of HPKE base mode (X25519, HKDF-SHA256, AES-256-GCM):
//!
//! ```text
//! shared = X25519(ephemeral_private, recipient_public)
//! key    = HKDF-SHA256(salt = ephemeral_public || recipient_public, ikm = shared,
//!                      info = "trent-seal-v1", len = 32)
//! sealed = 0x01 | ephemeral_public (32) | nonce (12, random) | AES-256-GCM(material, aad) | tag (16)
//! ```
//!
//! The `aad` is the bytes of the caller's [`SealContext`] (both region names, the key id and
//! the material id): authenticated, not transmitted. The transport private key is `HKDF-SHA256(salt = "", ikm = root key,
//! info = "trent-region-transport-v1")`, so it is stable for a region as long as its root key is.

use std::fmt;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::agreement::{agree, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA256};
use zeroize::Zeroizing;

use crate::{CryptoError, KeyMaterial, RootKey, SealContext};

const SEAL_VERSION: u8 = 1;
const X25519_LEN: usize = 32;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + X25519_LEN + NONCE_LEN;
const TRANSPORT_INFO: &[u8] = b"trent-region-transport-v1";
const SEAL_INFO: &[u8] = b"trent-seal-v1";

/// A region's X25519 transport key pair, derived from its root key. `Debug` prints
/// `TransportKey(public=<hex>)`; the private key lives inside AWS-LC, which cleanses it on free.
pub struct TransportKey {
    private: PrivateKey,
    public: [u8; X25519_LEN],
}

impl RootKey {
    /// This region's transport key: X25519, derived deterministically from the root key (see
    /// the [`transport`](crate::transport) module doc).
    pub fn transport_key(&self) -> TransportKey {
        let mut seed = Zeroizing::new([0u8; X25519_LEN]);
        hkdf_sha256(&[], self.secret_bytes(), &[TRANSPORT_INFO], seed.as_mut())
            .expect("HKDF-SHA256 of 32 bytes cannot fail");
        TransportKey::from_seed(&seed)
    }
}

impl TransportKey {
    fn from_seed(seed: &[u8; X25519_LEN]) -> TransportKey {
        let private = PrivateKey::from_private_key(&X25519, seed)
            .expect("any 32 bytes are an X25519 private key");
        let public = public_bytes(&private);
        TransportKey { private, public }
    }

    /// The raw 32-byte X25519 public key, to hand to senders.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// Opens material sealed to this key by [`seal_material`] with the same `context`.
    ///
    /// Any mismatch (wrong recipient, wrong context, unknown version, truncated or tampered
    /// bytes) is [`CryptoError::UnwrapFailed`], with no further detail.
    pub fn open_material(
        &self,
        sealed: &[u8],
        context: &SealContext,
    ) -> Result<KeyMaterial, CryptoError> {
        if sealed.len() < HEADER_LEN + TAG_LEN || sealed[0] != SEAL_VERSION {
            return Err(CryptoError::UnwrapFailed);
        }
        let (ephemeral_public, rest) = sealed[1..].split_at(X25519_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let key = seal_key(
            &self.private,
            ephemeral_public,
            ephemeral_public,
            &self.public,
        )
        .map_err(|_| CryptoError::UnwrapFailed)?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::UnwrapFailed)?;
        let mut buf = Zeroizing::new(ciphertext.to_vec());
        let plain_len = key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| CryptoError::UnwrapFailed)?
            .len();
        buf.truncate(plain_len);
        Ok(KeyMaterial::from_bytes(std::mem::take(&mut *buf)))
    }
}

impl TransportKey {
    /// X25519 of this private key with `peer_public` (static-static), handed to `kdf`; for the
    /// peer session key ([`crate::session_keys`]).
    pub(crate) fn agree_static<T>(
        &self,
        peer_public: &[u8],
        kdf: impl FnOnce(&[u8]) -> Result<T, CryptoError>,
    ) -> Result<T, CryptoError> {
        if peer_public.len() != X25519_LEN {
            return Err(bad_recipient());
        }
        agree(
            &self.private,
            UnparsedPublicKey::new(&X25519, peer_public),
            bad_recipient(),
            kdf,
        )
    }
}

impl fmt::Debug for TransportKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransportKey(public={})", hex::encode(self.public))
    }
}

/// Seals `material` to the region whose transport public key is `recipient_public` (raw 32-byte
/// X25519), binding `context`. The output format is in the module doc; every call uses a fresh
/// ephemeral key and nonce, so two seals of the same material differ.
///
/// Errors: [`CryptoError::InvalidInput`] if `recipient_public` is not a usable X25519 public
/// key (wrong length, or a low-order point giving an all-zero shared secret);
/// [`CryptoError::Internal`] for material beyond the AEAD limit.
pub fn seal_material(
    recipient_public: &[u8],
    material: &KeyMaterial,
    context: &SealContext,
) -> Result<Vec<u8>, CryptoError> {
    if recipient_public.len() != X25519_LEN {
        return Err(bad_recipient());
    }
    let ephemeral =
        PrivateKey::generate(&X25519).map_err(|_| CryptoError::Internal("X25519 keygen"))?;
    let ephemeral_public = public_bytes(&ephemeral);
    let key = seal_key(
        &ephemeral,
        recipient_public,
        &ephemeral_public,
        recipient_public,
    )?;
    let mut nonce = [0u8; NONCE_LEN];
    crate::primitives::fill_random(&mut nonce);

    let mut out = Vec::with_capacity(HEADER_LEN + material.len() + TAG_LEN);
    out.push(SEAL_VERSION);
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&nonce);
    let mut in_out = Zeroizing::new(material.as_bytes().to_vec());
    in_out.reserve(TAG_LEN);
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(context.as_bytes()),
        &mut *in_out,
    )
    .map_err(|_| CryptoError::Internal("AES-GCM seal failed"))?;
    // After sealing the buffer holds ciphertext, which is not secret.
    out.extend_from_slice(&in_out);
    Ok(out)
}

fn bad_recipient() -> CryptoError {
    CryptoError::InvalidInput("recipient is not a valid X25519 transport public key".to_owned())
}

/// The AES-256-GCM key of one seal: X25519(`private`, `peer_public`), then HKDF with
/// salt `ephemeral_public || recipient_public`.
fn seal_key(
    private: &PrivateKey,
    peer_public: &[u8],
    ephemeral_public: &[u8],
    recipient_public: &[u8],
) -> Result<LessSafeKey, CryptoError> {
    let mut salt = [0u8; 2 * X25519_LEN];
    salt[..X25519_LEN].copy_from_slice(ephemeral_public);
    salt[X25519_LEN..].copy_from_slice(recipient_public);
    let mut key_bytes = Zeroizing::new([0u8; 32]);
    agree(
        private,
        UnparsedPublicKey::new(&X25519, peer_public),
        bad_recipient(),
        |shared| {
            hkdf_sha256(&salt, shared, &[SEAL_INFO], key_bytes.as_mut())
                .map_err(|()| CryptoError::Internal("HKDF failed"))
        },
    )?;
    let unbound = UnboundKey::new(&AES_256_GCM, key_bytes.as_ref())
        .map_err(|_| CryptoError::Internal("AES-256-GCM key"))?;
    Ok(LessSafeKey::new(unbound))
}

fn public_bytes(private: &PrivateKey) -> [u8; X25519_LEN] {
    let public = private
        .compute_public_key()
        .expect("an X25519 private key has a public key");
    let mut out = [0u8; X25519_LEN];
    out.copy_from_slice(public.as_ref());
    out
}

/// An HKDF output length (aws-lc-rs takes it as a [`KeyType`]).
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

pub(crate) fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[&[u8]],
    out: &mut [u8],
) -> Result<(), ()> {
    Salt::new(HKDF_SHA256, salt)
        .extract(ikm)
        .expand(info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> SealContext {
        SealContext::region_material("a", "b", "key-1", "mat-1")
    }

    fn material() -> KeyMaterial {
        KeyMaterial::generate_symmetric()
    }

    #[test]
    fn round_trip() {
        let recipient = RootKey::generate().transport_key();
        let m = material();
        let sealed = seal_material(&recipient.public_key(), &m, &ctx()).unwrap();
        assert_eq!(sealed.len(), 1 + 32 + 12 + 32 + 16);
        assert_eq!(sealed[0], 1);
        assert!(!sealed.windows(32).any(|w| w == m.as_bytes()));
        let back = recipient.open_material(&sealed, &ctx()).unwrap();
        assert_eq!(back.as_bytes(), m.as_bytes());

        // Non-symmetric sizes too, including empty material.
        for len in [0usize, 1, 121, 4000] {
            let m = KeyMaterial::from_bytes(vec![0x5A; len]);
            let sealed = seal_material(&recipient.public_key(), &m, &ctx()).unwrap();
            assert_eq!(
                recipient.open_material(&sealed, &ctx()).unwrap().as_bytes(),
                m.as_bytes()
            );
        }
    }

    #[test]
    fn wrong_recipient_fails() {
        let recipient = RootKey::generate().transport_key();
        let other = RootKey::generate().transport_key();
        let sealed = seal_material(&recipient.public_key(), &material(), &ctx()).unwrap();
        assert_eq!(
            other.open_material(&sealed, &ctx()).unwrap_err(),
            CryptoError::UnwrapFailed
        );
    }

    #[test]
    fn wrong_aad_fails() {
        let recipient = RootKey::generate().transport_key();
        let sealed = seal_material(&recipient.public_key(), &material(), &ctx()).unwrap();
        for other in [
            SealContext::region_material("b", "a", "key-1", "mat-1"),
            SealContext::region_material("a", "c", "key-1", "mat-1"),
            SealContext::region_material("a", "b", "key-2", "mat-1"),
            SealContext::region_material("a", "b", "key-1", "mat-2"),
        ] {
            assert_eq!(
                recipient.open_material(&sealed, &other).unwrap_err(),
                CryptoError::UnwrapFailed
            );
        }
    }

    #[test]
    fn every_byte_flip_and_truncation_fails() {
        let recipient = RootKey::generate().transport_key();
        let sealed = seal_material(&recipient.public_key(), &material(), &ctx()).unwrap();
        for i in 0..sealed.len() {
            for bit in [0x01u8, 0x80] {
                let mut t = sealed.clone();
                t[i] ^= bit;
                assert!(
                    recipient.open_material(&t, &ctx()).is_err(),
                    "flip {bit:#x} at {i} accepted"
                );
            }
        }
        for len in 0..sealed.len() {
            assert!(recipient.open_material(&sealed[..len], &ctx()).is_err());
        }
        let mut longer = sealed.clone();
        longer.push(0);
        assert!(recipient.open_material(&longer, &ctx()).is_err());
    }

    #[test]
    fn seals_are_randomized() {
        let recipient = RootKey::generate().transport_key();
        let m = material();
        let a = seal_material(&recipient.public_key(), &m, &ctx()).unwrap();
        let b = seal_material(&recipient.public_key(), &m, &ctx()).unwrap();
        assert_ne!(a, b);
        assert_ne!(a[1..33], b[1..33], "ephemeral key reused");
    }

    #[test]
    fn transport_key_is_deterministic_per_root_key() {
        let root = RootKey::generate();
        assert_eq!(
            root.transport_key().public_key(),
            root.clone().transport_key().public_key()
        );
        assert_ne!(
            root.transport_key().public_key(),
            RootKey::generate().transport_key().public_key()
        );
        // A seal to one derivation opens with another derivation of the same root key.
        let m = material();
        let sealed = seal_material(&root.transport_key().public_key(), &m, &ctx()).unwrap();
        let back = root.transport_key().open_material(&sealed, &ctx()).unwrap();
        assert_eq!(back.as_bytes(), m.as_bytes());
    }

    #[test]
    fn bad_recipient_keys_are_rejected() {
        let m = material();
        for bad in [&[][..], &[9u8; 31][..], &[9u8; 33][..], &[0u8; 32][..]] {
            assert!(
                matches!(
                    seal_material(bad, &m, &ctx()),
                    Err(CryptoError::InvalidInput(_))
                ),
                "recipient {bad:?} accepted"
            );
        }
    }

    #[test]
    fn debug_is_redacted() {
        let key = RootKey::generate().transport_key();
        let shown = format!("{key:?}");
        assert_eq!(
            shown,
            format!("TransportKey(public={})", hex::encode(key.public_key()))
        );
    }
}
