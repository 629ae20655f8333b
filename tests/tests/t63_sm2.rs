//! SM2 keys in a China Region: a real region named `cn-north-1` (Trent treats every `cn-*`
//! region as one of AWS's China Regions) linked to `us-east-1`, driven with `aws-sdk-kms` and
//! checked with the OpenSSL CLI (OpenSSL 3's `SM2` key type) as the independent side:
//! SIGN_VERIFY keys sign RAW messages and DIGESTs (e = SM3(Z ‖ M), distinguishing ID
//! `1234567812345678`) that OpenSSL verifies with the public key GetPublicKey returns;
//! ENCRYPT_DECRYPT keys decrypt what OpenSSL encrypts with SM2PKE and the other way round;
//! KEY_AGREEMENT keys derive ECDH secrets with local SM2 key pairs, checked against points
//! OpenSSL computes (OpenSSL 3.0 has no ECDH on SM2 keys); imported SM2 material (PKCS#8);
//! SM2 data key pairs; and us-east-1 refusing SM2 as AWS does outside China.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeyPairSpec, EncryptionAlgorithmSpec, ExpirationModelType,
    KeyAgreementAlgorithmSpec, KeySpec, KeyState, KeyUsageType, MessageType, OriginType,
    SigningAlgorithmSpec, WrappingKeySpec,
};
use std::path::Path;
use std::process::Command;
use trent_tests::{new_key, Cluster, Regions};

const CN: &str = "cn-north-1";
const US: &str = "us-east-1";
/// OpenSSL before 4.0 signs SM2 with an empty ID unless told AWS's.
const DISTID: &str = "distid:1234567812345678";
/// SM2's a, b, x_G and y_G (GB/T 32918.5), for Z.
const SM2_CURVE: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC\
                         28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93\
                         32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7\
                         BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";

