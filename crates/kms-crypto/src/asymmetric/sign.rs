//! [`sign`] and [`verify`] for the AWS KMS signing algorithms (see the table in
//! [`crate::asymmetric`]). aws-lc-rs does all of them except Ed25519ph
//! ([`super::ed25519ph`]), ML-DSA with an external mu ([`super::mldsa_mu`]) and SM2DSA
//! ([`super::sm2_ops`]).

use aws_lc_rs::digest::{self, Digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, ParsedPublicKey, RsaEncoding, RsaKeyPair, VerificationAlgorithm,
};

use super::keys::PrivateKey;
use super::{ed25519ph, mldsa_mu, sm2_ops};
use crate::{CryptoError, KeyKind, KeyMaterial};

/// An AWS KMS `SigningAlgorithmSpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    /// `RSASSA_PSS_SHA_256` (salt length 32).
    RsassaPssSha256,
    /// `RSASSA_PSS_SHA_384` (salt length 48).
    RsassaPssSha384,
    /// `RSASSA_PSS_SHA_512` (salt length 64).
    RsassaPssSha512,
    /// `RSASSA_PKCS1_V1_5_SHA_256`.
    RsassaPkcs1V15Sha256,
    /// `RSASSA_PKCS1_V1_5_SHA_384`.
    RsassaPkcs1V15Sha384,
    /// `RSASSA_PKCS1_V1_5_SHA_512`.
    RsassaPkcs1V15Sha512,
    /// `ECDSA_SHA_256` (P-256 and secp256k1 keys).
    EcdsaSha256,
    /// `ECDSA_SHA_384` (P-384 keys).
    EcdsaSha384,
    /// `ECDSA_SHA_512` (P-521 keys).
    EcdsaSha512,
    /// `ED25519_SHA_512`: pure Ed25519 (RFC 8032), RAW messages only.
    Ed25519Sha512,
    /// `ED25519_PH_SHA_512`: Ed25519ph (RFC 8032 HashEdDSA, empty context) over the 64-byte
    /// DIGEST message, which is hashed again with SHA-512 as AWS documents.
    Ed25519PhSha512,
    /// `ML_DSA_SHAKE_256`: ML-DSA (FIPS 204, empty context), RAW or EXTERNAL_MU.
    MlDsaShake256,
    /// `SM2DSA` (GM/T 0003.2 with SM3): RAW (Z is computed with the distinguishing ID
    /// `1234567812345678`) or DIGEST (the 32-byte e = SM3(Z ‖ M)).
    Sm2Dsa,
}

/// An AWS KMS `MessageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// The message itself; the algorithm hashes it.
    Raw,
    /// A hash of the message, exactly as long as the algorithm's hash.
    Digest,
    /// The 64-byte ML-DSA message representative mu (FIPS 204 §6.2).
    ExternalMu,
}

impl SigningAlgorithm {
    /// Every algorithm, in declaration order.
    pub const ALL: [SigningAlgorithm; 13] = [
        SigningAlgorithm::RsassaPssSha256,
        SigningAlgorithm::RsassaPssSha384,
        SigningAlgorithm::RsassaPssSha512,
        SigningAlgorithm::RsassaPkcs1V15Sha256,
        SigningAlgorithm::RsassaPkcs1V15Sha384,
        SigningAlgorithm::RsassaPkcs1V15Sha512,
        SigningAlgorithm::EcdsaSha256,
        SigningAlgorithm::EcdsaSha384,
        SigningAlgorithm::EcdsaSha512,
        SigningAlgorithm::Ed25519Sha512,
        SigningAlgorithm::Ed25519PhSha512,
        SigningAlgorithm::MlDsaShake256,
        SigningAlgorithm::Sm2Dsa,
    ];

