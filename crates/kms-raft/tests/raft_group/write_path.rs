//! The write path: group commit, leader forwarding, and what a follower does when the leader
//! never got its forwarded write or when the leader's answer was lost (invariant 7).

use std::collections::BTreeMap;
use std::time::Duration;

use kms_core::{Command, CommandOutput};
use kms_types::KmsError;

use crate::cluster::{
    create, create_big, creates_of, eventually, settings, within_patience, Cluster,
};
use crate::one_cluster_at_a_time;
use crate::proxy::Fault;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_region_elects_one_leader_and_reports_it_on_raft_status() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let leader = cluster.leader().await;
    let written = cluster
        .node(leader)
        .write(create("status-key"))
        .await
        .expect("a write on the leader");
    assert!(matches!(written, CommandOutput::Key(k) if k.key_id == "status-key"));
    let index = cluster.last_log_index(leader);
    cluster.wait_applied_everywhere(index).await;

    for id in cluster.ids() {
        let status = cluster.status(id).await;
        assert_eq!(status["node_id"], id, "{status}");
        assert_eq!(status["current_leader"], leader, "{status}");
        let expected = if id == leader { "Leader" } else { "Follower" };
        assert_eq!(status["state"], expected, "{status}");
        assert!(
            status["last_applied_index"].as_u64() >= Some(index),
            "{status}"
        );
        assert!(cluster.has_key(id, "status-key"));
    }
    cluster.shutdown().await;
}

/// What caller `i` of a batch writes, and what it must get back.
enum Expect {
    Created(String),
    NotFound,
    /// One of two callers creating the same id: exactly one of the pair succeeds.
    Contested(String),
}