fn run(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed")
}

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let output = run(args, dir);
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn hex_decode(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "Ok".to_string(),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

/// OpenSSL's SM3 of `data`.
fn sm3(dir: &Path, data: &[u8]) -> Vec<u8> {
    write(dir, "sm3.in", data);
    openssl(
        &["dgst", "-sm3", "-binary", "-out", "sm3.out", "sm3.in"],
        dir,
    );
    read(dir, "sm3.out")
}

/// SM2DSA's e = SM3(Z_A ‖ M) for the SubjectPublicKeyInfo `spki`, with AWS's ID.
fn sm2_e(dir: &Path, spki: &[u8], message: &[u8]) -> Vec<u8> {
    let id = b"1234567812345678";
    let mut za = ((id.len() * 8) as u16).to_be_bytes().to_vec();
    za.extend_from_slice(id);
    za.extend(hex_decode(SM2_CURVE));
    za.extend_from_slice(&spki[spki.len() - 64..]);
    let mut zm = sm3(dir, &za);
    zm.extend_from_slice(message);
    sm3(dir, &zm)
}

/// The PKCS#8 and SubjectPublicKeyInfo (DER) OpenSSL makes of the SM2 private scalar `d`.
fn key_of_scalar(dir: &Path, d: &[u8; 32]) -> (Vec<u8>, Vec<u8>) {
    let mut sec1 = vec![0x30, 0x31, 0x02, 0x01, 0x01, 0x04, 0x20];
    sec1.extend_from_slice(d);
    sec1.extend(hex_decode("a00a06082a811ccf5501822d"));
    write(dir, "scalar.der", &sec1);
    openssl(
        &[
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
        ],
        dir,
    );
    openssl(
        &[
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
        ],
        dir,
    );
    (read(dir, "scalar8.der"), read(dir, "scalarpub.der"))
}

/// The x coordinate of the point in an SM2 SubjectPublicKeyInfo.
fn x_of(spki: &[u8]) -> &[u8] {
    &spki[spki.len() - 64..spki.len() - 32]
}

async fn create(kms: &aws_sdk_kms::Client, usage: KeyUsageType) -> String {
    let created = kms
        .create_key()
        .key_spec(KeySpec::Sm2)
        .key_usage(usage.clone())
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata.unwrap();
    assert_eq!(meta.key_spec(), Some(&KeySpec::Sm2));
    assert_eq!(meta.key_usage(), Some(&usage));
    assert!(meta.arn().unwrap().contains(":cn-north-1:"));
    meta.key_id
}

async fn public_key(kms: &aws_sdk_kms::Client, key_id: &str) -> Vec<u8> {
    let public = kms.get_public_key().key_id(key_id).send().await.unwrap();
    assert_eq!(public.key_spec(), Some(&KeySpec::Sm2));
    public.public_key().unwrap().as_ref().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sm2_keys_work_in_a_china_region_and_are_refused_elsewhere() {
    let regions = Regions::start(&[CN, US], 3).await;
    let dir = tempfile::tempdir().unwrap();
    let cn = regions.region(0);
    signing(cn, dir.path()).await;
    encryption(cn, dir.path()).await;
    key_agreement_and_imported_material(cn, dir.path()).await;
    data_key_pairs(cn, dir.path()).await;
    refused_outside_china(&regions).await;
}

async fn signing(cn: &Cluster, dir: &Path) {
    let kms = cn.client(0);
    let key_id = create(&kms, KeyUsageType::SignVerify).await;
    let meta = cn
        .client(1)
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.signing_algorithms(), &[SigningAlgorithmSpec::Sm2Dsa]);
    assert!(meta.encryption_algorithms().is_empty());
    // GetPublicKey: the SubjectPublicKeyInfo of a point on the SM2 curve.
    let public = cn
        .client(2)
        .get_public_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(public.signing_algorithms(), &[SigningAlgorithmSpec::Sm2Dsa]);
    assert_eq!(public.key_usage(), Some(&KeyUsageType::SignVerify));
    let spki = public.public_key().unwrap().as_ref().to_vec();
    write(dir, "pub.der", &spki);
    let parsed = String::from_utf8(openssl(
        &["asn1parse", "-inform", "DER", "-in", "pub.der"],
        dir,
    ))
    .unwrap();
    assert!(
        parsed.contains(":id-ecPublicKey") && parsed.contains(":sm2"),
        "{parsed}"
    );

    let message = b"signed in cn-north-1".to_vec();
    write(dir, "msg", &message);
    let e = sm2_e(dir, &spki, &message);
    let sign = |kind: MessageType, payload: Vec<u8>| {
        let kms = kms.clone();
        let key_id = key_id.clone();
        async move {
            let signed = kms
                .sign()
                .key_id(&key_id)
                .message(Blob::new(payload))
                .message_type(kind)
                .signing_algorithm(SigningAlgorithmSpec::Sm2Dsa)
                .send()
                .await
                .unwrap();
            assert_eq!(
                signed.signing_algorithm(),
                Some(&SigningAlgorithmSpec::Sm2Dsa)
            );
            signed.signature().unwrap().as_ref().to_vec()
        }
    };
    let by_raw = sign(MessageType::Raw, message.clone()).await;
    let by_digest = sign(MessageType::Digest, e.clone()).await;
    // OpenSSL verifies both against the message, with AWS's distinguishing ID.
    for signature in [&by_raw, &by_digest] {
        write(dir, "sig", signature);
        let out = openssl(
            &[
                "dgst",
                "-sm3",
                "-sigopt",
                DISTID,
                "-keyform",
                "DER",
                "-verify",
                "pub.der",
                "-signature",
                "sig",
                "msg",
            ],
            dir,
        );
        assert!(String::from_utf8_lossy(&out).contains("Verified OK"));
        let other_id = run(
            &[
                "dgst",
                "-sm3",
                "-sigopt",
                "distid:ALICE123@YAHOO.COM",
                "-keyform",
                "DER",
                "-verify",
                "pub.der",
                "-signature",
                "sig",
                "msg",
            ],
            dir,
        );
        assert!(!other_id.status.success(), "another ID verified");
    }
    // KMS verifies each either way (RAW message or DIGEST e), on another node.
    let verifier = cn.client(1);
    for (kind, payload) in [(MessageType::Raw, &message), (MessageType::Digest, &e)] {
        for signature in [&by_raw, &by_digest] {
            let verified = verifier
                .verify()
                .key_id(&key_id)
                .message(Blob::new(payload.clone()))
                .message_type(kind.clone())
                .signature(Blob::new(signature.clone()))
                .signing_algorithm(SigningAlgorithmSpec::Sm2Dsa)
                .send()
                .await
                .unwrap();
            assert!(verified.signature_valid());
        }
    }
    let mut tampered = by_raw.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let refused = verifier
        .verify()
        .key_id(&key_id)
        .message(Blob::new(message.clone()))
        .signature(Blob::new(tampered))
        .signing_algorithm(SigningAlgorithmSpec::Sm2Dsa)
        .send()
        .await;
    assert_eq!(code(refused), "KMSInvalidSignatureException");
    // A DIGEST must be one SM3 output; other algorithms are not SM2's.
    let short = kms
        .sign()
        .key_id(&key_id)
        .message(Blob::new(vec![1u8; 31]))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::Sm2Dsa)
        .send()
        .await;
    assert_eq!(code(short), "ValidationException");
    let ecdsa = kms
        .sign()
        .key_id(&key_id)
        .message(Blob::new(message.clone()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    assert_eq!(code(ecdsa), "InvalidKeyUsageException");
}

async fn encryption(cn: &Cluster, dir: &Path) {
    let kms = cn.client(0);
    let key_id = create(&kms, KeyUsageType::EncryptDecrypt).await;
    let public = kms.get_public_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        public.encryption_algorithms(),
        &[EncryptionAlgorithmSpec::Sm2Pke]
    );
    assert!(public.signing_algorithms().is_empty());
    write(dir, "enc.der", public.public_key().unwrap().as_ref());
    let decrypt = |ciphertext: Vec<u8>, node: usize| {
        let kms = cn.client(node);
        let key_id = key_id.clone();
        async move {
            kms.decrypt()
                .key_id(&key_id)
                .ciphertext_blob(Blob::new(ciphertext))
                .encryption_algorithm(EncryptionAlgorithmSpec::Sm2Pke)
                .send()
                .await
        }
    };
    for len in [1usize, 100, 1024] {
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 13) as u8).collect();
        // Trent encrypts: the GM/T 0009 DER form, which OpenSSL decrypts... with no private key
        // here, so Trent decrypts it on another node and OpenSSL checks its structure.
        let encrypted = kms
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(plaintext.clone()))
            .encryption_algorithm(EncryptionAlgorithmSpec::Sm2Pke)
            .send()
            .await
            .unwrap();
        assert_eq!(
            encrypted.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::Sm2Pke)
        );
        let ours = encrypted.ciphertext_blob().unwrap().as_ref().to_vec();
        write(dir, "ours.ct", &ours);
        let parsed = String::from_utf8(openssl(
            &["asn1parse", "-inform", "DER", "-in", "ours.ct"],
            dir,
        ))
        .unwrap();
        assert_eq!(parsed.matches("prim: INTEGER").count(), 2, "{parsed}");
        assert_eq!(parsed.matches("prim: OCTET STRING").count(), 2, "{parsed}");
        let opened = decrypt(ours, 1).await.unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
        assert_eq!(
            opened.encryption_algorithm(),
            Some(&EncryptionAlgorithmSpec::Sm2Pke)
        );
        // OpenSSL encrypts to the public key; Trent decrypts.
        write(dir, "pt", &plaintext);
        openssl(
            &[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                "enc.der",
                "-in",
                "pt",
                "-out",
                "theirs.ct",
            ],
            dir,
        );
        let opened = decrypt(read(dir, "theirs.ct"), 2).await.unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
    }
    // ReEncrypt from SM2PKE to a symmetric key.
    let symmetric = new_key(&kms).await;
    let re = kms
        .re_encrypt()
        .source_key_id(&key_id)
        .source_encryption_algorithm(EncryptionAlgorithmSpec::Sm2Pke)
        .ciphertext_blob(Blob::new(read(dir, "theirs.ct")))
        .destination_key_id(&symmetric)
        .send()
        .await
        .unwrap();
    let opened = kms
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), read(dir, "pt"));
    // AWS's rules: at most 1024 bytes, no encryption context, SM2PKE only, tampering fails.
    let encrypt = |plaintext: Vec<u8>, algorithm: EncryptionAlgorithmSpec| {
        kms.encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(plaintext))
            .encryption_algorithm(algorithm)
    };
    let long = encrypt(vec![0; 1025], EncryptionAlgorithmSpec::Sm2Pke)
        .send()
        .await;
    assert_eq!(code(long), "ValidationException");
    let with_context = encrypt(vec![1], EncryptionAlgorithmSpec::Sm2Pke)
        .encryption_context("purpose", "test")
        .send()
        .await;
    assert_eq!(code(with_context), "ValidationException");
    let rsa = encrypt(vec![1], EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await;
    assert_eq!(code(rsa), "InvalidKeyUsageException");
    let mut tampered = read(dir, "theirs.ct");
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        code(decrypt(tampered, 0).await),
        "InvalidCiphertextException"
    );
}

