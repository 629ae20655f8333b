//! Round trips, AWS rule checks and tamper tests for signatures and RSA-OAEP. Interoperability
//! with OpenSSL is in `crate::interop_tests`.

use aws_lc_rs::digest;
use ml_dsa::pkcs8::DecodePublicKey;
use ml_dsa::signature::digest::Update;
use ml_dsa::{MlDsa44, MlDsa65, MlDsa87, MlDsaParams, Signature, VerifyingKey};
use proptest::prelude::*;

use super::*;
use crate::test_keys::{asymmetric_kinds, key, material, public};

const RSA_KINDS: [KeyKind; 3] = [KeyKind::Rsa2048, KeyKind::Rsa3072, KeyKind::Rsa4096];
const MLDSA_KINDS: [KeyKind; 3] = [KeyKind::MlDsa44, KeyKind::MlDsa65, KeyKind::MlDsa87];
const ALL_MESSAGE_TYPES: [MessageType; 3] = [
    MessageType::Raw,
    MessageType::Digest,
    MessageType::ExternalMu,
];

/// The hash behind `alg`'s name (SHA-512 for the Ed25519 algorithms, SM3 for SM2DSA: a value
/// of the right length, not SM2's e = SM3(Z ‖ M), which `sm2_digest` computes).
fn hash_of(alg: SigningAlgorithm, data: &[u8]) -> Vec<u8> {
    if alg == SigningAlgorithm::Sm2Dsa {
        use sm3::Digest;
        return sm3::Sm3::digest(data).to_vec();
    }
    let d = match alg.aws_name() {
        n if n.ends_with("SHA_256") => &digest::SHA256,
        n if n.ends_with("SHA_384") => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(d, data).as_ref().to_vec()
}

/// A valid message of `message_type` for `alg`, derived from `data`.
fn message(alg: SigningAlgorithm, message_type: MessageType, data: &[u8]) -> Vec<u8> {
    match message_type {
        MessageType::Raw => data.to_vec(),
        MessageType::Digest => hash_of(alg, data),
        MessageType::ExternalMu => digest::digest(&digest::SHA512, data).as_ref().to_vec(),
    }
}

/// Every (algorithm, message type) pair AWS accepts for `kind`.
fn combos(kind: KeyKind) -> Vec<(SigningAlgorithm, MessageType)> {
    let mut out = Vec::new();
    for &alg in kind.signing_algorithms() {
        for mt in ALL_MESSAGE_TYPES {
            if sign(kind, material(kind), alg, mt, &message(alg, mt, b"probe")).is_ok() {
                out.push((alg, mt));
            }
        }
    }
    out
}

#[test]
fn generate_every_kind() {
    for kind in KeyKind::ALL {
        let k = key(kind);
        match kind.hmac_len() {
            Some(len) => {
                assert_eq!(k.material.len(), len, "{kind:?}");
                assert!(k.public_key.is_none());
            }
            None => {
                // DER SEQUENCE for both the PKCS#8 and the SPKI.
                assert_eq!(k.material.as_bytes()[0], 0x30, "{kind:?}");
                assert_eq!(public(kind)[0], 0x30, "{kind:?}");
            }
        }
    }
    assert_ne!(
        generate(KeyKind::Hmac256).expect("gen").material.as_bytes(),
        material(KeyKind::Hmac256).as_bytes()
    );
}

#[test]
fn public_key_der_matches_generated_key() {
    for kind in asymmetric_kinds() {
        assert_eq!(
            public_key_der(kind, material(kind)).expect("spki"),
            public(kind),
            "{kind:?}"
        );
    }
    assert!(matches!(
        public_key_der(KeyKind::Hmac256, material(KeyKind::Hmac256)),
        Err(CryptoError::IncompatibleAlgorithm(_))
    ));
}

#[test]
fn material_of_another_kind_is_rejected() {
    let pairs = [
        (KeyKind::EccNistP256, KeyKind::EccNistP384),
        (KeyKind::EccNistP256, KeyKind::EccSecgP256k1),
        (KeyKind::Rsa2048, KeyKind::Rsa3072),
        (KeyKind::MlDsa44, KeyKind::MlDsa65),
        (KeyKind::Ed25519, KeyKind::EccNistP256),
        (KeyKind::EccNistP521, KeyKind::Ed25519),
        (KeyKind::Sm2, KeyKind::EccNistP256),
        (KeyKind::EccNistP256, KeyKind::Sm2),
        (KeyKind::EccSecgP256k1, KeyKind::Sm2),
    ];
    for (have, claimed) in pairs {
        assert_eq!(
            public_key_der(claimed, material(have)),
            Err(CryptoError::InvalidKeyMaterial),
            "{have:?} as {claimed:?}"
        );
    }
    let garbage = KeyMaterial::from_bytes(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    for kind in asymmetric_kinds() {
        assert_eq!(
            public_key_der(kind, &garbage),
            Err(CryptoError::InvalidKeyMaterial)
        );
    }
}

/// (algorithm, message type) pairs AWS documents, by AWS name.
type Accepted = &'static [(&'static str, MessageType)];

