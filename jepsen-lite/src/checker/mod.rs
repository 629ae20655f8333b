//! Checkers: each reads a recorded history and returns a [`CheckResult`] with a three-valued
//! [`Verdict`] (valid / invalid / unknown), composed into one run verdict by [`combine`].
//!
//! | module | checker names | what it proves |
//! |---|---|---|
//! | [`linearizable`] | (generic WGL search) | a per-key history has a linearization under a [`linearizable::Model`] |
//! | [`key_state`] | `linearizable` | key state + description behave as one AWS-semantics register per key |
//! | [`set_full`] | `set_full`, `unique_ids` | acked `CreateKey`s are listed at the end, once, with distinct ids |
//! | [`crypto`] | `crypto_durability`, `nonce_unique` | acked ciphertexts still decrypt to their plaintext; no nonce reuse |
//! | [`mrk`] | `mrk_convergence`, `single_primary`, `no_lost_shared_update`, `decrypt_anywhere`, `nonce_unique` | two regions settle on one multi-region key state after heal; never two settled primaries without a move between; no acked rotation lost; acked ciphertexts decrypt in both regions |
//! | [`liveness`] | `liveness` | the final (post-heal) operations all succeeded |
//! | [`catch_up`] | `catch_up` | every node a heal brought back, and every node after the final heal, reached its leader's applied index within the bound and then served a read (guards "snapshot install refused") |
//! | [`availability`] | `availability_during_pause` | while one node is SIGSTOPped, the others answer within the bound once the election has had time (guards "paused leader stalls reads everywhere") |
//! | [`membership`] | `membership` | every node a membership change took out is a voter again after the heal, beside the voters that stayed |
//! | [`coverage`] | `fault_coverage` | every requested fault kind was installed at least once |
//! | [`logs`] | `logs` | no node panicked or exited without being killed |
//!
//! [`compose`] runs the checks a run needs (each workload's own, on its own events, plus the
//! run-wide ones). This file holds only what every checker shares (verdicts, results, the
//! JSON shapes of offenders); it uses none of the checkers.
//!
//! A checker that has nothing to judge (for example no final read) says `unknown`, never `valid`.

pub mod availability;
pub mod catch_up;
pub mod compose;
pub mod coverage;
pub mod crypto;
pub mod key_state;
pub mod linearizable;
pub mod liveness;
pub mod logs;
pub mod membership;
pub mod mrk;
pub mod set_full;
#[cfg(test)]
pub(crate) mod test_support;

use crate::history::{Event, EventType, Operation};
use serde::{Deserialize, Serialize};

/// The outcome of one checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The history satisfies the property.
    Valid,
    /// The history violates the property (a definite finding).
    Invalid,
    /// The checker could not decide (budget exhausted, nothing to judge, unparseable data).
    Unknown,
}

impl Verdict {
    /// Process exit code for this verdict: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    /// Folds verdicts: invalid dominates, then unknown; valid only if all are (and for none).
    pub fn all(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        let mut result = Verdict::Valid;
        for verdict in verdicts {
            match verdict {
                Verdict::Invalid => return Verdict::Invalid,
                Verdict::Unknown => result = Verdict::Unknown,
                Verdict::Valid => {}
            }
        }
        result
    }
}

/// One checker's result, as written to `results.json` and shown in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Checker name (`linearizable`, `set_full`, ...).
    pub name: String,
    /// Its verdict.
    pub verdict: Verdict,
    /// Counts, offenders and explanations; the shape is checker specific.
    pub details: serde_json::Value,
}

impl CheckResult {
    /// A result with the given name, verdict and details.
    pub fn new(name: &str, verdict: Verdict, details: serde_json::Value) -> CheckResult {
        CheckResult {
            name: name.to_string(),
            verdict,
            details,
        }
    }
}

/// The run verdict: invalid if any result is invalid, else unknown if any is unknown, else valid.
pub fn combine(results: &[CheckResult]) -> Verdict {
    Verdict::all(results.iter().map(|r| r.verdict))
}

/// A compact JSON description of an operation for `details`: who, what, when, and what came back.
pub fn operation_json(op: &Operation) -> serde_json::Value {
    let mut json = serde_json::json!({
        "index": op.invoke.index,
        "process": op.invoke.process,
        "f": op.invoke.f,
        "invoke_time_ns": op.invoke.time_ns,
        "outcome": op.outcome(),
    });
    if let Some(map) = json.as_object_mut() {
        if let Some(key) = &op.invoke.key {
            map.insert("key".into(), key.clone().into());
        }
        if let Some(node) = &op.invoke.node {
            map.insert("node".into(), node.clone().into());
        }
        if !op.invoke.value.is_null() {
            map.insert("input".into(), op.invoke.value.clone());
        }
        if let Some(completion) = &op.completion {
            map.insert("complete_index".into(), completion.index.into());
            map.insert("complete_time_ns".into(), completion.time_ns.into());
            if !completion.value.is_null() {
                map.insert("output".into(), completion.value.clone());
            }
            if let Some(error) = &completion.error {
                map.insert("error".into(), error.clone().into());
            }
        }
    }
    json
}

/// A compact JSON description of a single event.
pub fn event_json(event: &Event) -> serde_json::Value {
    let mut json = serde_json::json!({
        "index": event.index,
        "type": event.kind,
        "process": event.process,
        "f": event.f,
    });
    if let Some(map) = json.as_object_mut() {
        if let Some(node) = &event.node {
            map.insert("node".into(), node.clone().into());
        }
        if !event.value.is_null() {
            map.insert("value".into(), event.value.clone());
        }
        if let Some(error) = &event.error {
            map.insert("error".into(), error.clone().into());
        }
    }
    json
}

/// How many offenders a checker lists in `details` (counts are always complete).
pub const MAX_LISTED: usize = 10;

/// True for an `ok` event.
pub(crate) fn is_ok(event: &Event) -> bool {
    event.kind == EventType::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_combine_and_map_to_exit_codes() {
        let r = |v| CheckResult::new("x", v, serde_json::Value::Null);
        assert_eq!(combine(&[]), Verdict::Valid);
        assert_eq!(
            combine(&[r(Verdict::Valid), r(Verdict::Unknown)]),
            Verdict::Unknown
        );
        assert_eq!(
            combine(&[r(Verdict::Unknown), r(Verdict::Invalid), r(Verdict::Valid)]),
            Verdict::Invalid
        );
        assert_eq!(
            [Verdict::Valid, Verdict::Invalid, Verdict::Unknown].map(Verdict::exit_code),
            [0, 1, 2]
        );
        assert_eq!(
            serde_json::to_string(&Verdict::Unknown).unwrap(),
            "\"unknown\""
        );
    }
}
