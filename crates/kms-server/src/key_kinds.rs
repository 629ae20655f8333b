//! The map between AWS's names (kms-types) and kms-crypto's typed algorithms. Crypto errors
//! map to KMS errors through `From<CryptoError> for KmsError` in kms-crypto.

use kms_crypto::asymmetric::{
    MessageType as CryptoMessageType, RsaEncryptionAlgorithm, SigningAlgorithm,
};
use kms_crypto::KeyKind;
use kms_types::{
    DataKeyPairSpec, EncryptionAlgorithm, KeySpec, KmsError, MessageType, SigningAlgorithmSpec,
};

/// The crypto kind of a key spec; `None` for SYMMETRIC_DEFAULT (the ciphertext module) and SM2.
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
        KeySpec::SymmetricDefault | KeySpec::Sm2 => return None,
    })
}

/// The crypto kind of a data key pair spec; `None` for SM2.
pub fn pair_kind(spec: DataKeyPairSpec) -> Option<KeyKind> {
    Some(match spec {
        DataKeyPairSpec::Rsa2048 => KeyKind::Rsa2048,
        DataKeyPairSpec::Rsa3072 => KeyKind::Rsa3072,
        DataKeyPairSpec::Rsa4096 => KeyKind::Rsa4096,
        DataKeyPairSpec::EccNistP256 => KeyKind::EccNistP256,
        DataKeyPairSpec::EccNistP384 => KeyKind::EccNistP384,
        DataKeyPairSpec::EccNistP521 => KeyKind::EccNistP521,
        DataKeyPairSpec::EccSecgP256k1 => KeyKind::EccSecgP256k1,
        DataKeyPairSpec::EccNistEdwards25519 => KeyKind::Ed25519,
        DataKeyPairSpec::Sm2 => return None,
    })
}

/// The crypto signing algorithm for an AWS one; `None` for SM2DSA.
pub fn signing_algorithm(spec: SigningAlgorithmSpec) -> Option<SigningAlgorithm> {
    use SigningAlgorithmSpec as S;
    Some(match spec {
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
        S::Sm2dsa => return None,
    })
}

/// The crypto message type for an AWS one.
pub fn message_type(kind: MessageType) -> CryptoMessageType {
    match kind {
        MessageType::Raw => CryptoMessageType::Raw,
        MessageType::Digest => CryptoMessageType::Digest,
        MessageType::ExternalMu => CryptoMessageType::ExternalMu,
    }
}

/// The RSA-OAEP variant of an AWS encryption algorithm; `None` for the others.
pub fn rsa_algorithm(algorithm: EncryptionAlgorithm) -> Option<RsaEncryptionAlgorithm> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Some(RsaEncryptionAlgorithm::OaepSha1),
        EncryptionAlgorithm::RsaesOaepSha256 => Some(RsaEncryptionAlgorithm::OaepSha256),
        EncryptionAlgorithm::SymmetricDefault | EncryptionAlgorithm::Sm2pke => None,
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
