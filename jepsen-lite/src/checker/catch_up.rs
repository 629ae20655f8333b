//! The `catch_up` checker: every node a heal brought back (restarted after a kill, resumed after
//! a pause, reconnected after a partition), and every node after the final heal, applied
//! everything its region's leader had applied when the probe began, within the bound, and then
//! served a read.
//!
//! **Regression guard for "snapshot install refused"** (found by jepsen-lite, fixed in
//! `kms-raft`): axum's default 2 MB body limit on the internal `/raft/*` routes answered 413 to
//! snapshot chunks (and to large AppendEntries batches), so a node that was killed, fell behind
//! the log compaction and needed a snapshot of more than 2 MB never rejoined. Such a node never
//! reaches the leader's index: its probe times out and this check is invalid.
//! `make jepsen-regression-snapshot-install` builds that situation on purpose (the `big-keys`
//! workload, `kill-follower`, a small `--snapshot-after-entries`) and passes
//! `--expect-snapshot-mb`, so the run is not valid unless a restarted node really had to be sent
//! a snapshot of a multi-megabyte state.
//!
//! Input: harness events `f = "catch_up"` (process `"harness"`, `node` = the probed node), one per
//! probe, written by `crate::catch_up`. Their value:
//!
//! - `status`: `caught_up` (its `last_applied_index` reached `target_index`), `timeout` (it did
//!   not within `bound_s`) or `interrupted` (the nemesis installed another fault first; not
//!   judged, the run's final probe of every node still is);
//! - `after`: the heal that started it (`stop_kill_follower`, ..., `final_heal`); `seconds` from
//!   that heal to the observation; `leader`, `target_index` (the leader's `last_applied_index`
//!   when first seen after the heal), `applied_index` (the node's last seen);
//! - `needed_snapshot`: whether the leader had already purged its log past the node's last log
//!   entry (`purged_index` > `last_log_index` at the fault, or else at its first status after the
//!   heal), i.e. it could only catch up by installing a snapshot; `null` if unknown;
//! - `read`: after catching up, `"ok"` or the error of a `ListKeys` on that node.
//!
//! Verdict: invalid if a judged probe timed out, or caught up but its read failed; unknown if no
//! probe was judged (or, with [`CatchUpOptions::expect_snapshot_bytes`], if no judged probe
//! needed a snapshot while the acknowledged `big-keys` payload was at least that large);
//! otherwise valid.

use super::{event_json, CheckResult, Verdict, MAX_LISTED};
use crate::history::{pair, Event, EventType, Process};

/// The `f` of a probe's harness event.
pub const F_CATCH_UP: &str = "catch_up";
/// The process name of harness events.
pub const HARNESS: &str = super::mrk::HARNESS;

/// What the checker requires beyond every judged probe succeeding.
#[derive(Debug, Clone, Default)]
pub struct CatchUpOptions {
    /// Require a judged probe of a node that needed a snapshot, healed when the `big-keys`
    /// payload (policy bytes + description characters of acknowledged creates) was at least
    /// this many bytes; without one the verdict is unknown (the run did not test the path).
    pub expect_snapshot_bytes: Option<u64>,
}

/// True for a catch-up probe event.
pub fn is_probe(event: &Event) -> bool {
    event.f == F_CATCH_UP && event.process == Process::Nemesis(HARNESS.into())
}

/// (completion time, payload bytes) of every acknowledged `big-keys` create, in history order.
fn big_payloads(events: &[Event]) -> Vec<(u64, u64)> {
    pair(events)
        .into_iter()
        .filter(|op| op.invoke.f == "create_key" && op.outcome() == EventType::Ok)
        .filter_map(|op| {
            let policy = op.invoke.value.get("policy_bytes")?.as_u64()?;
            let description = op.invoke.value.get("description_chars")?.as_u64()?;
            Some((op.completion?.time_ns, policy + description))
        })
        .collect()
}

