//! The `trent` that `make run` starts carries no test hooks: its bytes do not name them, and a
//! node started with every hook variable set behaves as if none were. The same checks against
//! `trent-test` (the test build) show each hook is real, so these tests can fail. A node also
//! forbids core files whatever limit it inherits.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::types::KeyState;
use std::time::Duration;
use trent_tests::{eventually, new_mrk, Cluster, ClusterOptions, Regions};

/// The variables that switch test hooks on in the test build.
const HOOK_VARIABLES: [&str; 3] = [
    "TRENT_PLANTED_BUG",
    "TRENT_TEST_CLOCK_OFFSET_FILE",
    "TRENT_TEST_LINK_FAULT_FILE",
];

/// Ten years, as a clock offset in milliseconds.
const TEN_YEARS_MS: i64 = 10 * 365 * 24 * 3_600_000;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[test]
fn the_shipped_binary_does_not_name_any_test_hook() {
    let shipped = std::fs::read(trent_tests::trent_binary()).unwrap();
    let test_build = std::fs::read(trent_tests::trent_test_binary()).unwrap();
    for variable in HOOK_VARIABLES {
        assert!(
            !contains(&shipped, variable),
            "trent contains {variable}: the testing feature reached the shipped binary"
        );
        assert!(
            contains(&test_build, variable),
            "trent-test does not contain {variable}: this check would prove nothing"
        );
    }
}

/// Every hook variable set on every node, each asking for the most visible effect: planted
/// bugs, a clock ten years ahead and the link to other regions cut.
fn every_hook_switched_on(dir: &std::path::Path) -> Vec<(String, String)> {
    let clock = dir.join("clock-offset");
    std::fs::write(&clock, TEN_YEARS_MS.to_string()).unwrap();
    let link = dir.join("link-fault");
    std::fs::write(&link, "cut").unwrap();
    vec![
        (
            "TRENT_PLANTED_BUG".into(),
            "stale-reads,ack-before-commit".into(),
        ),
        (
            "TRENT_TEST_CLOCK_OFFSET_FILE".into(),
            clock.display().to_string(),
        ),
        (
            "TRENT_TEST_LINK_FAULT_FILE".into(),
            link.display().to_string(),
        ),
    ]
}

async fn creation_secs(kms: &aws_sdk_kms::Client) -> i64 {
    kms.create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .creation_date
        .unwrap()
        .secs()
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hook_variables_change_nothing_in_the_shipped_binary() {
    let hooks = tempfile::tempdir().unwrap();
    let cluster = Cluster::start_with(ClusterOptions {
        nodes: 1,
        env: every_hook_switched_on(hooks.path()),
        ..ClusterOptions::default()
    })
    .await;
    let created = creation_secs(&cluster.client(0)).await;
    assert!(
        (created - now_secs()).abs() < 300,
        "CreationDate {created} is not now: the clock-offset hook took effect in trent"
    );
    let log = cluster.log(0);
    assert!(
        !log.contains("planted"),
        "trent announced planted bugs:\n{log}"
    );

    // The test build, with its clock hook moved the same way, does date keys ten years ahead.
    let test_build = Cluster::start_with(ClusterOptions {
        nodes: 1,
        test_hooks: true,
        ..ClusterOptions::default()
    })
    .await;
    test_build.set_clock_offset(0, TEN_YEARS_MS);
    let created = creation_secs(&test_build.client(0)).await;
    assert!(
        created - now_secs() > TEN_YEARS_MS / 1000 - 300,
        "trent-test ignored its clock hook (CreationDate {created}), so the check above proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_link_fault_variable_cannot_cut_the_shipped_binary_off() {
    let hooks = tempfile::tempdir().unwrap();
    let options = ClusterOptions {
        env: every_hook_switched_on(hooks.path()),
        ..ClusterOptions::default()
    };
    let regions = Regions::start_with(&["us-east-1", "us-west-2"], 1, options).await;
    let east = regions.region(0).client(0);
    let west = regions.region(1).client(0);
    let key_id = new_mrk(&east).await;
    east.replicate_key()
        .key_id(&key_id)
        .replica_region("us-west-2")
        .send()
        .await
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "the replica is enabled in us-west-2 (the link-fault file says cut)",
        || async {
            west.describe_key()
                .key_id(&key_id)
                .send()
                .await
                .ok()
                .and_then(|d| d.key_metadata)
                .and_then(|m| m.key_state)
                == Some(KeyState::Enabled)
        },
    )
    .await;
}

/// The soft and hard core-file limits in `/proc/PID/limits`.
fn core_file_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap_or_else(|| panic!("no core-file line in {limits}"));
    let fields: Vec<&str> = line["Max core file size".len()..]
        .split_whitespace()
        .collect();
    (fields[0].to_string(), fields[1].to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_can_leave_no_core_dump() {
    // The nodes inherit this process's limits: allow core files here, so a node that did not
    // forbid them itself would show it.
    let raised = std::process::Command::new("prlimit")
        .args([
            "--pid",
            &std::process::id().to_string(),
            "--core=unlimited:unlimited",
        ])
        .status()
        .unwrap();
    assert!(raised.success());
    let ours = core_file_limits(std::process::id());
    assert_eq!(ours, ("unlimited".to_string(), "unlimited".to_string()));
    let cluster = Cluster::start_with(ClusterOptions::default()).await;
    for index in 0..cluster.nodes.len() {
        let pid = cluster.pid(index).unwrap();
        assert_eq!(
            core_file_limits(pid),
            ("0".to_string(), "0".to_string()),
            "node {index} (the test process has {ours:?})"
        );
    }
}
