//! Every operation of the region issue through the official `aws-sdk-kms` client against a
//! real 3-node region, error paths included.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeySpec, KeyState, KeyUsageType, Tag};
use trent_tests::{Cluster, ACCOUNT, REGION};

fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "Ok".to_string(),
        Err(e) => e.code().unwrap_or("no code").to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_lifecycle_aliases_tags_and_policies() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let follower = cluster.client(2);

    // CreateKey with defaults matches the seed's KeyMetadata.
    let created = kms.create_key().description("first").send().await.unwrap();
    let meta = created.key_metadata().unwrap();
    let key_id = meta.key_id().to_string();
    assert_eq!(
        meta.arn(),
        Some(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}").as_str())
    );
    assert_eq!(meta.aws_account_id(), Some(ACCOUNT));
    assert_eq!(meta.key_spec(), Some(&KeySpec::SymmetricDefault));
    assert_eq!(meta.key_usage(), Some(&KeyUsageType::EncryptDecrypt));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(meta.enabled());
    assert!(!meta.multi_region().unwrap());
    assert_eq!(meta.description(), Some("first"));
    assert_eq!(meta.current_key_material_id().map(str::len), Some(64));
    assert_eq!(meta.encryption_algorithms().len(), 1);

    // Any node serves it, by id, ARN, alias name and alias ARN.
    let described = follower
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(described.key_metadata().unwrap().key_id(), key_id);
    follower
        .create_alias()
        .alias_name("alias/app")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    for reference in [
        meta.arn().unwrap().to_string(),
        "alias/app".to_string(),
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app"),
    ] {
        let described = kms.describe_key().key_id(&reference).send().await.unwrap();
        assert_eq!(
            described.key_metadata().unwrap().key_id(),
            key_id,
            "{reference}"
        );
    }
    assert_eq!(
        code(kms.describe_key().key_id("alias/missing").send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(kms.describe_key().key_id("not-a-key").send().await),
        "NotFoundException"
    );
    let unknown = "11111111-2222-3333-4444-555555555555";
    assert_eq!(
        code(kms.describe_key().key_id(unknown).send().await),
        "NotFoundException"
    );
    assert_eq!(
        code(
            kms.describe_key()
                .key_id("arn:aws:s3:::bucket")
                .send()
                .await
        ),
        "InvalidArnException"
    );

    // Aliases: reserved prefix, duplicates, update, list, delete.
    assert_eq!(
        code(
            kms.create_alias()
                .alias_name("alias/aws/s3")
                .target_key_id(&key_id)
                .send()
                .await
        ),
        "NotAuthorizedException"
    );
    assert_eq!(
        code(
            kms.create_alias()
                .alias_name("alias/app")
                .target_key_id(&key_id)
                .send()
                .await
        ),
        "AlreadyExistsException"
    );
    assert_eq!(
        code(
            kms.create_alias()
                .alias_name("bad name")
                .target_key_id(&key_id)
                .send()
                .await
        ),
        "ValidationException"
    );
    let second = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_string();
    kms.update_alias()
        .alias_name("alias/app")
        .target_key_id(&second)
        .send()
        .await
        .unwrap();
    let listed = kms.list_aliases().key_id(&second).send().await.unwrap();
    assert_eq!(listed.aliases().len(), 1);
    assert_eq!(listed.aliases()[0].alias_name(), Some("alias/app"));
    assert_eq!(listed.aliases()[0].target_key_id(), Some(second.as_str()));
    kms.delete_alias()
        .alias_name("alias/app")
        .send()
        .await
        .unwrap();
    assert_eq!(
        code(kms.delete_alias().alias_name("alias/app").send().await),
        "NotFoundException"
    );

    // Description, enable/disable with the key-state table.
    kms.update_key_description()
        .key_id(&key_id)
        .description("second")
        .send()
        .await
        .unwrap();
    kms.disable_key().key_id(&key_id).send().await.unwrap();
    let meta = follower
        .describe_key()
        .key_id(&key_id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.description(), Some("second"));
    assert_eq!(meta.key_state(), Some(&KeyState::Disabled));
    assert!(!meta.enabled());
    let encrypt = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(code(encrypt), "DisabledException");
    kms.enable_key().key_id(&key_id).send().await.unwrap();

    // Tags.
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();
    kms.tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "a"))
        .tags(tag("env", "test"))
        .send()
        .await
        .unwrap();
    kms.tag_resource()
        .key_id(&key_id)
        .tags(tag("team", "b"))
        .send()
        .await
        .unwrap();
    kms.untag_resource()
        .key_id(&key_id)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let tags = follower
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    assert_eq!(tags.tags()[0].tag_value(), "b");
    assert_eq!(
        code(
            kms.tag_resource()
                .key_id(&key_id)
                .tags(tag("aws:x", "y"))
                .send()
                .await
        ),
        "TagException"
    );

    // Policies: the default policy, put, validation.
    let policy = kms.get_key_policy().key_id(&key_id).send().await.unwrap();
    let document: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(
        document["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(document["Statement"][0]["Action"], "kms:*");
    assert_eq!(policy.policy_name(), Some("default"));
    let new_policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}"#;
    kms.put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(new_policy)
        .send()
        .await
        .unwrap();
    let policy = follower
        .get_key_policy()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(policy.policy(), Some(new_policy));
    let malformed = kms
        .put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy("{nope")
        .send()
        .await;
    assert_eq!(code(malformed), "MalformedPolicyDocumentException");
    let names = kms
        .list_key_policies()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(names.policy_names(), ["default"]);

    // Deletion: window bounds, PendingDeletion, cancel returns Disabled.
    let too_short = kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(6)
        .send()
        .await;
    assert_eq!(code(too_short), "ValidationException");
    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&key_id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    assert!(scheduled.deletion_date().is_some());
    assert_eq!(
        code(kms.enable_key().key_id(&key_id).send().await),
        "KMSInvalidStateException"
    );
    let encrypt = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new("x"))
        .send()
        .await;
    assert_eq!(code(encrypt), "KMSInvalidStateException");
    kms.cancel_key_deletion()
        .key_id(&key_id)
        .send()
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
    assert_eq!(meta.key_state(), Some(&KeyState::Disabled));
    assert_eq!(
        code(kms.cancel_key_deletion().key_id(&key_id).send().await),
        "KMSInvalidStateException"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_keys_paginates_and_create_key_validates() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(1);
    let mut created = Vec::new();
    for _ in 0..7 {
        created.push(trent_tests::new_key(&kms).await);
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = kms
            .list_keys()
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert!(page.keys().len() <= 3);
        seen.extend(page.keys().iter().map(|k| k.key_id().unwrap().to_string()));
        if !page.truncated() {
            assert!(page.next_marker().is_none());
            break;
        }
        marker = page.next_marker().map(String::from);
    }
    created.sort();
    assert_eq!(seen, created);
    assert_eq!(
        code(kms.list_keys().limit(0).send().await),
        "ValidationException"
    );
    assert_eq!(
        code(kms.list_keys().marker("garbage").send().await),
        "InvalidMarkerException"
    );

    // Key spec and usage pairs are validated; valid but unimplemented origins say so.
    let hmac_default_usage = kms.create_key().key_spec(KeySpec::Hmac256).send().await;
    assert_eq!(code(hmac_default_usage), "ValidationException");
    // SM2 exists only in China regions: outside them AWS refuses it as unsupported there
    // (t63 covers SM2 in cn-north-1).
    let sm2 = kms
        .create_key()
        .key_spec(KeySpec::Sm2)
        .key_usage(KeyUsageType::SignVerify)
        .send()
        .await;
    assert_eq!(code(sm2), "UnsupportedOperationException");
    let ecc_encrypt = kms.create_key().key_spec(KeySpec::EccNistP256).send().await;
    assert_eq!(code(ecc_encrypt), "ValidationException");
    // Origin EXTERNAL: a key without material, waiting for ImportKeyMaterial.
    let external = kms
        .create_key()
        .origin(aws_sdk_kms::types::OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(external.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(
        external.origin(),
        Some(&aws_sdk_kms::types::OriginType::External)
    );
    let long = kms.create_key().description("x".repeat(8193)).send().await;
    assert_eq!(code(long), "ValidationException");

    // Multi-region primaries carry the mrk- id and configuration.
    let mrk = kms
        .create_key()
        .multi_region(true)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert!(mrk.key_id().starts_with("mrk-") && mrk.key_id().len() == 36);
    let config = mrk.multi_region_configuration().unwrap();
    assert_eq!(config.primary_key().unwrap().region(), Some(REGION));
    assert!(config.replica_keys().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypt_decrypt_reencrypt_and_data_keys() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let other = cluster.client(2);
    let key = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let key2 = kms.create_key().send().await.unwrap().key_metadata.unwrap();
    let plaintext = b"attack at dawn".to_vec();

    let encrypted = kms
        .encrypt()
        .key_id(key.key_id())
        .plaintext(Blob::new(plaintext.clone()))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(encrypted.key_id(), key.arn());
    let blob = encrypted.ciphertext_blob().unwrap().clone();

    // Decrypt needs no KeyId, on any node; the context must match.
    let decrypted = other
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(
        decrypted.plaintext().unwrap().as_ref(),
        plaintext.as_slice()
    );
    assert_eq!(decrypted.key_id(), key.arn());
    let wrong_context = other.decrypt().ciphertext_blob(blob.clone()).send().await;
    assert_eq!(code(wrong_context), "InvalidCiphertextException");
    let wrong_key = other
        .decrypt()
        .ciphertext_blob(blob.clone())
        .key_id(key2.key_id())
        .encryption_context("purpose", "test")
        .send()
        .await;
    assert_eq!(code(wrong_key), "IncorrectKeyException");

    // Tampering anywhere gives InvalidCiphertextException with no detail.
    let mut tampered = blob.as_ref().to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let err = other
        .decrypt()
        .ciphertext_blob(Blob::new(tampered))
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidCiphertextException"));
    assert!(
        err.message().unwrap_or("").is_empty(),
        "{:?}",
        err.message()
    );
    assert_eq!(
        code(
            other
                .decrypt()
                .ciphertext_blob(Blob::new(vec![7u8; 40]))
                .send()
                .await
        ),
        "InvalidCiphertextException"
    );

    // Size limits.
    let too_big = kms
        .encrypt()
        .key_id(key.key_id())
        .plaintext(Blob::new(vec![0u8; 4097]))
        .send()
        .await;
    assert_eq!(code(too_big), "ValidationException");
    let max = kms
        .encrypt()
        .key_id(key.key_id())
        .plaintext(Blob::new(vec![1u8; 4096]))
        .send()
        .await;
    assert!(max.is_ok());

    // ReEncrypt moves a ciphertext to another key and context.
    let re = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("purpose", "test")
        .destination_key_id(key2.key_id())
        .destination_encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert_eq!(re.source_key_id(), key.arn());
    assert_eq!(re.key_id(), key2.arn());
    let back = other
        .decrypt()
        .ciphertext_blob(re.ciphertext_blob().unwrap().clone())
        .encryption_context("purpose", "moved")
        .send()
        .await
        .unwrap();
    assert_eq!(back.plaintext().unwrap().as_ref(), plaintext.as_slice());

    // GenerateDataKey by KeySpec or NumberOfBytes, never both.
    let data_key = kms
        .generate_data_key()
        .key_id(key.key_id())
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);
    let opened = other
        .decrypt()
        .ciphertext_blob(data_key.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        opened.plaintext().unwrap().as_ref(),
        data_key.plaintext().unwrap().as_ref()
    );
    let sized = kms
        .generate_data_key()
        .key_id(key.key_id())
        .number_of_bytes(64)
        .send()
        .await
        .unwrap();
    assert_eq!(sized.plaintext().unwrap().as_ref().len(), 64);
    let both = kms
        .generate_data_key()
        .key_id(key.key_id())
        .number_of_bytes(16)
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await;
    assert_eq!(code(both), "ValidationException");
    let without = kms
        .generate_data_key_without_plaintext()
        .key_id(key.key_id())
        .key_spec(DataKeySpec::Aes128)
        .send()
        .await
        .unwrap();
    let opened = other
        .decrypt()
        .ciphertext_blob(without.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref().len(), 16);

    // GenerateRandom.
    let random = kms
        .generate_random()
        .number_of_bytes(1024)
        .send()
        .await
        .unwrap();
    assert_eq!(random.plaintext().unwrap().as_ref().len(), 1024);
    assert_eq!(
        code(kms.generate_random().number_of_bytes(1025).send().await),
        "ValidationException"
    );
    assert_eq!(
        code(
            kms.generate_random()
                .number_of_bytes(32)
                .custom_key_store_id("cks-1234567890abcdef0")
                .send()
                .await
        ),
        "CustomKeyStoreNotFoundException"
    );
    let a = kms
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    let b = kms
        .generate_random()
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    assert_ne!(
        a.plaintext().unwrap().as_ref(),
        b.plaintext().unwrap().as_ref()
    );

    // No plaintext or key material reaches disk: the encrypted message, the data key and the
    // GenerateRandom bytes appear in no node's data directory.
    for index in 0..3 {
        let bytes = cluster.data_bytes(index);
        assert!(
            !contains(&bytes, &plaintext),
            "plaintext found on node {index}"
        );
        assert!(
            !contains(&bytes, data_key.plaintext().unwrap().as_ref()),
            "data key found on node {index}"
        );
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Trent does not verify Nitro Enclaves attestation documents, so a request naming a
/// `Recipient` is refused: it must never come back with the plaintext in the clear, as it would
/// if `Recipient` were ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_is_refused_rather_than_ignored() {
    use aws_sdk_kms::types::{KeyEncryptionMechanism, RecipientInfo};
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let key = trent_tests::new_key(&kms).await;
    let recipient = || {
        RecipientInfo::builder()
            .key_encryption_algorithm(KeyEncryptionMechanism::RsaesOaepSha256)
            .attestation_document(Blob::new(b"not an attestation document".to_vec()))
            .build()
    };
    let sealed = trent_tests::encrypt(&kms, &key, "for the enclave only").await;
    let codes = [
        kms.decrypt()
            .ciphertext_blob(sealed.clone())
            .recipient(recipient())
            .send()
            .await
            .map(|out| out.plaintext.is_some())
            .map_err(|e| e.code().map(str::to_string)),
        kms.generate_data_key()
            .key_id(&key)
            .key_spec(DataKeySpec::Aes256)
            .recipient(recipient())
            .send()
            .await
            .map(|out| out.plaintext.is_some())
            .map_err(|e| e.code().map(str::to_string)),
        kms.generate_random()
            .number_of_bytes(32)
            .recipient(recipient())
            .send()
            .await
            .map(|out| out.plaintext.is_some())
            .map_err(|e| e.code().map(str::to_string)),
    ];
    for (i, answer) in codes.into_iter().enumerate() {
        assert_eq!(
            answer,
            Err(Some("UnsupportedOperationException".to_string())),
            "call {i}"
        );
    }
    // Without it the same calls work.
    let opened = kms.decrypt().ciphertext_blob(sealed).send().await.unwrap();
    assert_eq!(opened.plaintext.unwrap().as_ref(), b"for the enclave only");
}
