//! `SM2` (GB/T 32918, GM/T 0003), the key spec AWS offers in its China Regions, done with
//! RustCrypto's `sm2` crate: AWS-LC has no SM2. The three uses AWS offers:
//!
//! - **SM2DSA** (GM/T 0003.2). A RAW message M is signed as the standard defines: the signed
//!   value is e = SM3(Z_A ‖ M) with Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)
//!   and AWS's distinguishing ID [`SM2_DISTINGUISHING_ID`] (`1234567812345678`, the default of
//!   GM/T 0009), which a caller cannot change. A DIGEST message is e itself (32 bytes), which a
//!   caller computes with whatever ID it likes. Signatures are DER `SEQUENCE { r INTEGER,
//!   s INTEGER }` (GM/T 0009), as AWS and OpenSSL write them. Signing is hedged: an RFC 6979
//!   nonce with fresh random input from the system CSPRNG.
//! - **SM2PKE** (GM/T 0003.4, with SM3). The ciphertext is the DER `SEQUENCE { x INTEGER,
//!   y INTEGER, hash OCTET STRING, ciphertext OCTET STRING }` of GM/T 0009, that is C1 (the
//!   point), C3 (the SM3 hash) and C2 in that order: the form AWS's `SM2OfflineOperationHelper`
//!   makes of a raw ciphertext before handing it to KMS, and the one OpenSSL reads and writes.
//!   Plaintexts are 1 to [`SM2PKE_MAX_PLAINTEXT`] bytes (AWS's limit).
//! - **ECDH** on the SM2 curve (`DeriveSharedSecret`): the x coordinate of d·Q, 32 bytes, like
//!   the NIST curves' raw secret (the curve's cofactor is 1). Not the SM2 key exchange protocol
//!   of GM/T 0003.3, which AWS does not offer.
//!
//! Keys: PKCS#8 and SubjectPublicKeyInfo with algorithm `id-ecPublicKey` and the named curve
//! SM2 (OID 1.2.156.10197.1.301), as OpenSSL 3 writes them.
//!
//! Zeroization: the parsed private key is `sm2`'s `SecretKey`, zeroized on drop. The crate's
//! `SigningKey` and `DecryptingKey` hold a copy of the secret scalar and do not zeroize it, so
//! they live here only inside [`Signer`] and [`Decryptor`], which overwrite them before they go.

use ::sm2::dsa::signature::hazmat::{PrehashVerifier, RandomizedPrehashSigner};
use ::sm2::dsa::signature::{RandomizedSigner, Verifier};
use ::sm2::dsa::{Signature, SigningKey, VerifyingKey};
use ::sm2::elliptic_curve::point::AffineCoordinates;
use ::sm2::elliptic_curve::{Generate, Group};
use ::sm2::pkcs8::der::Decode;
use ::sm2::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ::sm2::pke::{Cipher, DecryptingKey, EncryptingKey, Mode};
use ::sm2::{NonZeroScalar, ProjectivePoint, PublicKey, SecretKey, U256};
use zeroize::{Zeroize, Zeroizing};

use super::rng::SystemRng;
use super::MessageType;
use crate::{CryptoError, KeyKind, KeyMaterial};

/// The distinguishing ID AWS uses in SM2DSA for RAW messages (GM/T 0009's default).
pub const SM2_DISTINGUISHING_ID: &str = "1234567812345678";

/// The longest plaintext `Encrypt` takes with `SM2PKE` (AWS: 1024 bytes).
pub const SM2PKE_MAX_PLAINTEXT: usize = 1024;

/// Length of an SM2DSA DIGEST message: one SM3 output.
pub(super) const DIGEST_LEN: usize = 32;

const BAD_MATERIAL: CryptoError = CryptoError::InvalidKeyMaterial;

/// A fresh SM2 private key from the system CSPRNG.
pub(super) fn generate() -> Result<SecretKey, CryptoError> {
    SecretKey::try_generate_from_rng(&mut SystemRng)
        .map_err(|_| CryptoError::Internal("key generation failed"))
}

