//! Imported key material (AWS's `Origin = EXTERNAL`): the RSA wrapping key pair
//! GetParametersForImport hands out ([`generate_wrapping_key`]), the unwrapping of
//! `EncryptedKeyMaterial` under each wrapping algorithm ([`unwrap_imported`]), AWS's checks on
//! what the material may be ([`check_imported_material`]) and the id a piece of imported
//! material is known by ([`imported_material_id`]).
//!
//! `EncryptedKeyMaterial` formats, as AWS documents them:
//!
//! | Algorithm | Bytes |
//! | --- | --- |
//! | `RSAES_OAEP_SHA_1/256` | RSA-OAEP(material); OAEP and MGF1 digest SHA-1/SHA-256, empty label |
//! | `RSA_AES_KEY_WRAP_SHA_1/256` | RSA-OAEP(K) of a fresh AES-256 key K, then AES-KWP(K, material) (RFC 5649) |
//!
//! The RSA block is as long as the wrapping key's modulus (256, 384 or 512 bytes).
//!
//! An imported material id is `HMAC-SHA256(material, "trent-imported-material-id-v1/" ||
//! key id)`: a function of the key and the material only, so importing the same bytes again
//! (or into another region's replica of a multi-region key) gives the same id, and different
//! bytes a different one, without keeping the old material to compare against. The material is
//! the HMAC key, so the id reveals nothing about it.

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use zeroize::Zeroizing;

use crate::asymmetric::{self, GeneratedKey, PrivateKey, RsaEncryptionAlgorithm};
use crate::primitives::hmac_sha256;
use crate::{CryptoError, KeyKind, KeyMaterial, MaterialId};

/// A `WrappingAlgorithm` Trent accepts for imported material (AWS refuses `RSAES_PKCS1_V1_5`
/// since 2023; SM2PKE exists only in the China Regions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportWrappingAlgorithm {
    /// `RSAES_OAEP_SHA_1`.
    RsaesOaepSha1,
    /// `RSAES_OAEP_SHA_256`.
    RsaesOaepSha256,
    /// `RSA_AES_KEY_WRAP_SHA_1`.
    RsaAesKeyWrapSha1,
    /// `RSA_AES_KEY_WRAP_SHA_256`.
    RsaAesKeyWrapSha256,
}

impl ImportWrappingAlgorithm {
    fn oaep(self) -> RsaEncryptionAlgorithm {
        match self {
            ImportWrappingAlgorithm::RsaesOaepSha1 | ImportWrappingAlgorithm::RsaAesKeyWrapSha1 => {
                RsaEncryptionAlgorithm::OaepSha1
            }
            ImportWrappingAlgorithm::RsaesOaepSha256
            | ImportWrappingAlgorithm::RsaAesKeyWrapSha256 => RsaEncryptionAlgorithm::OaepSha256,
        }
    }

    fn key_wrap(self) -> bool {
        matches!(
            self,
            ImportWrappingAlgorithm::RsaAesKeyWrapSha1
                | ImportWrappingAlgorithm::RsaAesKeyWrapSha256
        )
    }
}

/// A fresh RSA wrapping key pair of `kind` (RSA_2048, RSA_3072 or RSA_4096): the private key as
/// PKCS#8 and the public key as SubjectPublicKeyInfo DER (GetParametersForImport's `PublicKey`).
pub fn generate_wrapping_key(kind: KeyKind) -> Result<GeneratedKey, CryptoError> {
    if kind.rsa_modulus_len().is_none() {
        return Err(CryptoError::IncompatibleAlgorithm(format!(
            "{} is not a wrapping key spec",
            kind.aws_name()
        )));
    }
    asymmetric::generate(kind)
}

/// Unwraps `encrypted` (an `EncryptedKeyMaterial`) with the wrapping private key `wrapping` of
/// `kind`. Anything that does not unwrap is the opaque [`CryptoError::InvalidCiphertext`].
pub fn unwrap_imported(
    kind: KeyKind,
    wrapping: &KeyMaterial,
    algorithm: ImportWrappingAlgorithm,
    encrypted: &[u8],
) -> Result<KeyMaterial, CryptoError> {
    let modulus_len = kind
        .rsa_modulus_len()
        .ok_or(CryptoError::InvalidKeyMaterial)?;
    if !algorithm.key_wrap() {
        let plain = asymmetric::rsa_decrypt(kind, wrapping, algorithm.oaep(), encrypted)?;
        return Ok(KeyMaterial::from_bytes(plain.to_vec()));
    }
    if encrypted.len() <= modulus_len {
        return Err(CryptoError::InvalidCiphertext);
    }
    let (rsa_block, wrapped) = encrypted.split_at(modulus_len);
    let aes_key = asymmetric::rsa_decrypt(kind, wrapping, algorithm.oaep(), rsa_block)?;
    let kek = AesKek::new(&AES_256, &aes_key).map_err(|_| CryptoError::InvalidCiphertext)?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    out.truncate(len);
    Ok(KeyMaterial::from_bytes(std::mem::take(&mut *out)))
}

/// The HMAC key lengths AWS accepts for imported material of an HMAC kind.
pub fn hmac_import_lengths(kind: KeyKind) -> Option<(usize, usize)> {
    match kind {
        KeyKind::Hmac224 => Some((28, 64)),
        KeyKind::Hmac256 => Some((32, 64)),
        KeyKind::Hmac384 => Some((48, 128)),
        KeyKind::Hmac512 => Some((64, 128)),
        _ => None,
    }
}

