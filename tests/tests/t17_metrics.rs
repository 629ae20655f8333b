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

/// Every metric name the Grafana dashboard in `cluster/` queries, and the labels its legends
/// use, exist in a node's scrape: the dashboard cannot silently show nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grafana_dashboard_queries_metrics_the_nodes_export() {
    // Two linked regions, so the outbox has a series per peer; scraped on the leader, which
    // reports replication lag.
    let regions = trent_tests::Regions::start(&["us-east-1", "eu-west-1"], 3).await;
    let cluster = regions.region(0);
    let kms = cluster.client(0);
    trent_tests::new_key(&kms).await;
    let scraped = scrape(cluster, cluster.leader().await).await;
    assert!(
        scraped.contains("trent_outbox_depth{region=\"eu-west-1\"} 0"),
        "{scraped}"
    );
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cluster/grafana-dashboard.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 6);
    let mut queried = std::collections::BTreeSet::new();
    for target in panels.iter().flat_map(|p| p["targets"].as_array().unwrap()) {
        let expr = target["expr"].as_str().unwrap();
        let mut rest = expr;
        while let Some(at) = rest.find("trent_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            rest = &rest[at + name.len()..];
            queried.insert(name);
        }
        for label in ["operation", "outcome", "node", "region"] {
            if target["legendFormat"]
                .as_str()
                .unwrap()
                .contains(&format!("{{{{{label}}}}}"))
            {
                assert!(
                    scraped.contains(&format!("{label}=\""))
                        || label == "node"
                        || label == "region",
                    "legend label {label} of {expr} is not in the scrape"
                );
            }
        }
    }
    assert!(queried.len() >= 10, "{queried:?}");
    for name in &queried {
        // A sample, or the family's declaration (a family with no series yet, such as the
        // outbox depth of a region without peers, is declared all the same).
        let family = name
            .strip_suffix("_bucket")
            .or_else(|| name.strip_suffix("_total"))
            .unwrap_or(name);
        let exported = scraped.lines().any(|line| {
            line.starts_with(&format!("{name} "))
                || line.starts_with(&format!("{name}{{"))
                || line.starts_with(&format!("# TYPE {family} "))
        });
        assert!(
            exported,
            "the dashboard queries {name}, which no node exports:\n{scraped}"
        );
    }
}

/// With `TRENT_LOG_FORMAT=json` every log line is one JSON object, and a request's line
/// carries the request id the response gave as `x-amzn-RequestId`, never the plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_response_request_id() {
    use aws_sdk_kms::operation::RequestId;
    let cluster = Cluster::start_with(trent_tests::ClusterOptions {
        env: vec![
            ("TRENT_LOG_FORMAT".into(), "json".into()),
            ("RUST_LOG".into(), "info,openraft=warn,kms_api=debug".into()),
        ],
        ..trent_tests::ClusterOptions::default()
    })
    .await;
    let kms = cluster.client(0);
    let key = trent_tests::new_key(&kms).await;
    let sealed = kms
        .encrypt()
        .key_id(&key)
        .plaintext(aws_sdk_kms::primitives::Blob::new(
            b"json-log-secret".to_vec(),
        ))
        .send()
        .await
        .unwrap();
    let request_id = sealed.request_id().unwrap().to_string();
    let found = trent_tests::poll(Duration::from_secs(10), || async {
        let log = cluster.log(0);
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|event| event["request_id"] == request_id.as_str())
    })
    .await
    .expect("the request's log line");
    assert_eq!(found["operation"], "Encrypt");
    assert_eq!(found["outcome"], "OK");
    assert_eq!(found["level"], "DEBUG");
    let log = cluster.log(0);
    // Neither the plaintext nor its base64 form.
    assert!(!log.contains("json-log-secret") && !log.contains("anNvbi1sb2ctc2VjcmV0"));
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "not JSON: {line}"
        );
    }
}
