//! `jl nemesis` on the cluster a user already runs under `trent up`: kill the leader, pause a
//! node, partition the (new) leader's Raft traffic from its peers (root: a `net_cls` cgroup and
//! nftables), and `heal`, which undoes all of it and starts the killed node through `trent up`.
//! The region serves through every fault a quorum survives, and every node is caught up after
//! the heal.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use trent_tests::local_up::{api, decrypts_through, stop_up, up, wait_up, StopOnPanic};
use trent_tests::{client_for, eventually, jl_binary, new_key, poll};

/// Runs `jl nemesis --cluster DATA/cluster.json ARGS`; returns whether it exited 0 and what it
/// printed (stdout, then stderr).
fn jl(data: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(jl_binary())
        .arg("nemesis")
        .arg("--cluster")
        .arg(data.join("cluster.json"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `jl nemesis status`, one line per node.
fn status(data: &Path) -> String {
    let (ok, text) = jl(data, &["status"]);
    assert!(ok, "{text}");
    text
}

/// The node (1..3) `jl nemesis status` calls leader, if exactly one is, skipping `except`.
fn leader(status: &str, except: Option<u32>) -> Option<u32> {
    let leaders: Vec<u32> = status
        .lines()
        .filter(|l| l.contains(" leader"))
        .filter_map(|l| {
            l.strip_prefix("us-east-1/")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .filter(|n| Some(*n) != except)
        .collect();
    (leaders.len() == 1).then(|| leaders[0])
}

/// Creates a key through node `n`, retrying while the region elects a leader.
async fn creates_through(n: u32) -> Option<String> {
    let kms = client_for(&api(n), "test", "test");
    poll(Duration::from_secs(30), || {
        let kms = kms.clone();
        async move {
            let made = kms.create_key().send().await.ok()?;
            Some(made.key_metadata()?.key_id().to_string())
        }
    })
    .await
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jl_nemesis_faults_and_heals_a_running_local_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let mut cluster = up(data, "never");
    let _guard = StopOnPanic::guard(&cluster);
    wait_up(data, &mut cluster).await;
    let kms = client_for(&api(1), "test", "test");
    let key = new_key(&kms).await;
    let blob = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"kept".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap();
    let first = poll(Duration::from_secs(20), || {
        let found = leader(&status(data), None);
        async move { found }
    })
    .await
    .expect("one leader");

    // kill-leader: the named node dies, the other two elect a leader and serve.
    let (ok, said) = jl(data, &["kill-leader"]);
    assert!(ok, "{said}");
    assert!(
        said.starts_with(&format!("killed us-east-1/{first} ")),
        "{said}"
    );
    eventually(
        Duration::from_secs(10),
        "the killed leader is stopped",
        || {
            let stopped = status(data).contains(&format!("us-east-1/{first} stopped"));
            async move { stopped }
        },
    )
    .await;
    let survivors: Vec<u32> = (1..=3).filter(|n| *n != first).collect();
    assert!(decrypts_through(survivors[0], &blob).await);
    let during_kill = creates_through(survivors[1])
        .await
        .expect("two nodes take writes");

    // pause: the node shows as paused; with one node dead and one stopped, heal brings both back.
    let paused = format!("us-east-1/{}", survivors[1]);
    let (ok, said) = jl(data, &["pause", &paused]);
    assert!(ok, "{said}");
    let shown = status(data);
    let line = shown.lines().find(|l| l.starts_with(&paused)).unwrap();
    assert!(
        line.contains(" running pid ") && line.ends_with(" paused"),
        "{shown}"
    );
    let (ok, said) = jl(data, &["heal"]);
    assert!(ok, "{said}");
    assert!(said.contains(&format!("resumed {paused}")), "{said}");
    assert!(
        said.contains(&format!("started us-east-1/{first}")),
        "{said}"
    );
    assert!(
        !data.join("jl-nemesis.json").exists(),
        "heal leaves nothing installed"
    );
    let restarted = client_for(&api(first), "test", "test");
    eventually(
        Duration::from_secs(30),
        "the restarted leader has the key made while it was dead",
        || {
            let kms = restarted.clone();
            let id = during_kill.clone();
            async move { kms.describe_key().key_id(id).send().await.is_ok() }
        },
    )
    .await;

    // A fault on a node that is not there is refused with the node list.
    let (ok, said) = jl(data, &["kill", "us-east-1/9"]);
    assert!(!ok && said.contains("no node us-east-1/9"), "{said}");

    if !is_root() {
        eprintln!("not root: the partition part of this test needs root (net_cls, nftables)");
        stop_up(cluster);
        return;
    }

    // partition: the leader is cut from its peers' Raft traffic; the other two elect a leader
    // of their own and take writes, while the cut node's API still answers.
    let cut = poll(Duration::from_secs(20), || {
        let found = leader(&status(data), None);
        async move { found }
    })
    .await
    .expect("one leader after the heal");
    let (ok, said) = jl(data, &["partition", &format!("us-east-1/{cut}")]);
    assert!(ok, "{said}");
    let others: Vec<u32> = (1..=3).filter(|n| *n != cut).collect();
    let new_leader = poll(Duration::from_secs(20), || {
        let found = leader(&status(data), Some(cut));
        async move { found }
    })
    .await
    .expect("the two connected nodes elect a leader");
    assert!(others.contains(&new_leader));
    assert!(status(data).contains(&format!("us-east-1/{cut} running")));
    assert!(status(data).contains("partitioned"));
    let during_partition = creates_through(others[0])
        .await
        .expect("the majority side takes writes");
    // The cut node cannot confirm a read with a quorum: it does not serve the new key.
    let cut_client = client_for(&api(cut), "test", "test");
    assert!(
        cut_client
            .describe_key()
            .key_id(&during_partition)
            .send()
            .await
            .is_err(),
        "the partitioned node served a key made on the other side"
    );

    // heal: the table is gone and the cut node catches up.
    let (ok, said) = jl(data, &["heal"]);
    assert!(ok, "{said}");
    assert!(
        said.contains(&format!("healed the partition of us-east-1/{cut}")),
        "{said}"
    );
    let table = Command::new("nft")
        .args(["list", "table", "inet", "jl_live"])
        .output()
        .unwrap();
    assert!(!table.status.success(), "the nftables table is still there");
    eventually(
        Duration::from_secs(30),
        "the healed node serves the key made while it was cut off",
        || {
            let kms = cut_client.clone();
            let id = during_partition.clone();
            async move { kms.describe_key().key_id(id).send().await.is_ok() }
        },
    )
    .await;
    assert!(decrypts_through(cut, &blob).await);
    stop_up(cluster);
}
