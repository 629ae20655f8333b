//! Interoperability with an independent implementation: the system `openssl` command (OpenSSL
//! 3.0 or newer), run on temporary files. OpenSSL reads our PKCS#8 and SPKI encodings, verifies
//! our RSA, ECDSA and Ed25519 signatures (RAW and DIGEST), signs for us to verify, encrypts to
//! our RSA keys, runs ECDH against our public keys, computes the same HMACs, and computes the
//! SHAKE256 mu for ML-DSA EXTERNAL_MU. OpenSSL 3.0 has neither ML-DSA nor Ed25519ph: those are
//! checked against RustCrypto `ml-dsa` and the RFC 8032 vectors in their own modules. For SM2
//! (OpenSSL's `SM2` key type) it reads our keys and we read its, SM2DSA signatures verify both
//! ways with the distinguishing ID `1234567812345678` (RAW, and DIGEST with e hashed by
//! OpenSSL's SM3), SM2PKE ciphertexts decrypt both ways, and, as OpenSSL 3.0 has no ECDH on
//! SM2, our ECDH secret is checked against points OpenSSL computes from chosen scalars.
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

/// SM2 with OpenSSL 3 (its `SM2` key type): keys, SM2DSA with the distinguishing ID, SM2PKE.
/// OpenSSL before 4.0 uses an empty ID unless told otherwise, hence `distid` everywhere.
const SM2_DISTID: &str = "distid:1234567812345678";

/// SM2's curve parameters a, b, x_G, y_G (GB/T 32918.5), for Z.
const SM2_CURVE: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC\
                         28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93\
                         32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7\
                         BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";

impl OpenSsl {
    /// `openssl dgst -sm3 -binary` of `data`.
    fn sm3(&self, data: &[u8]) -> Vec<u8> {
        self.write("sm3.in", data);
        self.run(&["dgst", "-sm3", "-binary", "-out", "sm3.out", "sm3.in"]);
        self.read("sm3.out")
    }

    /// SM2DSA's e = SM3(Z ‖ M) for the SPKI `spki` and ID `1234567812345678`, hashed by OpenSSL.
    fn sm2_e(&self, spki: &[u8], message: &[u8]) -> Vec<u8> {
        let id = crate::SM2_DISTINGUISHING_ID.as_bytes();
        let mut za = u16::try_from(id.len() * 8)
            .expect("ENTL")
            .to_be_bytes()
            .to_vec();
        za.extend_from_slice(id);
        za.extend(hex::decode(SM2_CURVE).expect("hex"));
        za.extend_from_slice(&spki[spki.len() - 64..]);
        let mut zm = self.sm3(&za);
        zm.extend_from_slice(message);
        self.sm3(&zm)
    }

    /// The PKCS#8 DER and SubjectPublicKeyInfo DER that OpenSSL makes of the SM2 private
    /// scalar `d` (given as a SEC1 `ECPrivateKey` without its public key, which OpenSSL
    /// computes: its own point arithmetic).
    fn sm2_key_of_scalar(&self, d: &[u8; 32]) -> (Vec<u8>, Vec<u8>) {
        let mut sec1 = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
        sec1.extend_from_slice(d);
        sec1.extend(hex::decode("a00a06082a811ccf5501822d").expect("hex"));
        self.write("scalar.der", &sec1);
        self.run(&[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-inform",
            "DER",
            "-in",
            "scalar.der",
            "-outform",
            "DER",
            "-out",
            "scalar8.der",
        ]);
        self.run(&[
            "pkey",
            "-inform",
            "DER",
            "-in",
            "scalar8.der",
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "scalarpub.der",
        ]);
        (self.read("scalar8.der"), self.read("scalarpub.der"))
    }
}

#[test]
fn sm2_keys_interoperate_with_openssl() {
    let ossl = OpenSsl::new();
    let kind = KeyKind::Sm2;
    // Ours, read by OpenSSL as an SM2 key with the same public key.
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
    assert_eq!(ossl.read("derived.der"), public(kind));
    ossl.run(&[
        "pkey", "-inform", "DER", "-in", "priv.der", "-text", "-noout", "-out", "text",
    ]);
    assert!(String::from_utf8_lossy(&ossl.read("text")).contains("SM2"));
    // OpenSSL's, read by us (as ImportKeyMaterial would) with the same public key.
    ossl.run(&["genpkey", "-algorithm", "SM2", "-out", "theirs.pem"]);
    ossl.run(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        "theirs.pem",
        "-outform",
        "DER",
        "-out",
        "theirs.der",
    ]);
    ossl.run(&[
        "pkey",
        "-in",
        "theirs.pem",
        "-pubout",
        "-outform",
        "DER",
        "-out",
        "theirs.pub",
    ]);
    let theirs = crate::KeyMaterial::from_bytes(ossl.read("theirs.der"));
    assert_eq!(
        crate::check_imported_material(Some(kind), &theirs),
        Ok(Some(ossl.read("theirs.pub")))
    );
    assert_eq!(
        crate::public_key_der(kind, &theirs).expect("spki"),
        ossl.read("theirs.pub")
    );
}

