//! The map between AWS's names (kms-types) and kms-crypto's typed algorithms, and AWS's rule
//! that SM2 exists only in the China Regions (every region named `cn-*`). Crypto errors map to
//! KMS errors through `From<CryptoError> for KmsError` in kms-crypto.

use kms_crypto::asymmetric::{
    MessageType as CryptoMessageType, RsaEncryptionAlgorithm, SigningAlgorithm,
};
use kms_crypto::KeyKind;
use kms_types::{
    DataKeyPairSpec, EncryptionAlgorithm, KeySpec, KmsError, MessageType, SigningAlgorithmSpec,
};

/// Whether `region` is one of AWS's China Regions (`cn-north-1`, `cn-northwest-1`): Trent
/// treats every region named `cn-*` so. Only there does AWS offer SM2 (keys, data key pairs).
pub(crate) fn china_region(region: &str) -> bool {
    region.starts_with("cn-")
}

/// AWS's refusal of `what` (e.g. `KeySpec SM2`) outside the China Regions.
pub(crate) fn not_in_this_region(what: &str) -> KmsError {
    KmsError::UnsupportedOperation(format!("{what} is not supported in this Region."))
}

/// The crypto kind of a key spec; `None` for SYMMETRIC_DEFAULT (the ciphertext module).
pub fn key_kind(spec: KeySpec) -> Option<KeyKind> {
    Some(match spec {
        KeySpec::Rsa2048 => KeyKind::Rsa2048,
        KeySpec::Rsa3072 => KeyKind::Rsa3072,
        KeySpec::Rsa4096 => KeyKind::Rsa4096,
        KeySpec::EccNistP256 => KeyKind::EccNistP256,
        KeySpec::EccNistP384 => KeyKind::EccNistP384,
        KeySpec::EccNistP521 => KeyKind::EccNistP521,
        KeySpec::EccSecgP256k1 => KeyKind::EccSecgP256k1,
        KeySpec::EccNistEdwards25519 => KeyKind::Ed25519,
        KeySpec::MlDsa44 => KeyKind::MlDsa44,
        KeySpec::MlDsa65 => KeyKind::MlDsa65,
        KeySpec::MlDsa87 => KeyKind::MlDsa87,
        KeySpec::Hmac224 => KeyKind::Hmac224,
        KeySpec::Hmac256 => KeyKind::Hmac256,
        KeySpec::Hmac384 => KeyKind::Hmac384,
        KeySpec::Hmac512 => KeyKind::Hmac512,
        KeySpec::Sm2 => KeyKind::Sm2,
        KeySpec::SymmetricDefault => return None,
    })
}

/// The crypto kind of a data key pair spec (SM2 only in the China Regions: the caller checks).
pub fn pair_kind(spec: DataKeyPairSpec) -> KeyKind {
    match spec {
        DataKeyPairSpec::Rsa2048 => KeyKind::Rsa2048,
        DataKeyPairSpec::Rsa3072 => KeyKind::Rsa3072,
        DataKeyPairSpec::Rsa4096 => KeyKind::Rsa4096,
        DataKeyPairSpec::EccNistP256 => KeyKind::EccNistP256,
        DataKeyPairSpec::EccNistP384 => KeyKind::EccNistP384,
        DataKeyPairSpec::EccNistP521 => KeyKind::EccNistP521,
        DataKeyPairSpec::EccSecgP256k1 => KeyKind::EccSecgP256k1,
        DataKeyPairSpec::EccNistEdwards25519 => KeyKind::Ed25519,
        DataKeyPairSpec::Sm2 => KeyKind::Sm2,
    }
}

/// The crypto signing algorithm for an AWS one.
pub fn signing_algorithm(spec: SigningAlgorithmSpec) -> SigningAlgorithm {
    use SigningAlgorithmSpec as S;
    match spec {
        S::RsassaPssSha256 => SigningAlgorithm::RsassaPssSha256,
        S::RsassaPssSha384 => SigningAlgorithm::RsassaPssSha384,
        S::RsassaPssSha512 => SigningAlgorithm::RsassaPssSha512,
        S::RsassaPkcs1V15Sha256 => SigningAlgorithm::RsassaPkcs1V15Sha256,
        S::RsassaPkcs1V15Sha384 => SigningAlgorithm::RsassaPkcs1V15Sha384,
        S::RsassaPkcs1V15Sha512 => SigningAlgorithm::RsassaPkcs1V15Sha512,
        S::EcdsaSha256 => SigningAlgorithm::EcdsaSha256,
        S::EcdsaSha384 => SigningAlgorithm::EcdsaSha384,
        S::EcdsaSha512 => SigningAlgorithm::EcdsaSha512,
        S::Ed25519Sha512 => SigningAlgorithm::Ed25519Sha512,
        S::Ed25519PhSha512 => SigningAlgorithm::Ed25519PhSha512,
        S::MlDsaShake256 => SigningAlgorithm::MlDsaShake256,
        S::Sm2dsa => SigningAlgorithm::Sm2Dsa,
    }
}

/// The crypto message type for an AWS one.
pub fn message_type(kind: MessageType) -> CryptoMessageType {
    match kind {
        MessageType::Raw => CryptoMessageType::Raw,
        MessageType::Digest => CryptoMessageType::Digest,
        MessageType::ExternalMu => CryptoMessageType::ExternalMu,
    }
}

/// An asymmetric encryption algorithm: the ciphertext is raw, so Decrypt needs the KeyId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsymmetricEncryption {
    /// `RSAES_OAEP_SHA_1` or `RSAES_OAEP_SHA_256`.
    Rsa(RsaEncryptionAlgorithm),
    /// `SM2PKE` (China Regions only, as SM2 keys are).
    Sm2Pke,
}

/// The asymmetric variant of an AWS encryption algorithm; `None` for SYMMETRIC_DEFAULT.
pub fn asymmetric_algorithm(algorithm: EncryptionAlgorithm) -> Option<AsymmetricEncryption> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => {
            Some(AsymmetricEncryption::Rsa(RsaEncryptionAlgorithm::OaepSha1))
        }
        EncryptionAlgorithm::RsaesOaepSha256 => Some(AsymmetricEncryption::Rsa(
            RsaEncryptionAlgorithm::OaepSha256,
        )),
        EncryptionAlgorithm::Sm2pke => Some(AsymmetricEncryption::Sm2Pke),
        EncryptionAlgorithm::SymmetricDefault => None,
    }
}

/// The key specs whose material can be imported.
pub(crate) fn importable(spec: KeySpec) -> bool {
    use KeySpec::*;
    matches!(
        spec,
        SymmetricDefault
            | Hmac224
            | Hmac256
            | Hmac384
            | Hmac512
            | Rsa2048
            | Rsa3072
            | Rsa4096
            | EccNistP256
            | EccNistP384
            | EccNistP521
            | EccSecgP256k1
            | Sm2
    )
}

/// Whether CreateKey may make a key of `spec` with origin EXTERNAL; AWS's error if not.
pub(crate) fn check_external_spec(spec: KeySpec) -> Result<(), KmsError> {
    if importable(spec) {
        return Ok(());
    }
    Err(KmsError::UnsupportedOperation(format!(
        "KeySpec {spec} is not supported for keys with origin EXTERNAL."
    )))
}
