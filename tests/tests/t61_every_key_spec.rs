//! Every valid KeySpec and KeyUsage pair outside China, created and used through the API on a
//! real region: each signing algorithm signs and verifies, each RSA encryption algorithm round
//! trips, each HMAC key MACs, each key-agreement pair derives the same secret both ways. Also:
//! the KeyMetadata the seed's create-key examples show, field for field.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType};
use trent_tests::{raw_request, Cluster, ACCESS_KEY, SECRET_KEY};

const SPECS: &[(&str, &[&str])] = &[
    ("RSA_2048", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    ("RSA_3072", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    ("RSA_4096", &["ENCRYPT_DECRYPT", "SIGN_VERIFY"]),
    ("ECC_NIST_P256", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
    ("ECC_NIST_P384", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
    ("ECC_NIST_P521", &["SIGN_VERIFY", "KEY_AGREEMENT"]),
    ("ECC_SECG_P256K1", &["SIGN_VERIFY"]),
    ("ECC_NIST_EDWARDS25519", &["SIGN_VERIFY"]),
    ("ML_DSA_44", &["SIGN_VERIFY"]),
    ("ML_DSA_65", &["SIGN_VERIFY"]),
    ("ML_DSA_87", &["SIGN_VERIFY"]),
    ("HMAC_224", &["GENERATE_VERIFY_MAC"]),
    ("HMAC_256", &["GENERATE_VERIFY_MAC"]),
    ("HMAC_384", &["GENERATE_VERIFY_MAC"]),
    ("HMAC_512", &["GENERATE_VERIFY_MAC"]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_spec_and_usage_works_end_to_end() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let message = Blob::new(b"every key spec".to_vec());
    for (spec, usages) in SPECS {
        for usage in *usages {
            let created = kms
                .create_key()
                .key_spec(KeySpec::from(*spec))
                .key_usage(KeyUsageType::from(*usage))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{spec}/{usage}: {e:?}"));
            let meta = created.key_metadata.unwrap();
            let key_id = meta.key_id().to_string();
            match *usage {
                "SIGN_VERIFY" => {
                    assert!(!meta.signing_algorithms().is_empty(), "{spec}");
                    for algorithm in meta.signing_algorithms() {
                        let digest_only = algorithm.as_str() == "ED25519_PH_SHA_512";
                        let (kind, payload) = if digest_only {
                            (
                                aws_sdk_kms::types::MessageType::Digest,
                                Blob::new(vec![5u8; 64]),
                            )
                        } else {
                            (aws_sdk_kms::types::MessageType::Raw, message.clone())
                        };
                        let signed = kms
                            .sign()
                            .key_id(&key_id)
                            .message(payload.clone())
                            .message_type(kind.clone())
                            .signing_algorithm(algorithm.clone())
                            .send()
                            .await
                            .unwrap_or_else(|e| panic!("{spec} {algorithm:?}: {e:?}"));
                        let verified = cluster
                            .client(1)
                            .verify()
                            .key_id(&key_id)
                            .message(payload)
                            .message_type(kind)
                            .signature(signed.signature.unwrap())
                            .signing_algorithm(algorithm.clone())
                            .send()
                            .await
                            .unwrap();
                        assert!(verified.signature_valid(), "{spec} {algorithm:?}");
                    }
                }
                "ENCRYPT_DECRYPT" => {
                    assert_eq!(meta.encryption_algorithms().len(), 2, "{spec}");
                    for algorithm in meta.encryption_algorithms() {
                        let sealed = kms
                            .encrypt()
                            .key_id(&key_id)
                            .plaintext(message.clone())
                            .encryption_algorithm(algorithm.clone())
                            .send()
                            .await
                            .unwrap();
                        let opened = cluster
                            .client(2)
                            .decrypt()
                            .key_id(&key_id)
                            .ciphertext_blob(sealed.ciphertext_blob.unwrap())
                            .encryption_algorithm(algorithm.clone())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(
                            opened.plaintext().unwrap(),
                            &message,
                            "{spec} {algorithm:?}"
                        );
                    }
                }
                "GENERATE_VERIFY_MAC" => {
                    let algorithm = meta.mac_algorithms()[0].clone();
                    let mac = kms
                        .generate_mac()
                        .key_id(&key_id)
                        .message(message.clone())
                        .mac_algorithm(algorithm.clone())
                        .send()
                        .await
                        .unwrap();
                    let ok = cluster
                        .client(1)
                        .verify_mac()
                        .key_id(&key_id)
                        .message(message.clone())
                        .mac(mac.mac.unwrap())
                        .mac_algorithm(algorithm)
                        .send()
                        .await
                        .unwrap();
                    assert!(ok.mac_valid(), "{spec}");
                }
                "KEY_AGREEMENT" => {
                    let other = kms
                        .create_key()
                        .key_spec(KeySpec::from(*spec))
                        .key_usage(KeyUsageType::KeyAgreement)
                        .send()
                        .await
                        .unwrap()
                        .key_metadata
                        .unwrap()
                        .key_id;
                    let public_a = kms
                        .get_public_key()
                        .key_id(&key_id)
                        .send()
                        .await
                        .unwrap()
                        .public_key
                        .unwrap();
                    let public_b = kms
                        .get_public_key()
                        .key_id(&other)
                        .send()
                        .await
                        .unwrap()
                        .public_key
                        .unwrap();
                    let ab = kms
                        .derive_shared_secret()
                        .key_id(&key_id)
                        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                        .public_key(public_b)
                        .send()
                        .await
                        .unwrap();
                    let ba = cluster
                        .client(2)
                        .derive_shared_secret()
                        .key_id(&other)
                        .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                        .public_key(public_a)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(ab.shared_secret(), ba.shared_secret(), "{spec}");
                }
                other => panic!("unexpected usage {other}"),
            }
        }
    }
}

/// The seed's create-key examples, compared field for field (ids, ARNs and dates aside).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_key_metadata_matches_the_seed_examples() {
    let cluster = Cluster::start_with(trent_tests::ClusterOptions {
        nodes: 1,
        ..Default::default()
    })
    .await;
    let addr = cluster.nodes[0].api_addr.clone();
    let cases: [(&str, serde_json::Value); 5] = [
        (
            "{}",
            serde_json::json!({"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "Description": "", "Enabled": true, "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT", "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "MultiRegion": false, "Origin": "AWS_KMS", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}),
        ),
        (
            r#"{"KeySpec":"RSA_4096","KeyUsage":"ENCRYPT_DECRYPT"}"#,
            serde_json::json!({"CustomerMasterKeySpec": "RSA_4096", "Description": "", "Enabled": true, "EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"], "KeyManager": "CUSTOMER", "KeySpec": "RSA_4096", "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "MultiRegion": false, "Origin": "AWS_KMS"}),
        ),
        (
            r#"{"KeySpec":"ECC_NIST_P521","KeyUsage":"SIGN_VERIFY"}"#,
            serde_json::json!({"CustomerMasterKeySpec": "ECC_NIST_P521", "Description": "", "Enabled": true, "KeyManager": "CUSTOMER", "KeySpec": "ECC_NIST_P521", "KeyState": "Enabled", "KeyUsage": "SIGN_VERIFY", "MultiRegion": false, "Origin": "AWS_KMS", "SigningAlgorithms": ["ECDSA_SHA_512"]}),
        ),
        (
            r#"{"KeySpec":"HMAC_384","KeyUsage":"GENERATE_VERIFY_MAC"}"#,
            serde_json::json!({"CustomerMasterKeySpec": "HMAC_384", "Description": "", "Enabled": true, "KeyManager": "CUSTOMER", "KeySpec": "HMAC_384", "KeyState": "Enabled", "KeyUsage": "GENERATE_VERIFY_MAC", "MacAlgorithms": ["HMAC_SHA_384"], "MultiRegion": false, "Origin": "AWS_KMS"}),
        ),
        (
            r#"{"MultiRegion":true}"#,
            serde_json::json!({"CustomerMasterKeySpec": "SYMMETRIC_DEFAULT", "Description": "", "Enabled": true, "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT", "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT", "MultiRegion": true, "Origin": "AWS_KMS"}),
        ),
    ];
    let volatile = [
        "AWSAccountId",
        "Arn",
        "CreationDate",
        "KeyId",
        "CurrentKeyMaterialId",
        "MultiRegionConfiguration",
    ];
    for (request, expected) in cases {
        let (status, body) = raw_request(
            &addr,
            Some("TrentService.CreateKey"),
            "application/x-amz-json-1.1",
            request.as_bytes(),
            Some((ACCESS_KEY, SECRET_KEY)),
        )
        .await;
        assert_eq!(status, 200, "{request}: {body}");
        let mut metadata = body["KeyMetadata"].as_object().unwrap().clone();
        assert_eq!(metadata["AWSAccountId"], "111122223333");
        for field in volatile {
            metadata.remove(field);
        }
        assert_eq!(serde_json::Value::Object(metadata), expected, "{request}");
    }
}
