//! The node's Prometheus endpoint against a real region: request counts by operation and
//! outcome, latency, the Raft view (one leader, every node's applied index), the key count, and
//! no key ids in what it exposes; and readiness apart from liveness (`/ready` drops while a node
//! knows no leader and comes back, `/live` stays up).
#![allow(clippy::unwrap_used)]

use std::time::Duration;
use trent_tests::Cluster;

async fn scrape(cluster: &Cluster, node: usize) -> String {
    let url = format!("http://{}/metrics", cluster.nodes[node].api_addr);
    let response = reqwest::get(&url).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample whose name and labels are exactly `series`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_show_the_raft_view() {
    let cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let key = trent_tests::new_key(&kms).await;
    for _ in 0..3 {
        trent_tests::encrypt(&kms, &key, "counted").await;
    }
    let missing = kms
        .describe_key()
        .key_id("11111111-2222-3333-4444-555555555555")
        .send()
        .await;
    assert!(missing.is_err());

    let text = scrape(&cluster, 0).await;
    assert_eq!(
        sample(
            &text,
            r#"trent_kms_requests_total{operation="Encrypt",outcome="OK"}"#
        ),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            r#"trent_kms_requests_total{operation="DescribeKey",outcome="NotFoundException"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"trent_kms_request_duration_seconds_count{operation="Encrypt"}"#
        ),
        Some(3.0)
    );
    assert!(!text.contains(&key), "a key id in the metrics");

    // One leader; every node applies the key and reports it.
    let mut leaders = 0.0;
    for node in 0..3 {
        let seen = trent_tests::poll(Duration::from_secs(10), || async {
            let text = scrape(&cluster, node).await;
            (sample(&text, "trent_keys") == Some(1.0)).then_some(text)
        })
        .await
        .unwrap_or_else(|| panic!("node {node} never reported the key"));
        leaders += sample(&seen, "trent_raft_is_leader").unwrap();
        assert!(sample(&seen, "trent_raft_last_applied_index").unwrap() >= 1.0);
        assert!(sample(&seen, "trent_raft_term").unwrap() >= 1.0);
    }
    assert_eq!(leaders, 1.0);
    // The leader reports each follower's lag.
    let leader = cluster.leader().await;
    let text = scrape(&cluster, leader).await;
    let lags = text
        .lines()
        .filter(|l| l.starts_with("trent_raft_replication_lag_entries{"))
        .count();
    assert_eq!(lags, 2, "{text}");
}

async fn probe(cluster: &Cluster, node: usize, path: &str) -> (u16, String) {
    let url = format!("http://{}{path}", cluster.nodes[node].api_addr);
    let response = reqwest::Client::new()
        .get(&url)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_drops_without_a_leader_and_comes_back_while_liveness_stays() {
    let mut cluster = Cluster::start().await;
    for node in 0..3 {
        trent_tests::eventually(Duration::from_secs(20), "every node ready", || async {
            probe(&cluster, node, "/ready").await.0 == 200
        })
        .await;
        assert_eq!(probe(&cluster, node, "/live").await, (200, "ok".into()));
    }

    // The leader and one follower gone: the last node has no quorum, so no leader.
    let leader = cluster.leader().await;
    let follower = (0..3).find(|n| *n != leader).unwrap();
    let alone = (0..3).find(|n| *n != leader && *n != follower).unwrap();
    cluster.kill(leader);
    cluster.kill(follower);
    let reason = trent_tests::poll(Duration::from_secs(20), || async {
        let (status, body) = probe(&cluster, alone, "/ready").await;
        (status == 503).then_some(body)
    })
    .await
    .expect("the lone node stayed ready");
    assert!(reason.contains("no leader"), "{reason}");
    // Alive all the while: an orchestrator must not restart it.
    assert_eq!(probe(&cluster, alone, "/live").await, (200, "ok".into()));
    assert_eq!(probe(&cluster, alone, "/health").await.0, 200);

    // Back to three: every node is ready again, the restarted ones once caught up.
    cluster.restart_all(&[leader, follower]).await;
    for node in 0..3 {
        trent_tests::eventually(
            Duration::from_secs(30),
            "every node ready again",
            || async { probe(&cluster, node, "/ready").await.0 == 200 },
        )
        .await;
    }
}
