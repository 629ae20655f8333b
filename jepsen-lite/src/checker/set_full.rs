//! The create-set checkers (Jepsen `set-full` and `unique-ids`, reduced to final reads):
//! `set_full` (every acknowledged `CreateKey` is in every final `ListKeys`, exactly once) and
//! `unique_ids` (no two acknowledged creates returned the same KeyId).
//!
//! Input: `create_key` operations whose `ok` completion carries `{"key_id"}`, and `ok` events
//! `f = "final_list_keys"` with `{"key_ids": [...]}` (one per node; each is judged on its own).
//!
//! Per final read: `lost` = acked ids missing; `duplicate` = ids listed more than once;
//! ids no create acknowledged are `recovered` up to the number of indeterminate (`info` or
//! never-completed) creates, since each of those may or may not have happened, and
//! `unexpected` beyond that. Unexpected ids are reported but do not invalidate the run: the
//! listing also shows keys the harness made outside the workload (setup keys).

use super::{event_json, is_ok, operation_json, CheckResult, Verdict, MAX_LISTED};
use crate::history::{pair, Event, EventType, Operation};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The key id an `ok` create returned, if any.
fn created_id(op: &Operation) -> Option<&str> {
    op.completion
        .as_ref()
        .filter(|c| c.kind == EventType::Ok)?
        .value
        .get("key_id")?
        .as_str()
}

/// The `create_key` operations of a history.
fn creates(events: &[Event]) -> Vec<Operation> {
    pair(events)
        .into_iter()
        .filter(|op| op.invoke.f == "create_key")
        .collect()
}

/// The first [`MAX_LISTED`] items as JSON.
fn first<T: serde::Serialize>(items: &[T]) -> serde_json::Value {
    serde_json::json!(&items[..items.len().min(MAX_LISTED)])
}

/// `set_full`: acked creates present exactly once in every final `final_list_keys` read.
/// `unknown` if there is no final read.
pub fn check_set_full(events: &[Event]) -> CheckResult {
    let creates = creates(events);
    let acked: Vec<&str> = creates.iter().filter_map(created_id).collect();
    let acked_set: HashSet<&str> = acked.iter().copied().collect();
    let acked_without_id = creates
        .iter()
        .filter(|op| op.outcome() == EventType::Ok && created_id(op).is_none())
        .count();
    let indeterminate = creates
        .iter()
        .filter(|op| op.outcome() == EventType::Info)
        .count();
    let failed = creates
        .iter()
        .filter(|op| op.outcome() == EventType::Fail)
        .count();

    let reads: Vec<&Event> = events
        .iter()
        .filter(|e| e.f == "final_list_keys" && is_ok(e))
        .collect();
    let mut verdicts = Vec::new();
    let mut per_read = Vec::new();
    for read in &reads {
        let Some(listed) = read.value.get("key_ids").and_then(|v| v.as_array()) else {
            verdicts.push(Verdict::Unknown);
            per_read.push(serde_json::json!({
                "read": event_json(read),
                "verdict": Verdict::Unknown,
                "reason": "final_list_keys value has no key_ids array",
            }));
            continue;
        };
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        let mut non_strings = 0usize;
        for id in listed {
            match id.as_str() {
                Some(id) => *counts.entry(id).or_default() += 1,
                None => non_strings += 1,
            }
        }
        let lost: Vec<&str> = acked
            .iter()
            .copied()
            .filter(|id| !counts.contains_key(id))
            .collect();
        let duplicate: Vec<&str> = counts
            .iter()
            .filter(|&(_, &n)| n > 1)
            .map(|(&id, _)| id)
            .collect();
        let unknown_ids: Vec<&str> = counts
            .keys()
            .copied()
            .filter(|id| !acked_set.contains(id))
            .collect();
        let recovered = unknown_ids.len().min(indeterminate);
        let unexpected = unknown_ids.len() - recovered;
        let verdict = if !lost.is_empty() || !duplicate.is_empty() {
            Verdict::Invalid
        } else if non_strings > 0 {
            Verdict::Unknown
        } else {
            Verdict::Valid
        };
        verdicts.push(verdict);
        let mut summary = serde_json::json!({
            "index": read.index,
            "node": read.node,
            "verdict": verdict,
            "listed": listed.len(),
            "stable": acked.len() - lost.len(),
            "lost_count": lost.len(),
            "duplicate_count": duplicate.len(),
            "recovered_count": recovered,
            "unexpected_count": unexpected,
        });
        if !lost.is_empty() {
            summary["lost"] = first(&lost);
        }
        if !duplicate.is_empty() {
            summary["duplicate"] = first(&duplicate);
        }
        if unexpected > 0 {
            summary["unattributed_ids"] = first(&unknown_ids);
        }
        if non_strings > 0 {
            summary["non_string_ids"] = non_strings.into();
        }
        per_read.push(summary);
    }
    let verdict = if reads.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::all(verdicts)
    };
    let mut details = serde_json::json!({
        "creates": creates.len(),
        "acked": acked.len(),
        "indeterminate": indeterminate,
        "failed": failed,
        "final_reads": per_read,
    });
    if reads.is_empty() {
        details["reason"] = "no ok final_list_keys event in the history".into();
    }
    if acked_without_id > 0 {
        details["acked_without_key_id"] = acked_without_id.into();
    }
    CheckResult::new("set_full", verdict, details)
}

