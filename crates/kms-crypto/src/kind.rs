//! [`KeyKind`]: the non-symmetric AWS KMS key specs this crate implements, and what each one's
//! material looks like.
//!
//! `kms-crypto` deliberately does not depend on `kms-types`' `KeySpec`; the server maps one onto
//! the other (`RSA_2048` → [`KeyKind::Rsa2048`], `ECC_NIST_EDWARDS25519` → [`KeyKind::Ed25519`],
//! …). `SYMMETRIC_DEFAULT` is not a `KeyKind`: it is handled by [`crate::ciphertext`]. SM2 is
//! a kind like the others here; that AWS offers it only in the China Regions is the server's
//! rule.

/// A non-symmetric AWS KMS key spec.
///
/// Material format, as stored in a [`crate::KeyMaterial`]:
/// - RSA, ECC, Ed25519, ML-DSA, SM2: the private key as unencrypted PKCS#8 v1 DER
///   (`PrivateKeyInfo`), the same bytes `GenerateDataKeyPair` returns as `PrivateKeyPlaintext`.
///   ML-DSA keys are in the seed form (`[0] IMPLICIT OCTET STRING`, 32 bytes). SM2 keys are
///   `id-ecPublicKey` on the named curve SM2 (OID 1.2.156.10197.1.301), as OpenSSL writes them.
/// - HMAC: the raw secret key bytes (28, 32, 48 or 64 bytes when generated here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `RSA_2048`.
    Rsa2048,
    /// `RSA_3072`.
    Rsa3072,
    /// `RSA_4096`.
    Rsa4096,
    /// `ECC_NIST_P256` (secp256r1).
    EccNistP256,
    /// `ECC_NIST_P384` (secp384r1).
    EccNistP384,
    /// `ECC_NIST_P521` (secp521r1).
    EccNistP521,
    /// `ECC_SECG_P256K1` (secp256k1).
    EccSecgP256k1,
    /// `ECC_NIST_EDWARDS25519`.
    Ed25519,
    /// `ML_DSA_44`.
    MlDsa44,
    /// `ML_DSA_65`.
    MlDsa65,
    /// `ML_DSA_87`.
    MlDsa87,
    /// `SM2` (the China Regions' elliptic curve: SM2DSA, SM2PKE and ECDH).
    Sm2,
    /// `HMAC_224`.
    Hmac224,
    /// `HMAC_256`.
    Hmac256,
    /// `HMAC_384`.
    Hmac384,
    /// `HMAC_512`.
    Hmac512,
}

impl KeyKind {
    /// Every kind, in declaration order.
    pub const ALL: [KeyKind; 16] = [
        KeyKind::Rsa2048,
        KeyKind::Rsa3072,
        KeyKind::Rsa4096,
        KeyKind::EccNistP256,
        KeyKind::EccNistP384,
        KeyKind::EccNistP521,
        KeyKind::EccSecgP256k1,
        KeyKind::Ed25519,
        KeyKind::MlDsa44,
        KeyKind::MlDsa65,
        KeyKind::MlDsa87,
        KeyKind::Sm2,
        KeyKind::Hmac224,
        KeyKind::Hmac256,
        KeyKind::Hmac384,
        KeyKind::Hmac512,
    ];

    /// Whether this is an HMAC kind (secret material, no public key).
    pub fn is_hmac(self) -> bool {
        self.hmac_len().is_some()
    }

    /// Whether this kind has a public key (every kind except HMAC).
    pub fn is_asymmetric(self) -> bool {
        !self.is_hmac()
    }

    /// The RSA modulus length in bytes, for RSA kinds.
    pub(crate) fn rsa_modulus_len(self) -> Option<usize> {
        match self {
            KeyKind::Rsa2048 => Some(256),
            KeyKind::Rsa3072 => Some(384),
            KeyKind::Rsa4096 => Some(512),
            _ => None,
        }
    }

    /// The HMAC output length in bytes (also the generated key length), for HMAC kinds.
    pub(crate) fn hmac_len(self) -> Option<usize> {
        match self {
            KeyKind::Hmac224 => Some(28),
            KeyKind::Hmac256 => Some(32),
            KeyKind::Hmac384 => Some(48),
            KeyKind::Hmac512 => Some(64),
            _ => None,
        }
    }

    /// The AWS key spec name, for error messages.
    pub fn aws_name(self) -> &'static str {
        match self {
            KeyKind::Rsa2048 => "RSA_2048",
            KeyKind::Rsa3072 => "RSA_3072",
            KeyKind::Rsa4096 => "RSA_4096",
            KeyKind::EccNistP256 => "ECC_NIST_P256",
            KeyKind::EccNistP384 => "ECC_NIST_P384",
            KeyKind::EccNistP521 => "ECC_NIST_P521",
            KeyKind::EccSecgP256k1 => "ECC_SECG_P256K1",
            KeyKind::Ed25519 => "ECC_NIST_EDWARDS25519",
            KeyKind::MlDsa44 => "ML_DSA_44",
            KeyKind::MlDsa65 => "ML_DSA_65",
            KeyKind::MlDsa87 => "ML_DSA_87",
            KeyKind::Sm2 => "SM2",
            KeyKind::Hmac224 => "HMAC_224",
            KeyKind::Hmac256 => "HMAC_256",
            KeyKind::Hmac384 => "HMAC_384",
            KeyKind::Hmac512 => "HMAC_512",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_complete_and_distinct() {
        let names: std::collections::BTreeSet<_> =
            KeyKind::ALL.iter().map(|k| k.aws_name()).collect();
        assert_eq!(names.len(), KeyKind::ALL.len());
        assert_eq!(KeyKind::ALL.iter().filter(|k| k.is_hmac()).count(), 4);
        assert_eq!(
            KeyKind::ALL
                .iter()
                .filter(|k| k.rsa_modulus_len().is_some())
                .count(),
            3
        );
    }
}