    /// The AWS name, e.g. `RSASSA_PSS_SHA_256`.
    pub fn aws_name(self) -> &'static str {
        match self {
            SigningAlgorithm::RsassaPssSha256 => "RSASSA_PSS_SHA_256",
            SigningAlgorithm::RsassaPssSha384 => "RSASSA_PSS_SHA_384",
            SigningAlgorithm::RsassaPssSha512 => "RSASSA_PSS_SHA_512",
            SigningAlgorithm::RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
            SigningAlgorithm::RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
            SigningAlgorithm::RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
            SigningAlgorithm::EcdsaSha256 => "ECDSA_SHA_256",
            SigningAlgorithm::EcdsaSha384 => "ECDSA_SHA_384",
            SigningAlgorithm::EcdsaSha512 => "ECDSA_SHA_512",
            SigningAlgorithm::Ed25519Sha512 => "ED25519_SHA_512",
            SigningAlgorithm::Ed25519PhSha512 => "ED25519_PH_SHA_512",
            SigningAlgorithm::MlDsaShake256 => "ML_DSA_SHAKE_256",
            SigningAlgorithm::Sm2Dsa => "SM2DSA",
        }
    }

    /// The hash a DIGEST message must come from, for algorithms that accept DIGEST.
    fn digest_alg(self) -> Option<&'static digest::Algorithm> {
        match self {
            SigningAlgorithm::RsassaPssSha256
            | SigningAlgorithm::RsassaPkcs1V15Sha256
            | SigningAlgorithm::EcdsaSha256 => Some(&digest::SHA256),
            SigningAlgorithm::RsassaPssSha384
            | SigningAlgorithm::RsassaPkcs1V15Sha384
            | SigningAlgorithm::EcdsaSha384 => Some(&digest::SHA384),
            SigningAlgorithm::RsassaPssSha512
            | SigningAlgorithm::RsassaPkcs1V15Sha512
            | SigningAlgorithm::EcdsaSha512
            | SigningAlgorithm::Ed25519PhSha512 => Some(&digest::SHA512),
            SigningAlgorithm::Ed25519Sha512
            | SigningAlgorithm::MlDsaShake256
            | SigningAlgorithm::Sm2Dsa => None,
        }
    }

    /// The length of a DIGEST message with this algorithm (0 if it takes none).
    fn digest_len(self) -> usize {
        match self {
            SigningAlgorithm::Sm2Dsa => sm2_ops::DIGEST_LEN,
            _ => self.digest_alg().map_or(0, |d| d.output_len()),
        }
    }

    /// The message types AWS accepts with this algorithm.
    fn message_types(self) -> &'static [MessageType] {
        match self {
            SigningAlgorithm::Ed25519Sha512 => &[MessageType::Raw],
            SigningAlgorithm::Ed25519PhSha512 => &[MessageType::Digest],
            SigningAlgorithm::MlDsaShake256 => &[MessageType::Raw, MessageType::ExternalMu],
            _ => &[MessageType::Raw, MessageType::Digest],
        }
    }

    fn rsa_encoding(self) -> Option<&'static dyn RsaEncoding> {
        match self {
            SigningAlgorithm::RsassaPssSha256 => Some(&sig::RSA_PSS_SHA256),
            SigningAlgorithm::RsassaPssSha384 => Some(&sig::RSA_PSS_SHA384),
            SigningAlgorithm::RsassaPssSha512 => Some(&sig::RSA_PSS_SHA512),
            SigningAlgorithm::RsassaPkcs1V15Sha256 => Some(&sig::RSA_PKCS1_SHA256),
            SigningAlgorithm::RsassaPkcs1V15Sha384 => Some(&sig::RSA_PKCS1_SHA384),
            SigningAlgorithm::RsassaPkcs1V15Sha512 => Some(&sig::RSA_PKCS1_SHA512),
            _ => None,
        }
    }
}