#[test]
fn signing_algorithm_table_matches_aws() {
    use MessageType::{Digest, ExternalMu, Raw};
    let ecdsa256: Accepted = &[("ECDSA_SHA_256", Raw), ("ECDSA_SHA_256", Digest)];
    let expect: [(KeyKind, Accepted); 8] = [
        (KeyKind::EccNistP256, ecdsa256),
        (KeyKind::EccSecgP256k1, ecdsa256),
        (
            KeyKind::EccNistP384,
            &[("ECDSA_SHA_384", Raw), ("ECDSA_SHA_384", Digest)],
        ),
        (
            KeyKind::EccNistP521,
            &[("ECDSA_SHA_512", Raw), ("ECDSA_SHA_512", Digest)],
        ),
        (
            KeyKind::Ed25519,
            &[("ED25519_SHA_512", Raw), ("ED25519_PH_SHA_512", Digest)],
        ),
        (
            KeyKind::MlDsa65,
            &[("ML_DSA_SHAKE_256", Raw), ("ML_DSA_SHAKE_256", ExternalMu)],
        ),
        (KeyKind::Sm2, &[("SM2DSA", Raw), ("SM2DSA", Digest)]),
        (KeyKind::Hmac256, &[]),
    ];
    for (kind, want) in expect {
        let got: Vec<_> = combos(kind)
            .into_iter()
            .map(|(a, m)| (a.aws_name(), m))
            .collect();
        assert_eq!(got, want, "{kind:?}");
    }
    for kind in RSA_KINDS {
        let got = combos(kind);
        assert_eq!(got.len(), 12, "{kind:?}: 6 algorithms x RAW/DIGEST");
        assert!(got.iter().all(|(_, m)| *m != ExternalMu));
    }
}

#[test]
fn sign_verify_round_trip_every_kind_algorithm_and_message_type() {
    for kind in asymmetric_kinds() {
        let combos = combos(kind);
        assert!(!combos.is_empty(), "{kind:?}");
        for (alg, mt) in combos {
            let msg = message(alg, mt, b"the quick brown fox");
            let sig = sign(kind, material(kind), alg, mt, &msg).expect("sign");
            let ok = verify(kind, public(kind), alg, mt, &msg, &sig).expect("verify");
            assert!(ok, "{kind:?} {alg:?} {mt:?}");
            let other = message(alg, mt, b"the quick brown fox!");
            let ok = verify(kind, public(kind), alg, mt, &other, &sig).expect("verify");
            assert!(!ok, "{kind:?} {alg:?} {mt:?} verified another message");
        }
    }
}

#[test]
fn raw_and_digest_signatures_are_interchangeable() {
    let kinds = [
        KeyKind::Rsa2048,
        KeyKind::EccNistP256,
        KeyKind::EccNistP384,
        KeyKind::EccNistP521,
        KeyKind::EccSecgP256k1,
    ];
    let data = b"sign me once, verify me twice";
    for kind in kinds {
        for &alg in kind.signing_algorithms() {
            let digest = hash_of(alg, data);
            let (m, p) = (material(kind), public(kind));
            let by_digest = sign(kind, m, alg, MessageType::Digest, &digest).expect("sign");
            let by_raw = sign(kind, m, alg, MessageType::Raw, data).expect("sign");
            assert!(verify(kind, p, alg, MessageType::Raw, data, &by_digest).expect("v"));
            assert!(verify(kind, p, alg, MessageType::Digest, &digest, &by_raw).expect("v"));
        }
    }
}