#[test]
fn openssl_verifies_our_sm2dsa_signatures() {
    let ossl = OpenSsl::new();
    let (kind, alg) = (KeyKind::Sm2, SigningAlgorithm::Sm2Dsa);
    ossl.write("msg", MESSAGE);
    ossl.write("pub.der", public(kind));
    let e = ossl.sm2_e(public(kind), MESSAGE);
    let by_raw = sign(kind, material(kind), alg, MessageType::Raw, MESSAGE).expect("sign");
    let by_digest = sign(kind, material(kind), alg, MessageType::Digest, &e).expect("sign");
    let verify_with = |distid: &'static str| {
        vec![
            "dgst",
            "-sm3",
            "-sigopt",
            distid,
            "-keyform",
            "DER",
            "-verify",
            "pub.der",
            "-signature",
            "sig",
            "msg",
        ]
    };
    let aws = verify_with(SM2_DISTID);
    let other = verify_with("distid:ALICE123@YAHOO.COM");
    for sig in [&by_raw, &by_digest] {
        ossl.write("sig", sig);
        assert!(ossl.try_run(&aws));
        // The ID is part of what is signed.
        assert!(!ossl.try_run(&other));
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        ossl.write("sig", &bad);
        assert!(!ossl.try_run(&aws), "tampered");
    }
    // A DIGEST signature is a plain SM2 signature of e to OpenSSL too.
    ossl.write("e", &e);
    ossl.write("sig", &by_digest);
    ossl.run(&[
        "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-in", "e",
        "-sigfile", "sig",
    ]);
}

#[test]
fn we_verify_openssl_sm2dsa_signatures() {
    let ossl = OpenSsl::new();
    let (kind, alg) = (KeyKind::Sm2, SigningAlgorithm::Sm2Dsa);
    let p = public(kind);
    ossl.write("msg", MESSAGE);
    ossl.write("priv.der", material(kind).as_bytes());
    ossl.run(&[
        "dgst", "-sm3", "-sigopt", SM2_DISTID, "-keyform", "DER", "-sign", "priv.der", "-out",
        "sig", "msg",
    ]);
    let by_message = ossl.read("sig");
    let e = ossl.sm2_e(p, MESSAGE);
    assert!(verify(kind, p, alg, MessageType::Raw, MESSAGE, &by_message).expect("v"));
    assert!(verify(kind, p, alg, MessageType::Digest, &e, &by_message).expect("v"));
    assert!(!verify(
        kind,
        p,
        alg,
        MessageType::Raw,
        b"another message",
        &by_message
    )
    .expect("v"));
    // OpenSSL signing e itself (no hashing): a DIGEST signature.
    ossl.write("e", &e);
    ossl.run(&[
        "pkeyutl", "-sign", "-keyform", "DER", "-inkey", "priv.der", "-in", "e", "-out", "sig",
    ]);
    let by_e = ossl.read("sig");
    assert!(verify(kind, p, alg, MessageType::Digest, &e, &by_e).expect("v"));
    assert!(verify(kind, p, alg, MessageType::Raw, MESSAGE, &by_e).expect("v"));
}

#[test]
fn sm2pke_interoperates_with_openssl() {
    let ossl = OpenSsl::new();
    let kind = KeyKind::Sm2;
    ossl.write("pub.der", public(kind));
    ossl.write("priv.der", material(kind).as_bytes());
    for len in [1, 32, 100, crate::SM2PKE_MAX_PLAINTEXT] {
        let plaintext = crate::random_bytes(len);
        ossl.write("pt", &plaintext);
        ossl.run(&[
            "pkeyutl", "-encrypt", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-in", "pt",
            "-out", "ct",
        ]);
        let theirs = ossl.read("ct");
        let opened = crate::sm2_decrypt(kind, material(kind), &theirs).expect("decrypt");
        assert_eq!(opened.as_slice(), plaintext.as_slice(), "{len}");

        let ours = crate::sm2_encrypt(public(kind), &plaintext).expect("encrypt");
        ossl.write("ct", &ours);
        ossl.run(&["asn1parse", "-inform", "DER", "-in", "ct", "-out", "parsed"]);
        ossl.run(&[
            "pkeyutl", "-decrypt", "-keyform", "DER", "-inkey", "priv.der", "-in", "ct", "-out",
            "pt2",
        ]);
        assert_eq!(ossl.read("pt2"), plaintext, "{len}");
    }
}

#[test]
fn sm2_ecdh_matches_openssl_point_arithmetic() {
    // OpenSSL 3.0 does no ECDH on SM2 keys, but it computes public keys: with our key d, the
    // shared secret with the point 2G is the x coordinate of (2d)G, which OpenSSL computes
    // from the scalar 2d.
    let ossl = OpenSsl::new();
    let kind = KeyKind::Sm2;
    let mut d = [0u8; 32];
    d.copy_from_slice(&crate::random_bytes(32));
    d[0] = 0x35; // below n/2, so 2d needs no reduction mod n
    let mut two_d = [0u8; 32];
    let mut carry = 0u8;
    for i in (0..32).rev() {
        two_d[i] = (d[i] << 1) | carry;
        carry = d[i] >> 7;
    }
    let mut two = [0u8; 32];
    two[31] = 2;
    let (ours, our_public) = ossl.sm2_key_of_scalar(&d);
    let ours = crate::KeyMaterial::from_bytes(ours);
    assert_eq!(public_key_of(kind, &ours), our_public);
    let (two_key, two_g) = ossl.sm2_key_of_scalar(&two);
    let (_, two_d_g) = ossl.sm2_key_of_scalar(&two_d);
    let expected = &two_d_g[two_d_g.len() - 64..two_d_g.len() - 32];
    let secret = derive_shared_secret(kind, &ours, &two_g).expect("derive");
    assert_eq!(secret.as_slice(), expected);
    // And the other way round: the key of scalar 2 with our public key.
    let two_key = crate::KeyMaterial::from_bytes(two_key);
    let back = derive_shared_secret(kind, &two_key, &our_public).expect("derive");
    assert_eq!(back.as_slice(), expected);
}

fn public_key_of(kind: KeyKind, material: &crate::KeyMaterial) -> Vec<u8> {
    crate::public_key_der(kind, material).expect("spki")
}