impl KeyKind {
    /// The signing algorithms AWS allows with this kind (empty for HMAC kinds), as
    /// `KeyMetadata.SigningAlgorithms` lists them.
    pub fn signing_algorithms(self) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm as S;
        match self {
            KeyKind::Rsa2048 | KeyKind::Rsa3072 | KeyKind::Rsa4096 => &[
                S::RsassaPssSha256,
                S::RsassaPssSha384,
                S::RsassaPssSha512,
                S::RsassaPkcs1V15Sha256,
                S::RsassaPkcs1V15Sha384,
                S::RsassaPkcs1V15Sha512,
            ],
            KeyKind::EccNistP256 | KeyKind::EccSecgP256k1 => &[S::EcdsaSha256],
            KeyKind::EccNistP384 => &[S::EcdsaSha384],
            KeyKind::EccNistP521 => &[S::EcdsaSha512],
            KeyKind::Ed25519 => &[S::Ed25519Sha512, S::Ed25519PhSha512],
            KeyKind::MlDsa44 | KeyKind::MlDsa65 | KeyKind::MlDsa87 => &[S::MlDsaShake256],
            KeyKind::Sm2 => &[S::Sm2Dsa],
            KeyKind::Hmac224 | KeyKind::Hmac256 | KeyKind::Hmac384 | KeyKind::Hmac512 => &[],
        }
    }
}

