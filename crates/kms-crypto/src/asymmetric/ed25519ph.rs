//! `ED25519_PH_SHA_512`: Ed25519ph (RFC 8032 §5.1, HashEdDSA with SHA-512 and an empty
//! context), which aws-lc-rs has no safe API for, done with `ed25519-dalek`.
//!
//! AWS accepts this algorithm only with MessageType DIGEST (a 64-byte SHA-512 digest) and
//! documents that it "still performs the SHA-512 prehash": the Ed25519ph *message* is the
//! 64-byte digest the caller sent, so the caller's data ends up hashed twice. A verifier outside
//! KMS therefore runs Ed25519ph over the digest bytes.
//!
//! The key comes from the same PKCS#8 material as pure Ed25519: aws-lc-rs parses it and hands
//! over the 32-byte seed, which never leaves zeroizing storage.

use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::signature::Ed25519KeyPair;
use ed25519_dalek::{Digest, Sha512, Signature, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::{CryptoError, KeyMaterial};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) }, followed by the 32-byte public key.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The dalek signing key for PKCS#8 Ed25519 `material`.
fn signing_key(material: &KeyMaterial) -> Result<SigningKey, CryptoError> {
    const BAD: CryptoError = CryptoError::InvalidKeyMaterial;
    let pair = Ed25519KeyPair::from_pkcs8(material.as_bytes()).map_err(|_| BAD)?;
    let seed = pair
        .seed()
        .map_err(|_| BAD)?
        .as_be_bytes()
        .map_err(|_| BAD)?;
    let mut bytes = Zeroizing::new([0u8; 32]);
    if seed.as_ref().len() != bytes.len() {
        return Err(BAD);
    }
    bytes.copy_from_slice(seed.as_ref());
    Ok(SigningKey::from_bytes(&bytes))
}

/// The dalek verifying key for an Ed25519 SubjectPublicKeyInfo.
fn verifying_key(public_key: &[u8]) -> Result<VerifyingKey, CryptoError> {
    const BAD: CryptoError = CryptoError::InvalidKeyMaterial;
    let raw = public_key.strip_prefix(&SPKI_PREFIX[..]).ok_or(BAD)?;
    let raw: &[u8; 32] = raw.try_into().map_err(|_| BAD)?;
    VerifyingKey::from_bytes(raw).map_err(|_| BAD)
}

/// Ed25519ph signature of `message` (for KMS, the 64-byte DIGEST) with an empty context.
pub(super) fn sign(material: &KeyMaterial, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let key = signing_key(material)?;
    let signature = key
        .sign_prehashed(Sha512::new().chain_update(message), None)
        .map_err(|_| CryptoError::Internal("Ed25519ph signing failed"))?;
    Ok(signature.to_bytes().to_vec())
}

/// Whether `signature` is a valid Ed25519ph signature of `message` (empty context) under the
/// SubjectPublicKeyInfo `public_key`. Uses dalek's strict verification (rejects small-order
/// keys and non-canonical signatures).
pub(super) fn verify(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let key = verifying_key(public_key)?;
    let Ok(signature) = Signature::from_slice(signature) else {
        return Ok(false);
    };
    let prehash = Sha512::new().chain_update(message);
    Ok(key
        .verify_prehashed_strict(prehash, None, &signature)
        .is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.3, "TEST abc": Ed25519ph of the 3-byte message "abc".
    #[test]
    fn rfc8032_ed25519ph_test_vector() {
        let seed = hex::decode("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
            .expect("hex");
        let public = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf";
        let expected = "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41\
                        31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406";
        // Build PKCS#8 v1 for the seed, as aws-lc-rs stores Ed25519 keys.
        let mut pkcs8 = hex::decode("302e020100300506032b657004220420").expect("hex");
        pkcs8.extend_from_slice(&seed);
        let material = KeyMaterial::from_bytes(pkcs8);

        let signature = sign(&material, b"abc").expect("sign");
        assert_eq!(hex::encode(&signature), expected);

        let mut spki = SPKI_PREFIX.to_vec();
        spki.extend(hex::decode(public).expect("hex"));
        assert_eq!(
            crate::public_key_der(crate::KeyKind::Ed25519, &material).expect("spki"),
            spki
        );
        assert!(verify(&spki, b"abc", &signature).expect("verify"));
        assert!(!verify(&spki, b"abd", &signature).expect("verify"));
        assert!(!verify(&spki, b"abc", &signature[..63]).expect("verify"));
    }

    #[test]
    fn malformed_public_keys_are_key_material_errors() {
        for bad in [&[][..], &SPKI_PREFIX[..], &[0u8; 44][..]] {
            assert_eq!(
                verify(bad, b"m", &[0u8; 64]),
                Err(CryptoError::InvalidKeyMaterial)
            );
        }
    }
}
