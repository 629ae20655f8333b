//! `trent up`, the local cluster of `make run`, outlives its nodes: a node killed with SIGKILL
//! is reported and the region carries on with the other two; `trent node start|stop|restart`
//! drives single nodes; `--restart on-failure` brings a killed node back by itself; a second
//! `trent up` on the same data directory keeps the keys.
//!
//! `trent up` listens on its fixed local ports (127.0.0.1:8101-8103 for one region of three);
//! the helpers are `trent_tests::local_up`.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use trent_tests::local_up::{
    api, decrypts_through, kill9, node_cmd, pid_of, status, stop_up, up, up_output, wait_up,
    StopOnPanic,
};
use trent_tests::{client_for, eventually, new_key, poll, trent_binary};

/// `trent cluster status --data-dir DATA`: whether it exited 0, and what it printed.
fn cluster_status(data: &Path) -> (bool, String) {
    let out = Command::new(trent_binary())
        .args(["cluster", "status", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cluster_outlives_a_killed_node_and_drives_single_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();

    // --restart never: a killed node is reported and stays down; the region carries on.
    let mut first = up(data, "never");
    let _guard = StopOnPanic::guard(&first);
    wait_up(data, &mut first).await;
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

    // All three answer and agree on one leader (which may still be settling right after start).
    let settled = poll(Duration::from_secs(20), || async {
        let (ok, report) = cluster_status(data);
        ok.then_some(report)
    })
    .await
    .expect("trent cluster status never reported healthy");
    assert!(settled.starts_with("us-east-1: healthy"), "{settled}");
    assert_eq!(settled.matches("role leader").count(), 1, "{settled}");
    assert_eq!(settled.matches("role follower").count(), 2, "{settled}");

    let victim = pid_of(data, "us-east-1/2").expect("node 2 runs");
    kill9(victim);
    eventually(
        Duration::from_secs(10),
        "node 2 is reported stopped",
        || {
            let stopped = status(data).contains("us-east-1/2 stopped");
            async move { stopped }
        },
    )
    .await;
    assert!(
        first.try_wait().unwrap().is_none(),
        "trent up stopped with its node"
    );
    let log = up_output(data, "never");
    assert!(
        log.contains("node us-east-1/2 exited") && log.contains("the other nodes keep running"),
        "{log}"
    );
    assert!(
        decrypts_through(1, &blob).await,
        "node 1 serves without node 2"
    );
    assert!(
        decrypts_through(3, &blob).await,
        "node 3 serves without node 2"
    );
    assert!(pid_of(data, "us-east-1/1").is_some() && pid_of(data, "us-east-1/3").is_some());
    let (ok, report) = cluster_status(data);
    assert!(!ok, "a region with a dead node is not healthy: {report}");
    assert!(
        report.contains(&format!("http://{} unreachable", api(2))),
        "{report}"
    );

    // trent node start brings it back; restart replaces the process; unknown nodes are refused.
    let started = node_cmd(data, &["start", "us-east-1/2"]);
    assert!(started.status.success(), "{started:?}");
    assert!(decrypts_through(2, &blob).await, "node 2 serves again");
    let before = pid_of(data, "us-east-1/3").unwrap();
    let restarted = node_cmd(data, &["restart", "us-east-1/3"]);
    assert!(restarted.status.success(), "{restarted:?}");
    let after = pid_of(data, "us-east-1/3").expect("node 3 runs again");
    assert_ne!(before, after);
    assert!(
        decrypts_through(3, &blob).await,
        "node 3 serves after restart"
    );
    let unknown = node_cmd(data, &["start", "us-east-1/9"]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no node us-east-1/9"));
    let twice = node_cmd(data, &["start", "us-east-1/1"]);
    assert!(String::from_utf8_lossy(&twice.stderr).contains("is running"));

    // A second `trent up` on a data directory in use is refused.
    let second = Command::new(trent_binary())
        .args(["up", "--data-dir"])
        .arg(data)
        .env("TRENT_REGIONS", "us-east-1")
        .env("TRENT_NODES_PER_REGION", "3")
        .output()
        .unwrap();
    assert!(!second.status.success());
    stop_up(first);
    assert!(node_cmd(data, &["status"]).status.code() != Some(0));

    // --restart on-failure, on the same data: the key is still there, and a killed node comes
    // back by itself.
    let mut again = up(data, "on-failure");
    let _again_guard = StopOnPanic::guard(&again);
    wait_up(data, &mut again).await;
    assert!(
        decrypts_through(1, &blob).await,
        "the key survived trent up's restart"
    );
    let victim = pid_of(data, "us-east-1/1").expect("node 1 runs");
    kill9(victim);
    let back = poll(Duration::from_secs(20), || {
        let pid = pid_of(data, "us-east-1/1");
        async move { pid.filter(|p| *p != victim) }
    })
    .await;
    assert!(back.is_some(), "node 1 was not restarted: {}", status(data));
    assert!(up_output(data, "on-failure").contains("restarting it in"));
    assert!(
        decrypts_through(1, &blob).await,
        "the restarted node serves"
    );
    stop_up(again);
}
