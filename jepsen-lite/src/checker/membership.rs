//! The `membership` checker: every node a `membership` fault took out of its region is a voter
//! again after the heal, beside every voter that stayed. The nemesis records the voters the
//! leader answered after the removal (`start_membership`) and after the re-add
//! (`stop_membership`); a heal that could not add the node back records `"status": "failed"`.
//! Whether nothing acknowledged was lost meanwhile is for the workload checkers, and whether
//! the node caught up for `catch_up`.

use super::{CheckResult, Verdict, MAX_LISTED};
use crate::history::{Event, Process};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn names(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `membership`: each installed `start_membership` is followed by a `stop_membership` whose
/// status is `installed` and whose voters hold the removed node and every voter left by the
/// removal. No installed change at all is `unknown`.
pub fn check_membership(events: &[Event]) -> CheckResult {
    let nemesis: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.process, Process::Nemesis(_)))
        .collect();
    let mut changes = 0usize;
    let mut offenders: Vec<Value> = Vec::new();
    let mut offender_count = 0usize;
    for (at, start) in nemesis.iter().enumerate() {
        if start.f != "start_membership" || start.value["status"] != "installed" {
            continue;
        }
        changes += 1;
        let stop = nemesis[at + 1..]
            .iter()
            .find(|e| e.f == "stop_membership" || e.f == "start_membership");
        let mut expected = names(&start.value["voters"]);
        expected.extend(names(&start.value["nodes"]));
        let problem = match stop {
            Some(stop) if stop.f == "stop_membership" => {
                let voters = names(&stop.value["voters"]);
                if stop.value["status"] != "installed" {
                    Some(format!(
                        "the heal did not add the node back: {}",
                        stop.value["error"].as_str().unwrap_or("no error recorded")
                    ))
                } else if !expected.is_subset(&voters) {
                    Some(format!(
                        "voters after the heal {voters:?} lack {:?}",
                        expected.difference(&voters).collect::<Vec<_>>()
                    ))
                } else {
                    None
                }
            }
            _ => Some("no heal recorded".to_string()),
        };
        if let Some(problem) = problem {
            offender_count += 1;
            if offenders.len() < MAX_LISTED {
                offenders.push(json!({
                    "start_index": start.index,
                    "nodes": start.value["nodes"],
                    "action": start.value["action"],
                    "problem": problem,
                }));
            }
        }
    }
    let verdict = if offender_count > 0 {
        Verdict::Invalid
    } else if changes == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    CheckResult::new(
        "membership",
        verdict,
        json!({
            "changes": changes,
            "not_rejoined_count": offender_count,
            "not_rejoined": offenders,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::EventType;

    fn event(index: u64, f: &str, value: Value) -> Event {
        Event {
            index,
            time_ns: index * 1_000,
            kind: EventType::Info,
            process: Process::Nemesis("nemesis".into()),
            node: None,
            f: f.into(),
            key: None,
            value,
            error: None,
        }
    }

    fn removal(index: u64) -> Event {
        event(
            index,
            "start_membership",
            json!({"nodes": ["n2"], "status": "installed", "action": "remove",
                   "voters": ["n1", "n3"]}),
        )
    }

    #[test]
    fn a_node_back_among_the_voters_is_valid() {
        let events = vec![
            removal(0),
            event(
                1,
                "stop_membership",
                json!({"nodes": ["n2"], "status": "installed", "voters": ["n1", "n2", "n3"]}),
            ),
        ];
        let result = check_membership(&events);
        assert_eq!(result.verdict, Verdict::Valid, "{:?}", result.details);
        assert_eq!(result.details["changes"], 1);
    }

    #[test]
    fn a_failed_re_add_or_a_lost_voter_is_invalid() {
        let failed = vec![
            removal(0),
            event(
                1,
                "stop_membership",
                json!({"nodes": ["n2"], "status": "failed", "voters": ["n1", "n3"],
                       "error": "did not catch up"}),
            ),
        ];
        let result = check_membership(&failed);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert!(result.details["not_rejoined"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("did not catch up"));

        // Added back, but another voter went missing.
        let lost = vec![
            removal(0),
            event(
                1,
                "stop_membership",
                json!({"nodes": ["n2"], "status": "installed", "voters": ["n1", "n2"]}),
            ),
        ];
        assert_eq!(check_membership(&lost).verdict, Verdict::Invalid);

        // Never healed.
        assert_eq!(check_membership(&[removal(0)]).verdict, Verdict::Invalid);
    }

    #[test]
    fn skipped_changes_prove_nothing() {
        let events = vec![event(
            0,
            "start_membership",
            json!({"nodes": [], "status": "skipped"}),
        )];
        assert_eq!(check_membership(&events).verdict, Verdict::Unknown);
    }
}