#[test]
fn signatures_do_not_verify_under_another_key() {
    for kind in asymmetric_kinds().filter(|k| !RSA_KINDS.contains(k)) {
        let other = generate(kind).expect("gen");
        let other_public = other.public_key.as_deref().expect("public");
        for (alg, mt) in combos(kind) {
            let msg = message(alg, mt, b"m");
            let sig = sign(kind, material(kind), alg, mt, &msg).expect("sign");
            let ok = verify(kind, other_public, alg, mt, &msg, &sig).expect("verify");
            assert!(!ok, "{kind:?} {alg:?} {mt:?}");
        }
    }
    // RSA: the 3072-bit key's signature under the 2048-bit key's public key.
    let alg = SigningAlgorithm::RsassaPssSha256;
    let sig = sign(
        KeyKind::Rsa3072,
        material(KeyKind::Rsa3072),
        alg,
        MessageType::Raw,
        b"m",
    )
    .expect("sign");
    let p = public(KeyKind::Rsa2048);
    assert!(!verify(KeyKind::Rsa2048, p, alg, MessageType::Raw, b"m", &sig).expect("verify"));
}

#[test]
fn incompatible_algorithms_are_rejected() {
    for kind in KeyKind::ALL {
        for alg in SigningAlgorithm::ALL {
            if kind.signing_algorithms().contains(&alg) {
                continue;
            }
            let m = material(kind);
            assert!(
                matches!(
                    sign(kind, m, alg, MessageType::Raw, b"m"),
                    Err(CryptoError::IncompatibleAlgorithm(_))
                ),
                "{kind:?} {alg:?}"
            );
            let p = key(kind).public_key.as_deref().unwrap_or(&[]);
            assert!(matches!(
                verify(kind, p, alg, MessageType::Raw, b"m", b"s"),
                Err(CryptoError::IncompatibleAlgorithm(_))
            ));
        }
    }
}

#[test]
fn message_types_and_lengths_follow_aws_rules() {
    let bad = |kind: KeyKind, alg, mt, msg: &[u8]| {
        let s = sign(kind, material(kind), alg, mt, msg);
        let v = verify(kind, public(kind), alg, mt, msg, &[0u8; 64]);
        assert!(
            matches!(s, Err(CryptoError::InvalidInput(_))),
            "{kind:?} {alg:?} {mt:?} {s:?}"
        );
        assert!(
            matches!(v, Err(CryptoError::InvalidInput(_))),
            "{kind:?} {alg:?} {mt:?}"
        );
    };
    use SigningAlgorithm as S;
    bad(
        KeyKind::Ed25519,
        S::Ed25519Sha512,
        MessageType::Digest,
        &[0; 64],
    );
    bad(
        KeyKind::Ed25519,
        S::Ed25519PhSha512,
        MessageType::Raw,
        &[0; 64],
    );
    bad(
        KeyKind::Ed25519,
        S::Ed25519PhSha512,
        MessageType::Digest,
        &[0; 32],
    );
    bad(
        KeyKind::MlDsa44,
        S::MlDsaShake256,
        MessageType::Digest,
        &[0; 64],
    );
    bad(
        KeyKind::MlDsa44,
        S::MlDsaShake256,
        MessageType::ExternalMu,
        &[0; 63],
    );
    bad(
        KeyKind::MlDsa44,
        S::MlDsaShake256,
        MessageType::ExternalMu,
        &[0; 65],
    );
    bad(
        KeyKind::EccNistP256,
        S::EcdsaSha256,
        MessageType::ExternalMu,
        &[0; 64],
    );
    bad(
        KeyKind::Rsa2048,
        S::RsassaPssSha256,
        MessageType::ExternalMu,
        &[0; 64],
    );
    bad(KeyKind::Sm2, S::Sm2Dsa, MessageType::ExternalMu, &[0; 64]);
    // DIGEST must be exactly the hash length.
    for (kind, alg, len) in [
        (KeyKind::EccNistP256, S::EcdsaSha256, 32),
        (KeyKind::EccSecgP256k1, S::EcdsaSha256, 32),
        (KeyKind::EccNistP384, S::EcdsaSha384, 48),
        (KeyKind::EccNistP521, S::EcdsaSha512, 64),
        (KeyKind::Rsa2048, S::RsassaPkcs1V15Sha256, 32),
        (KeyKind::Rsa2048, S::RsassaPssSha384, 48),
        (KeyKind::Rsa2048, S::RsassaPkcs1V15Sha512, 64),
        (KeyKind::Sm2, S::Sm2Dsa, 32),
    ] {
        for wrong in [0, len - 1, len + 1, 2 * len] {
            bad(kind, alg, MessageType::Digest, &vec![7; wrong]);
        }
    }
    // RAW messages may be empty.
    let sig = sign(
        KeyKind::Ed25519,
        material(KeyKind::Ed25519),
        S::Ed25519Sha512,
        MessageType::Raw,
        b"",
    )
    .expect("empty message");
    assert!(verify(
        KeyKind::Ed25519,
        public(KeyKind::Ed25519),
        S::Ed25519Sha512,
        MessageType::Raw,
        b"",
        &sig
    )
    .expect("verify"));
}

