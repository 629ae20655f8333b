//! `DeriveSharedSecret` (`ECDH`) for ECC_NIST_P256/P384/P521 and SM2 keys: the raw ECDH shared
//! secret (the x coordinate of the shared point, as long as the field), which is what AWS
//! returns. SM2 is RustCrypto's `sm2` (`crate::asymmetric`), the NIST curves aws-lc-rs.
//! ECC_SECG_P256K1 keys cannot be KEY_AGREEMENT keys in AWS and are rejected here too.
//!
//! The peer key must be a DER-encoded X.509 SubjectPublicKeyInfo on the same curve, as AWS
//! requires; bare points are rejected.

use aws_lc_rs::agreement::{
    agree, Algorithm, ParsedPublicKey, ParsedPublicKeyFormat, PrivateKey, UnparsedPublicKey,
    ECDH_P256, ECDH_P384, ECDH_P521,
};
use zeroize::Zeroizing;

use crate::{CryptoError, KeyKind, KeyMaterial};

fn ecdh_alg(kind: KeyKind) -> Result<&'static Algorithm, CryptoError> {
    match kind {
        KeyKind::EccNistP256 => Ok(&ECDH_P256),
        KeyKind::EccNistP384 => Ok(&ECDH_P384),
        KeyKind::EccNistP521 => Ok(&ECDH_P521),
        _ => Err(CryptoError::IncompatibleAlgorithm(format!(
            "ECDH is not a valid key agreement algorithm for {} keys",
            kind.aws_name()
        ))),
    }
}

/// Parses the caller's SubjectPublicKeyInfo for `alg`'s curve.
fn peer_key(alg: &'static Algorithm, spki: &[u8]) -> Result<ParsedPublicKey, CryptoError> {
    let bad = || {
        CryptoError::InvalidInput(
            "PublicKey must be a DER-encoded X.509 SubjectPublicKeyInfo on the key's curve"
                .to_owned(),
        )
    };
    let parsed =
        ParsedPublicKey::try_from(&UnparsedPublicKey::new(alg, spki)).map_err(|_| bad())?;
    if parsed.format() != ParsedPublicKeyFormat::X509 {
        return Err(bad());
    }
    Ok(parsed)
}

/// The ECDH shared secret of the private key `material` (PKCS#8, `kind`) and the peer's
/// public key `peer_public_key` (DER SubjectPublicKeyInfo).
///
/// Errors: [`CryptoError::IncompatibleAlgorithm`] for kinds other than the three NIST curves
/// and SM2;
/// [`CryptoError::InvalidInput`] for a peer key that is not an SPKI point on the same curve;
/// [`CryptoError::InvalidKeyMaterial`] if `material` is not a PKCS#8 key of `kind`.
pub fn derive_shared_secret(
    kind: KeyKind,
    material: &KeyMaterial,
    peer_public_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    if kind == KeyKind::Sm2 {
        return crate::asymmetric::sm2_derive_shared_secret(material, peer_public_key);
    }
    let alg = ecdh_alg(kind)?;
    let private = PrivateKey::from_private_key_der(alg, material.as_bytes())
        .map_err(|_| CryptoError::InvalidKeyMaterial)?;
    let peer = peer_key(alg, peer_public_key)?;
    agree(
        &private,
        peer,
        CryptoError::InvalidInput("key agreement with this PublicKey failed".to_owned()),
        |secret| Ok(Zeroizing::new(secret.to_vec())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_keys::{material, public};

    const CURVES: [(KeyKind, usize); 3] = [
        (KeyKind::EccNistP256, 32),
        (KeyKind::EccNistP384, 48),
        (KeyKind::EccNistP521, 66),
    ];

    #[test]
    fn both_directions_agree() {
        for (kind, len) in CURVES {
            let other = crate::generate(kind).expect("generate");
            let other_public = other.public_key.as_deref().expect("public");
            let ours = derive_shared_secret(kind, material(kind), other_public).expect("ours");
            let theirs = derive_shared_secret(kind, &other.material, public(kind)).expect("theirs");
            assert_eq!(ours.as_slice(), theirs.as_slice(), "{kind:?}");
            assert_eq!(ours.len(), len, "{kind:?}");
        }
    }

    #[test]
    fn bad_peer_keys_are_invalid_input() {
        for (kind, field_len) in CURVES {
            let spki = public(kind);
            // The bare uncompressed point (0x04 || x || y) that ends the SPKI.
            let bare = &spki[spki.len() - (1 + 2 * field_len)..];
            assert_eq!(bare[0], 0x04);
            let wrong_curve = if kind == KeyKind::EccNistP256 {
                public(KeyKind::EccNistP384)
            } else {
                public(KeyKind::EccNistP256)
            };
            let mut corrupt = spki.to_vec();
            let last = corrupt.len() - 1;
            corrupt[last] ^= 1; // no longer on the curve
            for bad in [
                &b""[..],
                b"garbage",
                wrong_curve,
                public(KeyKind::EccSecgP256k1),
                public(KeyKind::Ed25519),
                &corrupt,
                bare,
            ] {
                assert!(
                    matches!(
                        derive_shared_secret(kind, material(kind), bad),
                        Err(CryptoError::InvalidInput(_))
                    ),
                    "{kind:?} accepted a bad peer key"
                );
            }
        }
    }

    #[test]
    fn sm2_agrees_both_ways_and_only_on_its_curve() {
        let kind = KeyKind::Sm2;
        let other = crate::generate(kind).expect("generate");
        let other_public = other.public_key.as_deref().expect("public");
        let ours = derive_shared_secret(kind, material(kind), other_public).expect("ours");
        let theirs = derive_shared_secret(kind, &other.material, public(kind)).expect("theirs");
        assert_eq!(ours.as_slice(), theirs.as_slice());
        assert_eq!(ours.len(), 32);
        let spki = public(kind);
        let bare = &spki[spki.len() - 65..];
        let mut corrupt = spki.to_vec();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 1;
        for bad in [
            &b""[..],
            b"garbage",
            public(KeyKind::EccNistP256),
            public(KeyKind::EccSecgP256k1),
            &corrupt,
            bare,
        ] {
            assert!(matches!(
                derive_shared_secret(kind, material(kind), bad),
                Err(CryptoError::InvalidInput(_))
            ));
        }
        // An SM2 public key is not a P-256 one either, and SM2 material is not P-256 material.
        assert!(matches!(
            derive_shared_secret(KeyKind::EccNistP256, material(KeyKind::EccNistP256), spki),
            Err(CryptoError::InvalidInput(_))
        ));
        assert_eq!(
            derive_shared_secret(kind, material(KeyKind::EccNistP256), spki),
            Err(CryptoError::InvalidKeyMaterial)
        );
    }

    #[test]
    fn other_kinds_cannot_agree() {
        for kind in [
            KeyKind::EccSecgP256k1,
            KeyKind::Ed25519,
            KeyKind::Rsa2048,
            KeyKind::MlDsa44,
            KeyKind::Hmac256,
        ] {
            assert!(matches!(
                derive_shared_secret(kind, material(kind), public(KeyKind::EccNistP256)),
                Err(CryptoError::IncompatibleAlgorithm(_))
            ));
        }
        assert_eq!(
            derive_shared_secret(
                KeyKind::EccNistP256,
                material(KeyKind::EccNistP384),
                public(KeyKind::EccNistP256)
            ),
            Err(CryptoError::InvalidKeyMaterial)
        );
    }
}
