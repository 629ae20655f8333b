//! [`CryptoError`], the one error type of this crate, and its mapping onto the caller-visible
//! [`KmsError`].

use kms_types::KmsError;

/// A failure inside `kms-crypto`.
///
/// [`CryptoError::InvalidCiphertext`] deliberately carries no detail: a tampered, truncated,
/// foreign or wrong-context ciphertext all look the same, so callers cannot use it as an oracle.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The ciphertext blob could not be parsed or authenticated (opaque on purpose).
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// The root key file could not be read, created or validated.
    #[error("root key: {0}")]
    RootKey(String),
    /// Wrapped key material could not be unwrapped with this root key and context (corrupt
    /// store entry or wrong root key). An operator problem, not a caller's bad ciphertext.
    #[error("wrapped key material could not be unwrapped")]
    UnwrapFailed,
    /// A key id passed to [`crate::ciphertext::encrypt`] is empty, longer than 64 bytes or not
    /// printable ASCII.
    #[error("invalid key id for ciphertext header")]
    InvalidKeyId,
    /// Key material of the wrong length for the algorithm (AES-256 needs 32 bytes).
    #[error("invalid key material length")]
    InvalidKeyMaterial,
    /// An encryption context key or value longer than `u32::MAX` bytes.
    #[error("encryption context entry too large")]
    InvalidEncryptionContext,
    /// An unexpected failure inside the crypto library (e.g. a plaintext beyond the AEAD limit).
    #[error("crypto failure: {0}")]
    Internal(&'static str),
    /// The algorithm or operation does not apply to this kind of key (e.g. `ECDSA_SHA_384` with
    /// a P-256 key, RSA encryption with an ECC key, a public key of an HMAC key).
    #[error("{0}")]
    IncompatibleAlgorithm(String),
    /// A caller-supplied input is malformed: a digest of the wrong length, a message type the
    /// algorithm does not accept, an RSA plaintext over the limit, a peer public key that is not
    /// a valid SubjectPublicKeyInfo for the key's curve.
    #[error("{0}")]
    InvalidInput(String),
}

impl From<CryptoError> for KmsError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::InvalidCiphertext => KmsError::InvalidCiphertext,
            CryptoError::IncompatibleAlgorithm(m) => KmsError::InvalidKeyUsage(m),
            CryptoError::InvalidInput(m) => KmsError::Validation(m),
            other => KmsError::KmsInternal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caller_errors_map_to_aws_exceptions() {
        let usage = CryptoError::IncompatibleAlgorithm("m".to_owned());
        assert_eq!(
            KmsError::from(usage),
            KmsError::InvalidKeyUsage("m".to_owned())
        );
        let input = CryptoError::InvalidInput("m".to_owned());
        assert_eq!(KmsError::from(input), KmsError::Validation("m".to_owned()));
        assert!(matches!(
            KmsError::from(CryptoError::InvalidKeyMaterial),
            KmsError::KmsInternal(_)
        ));
    }
}
