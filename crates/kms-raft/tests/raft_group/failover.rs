//! Fail-over from a paused leader: regression test for the second bug jepsen-lite found
//! (`make jepsen-regression-paused-leader`). A read-index request to a SIGSTOPped leader (its
//! port accepts, nothing answers) held the batched read barrier for the whole forwarding
//! timeout, so reads failed everywhere although a new leader had been elected.

use std::time::{Duration, Instant};

use kms_types::KmsError;

use crate::cluster::{create, creates_of, eventually, settings, within_patience, Cluster};
use crate::one_cluster_at_a_time;

/// Reads and writes on the other nodes must be served this soon after the leader stops. The
/// election takes 0.5-1 s and a request to the paused leader gives up after two election
/// timeouts; the old code waited `leader_wait` (10 s here) on the paused leader.
const FAILOVER_BOUND: Duration = Duration::from_secs(5);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_and_writes_fail_over_from_a_paused_leader_within_a_bound() {
    let _serial = one_cluster_at_a_time().await;
    let mut raft_settings = settings(5000);
    raft_settings.leader_wait = Duration::from_secs(10);
    let mut cluster = Cluster::start(raft_settings).await;
    let old = cluster.leader().await;
    let others = cluster.others(old);
    let (reader, writer) = (others[0], others[1]);
    // Followers that have forwarded before hold pooled connections to the leader, as in a
    // region that has been serving.
    for id in &others {
        cluster
            .node(*id)
            .write(create(&format!("warm-{id}")))
            .await
            .expect("a forwarded write");
        cluster.node(*id).linearizable_read().await.expect("a read");
    }

    cluster.pause(old).await;
    let paused = Instant::now();
    let raft = cluster.node(reader).clone();
    let read = tokio::spawn(async move { (raft.linearizable_read().await, paused.elapsed()) });
    let raft = cluster.node(writer).clone();
    let write =
        tokio::spawn(async move { (raft.write(create("during-pause")).await, paused.elapsed()) });

    let (read, read_took) = within_patience("the read", read).await.expect("reader");
    println!("read on node {reader} after the pause: {read:?} in {read_took:?}");
    assert!(
        read.is_ok(),
        "the read failed after {read_took:?}: {read:?}"
    );
    assert!(read_took < FAILOVER_BOUND, "the read took {read_took:?}");

    // Sent to the paused leader, the write may or may not take effect later: it is answered
    // with a retryable error (or, if the follower already knew the new leader, done).
    let (write, write_took) = within_patience("the write", write).await.expect("writer");
    println!("write on node {writer} after the pause: {write:?} in {write_took:?}");
    assert!(
        matches!(
            write,
            Ok(_) | Err(KmsError::KmsInternal(_)) | Err(KmsError::DependencyTimeout(_))
        ),
        "{write:?}"
    );
    assert!(write_took < FAILOVER_BOUND, "the write took {write_took:?}");

    // A client retrying on that node is served by the new leader within the bound.
    let mut attempt = 0;
    let served = eventually("a write on a follower of the new leader", || {
        attempt += 1;
        let raft = cluster.node(writer).clone();
        let id = format!("after-pause-{attempt}");
        async move { raft.write(create(&id)).await.ok().map(|_| id) }
    })
    .await;
    let served_after = paused.elapsed();
    println!("first successful write {served_after:?} after the pause");
    assert!(
        served_after < FAILOVER_BOUND,
        "served after {served_after:?}"
    );
    let new = cluster.leader_among(&others).await;
    assert_ne!(new, old);

    // The old leader, resumed, follows the new one and catches up.
    cluster.resume(old);
    eventually("the old leader to follow the new one", || {
        let metrics = cluster.node(old).raft().metrics().borrow().clone();
        let caught_up =
            metrics.current_leader.is_some_and(|l| l != old) && cluster.has_key(old, &served);
        async move { caught_up.then_some(()) }
    })
    .await;
    for (id, log) in cluster.stop_and_read_logs().await {
        assert!(creates_of(&log, "during-pause") <= 1, "node {id}'s log");
    }
}
