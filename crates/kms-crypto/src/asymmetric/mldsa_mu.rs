//! `ML_DSA_SHAKE_256` with MessageType EXTERNAL_MU: ML-DSA signing and verification of a
//! caller-computed 64-byte message representative mu (FIPS 204 §6.2, Algorithm 2/3 with mu
//! supplied), which aws-lc-rs has no safe API for, done with RustCrypto's `ml-dsa`.
//!
//! mu = SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64) for a message M signed with the
//! empty context, so a RAW signature of M and an EXTERNAL_MU signature of mu verify alike.
//! Signing is hedged (fresh randomness from the aws-lc-rs CSPRNG), like aws-lc-rs's own.
//! The private key is the same seed-form PKCS#8 aws-lc-rs writes.

use ml_dsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams, Signature, SigningKey, VerifyingKey};

use super::rng::SystemRng;
use crate::{CryptoError, KeyKind, KeyMaterial};

/// Length of mu in bytes.
pub(super) const MU_LEN: usize = 64;

/// ML-DSA-`P` signature of `mu` with the PKCS#8 key `material`.
fn sign_with<P: MlDsaParams>(material: &KeyMaterial, mu: &[u8]) -> Result<Vec<u8>, CryptoError>
where
    SigningKey<P>: DecodePrivateKey,
{
    let key = SigningKey::<P>::from_pkcs8_der(material.as_bytes())
        .map_err(|_| CryptoError::InvalidKeyMaterial)?;
    let mu = mu
        .try_into()
        .map_err(|_| CryptoError::InvalidInput("EXTERNAL_MU must be 64 bytes".to_owned()))?;
    let signature = key
        .expanded_key()
        .sign_mu_randomized(mu, &mut SystemRng)
        .map_err(|_| CryptoError::Internal("ML-DSA signing failed"))?;
    Ok(signature.encode().to_vec())
}

/// Whether `signature` is a valid ML-DSA-`P` signature of `mu` under the SubjectPublicKeyInfo
/// `public_key`.
fn verify_with<P: MlDsaParams>(
    public_key: &[u8],
    mu: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError>
where
    VerifyingKey<P>: DecodePublicKey,
{
    let key = VerifyingKey::<P>::from_public_key_der(public_key)
        .map_err(|_| CryptoError::InvalidKeyMaterial)?;
    let mu = mu
        .try_into()
        .map_err(|_| CryptoError::InvalidInput("EXTERNAL_MU must be 64 bytes".to_owned()))?;
    let Ok(signature) = Signature::<P>::try_from(signature) else {
        return Ok(false);
    };
    Ok(key.verify_mu(mu, &signature))
}

fn not_mldsa(kind: KeyKind) -> CryptoError {
    CryptoError::IncompatibleAlgorithm(format!(
        "EXTERNAL_MU is only valid with ML-DSA keys, not {}",
        kind.aws_name()
    ))
}

/// Signs the 64-byte `mu` with the ML-DSA key `material` of `kind`.
pub(super) fn sign(
    kind: KeyKind,
    material: &KeyMaterial,
    mu: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    match kind {
        KeyKind::MlDsa44 => sign_with::<MlDsa44>(material, mu),
        KeyKind::MlDsa65 => sign_with::<MlDsa65>(material, mu),
        KeyKind::MlDsa87 => sign_with::<MlDsa87>(material, mu),
        _ => Err(not_mldsa(kind)),
    }
}

/// Verifies an ML-DSA `signature` of the 64-byte `mu` under `public_key` (SPKI DER).
pub(super) fn verify(
    kind: KeyKind,
    public_key: &[u8],
    mu: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    match kind {
        KeyKind::MlDsa44 => verify_with::<MlDsa44>(public_key, mu, signature),
        KeyKind::MlDsa65 => verify_with::<MlDsa65>(public_key, mu, signature),
        KeyKind::MlDsa87 => verify_with::<MlDsa87>(public_key, mu, signature),
        _ => Err(not_mldsa(kind)),
    }
}