#[test]
fn malformed_public_keys_are_key_material_errors() {
    for kind in asymmetric_kinds() {
        for (alg, mt) in combos(kind) {
            let msg = message(alg, mt, b"m");
            assert_eq!(
                verify(kind, b"not a key", alg, mt, &msg, &[0; 64]),
                Err(CryptoError::InvalidKeyMaterial),
                "{kind:?} {alg:?} {mt:?}"
            );
        }
    }
}

#[test]
fn ecdsa_and_sm2dsa_signatures_are_der_sequences() {
    for kind in [
        KeyKind::EccNistP256,
        KeyKind::EccNistP384,
        KeyKind::EccNistP521,
        KeyKind::EccSecgP256k1,
        KeyKind::Sm2,
    ] {
        let alg = kind.signing_algorithms()[0];
        let sig = sign(kind, material(kind), alg, MessageType::Raw, b"m").expect("sign");
        assert_eq!(sig[0], 0x30, "{kind:?}");
        // Short or long-form length covering the rest of the signature.
        let body = if sig[1] == 0x81 {
            usize::from(sig[2]) + 3
        } else {
            usize::from(sig[1]) + 2
        };
        assert_eq!(body, sig.len(), "{kind:?}");
    }
}

/// ML-DSA-`P` checks with RustCrypto `ml-dsa` as the independent implementation: aws-lc-rs's
/// RAW signature verifies there, and an EXTERNAL_MU signature of mu(message) verifies as a RAW
/// signature of the message in aws-lc-rs.
fn mldsa_cross_check<P: MlDsaParams>(kind: KeyKind)
where
    VerifyingKey<P>: DecodePublicKey,
{
    let alg = SigningAlgorithm::MlDsaShake256;
    let (m, p) = (material(kind), public(kind));
    let vk = VerifyingKey::<P>::from_public_key_der(p).expect("spki");
    let msg = b"post-quantum hello";

    let raw = sign(kind, m, alg, MessageType::Raw, msg).expect("sign");
    let parsed = Signature::<P>::try_from(raw.as_slice()).expect("signature");
    assert!(vk.verify_with_context(msg, &[], &parsed), "{kind:?}");

    let mu = vk
        .compute_mu(
            |h| {
                h.update(msg);
                Ok(())
            },
            &[],
        )
        .expect("mu");
    let by_mu = sign(kind, m, alg, MessageType::ExternalMu, &mu).expect("sign mu");
    assert!(verify(kind, p, alg, MessageType::Raw, msg, &by_mu).expect("verify"));
    assert!(verify(kind, p, alg, MessageType::ExternalMu, &mu, &raw).expect("verify"));
}

#[test]
fn mldsa_raw_and_external_mu_agree_with_rustcrypto() {
    mldsa_cross_check::<MlDsa44>(KeyKind::MlDsa44);
    mldsa_cross_check::<MlDsa65>(KeyKind::MlDsa65);
    mldsa_cross_check::<MlDsa87>(KeyKind::MlDsa87);
    for kind in MLDSA_KINDS {
        // Hedged signing: two signatures of the same message differ.
        let alg = SigningAlgorithm::MlDsaShake256;
        let a = sign(kind, material(kind), alg, MessageType::ExternalMu, &[1; 64]).expect("s");
        let b = sign(kind, material(kind), alg, MessageType::ExternalMu, &[1; 64]).expect("s");
        assert_ne!(a, b, "{kind:?}");
    }
}

