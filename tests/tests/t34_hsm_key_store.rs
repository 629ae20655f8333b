//! An HSM key store (CustomKeyStoreType AWS_CLOUDHSM) backed by a SoftHSM2 token, through
//! `aws-sdk-kms` against a real 3-node region: AWS's checks on CreateCustomKeyStore, connect,
//! a key whose material the token generates (listed with OpenSC's `pkcs11-tool`, a PKCS#11
//! client that is not Trent's, as sensitive and never extractable), encryption through any
//! node, disconnect (the key Unavailable, AWS's errors), a wrong password (FAILED,
//! INVALID_CREDENTIALS), reconnect, and deletion rules.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, KeyState, OriginType,
};
use trent_tests::{
    key_store_state, plan_addrs, poll, wait_key_store_state, Cluster, ClusterOptions,
};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const CLUSTER_ID: &str = "cluster-t34token0001";
const PIN: &str = "t34-user-pin";

/// A SoftHSM2 token labelled [`CLUSTER_ID`] under `dir`, made with `softhsm2-util`; returns
/// its `SOFTHSM2_CONF`.
fn softhsm_token(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args(["--init-token", "--free", "--label", CLUSTER_ID])
        .args(["--so-pin", "t34-so-pin", "--pin", PIN])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    conf
}

/// `pkcs11-tool --list-objects` on the token, logged in.
fn list_objects(conf: &Path) -> String {
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", conf)
        .args(["--module", MODULE, "--token-label", CLUSTER_ID])
        .args(["--login", "--pin", PIN, "--list-objects"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The object block of `pkcs11-tool`'s listing whose label is `label`.
fn object_listing<'a>(listing: &'a str, label: &str) -> Option<&'a str> {
    listing
        .split("Secret Key Object")
        .find(|block| block.contains(&format!("label:      {label}\n")))
}

fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("?").to_string(),
    }
}