/// `unique_ids`: no two `ok` creates returned the same key id.
pub fn check_unique_ids(events: &[Event]) -> CheckResult {
    let creates = creates(events);
    let mut by_id: HashMap<&str, Vec<&Operation>> = HashMap::new();
    for op in &creates {
        if let Some(id) = created_id(op) {
            by_id.entry(id).or_default().push(op);
        }
    }
    let mut reused: Vec<(&str, &Vec<&Operation>)> = by_id
        .iter()
        .filter(|(_, ops)| ops.len() > 1)
        .map(|(&id, ops)| (id, ops))
        .collect();
    reused.sort_by_key(|(_, ops)| ops.first().map(|op| op.invoke.index));
    let verdict = if reused.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    let mut details = serde_json::json!({
        "acked": by_id.values().map(Vec::len).sum::<usize>(),
        "distinct_ids": by_id.len(),
        "reused_count": reused.len(),
    });
    if !reused.is_empty() {
        details["reused"] = reused
            .iter()
            .take(MAX_LISTED)
            .map(|(id, ops)| {
                serde_json::json!({
                    "key_id": id,
                    "creates": ops.iter().take(MAX_LISTED).map(|op| operation_json(op)).collect::<Vec<_>>(),
                })
            })
            .collect::<Vec<_>>()
            .into();
    }
    CheckResult::new("unique_ids", verdict, details)
}

/// Both create-set checkers: `set_full` and `unique_ids`.
pub fn check_create_set(events: &[Event]) -> Vec<CheckResult> {
    vec![check_set_full(events), check_unique_ids(events)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::H;
    use serde_json::json;

    /// Creates a, b (acked) and one indeterminate create; then the final reads given.
    fn history(final_reads: &[serde_json::Value]) -> H {
        let mut h = H::new();
        h.call(
            1,
            "create_key",
            "",
            json!({"description": "jl-1"}),
            json!({"key_id": "a"}),
        );
        h.invoke(2, "create_key", "", json!({"description": "jl-2"}));
        h.call(
            1,
            "create_key",
            "",
            json!({"description": "jl-3"}),
            json!({"key_id": "b"}),
        );
        h.info(2, "create_key", "");
        h.invoke(3, "create_key", "", json!({"description": "jl-4"}));
        h.fail(3, "create_key", "", "LimitExceededException");
        for (p, ids) in final_reads.iter().enumerate() {
            h.call(
                10 + p as u64,
                "final_list_keys",
                "",
                json!(null),
                json!({ "key_ids": ids }),
            );
        }
        h
    }

    #[test]
    fn complete_listings_are_valid_and_indeterminate_creates_may_appear() {
        let h = history(&[json!(["a", "b"]), json!(["b", "a", "c"])]);
        let result = check_set_full(&h.events);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);
        assert_eq!(result.details["final_reads"][1]["recovered_count"], 1);
        assert_eq!(result.details["indeterminate"], 1);
        assert_eq!(result.details["failed"], 1);
        assert_eq!(check_unique_ids(&h.events).verdict, Verdict::Valid);
    }

    #[test]
    fn lost_create_is_invalid() {
        let h = history(&[json!(["a", "b"]), json!(["a", "c"])]);
        let result = check_set_full(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        let read = &result.details["final_reads"][1];
        assert_eq!(read["lost"], json!(["b"]));
        assert_eq!(read["lost_count"], 1);
        assert_eq!(result.details["final_reads"][0]["verdict"], "valid");
    }

    #[test]
    fn duplicate_listing_is_invalid() {
        let result = check_set_full(&history(&[json!(["a", "b", "a"])]).events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["final_reads"][0]["duplicate"], json!(["a"]));
    }

    #[test]
    fn unexpected_ids_are_reported_and_missing_final_read_is_unknown() {
        let result = check_set_full(&history(&[json!(["a", "b", "x", "y"])]).events);
        assert_eq!(result.verdict, Verdict::Valid);
        assert_eq!(result.details["final_reads"][0]["unexpected_count"], 1);
        assert_eq!(
            check_set_full(&history(&[]).events).verdict,
            Verdict::Unknown
        );
    }

    #[test]
    fn reused_key_id_is_invalid() {
        let mut h = history(&[json!(["a", "b"])]);
        h.call(
            4,
            "create_key",
            "",
            json!({"description": "jl-5"}),
            json!({"key_id": "a"}),
        );
        let result = check_unique_ids(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["reused"][0]["key_id"], "a");
        assert_eq!(
            result.details["reused"][0]["creates"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            crate::checker::combine(&check_create_set(&h.events)),
            Verdict::Invalid
        );
    }
}
