//! The key-state register model (one KMS key's `KeyState` + `Description`, AWS semantics) and the
//! `linearizable` checker of the key-state workload, which runs the WGL search per key with it.
//!
//! Operations (`invoke.f`; input on the invoke, output on the `ok` completion):
//!
//! | f | requires | effect / observation |
//! |---|---|---|
//! | `enable_key` | not `PendingDeletion` | → `Enabled` |
//! | `disable_key` | not `PendingDeletion` | → `Disabled` |
//! | `update_description` `{"description"}` | not `PendingDeletion` | description set |
//! | `schedule_deletion` | not `PendingDeletion` | → `PendingDeletion` |
//! | `cancel_deletion` | `PendingDeletion` | → `Disabled` |
//! | `describe_key` | — | ok `{"state", "description"}` must equal the state |
//! | `encrypt` | — | ok `{"observed": state}` must equal the state (`Enabled` if absent) |
//!
//! A mutation's precondition failing means it would have been rejected with
//! `KMSInvalidStateException`, i.e. it could not have taken effect there. Failed operations are
//! dropped (the runner records definite read outcomes such as `DisabledException` on encrypt as
//! `ok` with `observed`). `info` reads observe nothing and are dropped; `info` mutations are
//! optional. A read output lacking a field does not constrain that field.
//!
//! Every key starts `Enabled` with description "" (or the `description` of the key's `ok`
//! `setup_key` event, if the runner recorded one).

use super::linearizable::{check_linearizable, Budget, Model};
use super::CheckResult;
use crate::history::{pair, Event, EventType, Operation};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// The operations the key-state model understands; others are ignored by [`check_key_state`].
pub const KEY_STATE_OPS: [&str; 7] = [
    "enable_key",
    "disable_key",
    "update_description",
    "schedule_deletion",
    "cancel_deletion",
    "describe_key",
    "encrypt",
];

/// A KMS key's lifecycle state, as far as the workload can drive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Usable.
    Enabled,
    /// Disabled (also the state after `CancelKeyDeletion`).
    Disabled,
    /// Scheduled for deletion.
    PendingDeletion,
}

impl KeyState {
    /// The AWS `KeyState` string.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Enabled => "Enabled",
            KeyState::Disabled => "Disabled",
            KeyState::PendingDeletion => "PendingDeletion",
        }
    }
}

/// The register: one key's state and description.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyModel {
    /// Lifecycle state.
    pub state: KeyState,
    /// Current description.
    pub description: String,
}

impl Default for KeyModel {
    fn default() -> KeyModel {
        KeyModel {
            state: KeyState::Enabled,
            description: String::new(),
        }
    }
}

impl KeyModel {
    fn with_state(&self, state: KeyState) -> Option<KeyModel> {
        Some(KeyModel {
            state,
            description: self.description.clone(),
        })
    }

    fn pending(&self) -> bool {
        self.state == KeyState::PendingDeletion
    }

    /// True if an observed string field is absent or equals `expected`.
    fn field_matches(output: &serde_json::Value, field: &str, expected: &str) -> bool {
        output
            .get(field)
            .is_none_or(|v| v.as_str() == Some(expected))
    }
}

impl Model for KeyModel {
    fn step(&self, op: &Operation) -> Option<KeyModel> {
        let output = op
            .completion
            .as_ref()
            .filter(|c| c.kind == EventType::Ok)
            .map(|c| &c.value);
        match op.invoke.f.as_str() {
            "enable_key" if !self.pending() => self.with_state(KeyState::Enabled),
            "disable_key" if !self.pending() => self.with_state(KeyState::Disabled),
            "schedule_deletion" if !self.pending() => self.with_state(KeyState::PendingDeletion),
            "cancel_deletion" if self.pending() => self.with_state(KeyState::Disabled),
            "update_description" if !self.pending() => {
                let description = op.invoke.value.get("description")?.as_str()?;
                Some(KeyModel {
                    state: self.state,
                    description: description.to_string(),
                })
            }
            "describe_key" => match output {
                None => Some(self.clone()),
                Some(out) => (Self::field_matches(out, "state", self.state.as_str())
                    && Self::field_matches(out, "description", &self.description))
                .then(|| self.clone()),
            },
            "encrypt" => match output {
                None => Some(self.clone()),
                Some(out) => {
                    let observed = out.get("observed").map_or(Some("Enabled"), |v| v.as_str());
                    (observed == Some(self.state.as_str())).then(|| self.clone())
                }
            },
            _ => None,
        }
    }
}

