//! Upgrading a region one node at a time. A node restarted on the same release rejoins while
//! writes go on, and nothing acknowledged is lost (a rolling upgrade within a Raft wire
//! version). A node that speaks another Raft wire version (the test build's
//! `TRENT_TEST_RAFT_WIRE_VERSION`, standing in for a release that changed the encoding) is
//! refused by its peers with a message naming both versions, in both nodes' logs and in its
//! `/raft/status`; the other two keep serving; restarted on the region's version, it catches up.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trent_tests::{eventually, new_key, run_trent, Cluster, ClusterOptions, REGION};

async fn has_key(kms: &aws_sdk_kms::Client, key_id: &str) -> bool {
    kms.describe_key().key_id(key_id).send().await.is_ok()
}

/// Every key id node `kms` lists (ListKeys is a linearizable read), page by page.
async fn listed_keys(kms: &aws_sdk_kms::Client) -> std::collections::HashSet<String> {
    let mut listed = std::collections::HashSet::new();
    let mut marker = None;
    loop {
        let page = kms
            .list_keys()
            .limit(1000)
            .set_marker(marker)
            .send()
            .await
            .unwrap();
        listed.extend(
            page.keys()
                .iter()
                .filter_map(|k| k.key_id().map(str::to_string)),
        );
        marker = page.next_marker().map(str::to_string);
        if marker.is_none() {
            return listed;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_region_upgrades_node_by_node_and_refuses_another_wire_version() {
    let mut cluster = Cluster::start_with(ClusterOptions {
        test_hooks: true,
        ..ClusterOptions::default()
    })
    .await;

    // A rolling restart of every node while two writers create keys.
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for index in [0usize, 1] {
        let kms = cluster.client(index);
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                // Errors while a node restarts are retried by the next round.
                if let Ok(made) = kms.create_key().send().await {
                    if let Some(id) = made.key_metadata().map(|m| m.key_id().to_string()) {
                        acked.lock().unwrap().push(id);
                    }
                }
            }
        }));
    }
    for index in [2usize, 1, 0] {
        let before = acked.lock().unwrap().len();
        let status = cluster.terminate(index);
        assert!(status.success(), "node {index} stopped with {status}");
        cluster.restart(index).await;
        eventually(
            Duration::from_secs(30),
            "writes go on after the restart",
            || {
                let now = acked.lock().unwrap().len();
                async move { now > before + 5 }
            },
        )
        .await;
    }
    stop.store(true, Ordering::SeqCst);
    for writer in writers {
        writer.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 20, "only {} writes", acked.len());
    for index in 0..3 {
        let kms = cluster.client(index);
        let listed = listed_keys(&kms).await;
        let missing: Vec<&String> = acked.iter().filter(|k| !listed.contains(*k)).collect();
        assert!(
            missing.is_empty(),
            "node {index} lacks acked keys {missing:?}"
        );
    }

    // Node 3 comes back speaking Raft wire version 2: refused both ways, clearly.
    cluster.kill(2);
    cluster.set_env("TRENT_TEST_RAFT_WIRE_VERSION", "2");
    cluster.spawn_all();
    let made_meanwhile = new_key(&cluster.client(0)).await;
    eventually(
        Duration::from_secs(20),
        "both logs name both versions",
        || {
            let theirs = cluster.log(2);
            let ours = cluster.log(0) + &cluster.log(1);
            let named = |log: &str| {
                log.contains("speaks Raft wire version 1 and the receiver speaks 2")
                    || log.contains("speaks Raft wire version 2 and the receiver speaks 1")
            };
            async move { named(&theirs) && named(&ours) }
        },
    )
    .await;
    let status = cluster.status(2).await.unwrap();
    assert_eq!(status["raft_wire_version"], 2, "{status}");
    assert_eq!(cluster.status(0).await.unwrap()["raft_wire_version"], 1);
    // `trent cluster status` shows each node's versions and calls the mix unhealthy.
    let mut args = vec!["cluster".to_string(), "status".to_string()];
    for node in &cluster.nodes {
        args.push("--node".into());
        args.push(format!("{REGION}=http://{}", node.api_addr));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let survey = run_trent(&args);
    let report = String::from_utf8_lossy(&survey.stdout).into_owned();
    assert!(!survey.status.success(), "{report}");
    assert!(
        report.contains("nodes speak different Raft wire versions"),
        "{report}"
    );
    assert!(
        report.contains("raft-wire 2") && report.contains("raft-wire 1"),
        "{report}"
    );
    assert!(report.contains("store 4"), "{report}");
    assert!(
        !has_key(&cluster.client(2), &made_meanwhile).await,
        "a node of another wire version served a key it cannot have had"
    );
    // The other two serve.
    let during = new_key(&cluster.client(1)).await;
    assert!(has_key(&cluster.client(0), &during).await);

    // Back on the region's version, it catches up.
    cluster.kill(2);
    cluster.set_env("TRENT_TEST_RAFT_WIRE_VERSION", "");
    cluster.restart(2).await;
    let back = cluster.client(2);
    eventually(Duration::from_secs(30), "node 3 caught up", || {
        let back = back.clone();
        let (a, b) = (made_meanwhile.clone(), during.clone());
        async move { has_key(&back, &a).await && has_key(&back, &b).await }
    })
    .await;
}
