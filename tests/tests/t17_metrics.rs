//! The node's Prometheus endpoint against a real region: request counts by operation and
//! outcome, latency, the Raft view (one leader, every node's applied index), the key count, and
//! no key ids in what it exposes.
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