/// True for reads (`describe_key`, `encrypt`).
fn is_read(f: &str) -> bool {
    f == "describe_key" || f == "encrypt"
}

/// The key-state operations of a history, ready for the search: paired, filtered to
/// [`KEY_STATE_OPS`] on a key, without `info`/never-completed reads (they observe nothing) and
/// without indeterminate `update_description`s whose description no `describe_key` of that key
/// ever returned. Dropping those is sound: such an update only sets the description, so in any
/// linearization that uses it no read can fall between it and the next description write
/// (it would return the unobserved value); removing it leaves every other step unchanged.
/// Indeterminate operations are what make the search expensive, and most such updates are
/// never observed.
pub fn key_state_operations(events: &[Event]) -> Vec<Operation> {
    let ops: Vec<Operation> = pair(events)
        .into_iter()
        .filter(|op| op.invoke.key.is_some() && KEY_STATE_OPS.contains(&op.invoke.f.as_str()))
        .filter(|op| {
            !is_read(&op.invoke.f) || matches!(op.outcome(), EventType::Ok | EventType::Fail)
        })
        .collect();
    let observed: HashSet<(&str, &str)> = ops
        .iter()
        .filter(|op| op.invoke.f == "describe_key")
        .filter_map(|op| {
            let completion = op.completion.as_ref().filter(|c| c.kind == EventType::Ok)?;
            let description = completion.value.get("description")?.as_str()?;
            Some((op.invoke.key.as_deref()?, description))
        })
        .collect();
    let unobserved_indeterminate_update = |op: &Operation| {
        let description = op.invoke.value.get("description").and_then(|d| d.as_str());
        op.invoke.f == "update_description"
            && op.outcome() == EventType::Info
            && op
                .invoke
                .key
                .as_deref()
                .zip(description)
                .is_some_and(|k| !observed.contains(&k))
    };
    ops.iter()
        .filter(|op| !unobserved_indeterminate_update(op))
        .cloned()
        .collect()
}

/// Each key's initial model: `Enabled` with the description of its `ok` `setup_key` event, or "".
pub fn initial_models(events: &[Event]) -> HashMap<String, KeyModel> {
    events
        .iter()
        .filter(|e| e.f == "setup_key" && e.kind == EventType::Ok)
        .filter_map(|e| {
            let description = e
                .value
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("");
            Some((
                e.key.clone()?,
                KeyModel {
                    description: description.into(),
                    ..KeyModel::default()
                },
            ))
        })
        .collect()
}

/// The `linearizable` checker of the key-state workload with a wall-clock budget (plus
/// [`super::linearizable::DEFAULT_MAX_STEPS`] per key); unfinished search → `unknown`.
pub fn check_key_state(events: &[Event], budget: Duration) -> CheckResult {
    check_key_state_with(events, Budget::time(budget))
}

