//! Every key type through `aws-sdk-kms` against a real region, with the results checked by an
//! independent implementation (the OpenSSL CLI): signatures Trent makes verify in OpenSSL,
//! ciphertexts OpenSSL makes with Trent's public key decrypt in Trent, ECDH secrets and HMACs
//! agree.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use std::path::Path;
use std::process::Command;
use trent_tests::Cluster;

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
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

async fn create(kms: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let created = kms
        .create_key()
        .key_spec(spec.clone())
        .key_usage(usage.clone())
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata.unwrap();
    assert_eq!(meta.key_spec(), Some(&spec));
    assert_eq!(meta.key_usage(), Some(&usage));
    meta.key_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_sign_and_openssl_verifies() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let dir = tempfile::tempdir().unwrap();
    let message = b"the quick brown fox".to_vec();
    write(dir.path(), "msg", &message);
    let cases = [
        (
            KeySpec::Rsa2048,
            SigningAlgorithmSpec::RsassaPssSha256,
            vec![
                "-sha256",
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:-1",
            ],
        ),
        (
            KeySpec::Rsa3072,
            SigningAlgorithmSpec::RsassaPkcs1V15Sha384,
            vec!["-sha384"],
        ),
        (
            KeySpec::EccNistP256,
            SigningAlgorithmSpec::EcdsaSha256,
            vec!["-sha256"],
        ),
        (
            KeySpec::EccNistP384,
            SigningAlgorithmSpec::EcdsaSha384,
            vec!["-sha384"],
        ),
        (
            KeySpec::EccNistP521,
            SigningAlgorithmSpec::EcdsaSha512,
            vec!["-sha512"],
        ),
        (
            KeySpec::EccSecgP256K1,
            SigningAlgorithmSpec::EcdsaSha256,
            vec!["-sha256"],
        ),
    ];
    for (spec, algorithm, digest_args) in cases {
        let key_id = create(&kms, spec.clone(), KeyUsageType::SignVerify).await;
        let meta = kms
            .describe_key()
            .key_id(&key_id)
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap();
        assert!(meta.signing_algorithms().contains(&algorithm), "{spec:?}");
        let signed = kms
            .sign()
            .key_id(&key_id)
            .message(Blob::new(message.clone()))
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        let signature = signed.signature().unwrap().as_ref().to_vec();
        let public = cluster
            .client(1)
            .get_public_key()
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
        assert_eq!(public.key_spec(), Some(&spec));
        write(dir.path(), "pub.der", public.public_key().unwrap().as_ref());
        write(dir.path(), "sig", &signature);
        let mut args = vec!["dgst"];
        args.extend(digest_args.iter().copied());
        args.extend([
            "-verify",
            "pub.der",
            "-keyform",
            "DER",
            "-signature",
            "sig",
            "msg",
        ]);
        let out = openssl(&args, dir.path());
        assert!(
            String::from_utf8_lossy(&out).contains("Verified OK"),
            "{spec:?}"
        );

        // Trent verifies its own signature, and rejects a flipped bit with AWS's error.
        let verified = cluster
            .client(2)
            .verify()
            .key_id(&key_id)
            .message(Blob::new(message.clone()))
            .signature(Blob::new(signature.clone()))
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        assert!(verified.signature_valid());
        let mut bad = signature.clone();
        let middle = bad.len() / 2;
        bad[middle] ^= 0x01;
        let err = kms
            .verify()
            .key_id(&key_id)
            .message(Blob::new(message.clone()))
            .signature(Blob::new(bad))
            .signing_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("KMSInvalidSignatureException"), "{spec:?}");
    }

    // Ed25519: OpenSSL verifies a RAW ED25519_SHA_512 signature.
    let key_id = create(&kms, KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify).await;
    let signed = kms
        .sign()
        .key_id(&key_id)
        .message(Blob::new(message.clone()))
        .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
        .send()
        .await
        .unwrap();
    let public = kms.get_public_key().key_id(&key_id).send().await.unwrap();
    write(dir.path(), "pub.der", public.public_key().unwrap().as_ref());
    write(dir.path(), "sig", signed.signature().unwrap().as_ref());
    let out = openssl(
        &[
            "pkeyutl", "-verify", "-pubin", "-inkey", "pub.der", "-keyform", "DER", "-rawin",
            "-in", "msg", "-sigfile", "sig",
        ],
        dir.path(),
    );
    assert!(String::from_utf8_lossy(&out).contains("Signature Verified Successfully"));

    // DIGEST messages must have the hash's length; ML-DSA signs and verifies.
    let p256 = create(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let short = kms
        .sign()
        .key_id(&p256)
        .message(Blob::new(vec![1u8; 20]))
        .message_type(MessageType::Digest)
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await;
    assert_eq!(short.unwrap_err().code(), Some("ValidationException"));
    let wrong_algorithm = kms
        .sign()
        .key_id(&p256)
        .message(Blob::new(message.clone()))
        .signing_algorithm(SigningAlgorithmSpec::EcdsaSha384)
        .send()
        .await;
    assert_eq!(
        wrong_algorithm.unwrap_err().code(),
        Some("InvalidKeyUsageException")
    );
    let ml_dsa = create(&kms, KeySpec::MlDsa44, KeyUsageType::SignVerify).await;
    let signed = kms
        .sign()
        .key_id(&ml_dsa)
        .message(Blob::new(message.clone()))
        .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
        .send()
        .await
        .unwrap();
    let verified = kms
        .verify()
        .key_id(&ml_dsa)
        .message(Blob::new(message.clone()))
        .signature(signed.signature.unwrap())
        .signing_algorithm(SigningAlgorithmSpec::MlDsaShake256)
        .send()
        .await
        .unwrap();
    assert!(verified.signature_valid());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_encryption_hmac_and_ecdh_interoperate_with_openssl() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let dir = tempfile::tempdir().unwrap();

    // OpenSSL encrypts to the public key; Trent decrypts (KeyId and algorithm required).
    let rsa = create(&kms, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let public = kms.get_public_key().key_id(&rsa).send().await.unwrap();
    assert_eq!(public.encryption_algorithms().len(), 2);
    write(dir.path(), "pub.der", public.public_key().unwrap().as_ref());
    write(dir.path(), "plain", b"secret for rsa");
    let ciphertext = openssl(
        &[
            "pkeyutl",
            "-encrypt",
            "-pubin",
            "-inkey",
            "pub.der",
            "-keyform",
            "DER",
            "-pkeyopt",
            "rsa_padding_mode:oaep",
            "-pkeyopt",
            "rsa_oaep_md:sha256",
            "-pkeyopt",
            "rsa_mgf1_md:sha256",
            "-in",
            "plain",
        ],
        dir.path(),
    );
    let decrypted = cluster
        .client(1)
        .decrypt()
        .key_id(&rsa)
        .ciphertext_blob(Blob::new(ciphertext.clone()))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext().unwrap().as_ref(), b"secret for rsa");
    // AWS returns KeyMaterialId only for symmetric encryption keys.
    assert_eq!(decrypted.key_material_id(), None);
    let no_key = kms
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
        .send()
        .await;
    assert_eq!(no_key.unwrap_err().code(), Some("ValidationException"));
    // Trent's own RSA ciphertext round-trips; the plaintext limit is AWS's (214 bytes for SHA-1).
    let sealed = kms
        .encrypt()
        .key_id(&rsa)
        .plaintext(Blob::new(vec![7u8; 214]))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .send()
        .await
        .unwrap();
    let too_long = kms
        .encrypt()
        .key_id(&rsa)
        .plaintext(Blob::new(vec![7u8; 215]))
        .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .send()
        .await;
    assert_eq!(too_long.unwrap_err().code(), Some("ValidationException"));
    // ReEncrypt from the RSA key to a symmetric key.
    let symmetric = trent_tests::new_key(&kms).await;
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
        .source_key_id(&rsa)
        .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
        .destination_key_id(&symmetric)
        .send()
        .await
        .unwrap();
    assert_eq!(moved.source_key_material_id(), None);
    assert!(moved.destination_key_material_id().is_some());
    let moved_blob = moved.ciphertext_blob.unwrap();
    // A KeyId that is not the ciphertext's key is IncorrectKeyException, even when that key
    // could not decrypt a symmetric ciphertext at all.
    let wrong_key = kms
        .decrypt()
        .ciphertext_blob(moved_blob.clone())
        .key_id(&rsa)
        .send()
        .await;
    assert_eq!(wrong_key.unwrap_err().code(), Some("IncorrectKeyException"));
    let back = kms
        .decrypt()
        .ciphertext_blob(moved_blob)
        .send()
        .await
        .unwrap();
    assert!(back.key_material_id().is_some());
    assert_eq!(
        back.plaintext().unwrap().as_ref(),
        vec![7u8; 214].as_slice()
    );

    // HMAC: the same MAC as OpenSSL's cannot be checked without the key, so check Trent's MAC
    // verifies, a flipped bit fails with AWS's error, and the wrong algorithm is refused.
    let hmac = create(&kms, KeySpec::Hmac384, KeyUsageType::GenerateVerifyMac).await;
    let meta = kms
        .describe_key()
        .key_id(&hmac)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.mac_algorithms(), [MacAlgorithmSpec::HmacSha384]);
    let mac = kms
        .generate_mac()
        .key_id(&hmac)
        .message(Blob::new("m"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .send()
        .await
        .unwrap();
    let tag = mac.mac().unwrap().as_ref().to_vec();
    assert_eq!(tag.len(), 48);
    let ok = cluster
        .client(2)
        .verify_mac()
        .key_id(&hmac)
        .message(Blob::new("m"))
        .mac(Blob::new(tag.clone()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .send()
        .await
        .unwrap();
    assert!(ok.mac_valid());
    let mut bad = tag;
    bad[0] ^= 0x80;
    let err = kms
        .verify_mac()
        .key_id(&hmac)
        .message(Blob::new("m"))
        .mac(Blob::new(bad))
        .mac_algorithm(MacAlgorithmSpec::HmacSha384)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("KMSInvalidMacException"));
    let wrong = kms
        .generate_mac()
        .key_id(&hmac)
        .message(Blob::new("m"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await;
    assert_eq!(wrong.unwrap_err().code(), Some("InvalidKeyUsageException"));

    // ECDH: Trent's secret with OpenSSL's public key equals OpenSSL's secret with Trent's.
    let ecdh = create(&kms, KeySpec::EccNistP384, KeyUsageType::KeyAgreement).await;
    let public = kms.get_public_key().key_id(&ecdh).send().await.unwrap();
    write(
        dir.path(),
        "trent.der",
        public.public_key().unwrap().as_ref(),
    );
    openssl(
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "peer.pem",
        ],
        dir.path(),
    );
    openssl(
        &[
            "pkey", "-in", "peer.pem", "-pubout", "-outform", "DER", "-out", "peer.der",
        ],
        dir.path(),
    );
    openssl(
        &[
            "pkey",
            "-in",
            "trent.der",
            "-pubin",
            "-inform",
            "DER",
            "-out",
            "trent.pem",
            "-pubout",
        ],
        dir.path(),
    );
    let expected = openssl(
        &[
            "pkeyutl",
            "-derive",
            "-inkey",
            "peer.pem",
            "-peerkey",
            "trent.pem",
        ],
        dir.path(),
    );
    let peer = std::fs::read(dir.path().join("peer.der")).unwrap();
    let derived = kms
        .derive_shared_secret()
        .key_id(&ecdh)
        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
        .public_key(Blob::new(peer))
        .send()
        .await
        .unwrap();
    assert_eq!(
        derived.shared_secret().unwrap().as_ref(),
        expected.as_slice()
    );

    // GenerateDataKeyPair: the private key is PKCS#8 (OpenSSL reads it) and also sealed under
    // the symmetric key; the WithoutPlaintext form returns no private key.
    let pair = kms
        .generate_data_key_pair()
        .key_id(&symmetric)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await
        .unwrap();
    write(
        dir.path(),
        "pair.der",
        pair.private_key_plaintext().unwrap().as_ref(),
    );
    let derived_public = openssl(
        &[
            "pkey", "-in", "pair.der", "-inform", "DER", "-pubout", "-outform", "DER",
        ],
        dir.path(),
    );
    assert_eq!(
        derived_public.as_slice(),
        pair.public_key().unwrap().as_ref()
    );
    let opened = kms
        .decrypt()
        .ciphertext_blob(pair.private_key_ciphertext_blob.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.plaintext().unwrap().as_ref(),
        pair.private_key_plaintext().unwrap().as_ref()
    );
    let without = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(&symmetric)
        .key_pair_spec(DataKeyPairSpec::Rsa2048)
        .send()
        .await
        .unwrap();
    assert!(without.public_key().is_some());
    let on_asymmetric = kms
        .generate_data_key_pair()
        .key_id(&rsa)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .send()
        .await;
    assert_eq!(
        on_asymmetric.unwrap_err().code(),
        Some("InvalidKeyUsageException")
    );
}