#[test]
fn rsa_oaep_round_trip_all_sizes_and_hashes() {
    for kind in RSA_KINDS {
        for alg in [
            RsaEncryptionAlgorithm::OaepSha1,
            RsaEncryptionAlgorithm::OaepSha256,
        ] {
            let max = alg.max_plaintext_len(kind.rsa_modulus_len().expect("rsa"));
            for len in [0, 1, 32, max] {
                let plaintext: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let ct = rsa_encrypt(public(kind), alg, &plaintext).expect("encrypt");
                assert_eq!(Some(ct.len()), kind.rsa_modulus_len());
                let pt = rsa_decrypt(kind, material(kind), alg, &ct).expect("decrypt");
                assert_eq!(
                    pt.as_slice(),
                    plaintext.as_slice(),
                    "{kind:?} {alg:?} {len}"
                );
            }
        }
    }
}

#[test]
fn rsa_oaep_plaintext_limits_match_aws() {
    use RsaEncryptionAlgorithm::{OaepSha1, OaepSha256};
    let table = [
        (KeyKind::Rsa2048, 214, 190),
        (KeyKind::Rsa3072, 342, 318),
        (KeyKind::Rsa4096, 470, 446),
    ];
    for (kind, sha1, sha256) in table {
        for (alg, max) in [(OaepSha1, sha1), (OaepSha256, sha256)] {
            let modulus = kind.rsa_modulus_len().expect("rsa");
            assert_eq!(alg.max_plaintext_len(modulus), max);
            assert!(matches!(
                rsa_encrypt(public(kind), alg, &vec![0; max + 1]),
                Err(CryptoError::InvalidInput(_))
            ));
        }
    }
}

#[test]
fn rsa_decrypt_rejects_bad_ciphertexts() {
    use RsaEncryptionAlgorithm::{OaepSha1, OaepSha256};
    let kind = KeyKind::Rsa2048;
    let m = material(kind);
    let ct = rsa_encrypt(public(kind), OaepSha256, b"secret").expect("encrypt");
    let bad = CryptoError::InvalidCiphertext;
    assert_eq!(
        rsa_decrypt(kind, m, OaepSha1, &ct),
        Err(bad.clone()),
        "wrong hash"
    );
    assert_eq!(rsa_decrypt(kind, m, OaepSha256, &ct[1..]), Err(bad.clone()));
    assert_eq!(rsa_decrypt(kind, m, OaepSha256, &[]), Err(bad.clone()));
    let mut longer = ct.clone();
    longer.push(0);
    assert_eq!(rsa_decrypt(kind, m, OaepSha256, &longer), Err(bad.clone()));
    let other = generate(kind).expect("second RSA-2048 key");
    assert_eq!(
        rsa_decrypt(kind, &other.material, OaepSha256, &ct),
        Err(bad)
    );
    // A 3072-bit ciphertext to the 2048-bit key, and material of the wrong size.
    assert_eq!(
        rsa_decrypt(KeyKind::Rsa3072, m, OaepSha256, &ct),
        Err(CryptoError::InvalidKeyMaterial)
    );
}

#[test]
fn rsa_oaep_rejects_non_rsa_keys() {
    let alg = RsaEncryptionAlgorithm::OaepSha256;
    for kind in KeyKind::ALL
        .into_iter()
        .filter(|k| k.rsa_modulus_len().is_none())
    {
        assert!(matches!(
            rsa_decrypt(kind, material(kind), alg, &[0; 256]),
            Err(CryptoError::IncompatibleAlgorithm(_))
        ));
        if let Some(p) = key(kind).public_key.as_deref() {
            assert_eq!(
                rsa_encrypt(p, alg, b"x"),
                Err(CryptoError::InvalidKeyMaterial)
            );
        }
    }
}

/// SM2's curve parameters a, b, x_G, y_G (GB/T 32918.5), typed in from the standard so the
/// test's Z does not come from the crate under test.
const SM2_CURVE: [&str; 4] = [
    "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7",
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
];

