//! The `liveness` checker: after the nemesis heals, the final operations (client events whose
//! `f` starts with `final_`) must all complete `ok`. `final_decrypt` and `final_mrk_decrypt` are
//! left to `crypto_durability` and `decrypt_anywhere`, which judge each ciphertext. No final
//! operation at all is `unknown`.

use super::{event_json, operation_json, CheckResult, Verdict, MAX_LISTED};
use crate::history::{pair, Event, EventType, Process};

/// True for a final operation judged here.
fn judged(f: &str) -> bool {
    f.starts_with("final_") && f != "final_decrypt" && f != super::mrk::F_FINAL_DECRYPT
}

/// `liveness`: every client `final_*` completion is `ok` and every `final_*` invoke completed.
pub fn check_liveness(events: &[Event]) -> CheckResult {
    let client = |e: &&Event| matches!(e.process, Process::Client(_)) && judged(&e.f);
    let completions: Vec<&Event> = events
        .iter()
        .filter(client)
        .filter(|e| e.kind != EventType::Invoke)
        .collect();
    let invokes = events
        .iter()
        .filter(client)
        .filter(|e| e.kind == EventType::Invoke)
        .count();
    let mut offenders: Vec<serde_json::Value> = Vec::new();
    let mut offender_count = 0usize;
    for event in completions.iter().filter(|e| e.kind != EventType::Ok) {
        offender_count += 1;
        if offenders.len() < MAX_LISTED {
            offenders.push(event_json(event));
        }
    }
    for op in pair(events)
        .iter()
        .filter(|op| judged(&op.invoke.f) && op.completion.is_none())
    {
        offender_count += 1;
        if offenders.len() < MAX_LISTED {
            offenders.push(operation_json(op));
        }
    }
    let ok = completions
        .iter()
        .filter(|e| e.kind == EventType::Ok)
        .count();
    let verdict = if offender_count > 0 {
        Verdict::Invalid
    } else if ok == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let mut details = serde_json::json!({
        "final_invokes": invokes,
        "final_ok": ok,
        "not_ok_count": offender_count,
    });
    if !offenders.is_empty() {
        details["not_ok"] = offenders.into();
    }
    if ok == 0 && offender_count == 0 {
        details["reason"] = "no final operation in the history".into();
    }
    CheckResult::new("liveness", verdict, details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::H;
    use serde_json::json;

    #[test]
    fn final_operations_must_all_be_ok() {
        let mut h = H::new();
        h.call(
            1,
            "final_list_keys",
            "",
            json!(null),
            json!({"key_ids": []}),
        );
        h.invoke(2, "final_decrypt", "c", json!({}))
            .fail(2, "final_decrypt", "c", "X");
        h.call(3, "describe_key", "k", json!(null), json!({}));
        let result = check_liveness(&h.events);
        assert_eq!(result.verdict, Verdict::Valid, "{:#}", result.details);

        h.invoke(4, "final_describe_key", "k1", json!(null)).fail(
            4,
            "final_describe_key",
            "k1",
            "Y",
        );
        h.invoke(5, "final_list_keys", "", json!(null)); // never completed
        let result = check_liveness(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["not_ok_count"], 2);
        assert_eq!(result.details["not_ok"][0]["error"], "Y");
        assert_eq!(result.details["not_ok"][1]["process"], 5);
    }

    #[test]
    fn no_final_operation_is_unknown() {
        let mut h = H::new();
        h.call(1, "describe_key", "k", json!(null), json!({}));
        assert_eq!(check_liveness(&h.events).verdict, Verdict::Unknown);
    }
}