async fn key_agreement_and_imported_material(cn: &Cluster, dir: &Path) {
    let kms = cn.client(0);
    let key_id = create(&kms, KeyUsageType::KeyAgreement).await;
    let meta = kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(
        meta.key_agreement_algorithms(),
        &[KeyAgreementAlgorithmSpec::Ecdh]
    );
    let derive = |key_id: String, peer: Vec<u8>, node: usize| {
        let kms = cn.client(node);
        async move {
            kms.derive_shared_secret()
                .key_id(&key_id)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(Blob::new(peer))
                .send()
                .await
        }
    };
    // The local key pair of scalar 1 (public key G): the secret is the x of Trent's public key.
    let mut one = [0u8; 32];
    one[31] = 1;
    let (_, g) = key_of_scalar(dir, &one);
    let trent_public = public_key(&kms, &key_id).await;
    let secret = derive(key_id.clone(), g, 1).await.unwrap();
    assert_eq!(
        secret.shared_secret().unwrap().as_ref(),
        x_of(&trent_public)
    );
    assert_eq!(secret.key_origin(), Some(&OriginType::AwsKms));
    // A local key pair OpenSSL generates: 32 bytes, the same on every node.
    openssl(&["genpkey", "-algorithm", "SM2", "-out", "peer.pem"], dir);
    openssl(
        &[
            "pkey", "-in", "peer.pem", "-pubout", "-outform", "DER", "-out", "peer.der",
        ],
        dir,
    );
    let peer = read(dir, "peer.der");
    let a = derive(key_id.clone(), peer.clone(), 0).await.unwrap();
    let b = derive(key_id.clone(), peer, 2).await.unwrap();
    assert_eq!(a.shared_secret().unwrap().as_ref().len(), 32);
    assert_eq!(a.shared_secret(), b.shared_secret());
    // A P-256 public key is not on the key's curve.
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "p256.pem",
        ],
        dir,
    );
    openssl(
        &[
            "pkey", "-in", "p256.pem", "-pubout", "-outform", "DER", "-out", "p256.der",
        ],
        dir,
    );
    let wrong_curve = derive(key_id.clone(), read(dir, "p256.der"), 0).await;
    assert_eq!(code(wrong_curve), "ValidationException");
    let sign = kms
        .sign()
        .key_id(&key_id)
        .message(Blob::new("m"))
        .signing_algorithm(SigningAlgorithmSpec::Sm2Dsa)
        .send()
        .await;
    assert_eq!(code(sign), "InvalidKeyUsageException");

    // Imported SM2 material (origin EXTERNAL, PKCS#8): a key whose scalar d the test chose.
    let mut d = [0u8; 32];
    d.copy_from_slice(&openssl(&["rand", "32"], dir));
    d[0] = 0x35; // below n/2, so 2d needs no reduction mod n
    let (material, material_public) = key_of_scalar(dir, &d);
    let external = kms
        .create_key()
        .key_spec(KeySpec::Sm2)
        .key_usage(KeyUsageType::KeyAgreement)
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(external.key_state(), Some(&KeyState::PendingImport));
    let imported_id = external.key_id;
    let import = |material: Vec<u8>, key_id: String| {
        let kms = kms.clone();
        async move {
            let parameters = kms
                .get_parameters_for_import()
                .key_id(&key_id)
                .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
                .wrapping_key_spec(WrappingKeySpec::Rsa2048)
                .send()
                .await
                .unwrap();
            write(
                dir,
                "wrapping.der",
                parameters.public_key().unwrap().as_ref(),
            );
            write(dir, "material.der", &material);
            openssl(
                &[
                    "pkeyutl",
                    "-encrypt",
                    "-pubin",
                    "-keyform",
                    "DER",
                    "-inkey",
                    "wrapping.der",
                    "-in",
                    "material.der",
                    "-out",
                    "material.wrapped",
                    "-pkeyopt",
                    "rsa_padding_mode:oaep",
                    "-pkeyopt",
                    "rsa_oaep_md:sha256",
                    "-pkeyopt",
                    "rsa_mgf1_md:sha256",
                ],
                dir,
            );
            kms.import_key_material()
                .key_id(&key_id)
                .import_token(parameters.import_token().unwrap().clone())
                .encrypted_key_material(Blob::new(read(dir, "material.wrapped")))
                .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
                .send()
                .await
        }
    };
    import(material, imported_id.clone()).await.unwrap();
    assert_eq!(
        public_key(&cn.client(1), &imported_id).await,
        material_public
    );
    // With the local key pair of scalar 2: x((2d)G), which OpenSSL computes from 2d.
    let mut two = [0u8; 32];
    two[31] = 2;
    let (_, two_g) = key_of_scalar(dir, &two);
    let mut two_d = [0u8; 32];
    let mut carry = 0;
    for i in (0..32).rev() {
        two_d[i] = (d[i] << 1) | carry;
        carry = d[i] >> 7;
    }
    let (_, two_d_g) = key_of_scalar(dir, &two_d);
    let secret = derive(imported_id.clone(), two_g, 2).await.unwrap();
    assert_eq!(secret.shared_secret().unwrap().as_ref(), x_of(&two_d_g));
    assert_eq!(secret.key_origin(), Some(&OriginType::External));
    // P-256 material does not fit an SM2 key.
    openssl(
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "p256.pem", "-outform", "DER", "-out", "p256.p8",
        ],
        dir,
    );
    let other = kms
        .create_key()
        .key_spec(KeySpec::Sm2)
        .key_usage(KeyUsageType::SignVerify)
        .origin(OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let wrong = import(read(dir, "p256.p8"), other).await;
    assert_eq!(code(wrong), "IncorrectKeyMaterialException");
}

