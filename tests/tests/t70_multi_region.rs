//! Multi-region keys across two real regions (two Raft clusters of real node processes linked
//! over mutual TLS), through the official SDK: replication of every key class, crypto in one
//! region and its inverse in the other, rotation sync, UpdatePrimaryRegion there and back,
//! deletion, and the link cut or a leader killed in the middle of the protocol.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    EncryptionAlgorithmSpec, KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec, MultiRegionKeyType,
    SigningAlgorithmSpec,
};
use std::time::Duration;
use trent_tests::{eventually, Regions};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const SETTLE: Duration = Duration::from_secs(30);

/// Six node processes per test: one test at a time keeps the 2-core machine responsive and
/// keeps the tests' free-port picks from colliding.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn create_mrk(kms: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    kms.create_key()
        .multi_region(true)
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id
}

async fn describe(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
) -> Option<aws_sdk_kms::types::KeyMetadata> {
    kms.describe_key()
        .key_id(key_id)
        .send()
        .await
        .ok()
        .and_then(|d| d.key_metadata)
}

async fn role(kms: &aws_sdk_kms::Client, key_id: &str) -> Option<(MultiRegionKeyType, KeyState)> {
    let meta = describe(kms, key_id).await?;
    Some((
        meta.multi_region_configuration()?
            .multi_region_key_type()?
            .clone(),
        meta.key_state()?.clone(),
    ))
}

/// Waits until `key_id` is Enabled as `kms` sees it: a new replica is Creating until the
/// replica region has it, as in AWS.
async fn until_enabled(kms: &aws_sdk_kms::Client, key_id: &str) {
    eventually(SETTLE, "the replica is Enabled", || async {
        describe(kms, key_id)
            .await
            .is_some_and(|m| m.key_state() == Some(&KeyState::Enabled))
    })
    .await;
}

