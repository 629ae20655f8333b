//! Interoperability with an independent implementation: the system `openssl` command (OpenSSL
//! 3.0 or newer), run on temporary files. OpenSSL reads our PKCS#8 and SPKI encodings, verifies
//! our RSA, ECDSA and Ed25519 signatures (RAW and DIGEST), signs for us to verify, encrypts to
//! our RSA keys, runs ECDH against our public keys, computes the same HMACs, and computes the
//! SHAKE256 mu for ML-DSA EXTERNAL_MU. OpenSSL 3.0 has neither ML-DSA nor Ed25519ph: those are
//! checked against RustCrypto `ml-dsa` and the RFC 8032 vectors in their own modules.
//!
//! The tests fail (rather than skip) when `openssl` is missing, so a CI machine without it is
//! noticed.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use aws_lc_rs::digest;
use tempfile::TempDir;

use crate::test_keys::{material, public};
use crate::{
    derive_shared_secret, generate, hmac_generate, rsa_decrypt, rsa_encrypt, sign, verify, KeyKind,
    MessageType, RsaEncryptionAlgorithm, SigningAlgorithm,
};

/// A scratch directory to run `openssl` in.
struct OpenSsl {
    dir: TempDir,
}

impl OpenSsl {
    fn new() -> OpenSsl {
        OpenSsl {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        fs::write(self.path(name), bytes).expect("write temp file");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).expect("read temp file")
    }

    /// Runs `openssl args…` in the scratch directory; whether it exited 0.
    fn try_run(&self, args: &[&str]) -> bool {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("running `openssl` (install the Debian package `openssl`)");
        out.status.success()
    }

    /// Runs `openssl args…` and panics with its stderr if it fails.
    fn run(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("running `openssl` (install the Debian package `openssl`)");
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const MESSAGE: &[u8] = b"Trent talks to OpenSSL\n";

/// The `openssl dgst` hash option for an RSA or ECDSA algorithm.
fn dgst_hash(alg: SigningAlgorithm) -> &'static str {
    match alg.aws_name() {
        n if n.ends_with("SHA_256") => "-sha256",
        n if n.ends_with("SHA_384") => "-sha384",
        _ => "-sha512",
    }
}

fn hash(alg: SigningAlgorithm, data: &[u8]) -> Vec<u8> {
    let d = match dgst_hash(alg) {
        "-sha256" => &digest::SHA256,
        "-sha384" => &digest::SHA384,
        _ => &digest::SHA512,
    };
    digest::digest(d, data).as_ref().to_vec()
}

/// `-sigopt` arguments for RSA-PSS (salt length = hash length), none otherwise.
fn pss_opts(alg: SigningAlgorithm) -> Vec<&'static str> {
    if alg.aws_name().starts_with("RSASSA_PSS") {
        vec![
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]
    } else {
        Vec::new()
    }
}

/// RSA and ECDSA kinds with each of their algorithms.
fn dgst_cases() -> Vec<(KeyKind, SigningAlgorithm)> {
    [
        KeyKind::Rsa2048,
        KeyKind::Rsa3072,
        KeyKind::Rsa4096,
        KeyKind::EccNistP256,
        KeyKind::EccNistP384,
        KeyKind::EccNistP521,
        KeyKind::EccSecgP256k1,
    ]
    .into_iter()
    .flat_map(|k| k.signing_algorithms().iter().map(move |a| (k, *a)))
    .collect()
}

#[test]
fn openssl_reads_our_private_and_public_keys() {
    let ossl = OpenSsl::new();
    for kind in [
        KeyKind::Rsa2048,
        KeyKind::Rsa3072,
        KeyKind::Rsa4096,
        KeyKind::EccNistP256,
        KeyKind::EccNistP384,
        KeyKind::EccNistP521,
        KeyKind::EccSecgP256k1,
        KeyKind::Ed25519,
    ] {
        ossl.write("priv.der", material(kind).as_bytes());
        ossl.run(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            "priv.der",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "derived.der",
        ]);
        assert_eq!(ossl.read("derived.der"), public(kind), "{kind:?}");
        ossl.write("pub.der", public(kind));
        ossl.run(&[
            "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-noout",
        ]);
    }
}

