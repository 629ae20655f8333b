//! `GenerateMac`/`VerifyMac` for HMAC keys: `HMAC_SHA_224/256/384/512`, each tied to the key
//! kind of the same size (AWS allows exactly one MAC algorithm per HMAC key spec, so the kind
//! alone picks the hash). The MAC is the full, untruncated HMAC output.

use aws_lc_rs::hmac;

use crate::{CryptoError, KeyKind, KeyMaterial};

/// The aws-lc-rs HMAC key for `material` of `kind`.
fn key(kind: KeyKind, material: &KeyMaterial) -> Result<hmac::Key, CryptoError> {
    let alg = match kind {
        KeyKind::Hmac224 => hmac::HMAC_SHA224,
        KeyKind::Hmac256 => hmac::HMAC_SHA256,
        KeyKind::Hmac384 => hmac::HMAC_SHA384,
        KeyKind::Hmac512 => hmac::HMAC_SHA512,
        _ => {
            return Err(CryptoError::IncompatibleAlgorithm(format!(
                "{} keys cannot generate or verify MACs",
                kind.aws_name()
            )))
        }
    };
    if material.is_empty() {
        return Err(CryptoError::InvalidKeyMaterial);
    }
    Ok(hmac::Key::new(alg, material.as_bytes()))
}

/// The HMAC of `message` under the HMAC key `material` of `kind` (28, 32, 48 or 64 bytes).
///
/// Errors: [`CryptoError::IncompatibleAlgorithm`] for a non-HMAC `kind`,
/// [`CryptoError::InvalidKeyMaterial`] for empty material.
pub fn hmac_generate(
    kind: KeyKind,
    material: &KeyMaterial,
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    Ok(hmac::sign(&key(kind, material)?, message).as_ref().to_vec())
}

/// Whether `mac` is the HMAC of `message` under `material`, compared in constant time.
/// A MAC of the wrong length is `Ok(false)`. Errors as for [`hmac_generate`].
pub fn hmac_verify(
    kind: KeyKind,
    material: &KeyMaterial,
    message: &[u8],
    mac: &[u8],
) -> Result<bool, CryptoError> {
    Ok(hmac::verify(&key(kind, material)?, message, mac).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (key "Jefe"), all four hashes.
    #[test]
    fn rfc4231_test_case_2() {
        let key = KeyMaterial::from_bytes(b"Jefe".to_vec());
        let msg = b"what do ya want for nothing?";
        let cases = [
            (
                KeyKind::Hmac224,
                "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44",
            ),
            (
                KeyKind::Hmac256,
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                KeyKind::Hmac384,
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e\
                 8e2240ca5e69e2c78b3239ecfab21649",
            ),
            (
                KeyKind::Hmac512,
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554\
                 9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
            ),
        ];
        for (kind, expected) in cases {
            let mac = hmac_generate(kind, &key, msg).expect("generate");
            assert_eq!(hex::encode(&mac), expected, "{kind:?}");
            assert!(hmac_verify(kind, &key, msg, &mac).expect("verify"));
            assert!(!hmac_verify(kind, &key, msg, &mac[..mac.len() - 1]).expect("verify"));
        }
    }

    #[test]
    fn round_trip_every_hmac_kind() {
        for kind in KeyKind::ALL.into_iter().filter(|k| k.is_hmac()) {
            let key = crate::test_keys::material(kind);
            let mac = hmac_generate(kind, key, b"message").expect("generate");
            assert_eq!(Some(mac.len()), kind.hmac_len());
            assert!(hmac_verify(kind, key, b"message", &mac).expect("verify"));
            assert!(!hmac_verify(kind, key, b"messagE", &mac).expect("verify"));
            let other = crate::generate(kind).expect("generate").material;
            assert!(!hmac_verify(kind, &other, b"message", &mac).expect("verify"));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(32))]

        #[test]
        fn flipped_mac_bits_are_rejected(
            kind_index in (KeyKind::ALL.len() - 4)..KeyKind::ALL.len(),
            bit in proptest::prelude::any::<usize>(),
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256),
        ) {
            let kind = KeyKind::ALL[kind_index];
            let key = crate::test_keys::material(kind);
            let mut mac = hmac_generate(kind, key, &message).expect("generate");
            let bit = bit % (mac.len() * 8);
            mac[bit / 8] ^= 1 << (bit % 8);
            proptest::prop_assert!(!hmac_verify(kind, key, &message, &mac).expect("verify"));
        }
    }

    #[test]
    fn non_hmac_kinds_and_empty_keys_are_rejected() {
        let key = KeyMaterial::from_bytes(vec![1; 32]);
        assert!(matches!(
            hmac_generate(KeyKind::EccNistP256, &key, b"m"),
            Err(CryptoError::IncompatibleAlgorithm(_))
        ));
        assert_eq!(
            hmac_verify(
                KeyKind::Hmac256,
                &KeyMaterial::from_bytes(Vec::new()),
                b"m",
                b""
            ),
            Err(CryptoError::InvalidKeyMaterial)
        );
    }
}
