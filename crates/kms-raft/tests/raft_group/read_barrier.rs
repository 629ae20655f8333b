//! The read barrier: a node serves a read only from state that includes every write
//! acknowledged before the read began; cut off, it waits or errors, never answers stale.

use std::time::Duration;

use kms_types::KmsError;

use crate::cluster::{create, eventually, settings, within_patience, Cluster};
use crate::one_cluster_at_a_time;
use crate::proxy::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lagging_follower_reads_only_after_applying_every_acknowledged_write() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let leader = cluster.leader().await;
    let lagging = cluster.others(leader)[0];
    // Everything to and from the follower is 30 ms late (openraft gives an AppendEntries one
    // heartbeat, 100 ms, so more would cut it off); the leader and the other follower
    // acknowledge writes without it.
    cluster.proxy(lagging).set_delay(Duration::from_millis(30));

    let mut lagged = 0;
    for round in 0..5 {
        let id = format!("lag-{round}");
        cluster
            .node(leader)
            .write(create(&id))
            .await
            .expect("an acknowledged write");
        if !cluster.has_key(lagging, &id) {
            lagged += 1;
        }
        within_patience(
            "a read on the lagging follower",
            cluster.node(lagging).linearizable_read(),
        )
        .await
        .expect("the read barrier passes once the follower caught up");
        assert!(
            cluster.has_key(lagging, &id),
            "round {round}: the read barrier passed before {id} was applied"
        );
    }
    // The checks above mean something only if the follower really was behind.
    assert!(
        lagged >= 3,
        "the follower lagged in only {lagged} of 5 rounds"
    );
    cluster.proxy(lagging).set_delay(Duration::ZERO);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_cannot_hear_the_leader_never_serves_a_stale_read() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let leader = cluster.leader().await;
    let cut = cluster.others(leader)[0];

    // Nothing reaches the follower any more (it can still send).
    cluster.proxy(cut).set(Fault::Stall).await;
    cluster
        .node(leader)
        .write(create("while-cut"))
        .await
        .expect("the leader and the other follower acknowledge the write");

    // Concurrent readers share a barrier; every one of them is refused, none served stale.
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let raft = cluster.node(cut).clone();
        readers.spawn(async move { raft.linearizable_read().await });
    }
    while let Some(read) = within_patience("the cut follower's reads", readers.join_next()).await {
        let read = read.expect("a reader task");
        assert!(
            matches!(
                read,
                Err(KmsError::DependencyTimeout(_)) | Err(KmsError::KmsInternal(_))
            ),
            "a read on a follower cut off from the leader answered {read:?}"
        );
    }
    assert!(!cluster.has_key(cut, "while-cut"));

    // Healed, it catches up and serves again.
    cluster.proxy(cut).set(Fault::None).await;
    eventually("the healed follower to serve a read", || {
        let raft = cluster.node(cut).clone();
        async move { raft.linearizable_read().await.ok() }
    })
    .await;
    assert!(cluster.has_key(cut, "while-cut"));
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_partitioned_from_the_majority_never_serves_a_stale_read() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let old = cluster.leader().await;
    let majority = cluster.others(old);
    cluster.partition(&[old]);
    let new = cluster.leader_among(&majority).await;
    cluster
        .node(new)
        .write(create("majority-write"))
        .await
        .expect("the majority acknowledges a write");

    // The old leader may still believe it leads; it must not answer from its old state.
    let read = within_patience(
        "a read on the partitioned old leader",
        cluster.node(old).linearizable_read(),
    )
    .await;
    assert!(
        matches!(
            read,
            Err(KmsError::DependencyTimeout(_)) | Err(KmsError::KmsInternal(_))
        ),
        "a leader without a quorum answered a read with {read:?}"
    );
    assert!(!cluster.has_key(old, "majority-write"));

    cluster.heal();
    eventually("the old leader to serve a read again", || {
        let raft = cluster.node(old).clone();
        async move { raft.linearizable_read().await.ok() }
    })
    .await;
    assert!(cluster.has_key(old, "majority-write"));
    cluster.shutdown().await;
}