/// AWS's checks on imported material for a key of `kind` (`None`: SYMMETRIC_DEFAULT):
/// exactly 32 bytes for a symmetric key, an HMAC key of the allowed length, or a PKCS#8
/// private key of exactly the key's kind (curve, modulus size). Returns the public key
/// (SubjectPublicKeyInfo DER) of an asymmetric key. A mismatch is
/// [`CryptoError::InvalidKeyMaterial`].
pub fn check_imported_material(
    kind: Option<KeyKind>,
    material: &KeyMaterial,
) -> Result<Option<Vec<u8>>, CryptoError> {
    let Some(kind) = kind else {
        return match material.len() == KeyMaterial::SYMMETRIC_LEN {
            true => Ok(None),
            false => Err(CryptoError::InvalidKeyMaterial),
        };
    };
    if let Some((min, max)) = hmac_import_lengths(kind) {
        return match (min..=max).contains(&material.len()) {
            true => Ok(None),
            false => Err(CryptoError::InvalidKeyMaterial),
        };
    }
    let key = PrivateKey::load(kind, material)?;
    Ok(Some(key.public_key_der()?))
}

/// The id of imported `material` in key `key_id` (see the module doc).
pub fn imported_material_id(key_id: &str, material: &KeyMaterial) -> MaterialId {
    let mut data = b"trent-imported-material-id-v1/".to_vec();
    data.extend_from_slice(key_id.as_bytes());
    MaterialId::from_bytes(hmac_sha256(material.as_bytes(), &data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrap(public_key: &[u8], algorithm: ImportWrappingAlgorithm, material: &[u8]) -> Vec<u8> {
        if !algorithm.key_wrap() {
            return asymmetric::rsa_encrypt(public_key, algorithm.oaep(), material).unwrap();
        }
        let aes = crate::random_bytes(32);
        let mut out = asymmetric::rsa_encrypt(public_key, algorithm.oaep(), &aes).unwrap();
        let kek = AesKek::new(&AES_256, &aes).unwrap();
        let mut wrapped = vec![0u8; material.len() + 16];
        let len = kek.wrap_with_padding(material, &mut wrapped).unwrap().len();
        out.extend_from_slice(&wrapped[..len]);
        out
    }

    #[test]
    fn every_algorithm_unwraps_what_it_wrapped_and_nothing_else() {
        let pair = generate_wrapping_key(KeyKind::Rsa2048).unwrap();
        let public = pair.public_key.clone().unwrap();
        let secret = KeyMaterial::generate_symmetric();
        for algorithm in [
            ImportWrappingAlgorithm::RsaesOaepSha1,
            ImportWrappingAlgorithm::RsaesOaepSha256,
            ImportWrappingAlgorithm::RsaAesKeyWrapSha1,
            ImportWrappingAlgorithm::RsaAesKeyWrapSha256,
        ] {
            let blob = wrap(&public, algorithm, secret.as_bytes());
            let back = unwrap_imported(KeyKind::Rsa2048, &pair.material, algorithm, &blob).unwrap();
            assert_eq!(back.as_bytes(), secret.as_bytes(), "{algorithm:?}");
            let mut tampered = blob.clone();
            *tampered.last_mut().unwrap() ^= 1;
            assert_eq!(
                unwrap_imported(KeyKind::Rsa2048, &pair.material, algorithm, &tampered)
                    .unwrap_err(),
                CryptoError::InvalidCiphertext
            );
        }
        assert!(generate_wrapping_key(KeyKind::EccNistP256).is_err());
    }

    #[test]
    fn material_checks_follow_aws() {
        assert!(check_imported_material(None, &KeyMaterial::generate_symmetric()).is_ok());
        assert!(check_imported_material(None, &KeyMaterial::from_bytes(vec![1; 16])).is_err());
        let hmac = |n| KeyMaterial::from_bytes(vec![7; n]);
        assert!(check_imported_material(Some(KeyKind::Hmac256), &hmac(32)).is_ok());
        assert!(check_imported_material(Some(KeyKind::Hmac256), &hmac(64)).is_ok());
        assert!(check_imported_material(Some(KeyKind::Hmac256), &hmac(31)).is_err());
        assert!(check_imported_material(Some(KeyKind::Hmac512), &hmac(128)).is_ok());
        let p256 = asymmetric::generate(KeyKind::EccNistP256).unwrap();
        let public = check_imported_material(Some(KeyKind::EccNistP256), &p256.material).unwrap();
        assert_eq!(public, p256.public_key);
        assert!(check_imported_material(Some(KeyKind::EccNistP384), &p256.material).is_err());
    }

    #[test]
    fn material_ids_name_the_key_and_the_bytes() {
        let a = KeyMaterial::from_bytes(vec![1; 32]);
        let b = KeyMaterial::from_bytes(vec![2; 32]);
        assert_eq!(
            imported_material_id("k", &a),
            imported_material_id("k", &a.clone())
        );
        assert_ne!(imported_material_id("k", &a), imported_material_id("k", &b));
        assert_ne!(imported_material_id("k", &a), imported_material_id("j", &a));
    }
}
