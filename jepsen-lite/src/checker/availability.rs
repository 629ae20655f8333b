//! The `availability_during_pause` checker: while one node of a region is SIGSTOPped (`pause`,
//! `pause-leader`) and a majority is up, the other nodes must keep serving once the region has
//! had time to fail over.
//!
//! **Regression guard for "paused leader stalls reads everywhere"** (found by jepsen-lite, fixed
//! in `kms-raft`): with the leader SIGSTOPped, its peers' TCP connections to it are still
//! accepted by the kernel, so the followers' forwarded reads and writes waited the full forwarding
//! timeout (~5 s, `leader_wait`) instead of failing over after the election; every read on every
//! node stalled. Now an internal POST times out after two election timeouts and the request is
//! retried against the new leader. If that regressed, operations on the unpaused nodes time out
//! (or become slow) long after the new leader is elected, and this check is invalid.
//! `make jepsen-regression-paused-leader` runs `--nemesis pause-leader` with a 1 s request
//! timeout, so every stalled operation is a timeout.
//!
//! For every installed `pause` / `pause_leader` window (from `start_*` to `stop_*`, or the end of
//! the history): the judged operations are the client operations (not `final_*`) invoked at
//! least [`PauseOptions::grace`] after the window began and before it ended, on a node of the
//! paused node's region that neither this nor any overlapping fault touched. A window is judged
//! only if a majority of the region's nodes was untouched by every fault overlapping it. Each
//! judged operation must be *answered* (`ok`, or a definite `fail` with a KMS error such as
//! `KMSInvalidStateException`, which is the service answering) within
//! [`PauseOptions::max_latency`]. Unavailable: `info`, never completed, a harness transport error
//! (`jl:timeout`, `jl:connect`, ...), or a 5xx-class KMS error ([`UNAVAILABLE_ERRORS`]).
//!
//! Verdict: invalid if any judged operation was unavailable or too slow; unknown if no operation
//! was judged (no pause window, or windows shorter than the grace); otherwise valid.

use super::{operation_json, CheckResult, Verdict, MAX_LISTED};
use crate::history::{pair, Event, EventType, Process};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// The check's name.
pub const NAME: &str = "availability_during_pause";

/// The fault kinds (history names) whose windows are judged.
pub const PAUSE_KINDS: [&str; 2] = ["pause", "pause_leader"];

/// KMS errors that mean "not served" rather than an answer (AWS's 5xx errors, and throttling).
pub const UNAVAILABLE_ERRORS: [&str; 4] = [
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "ThrottlingException",
];

/// How the check judges.
#[derive(Debug, Clone)]
pub struct PauseOptions {
    /// Operations invoked earlier than this after a pause began are not judged (the election).
    pub grace: Duration,
    /// Longest acceptable latency of a judged operation.
    pub max_latency: Duration,
    /// Node name -> region, for every node of the run (majorities are per region).
    pub regions: BTreeMap<String, String>,
}

/// One installed fault window.
#[derive(Debug, Clone)]
struct Window {
    kind: String,
    start_ns: u64,
    end_ns: u64,
    nodes: Vec<String>,
}

fn windows(events: &[Event]) -> Vec<Window> {
    let end = events.last().map_or(0, |e| e.time_ns);
    let mut windows: Vec<Window> = Vec::new();
    let mut open: BTreeMap<String, usize> = BTreeMap::new();
    for event in events {
        if event.process != Process::Nemesis("nemesis".into()) {
            continue;
        }
        if let Some(kind) = event.f.strip_prefix("start_") {
            if event.value["status"] != "installed" {
                continue;
            }
            let nodes = event.value["nodes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            open.insert(kind.to_string(), windows.len());
            windows.push(Window {
                kind: kind.to_string(),
                start_ns: event.time_ns,
                end_ns: end,
                nodes,
            });
        } else if let Some(kind) = event.f.strip_prefix("stop_") {
            if let Some(at) = open.remove(kind) {
                windows[at].end_ns = event.time_ns;
            }
        }
    }
    windows
}

/// Why an operation counts as not served (`None`: it was answered): info, never completed, a
/// harness transport error or a 5xx-class error.
fn unavailable(completion: Option<&Event>) -> Option<&'static str> {
    let Some(completion) = completion else {
        return Some("never completed");
    };
    match completion.kind {
        EventType::Ok => None,
        EventType::Info | EventType::Invoke => Some("indeterminate (info)"),
        EventType::Fail => {
            let error = completion.error.as_deref().unwrap_or("");
            if error.starts_with("jl:") || error.starts_with("HTTP5") {
                Some("no answer (transport)")
            } else if UNAVAILABLE_ERRORS.contains(&error) {
                Some("not served (5xx-class error)")
            } else {
                None
            }
        }
    }
}

