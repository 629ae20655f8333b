//! Catching up by snapshot: regression test for the first bug jepsen-lite found
//! (`make jepsen-regression-snapshot-install`). A snapshot chunk or AppendEntries body over
//! axum's 2 MB default limit was answered 413 forever, so a node that needed a multi-megabyte
//! snapshot never rejoined.

use kms_core::Command;

use crate::cluster::{create, create_big, eventually, settings, within_patience, Cluster};
use crate::one_cluster_at_a_time;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_behind_the_purged_log_installs_a_snapshot_larger_than_two_megabytes() {
    let _serial = one_cluster_at_a_time().await;
    // A snapshot every 50 entries; openraft keeps 100 entries behind it.
    let mut cluster = Cluster::start(settings(50)).await;
    let leader = cluster.leader().await;
    let lagging = cluster.others(leader)[0];
    cluster
        .node(leader)
        .write(create("before-the-stop"))
        .await
        .expect("a write");
    let index = cluster.last_log_index(leader);
    cluster.wait_applied_everywhere(index).await;
    let behind = cluster.last_log_index(lagging);
    cluster.stop(lagging).await;

    // About 3.3 MB of state while the follower is down: 100 keys with 32 KiB policies.
    for i in 0..100 {
        cluster
            .node(leader)
            .write(create_big(&format!("big-{i}"), 32 * 1024))
            .await
            .expect("a big write");
    }
    // Then small entries until the leader has dropped the log the follower would need.
    eventually(
        "the leader to purge the log past the stopped follower",
        || {
            let raft = cluster.node(leader).clone();
            async move {
                raft.write(Command::Noop).await.expect("a write");
                let purged = raft.raft().metrics().borrow().purged.map(|p| p.index);
                purged.filter(|p| *p > behind)
            }
        },
    )
    .await;

    cluster.proxy(lagging).take_bytes_to_node();
    cluster.restart(lagging).await;
    let target = cluster.last_log_index(leader);
    cluster.wait_applied(lagging, target).await;
    let installed = cluster
        .node(lagging)
        .raft()
        .metrics()
        .borrow()
        .snapshot
        .map(|s| s.index);
    assert!(
        installed.is_some_and(|s| s > behind),
        "the follower caught up without a snapshot past {behind}: {installed:?}"
    );
    let received = cluster.proxy(lagging).take_bytes_to_node();
    assert!(
        received > 2 * 1024 * 1024,
        "the follower received only {received} bytes"
    );
    within_patience(
        "a read on the caught-up follower",
        cluster.node(lagging).linearizable_read(),
    )
    .await
    .expect("the caught-up follower serves reads");
    for i in [0, 50, 99] {
        assert!(cluster.has_key(lagging, &format!("big-{i}")));
    }
    assert!(cluster.has_key(lagging, "before-the-stop"));
    let status = cluster.status(lagging).await;
    assert_eq!(status["state"], "Follower", "{status}");
    assert_eq!(status["snapshot_index"].as_u64(), installed, "{status}");
    cluster.shutdown().await;
}
