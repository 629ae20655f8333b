//! `trent backup` and `trent restore` against real nodes: a backup taken mid-load through the
//! operator certificate holds every write acknowledged before it; after the region is destroyed
//! (every node's disk wiped) and started empty, the restore brings back every key, alias,
//! grant, tag, state and material, so every ciphertext acknowledged before the backup
//! decrypts, a signature verifies and a MAC is the same (after a root-key rotation, so the backup's
//! material is under a later root-key generation, which the backup carries sealed). A damaged file fails `backup verify`, a
//! region that is not empty refuses a restore, and so does a region whose root key is another.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{GrantOperation, Tag};
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trent_tests::{encrypt, eventually, new_key, run_trent, Cluster, MaterialWitness, REGION};

fn target<'a>(cluster: &'a Cluster, pki: &'a str) -> Vec<&'a str> {
    vec![
        "--node",
        cluster.raft_addr(1),
        "--region",
        REGION,
        "--pki",
        pki,
    ]
}

fn backup(cluster: &Cluster, out: &Path) -> Output {
    let pki = cluster.pki_dir().to_str().unwrap().to_string();
    let mut args = vec!["backup", "create"];
    args.extend(target(cluster, &pki));
    args.extend(["--out", out.to_str().unwrap()]);
    run_trent(&args)
}

