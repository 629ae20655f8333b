//! Imported key material (Origin EXTERNAL) through `aws-sdk-kms` against a real region, by
//! AWS's documented procedure with the OpenSSL CLI: GetParametersForImport, openssl wraps the
//! material (RSAES_OAEP_SHA_1/256 with `pkeyutl`, RSA_AES_KEY_WRAP_SHA_1/256 with
//! `enc -id-aes256-wrap-pad` and `pkeyutl`), ImportKeyMaterial, use. Results are checked outside
//! Trent: signatures verify in openssl with the public key of the local private key, MACs equal
//! `openssl dgst -hmac`. Then deletion, re-import and expiry across a leader kill.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec,
    OriginType, SigningAlgorithmSpec, WrappingKeySpec,
};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
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

/// Generates a private key with `openssl genpkey ARGS` and writes it to `out` as PKCS#8 DER,
/// the form AWS requires for asymmetric material. (On OpenSSL 3, `genpkey -outform DER`
/// writes the traditional PKCS#1 / SEC1 form, which is not PKCS#8; its PEM output is.)
fn genpkey_pkcs8_der(args: &[&str], dir: &Path, out: &str) {
    let mut genpkey = vec!["genpkey"];
    genpkey.extend(args);
    genpkey.extend(["-out", "generated.pem"]);
    openssl(&genpkey, dir);
    openssl(
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "generated.pem",
            "-outform",
            "DER",
            "-out",
            out,
        ],
        dir,
    );
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Wraps the file `material` for `public_key` (GetParametersForImport's DER) with `algorithm`,
/// as AWS's guide does it with openssl.
fn openssl_wrap(
    dir: &Path,
    public_key: &[u8],
    algorithm: &AlgorithmSpec,
    material: &str,
) -> Vec<u8> {
    std::fs::write(dir.join("PublicKey.bin"), public_key).unwrap();
    let digest = match algorithm {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaAesKeyWrapSha1 => "sha1",
        _ => "sha256",
    };
    let oaep = |input: &str, output: &str| {
        openssl(
            &[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-keyform",
                "DER",
                "-inkey",
                "PublicKey.bin",
                "-in",
                input,
                "-out",
                output,
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                &format!("rsa_oaep_md:{digest}"),
                "-pkeyopt",
                &format!("rsa_mgf1_md:{digest}"),
            ],
            dir,
        );
    };
    match algorithm {
        AlgorithmSpec::RsaesOaepSha1 | AlgorithmSpec::RsaesOaepSha256 => {
            oaep(material, "wrapped.bin");
            read(dir, "wrapped.bin")
        }
        _ => {
            openssl(&["rand", "-out", "aes.bin", "32"], dir);
            let aes = hex(&read(dir, "aes.bin"));
            openssl(
                &[
                    "enc",
                    "-id-aes256-wrap-pad",
                    "-iv",
                    "A65959A6",
                    "-K",
                    &aes,
                    "-in",
                    material,
                    "-out",
                    "material.w",
                ],
                dir,
            );
            oaep("aes.bin", "aes.w");
            let mut blob = read(dir, "aes.w");
            blob.extend(read(dir, "material.w"));
            blob
        }
    }
}

async fn create_external(kms: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let created = kms
        .create_key()
        .origin(OriginType::External)
        .key_spec(spec.clone())
        .key_usage(usage)
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata.unwrap();
    assert_eq!(meta.origin(), Some(&OriginType::External));
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert!(!meta.enabled());
    assert_eq!(meta.expiration_model(), None);
    assert_eq!(meta.valid_to(), None);
    assert_eq!(meta.current_key_material_id(), None);
    meta.key_id
}

/// GetParametersForImport, openssl wraps `material`, ImportKeyMaterial; the material id.
async fn import(
    kms: &aws_sdk_kms::Client,
    dir: &Path,
    key_id: &str,
    spec: WrappingKeySpec,
    algorithm: AlgorithmSpec,
    material: &str,
    valid_to: Option<DateTime>,
) -> Result<String, String> {
    let parameters = kms
        .get_parameters_for_import()
        .key_id(key_id)
        .wrapping_algorithm(algorithm.clone())
        .wrapping_key_spec(spec)
        .send()
        .await
        .unwrap();
    let valid_for = parameters.parameters_valid_to().unwrap().secs() - now_secs();
    assert!((86_000..=86_400).contains(&valid_for), "{valid_for}");
    let wrapped = openssl_wrap(
        dir,
        parameters.public_key().unwrap().as_ref(),
        &algorithm,
        material,
    );
    let mut request = kms
        .import_key_material()
        .key_id(key_id)
        .import_token(parameters.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrapped));
    request = match valid_to {
        Some(at) => request
            .expiration_model(ExpirationModelType::KeyMaterialExpires)
            .valid_to(at),
        None => request.expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire),
    };
    match request.send().await {
        Ok(out) => Ok(out.key_material_id().unwrap().to_string()),
        Err(e) => Err(e.into_service_error().code().unwrap_or("?").to_string()),
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn state(kms: &aws_sdk_kms::Client, key_id: &str) -> KeyState {
    let described = kms.describe_key().key_id(key_id).send().await.unwrap();
    described.key_metadata.unwrap().key_state.unwrap()
}

async fn decrypt(kms: &aws_sdk_kms::Client, blob: &Blob) -> Result<Vec<u8>, String> {
    match kms.decrypt().ciphertext_blob(blob.clone()).send().await {
        Ok(out) => Ok(out.plaintext.unwrap().into_inner()),
        Err(e) => Err(e.into_service_error().code().unwrap_or("?").to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn symmetric_material_by_every_wrapping_algorithm_deleted_and_reimported() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl(&["rand", "-out", "aes-material.bin", "32"], dir);
    openssl(&["rand", "-out", "other-material.bin", "32"], dir);
    let key_id = create_external(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;

    // AWS refuses the PKCS#1 v1.5 wrapping algorithm.
    let refused = kms
        .get_parameters_for_import()
        .key_id(&key_id)
        .wrapping_algorithm(AlgorithmSpec::RsaesPkcs1V15)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.into_service_error().code(),
        Some("ValidationException")
    );
    // Before any import the key cannot encrypt.
    let early = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        early.into_service_error().code(),
        Some("KMSInvalidStateException")
    );

    let material_id = import(
        &kms,
        dir,
        &key_id,
        WrappingKeySpec::Rsa2048,
        AlgorithmSpec::RsaesOaepSha1,
        "aes-material.bin",
        None,
    )
    .await
    .unwrap();
    let meta = kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    assert_eq!(meta.current_key_material_id(), Some(material_id.as_str()));
    let secret = b"imported secret".to_vec();
    let ciphertext = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(secret.clone()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    assert_eq!(decrypt(&kms, &ciphertext).await.unwrap(), secret);

    // Different material is not this key's material.
    let other = import(
        &kms,
        dir,
        &key_id,
        WrappingKeySpec::Rsa3072,
        AlgorithmSpec::RsaesOaepSha256,
        "other-material.bin",
        None,
    )
    .await;
    assert_eq!(other.unwrap_err(), "IncorrectKeyMaterialException");

    // Each remaining algorithm: delete, decrypt fails, re-import the same bytes, decrypt again.
    let rounds = [
        (WrappingKeySpec::Rsa3072, AlgorithmSpec::RsaesOaepSha256),
        (WrappingKeySpec::Rsa4096, AlgorithmSpec::RsaAesKeyWrapSha1),
        (WrappingKeySpec::Rsa2048, AlgorithmSpec::RsaAesKeyWrapSha256),
    ];
    for (spec, algorithm) in rounds {
        let deleted = kms
            .delete_imported_key_material()
            .key_id(&key_id)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.key_material_id(), Some(material_id.as_str()));
        for node in 0..3 {
            let kms = cluster.client(node);
            assert_eq!(state(&kms, &key_id).await, KeyState::PendingImport);
            assert_eq!(
                decrypt(&kms, &ciphertext).await.unwrap_err(),
                "KMSInvalidStateException"
            );
        }
        let again = import(
            &kms,
            dir,
            &key_id,
            spec,
            algorithm.clone(),
            "aes-material.bin",
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
        assert_eq!(again, material_id, "{algorithm:?}");
        for node in 0..3 {
            let kms = cluster.client(node);
            assert_eq!(
                decrypt(&kms, &ciphertext).await.unwrap(),
                secret,
                "{algorithm:?}"
            );
        }
    }

    // An import token is bound to its key.
    let second = create_external(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let parameters = kms
        .get_parameters_for_import()
        .key_id(&second)
        .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
        .wrapping_key_spec(WrappingKeySpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let wrapped = openssl_wrap(
        dir,
        parameters.public_key().unwrap().as_ref(),
        &AlgorithmSpec::RsaesOaepSha256,
        "aes-material.bin",
    );
    let foreign = kms
        .import_key_material()
        .key_id(&key_id)
        .import_token(parameters.import_token().unwrap().clone())
        .encrypted_key_material(Blob::new(wrapped))
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        foreign.into_service_error().code(),
        Some("InvalidImportTokenException")
    );

    // The material never reaches the disk in plaintext.
    let material = read(dir, "aes-material.bin");
    for node in 0..3 {
        let bytes = cluster.data_bytes(node);
        assert!(!bytes
            .windows(material.len())
            .any(|w| w == material.as_slice()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imported_signing_and_mac_keys_agree_with_openssl() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(1);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("msg"), b"the quick brown fox").unwrap();

    // HMAC_256 with a 64-byte key.
    openssl(&["rand", "-out", "hmac.bin", "64"], dir);
    let hmac_key = create_external(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    import(
        &kms,
        dir,
        &hmac_key,
        WrappingKeySpec::Rsa2048,
        AlgorithmSpec::RsaesOaepSha256,
        "hmac.bin",
        None,
    )
    .await
    .unwrap();
    let mac = kms
        .generate_mac()
        .key_id(&hmac_key)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(read(dir, "msg")))
        .send()
        .await
        .unwrap()
        .mac
        .unwrap()
        .into_inner();
    let hexkey = format!("hexkey:{}", hex(&read(dir, "hmac.bin")));
    let expected = openssl(
        &[
            "dgst", "-sha256", "-mac", "HMAC", "-macopt", &hexkey, "-binary", "msg",
        ],
        dir,
    );
    assert_eq!(mac, expected);
    // A 16-byte HMAC key is below HMAC_256's minimum.
    openssl(&["rand", "-out", "short.bin", "16"], dir);
    let short = create_external(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let refused = import(
        &kms,
        dir,
        &short,
        WrappingKeySpec::Rsa2048,
        AlgorithmSpec::RsaesOaepSha256,
        "short.bin",
        None,
    )
    .await;
    assert_eq!(refused.unwrap_err(), "IncorrectKeyMaterialException");

    let cases = [
        (
            KeySpec::EccNistP256,
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            SigningAlgorithmSpec::EcdsaSha256,
            AlgorithmSpec::RsaAesKeyWrapSha1,
            WrappingKeySpec::Rsa2048,
        ),
        (
            KeySpec::EccNistP384,
            vec!["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
            SigningAlgorithmSpec::EcdsaSha384,
            AlgorithmSpec::RsaesOaepSha256,
            WrappingKeySpec::Rsa3072,
        ),
        (
            KeySpec::Rsa2048,
            vec!["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
            AlgorithmSpec::RsaAesKeyWrapSha256,
            WrappingKeySpec::Rsa4096,
        ),
    ];
    for (spec, genpkey, signing, algorithm, wrapping) in cases {
        genpkey_pkcs8_der(&genpkey, dir, "private.der");
        openssl(
            &[
                "pkey",
                "-inform",
                "DER",
                "-in",
                "private.der",
                "-pubout",
                "-out",
                "public.pem",
            ],
            dir,
        );
        let public_der = openssl(
            &[
                "pkey",
                "-inform",
                "DER",
                "-in",
                "private.der",
                "-pubout",
                "-outform",
                "DER",
            ],
            dir,
        );
        let key_id = create_external(&kms, spec.clone(), KeyUsageType::SignVerify).await;
        import(&kms, dir, &key_id, wrapping, algorithm, "private.der", None)
            .await
            .unwrap_or_else(|e| panic!("{spec:?}: {e}"));
        let public = kms.get_public_key().key_id(&key_id).send().await.unwrap();
        assert_eq!(
            public.public_key.unwrap().into_inner(),
            public_der,
            "{spec:?}"
        );
        let signature = kms
            .sign()
            .key_id(&key_id)
            .signing_algorithm(signing.clone())
            .message(Blob::new(read(dir, "msg")))
            .send()
            .await
            .unwrap()
            .signature
            .unwrap()
            .into_inner();
        std::fs::write(dir.join("sig.bin"), signature).unwrap();
        let digest = if signing == SigningAlgorithmSpec::EcdsaSha384 {
            "-sha384"
        } else {
            "-sha256"
        };
        let verified = openssl(
            &[
                "dgst",
                digest,
                "-verify",
                "public.pem",
                "-signature",
                "sig.bin",
                "msg",
            ],
            dir,
        );
        assert!(
            String::from_utf8_lossy(&verified).contains("Verified OK"),
            "{spec:?}"
        );
    }

    // A P-256 private key is not material for a P-384 key.
    genpkey_pkcs8_der(
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        dir,
        "p256.der",
    );
    let p384 = create_external(&kms, KeySpec::EccNistP384, KeyUsageType::SignVerify).await;
    let refused = import(
        &kms,
        dir,
        &p384,
        WrappingKeySpec::Rsa2048,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        "p256.der",
        None,
    )
    .await;
    assert_eq!(refused.unwrap_err(), "IncorrectKeyMaterialException");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn material_expires_once_on_time_on_every_node_across_a_leader_kill() {
    let mut cluster = Cluster::start().await;
    let leader = cluster.leader().await;
    let kms = cluster.client(leader);
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    openssl(&["rand", "-out", "aes-material.bin", "32"], dir);
    let key_id = create_external(
        &kms,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let valid_to = now_secs() + 12;
    import(
        &kms,
        dir,
        &key_id,
        WrappingKeySpec::Rsa2048,
        AlgorithmSpec::RsaAesKeyWrapSha256,
        "aes-material.bin",
        Some(DateTime::from_secs(valid_to)),
    )
    .await
    .unwrap();
    let meta = kms
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(meta.valid_to().unwrap().secs(), valid_to);
    let ciphertext = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("expiring"))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();

    // The leader dies before ValidTo: its successor's task must delete the material.
    cluster.kill(leader);
    let survivor = (leader + 1) % 3;
    let reader = cluster.client(survivor);
    let new_leader = cluster.leader().await;
    assert_ne!(new_leader, leader);
    // Not early: until ValidTo the material still decrypts.
    while now_secs() < valid_to - 1 {
        assert_eq!(decrypt(&reader, &ciphertext).await.unwrap(), b"expiring");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // On time: within a few seconds of ValidTo, on each running node.
    let expired = trent_tests::poll(Duration::from_secs(20), || async {
        (state(&reader, &key_id).await == KeyState::PendingImport).then(now_secs)
    })
    .await
    .expect("the material never expired");
    assert!(
        expired >= valid_to,
        "deleted at {expired}, before ValidTo {valid_to}"
    );
    assert!(
        expired <= valid_to + 4,
        "deleted at {expired}, ValidTo was {valid_to}"
    );
    for node in [survivor, (leader + 2) % 3] {
        let kms = cluster.client(node);
        assert_eq!(state(&kms, &key_id).await, KeyState::PendingImport);
        assert_eq!(
            decrypt(&kms, &ciphertext).await.unwrap_err(),
            "KMSInvalidStateException"
        );
    }
    // The old leader, restarted, has it deleted too.
    cluster.restart(leader).await;
    assert_eq!(
        state(&cluster.client(leader), &key_id).await,
        KeyState::PendingImport
    );

    // Once: exactly one committed expiry deleted something, and the re-imported material is
    // not deleted by a late repeat.
    let deletions: usize = (0..3)
        .map(|node| {
            cluster
                .log(node)
                .lines()
                .filter(|l| l.contains("past its ValidTo") && l.contains("Deleted(1)"))
                .count()
        })
        .sum();
    assert_eq!(deletions, 1, "expiry applied by more than one proposal");
    import(
        &kms_for(&cluster, survivor),
        dir,
        &key_id,
        WrappingKeySpec::Rsa2048,
        AlgorithmSpec::RsaesOaepSha256,
        "aes-material.bin",
        None,
    )
    .await
    .unwrap();
    for node in 0..3 {
        let kms = cluster.client(node);
        let reopened = trent_tests::poll(Duration::from_secs(10), || async {
            decrypt(&kms, &ciphertext).await.ok()
        })
        .await;
        assert_eq!(reopened.as_deref(), Some(&b"expiring"[..]), "node {node}");
    }
}

fn kms_for(cluster: &Cluster, node: usize) -> aws_sdk_kms::Client {
    cluster.client(node)
}