#[test]
fn openssl_verifies_our_rsa_and_ecdsa_signatures() {
    let ossl = OpenSsl::new();
    ossl.write("msg", MESSAGE);
    for (kind, alg) in dgst_cases() {
        ossl.write("pub.der", public(kind));
        let by_raw = sign(kind, material(kind), alg, MessageType::Raw, MESSAGE).expect("sign");
        let digest = hash(alg, MESSAGE);
        let by_digest =
            sign(kind, material(kind), alg, MessageType::Digest, &digest).expect("sign");
        let mut args = vec!["dgst", dgst_hash(alg)];
        args.extend(pss_opts(alg));
        args.extend([
            "-keyform",
            "DER",
            "-verify",
            "pub.der",
            "-signature",
            "sig",
            "msg",
        ]);
        for sig in [&by_raw, &by_digest] {
            ossl.write("sig", sig);
            assert!(ossl.try_run(&args), "{kind:?} {alg:?}");
            // The harness is not vacuous: OpenSSL rejects a tampered signature.
            let mut bad = sig.clone();
            let last = bad.len() - 1;
            bad[last] ^= 0x01;
            ossl.write("sig", &bad);
            assert!(!ossl.try_run(&args), "{kind:?} {alg:?} tampered");
        }
    }
}

#[test]
fn we_verify_openssl_rsa_and_ecdsa_signatures() {
    let ossl = OpenSsl::new();
    ossl.write("msg", MESSAGE);
    for (kind, alg) in dgst_cases() {
        ossl.write("priv.der", material(kind).as_bytes());
        let mut args = vec!["dgst", dgst_hash(alg)];
        args.extend(pss_opts(alg));
        args.extend(["-keyform", "DER", "-sign", "priv.der", "-out", "sig", "msg"]);
        ossl.run(&args);
        let sig = ossl.read("sig");
        let p = public(kind);
        assert!(
            verify(kind, p, alg, MessageType::Raw, MESSAGE, &sig).expect("v"),
            "{alg:?}"
        );
        let digest = hash(alg, MESSAGE);
        assert!(verify(kind, p, alg, MessageType::Digest, &digest, &sig).expect("v"));
    }
}

#[test]
fn ed25519_signatures_interoperate_with_openssl() {
    let ossl = OpenSsl::new();
    let kind = KeyKind::Ed25519;
    let alg = SigningAlgorithm::Ed25519Sha512;
    ossl.write("msg", MESSAGE);
    ossl.write("pub.der", public(kind));
    ossl.write("priv.der", material(kind).as_bytes());
    let ours = sign(kind, material(kind), alg, MessageType::Raw, MESSAGE).expect("sign");
    ossl.write("sig", &ours);
    let verify_args = [
        "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-rawin", "-in",
        "msg", "-sigfile", "sig",
    ];
    ossl.run(&verify_args);
    ossl.write("sig", &[0u8; 64]);
    assert!(!ossl.try_run(&verify_args));

    ossl.run(&[
        "pkeyutl", "-sign", "-keyform", "DER", "-inkey", "priv.der", "-rawin", "-in", "msg",
        "-out", "theirs",
    ]);
    let theirs = ossl.read("theirs");
    // Ed25519 is deterministic: OpenSSL's signature is byte-identical to ours.
    assert_eq!(theirs, ours);
    assert!(verify(kind, public(kind), alg, MessageType::Raw, MESSAGE, &theirs).expect("v"));
}

#[test]
fn rsa_oaep_interoperates_with_openssl() {
    let ossl = OpenSsl::new();
    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072, KeyKind::Rsa4096] {
        ossl.write("pub.der", public(kind));
        ossl.write("priv.der", material(kind).as_bytes());
        for (alg, md) in [
            (RsaEncryptionAlgorithm::OaepSha1, "sha1"),
            (RsaEncryptionAlgorithm::OaepSha256, "sha256"),
        ] {
            let max = alg.max_plaintext_len(kind.rsa_modulus_len().expect("rsa"));
            let plaintext = crate::random_bytes(max);
            ossl.write("pt", &plaintext);
            let oaep_md = format!("rsa_oaep_md:{md}");
            let mgf1_md = format!("rsa_mgf1_md:{md}");
            let opts = [
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                oaep_md.as_str(),
                "-pkeyopt",
                mgf1_md.as_str(),
            ];
            let mut enc = vec!["pkeyutl", "-encrypt", "-pubin", "-keyform", "DER"];
            enc.extend(["-inkey", "pub.der", "-in", "pt", "-out", "ct"]);
            enc.extend(opts);
            ossl.run(&enc);
            let decrypted = rsa_decrypt(kind, material(kind), alg, &ossl.read("ct")).expect("dec");
            assert_eq!(decrypted.as_slice(), plaintext.as_slice(), "{kind:?} {md}");

            let ours = rsa_encrypt(public(kind), alg, &plaintext).expect("encrypt");
            ossl.write("ct", &ours);
            let mut dec = vec![
                "pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", "priv.der",
            ];
            dec.extend(["-in", "ct", "-out", "pt2"]);
            dec.extend(opts);
            ossl.run(&dec);
            assert_eq!(ossl.read("pt2"), plaintext, "{kind:?} {md}");
        }
    }
}