/// Parses PKCS#8 `material` as an SM2 private key; another curve or algorithm is
/// [`CryptoError::InvalidKeyMaterial`].
pub(super) fn load(material: &KeyMaterial) -> Result<SecretKey, CryptoError> {
    SecretKey::from_pkcs8_der(material.as_bytes()).map_err(|_| BAD_MATERIAL)
}

/// The private key as PKCS#8 v1 DER (with the public key inside the `ECPrivateKey`).
pub(super) fn to_pkcs8(key: &SecretKey) -> Result<KeyMaterial, CryptoError> {
    let der = key
        .to_pkcs8_der()
        .map_err(|_| CryptoError::Internal("PKCS#8 encoding failed"))?;
    Ok(KeyMaterial::from_bytes(der.as_bytes().to_vec()))
}

/// The public key as DER SubjectPublicKeyInfo.
pub(super) fn public_key_der(key: &SecretKey) -> Result<Vec<u8>, CryptoError> {
    let der = key
        .public_key()
        .to_public_key_der()
        .map_err(|_| CryptoError::Internal("SubjectPublicKeyInfo encoding failed"))?;
    Ok(der.as_bytes().to_vec())
}

/// Parses a SubjectPublicKeyInfo of a point on the SM2 curve.
fn parse_public_key(spki: &[u8]) -> Result<PublicKey, CryptoError> {
    PublicKey::from_public_key_der(spki).map_err(|_| BAD_MATERIAL)
}

/// A non-zero scalar of value 1: what [`Signer`] and [`Decryptor`] leave behind.
fn blank_scalar() -> Result<NonZeroScalar, CryptoError> {
    Option::from(NonZeroScalar::from_uint(U256::ONE)).ok_or(CryptoError::Internal("scalar one"))
}

/// `sm2`'s signing key, overwritten with the key of scalar 1 when dropped (the crate does not
/// zeroize its copy of the secret scalar).
struct Signer(SigningKey);

impl Drop for Signer {
    fn drop(&mut self) {
        if let Ok(blank) = blank_scalar().and_then(|s| {
            SigningKey::from_nonzero_scalar(SM2_DISTINGUISHING_ID, s).map_err(|_| BAD_MATERIAL)
        }) {
            self.0 = blank;
        }
        // The store above must happen although nothing reads the key afterwards.
        std::hint::black_box(&self.0);
    }
}

/// `sm2`'s decrypting key, overwritten like [`Signer`].
struct Decryptor(DecryptingKey);

impl Drop for Decryptor {
    fn drop(&mut self) {
        if let Ok(blank) = blank_scalar() {
            self.0 = DecryptingKey::new_with_mode(blank, Mode::C1C3C2);
        }
        std::hint::black_box(&self.0);
    }
}

/// SM2DSA signature (DER) of a RAW message or a 32-byte DIGEST e, with the PKCS#8 key
/// `material`. The caller has checked the message type and length.
pub(super) fn sign(
    material: &KeyMaterial,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    const FAILED: CryptoError = CryptoError::Internal("SM2DSA signing failed");
    let secret = load(material)?;
    let key = Signer(SigningKey::new(SM2_DISTINGUISHING_ID, &secret).map_err(|_| BAD_MATERIAL)?);
    let signature: Signature = match message_type {
        MessageType::Raw => key.0.try_sign_with_rng(&mut SystemRng, message),
        MessageType::Digest => key.0.sign_prehash_with_rng(&mut SystemRng, message),
        MessageType::ExternalMu => return Err(FAILED),
    }
    .map_err(|_| FAILED)?;
    Ok(signature.to_der().to_vec())
}