/// SM2DSA's e = SM3(Z_A ‖ M) for the SubjectPublicKeyInfo `spki`, with ID `id`.
pub(crate) fn sm2_digest(spki: &[u8], id: &[u8], message: &[u8]) -> Vec<u8> {
    use sm3::{Digest, Sm3};
    // The uncompressed point 0x04 ‖ x ‖ y ends the SPKI.
    let point = &spki[spki.len() - 65..];
    assert_eq!(point[0], 0x04);
    let mut z = Sm3::new();
    Digest::update(
        &mut z,
        u16::try_from(id.len() * 8).expect("ENTL").to_be_bytes(),
    );
    Digest::update(&mut z, id);
    for value in SM2_CURVE {
        Digest::update(&mut z, hex::decode(value).expect("hex"));
    }
    Digest::update(&mut z, &point[1..]);
    let mut e = Sm3::new();
    Digest::update(&mut e, z.finalize());
    Digest::update(&mut e, message);
    e.finalize().to_vec()
}

#[test]
fn sm3_known_answer() {
    // GB/T 32905 (SM3) example 1: the message "abc".
    use sm3::Digest;
    assert_eq!(
        hex::encode(sm3::Sm3::digest(b"abc")),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
}

#[test]
fn sm2dsa_raw_signs_sm3_of_z_and_message_with_aws_id() {
    let kind = KeyKind::Sm2;
    let alg = SigningAlgorithm::Sm2Dsa;
    let (m, p) = (material(kind), public(kind));
    let data = b"SM2DSA: e = SM3(Z || M)";
    let e = sm2_digest(p, SM2_DISTINGUISHING_ID.as_bytes(), data);
    let by_digest = sign(kind, m, alg, MessageType::Digest, &e).expect("sign digest");
    let by_raw = sign(kind, m, alg, MessageType::Raw, data).expect("sign raw");
    assert!(verify(kind, p, alg, MessageType::Raw, data, &by_digest).expect("v"));
    assert!(verify(kind, p, alg, MessageType::Digest, &e, &by_raw).expect("v"));
    // Another ID gives another e: a DIGEST signed with it is not a RAW signature of M.
    let other = sm2_digest(p, b"ALICE123@YAHOO.COM", data);
    let by_other = sign(kind, m, alg, MessageType::Digest, &other).expect("sign");
    assert!(verify(kind, p, alg, MessageType::Digest, &other, &by_other).expect("v"));
    assert!(!verify(kind, p, alg, MessageType::Raw, data, &by_other).expect("v"));
    // Hedged: two signatures of one message differ, and both verify.
    let again = sign(kind, m, alg, MessageType::Raw, data).expect("sign raw");
    assert_ne!(again, by_raw);
    assert!(verify(kind, p, alg, MessageType::Raw, data, &again).expect("v"));
}

#[test]
fn sm2_keys_are_pkcs8_and_spki_on_the_sm2_curve() {
    // id-ecPublicKey (1.2.840.10045.2.1) and the SM2 curve (1.2.156.10197.1.301).
    let algorithm = hex::decode("301306072a8648ce3d020106082a811ccf5501822d").expect("hex");
    let spki = public(KeyKind::Sm2);
    assert_eq!(spki.len(), 91);
    assert_eq!(&spki[2..23], algorithm.as_slice());
    let pkcs8 = material(KeyKind::Sm2).as_bytes();
    assert!(pkcs8.windows(algorithm.len()).any(|w| w == algorithm));
    // Imported material is checked the same way and gives the same public key.
    assert_eq!(
        crate::check_imported_material(Some(KeyKind::Sm2), material(KeyKind::Sm2)),
        Ok(Some(spki.to_vec()))
    );
    assert_eq!(
        crate::check_imported_material(Some(KeyKind::Sm2), material(KeyKind::EccNistP256)),
        Err(CryptoError::InvalidKeyMaterial)
    );
}

#[test]
fn sm2pke_round_trips_and_follows_aws_limits() {
    let kind = KeyKind::Sm2;
    for len in [1, 31, 32, 33, 200, SM2PKE_MAX_PLAINTEXT] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let ct = sm2_encrypt(public(kind), &plaintext).expect("encrypt");
        // DER of C1 (two integers of up to 32 bytes, 33 with a sign byte), C3 (32 bytes) and
        // C2 (as long as the plaintext), each with a tag and length, in a SEQUENCE.
        assert_eq!(ct[0], 0x30, "{len}");
        assert!(
            ct.len() >= len + 96 && ct.len() <= len + 96 + 16,
            "{len}: {}",
            ct.len()
        );
        let pt = sm2_decrypt(kind, material(kind), &ct).expect("decrypt");
        assert_eq!(pt.as_slice(), plaintext.as_slice(), "{len}");
        assert_ne!(sm2_encrypt(public(kind), &plaintext).expect("encrypt"), ct);
    }
    for bad in [0, SM2PKE_MAX_PLAINTEXT + 1] {
        assert!(matches!(
            sm2_encrypt(public(kind), &vec![1; bad]),
            Err(CryptoError::InvalidInput(_))
        ));
    }
    assert_eq!(
        sm2_encrypt(public(KeyKind::EccNistP256), b"x"),
        Err(CryptoError::InvalidKeyMaterial)
    );
    assert_eq!(
        sm2_encrypt(b"not a key", b"x"),
        Err(CryptoError::InvalidKeyMaterial)
    );
}

