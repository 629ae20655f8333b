//! Restoring a region that holds multi-region keys: what reached it after the backup is gone
//! from the backup, and its peer counts it as delivered. After `trent restore` the region asks
//! its linked regions to send their shared keys again, so a rotation made after the backup and
//! a key created and replicated after the backup both come back from the replica region, and
//! every ciphertext made in the lost region decrypts in the restored one. The restored primary
//! then rotates on top of that history: one key, never a fork.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use std::process::Output;
use std::time::Duration;
use trent_tests::{encrypt, eventually, new_mrk, run_trent, Cluster, Regions};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const SETTLE: Duration = Duration::from_secs(60);

fn operator(cluster: &Cluster, region: &str, args: &[&str]) -> Output {
    let pki = cluster.pki_dir().to_str().unwrap().to_string();
    let mut all: Vec<&str> = args.to_vec();
    all.extend([
        "--node",
        cluster.raft_addr(0),
        "--region",
        region,
        "--pki",
        &pki,
    ]);
    run_trent(&all)
}

/// Replicates `key_id` to us-west-2 and waits until the replica is Enabled there.
async fn replicate(east: &aws_sdk_kms::Client, west: &aws_sdk_kms::Client, key_id: &str) {
    east.replicate_key()
        .key_id(key_id)
        .replica_region(WEST)
        .send()
        .await
        .unwrap();
    eventually(SETTLE, "the replica is Enabled", || async {
        west.describe_key()
            .key_id(key_id)
            .send()
            .await
            .ok()
            .and_then(|d| d.key_metadata)
            .is_some_and(|m| m.key_state() == Some(&aws_sdk_kms::types::KeyState::Enabled))
    })
    .await;
}

async fn rotations(kms: &aws_sdk_kms::Client, key_id: &str) -> usize {
    kms.list_key_rotations()
        .key_id(key_id)
        .send()
        .await
        .map(|r| r.rotations().len())
        .unwrap_or(0)
}

async fn current_material(kms: &aws_sdk_kms::Client, key_id: &str) -> Option<String> {
    kms.describe_key()
        .key_id(key_id)
        .send()
        .await
        .ok()?
        .key_metadata?
        .current_key_material_id
}

async fn decrypts(kms: &aws_sdk_kms::Client, blob: &Blob, text: &[u8]) -> bool {
    kms.decrypt()
        .ciphertext_blob(blob.clone())
        .send()
        .await
        .ok()
        .and_then(|d| d.plaintext)
        .is_some_and(|p| p.as_ref() == text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_region_takes_back_its_multi_region_keys_from_its_peer() {
    let mut regions = Regions::start(&[EAST, WEST], 1).await;
    let east = regions.region(0).client(0);
    let west = regions.region(1).client(0);

    // Before the backup: a multi-region key, replicated.
    let kept = new_mrk(&east).await;
    replicate(&east, &west, &kept).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("east.backup");
    let made = operator(
        regions.region(0),
        EAST,
        &["backup", "create", "--out", file.to_str().unwrap()],
    );
    assert!(made.status.success(), "{made:?}");

    // After it: a rotation of that key, and a second key created and replicated; ciphertexts
    // under the new material of each.
    east.rotate_key_on_demand()
        .key_id(&kept)
        .send()
        .await
        .unwrap();
    eventually(SETTLE, "the rotation reached the replica", || async {
        rotations(&west, &kept).await == 1
            && current_material(&east, &kept).await == current_material(&west, &kept).await
    })
    .await;
    let rotated = encrypt(&east, &kept, "under the rotated material").await;
    let later = new_mrk(&east).await;
    replicate(&east, &west, &later).await;
    let under_later = encrypt(&east, &later, "under a key made after the backup").await;

    // us-east-1 is destroyed and restored from the backup.
    let lost = &mut regions.regions[0];
    lost.kill(0);
    lost.wipe(0);
    lost.spawn_all();
    lost.wait_ready().await;
    let restored = operator(
        regions.region(0),
        EAST,
        &["restore", "--from", file.to_str().unwrap()],
    );
    assert!(restored.status.success(), "{restored:?}");
    assert!(
        String::from_utf8_lossy(&restored.stdout).contains(WEST),
        "the restore names the regions it asked to resync: {restored:?}"
    );

    // What us-west-2 holds comes back: the rotation, and the key the backup never saw.
    eventually(
        SETTLE,
        "the restored region decrypts both ciphertexts",
        || async {
            decrypts(&east, &rotated, b"under the rotated material").await
                && decrypts(&east, &under_later, b"under a key made after the backup").await
        },
    )
    .await;
    assert_eq!(rotations(&east, &kept).await, 1);
    for key in [&kept, &later] {
        let meta = east
            .describe_key()
            .key_id(key.as_str())
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap();
        let config = meta.multi_region_configuration().unwrap();
        assert_eq!(
            config.multi_region_key_type(),
            Some(&aws_sdk_kms::types::MultiRegionKeyType::Primary),
            "{key}"
        );
        assert_eq!(config.replica_keys().len(), 1, "{key}");
    }

    // The restored primary leads on top of that history: a second rotation reaches the
    // replica, and both regions hold the same two rotations.
    east.rotate_key_on_demand()
        .key_id(&kept)
        .send()
        .await
        .unwrap();
    eventually(
        SETTLE,
        "the second rotation reached the replica",
        || async {
            rotations(&west, &kept).await == 2
                && rotations(&east, &kept).await == 2
                && current_material(&east, &kept).await == current_material(&west, &kept).await
        },
    )
    .await;
    let newest = encrypt(&east, &kept, "after the restore").await;
    assert!(decrypts(&west, &newest, b"after the restore").await);
    assert!(decrypts(&west, &rotated, b"under the rotated material").await);
}