/// `availability_during_pause`: see the module docs.
pub fn check_availability_during_pause(events: &[Event], options: &PauseOptions) -> CheckResult {
    let all = windows(events);
    let operations: Vec<_> = pair(events)
        .into_iter()
        .filter(|op| !op.invoke.f.starts_with("final_"))
        .collect();
    let grace_ns = u64::try_from(options.grace.as_nanos()).unwrap_or(u64::MAX);
    let max_latency_ns = u64::try_from(options.max_latency.as_nanos()).unwrap_or(u64::MAX);
    let mut judged_windows = 0usize;
    let mut skipped_no_majority = 0usize;
    let mut judged = 0usize;
    let mut max_latency_seen = 0u64;
    let mut offenders: Vec<serde_json::Value> = Vec::new();
    let mut offender_count = 0usize;
    let mut per_window: Vec<serde_json::Value> = Vec::new();
    for window in all
        .iter()
        .filter(|w| PAUSE_KINDS.contains(&w.kind.as_str()))
    {
        // The region of the paused node(s); the untouched members of it are judged.
        let Some(region) = window.nodes.iter().find_map(|n| options.regions.get(n)) else {
            continue;
        };
        let members: BTreeSet<&str> = options
            .regions
            .iter()
            .filter(|(_, r)| *r == region)
            .map(|(n, _)| n.as_str())
            .collect();
        // Every node any overlapping fault touched (this window's own nodes included).
        let touched: BTreeSet<&str> = all
            .iter()
            .filter(|w| w.start_ns <= window.end_ns && window.start_ns <= w.end_ns)
            .flat_map(|w| w.nodes.iter().map(String::as_str))
            .collect();
        let up: BTreeSet<&str> = members.difference(&touched).copied().collect();
        let from = window.start_ns.saturating_add(grace_ns);
        let mut summary = serde_json::json!({
            "kind": window.kind,
            "nodes": window.nodes,
            "start_s": window.start_ns as f64 / 1e9,
            "end_s": window.end_ns as f64 / 1e9,
            "judged_nodes": up,
        });
        if up.len() * 2 <= members.len() {
            skipped_no_majority += 1;
            summary["skipped"] = "no majority untouched".into();
            per_window.push(summary);
            continue;
        }
        let mut in_window = 0usize;
        let mut bad = 0usize;
        for op in operations.iter().filter(|op| {
            op.invoke.time_ns >= from
                && op.invoke.time_ns <= window.end_ns
                && matches!(op.invoke.process, Process::Client(_))
                && op.invoke.node.as_deref().is_some_and(|n| up.contains(n))
        }) {
            in_window += 1;
            let latency = op
                .completion
                .as_ref()
                .map(|c| c.time_ns.saturating_sub(op.invoke.time_ns));
            max_latency_seen = max_latency_seen.max(latency.unwrap_or(0));
            let problem = unavailable(op.completion.as_ref()).or_else(|| {
                latency
                    .filter(|l| *l > max_latency_ns)
                    .map(|_| "answered too slowly")
            });
            if let Some(problem) = problem {
                bad += 1;
                offender_count += 1;
                if offenders.len() < MAX_LISTED {
                    let mut json = operation_json(op);
                    json["problem"] = problem.into();
                    json["since_pause_s"] =
                        ((op.invoke.time_ns - window.start_ns) as f64 / 1e9).into();
                    offenders.push(json);
                }
            }
        }
        if in_window > 0 {
            judged_windows += 1;
        }
        judged += in_window;
        summary["judged"] = in_window.into();
        summary["unavailable"] = bad.into();
        per_window.push(summary);
    }
    let mut details = serde_json::json!({
        "grace_s": options.grace.as_secs_f64(),
        "max_latency_s": options.max_latency.as_secs_f64(),
        "windows": per_window.len(),
        "judged_windows": judged_windows,
        "skipped_no_majority": skipped_no_majority,
        "judged_ops": judged,
        "unavailable_ops": offender_count,
        "max_judged_latency_s": max_latency_seen as f64 / 1e9,
        "per_window": per_window,
    });
    if !offenders.is_empty() {
        details["offenders"] = offenders.into();
    }
    let verdict = if offender_count > 0 {
        Verdict::Invalid
    } else if judged == 0 {
        details["reason"] =
            "no operation on an unpaused node was invoked in a pause window after the grace".into();
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    CheckResult::new(NAME, verdict, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const S: f64 = 1e9;

    fn options() -> PauseOptions {
        PauseOptions {
            grace: Duration::from_millis(2600),
            max_latency: Duration::from_secs(3),
            regions: ["n1", "n2", "n3"]
                .iter()
                .map(|n| ((*n).to_string(), "us-east-1".to_string()))
                .collect(),
        }
    }

    /// A history with explicit times (seconds), sorted by [`T::sorted`].
    #[derive(Default)]
    struct T {
        events: Vec<Event>,
    }

    impl T {
        fn push(&mut self, time_s: f64, kind: EventType, process: Process, node: Option<&str>) {
            self.events.push(Event {
                index: 0,
                time_ns: (time_s * S) as u64,
                kind,
                process,
                node: node.map(str::to_string),
                f: String::new(),
                key: None,
                value: Value::Null,
                error: None,
            });
        }

        fn nemesis(&mut self, time_s: f64, f: &str, nodes: &[&str]) {
            self.push(
                time_s,
                EventType::Info,
                Process::Nemesis("nemesis".into()),
                None,
            );
            let event = self.events.last_mut().unwrap();
            event.f = f.into();
            event.value = json!({"nodes": nodes, "status": "installed"});
        }

        /// One operation of process `p` on `node`, invoked at `at` s, completed `latency` s later
        /// as `kind` with `error`.
        fn op(&mut self, p: u64, node: &str, f: &str, at: f64, latency: f64, kind: EventType) {
            self.op_err(p, node, f, at, latency, kind, None);
        }

        #[allow(clippy::too_many_arguments)]
        fn op_err(
            &mut self,
            p: u64,
            node: &str,
            f: &str,
            at: f64,
            latency: f64,
            kind: EventType,
            error: Option<&str>,
        ) {
            self.push(at, EventType::Invoke, Process::Client(p), Some(node));
            self.events.last_mut().unwrap().f = f.into();
            self.push(at + latency, kind, Process::Client(p), Some(node));
            let completion = self.events.last_mut().unwrap();
            completion.f = f.into();
            completion.error = error.map(str::to_string);
        }

        fn sorted(&self) -> Vec<Event> {
            let mut events = self.events.clone();
            events.sort_by_key(|e| e.time_ns);
            for (i, e) in events.iter_mut().enumerate() {
                e.index = i as u64;
            }
            events
        }
    }

    /// n1 (the leader) paused from 10 s to 16 s.
    fn paused_leader() -> T {
        let mut t = T::default();
        t.nemesis(10.0, "start_pause_leader", &["n1"]);
        t.nemesis(16.0, "stop_pause_leader", &["n1"]);
        t
    }

    #[test]
    fn failover_within_the_grace_is_valid() {
        let mut t = paused_leader();
        // Stalled during the election: before the grace, not judged.
        let timeout = Some("jl:timeout");
        t.op_err(1, "n2", "describe_key", 10.1, 2.0, EventType::Fail, timeout);
        t.op_err(2, "n3", "enable_key", 10.2, 2.0, EventType::Info, timeout);
        // After the grace: answered quickly, including with a definite KMS error.
        t.op(3, "n2", "describe_key", 13.0, 0.02, EventType::Ok);
        let invalid_state = Some("KMSInvalidStateException");
        t.op_err(
            4,
            "n3",
            "enable_key",
            13.5,
            0.03,
            EventType::Fail,
            invalid_state,
        );
        t.op(5, "n2", "encrypt", 15.9, 0.5, EventType::Ok);
        // On the paused node: never judged.
        t.op_err(6, "n1", "describe_key", 14.0, 2.0, EventType::Fail, timeout);
        // After the window, and final reads: not judged.
        t.op_err(7, "n2", "describe_key", 17.0, 2.0, EventType::Fail, timeout);
        t.op_err(
            8,
            "n3",
            "final_list_keys",
            15.0,
            2.5,
            EventType::Fail,
            timeout,
        );
        let result = check_availability_during_pause(&t.sorted(), &options());
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);
        assert_eq!(result.details["judged_ops"], 3);
        assert_eq!(
            result.details["per_window"][0]["judged_nodes"],
            json!(["n2", "n3"])
        );
    }

    #[test]
    fn a_stall_after_the_election_is_invalid() {
        // The bug with a 1 s request timeout: reads on the other nodes wait ~5 s for the paused
        // leader, so they keep timing out, also after the grace.
        let mut t = paused_leader();
        let timeout = Some("jl:timeout");
        for (i, at) in [10.05, 11.05, 12.05, 13.05].into_iter().enumerate() {
            t.op_err(
                i as u64,
                "n2",
                "describe_key",
                at,
                1.0,
                EventType::Fail,
                timeout,
            );
        }
        t.op(9, "n3", "encrypt", 14.05, 0.95, EventType::Ok);
        let result = check_availability_during_pause(&t.sorted(), &options());
        assert_eq!(result.verdict, Verdict::Invalid, "{:#}", result.details);
        assert_eq!(result.details["unavailable_ops"], 1);
        assert_eq!(result.details["offenders"][0]["node"], "n2");
        assert_eq!(result.details["offenders"][0]["error"], "jl:timeout");

        // The same stall seen with a long request timeout: a slow answer, an info, a 5xx.
        let mut t = paused_leader();
        t.op(1, "n3", "describe_key", 12.7, 3.3, EventType::Ok);
        t.op_err(2, "n2", "enable_key", 13.0, 2.0, EventType::Info, timeout);
        let no_leader = Some("DependencyTimeoutException");
        t.op_err(3, "n2", "encrypt", 13.5, 0.1, EventType::Fail, no_leader);
        let result = check_availability_during_pause(&t.sorted(), &options());
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["unavailable_ops"], 3);
        let problems: Vec<&str> = result.details["offenders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["problem"].as_str().unwrap())
            .collect();
        assert_eq!(
            problems,
            [
                "answered too slowly",
                "indeterminate (info)",
                "not served (5xx-class error)"
            ]
        );
    }

    #[test]
    fn windows_without_a_majority_or_judged_ops_are_not_judged() {
        // A kill of n2 overlaps the pause of n1: only n3 is untouched, no majority.
        let mut t = paused_leader();
        t.nemesis(11.0, "start_kill", &["n2"]);
        t.nemesis(15.0, "stop_kill", &["n2"]);
        let timeout = Some("jl:timeout");
        t.op_err(1, "n3", "describe_key", 13.0, 1.0, EventType::Fail, timeout);
        let result = check_availability_during_pause(&t.sorted(), &options());
        assert_eq!(result.verdict, Verdict::Unknown, "{:#}", result.details);
        assert_eq!(result.details["skipped_no_majority"], 1);
        // No pause at all: nothing judged.
        let mut t = T::default();
        t.nemesis(1.0, "start_kill", &["n1"]);
        t.op(1, "n2", "describe_key", 2.0, 0.1, EventType::Ok);
        let result = check_availability_during_pause(&t.sorted(), &options());
        assert_eq!(result.verdict, Verdict::Unknown);
        // With two regions, a pause judges only its own region's nodes.
        let mut regions = options();
        for w in ["w1", "w2", "w3"] {
            regions.regions.insert(w.into(), "us-west-2".into());
        }
        let mut t = T::default();
        t.nemesis(1.0, "start_pause", &["w1"]);
        t.nemesis(6.0, "stop_pause", &["w1"]);
        t.op_err(1, "n1", "describe_key", 4.0, 2.0, EventType::Fail, timeout);
        let result = check_availability_during_pause(&t.sorted(), &regions);
        assert_eq!(result.verdict, Verdict::Unknown, "{:#}", result.details);
        t.op(2, "w2", "describe_key", 4.5, 0.01, EventType::Ok);
        let result = check_availability_during_pause(&t.sorted(), &regions);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);
        assert_eq!(result.details["judged_ops"], 1);
    }
}
