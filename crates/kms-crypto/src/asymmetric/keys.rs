//! Loading and generating the private key of each asymmetric [`KeyKind`] (aws-lc-rs; RustCrypto
//! `sm2` for SM2), and exporting their PKCS#8 and SubjectPublicKeyInfo encodings.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, Ed25519KeyPair, KeyPair as _, PqdsaKeyPair,
    PqdsaSigningAlgorithm, RsaKeyPair, ECDSA_P256K1_SHA256_ASN1_SIGNING,
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
    ML_DSA_44_SIGNING, ML_DSA_65_SIGNING, ML_DSA_87_SIGNING,
};

use super::sm2_ops;
use crate::{CryptoError, KeyKind, KeyMaterial};

/// A parsed private key of one of the asymmetric kinds.
pub(crate) enum PrivateKey {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
    /// RustCrypto `sm2` (AWS-LC has no SM2); zeroized on drop.
    Sm2(::sm2::SecretKey),
}

/// The one ECDSA signing algorithm AWS allows per curve (DER signatures).
pub(crate) fn ecdsa_signing_alg(kind: KeyKind) -> Option<&'static EcdsaSigningAlgorithm> {
    match kind {
        KeyKind::EccNistP256 => Some(&ECDSA_P256_SHA256_ASN1_SIGNING),
        KeyKind::EccNistP384 => Some(&ECDSA_P384_SHA384_ASN1_SIGNING),
        KeyKind::EccNistP521 => Some(&ECDSA_P521_SHA512_ASN1_SIGNING),
        KeyKind::EccSecgP256k1 => Some(&ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => None,
    }
}

fn mldsa_signing_alg(kind: KeyKind) -> Option<&'static PqdsaSigningAlgorithm> {
    match kind {
        KeyKind::MlDsa44 => Some(&ML_DSA_44_SIGNING),
        KeyKind::MlDsa65 => Some(&ML_DSA_65_SIGNING),
        KeyKind::MlDsa87 => Some(&ML_DSA_87_SIGNING),
        _ => None,
    }
}

fn rsa_key_size(kind: KeyKind) -> Option<KeySize> {
    match kind {
        KeyKind::Rsa2048 => Some(KeySize::Rsa2048),
        KeyKind::Rsa3072 => Some(KeySize::Rsa3072),
        KeyKind::Rsa4096 => Some(KeySize::Rsa4096),
        _ => None,
    }
}

fn no_public_key(kind: KeyKind) -> CryptoError {
    CryptoError::IncompatibleAlgorithm(format!(
        "{} keys have no public key or private key pair",
        kind.aws_name()
    ))
}

const GENERATE_FAILED: CryptoError = CryptoError::Internal("key generation failed");
const BAD_MATERIAL: CryptoError = CryptoError::InvalidKeyMaterial;

impl PrivateKey {
    /// A fresh key of `kind` (an HMAC kind is an error).
    pub(crate) fn generate(kind: KeyKind) -> Result<PrivateKey, CryptoError> {
        if let Some(size) = rsa_key_size(kind) {
            return RsaKeyPair::generate(size)
                .map(PrivateKey::Rsa)
                .map_err(|_| GENERATE_FAILED);
        }
        if let Some(alg) = ecdsa_signing_alg(kind) {
            return EcdsaKeyPair::generate(alg)
                .map(PrivateKey::Ecdsa)
                .map_err(|_| GENERATE_FAILED);
        }
        if let Some(alg) = mldsa_signing_alg(kind) {
            return PqdsaKeyPair::generate(alg)
                .map(PrivateKey::MlDsa)
                .map_err(|_| GENERATE_FAILED);
        }
        match kind {
            KeyKind::Ed25519 => Ed25519KeyPair::generate()
                .map(PrivateKey::Ed25519)
                .map_err(|_| GENERATE_FAILED),
            KeyKind::Sm2 => sm2_ops::generate().map(PrivateKey::Sm2),
            _ => Err(no_public_key(kind)),
        }
    }

    /// Parses `material` (PKCS#8 DER) as a private key of `kind`. Material of another kind
    /// (another curve, RSA modulus size or ML-DSA level) is [`CryptoError::InvalidKeyMaterial`].
    pub(crate) fn load(kind: KeyKind, material: &KeyMaterial) -> Result<PrivateKey, CryptoError> {
        let der = material.as_bytes();
        if let Some(len) = kind.rsa_modulus_len() {
            let key = RsaKeyPair::from_pkcs8(der).map_err(|_| BAD_MATERIAL)?;
            if key.public_modulus_len() != len {
                return Err(BAD_MATERIAL);
            }
            return Ok(PrivateKey::Rsa(key));
        }
        if let Some(alg) = ecdsa_signing_alg(kind) {
            return EcdsaKeyPair::from_pkcs8(alg, der)
                .map(PrivateKey::Ecdsa)
                .map_err(|_| BAD_MATERIAL);
        }
        if let Some(alg) = mldsa_signing_alg(kind) {
            return PqdsaKeyPair::from_pkcs8(alg, der)
                .map(PrivateKey::MlDsa)
                .map_err(|_| BAD_MATERIAL);
        }
        match kind {
            KeyKind::Ed25519 => Ed25519KeyPair::from_pkcs8(der)
                .map(PrivateKey::Ed25519)
                .map_err(|_| BAD_MATERIAL),
            KeyKind::Sm2 => sm2_ops::load(material).map(PrivateKey::Sm2),
            _ => Err(no_public_key(kind)),
        }
    }

    /// The private key as unencrypted PKCS#8 v1 DER.
    pub(crate) fn to_pkcs8(&self) -> Result<KeyMaterial, CryptoError> {
        const FAILED: CryptoError = CryptoError::Internal("PKCS#8 encoding failed");
        let bytes = match self {
            PrivateKey::Rsa(k) => {
                let der: Pkcs8V1Der<'static> = k.as_der().map_err(|_| FAILED)?;
                der.as_ref().to_vec()
            }
            PrivateKey::Ecdsa(k) => k.to_pkcs8v1().map_err(|_| FAILED)?.as_ref().to_vec(),
            PrivateKey::Ed25519(k) => k.to_pkcs8v1().map_err(|_| FAILED)?.as_ref().to_vec(),
            PrivateKey::MlDsa(k) => k.to_pkcs8v1().map_err(|_| FAILED)?.as_ref().to_vec(),
            PrivateKey::Sm2(k) => return sm2_ops::to_pkcs8(k),
        };
        Ok(KeyMaterial::from_bytes(bytes))
    }

    /// The public key as DER-encoded X.509 SubjectPublicKeyInfo.
    pub(crate) fn public_key_der(&self) -> Result<Vec<u8>, CryptoError> {
        const FAILED: CryptoError = CryptoError::Internal("SubjectPublicKeyInfo encoding failed");
        let der = match self {
            PrivateKey::Rsa(k) => k.public_key().as_der(),
            PrivateKey::Ecdsa(k) => k.public_key().as_der(),
            PrivateKey::Ed25519(k) => k.public_key().as_der(),
            PrivateKey::MlDsa(k) => k.public_key().as_der(),
            PrivateKey::Sm2(k) => return sm2_ops::public_key_der(k),
        };
        Ok(der.map_err(|_| FAILED)?.as_ref().to_vec())
    }
}