/// Checks that `alg` fits `kind`, `message_type` fits `alg`, and the message length fits both.
fn check(
    kind: KeyKind,
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<(), CryptoError> {
    if !kind.signing_algorithms().contains(&alg) {
        return Err(CryptoError::IncompatibleAlgorithm(format!(
            "{} is not a valid signing algorithm for {} keys",
            alg.aws_name(),
            kind.aws_name()
        )));
    }
    if !alg.message_types().contains(&message_type) {
        return Err(CryptoError::InvalidInput(format!(
            "MessageType {message_type:?} is not valid with {}",
            alg.aws_name()
        )));
    }
    let expected = match message_type {
        MessageType::Raw => return Ok(()),
        MessageType::Digest => alg.digest_len(),
        MessageType::ExternalMu => mldsa_mu::MU_LEN,
    };
    if message.len() != expected {
        return Err(CryptoError::InvalidInput(format!(
            "Digest is invalid length for algorithm {}: expected {expected} bytes, got {}",
            alg.aws_name(),
            message.len()
        )));
    }
    Ok(())
}

/// The message as an aws-lc-rs digest, for DIGEST messages (length already checked).
fn imported_digest(alg: SigningAlgorithm, message: &[u8]) -> Result<Digest, CryptoError> {
    let d = alg
        .digest_alg()
        .ok_or(CryptoError::Internal("no digest for algorithm"))?;
    Digest::import_less_safe(message, d).map_err(|_| CryptoError::Internal("digest import"))
}

/// Signs `message` with the private key `material` of `kind`.
///
/// Errors: [`CryptoError::IncompatibleAlgorithm`] if `alg` is not one of
/// [`KeyKind::signing_algorithms`]; [`CryptoError::InvalidInput`] if `message_type` is not
/// allowed with `alg` or a DIGEST/EXTERNAL_MU message has the wrong length;
/// [`CryptoError::InvalidKeyMaterial`] if `material` is not a PKCS#8 key of `kind`.
pub fn sign(
    kind: KeyKind,
    material: &KeyMaterial,
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    check(kind, alg, message_type, message)?;
    match (alg, message_type) {
        (SigningAlgorithm::Ed25519PhSha512, _) => return ed25519ph::sign(material, message),
        (SigningAlgorithm::Sm2Dsa, _) => return sm2_ops::sign(material, message_type, message),
        (_, MessageType::ExternalMu) => return mldsa_mu::sign(kind, material, message),
        _ => {}
    }
    const FAILED: CryptoError = CryptoError::Internal("signing failed");
    match PrivateKey::load(kind, material)? {
        PrivateKey::Rsa(key) => rsa_sign(&key, alg, message_type, message),
        PrivateKey::Ecdsa(key) => ecdsa_sign(&key, alg, message_type, message),
        PrivateKey::Ed25519(key) => {
            Ok(key.try_sign(message).map_err(|_| FAILED)?.as_ref().to_vec())
        }
        PrivateKey::MlDsa(key) => {
            let mut out = vec![0u8; key.algorithm().signature_len()];
            let len = key.sign(message, &mut out).map_err(|_| FAILED)?;
            out.truncate(len);
            Ok(out)
        }
        PrivateKey::Sm2(_) => Err(FAILED),
    }
}

fn rsa_sign(
    key: &RsaKeyPair,
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    const FAILED: CryptoError = CryptoError::Internal("RSA signing failed");
    let encoding = alg.rsa_encoding().ok_or(FAILED)?;
    let mut out = vec![0u8; key.public_modulus_len()];
    if message_type == MessageType::Digest {
        let digest = imported_digest(alg, message)?;
        key.sign_digest(encoding, &digest, &mut out)
    } else {
        key.sign(encoding, &SystemRandom::new(), message, &mut out)
    }
    .map_err(|_| FAILED)?;
    Ok(out)
}

fn ecdsa_sign(
    key: &EcdsaKeyPair,
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    const FAILED: CryptoError = CryptoError::Internal("ECDSA signing failed");
    let signature = if message_type == MessageType::Digest {
        key.sign_digest(&imported_digest(alg, message)?)
    } else {
        key.sign(&SystemRandom::new(), message)
    }
    .map_err(|_| FAILED)?;
    Ok(signature.as_ref().to_vec())
}

/// Verifies `signature` over `message` with `public_key` (DER SubjectPublicKeyInfo of a key of
/// `kind`). `Ok(false)` for any signature that does not verify, malformed ones included.
///
/// Errors: as for [`sign`], plus [`CryptoError::InvalidKeyMaterial`] if `public_key` is not a
/// public key of `kind`.
pub fn verify(
    kind: KeyKind,
    public_key: &[u8],
    alg: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    check(kind, alg, message_type, message)?;
    match (alg, message_type) {
        (SigningAlgorithm::Ed25519PhSha512, _) => {
            return ed25519ph::verify(public_key, message, signature)
        }
        (SigningAlgorithm::Sm2Dsa, _) => {
            return sm2_ops::verify(public_key, message_type, message, signature)
        }
        (_, MessageType::ExternalMu) => {
            return mldsa_mu::verify(kind, public_key, message, signature)
        }
        _ => {}
    }
    let verification = verification_alg(kind, alg)?;
    let key = ParsedPublicKey::new(verification, public_key)
        .map_err(|_| CryptoError::InvalidKeyMaterial)?;
    let verified = if message_type == MessageType::Digest {
        key.verify_digest_sig(&imported_digest(alg, message)?, signature)
    } else {
        key.verify_sig(message, signature)
    };
    Ok(verified.is_ok())
}

/// The aws-lc-rs verification algorithm for a (kind, algorithm) pair that [`check`] accepted.
fn verification_alg(
    kind: KeyKind,
    alg: SigningAlgorithm,
) -> Result<&'static dyn VerificationAlgorithm, CryptoError> {
    Ok(match (kind, alg) {
        (_, SigningAlgorithm::RsassaPssSha256) => &sig::RSA_PSS_2048_8192_SHA256,
        (_, SigningAlgorithm::RsassaPssSha384) => &sig::RSA_PSS_2048_8192_SHA384,
        (_, SigningAlgorithm::RsassaPssSha512) => &sig::RSA_PSS_2048_8192_SHA512,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
        (KeyKind::EccNistP256, _) => &sig::ECDSA_P256_SHA256_ASN1,
        (KeyKind::EccSecgP256k1, _) => &sig::ECDSA_P256K1_SHA256_ASN1,
        (KeyKind::EccNistP384, _) => &sig::ECDSA_P384_SHA384_ASN1,
        (KeyKind::EccNistP521, _) => &sig::ECDSA_P521_SHA512_ASN1,
        (KeyKind::Ed25519, _) => &sig::ED25519,
        (KeyKind::MlDsa44, _) => &sig::ML_DSA_44,
        (KeyKind::MlDsa65, _) => &sig::ML_DSA_65,
        (KeyKind::MlDsa87, _) => &sig::ML_DSA_87,
        _ => return Err(CryptoError::Internal("no verification algorithm")),
    })
}