fn command_for(prefix: &str, i: usize) -> (Command, Expect) {
    if i % 10 == 9 {
        let missing = format!("{prefix}-missing-{i}");
        let command = Command::UpdateKeyDescription {
            key_id: missing,
            description: "never applied".into(),
        };
        (command, Expect::NotFound)
    } else if i % 20 < 2 {
        let id = format!("{prefix}-contested-{}", i / 20);
        (create(&id), Expect::Contested(id))
    } else {
        let id = format!("{prefix}-{i}");
        (create(&id), Expect::Created(id))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_log_entries_and_each_caller_gets_its_own_outcome() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let leader = cluster.leader().await;
    let follower = cluster.others(leader)[0];
    const WRITES: usize = 200;

    for (node, prefix) in [(leader, "on-leader"), (follower, "on-follower")] {
        let before = cluster.last_log_index(leader);
        let mut callers = tokio::task::JoinSet::new();
        for i in 0..WRITES {
            let raft = cluster.node(node).clone();
            let (command, expect) = command_for(prefix, i);
            callers.spawn(async move { (expect, raft.write(command).await) });
        }
        let mut contested: BTreeMap<String, Vec<Result<CommandOutput, KmsError>>> = BTreeMap::new();
        let mut answered = 0;
        while let Some(joined) = within_patience("the writes", callers.join_next()).await {
            let (expect, result) = joined.expect("a writer task");
            answered += 1;
            match expect {
                Expect::Created(id) => match result {
                    Ok(CommandOutput::Key(key)) => assert_eq!(key.key_id, id),
                    other => panic!("{prefix}: create {id} answered {other:?}"),
                },
                Expect::NotFound => {
                    assert!(matches!(result, Err(KmsError::NotFound(_))), "{result:?}")
                }
                Expect::Contested(id) => contested.entry(id).or_default().push(result),
            }
        }
        assert_eq!(answered, WRITES);
        for (id, results) in &contested {
            let created = results
                .iter()
                .filter(|r| matches!(r, Ok(CommandOutput::Key(k)) if &k.key_id == id))
                .count();
            let refused = results
                .iter()
                .filter(|r| matches!(r, Err(KmsError::AlreadyExists(_))))
                .count();
            assert_eq!((created, refused), (1, 1), "{id}: {results:?}");
        }
        let entries = cluster.last_log_index(leader) - before;
        println!("{prefix}: {WRITES} concurrent writes took {entries} log entries");
        assert!(
            entries <= (WRITES / 4) as u64,
            "{prefix}: {WRITES} concurrent writes took {entries} log entries"
        );
        let index = cluster.last_log_index(leader);
        cluster.wait_applied_everywhere(index).await;
        for id in cluster.ids() {
            let count = cluster.node(id).reader().read(|state| state.key_count());
            assert!(cluster.has_key(id, &format!("{prefix}-3")));
            assert!(!cluster.has_key(id, &format!("{prefix}-missing-9")));
            assert_eq!(
                count,
                cluster.node(leader).reader().read(|s| s.key_count()),
                "node {id}"
            );
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_entry_larger_than_axums_default_body_limit_is_forwarded_and_replicated() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let leader = cluster.leader().await;
    let others = cluster.others(leader);
    let (follower, other) = (others[0], others[1]);
    // One entry of 80 keys with 32 KiB policies: about 2.6 MB, over axum's 2 MB default.
    let batch = Command::Batch(
        (0..80)
            .map(|i| create_big(&format!("big-{i}"), 32 * 1024))
            .collect(),
    );
    cluster.proxy(leader).take_bytes_to_node();
    cluster.proxy(other).take_bytes_to_node();
    let result = within_patience(
        "a 2.6 MB write through a follower",
        cluster.node(follower).write(batch),
    )
    .await;
    match result {
        Ok(CommandOutput::Batch(results)) => {
            assert_eq!(results.len(), 80);
            assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        }
        other => panic!("the batch answered {other:?}"),
    }
    let index = cluster.last_log_index(leader);
    cluster.wait_applied_everywhere(index).await;
    for id in cluster.ids() {
        assert!(cluster.has_key(id, "big-79"), "node {id}");
    }
    const TWO_MB: u64 = 2 * 1024 * 1024;
    let forwarded = cluster.proxy(leader).take_bytes_to_node();
    let appended = cluster.proxy(other).take_bytes_to_node();
    assert!(forwarded > TWO_MB, "forwarded {forwarded} bytes");
    assert!(appended > TWO_MB, "appended {appended} bytes");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_refused_before_sending_is_retried_and_applied_once() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let leader = cluster.leader().await;
    let follower = cluster.others(leader)[0];
    let log_before = cluster.last_log_index(leader);

    // The leader's port refuses connections: the follower knows its write was never sent.
    cluster.proxy(leader).set(Fault::Refuse).await;
    let raft = cluster.node(follower).clone();
    let mut write = tokio::spawn(async move { raft.write(create("refused-then-sent")).await });
    // Held for a second (twenty retry periods), the write neither fails nor reaches the leader.
    let early = tokio::time::timeout(Duration::from_secs(1), &mut write).await;
    assert!(early.is_err(), "the write gave up while refused: {early:?}");
    assert_eq!(cluster.last_log_index(leader), log_before);

    cluster.proxy(leader).set(Fault::None).await;
    let result = within_patience("the retried write", write)
        .await
        .expect("the writer task");
    assert!(
        matches!(&result, Ok(CommandOutput::Key(k)) if k.key_id == "refused-then-sent"),
        "{result:?}"
    );
    let index = cluster.last_log_index(leader);
    cluster.wait_applied_everywhere(index).await;

    for (id, log) in cluster.stop_and_read_logs().await {
        assert_eq!(creates_of(&log, "refused-then-sent"), 1, "node {id}'s log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_whose_answer_is_lost_is_an_ambiguous_error_and_applied_once() {
    let _serial = one_cluster_at_a_time().await;
    let cluster = Cluster::start(settings(5000)).await;
    let leader = cluster.leader().await;
    let follower = cluster.others(leader)[0];

    // The leader gets the forwarded write and commits it; its answer never arrives.
    cluster.proxy(leader).set(Fault::LoseAnswers).await;
    let result = within_patience(
        "the write whose answer is lost",
        cluster.node(follower).write(create("answer-lost")),
    )
    .await;
    assert!(
        matches!(&result, Err(KmsError::KmsInternal(message)) if message.contains("lost")),
        "expected a retryable ambiguous error, got {result:?}"
    );
    assert!(cluster.proxy(leader).answers_lost() >= 1);
    cluster.proxy(leader).set(Fault::None).await;

    // It was committed (by the leader, once), though the caller was told it may not have been.
    assert!(cluster.has_key(leader, "answer-lost"));
    let index = cluster.last_log_index(leader);
    cluster.wait_applied_everywhere(index).await;
    assert!(cluster.has_key(follower, "answer-lost"));
    for (id, log) in cluster.stop_and_read_logs().await {
        assert_eq!(creates_of(&log, "answer-lost"), 1, "node {id}'s log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_a_leader_partitioned_from_the_majority_are_answered_within_leader_wait() {
    let _serial = one_cluster_at_a_time().await;
    let raft_settings = settings(5000);
    let leader_wait = raft_settings.leader_wait;
    let cluster = Cluster::start(raft_settings).await;
    let old = cluster.leader().await;
    let majority = cluster.others(old);
    cluster.partition(&[old]);
    let new = cluster.leader_among(&majority).await;
    cluster
        .node(new)
        .write(create("majority-write"))
        .await
        .expect("the majority acknowledges a write");

    // The old leader still believes it leads: it proposes, never commits, and must say so
    // within leader_wait of each submission (writes queued for a proposal slot included).
    let started = std::time::Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for i in 0..8 {
        let raft = cluster.node(old).clone();
        writers.spawn(async move { raft.write(create(&format!("minority-{i}"))).await });
    }
    while let Some(write) = within_patience("writes on the old leader", writers.join_next()).await {
        let write = write.expect("a writer task");
        assert!(
            matches!(
                &write,
                Err(KmsError::KmsInternal(_)) | Err(KmsError::DependencyTimeout(_))
            ),
            "a leader without a quorum answered a write with {write:?}"
        );
    }
    let took = started.elapsed();
    assert!(
        took < leader_wait + Duration::from_secs(2),
        "the old leader answered after {took:?}"
    );

    // Healed, the old leader's uncommitted entries are replaced by the majority's log.
    cluster.heal();
    eventually("the old leader to apply the majority's write", || {
        let caught_up = cluster.has_key(old, "majority-write");
        async move { caught_up.then_some(()) }
    })
    .await;
    let index = cluster.last_log_index(new);
    cluster.wait_applied_everywhere(index).await;
    for id in cluster.ids() {
        for i in 0..8 {
            assert!(!cluster.has_key(id, &format!("minority-{i}")), "node {id}");
        }
    }
    cluster.shutdown().await;
}