#[test]
fn ecdh_matches_openssl() {
    let ossl = OpenSsl::new();
    for (kind, curve) in [
        (KeyKind::EccNistP256, "P-256"),
        (KeyKind::EccNistP384, "P-384"),
        (KeyKind::EccNistP521, "P-521"),
    ] {
        let param = format!("ec_paramgen_curve:{curve}");
        ossl.run(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            &param,
            "-outform",
            "DER",
            "-out",
            "peer.der",
        ]);
        ossl.run(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            "peer.der",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "peer_pub.der",
        ]);
        ossl.write("our_pub.der", public(kind));
        ossl.run(&[
            "pkeyutl",
            "-derive",
            "-keyform",
            "DER",
            "-inkey",
            "peer.der",
            "-peerform",
            "DER",
            "-peerkey",
            "our_pub.der",
            "-out",
            "secret",
        ]);
        let ours =
            derive_shared_secret(kind, material(kind), &ossl.read("peer_pub.der")).expect("derive");
        assert_eq!(ours.as_slice(), ossl.read("secret").as_slice(), "{kind:?}");
    }
}

#[test]
fn hmac_matches_openssl() {
    let ossl = OpenSsl::new();
    ossl.write("msg", MESSAGE);
    for (kind, md) in [
        (KeyKind::Hmac224, "-sha224"),
        (KeyKind::Hmac256, "-sha256"),
        (KeyKind::Hmac384, "-sha384"),
        (KeyKind::Hmac512, "-sha512"),
    ] {
        // A fresh key: the test key goes on the openssl command line.
        let key = generate(kind).expect("generate").material;
        let hexkey = format!("hexkey:{}", hex::encode(key.as_bytes()));
        ossl.run(&[
            "dgst", md, "-mac", "HMAC", "-macopt", &hexkey, "-binary", "-out", "mac", "msg",
        ]);
        let ours = hmac_generate(kind, &key, MESSAGE).expect("hmac");
        assert_eq!(ours, ossl.read("mac"), "{kind:?}");
    }
}

/// mu = SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64), computed by OpenSSL.
fn openssl_mu(ossl: &OpenSsl, raw_public_key: &[u8], message: &[u8]) -> Vec<u8> {
    let shake = |input: &[u8]| {
        ossl.write("shake_in", input);
        ossl.run(&[
            "dgst",
            "-shake256",
            "-xoflen",
            "64",
            "-binary",
            "-out",
            "shake_out",
            "shake_in",
        ]);
        ossl.read("shake_out")
    };
    let mut m = shake(raw_public_key);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(message);
    shake(&m)
}

#[test]
fn mldsa_external_mu_matches_openssl_shake256() {
    let ossl = OpenSsl::new();
    let alg = SigningAlgorithm::MlDsaShake256;
    for (kind, pk_len) in [
        (KeyKind::MlDsa44, 1312),
        (KeyKind::MlDsa65, 1952),
        (KeyKind::MlDsa87, 2592),
    ] {
        let spki = public(kind);
        let mu = openssl_mu(&ossl, &spki[spki.len() - pk_len..], MESSAGE);
        let raw = sign(kind, material(kind), alg, MessageType::Raw, MESSAGE).expect("sign");
        assert!(verify(kind, spki, alg, MessageType::ExternalMu, &mu, &raw).expect("v"));
        let by_mu = sign(kind, material(kind), alg, MessageType::ExternalMu, &mu).expect("sign");
        assert!(verify(kind, spki, alg, MessageType::Raw, MESSAGE, &by_mu).expect("v"));
    }
}
