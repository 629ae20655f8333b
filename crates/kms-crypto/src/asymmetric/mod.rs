//! Key generation and public-key export for every [`KeyKind`], and the asymmetric operations:
//! signatures ([`sign`], [`verify`]), RSA-OAEP encryption ([`rsa_encrypt`], [`rsa_decrypt`]) and
//! SM2PKE ([`sm2_encrypt`], [`sm2_decrypt`]). HMAC is in [`crate::mac`], ECDH in
//! [`crate::agreement`]. SM2 (SM2DSA, SM2PKE, ECDH on its curve) is RustCrypto's `sm2`, see
//! `sm2_ops`.
//!
//! Everything takes the key's [`KeyKind`] and its plaintext [`KeyMaterial`] (PKCS#8 DER, see
//! [`crate::KeyKind`] for the formats), or the public key as DER-encoded X.509
//! SubjectPublicKeyInfo (what `GetPublicKey` returns). Algorithms and limits follow AWS KMS:
//!
//! | kind | signing algorithms | message types |
//! |---|---|---|
//! | RSA_2048/3072/4096 | RSASSA_PSS_SHA_256/384/512, RSASSA_PKCS1_V1_5_SHA_256/384/512 | RAW, DIGEST |
//! | ECC_NIST_P256, ECC_SECG_P256K1 | ECDSA_SHA_256 | RAW, DIGEST |
//! | ECC_NIST_P384 | ECDSA_SHA_384 | RAW, DIGEST |
//! | ECC_NIST_P521 | ECDSA_SHA_512 | RAW, DIGEST |
//! | ECC_NIST_EDWARDS25519 | ED25519_SHA_512 | RAW |
//! | ECC_NIST_EDWARDS25519 | ED25519_PH_SHA_512 | DIGEST (64 bytes, hashed again: Ed25519ph) |
//! | ML_DSA_44/65/87 | ML_DSA_SHAKE_256 | RAW, EXTERNAL_MU (64 bytes) |
//! | SM2 | SM2DSA | RAW (SM3 of Z ‖ M, distinguishing ID `1234567812345678`), DIGEST (that 32-byte e) |
//!
//! A DIGEST message must be exactly the algorithm's hash length. ECDSA signatures are DER
//! (`ECDSA-Sig-Value`), as AWS returns them, and so are SM2DSA signatures; RSA-PSS uses a salt as long as the hash. The AWS
//! message-size limit (4096 bytes for RAW) is the caller's to enforce.

mod ed25519ph;
mod keys;
mod mldsa_mu;
mod rng;
mod rsa_oaep;
mod sign;
mod sm2_ops;

#[cfg(test)]
mod tests;

pub use rsa_oaep::{rsa_decrypt, rsa_encrypt, RsaEncryptionAlgorithm};
pub use sign::{sign, verify, MessageType, SigningAlgorithm};
pub use sm2_ops::{sm2_decrypt, sm2_encrypt, SM2PKE_MAX_PLAINTEXT, SM2_DISTINGUISHING_ID};

pub(crate) use sm2_ops::derive_shared_secret as sm2_derive_shared_secret;

pub(crate) use keys::PrivateKey;

use crate::primitives::random_bytes;
use crate::{CryptoError, KeyKind, KeyMaterial};

/// A freshly generated key: its private material and, for asymmetric kinds, its public key.
pub struct GeneratedKey {
    /// PKCS#8 v1 DER for asymmetric kinds; the raw secret for HMAC kinds.
    pub material: KeyMaterial,
    /// DER-encoded X.509 SubjectPublicKeyInfo; `None` for HMAC kinds.
    pub public_key: Option<Vec<u8>>,
}

/// Generates a key of `kind` from the system CSPRNG.
///
/// HMAC keys are as long as the HMAC output (28, 32, 48 or 64 bytes), as AWS generates them.
/// RSA-4096 generation takes seconds; callers should not hold locks across it.
pub fn generate(kind: KeyKind) -> Result<GeneratedKey, CryptoError> {
    if let Some(len) = kind.hmac_len() {
        return Ok(GeneratedKey {
            material: KeyMaterial::from_bytes(random_bytes(len)),
            public_key: None,
        });
    }
    let key = PrivateKey::generate(kind)?;
    Ok(GeneratedKey {
        material: key.to_pkcs8()?,
        public_key: Some(key.public_key_der()?),
    })
}

/// The public key of `material` (a private key of `kind`) as DER-encoded X.509
/// SubjectPublicKeyInfo, the format `GetPublicKey` returns.
///
/// Errors: [`CryptoError::IncompatibleAlgorithm`] for HMAC kinds,
/// [`CryptoError::InvalidKeyMaterial`] if `material` is not a PKCS#8 key of `kind`.
pub fn public_key_der(kind: KeyKind, material: &KeyMaterial) -> Result<Vec<u8>, CryptoError> {
    PrivateKey::load(kind, material)?.public_key_der()
}