#[test]
fn sm2pke_rejects_bad_ciphertexts() {
    let kind = KeyKind::Sm2;
    let m = material(kind);
    let ct = sm2_encrypt(public(kind), b"secret").expect("encrypt");
    let bad = Err(CryptoError::InvalidCiphertext);
    assert_eq!(sm2_decrypt(kind, m, &ct[..ct.len() - 1]), bad);
    assert_eq!(sm2_decrypt(kind, m, &[]), bad);
    let mut longer = ct.clone();
    longer.push(0);
    assert_eq!(sm2_decrypt(kind, m, &longer), bad);
    let other = generate(kind).expect("second SM2 key");
    assert_eq!(sm2_decrypt(kind, &other.material, &ct), bad);
    // RSA ciphertexts and other kinds.
    let rsa = rsa_encrypt(
        public(KeyKind::Rsa2048),
        RsaEncryptionAlgorithm::OaepSha256,
        b"x",
    )
    .expect("rsa");
    assert_eq!(sm2_decrypt(kind, m, &rsa), bad);
    assert!(matches!(
        sm2_decrypt(KeyKind::EccNistP256, material(KeyKind::EccNistP256), &ct),
        Err(CryptoError::IncompatibleAlgorithm(_))
    ));
    assert_eq!(
        sm2_decrypt(kind, material(KeyKind::EccNistP256), &ct),
        Err(CryptoError::InvalidKeyMaterial)
    );
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    let bit = bit % (out.len() * 8);
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn flipped_signature_bits_are_rejected(
        kind_index in 0usize..12,
        combo_index in 0usize..12,
        bit in any::<usize>(),
        data in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let kind = KeyKind::ALL[kind_index];
        let combos = combos(kind);
        let (alg, mt) = combos[combo_index % combos.len()];
        let msg = message(alg, mt, &data);
        let sig = sign(kind, material(kind), alg, mt, &msg).expect("sign");
        let tampered = flip(&sig, bit);
        let ok = verify(kind, public(kind), alg, mt, &msg, &tampered).expect("verify");
        prop_assert!(!ok, "{:?} {:?} {:?} accepted a flipped bit", kind, alg, mt);
    }

    #[test]
    fn flipped_sm2pke_ciphertext_bits_are_rejected(
        bit in any::<usize>(),
        plaintext in proptest::collection::vec(any::<u8>(), 1..128),
    ) {
        let kind = KeyKind::Sm2;
        let ct = sm2_encrypt(public(kind), &plaintext).expect("encrypt");
        let tampered = flip(&ct, bit);
        prop_assert_eq!(
            sm2_decrypt(kind, material(kind), &tampered),
            Err(CryptoError::InvalidCiphertext)
        );
    }

    #[test]
    fn flipped_rsa_ciphertext_bits_are_rejected(
        kind_index in 0usize..3,
        sha256 in any::<bool>(),
        bit in any::<usize>(),
        plaintext in proptest::collection::vec(any::<u8>(), 1..128),
    ) {
        let kind = RSA_KINDS[kind_index];
        let alg = if sha256 {
            RsaEncryptionAlgorithm::OaepSha256
        } else {
            RsaEncryptionAlgorithm::OaepSha1
        };
        let ct = rsa_encrypt(public(kind), alg, &plaintext).expect("encrypt");
        let tampered = flip(&ct, bit);
        prop_assert_eq!(
            rsa_decrypt(kind, material(kind), alg, &tampered),
            Err(CryptoError::InvalidCiphertext)
        );
    }
}
