//! Asymmetric `Encrypt`/`Decrypt` with RSA keys: `RSAES_OAEP_SHA_1` and `RSAES_OAEP_SHA_256`
//! (MGF1 with the same hash, empty label), as AWS KMS does them.
//!
//! The ciphertext is the raw OAEP output, exactly as long as the modulus (unlike the symmetric
//! blob it names no key: `Decrypt` needs the KeyId and algorithm). Plaintext limits are AWS's:
//! `modulus_bytes - 2 * hash_bytes - 2`, e.g. 214/190 bytes for RSA_2048 with SHA-1/SHA-256.

use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

use crate::{CryptoError, KeyKind, KeyMaterial};

/// An AWS KMS `EncryptionAlgorithmSpec` for RSA keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RsaEncryptionAlgorithm {
    /// `RSAES_OAEP_SHA_1`.
    OaepSha1,
    /// `RSAES_OAEP_SHA_256`.
    OaepSha256,
}

impl RsaEncryptionAlgorithm {
    /// The AWS name, e.g. `RSAES_OAEP_SHA_256`.
    pub fn aws_name(self) -> &'static str {
        match self {
            RsaEncryptionAlgorithm::OaepSha1 => "RSAES_OAEP_SHA_1",
            RsaEncryptionAlgorithm::OaepSha256 => "RSAES_OAEP_SHA_256",
        }
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            RsaEncryptionAlgorithm::OaepSha1 => &OAEP_SHA1_MGF1SHA1,
            RsaEncryptionAlgorithm::OaepSha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }

    fn hash_len(self) -> usize {
        match self {
            RsaEncryptionAlgorithm::OaepSha1 => 20,
            RsaEncryptionAlgorithm::OaepSha256 => 32,
        }
    }

    /// The longest plaintext AWS accepts for a modulus of `modulus_len` bytes.
    pub fn max_plaintext_len(self, modulus_len: usize) -> usize {
        modulus_len.saturating_sub(2 * self.hash_len() + 2)
    }
}

/// Encrypts `plaintext` to the RSA public key `public_key` (DER SubjectPublicKeyInfo).
///
/// Errors: [`CryptoError::InvalidInput`] if `plaintext` is over
/// [`RsaEncryptionAlgorithm::max_plaintext_len`]; [`CryptoError::InvalidKeyMaterial`] if
/// `public_key` is not an RSA SubjectPublicKeyInfo.
pub fn rsa_encrypt(
    public_key: &[u8],
    alg: RsaEncryptionAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let key =
        PublicEncryptingKey::from_der(public_key).map_err(|_| CryptoError::InvalidKeyMaterial)?;
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| CryptoError::InvalidKeyMaterial)?;
    let max = alg.max_plaintext_len(key.key_size_bytes());
    if plaintext.len() > max {
        return Err(CryptoError::InvalidInput(format!(
            "Plaintext is {} bytes; {} with this key accepts at most {max}",
            plaintext.len(),
            alg.aws_name()
        )));
    }
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(alg.oaep(), plaintext, &mut out, None)
        .map_err(|_| CryptoError::Internal("RSA-OAEP encryption failed"))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Decrypts an RSA-OAEP `ciphertext` with the private key `material` of `kind`.
///
/// Any ciphertext that does not decrypt (wrong length, wrong key, wrong algorithm, tampered) is
/// the opaque [`CryptoError::InvalidCiphertext`]. A non-RSA `kind` is
/// [`CryptoError::IncompatibleAlgorithm`]; material that is not a PKCS#8 key of `kind` is
/// [`CryptoError::InvalidKeyMaterial`].
pub fn rsa_decrypt(
    kind: KeyKind,
    material: &KeyMaterial,
    alg: RsaEncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(modulus_len) = kind.rsa_modulus_len() else {
        return Err(CryptoError::IncompatibleAlgorithm(format!(
            "{} is not a valid encryption algorithm for {} keys",
            alg.aws_name(),
            kind.aws_name()
        )));
    };
    let key = PrivateDecryptingKey::from_pkcs8(material.as_bytes())
        .map_err(|_| CryptoError::InvalidKeyMaterial)?;
    if key.key_size_bytes() != modulus_len {
        return Err(CryptoError::InvalidKeyMaterial);
    }
    let key = OaepPrivateDecryptingKey::new(key).map_err(|_| CryptoError::InvalidKeyMaterial)?;
    if ciphertext.len() != modulus_len {
        return Err(CryptoError::InvalidCiphertext);
    }
    let mut out = Zeroizing::new(vec![0u8; key.min_output_size()]);
    let len = key
        .decrypt(alg.oaep(), ciphertext, &mut out, None)
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    out.truncate(len);
    Ok(out)
}