/// [`check_key_state`] with an explicit [`Budget`].
pub fn check_key_state_with(events: &[Event], budget: Budget) -> CheckResult {
    let ops = key_state_operations(events);
    let initial = initial_models(events);
    let mut result = check_linearizable(
        "linearizable",
        &ops,
        |key| initial.get(key).cloned().unwrap_or_default(),
        budget,
    );
    if let Some(details) = result.details.as_object_mut() {
        details.insert("model".into(), "key-state register (AWS semantics)".into());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::H;
    use crate::checker::Verdict;
    use crate::history::Process;
    use serde_json::json;

    const K: &str = "k1";
    const SECOND: Duration = Duration::from_secs(5);

    fn describe(state: &str, description: &str) -> serde_json::Value {
        json!({"state": state, "description": description})
    }

    #[test]
    fn valid_concurrent_history() {
        let mut h = H::new();
        h.events.push(Event {
            index: 0,
            time_ns: 0,
            kind: EventType::Ok,
            process: Process::Client(99),
            node: None,
            f: "setup_key".into(),
            key: Some(K.into()),
            value: json!({"description": ""}),
            error: None,
        });
        // p1 disables while p2 describes (sees either) and p3 updates the description.
        h.invoke(1, "disable_key", K, json!(null));
        h.invoke(2, "describe_key", K, json!(null));
        h.invoke(3, "update_description", K, json!({"description": "d-1"}));
        h.ok(2, "describe_key", K, describe("Enabled", "d-1"));
        h.ok(1, "disable_key", K, json!(null));
        h.ok(3, "update_description", K, json!(null));
        h.call(
            2,
            "encrypt",
            K,
            json!(null),
            json!({"observed": "Disabled"}),
        );
        h.invoke(1, "schedule_deletion", K, json!(null));
        h.invoke(2, "encrypt", K, json!(null));
        h.ok(2, "encrypt", K, json!({"observed": "Disabled"}));
        h.ok(1, "schedule_deletion", K, json!(null));
        // A rejected enable is dropped; encrypt now observes PendingDeletion.
        h.invoke(3, "enable_key", K, json!(null)).fail(
            3,
            "enable_key",
            K,
            "KMSInvalidStateException",
        );
        h.call(
            2,
            "encrypt",
            K,
            json!(null),
            json!({"observed": "PendingDeletion"}),
        );
        h.call(1, "cancel_deletion", K, json!(null), json!(null));
        h.call(
            2,
            "describe_key",
            K,
            json!(null),
            describe("Disabled", "d-1"),
        );
        h.call(3, "enable_key", K, json!(null), json!(null));
        h.call(
            4,
            "encrypt",
            "k2",
            json!(null),
            json!({"observed": "Enabled"}),
        );
        let result = check_key_state(&h.events, SECOND);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);
        assert_eq!(result.details["keys"], 2);
    }

    #[test]
    fn stale_read_after_completed_disable_is_invalid() {
        let mut h = H::new();
        h.call(1, "describe_key", K, json!(null), describe("Enabled", ""));
        h.call(1, "disable_key", K, json!(null), json!(null));
        h.invoke(3, "update_description", K, json!({"description": "d-2"}));
        h.call(2, "describe_key", K, json!(null), describe("Enabled", ""));
        h.ok(3, "update_description", K, json!(null));
        let result = check_key_state(&h.events, SECOND);
        assert_eq!(result.verdict, Verdict::Invalid, "{:#}", result.details);
        let failure = &result.details["failures"][0];
        assert_eq!(failure["key"], K);
        assert_eq!(failure["op"]["f"], "describe_key");
        assert_eq!(failure["op"]["process"], 2);
        assert_eq!(failure["concurrent"].as_array().unwrap().len(), 1);
        assert!(failure["state"].as_str().unwrap().contains("Disabled"));

        // The same stale read via encrypt.
        let mut h = H::new();
        h.call(1, "disable_key", K, json!(null), json!(null));
        h.call(
            2,
            "encrypt",
            K,
            json!({"plaintext_b64": "AA=="}),
            json!({"ciphertext_b64": "x"}),
        );
        assert_eq!(check_key_state(&h.events, SECOND).verdict, Verdict::Invalid);
    }

    #[test]
    fn info_disable_may_or_may_not_have_happened() {
        for observed in ["Enabled", "Disabled"] {
            let mut h = H::new();
            h.invoke(1, "disable_key", K, json!(null))
                .info(1, "disable_key", K);
            h.call(2, "describe_key", K, json!(null), describe(observed, ""));
            h.call(2, "encrypt", K, json!(null), json!({"observed": observed}));
            let result = check_key_state(&h.events, SECOND);
            assert_eq!(
                result.verdict,
                Verdict::Valid,
                "{observed}: {:#}",
                result.details
            );
        }
        // But it happens at most once: Enabled, then Disabled, then Enabled again is invalid.
        let mut h = H::new();
        h.invoke(1, "disable_key", K, json!(null))
            .info(1, "disable_key", K);
        for observed in ["Enabled", "Disabled", "Enabled"] {
            h.call(2, "encrypt", K, json!(null), json!({"observed": observed}));
        }
        assert_eq!(check_key_state(&h.events, SECOND).verdict, Verdict::Invalid);
    }

    #[test]
    fn transitions_follow_aws_preconditions() {
        // cancel_deletion can only succeed from PendingDeletion.
        let mut h = H::new();
        h.call(1, "cancel_deletion", K, json!(null), json!(null));
        assert_eq!(check_key_state(&h.events, SECOND).verdict, Verdict::Invalid);
        // update_description cannot succeed while PendingDeletion.
        let mut h = H::new();
        h.call(1, "schedule_deletion", K, json!(null), json!(null));
        h.call(
            1,
            "update_description",
            K,
            json!({"description": "d-3"}),
            json!(null),
        );
        assert_eq!(check_key_state(&h.events, SECOND).verdict, Verdict::Invalid);
        // A read of a description nobody wrote.
        let mut h = H::new();
        h.call(
            1,
            "describe_key",
            K,
            json!(null),
            describe("Enabled", "d-9"),
        );
        assert_eq!(check_key_state(&h.events, SECOND).verdict, Verdict::Invalid);
    }

    #[test]
    fn huge_ambiguous_history_with_tiny_budget_is_unknown() {
        // 40 concurrent acknowledged description updates and a concurrent read of a value none
        // wrote: refuting it means trying the read after each of ~2^40 subsets of the updates.
        let mut h = H::new();
        for p in 0..40 {
            let description = format!("d-{p}");
            h.invoke(
                p,
                "update_description",
                K,
                json!({ "description": description }),
            );
        }
        h.invoke(100, "describe_key", K, json!(null));
        for p in 0..40 {
            h.ok(p, "update_description", K, json!(null));
        }
        h.ok(100, "describe_key", K, describe("Enabled", "never-written"));
        let start = std::time::Instant::now();
        let result = check_key_state(&h.events, Duration::from_millis(20));
        assert_eq!(result.verdict, Verdict::Unknown, "{:#}", result.details);
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            result.details["unknown"][0]["reason"],
            "time budget exhausted"
        );
        let result = check_key_state_with(&h.events, Budget::steps(10_000));
        assert_eq!(result.verdict, Verdict::Unknown);
        assert_eq!(
            result.details["unknown"][0]["reason"],
            "step budget exhausted"
        );
    }

    #[test]
    fn unobserved_indeterminate_updates_are_dropped() {
        // 40 concurrent indeterminate updates: only those some read observed are searched.
        for (read, expected) in [
            ("d-17", Verdict::Valid),
            ("never-written", Verdict::Invalid),
        ] {
            let mut h = H::new();
            for p in 0..40 {
                let description = format!("d-{p}");
                h.invoke(
                    p,
                    "update_description",
                    K,
                    json!({ "description": description }),
                );
            }
            h.call(
                100,
                "describe_key",
                K,
                json!(null),
                describe("Enabled", read),
            );
            let kept = key_state_operations(&h.events);
            assert_eq!(kept.len(), if expected == Verdict::Valid { 2 } else { 1 });
            let result = check_key_state_with(&h.events, Budget::steps(1_000));
            assert_eq!(result.verdict, expected, "{read}: {:#}", result.details);
        }
    }

    #[test]
    fn long_simulated_histories_with_a_late_bad_read_are_invalid() {
        for seed in 1..=2 {
            let base = simulated_history(400, 6, seed * 0x9e37_79b9);
            // A phantom read (a description nobody wrote) and a stale read (an overwritten one).
            let mut phantom = H {
                events: base.events.clone(),
            };
            phantom.call(
                100,
                "describe_key",
                K,
                json!(null),
                describe("Enabled", "phantom"),
            );
            let mut stale = H {
                events: base.events.clone(),
            };
            for d in ["d-x", "d-y"] {
                let input = json!({ "description": d });
                stale.call(100, "update_description", K, input, json!(null));
            }
            stale.call(
                100,
                "describe_key",
                K,
                json!(null),
                describe("Enabled", "d-x"),
            );
            for h in [phantom, stale] {
                let result = check_key_state_with(&h.events, Budget::steps(5_000_000));
                assert_eq!(
                    result.verdict,
                    Verdict::Invalid,
                    "seed {seed}: {:#}",
                    result.details
                );
                assert_eq!(result.details["failures"][0]["op"]["process"], 100);
            }
        }
    }

    /// Simulates `n` operations by `procs` concurrent clients against one true linearizable key
    /// (each op takes effect at a random moment inside its interval; 5% are lost or time out and
    /// end `info`), so the resulting history is linearizable by construction.
    fn simulated_history(n: usize, procs: u64, seed: u64) -> H {
        let mut rng = seed;
        let mut below = |m: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % m
        };
        #[derive(Clone)]
        struct Pending {
            f: &'static str,
            applied: Option<(EventType, serde_json::Value)>,
            info: bool,
        }
        let mut truth = KeyModel::default();
        let mut h = H::new();
        let mut pending: Vec<Option<Pending>> = vec![None; procs as usize];
        let mut process: Vec<u64> = (0..procs).collect();
        let mut next_process = procs;
        let mut invoked = 0;
        while invoked < n || pending.iter().any(Option::is_some) {
            let p = below(procs) as usize;
            match pending[p].clone() {
                None if invoked < n => {
                    let f = match below(20) {
                        0..=2 => "enable_key",
                        3..=5 => "disable_key",
                        6..=9 => "update_description",
                        10..=13 => "describe_key",
                        14..=16 => "encrypt",
                        17 => "schedule_deletion",
                        _ => "cancel_deletion",
                    };
                    let input = if f == "update_description" {
                        json!({"description": format!("d-{invoked}")})
                    } else {
                        json!(null)
                    };
                    h.invoke(process[p], f, K, input);
                    pending[p] = Some(Pending {
                        f,
                        applied: None,
                        info: below(20) == 0,
                    });
                    invoked += 1;
                }
                None => {}
                Some(mut op) if op.applied.is_none() => {
                    // The linearization point (a lost op has none).
                    let lost = op.info && below(2) == 0;
                    let invoke = h.events.iter().rev().find(|e| {
                        e.process == Process::Client(process[p]) && e.kind == EventType::Invoke
                    });
                    let fake = Operation {
                        invoke: invoke.unwrap().clone(),
                        completion: None,
                    };
                    let result = match op.f {
                        "describe_key" => (
                            EventType::Ok,
                            describe(truth.state.as_str(), &truth.description),
                        ),
                        "encrypt" => (EventType::Ok, json!({"observed": truth.state.as_str()})),
                        _ if lost => (EventType::Info, json!(null)),
                        _ => match truth.step(&fake) {
                            Some(next) => {
                                truth = next;
                                (EventType::Ok, json!(null))
                            }
                            None => (EventType::Fail, json!(null)),
                        },
                    };
                    op.applied = Some(result);
                    pending[p] = Some(op);
                }
                Some(op) => {
                    let (kind, value) = op.applied.unwrap();
                    match (op.info, kind) {
                        (true, _) => {
                            h.info(process[p], op.f, K);
                            process[p] = next_process;
                            next_process += 1;
                        }
                        (false, EventType::Ok) => {
                            h.ok(process[p], op.f, K, value);
                        }
                        _ => {
                            h.fail(process[p], op.f, K, "KMSInvalidStateException");
                        }
                    }
                    pending[p] = None;
                }
            }
        }
        h
    }

    #[test]
    fn agrees_with_brute_force_on_random_small_key_histories() {
        use crate::checker::linearizable::{brute_force, check_operations, Outcome};
        use crate::checker::test_support::Rng;
        let fs = [
            "enable_key",
            "disable_key",
            "update_description",
            "schedule_deletion",
        ];
        let fs = [
            &fs[..],
            &["cancel_deletion", "describe_key", "encrypt", "encrypt"],
        ]
        .concat();
        let states = ["Enabled", "Disabled", "PendingDeletion"];
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let (mut valid, mut invalid) = (0, 0);
        for round in 0..2_000 {
            let mut h = H::new();
            let mut busy: Vec<Option<&str>> = vec![None; 4];
            let mut process: Vec<u64> = vec![0, 1, 2, 3];
            let mut next_process = 4;
            let mut invoked = 0;
            while invoked < 8 || busy.iter().any(Option::is_some) {
                let p = rng.below(4) as usize;
                match busy[p] {
                    None if invoked < 8 => {
                        let f = fs[rng.below(fs.len() as u64) as usize];
                        let input = json!({ "description": format!("d-{}", rng.below(2)) });
                        h.invoke(process[p], f, K, input);
                        busy[p] = Some(f);
                        invoked += 1;
                    }
                    None => {}
                    Some(f) => {
                        let state = states[rng.below(3) as usize];
                        let output = match f {
                            "describe_key" => describe(state, &format!("d-{}", rng.below(2))),
                            "encrypt" => json!({ "observed": state }),
                            _ => json!(null),
                        };
                        match rng.below(10) {
                            0 | 1 => {
                                h.info(process[p], f, K);
                                process[p] = next_process;
                                next_process += 1;
                            }
                            2 => {
                                h.fail(process[p], f, K, "KMSInvalidStateException");
                            }
                            _ => {
                                h.ok(process[p], f, K, output);
                            }
                        }
                        busy[p] = None;
                    }
                }
            }
            let ops = key_state_operations(&h.events);
            let initial = KeyModel {
                description: "d-0".into(),
                ..KeyModel::default()
            };
            let expected = brute_force(&initial, &ops);
            let outcome = check_operations(&initial, &ops, None, None);
            let found = matches!(outcome, Outcome::Linearizable { .. });
            assert_eq!(
                found, expected,
                "round {round}: {outcome:?} for {:#?}",
                h.events
            );
            if expected {
                valid += 1;
            } else {
                invalid += 1;
            }
        }
        assert!(
            valid > 200 && invalid > 200,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn long_simulated_linearizable_histories_check_quickly() {
        for seed in 1..=3 {
            let h = simulated_history(2_000, 6, seed * 0x9e37_79b9);
            let result = check_key_state_with(&h.events, Budget::steps(5_000_000));
            assert_eq!(
                result.verdict,
                Verdict::Valid,
                "seed {seed}: {:#}",
                result.details
            );
        }
    }
}