/// `catch_up`: see the module docs.
pub fn check_catch_up(events: &[Event], options: &CatchUpOptions) -> CheckResult {
    let payloads = big_payloads(events);
    let acked_before = |time_ns: u64| -> u64 {
        payloads
            .iter()
            .filter(|(t, _)| *t <= time_ns)
            .map(|(_, b)| b)
            .sum()
    };
    let probes: Vec<&Event> = events.iter().filter(|e| is_probe(e)).collect();
    let mut judged = 0usize;
    let mut caught_up = 0usize;
    let mut interrupted = 0usize;
    let mut offenders: Vec<serde_json::Value> = Vec::new();
    let mut offender_count = 0usize;
    let mut max_seconds = 0.0f64;
    let mut needed_snapshot = 0usize;
    // Largest big-keys payload acknowledged before the heal of a probe that needed a snapshot.
    let mut snapshot_state_bytes: Option<u64> = None;
    let mut unreadable = 0usize;
    for probe in &probes {
        let value = &probe.value;
        let status = value["status"].as_str().unwrap_or("");
        let seconds = value["seconds"].as_f64().unwrap_or(0.0);
        let problem = match status {
            "interrupted" => {
                interrupted += 1;
                continue;
            }
            "timeout" => Some("did not reach the leader's applied index within the bound"),
            "caught_up" if value["read"] != "ok" => Some("caught up, but a read on it failed"),
            "caught_up" => None,
            _ => {
                unreadable += 1;
                continue;
            }
        };
        judged += 1;
        if let Some(problem) = problem {
            offender_count += 1;
            if offenders.len() < MAX_LISTED {
                let mut json = event_json(probe);
                json["problem"] = problem.into();
                offenders.push(json);
            }
            continue;
        }
        caught_up += 1;
        max_seconds = max_seconds.max(seconds);
        if value["needed_snapshot"] == true {
            needed_snapshot += 1;
            let healed_ns = probe
                .time_ns
                .saturating_sub((seconds.max(0.0) * 1e9) as u64);
            let bytes = acked_before(healed_ns);
            snapshot_state_bytes = Some(snapshot_state_bytes.unwrap_or(0).max(bytes));
        }
    }
    let mut details = serde_json::json!({
        "probes": probes.len(),
        "judged": judged,
        "caught_up": caught_up,
        "interrupted": interrupted,
        "not_caught_up": offender_count,
        "max_catch_up_s": (max_seconds * 1000.0).round() / 1000.0,
        "needed_snapshot": needed_snapshot,
    });
    if !payloads.is_empty() {
        details["big_keys_mb_acked"] = (acked_before(u64::MAX) as f64 / 1e6).into();
    }
    if let Some(bytes) = snapshot_state_bytes {
        details["snapshot_state_mb"] = (bytes as f64 / 1e6).into();
    }
    if unreadable > 0 {
        details["unreadable_probes"] = unreadable.into();
    }
    if !offenders.is_empty() {
        details["offenders"] = offenders.into();
    }
    let verdict = if offender_count > 0 {
        Verdict::Invalid
    } else if judged == 0 {
        details["reason"] = "no catch-up probe was judged".into();
        Verdict::Unknown
    } else if let Some(expected) = options.expect_snapshot_bytes {
        details["expected_snapshot_mb"] = (expected as f64 / 1e6).into();
        if snapshot_state_bytes.is_some_and(|b| b >= expected) {
            Verdict::Valid
        } else {
            details["reason"] = format!(
                "no restarted node needed a snapshot with at least {:.1} MB of big-keys payload \
                 acknowledged: the run did not test snapshot installation",
                expected as f64 / 1e6
            )
            .into();
            Verdict::Unknown
        }
    } else {
        Verdict::Valid
    };
    CheckResult::new("catch_up", verdict, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::H;
    use serde_json::{json, Value};

    fn probe(h: &mut H, node: &str, value: Value) {
        let index = h.events.len() as u64;
        h.events.push(Event {
            index,
            time_ns: index * 1_000,
            kind: EventType::Info,
            process: Process::Nemesis(HARNESS.into()),
            node: Some(node.into()),
            f: F_CATCH_UP.into(),
            key: None,
            value,
            error: None,
        });
    }

    fn caught_up(needed_snapshot: bool) -> Value {
        json!({"status": "caught_up", "after": "stop_kill_follower", "seconds": 0.0,
               "bound_s": 30.0, "target_index": 900, "applied_index": 912,
               "needed_snapshot": needed_snapshot, "read": "ok"})
    }

    /// Three acknowledged big-keys creates of 38 192 bytes each, then a node restarted after a
    /// kill and the final probe of every node.
    fn history() -> H {
        let mut h = H::new();
        for n in 0..3 {
            let input = json!({"description": format!("jl-big-{n}"), "description_chars": 8192,
                               "policy_bytes": 30_000});
            h.call(
                n,
                "create_key",
                "",
                input,
                json!({"key_id": format!("k{n}")}),
            );
        }
        probe(&mut h, "n2", caught_up(true));
        for node in ["n1", "n2", "n3"] {
            let mut value = caught_up(false);
            value["after"] = "final_heal".into();
            probe(&mut h, node, value);
        }
        h
    }

    #[test]
    fn nodes_that_caught_up_and_served_reads_are_valid() {
        let h = history();
        let result = check_catch_up(&h.events, &CatchUpOptions::default());
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);
        assert_eq!(result.details["caught_up"], 4);
        assert_eq!(result.details["needed_snapshot"], 1);
        // The snapshot covered the three creates: 3 x 38 192 bytes.
        assert_eq!(result.details["snapshot_state_mb"], json!(0.114576));
        let expect = |bytes| CatchUpOptions {
            expect_snapshot_bytes: Some(bytes),
        };
        assert_eq!(
            check_catch_up(&h.events, &expect(100_000)).verdict,
            Verdict::Valid
        );
        // The scenario did not build a state that large: not a valid regression run.
        let result = check_catch_up(&h.events, &expect(5_000_000));
        assert_eq!(result.verdict, Verdict::Unknown);
        assert!(result.details["reason"]
            .as_str()
            .unwrap()
            .contains("did not test"));
    }

    #[test]
    fn a_node_that_never_catches_up_is_invalid() {
        // The bug: the restarted node needs a snapshot, every chunk is refused, it stays behind.
        let mut h = history();
        probe(
            &mut h,
            "n3",
            json!({"status": "timeout", "after": "final_heal", "seconds": 30.0, "bound_s": 30.0,
                   "target_index": 900, "applied_index": 212, "needed_snapshot": true,
                   "read": null}),
        );
        let result = check_catch_up(&h.events, &CatchUpOptions::default());
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["not_caught_up"], 1);
        assert_eq!(result.details["offenders"][0]["node"], "n3");
        assert_eq!(
            result.details["offenders"][0]["value"]["applied_index"],
            212
        );
    }

    #[test]
    fn a_failed_read_after_catching_up_is_invalid() {
        let mut h = history();
        let mut value = caught_up(false);
        value["read"] = "DependencyTimeoutException".into();
        probe(&mut h, "n1", value);
        let result = check_catch_up(&h.events, &CatchUpOptions::default());
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(
            result.details["offenders"][0]["problem"],
            "caught up, but a read on it failed"
        );
    }

    #[test]
    fn interrupted_probes_are_not_judged() {
        let mut h = H::new();
        probe(
            &mut h,
            "n1",
            json!({"status": "interrupted", "seconds": 2.0, "read": null}),
        );
        let result = check_catch_up(&h.events, &CatchUpOptions::default());
        assert_eq!(result.verdict, Verdict::Unknown);
        assert_eq!(result.details["interrupted"], 1);
        assert_eq!(
            check_catch_up(&[], &CatchUpOptions::default()).verdict,
            Verdict::Unknown
        );
    }
}