fn restore(cluster: &Cluster, from: &Path) -> Output {
    let pki = cluster.pki_dir().to_str().unwrap().to_string();
    let mut args = vec!["restore"];
    args.extend(target(cluster, &pki));
    args.extend(["--from", from.to_str().unwrap()]);
    run_trent(&args)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_destroyed_region_comes_back_from_a_backup_taken_under_load() {
    let mut cluster = Cluster::start().await;
    let kms = cluster.client(0);

    // Keys of several kinds, with an alias, a tag, a grant and a disabled one.
    let data_key = new_key(&kms).await;
    kms.create_alias()
        .alias_name("alias/restored")
        .target_key_id(&data_key)
        .send()
        .await
        .unwrap();
    kms.tag_resource()
        .key_id(&data_key)
        .tags(
            Tag::builder()
                .tag_key("team")
                .tag_value("payments")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let grant = kms
        .create_grant()
        .key_id(&data_key)
        .grantee_principal("arn:aws:iam::111122223333:role/app")
        .operations(GrantOperation::Decrypt)
        .send()
        .await
        .unwrap()
        .grant_id
        .unwrap();
    let witness = MaterialWitness::make(&kms).await;
    let disabled_key = new_key(&kms).await;
    kms.disable_key()
        .key_id(&disabled_key)
        .send()
        .await
        .unwrap();

    // A root-key rotation first, so the backup holds material of two root-key generations.
    let pki = cluster.pki_dir().to_str().unwrap().to_string();
    let mut rotate = vec!["operator", "rotate-root-key", "--wait"];
    rotate.extend(target(&cluster, &pki));
    assert!(run_trent(&rotate).status.success());
    let after_rotation = new_key(&kms).await;
    let under_new_generation = encrypt(&kms, &after_rotation, "generation 1").await;

    // Load: keys created and data encrypted on two nodes while the backup is taken.
    let acked: Arc<Mutex<Vec<(String, Blob, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for node in [0, 2] {
        let kms = cluster.client(node);
        let (acked, stop) = (acked.clone(), stop.clone());
        let data_key = data_key.clone();
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Every fourth write makes a key of its own, so keys too are created under load.
                let key = if i.is_multiple_of(4) {
                    new_key(&kms).await
                } else {
                    data_key.clone()
                };
                let plaintext = format!("node {node} record {i}");
                let blob = encrypt(&kms, &key, &plaintext).await;
                acked.lock().unwrap().push((key, blob, plaintext));
                i += 1;
            }
        }));
    }
    let writes = || acked.lock().unwrap().len();
    eventually(Duration::from_secs(30), "writes under load", || async {
        writes() >= 40
    })
    .await;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("us-east-1.backup");
    // Everything acknowledged before the backup starts must be in it.
    let before_backup = acked.lock().unwrap().clone();
    let made = backup(&cluster, &file);
    assert!(made.status.success());
    assert!(String::from_utf8_lossy(&made.stdout).contains("keys"));
    let during = writes();
    eventually(
        Duration::from_secs(30),
        "writes after the backup",
        || async { writes() > during + 10 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    assert!(
        before_backup.len() > 10,
        "{} writes before the backup",
        before_backup.len()
    );

    // The file checks; a damaged copy does not, and says why.
    let verified = run_trent(&["backup", "verify", file.to_str().unwrap()]);
    assert!(verified.status.success());
    let mut damaged = std::fs::read(&file).unwrap();
    let middle = damaged.len() - damaged.len() / 3;
    damaged[middle] ^= 0x01;
    let damaged_path = dir.path().join("damaged.backup");
    std::fs::write(&damaged_path, &damaged).unwrap();
    let refused = run_trent(&["backup", "verify", damaged_path.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("damaged"), "{}", stderr(&refused));
    // Key material is in the file only wrapped: no plaintext of the load is in it.
    let bytes = std::fs::read(&file).unwrap();
    let (_, _, plaintext) = &before_backup[0];
    assert!(!bytes
        .windows(plaintext.len())
        .any(|w| w == plaintext.as_bytes()));

    // A region that holds keys refuses a restore, and keeps them.
    let refused = restore(&cluster, &file);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("not empty"),
        "{}",
        stderr(&refused)
    );

    // Destroy the region: every node stopped and its disk wiped. It starts again empty.
    for index in 0..3 {
        cluster.kill(index);
        cluster.wipe(index);
    }
    cluster.spawn_all();
    cluster.wait_ready().await;
    let kms = cluster.client(1);
    let listed = kms.list_keys().send().await.unwrap();
    assert!(listed.keys.unwrap_or_default().is_empty());

    let restored = restore(&cluster, &file);
    assert!(restored.status.success());

    // Every ciphertext acknowledged before the backup decrypts, on every node.
    for (i, (key, blob, plaintext)) in before_backup.iter().enumerate() {
        let kms = cluster.client(i % 3);
        let opened = kms
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("write {i} under {key} lost: {e:?}"));
        assert_eq!(opened.plaintext.unwrap().as_ref(), plaintext.as_bytes());
        assert_eq!(opened.key_id.unwrap().rsplit('/').next().unwrap(), key);
    }
    let opened = kms
        .decrypt()
        .ciphertext_blob(under_new_generation)
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext.unwrap().as_ref(), b"generation 1");
    // The alias, the tag, the grant, the disabled state and the other keys' material.
    let by_alias = kms
        .describe_key()
        .key_id("alias/restored")
        .send()
        .await
        .unwrap();
    assert_eq!(by_alias.key_metadata.unwrap().key_id, data_key);
    let tags = kms
        .list_resource_tags()
        .key_id(&data_key)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags.unwrap()[0].tag_value, "payments");
    let grants = kms.list_grants().key_id(&data_key).send().await.unwrap();
    assert_eq!(
        grants.grants.unwrap()[0].grant_id.as_deref(),
        Some(grant.as_str())
    );
    let disabled = kms
        .describe_key()
        .key_id(&disabled_key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        disabled.key_metadata.unwrap().key_state,
        Some(aws_sdk_kms::types::KeyState::Disabled)
    );
    witness.check(&kms).await;
    // The restored region takes writes again.
    let fresh = new_key(&kms).await;
    encrypt(&kms, &fresh, "after the restore").await;
    // And a second restore is refused: the region is not empty any more.
    let twice = restore(&cluster, &file);
    assert!(!twice.status.success());

    // A region of the same name with another root key refuses the backup, and stays empty.
    let other = Cluster::start().await;
    let refused = restore(&other, &file);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("root key does not open"),
        "{}",
        stderr(&refused)
    );
    let listed = other.client(0).list_keys().send().await.unwrap();
    assert!(listed.keys.unwrap_or_default().is_empty());
}