/// Whether `signature` (DER) is a valid SM2DSA signature of a RAW message or a DIGEST under
/// the SubjectPublicKeyInfo `public_key`. A malformed signature is `Ok(false)`.
pub(super) fn verify(
    public_key: &[u8],
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, CryptoError> {
    let key = VerifyingKey::new(SM2_DISTINGUISHING_ID, parse_public_key(public_key)?)
        .map_err(|_| BAD_MATERIAL)?;
    let Ok(signature) = Signature::from_der(signature) else {
        return Ok(false);
    };
    Ok(match message_type {
        MessageType::Raw => key.verify(message, &signature).is_ok(),
        MessageType::Digest => key.verify_prehash(message, &signature).is_ok(),
        MessageType::ExternalMu => false,
    })
}

/// Encrypts `plaintext` (1 to [`SM2PKE_MAX_PLAINTEXT`] bytes) with SM2PKE to the SM2 public key
/// `public_key` (DER SubjectPublicKeyInfo). The ciphertext is the GM/T 0009 DER form (see the
/// module doc).
///
/// Errors: [`CryptoError::InvalidInput`] for an empty or over-long plaintext;
/// [`CryptoError::InvalidKeyMaterial`] if `public_key` is not an SM2 SubjectPublicKeyInfo.
pub fn sm2_encrypt(public_key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if plaintext.is_empty() || plaintext.len() > SM2PKE_MAX_PLAINTEXT {
        return Err(CryptoError::InvalidInput(format!(
            "Plaintext is {} bytes; SM2PKE accepts 1 to {SM2PKE_MAX_PLAINTEXT}",
            plaintext.len()
        )));
    }
    let key = EncryptingKey::new_with_mode(parse_public_key(public_key)?, Mode::C1C3C2);
    key.encrypt_der(&mut SystemRng, plaintext)
        .map_err(|_| CryptoError::Internal("SM2PKE encryption failed"))
}

/// Decrypts an SM2PKE `ciphertext` (the GM/T 0009 DER form) with the private key `material`
/// of `kind`.
///
/// Any ciphertext that does not decrypt (malformed, not a point on the curve, wrong key,
/// tampered: its SM3 hash does not match) is the opaque [`CryptoError::InvalidCiphertext`]. A
/// `kind` other than SM2 is [`CryptoError::IncompatibleAlgorithm`]; material that is not an SM2
/// PKCS#8 key is [`CryptoError::InvalidKeyMaterial`].
pub fn sm2_decrypt(
    kind: KeyKind,
    material: &KeyMaterial,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if kind != KeyKind::Sm2 {
        return Err(CryptoError::IncompatibleAlgorithm(format!(
            "SM2PKE is not a valid encryption algorithm for {} keys",
            kind.aws_name()
        )));
    }
    let secret = load(material)?;
    let key = Decryptor(DecryptingKey::new_with_mode(
        secret.to_nonzero_scalar(),
        Mode::C1C3C2,
    ));
    let cipher: Cipher<'_> =
        Cipher::from_der(ciphertext).map_err(|_| CryptoError::InvalidCiphertext)?;
    let mut plaintext = Zeroizing::new(vec![0u8; cipher.c2().len()]);
    let len = key
        .0
        .decrypt_cipher_with_buf(&cipher, &mut plaintext)
        .map_err(|_| CryptoError::InvalidCiphertext)?;
    plaintext.truncate(len);
    Ok(plaintext)
}

/// The ECDH shared secret (x coordinate, 32 bytes) of the SM2 private key `material` and the
/// peer's SubjectPublicKeyInfo `peer_public_key`, which must be a point on the SM2 curve.
pub(crate) fn derive_shared_secret(
    material: &KeyMaterial,
    peer_public_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let secret = load(material)?;
    let peer = parse_public_key(peer_public_key).map_err(|_| {
        CryptoError::InvalidInput(
            "PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo on the key's curve"
                .to_owned(),
        )
    })?;
    let mut scalar = secret.to_nonzero_scalar();
    let mut point = ProjectivePoint::from(*peer.as_affine()) * *scalar;
    scalar.zeroize();
    if bool::from(point.is_identity()) {
        point.zeroize();
        return Err(CryptoError::InvalidInput(
            "key agreement with this PublicKey failed".to_owned(),
        ));
    }
    let mut shared = point.to_affine();
    point.zeroize();
    let mut x = shared.x();
    shared.zeroize();
    let secret_bytes = Zeroizing::new(x.to_vec());
    x.zeroize();
    Ok(secret_bytes)
}
