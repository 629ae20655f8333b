//! Durability and recovery with real processes: no acknowledged write is lost when the leader is
//! SIGKILLed mid-workload, when the whole region restarts, or when a node that missed many
//! writes catches up from a snapshot.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::types::Tag;
use std::time::Duration;
use trent_tests::{Cluster, ClusterOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_kill_mid_workload_loses_no_acknowledged_write() {
    let mut cluster = Cluster::start().await;
    let leader = cluster.leader().await;
    let survivor = (leader + 1) % 3;

    // Writers on the two non-leader nodes keep creating keys while the leader dies.
    let acked_so_far = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut writers = Vec::new();
    for index in [(leader + 1) % 3, (leader + 2) % 3] {
        let kms = cluster.client(index);
        let acked_so_far = acked_so_far.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
            while tokio::time::Instant::now() < deadline {
                if let Ok(out) = kms.create_key().send().await {
                    acknowledged.push(out.key_metadata.unwrap().key_id);
                    acked_so_far.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            acknowledged
        }));
    }
    // Kill the leader once the workload is well under way.
    let acked = &acked_so_far;
    trent_tests::eventually(
        Duration::from_secs(10),
        "writers have 20 acknowledged keys",
        move || async move { acked.load(std::sync::atomic::Ordering::Relaxed) >= 20 },
    )
    .await;
    cluster.kill(leader);
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(
        acknowledged.len() > 10,
        "too few writes to mean anything: {}",
        acknowledged.len()
    );

    // Every acknowledged key is there on the survivors and, after restart, on the old leader.
    let kms = cluster.client(survivor);
    for key_id in &acknowledged {
        kms.describe_key().key_id(key_id).send().await.unwrap();
    }
    cluster.restart(leader).await;
    let listed = all_keys(&cluster.client(leader)).await;
    for key_id in &acknowledged {
        assert!(
            listed.contains(key_id),
            "acknowledged key {key_id} missing after leader kill"
        );
    }
}

async fn all_keys(kms: &aws_sdk_kms::Client) -> Vec<String> {
    let mut keys = Vec::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_keys()
            .limit(1000)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        keys.extend(
            page.keys()
                .iter()
                .filter_map(|k| k.key_id().map(String::from)),
        );
        if !page.truncated() {
            return keys;
        }
        marker = page.next_marker().map(String::from);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_region_restart_keeps_keys_aliases_tags_policies_and_ciphertexts() {
    let mut cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let key = kms
        .create_key()
        .description("durable")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let key_id = key.key_id().to_string();
    kms.create_alias()
        .alias_name("alias/durable")
        .target_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let tag = Tag::builder().tag_key("k").tag_value("v").build().unwrap();
    kms.tag_resource()
        .key_id(&key_id)
        .tags(tag)
        .send()
        .await
        .unwrap();
    let policy = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:*","Resource":"*"}]}"#;
    kms.put_key_policy()
        .key_id(&key_id)
        .policy_name("default")
        .policy(policy)
        .send()
        .await
        .unwrap();
    let blob = trent_tests::encrypt(&kms, "alias/durable", "kept").await;

    // A clean stop (SIGTERM) of one node exits 0; the rest die by SIGKILL.
    assert!(
        cluster.terminate(1).success(),
        "SIGTERM did not stop the node cleanly"
    );
    cluster.kill(0);
    cluster.kill(2);
    cluster.restart_all(&[0, 1, 2]).await;
    let kms = cluster.client(2);
    let meta = kms
        .describe_key()
        .key_id("alias/durable")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    assert_eq!(meta.key_id(), key_id);
    assert_eq!(meta.description(), Some("durable"));
    let tags = kms
        .list_resource_tags()
        .key_id(&key_id)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags().len(), 1);
    let got = kms.get_key_policy().key_id(&key_id).send().await.unwrap();
    assert_eq!(got.policy(), Some(policy));
    let plain = kms.decrypt().ciphertext_blob(blob).send().await.unwrap();
    assert_eq!(plain.plaintext().unwrap().as_ref(), b"kept");
    for index in 0..3 {
        assert!(
            !cluster.log(index).contains("panicked"),
            "node {index} panicked:\n{}",
            cluster.log(index)
        );
    }
}

/// Waits until node `index` has applied everything the leader has and, if `from_snapshot`,
/// installed a snapshot.
async fn wait_caught_up(cluster: &Cluster, index: usize, leader: usize, from_snapshot: bool) {
    trent_tests::eventually(
        Duration::from_secs(30),
        "the node has caught up",
        move || async move {
            let target = cluster
                .status(leader)
                .await
                .and_then(|s| s["last_applied_index"].as_u64());
            let Some(status) = cluster.status(index).await else {
                return false;
            };
            let snapshot_ok = !from_snapshot || status["snapshot_index"].as_u64().is_some();
            status["last_applied_index"].as_u64() >= target && target.is_some() && snapshot_ok
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_and_replaced_nodes_catch_up_from_log_and_snapshot() {
    let mut cluster = Cluster::start_with(ClusterOptions {
        nodes: 3,
        snapshot_after_entries: 20,
        ..ClusterOptions::default()
    })
    .await;
    let leader = cluster.leader().await;
    let other = (leader + 1) % 3;
    let kms = cluster.client(leader);
    let mut created = 0;
    // Enough entries for several snapshots, the later ones past the 100 entries openraft keeps
    // behind a snapshot (the interval grows with the key count: kms-raft snapshot_schedule).
    for _ in 0..300 {
        kms.create_key().send().await.unwrap();
        created += 1;
    }
    // With every follower up to date, the leader snapshots and compacts its log.
    trent_tests::eventually(
        Duration::from_secs(30),
        "the leader compacted its log",
        || async {
            cluster
                .status(leader)
                .await
                .is_some_and(|status| status["purged_index"].as_u64().is_some())
        },
    )
    .await;

    // A node down through many writes catches up when it returns.
    cluster.kill(other);
    for _ in 0..100 {
        kms.create_key().send().await.unwrap();
        created += 1;
    }
    cluster.restart(other).await;
    wait_caught_up(&cluster, other, leader, false).await;
    assert_eq!(all_keys(&cluster.client(other)).await.len(), created);

    // Make the state several megabytes (150 keys with 30 KB policies), so the snapshot the
    // replaced node needs spans more than one chunk.
    let big_policy = format!(
        r#"{{"Statement":[{{"Sid":"{}","Effect":"Allow","Principal":{{"AWS":"*"}},"Action":"kms:*","Resource":"*"}}]}}"#,
        "p".repeat(30_000)
    );
    for _ in 0..150 {
        kms.create_key().policy(&big_policy).send().await.unwrap();
        created += 1;
    }

    // A node whose disk was replaced needs entries the leader has compacted away: it is sent a
    // snapshot, then restarts from that snapshot plus its log.
    cluster.kill(other);
    cluster.wipe(other);
    cluster.restart(other).await;
    wait_caught_up(&cluster, other, leader, true).await;
    assert_eq!(all_keys(&cluster.client(other)).await.len(), created);
    cluster.kill(other);
    cluster.restart(other).await;
    assert_eq!(all_keys(&cluster.client(other)).await.len(), created);
    assert!(
        !cluster.log(other).contains("panicked"),
        "{}",
        cluster.log(other)
    );
}
