//! Composing the checks of one run (Jepsen's `checker/compose`): each workload's checkers on
//! that workload's events plus the nemesis events (so one workload's keys never look like
//! phantoms to another), then the run-wide checks: `liveness` and `catch_up` on the whole
//! history, `availability_during_pause` (when the run pauses nodes and has a single-region
//! workload) on every event but the multi-region workload's, `membership` (when the run
//! changes membership), `fault_coverage` and `logs`.
//! Also [`check_history`] (every checker a bare history needs) and the per-`f` [`stats`].

use super::availability::{check_availability_during_pause, PauseOptions};
use super::catch_up::{check_catch_up, CatchUpOptions};
use super::coverage::check_fault_coverage;
use super::logs::{check_logs, UnexpectedExit};
use super::{crypto, key_state, liveness, membership, mrk, set_full, CheckResult};
use crate::generator::Workload;
use crate::history::{Event, EventType, Process};
use crate::recorder::Recorder;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// A check result with the workload it judged (`None` = the whole run).
#[derive(Debug, Clone)]
pub struct ScopedResult {
    /// The workload, or `None` for run-wide checks.
    pub workload: Option<Workload>,
    /// The result.
    pub result: CheckResult,
}

/// What the checks of a run need besides its history.
pub struct RunChecks<'a> {
    /// The run's workloads.
    pub workloads: &'a [Workload],
    /// Wall-clock budget of the linearizability search.
    pub check_budget: Duration,
    /// `catch_up` options (`--expect-snapshot-mb`).
    pub catch_up: CatchUpOptions,
    /// `availability_during_pause` options, if that check applies to this run.
    pub availability: Option<PauseOptions>,
    /// The requested fault kinds (CLI names), for `fault_coverage`.
    pub faults: Vec<&'a str>,
    /// Where the node logs are (`logs`).
    pub nodes_dir: &'a Path,
    /// Nodes that exited without being killed (`logs`).
    pub exits: &'a [UnexpectedExit],
}

/// Every check of a run, in report order: the workloads' own, then the run-wide ones.
pub fn check_run(recorder: &Recorder, checks: &RunChecks) -> Vec<ScopedResult> {
    let events = recorder.events();
    let mut results: Vec<ScopedResult> = Vec::new();
    for &workload in checks.workloads {
        let scoped = recorder.events_for(workload);
        for result in workload_checks(workload, &scoped, checks.check_budget) {
            results.push(ScopedResult {
                workload: Some(workload),
                result,
            });
        }
    }
    let mut run_wide = vec![
        liveness::check_liveness(&events),
        check_catch_up(&events, &checks.catch_up),
    ];
    if let Some(options) = &checks.availability {
        // The single-region workloads' operations (multi-region ones wait for the other
        // region by design) and the nemesis events.
        run_wide.push(check_availability_during_pause(
            &recorder.events_except(Workload::MultiRegion),
            options,
        ));
    }
    if checks.faults.contains(&"membership") {
        run_wide.push(membership::check_membership(&events));
    }
    run_wide.push(check_fault_coverage(&events, &checks.faults));
    run_wide.push(check_logs(checks.nodes_dir, checks.exits));
    results.extend(run_wide.into_iter().map(|result| ScopedResult {
        workload: None,
        result,
    }));
    results
}

/// The checkers of one workload.
pub fn workload_checks(workload: Workload, events: &[Event], budget: Duration) -> Vec<CheckResult> {
    match workload {
        Workload::KeyState => vec![key_state::check_key_state(events, budget)],
        Workload::CreateSet | Workload::BigKeys => set_full::check_create_set(events),
        Workload::Crypto => crypto::check_crypto(events),
        Workload::MultiRegion => mrk::check_multi_region(events),
    }
}

/// Runs every checker whose workload appears in the history (decided from its content):
/// `linearizable` if there are key-state operations, `set_full` + `unique_ids` if there are
/// creates or final key listings, `crypto_durability` + `nonce_unique` if there are crypto-workload
/// encrypts or final decrypts, the [`mrk`] checkers if there are multi-region operations, and
/// always `liveness`. `budget` bounds the linearizability search.
pub fn check_history(events: &[Event], budget: Duration) -> Vec<CheckResult> {
    let mut results = Vec::new();
    let has = |f: &str| events.iter().any(|e| e.f == f);
    let key_state_op = |e: &Event| {
        e.kind == EventType::Invoke
            && key_state::KEY_STATE_OPS.contains(&e.f.as_str())
            && !crypto::is_crypto_encrypt(e)
    };
    if events.iter().any(key_state_op) {
        results.push(key_state::check_key_state(events, budget));
    }
    if has("create_key") || has("final_list_keys") {
        results.push(set_full::check_set_full(events));
        results.push(set_full::check_unique_ids(events));
    }
    if has("final_decrypt") || events.iter().any(crypto::is_crypto_encrypt) {
        results.push(crypto::check_crypto_durability(events));
        results.push(crypto::check_nonce_unique(events));
    }
    if has(mrk::F_DESCRIBE) || has(mrk::F_FINAL_DESCRIBE) || has(mrk::F_ENCRYPT) {
        results.extend(mrk::check_multi_region(events));
    }
    results.push(liveness::check_liveness(events));
    results
}

/// Counts of completions per `f` and outcome.
pub fn stats(events: &[Event]) -> BTreeMap<String, BTreeMap<&'static str, u64>> {
    let mut stats: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for event in events {
        if !matches!(event.process, Process::Client(_)) {
            continue;
        }
        let outcome = match event.kind {
            EventType::Invoke => continue,
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        };
        *stats
            .entry(event.f.clone())
            .or_default()
            .entry(outcome)
            .or_default() += 1;
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{combine, test_support, Verdict};

    #[test]
    fn check_history_runs_the_checkers_the_history_needs() {
        use serde_json::json;
        let mut h = test_support::H::new();
        h.call(1, "disable_key", "k1", json!(null), json!(null));
        h.call(
            1,
            "encrypt",
            "k1",
            json!(null),
            json!({"observed": "Disabled"}),
        );
        h.call(2, "create_key", "", json!({}), json!({"key_id": "a"}));
        h.call(
            3,
            "final_list_keys",
            "",
            json!(null),
            json!({"key_ids": ["a", "k1-id"]}),
        );
        let results = check_history(&h.events, Duration::from_secs(5));
        let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["linearizable", "set_full", "unique_ids", "liveness"]
        );
        assert_eq!(combine(&results), Verdict::Valid, "{results:#?}");
        // A stale read makes the run invalid (exit code 1).
        h.call(
            1,
            "encrypt",
            "k1",
            json!(null),
            json!({"observed": "Enabled"}),
        );
        let results = check_history(&h.events, Duration::from_secs(5));
        assert_eq!(combine(&results).exit_code(), 1);
    }
}
