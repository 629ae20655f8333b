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
//!
//! A checker that has nothing to judge (for example no final read) says `unknown`, never `valid`.

pub mod availability;
pub mod catch_up;
pub mod crypto;
pub mod key_state;
pub mod linearizable;
pub mod liveness;
pub mod mrk;
pub mod set_full;

use crate::history::{Event, EventType, Operation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

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
fn is_ok(event: &Event) -> bool {
    event.kind == EventType::Ok
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builders for hand-written histories.
    use crate::history::{Event, EventType, Process};
    use serde_json::Value;

    use crate::checker::linearizable::Model;
    use crate::history::Operation;

    /// A tiny deterministic PRNG (xorshift64*), so tests need no dependency.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
        }
    }

    /// Exhaustive reference for the linearizability checker: is there an order of all `ok` ops
    /// and some `info`/never-completed ops that respects real time and the model?
    pub fn brute_force<M: Model>(initial: &M, ops: &[Operation]) -> bool {
        let ops: Vec<&Operation> = ops
            .iter()
            .filter(|o| o.outcome() != EventType::Fail)
            .collect();
        let end = |o: &Operation| match (o.outcome(), &o.completion) {
            (EventType::Ok, Some(c)) => c.index,
            _ => u64::MAX,
        };
        fn go<M: Model>(
            ops: &[&Operation],
            end: &dyn Fn(&Operation) -> u64,
            used: &mut Vec<bool>,
            state: &M,
        ) -> bool {
            if ops
                .iter()
                .zip(used.iter())
                .all(|(o, &u)| u || o.outcome() != EventType::Ok)
            {
                return true;
            }
            for i in 0..ops.len() {
                // Next: an unused op no unused required op returned before.
                let blocked = (0..ops.len()).any(|j| {
                    !used[j]
                        && ops[j].outcome() == EventType::Ok
                        && end(ops[j]) < ops[i].invoke.index
                });
                if used[i] || blocked {
                    continue;
                }
                if let Some(next) = state.step(ops[i]) {
                    used[i] = true;
                    if go(ops, end, used, &next) {
                        return true;
                    }
                    used[i] = false;
                }
            }
            false
        }
        go(&ops, &end, &mut vec![false; ops.len()], initial)
    }

    /// Builds a history, assigning indices and times in call order.
    #[derive(Default)]
    pub struct H {
        pub events: Vec<Event>,
    }

    impl H {
        pub fn new() -> H {
            H::default()
        }

        fn push(
            &mut self,
            kind: EventType,
            process: u64,
            f: &str,
            key: Option<&str>,
            value: Value,
            error: Option<&str>,
        ) {
            let index = self.events.len() as u64;
            self.events.push(Event {
                index,
                time_ns: index * 1_000,
                kind,
                process: Process::Client(process),
                node: Some("n1".into()),
                f: f.into(),
                key: key.map(str::to_string),
                value,
                error: error.map(str::to_string),
            });
        }

        pub fn invoke(&mut self, p: u64, f: &str, key: &str, value: Value) -> &mut H {
            self.push(EventType::Invoke, p, f, Some(key), value, None);
            self
        }

        pub fn ok(&mut self, p: u64, f: &str, key: &str, value: Value) -> &mut H {
            self.push(EventType::Ok, p, f, Some(key), value, None);
            self
        }

        pub fn fail(&mut self, p: u64, f: &str, key: &str, error: &str) -> &mut H {
            self.push(EventType::Fail, p, f, Some(key), Value::Null, Some(error));
            self
        }

        pub fn info(&mut self, p: u64, f: &str, key: &str) -> &mut H {
            self.push(EventType::Info, p, f, Some(key), Value::Null, None);
            self
        }

        /// Invoke immediately followed by ok.
        pub fn call(&mut self, p: u64, f: &str, key: &str, input: Value, output: Value) -> &mut H {
            self.invoke(p, f, key, input).ok(p, f, key, output)
        }
    }
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
