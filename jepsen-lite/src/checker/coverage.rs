//! `fault_coverage`: every requested nemesis kind was installed at least once (openraft's
//! Jepsen coverage checker: a run whose faults never happened proves nothing about them).

use super::{CheckResult, Verdict};
use crate::history::{Event, Process};
use serde_json::json;
use std::collections::BTreeMap;

/// The key a fault kind is counted under: its CLI name with underscores (`kill_leader`);
/// partitions are counted per shape (`partition_isolate_leader`).
pub fn coverage_key(cli_name: &str) -> String {
    cli_name.replace('-', "_")
}

/// `fault_coverage`: every requested nemesis kind (`requested`: CLI names, `kill-leader`) was
/// installed at least once.
pub fn check_fault_coverage(events: &[Event], requested: &[&str]) -> CheckResult {
    let mut installed: BTreeMap<String, u64> = BTreeMap::new();
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        if !matches!(event.process, Process::Nemesis(_)) {
            continue;
        }
        let Some(kind) = event.f.strip_prefix("start_") else {
            continue;
        };
        // Partitions are one event name; coverage counts each shape.
        let kind = match event.value["shape"].as_str() {
            Some(shape) => format!("{kind}_{}", shape.replace('-', "_")),
            None => kind.to_string(),
        };
        let bucket = if event.value["status"] == "installed" {
            &mut installed
        } else {
            &mut skipped
        };
        *bucket.entry(kind).or_default() += 1;
    }
    let missing: Vec<&str> = requested
        .iter()
        .copied()
        .filter(|name| !installed.contains_key(&coverage_key(name)))
        .collect();
    let verdict = if missing.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    CheckResult::new(
        "fault_coverage",
        verdict,
        json!({
            "requested": requested,
            "installed": installed,
            "skipped": skipped,
            "missing": missing,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nemesis_event(f: &str, status: &str) -> Event {
        Event::harness_info(
            "nemesis",
            None,
            f,
            json!({ "nodes": ["n1"], "status": status }),
        )
    }

    #[test]
    fn coverage_needs_every_requested_kind_installed() {
        let events = vec![
            nemesis_event("start_kill", "installed"),
            nemesis_event("stop_kill", "installed"),
            nemesis_event("start_kill_leader", "skipped"),
        ];
        let result = check_fault_coverage(&events, &["kill"]);
        assert_eq!(result.verdict, Verdict::Valid);
        let result = check_fault_coverage(&events, &["kill", "kill-leader"]);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["missing"], json!(["kill-leader"]));
    }
}