async fn data_key_pairs(cn: &Cluster, dir: &Path) {
    let kms = cn.client(0);
    let symmetric = new_key(&kms).await;
    let pair = kms
        .generate_data_key_pair()
        .key_id(&symmetric)
        .key_pair_spec(DataKeyPairSpec::Sm2)
        .send()
        .await
        .unwrap();
    assert_eq!(pair.key_pair_spec(), Some(&DataKeyPairSpec::Sm2));
    // The private key is PKCS#8 that OpenSSL reads as SM2, with the public key returned.
    write(
        dir,
        "pair.der",
        pair.private_key_plaintext().unwrap().as_ref(),
    );
    let derived = openssl(
        &[
            "pkey", "-in", "pair.der", "-inform", "DER", "-pubout", "-outform", "DER",
        ],
        dir,
    );
    assert_eq!(derived.as_slice(), pair.public_key().unwrap().as_ref());
    let opened = cn
        .client(1)
        .decrypt()
        .ciphertext_blob(pair.private_key_ciphertext_blob.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.plaintext().unwrap().as_ref(),
        pair.private_key_plaintext().unwrap().as_ref()
    );
    // OpenSSL signs with the data key pair; a verifier with its public key and the ID agrees.
    write(dir, "msg", b"data key pair");
    write(dir, "pair.pub", pair.public_key().unwrap().as_ref());
    openssl(
        &[
            "dgst", "-sm3", "-sigopt", DISTID, "-keyform", "DER", "-sign", "pair.der", "-out",
            "pair.sig", "msg",
        ],
        dir,
    );
    openssl(
        &[
            "dgst",
            "-sm3",
            "-sigopt",
            DISTID,
            "-keyform",
            "DER",
            "-verify",
            "pair.pub",
            "-signature",
            "pair.sig",
            "msg",
        ],
        dir,
    );
    let without = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(&symmetric)
        .key_pair_spec(DataKeyPairSpec::Sm2)
        .send()
        .await
        .unwrap();
    assert!(without.public_key().is_some());
}

