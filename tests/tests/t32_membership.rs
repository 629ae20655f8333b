//! Membership changes on a live region of real node processes, made with the operator's CLI
//! (`trent cluster add-node|replace-node|remove-node|members`, the operator certificate on the
//! Raft port): a fresh node joins, catches up and serves every key made before it; a killed
//! voter's place is taken by another fresh node while writes go on; and removing a voter is
//! refused when the voters left would have no live quorum.
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::time::Duration;
use trent_tests::{new_key, run_trent, Cluster, MaterialWitness, REGION};

/// `trent cluster SUBCOMMAND` against node `via`'s Raft port: exit status, stdout, stderr.
fn cluster_cli(cluster: &Cluster, via: usize, args: &[&str]) -> (bool, String, String) {
    let pki = cluster.pki_dir();
    let mut all = vec![
        "cluster",
        args[0],
        "--node",
        cluster.raft_addr(via),
        "--region",
        REGION,
        "--pki",
        pki.to_str().unwrap(),
    ];
    all.extend_from_slice(&args[1..]);
    let out = run_trent(&all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn members(cluster: &Cluster, via: usize) -> Value {
    let (ok, out, err) = cluster_cli(cluster, via, &["members"]);
    assert!(ok, "members: {err}");
    serde_json::from_str(&out).unwrap()
}

fn voter_ids(view: &Value) -> Vec<u64> {
    view["voters"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_join_replace_a_dead_voter_and_quorum_is_guarded() {
    let mut cluster = Cluster::start().await;
    let witness = MaterialWitness::make(&cluster.client(0)).await;
    let mut keys = Vec::new();
    for _ in 0..5 {
        keys.push(new_key(&cluster.client(0)).await);
    }
    assert_eq!(voter_ids(&members(&cluster, 0)), [1, 2, 3]);

    // A fresh node 4 joins through a follower (the call goes on to the leader).
    let four = cluster.start_fresh_node();
    let leader = cluster.leader().await;
    let via = (0..3).find(|n| *n != leader).unwrap();
    let four_addr = cluster.raft_addr(four).to_string();
    let (ok, out, err) = cluster_cli(
        &cluster,
        via,
        &["add-node", "--id", "4", "--raft-addr", &four_addr],
    );
    assert!(ok, "add-node: {err}");
    let view: Value = serde_json::from_str(&out).unwrap();
    println!("after add-node 4: {view}");
    assert_eq!(voter_ids(&view), [1, 2, 3, 4], "{view}");
    assert_eq!(view["joint"], false);
    // It serves what was made before it joined: material, keys.
    witness.check(&cluster.client(four)).await;
    for key in &keys {
        cluster
            .client(four)
            .describe_key()
            .key_id(key)
            .send()
            .await
            .unwrap();
    }
    // Adding it again is refused, and says why.
    let (ok, _, err) = cluster_cli(
        &cluster,
        0,
        &["add-node", "--id", "4", "--raft-addr", &four_addr],
    );
    assert!(!ok && err.contains("already a voter"), "{err}");

    // A follower among the first three dies; fresh node 5 takes its place while writes go on.
    let leader = cluster.leader().await;
    let dead = (0..3).find(|n| *n != leader).unwrap();
    let dead_id = cluster.nodes[dead].id.to_string();
    cluster.kill(dead);
    let five = cluster.start_fresh_node();
    let five_addr = cluster.raft_addr(five).to_string();
    let writer = {
        let kms = cluster.client(leader);
        tokio::spawn(async move {
            let mut made = Vec::new();
            for _ in 0..20 {
                made.push(new_key(&kms).await);
            }
            made
        })
    };
    let (ok, out, err) = cluster_cli(
        &cluster,
        leader,
        &[
            "replace-node",
            "--old",
            &dead_id,
            "--id",
            "5",
            "--raft-addr",
            &five_addr,
        ],
    );
    assert!(ok, "replace-node: {err}");
    let view: Value = serde_json::from_str(&out).unwrap();
    println!("after replace-node {dead_id} by 5: {view}");
    let voters = voter_ids(&view);
    assert!(
        voters.contains(&5) && !voters.contains(&dead_id.parse().unwrap()),
        "{view}"
    );
    assert_eq!(voters.len(), 4, "{view}");
    let made = writer.await.unwrap();
    // Node 5 has everything: what came before, and what was written during the change.
    witness.check(&cluster.client(five)).await;
    for key in keys.iter().chain(&made) {
        cluster
            .client(five)
            .describe_key()
            .key_id(key)
            .send()
            .await
            .unwrap();
    }

    // Back to three voters: node 4 leaves (everyone else answers, so no --force is needed).
    let leader = cluster.leader().await;
    let (ok, out, err) = cluster_cli(&cluster, leader, &["remove-node", "--id", "4"]);
    assert!(ok, "remove-node 4: {err}");
    let view: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(voter_ids(&view).len(), 3, "{view}");
    cluster.kill(four);

    // One more follower dies: removing the last live follower would leave the leader and a
    // dead node, no live quorum. Refused, and nothing changes.
    let leader = cluster.leader().await;
    let live: Vec<usize> = [0, 1, 2, five]
        .into_iter()
        .filter(|n| *n != dead && *n != leader)
        .collect();
    let (victim, last) = (live[0], live[1]);
    cluster.kill(victim);
    let last_id = cluster.nodes[last].id.to_string();
    let (ok, _, err) = cluster_cli(&cluster, leader, &["remove-node", "--id", &last_id]);
    assert!(!ok, "removing the last live follower was allowed");
    assert!(
        err.contains("fewer than a quorum") && err.contains("--force"),
        "{err}"
    );
    let view = members(&cluster, leader);
    assert!(
        voter_ids(&view).contains(&last_id.parse().unwrap()),
        "{view}"
    );
    // The region still commits with its two live voters.
    trent_tests::eventually(
        Duration::from_secs(20),
        "a write after the refusal",
        || async { cluster.client(leader).create_key().send().await.is_ok() },
    )
    .await;
}