/// A 3-node region whose nodes reach a fresh SoftHSM2 token (in the returned directory, with
/// the returned `SOFTHSM2_CONF`) as their PKCS#11 module; `test_hooks`: `trent-test` nodes.
async fn hsm_region(test_hooks: bool) -> (tempfile::TempDir, PathBuf, Cluster) {
    let hsm_dir = tempfile::tempdir().unwrap();
    let conf = softhsm_token(hsm_dir.path());
    let options = ClusterOptions {
        test_hooks,
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::prepare(&options, &plan_addrs(3));
    for index in 0..3 {
        let path = cluster.config_path(index).to_path_buf();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!(
            "\n[custom_key_stores]\npkcs11_module = \"{MODULE}\"\nsofthsm2_conf = \"{}\"\nhealth_check_secs = 1\n",
            conf.display()
        ));
        std::fs::write(&path, text).unwrap();
    }
    cluster.spawn_all();
    cluster.wait_ready().await;
    (hsm_dir, conf, cluster)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hsm_key_store_holds_keys_that_never_leave_its_token() {
    let (_hsm_dir, conf, mut cluster) = hsm_region(false).await;
    let kms = cluster.client(0);
    let anchor = std::fs::read_to_string(cluster.ca_path()).unwrap();

    // AWS's checks before anything is created.
    let create = |name: &str, cluster_id: &str, anchor: &str, password: &str| {
        kms.create_custom_key_store()
            .custom_key_store_name(name)
            .cloud_hsm_cluster_id(cluster_id)
            .trust_anchor_certificate(anchor)
            .key_store_password(password)
            .send()
    };
    assert_eq!(
        code(create("hsm", "cluster-nosuchtoken01", &anchor, PIN).await),
        "CloudHsmClusterNotFoundException"
    );
    assert_eq!(
        code(create("hsm", CLUSTER_ID, "not a certificate", PIN).await),
        "IncorrectTrustAnchorException"
    );
    assert_eq!(
        code(create("hsm", CLUSTER_ID, &anchor, "short").await),
        "ValidationException"
    );
    let store_id = create("hsm", CLUSTER_ID, &anchor, PIN)
        .await
        .unwrap()
        .custom_key_store_id()
        .unwrap()
        .to_string();
    assert!(store_id.starts_with("cks-"), "{store_id}");
    assert_eq!(
        code(create("hsm", CLUSTER_ID, &anchor, PIN).await),
        "CustomKeyStoreNameInUseException"
    );
    assert_eq!(
        code(create("hsm2", CLUSTER_ID, &anchor, PIN).await),
        "CloudHsmClusterInUseException"
    );
    let listed = kms.describe_custom_key_stores().send().await.unwrap();
    let entry = &listed.custom_key_stores()[0];
    assert_eq!(
        entry.custom_key_store_type(),
        Some(&CustomKeyStoreType::AwsCloudhsm)
    );
    assert_eq!(entry.cloud_hsm_cluster_id(), Some(CLUSTER_ID));
    assert_eq!(entry.trust_anchor_certificate(), Some(anchor.as_str()));
    assert_eq!(
        entry.connection_state(),
        Some(&ConnectionStateType::Disconnected)
    );

    // A disconnected store takes no keys.
    let create_key = || {
        kms.create_key()
            .origin(OriginType::AwsCloudhsm)
            .custom_key_store_id(&store_id)
            .send()
    };
    assert_eq!(
        code(create_key().await),
        "CustomKeyStoreInvalidStateException"
    );

    kms.connect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    wait_key_store_state(&kms, &store_id, ConnectionStateType::Connected).await;

    let metadata = create_key().await.unwrap().key_metadata().unwrap().clone();
    let arn = metadata.arn().unwrap().to_string();
    assert_eq!(metadata.origin(), Some(&OriginType::AwsCloudhsm));
    assert_eq!(metadata.custom_key_store_id(), Some(store_id.as_str()));
    assert_eq!(metadata.cloud_hsm_cluster_id(), Some(CLUSTER_ID));
    assert_eq!(metadata.key_state(), Some(&KeyState::Enabled));

    // The material is a token object labelled with the key's ARN: sensitive, never
    // extractable, its value not shown.
    let listing = list_objects(&conf);
    let object = object_listing(&listing, &arn).unwrap_or_else(|| panic!("{listing}"));
    assert!(object.contains("AES length 32"), "{object}");
    assert!(
        object.contains("never extractable") && object.contains("sensitive"),
        "{object}"
    );
    assert!(!object.contains("VALUE:"), "{object}");

    // Encryption through every node, bound to the encryption context.
    let key_id = metadata.key_id().to_string();
    let sealed = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"held by the token".to_vec()))
        .encryption_context("purpose", "t34")
        .send()
        .await
        .unwrap();
    let blob = sealed.ciphertext_blob().unwrap().clone();
    for index in 0..3 {
        let opened = cluster
            .client(index)
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("purpose", "t34")
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), b"held by the token");
        assert_eq!(opened.key_id(), Some(arn.as_str()));
    }
    assert_eq!(
        code(kms.decrypt().ciphertext_blob(blob.clone()).send().await),
        "InvalidCiphertextException"
    );
    let data_key = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);
    let random = kms
        .generate_random()
        .number_of_bytes(48)
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    assert_eq!(random.plaintext().unwrap().as_ref().len(), 48);
    assert_eq!(
        code(
            kms.generate_random()
                .number_of_bytes(8)
                .custom_key_store_id("cks-00000000000000000")
                .send()
                .await
        ),
        "CustomKeyStoreNotFoundException"
    );
    assert_eq!(
        code(
            kms.generate_data_key_pair()
                .key_id(&key_id)
                .key_pair_spec(aws_sdk_kms::types::DataKeyPairSpec::EccNistP256)
                .send()
                .await
        ),
        "UnsupportedOperationException"
    );
    assert_eq!(
        code(
            kms.create_key()
                .origin(OriginType::AwsCloudhsm)
                .custom_key_store_id(&store_id)
                .multi_region(true)
                .send()
                .await
        ),
        "UnsupportedOperationException"
    );

    // Disconnected: the key is Unavailable, and AWS's errors follow.
    kms.disconnect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        key_store_state(&kms, &store_id).await.0,
        ConnectionStateType::Disconnected
    );
    let described = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        described.key_metadata().unwrap().key_state(),
        Some(&KeyState::Unavailable)
    );
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(b"x".to_vec()))
                .send()
                .await
        ),
        "KMSInvalidStateException"
    );
    assert_eq!(
        code(
            kms.decrypt()
                .ciphertext_blob(blob.clone())
                .encryption_context("purpose", "t34")
                .send()
                .await
        ),
        "KMSInvalidStateException"
    );
    assert_eq!(
        code(
            kms.disconnect_custom_key_store()
                .custom_key_store_id(&store_id)
                .send()
                .await
        ),
        "CustomKeyStoreInvalidStateException"
    );
    assert_eq!(
        code(
            kms.delete_custom_key_store()
                .custom_key_store_id(&store_id)
                .send()
                .await
        ),
        "CustomKeyStoreHasCMKsException"
    );

    // A wrong password: the connection fails with AWS's code, and a FAILED store must be
    // disconnected before it connects again.
    kms.update_custom_key_store()
        .custom_key_store_id(&store_id)
        .key_store_password("not-the-pin")
        .send()
        .await
        .unwrap();
    kms.connect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    let failure = wait_key_store_state(&kms, &store_id, ConnectionStateType::Failed).await;
    assert_eq!(failure, Some(ConnectionErrorCodeType::InvalidCredentials));
    assert_eq!(
        code(
            kms.connect_custom_key_store()
                .custom_key_store_id(&store_id)
                .send()
                .await
        ),
        "CustomKeyStoreInvalidStateException"
    );
    kms.disconnect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    kms.update_custom_key_store()
        .custom_key_store_id(&store_id)
        .key_store_password(PIN)
        .new_custom_key_store_name("hsm-renamed")
        .send()
        .await
        .unwrap();
    kms.connect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    wait_key_store_state(&kms, &store_id, ConnectionStateType::Connected).await;
    let renamed = kms
        .describe_custom_key_stores()
        .custom_key_store_name("hsm-renamed")
        .send()
        .await
        .unwrap();
    assert_eq!(
        renamed.custom_key_stores()[0].custom_key_store_id(),
        Some(store_id.as_str())
    );

    // Reconnected, the old ciphertext decrypts again, also after the leader is gone.
    let leader = cluster.leader().await;
    cluster.kill(leader);
    let survivor = (leader + 1) % 3;
    let opened = cluster
        .client(survivor)
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("purpose", "t34")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"held by the token");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_key_loses_its_material_in_the_token() {
    let (_hsm_dir, conf, cluster) = hsm_region(true).await;
    let kms = cluster.client(0);
    let anchor = std::fs::read_to_string(cluster.ca_path()).unwrap();
    let store_id = kms
        .create_custom_key_store()
        .custom_key_store_name("hsm")
        .cloud_hsm_cluster_id(CLUSTER_ID)
        .trust_anchor_certificate(&anchor)
        .key_store_password(PIN)
        .send()
        .await
        .unwrap()
        .custom_key_store_id()
        .unwrap()
        .to_string();
    kms.connect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    wait_key_store_state(&kms, &store_id, ConnectionStateType::Connected).await;
    let mut arns = Vec::new();
    for _ in 0..2 {
        let created = kms
            .create_key()
            .origin(OriginType::AwsCloudhsm)
            .custom_key_store_id(&store_id)
            .send()
            .await
            .unwrap();
        arns.push(created.key_metadata().unwrap().arn().unwrap().to_string());
    }
    let listing = list_objects(&conf);
    assert!(
        arns.iter()
            .all(|arn| object_listing(&listing, arn).is_some()),
        "{listing}"
    );
    kms.schedule_key_deletion()
        .key_id(&arns[0])
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    for index in 0..3 {
        cluster.set_clock_offset(index, 7 * 24 * 3_600_000 + 60_000);
    }
    let gone = poll(Duration::from_secs(20), || async {
        let listing = list_objects(&conf);
        object_listing(&listing, &arns[0])
            .is_none()
            .then_some(listing)
    })
    .await
    .expect("the deleted key's token object is destroyed");
    // The other key's material stays, and the key still works.
    assert!(object_listing(&gone, &arns[1]).is_some(), "{gone}");
    assert_eq!(
        code(kms.describe_key().key_id(&arns[0]).send().await),
        "NotFoundException"
    );
    kms.encrypt()
        .key_id(&arns[1])
        .plaintext(Blob::new(b"still here".to_vec()))
        .send()
        .await
        .unwrap();
}