async fn refused_outside_china(regions: &Regions) {
    let us = regions.region(1).client(0);
    for usage in [
        KeyUsageType::SignVerify,
        KeyUsageType::EncryptDecrypt,
        KeyUsageType::KeyAgreement,
    ] {
        let refused = us
            .create_key()
            .key_spec(KeySpec::Sm2)
            .key_usage(usage)
            .send()
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Some("UnsupportedOperationException"));
        assert_eq!(
            refused.message(),
            Some("KeySpec SM2 is not supported in this Region.")
        );
    }
    let symmetric = new_key(&us).await;
    let pair = us
        .generate_data_key_pair()
        .key_id(&symmetric)
        .key_pair_spec(DataKeyPairSpec::Sm2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(pair.code(), Some("UnsupportedOperationException"));
    assert_eq!(
        pair.message(),
        Some("KeyPairSpec SM2 is not supported in this Region.")
    );
    // An SM2 multi-region key in cn-north-1 cannot have a replica in us-east-1.
    let cn = regions.region(0).client(0);
    let mrk = cn
        .create_key()
        .key_spec(KeySpec::Sm2)
        .key_usage(KeyUsageType::SignVerify)
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let replica = cn
        .replicate_key()
        .key_id(&mrk)
        .replica_region(US)
        .send()
        .await;
    assert_eq!(code(replica), "UnsupportedOperationException");
}