async fn replicate(kms: &aws_sdk_kms::Client, key_id: &str, to: &str) {
    let replicated = kms
        .replicate_key()
        .key_id(key_id)
        .replica_region(to)
        .description("replica")
        .send()
        .await
        .unwrap();
    let meta = replicated.replica_key_metadata().unwrap();
    assert!(meta.arn().unwrap().contains(&format!(":{to}:")));
    assert_eq!(meta.key_id(), key_id);
    let config = meta.multi_region_configuration().unwrap();
    assert_eq!(
        config.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert!(replicated.replica_policy().unwrap().contains("kms:*"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_class_works_across_regions_both_ways() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let regions = Regions::start(&[EAST, WEST], 3).await;
    // East's clients talk to east's nodes; west's go through east's first node (one endpoint
    // serves every region) and through west's own nodes.
    let east = regions.region(0).client(1);
    let west_via_east = regions.region(0).client_in(0, WEST);
    let west = regions.region(1).client(2);

    // Symmetric.
    let key = create_mrk(
        &east,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    assert!(key.starts_with("mrk-") && key.len() == 36);
    replicate(&east, &key, WEST).await;
    until_enabled(&west, &key).await;
    for (from, to) in [(&east, &west), (&west, &east), (&west_via_east, &east)] {
        let sealed = trent_tests::encrypt(from, &key, "across").await;
        let opened = to.decrypt().ciphertext_blob(sealed).send().await.unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), b"across");
        assert!(opened.key_id().unwrap().ends_with(&key));
    }
    let (e, w) = (
        describe(&east, &key).await.unwrap(),
        describe(&west, &key).await.unwrap(),
    );
    let (ec, wc) = (
        e.multi_region_configuration().unwrap(),
        w.multi_region_configuration().unwrap(),
    );
    assert_eq!(ec.primary_key(), wc.primary_key());
    assert_eq!(ec.replica_keys(), wc.replica_keys());
    assert_eq!(
        wc.multi_region_key_type(),
        Some(&MultiRegionKeyType::Replica)
    );
    assert_eq!(w.description(), Some("replica"));

    // RSA encryption.
    let rsa = create_mrk(&east, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    replicate(&east, &rsa, WEST).await;
    until_enabled(&west, &rsa).await;
    for (from, to) in [(&east, &west), (&west, &east)] {
        let sealed = from
            .encrypt()
            .key_id(&rsa)
            .plaintext(Blob::new(b"rsa".to_vec()))
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await
            .unwrap();
        let opened = to
            .decrypt()
            .key_id(&rsa)
            .ciphertext_blob(sealed.ciphertext_blob.unwrap())
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), b"rsa");
    }

    // ECC signatures.
    let ecc = create_mrk(&east, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    replicate(&east, &ecc, WEST).await;
    until_enabled(&west, &ecc).await;
    let public = |kms: aws_sdk_kms::Client| {
        let ecc = ecc.clone();
        async move {
            kms.get_public_key()
                .key_id(ecc)
                .send()
                .await
                .unwrap()
                .public_key
                .unwrap()
        }
    };
    assert_eq!(public(east.clone()).await, public(west.clone()).await);
    for (from, to) in [(&east, &west), (&west, &east)] {
        let signature = from
            .sign()
            .key_id(&ecc)
            .message(Blob::new(b"signed".to_vec()))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .unwrap()
            .signature
            .unwrap();
        let verified = to
            .verify()
            .key_id(&ecc)
            .message(Blob::new(b"signed".to_vec()))
            .signature(signature)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .unwrap();
        assert!(verified.signature_valid());
    }

    // HMAC.
    let hmac = create_mrk(&east, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    replicate(&east, &hmac, WEST).await;
    until_enabled(&west, &hmac).await;
    let mac = west
        .generate_mac()
        .key_id(&hmac)
        .message(Blob::new(b"mac".to_vec()))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac
        .unwrap();
    let verified = east
        .verify_mac()
        .key_id(&hmac)
        .message(Blob::new(b"mac".to_vec()))
        .mac(mac)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert!(verified.mac_valid());

    // AWS's refusals.
    let again = east
        .replicate_key()
        .key_id(&key)
        .replica_region(WEST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("AlreadyExistsException"), "{again:?}");
    let from_replica = west
        .replicate_key()
        .key_id(&key)
        .replica_region(EAST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(from_replica.code(), Some("UnsupportedOperationException"));
    let single = trent_tests::new_key(&east).await;
    let not_mrk = east
        .replicate_key()
        .key_id(&single)
        .replica_region(WEST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(not_mrk.code(), Some("UnsupportedOperationException"));
    let unknown = east
        .replicate_key()
        .key_id(&key)
        .replica_region("eu-central-1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some("UnsupportedOperationException"));
    let disabled = create_mrk(
        &east,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    east.disable_key().key_id(&disabled).send().await.unwrap();
    let refused = east
        .replicate_key()
        .key_id(&disabled)
        .replica_region(WEST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("DisabledException"));
    // A single-region key is not visible in the other region.
    assert!(describe(&west, &single).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_syncs_and_update_primary_region_goes_there_and_back() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let regions = Regions::start(&[EAST, WEST], 3).await;
    let east = regions.region(0).client(0);
    let west = regions.region(1).client(0);
    let key = create_mrk(
        &east,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    replicate(&east, &key, WEST).await;
    let before = trent_tests::encrypt(&east, &key, "before rotation").await;

    let current = |kms: aws_sdk_kms::Client| {
        let key = key.clone();
        async move {
            describe(&kms, &key)
                .await
                .and_then(|m| m.current_key_material_id)
        }
    };
    let original = current(east.clone()).await;
    east.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    eventually(
        SETTLE,
        "the rotated material is current in both regions",
        || async {
            let (e, w) = (current(east.clone()).await, current(west.clone()).await);
            e.is_some() && e == w && e != original
        },
    )
    .await;
    let opened = west.decrypt().ciphertext_blob(before).send().await.unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"before rotation");
    let rotations = |kms: aws_sdk_kms::Client| {
        let key = key.clone();
        async move {
            kms.list_key_rotations()
                .key_id(key)
                .send()
                .await
                .unwrap()
                .rotations
                .unwrap_or_default()
                .len()
        }
    };
    assert_eq!(rotations(east.clone()).await, 1);
    assert_eq!(rotations(west.clone()).await, 1);

    // The rotation setting is shared and set on the primary only.
    east.enable_key_rotation()
        .key_id(&key)
        .rotation_period_in_days(100)
        .send()
        .await
        .unwrap();
    eventually(SETTLE, "the replica shows the rotation setting", || async {
        let status = west
            .get_key_rotation_status()
            .key_id(&key)
            .send()
            .await
            .unwrap();
        status.key_rotation_enabled() && status.rotation_period_in_days() == Some(100)
    })
    .await;
    let on_replica = west
        .enable_key_rotation()
        .key_id(&key)
        .send()
        .await
        .unwrap_err();
    assert_eq!(on_replica.code(), Some("UnsupportedOperationException"));

    // There...
    east.update_primary_region()
        .key_id(&key)
        .primary_region(WEST)
        .send()
        .await
        .unwrap();
    eventually(SETTLE, "west is primary and both are Enabled", || async {
        role(&east, &key).await == Some((MultiRegionKeyType::Replica, KeyState::Enabled))
            && role(&west, &key).await == Some((MultiRegionKeyType::Primary, KeyState::Enabled))
    })
    .await;
    let sealed = trent_tests::encrypt(&west, &key, "after the move").await;
    let opened = east.decrypt().ciphertext_blob(sealed).send().await.unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"after the move");
    let old_primary = east
        .update_primary_region()
        .key_id(&key)
        .primary_region(EAST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(old_primary.code(), Some("UnsupportedOperationException"));
    // ... and back.
    west.update_primary_region()
        .key_id(&key)
        .primary_region(EAST)
        .send()
        .await
        .unwrap();
    eventually(SETTLE, "east is primary again", || async {
        role(&east, &key).await == Some((MultiRegionKeyType::Primary, KeyState::Enabled))
            && role(&west, &key).await == Some((MultiRegionKeyType::Replica, KeyState::Enabled))
    })
    .await;

    // Both keys must be enabled: a disabled replica refuses to become primary.
    west.disable_key().key_id(&key).send().await.unwrap();
    let refused = east
        .update_primary_region()
        .key_id(&key)
        .primary_region(WEST)
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some("DisabledException"), "{refused:?}");
    assert_eq!(
        role(&east, &key).await,
        Some((MultiRegionKeyType::Primary, KeyState::Enabled))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_delays_replication_and_hand_over_until_it_heals() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let regions = Regions::start_with_test_hooks(&[EAST, WEST], 3).await;
    let east = regions.region(0).client(0);
    let west = regions.region(1).client(1);
    let key = create_mrk(
        &east,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;

    regions.region(0).cut_link(true);
    let replicated = east
        .replicate_key()
        .key_id(&key)
        .replica_region(WEST)
        .send()
        .await
        .unwrap();
    assert_eq!(
        replicated.replica_key_metadata().unwrap().key_state(),
        Some(&KeyState::Creating)
    );
    let during_cut = trent_tests::encrypt(&east, &key, "made during the cut").await;
    assert!(
        describe(&west, &key).await.is_none(),
        "replica appeared across a cut link"
    );
    regions.region(0).cut_link(false);
    eventually(SETTLE, "the replica exists after the heal", || async {
        role(&west, &key).await == Some((MultiRegionKeyType::Replica, KeyState::Enabled))
    })
    .await;
    let opened = west
        .decrypt()
        .ciphertext_blob(during_cut)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"made during the cut");

    // UpdatePrimaryRegion with the link cut: both sides wait, crypto keeps working, the
    // operations AWS blocks while Updating are blocked.
    regions.region(1).cut_link(true);
    east.update_primary_region()
        .key_id(&key)
        .primary_region(WEST)
        .send()
        .await
        .unwrap();
    assert_eq!(
        role(&east, &key).await,
        Some((MultiRegionKeyType::Primary, KeyState::Updating))
    );
    assert_eq!(
        role(&west, &key).await,
        Some((MultiRegionKeyType::Replica, KeyState::Enabled))
    );
    let sealed = trent_tests::encrypt(&east, &key, "while updating").await;
    let blocked = east.disable_key().key_id(&key).send().await.unwrap_err();
    assert_eq!(blocked.code(), Some("KMSInvalidStateException"));
    regions.region(1).cut_link(false);
    eventually(SETTLE, "one primary (west) after the heal", || async {
        role(&east, &key).await == Some((MultiRegionKeyType::Replica, KeyState::Enabled))
            && role(&west, &key).await == Some((MultiRegionKeyType::Primary, KeyState::Enabled))
    })
    .await;
    let opened = west.decrypt().ciphertext_blob(sealed).send().await.unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"while updating");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaders_killed_mid_protocol_lose_nothing() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let mut regions = Regions::start_with_test_hooks(&[EAST, WEST], 3).await;
    let key = {
        let east = regions.region(0).client(0);
        let key = create_mrk(
            &east,
            KeySpec::SymmetricDefault,
            KeyUsageType::EncryptDecrypt,
        )
        .await;
        replicate(&east, &key, WEST).await;
        key
    };
    // Start a hand-over the other region cannot answer yet, then kill the leaders of both
    // regions: the queued TakePrimary is in the replicated outbox and the new leader ships it.
    regions.region(0).cut_link(true);
    regions
        .region(0)
        .client(0)
        .update_primary_region()
        .key_id(&key)
        .primary_region(WEST)
        .send()
        .await
        .unwrap();
    let east_leader = regions.region(0).leader().await;
    let west_leader = regions.region(1).leader().await;
    regions.regions[0].kill(east_leader);
    regions.regions[1].kill(west_leader);
    regions.region(0).cut_link(false);
    let survivor = |leader: usize| (leader + 1) % 3;
    let east = regions.region(0).client(survivor(east_leader));
    let west = regions.region(1).client(survivor(west_leader));
    eventually(
        SETTLE,
        "the hand-over completes under new leaders",
        || async {
            role(&east, &key).await == Some((MultiRegionKeyType::Replica, KeyState::Enabled))
                && role(&west, &key).await == Some((MultiRegionKeyType::Primary, KeyState::Enabled))
        },
    )
    .await;

    // Replicate a second key while the receiving region's leader dies.
    let second = create_mrk(
        &west,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    let sealed = trent_tests::encrypt(&west, &second, "second").await;
    regions.regions[1].restart(west_leader).await;
    regions.regions[0].restart(east_leader).await;
    let new_east_leader = regions.region(0).leader().await;
    let west = regions.region(1).client(0);
    let replicate_call = tokio::spawn({
        let (west, second) = (west.clone(), second.clone());
        async move {
            west.replicate_key()
                .key_id(second)
                .replica_region(EAST)
                .send()
                .await
        }
    });
    // Kill east's leader once west has committed the ReplicateKey (the CreateReplica is in
    // west's outbox, on its way to east or just delivered).
    eventually(SETTLE, "west has committed the ReplicateKey", || async {
        describe(&west, &second).await.is_some_and(|m| {
            m.multi_region_configuration()
                .is_some_and(|c| c.replica_keys().iter().any(|r| r.region() == Some(EAST)))
        })
    })
    .await;
    regions.regions[0].kill(new_east_leader);
    replicate_call.await.unwrap().unwrap();
    let east = regions.region(0).client(survivor(new_east_leader));
    eventually(SETTLE, "the second replica exists", || async {
        role(&east, &second).await == Some((MultiRegionKeyType::Replica, KeyState::Enabled))
    })
    .await;
    let opened = east.decrypt().ciphertext_blob(sealed).send().await.unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), b"second");
    for region in &regions.regions {
        for index in 0..3 {
            assert!(!region.log(index).contains("panicked"), "a node panicked");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_with_replicas_is_deleted_after_them() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let regions = Regions::start_with_test_hooks(&[EAST, WEST], 1).await;
    let east = regions.region(0).client(0);
    let west = regions.region(1).client(0);
    let key = create_mrk(
        &east,
        KeySpec::SymmetricDefault,
        KeyUsageType::EncryptDecrypt,
    )
    .await;
    replicate(&east, &key, WEST).await;

    let primary = east
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(primary.key_state(), Some(&KeyState::PendingReplicaDeletion));
    assert!(primary.deletion_date().is_none());
    let meta = describe(&east, &key).await.unwrap();
    assert_eq!(meta.pending_deletion_window_in_days(), Some(7));
    // The replica is unaffected until it is scheduled itself.
    assert_eq!(
        role(&west, &key).await,
        Some((MultiRegionKeyType::Replica, KeyState::Enabled))
    );
    let replica = west
        .schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(replica.key_state(), Some(&KeyState::PendingDeletion));
    assert!(replica.deletion_date().is_some());
    // Eight days pass in the west: the replica goes, and the primary's own window starts.
    regions.region(1).set_clock_offset(0, 8 * 24 * 3_600_000);
    eventually(SETTLE, "the replica is deleted", || async {
        describe(&west, &key).await.is_none()
    })
    .await;
    eventually(
        SETTLE,
        "the primary is PendingDeletion with a date",
        || async {
            describe(&east, &key).await.is_some_and(|m| {
                m.key_state() == Some(&KeyState::PendingDeletion) && m.deletion_date().is_some()
            })
        },
    )
    .await;
    // Cancel, and the replica can be made again.
    let cancelled = east
        .cancel_key_deletion()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(cancelled.key_id().unwrap().ends_with(&key));
    assert_eq!(
        describe(&east, &key).await.unwrap().key_state(),
        Some(&KeyState::Disabled)
    );
    east.enable_key().key_id(&key).send().await.unwrap();
    replicate(&east, &key, WEST).await;
    eventually(SETTLE, "the recreated replica is Enabled", || async {
        role(&west, &key).await == Some((MultiRegionKeyType::Replica, KeyState::Enabled))
    })
    .await;
}
