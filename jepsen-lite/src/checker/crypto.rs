//! The crypto-bank checkers: `crypto_durability` (every acknowledged ciphertext still decrypts,
//! after heal, to the plaintext that was encrypted) and `nonce_unique` (no two ciphertexts under
//! the same key material share a nonce).
//!
//! Input: crypto-workload `encrypt` operations (their invoke value has `"plaintext_b64"`) whose
//! `ok` completion carries `{"ciphertext_b64", "plaintext_b64"}`, and `final_decrypt` operations
//! (ciphertext on the invoke or the completion; `ok` value `{"ciphertext_b64", "plaintext_b64"}`,
//! optionally `"key_id"`; or a `fail` with its error).
//!
//! Per acked ciphertext: `missing` (no final decrypt), `failed` (a final decrypt failed),
//! `mismatch` (one returned another plaintext) and `wrong_key_id` (one named a key other than the
//! blob's) are invalid; `unresolved` (only `info` final decrypts) is unknown.
//!
//! Trent's symmetric blob (`kms-crypto` `ciphertext.rs`, format 1): byte 0 version = 1, byte 1
//! key-id length L, L bytes key id, 32-byte material id, 12-byte nonce, then ciphertext + tag.

use super::{event_json, operation_json, CheckResult, Verdict, MAX_LISTED};
use crate::history::{pair, Event, EventType, Operation};
use base64::Engine;
use std::collections::{BTreeMap, HashMap, HashSet};

/// True for a crypto-workload `encrypt` event (its value has `plaintext_b64`).
pub fn is_crypto_encrypt(event: &Event) -> bool {
    event.f == "encrypt" && event.value.get("plaintext_b64").is_some()
}

/// Operations whose `ok` output is a fresh ciphertext (candidates for nonce reuse).
const CIPHERTEXT_PRODUCERS: [&str; 4] = [
    "encrypt",
    "generate_data_key",
    "generate_data_key_without_plaintext",
    "re_encrypt",
];

/// Decodes standard base64 (padding optional).
pub fn decode_b64(text: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(text)
        .or_else(|_| STANDARD_NO_PAD.decode(text))
        .ok()
}

/// The header of a Trent symmetric ciphertext blob.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobHeader {
    /// Key id (not an ARN).
    pub key_id: String,
    /// Material version id.
    pub material_id: [u8; 32],
    /// AES-GCM nonce.
    pub nonce: [u8; 12],
}

/// Parses the header of a format-1 blob; `None` if it is not one.
pub fn parse_blob(blob: &[u8]) -> Option<BlobHeader> {
    let (&version, rest) = blob.split_first()?;
    if version != 1 {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if len == 0 || rest.len() < len + 32 + 12 {
        return None;
    }
    let key_id = std::str::from_utf8(&rest[..len]).ok()?.to_string();
    let material_id = rest[len..len + 32].try_into().ok()?;
    let nonce = rest[len + 32..len + 44].try_into().ok()?;
    Some(BlobHeader {
        key_id,
        material_id,
        nonce,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares two base64 texts by their decoded bytes (by text if either does not decode).
fn same_bytes(a: &str, b: &str) -> bool {
    match (decode_b64(a), decode_b64(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn str_field<'a>(value: &'a serde_json::Value, field: &str) -> Option<&'a str> {
    value.get(field)?.as_str()
}

/// An acknowledged crypto-workload encrypt.
struct Acked {
    op: Operation,
    ciphertext: String,
    plaintext: String,
}

fn acked_encrypts(ops: &[Operation]) -> Vec<Acked> {
    ops.iter()
        .filter(|op| is_crypto_encrypt(&op.invoke) && op.outcome() == EventType::Ok)
        .filter_map(|op| {
            let output = &op.completion.as_ref()?.value;
            let ciphertext = str_field(output, "ciphertext_b64")?.to_string();
            let plaintext = str_field(&op.invoke.value, "plaintext_b64")
                .or_else(|| str_field(output, "plaintext_b64"))?
                .to_string();
            Some(Acked {
                op: op.clone(),
                ciphertext,
                plaintext,
            })
        })
        .collect()
}

/// One final decrypt attempt: its ciphertext, outcome and output.
struct FinalDecrypt {
    ciphertext: Option<String>,
    outcome: EventType,
    output: serde_json::Value,
    json: serde_json::Value,
}

fn final_decrypts(events: &[Event], ops: &[Operation]) -> Vec<FinalDecrypt> {
    let mut paired: HashSet<u64> = HashSet::new();
    let mut result = Vec::new();
    for op in ops.iter().filter(|op| op.invoke.f == "final_decrypt") {
        let output = op
            .completion
            .as_ref()
            .map(|c| c.value.clone())
            .unwrap_or_default();
        if let Some(completion) = &op.completion {
            paired.insert(completion.index);
        }
        let ciphertext = str_field(&output, "ciphertext_b64")
            .or_else(|| str_field(&op.invoke.value, "ciphertext_b64"))
            .map(str::to_string);
        result.push(FinalDecrypt {
            ciphertext,
            outcome: op.outcome(),
            output,
            json: operation_json(op),
        });
    }
    // Completions recorded without an invoke stand for themselves.
    for event in events.iter().filter(|e| {
        e.f == "final_decrypt" && e.kind != EventType::Invoke && !paired.contains(&e.index)
    }) {
        result.push(FinalDecrypt {
            ciphertext: str_field(&event.value, "ciphertext_b64").map(str::to_string),
            outcome: event.kind,
            output: event.value.clone(),
            json: event_json(event),
        });
    }
    result
}

/// `crypto_durability`: every acked crypto-workload ciphertext has final decrypts, none failed or
/// returned another plaintext (or key), and at least one succeeded. `unknown` if there is nothing
/// to judge or some ciphertext only has indeterminate final decrypts.
pub fn check_crypto_durability(events: &[Event]) -> CheckResult {
    let ops = pair(events);
    let acked = acked_encrypts(&ops);
    let decrypts = final_decrypts(events, &ops);
    let mut by_ciphertext: HashMap<&str, Vec<&FinalDecrypt>> = HashMap::new();
    let mut without_ciphertext = 0usize;
    for d in &decrypts {
        match &d.ciphertext {
            Some(c) => by_ciphertext.entry(c.as_str()).or_default().push(d),
            None => without_ciphertext += 1,
        }
    }
    let mut problems: BTreeMap<&str, Vec<serde_json::Value>> = BTreeMap::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &acked {
        let attempts = by_ciphertext
            .get(a.ciphertext.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let header = decode_b64(&a.ciphertext).as_deref().and_then(parse_blob);
        let mut kinds: Vec<(&str, Option<&FinalDecrypt>)> = Vec::new();
        if attempts.is_empty() {
            kinds.push(("missing", None));
        }
        for &d in attempts {
            match d.outcome {
                EventType::Ok => {
                    let plaintext = str_field(&d.output, "plaintext_b64");
                    if !plaintext.is_some_and(|p| same_bytes(p, &a.plaintext)) {
                        kinds.push(("mismatch", Some(d)));
                    }
                    if let (Some(key_id), Some(h)) = (str_field(&d.output, "key_id"), &header) {
                        if key_id != h.key_id && !key_id.ends_with(&format!("/{}", h.key_id)) {
                            kinds.push(("wrong_key_id", Some(d)));
                        }
                    }
                }
                EventType::Fail => kinds.push(("failed", Some(d))),
                EventType::Info | EventType::Invoke => {}
            }
        }
        let none_ok = attempts.iter().all(|d| d.outcome != EventType::Ok);
        if !attempts.is_empty() && none_ok && !kinds.iter().any(|(k, _)| *k == "failed") {
            kinds.push(("unresolved", None));
        }
        let mut seen = HashSet::new();
        for (kind, d) in kinds {
            if seen.insert(kind) {
                *counts.entry(kind).or_default() += 1;
            }
            let list = problems.entry(kind).or_default();
            if list.len() < MAX_LISTED {
                let mut entry = serde_json::json!({
                    "encrypt": operation_json(&a.op),
                    "ciphertext_b64": a.ciphertext,
                });
                if let Some(d) = d {
                    entry["final_decrypt"] = d.json.clone();
                }
                list.push(entry);
            }
        }
    }
    let invalid = ["missing", "failed", "mismatch", "wrong_key_id"]
        .iter()
        .any(|k| counts.contains_key(k));
    let verdict = if invalid {
        Verdict::Invalid
    } else if acked.is_empty() || counts.contains_key("unresolved") {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let mut details = serde_json::json!({
        "acked": acked.len(),
        "final_decrypts": decrypts.len(),
        "counts": counts,
    });
    if acked.is_empty() {
        details["reason"] = "no acknowledged crypto-workload encrypt".into();
    }
    if without_ciphertext > 0 {
        details["final_decrypts_without_ciphertext"] = without_ciphertext.into();
    }
    for (kind, list) in problems {
        details[kind] = list.into();
    }
    CheckResult::new("crypto_durability", verdict, details)
}

/// A key's material version: (key id, material id).
type Material = (String, [u8; 32]);

/// `nonce_unique`: no two acknowledged ciphertexts (from `encrypt`, `generate_data_key*`,
/// `re_encrypt`) under the same (key id, material id) share a nonce. Blobs that do not parse make
/// the result `unknown` unless a reuse was found.
pub fn check_nonce_unique(events: &[Event]) -> CheckResult {
    let ops = pair(events);
    let mut seen: HashMap<Material, HashMap<[u8; 12], &Operation>> = HashMap::new();
    let mut checked = 0usize;
    let mut unparseable = Vec::new();
    let mut reused = Vec::new();
    let mut reused_count = 0usize;
    for op in ops.iter().filter(|op| {
        CIPHERTEXT_PRODUCERS.contains(&op.invoke.f.as_str()) && op.outcome() == EventType::Ok
    }) {
        let Some(text) = op
            .completion
            .as_ref()
            .and_then(|c| str_field(&c.value, "ciphertext_b64"))
        else {
            continue;
        };
        let Some(header) = decode_b64(text).as_deref().and_then(parse_blob) else {
            unparseable.push(op);
            continue;
        };
        checked += 1;
        let nonces = seen
            .entry((header.key_id.clone(), header.material_id))
            .or_default();
        match nonces.get(&header.nonce) {
            Some(first) => {
                reused_count += 1;
                if reused.len() < MAX_LISTED {
                    reused.push(serde_json::json!({
                        "key_id": header.key_id,
                        "material_id": hex(&header.material_id),
                        "nonce": hex(&header.nonce),
                        "first": operation_json(first),
                        "second": operation_json(op),
                    }));
                }
            }
            None => {
                nonces.insert(header.nonce, op);
            }
        }
    }
    let verdict = if reused_count > 0 {
        Verdict::Invalid
    } else if !unparseable.is_empty() || checked == 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let mut details = serde_json::json!({
        "ciphertexts": checked,
        "materials": seen.len(),
        "reused_count": reused_count,
        "unparseable_count": unparseable.len(),
    });
    if !reused.is_empty() {
        details["reused"] = reused.into();
    }
    if !unparseable.is_empty() {
        details["unparseable"] = unparseable
            .iter()
            .take(MAX_LISTED)
            .map(|op| operation_json(op))
            .collect::<Vec<_>>()
            .into();
    }
    if checked == 0 && unparseable.is_empty() {
        details["reason"] = "no acknowledged ciphertext in the history".into();
    }
    CheckResult::new("nonce_unique", verdict, details)
}

/// Both crypto-bank checkers: `crypto_durability` and `nonce_unique`.
pub fn check_crypto(events: &[Event]) -> Vec<CheckResult> {
    vec![check_crypto_durability(events), check_nonce_unique(events)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::test_support::H;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::json;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";

    /// A format-1 blob for `KEY`, material `material`, nonce `nonce` and a body `body`.
    fn blob(material: u8, nonce: u8, body: &[u8]) -> String {
        let mut bytes = vec![1, KEY.len() as u8];
        bytes.extend_from_slice(KEY.as_bytes());
        bytes.extend_from_slice(&[material; 32]);
        bytes.extend_from_slice(&[nonce; 12]);
        bytes.extend_from_slice(body);
        bytes.extend_from_slice(&[0xee; 16]);
        STANDARD.encode(bytes)
    }

    fn b64(text: &str) -> String {
        STANDARD.encode(text)
    }

    /// Encrypts `plaintext` → `ciphertext` (acked), as process `p`.
    fn encrypt(h: &mut H, p: u64, plaintext: &str, ciphertext: &str) {
        h.call(
            p,
            "encrypt",
            "c1",
            json!({"plaintext_b64": b64(plaintext)}),
            json!({"ciphertext_b64": ciphertext, "plaintext_b64": b64(plaintext)}),
        );
    }

    fn final_decrypt(h: &mut H, p: u64, ciphertext: &str, plaintext: &str) {
        h.call(
            p,
            "final_decrypt",
            "c1",
            json!({"ciphertext_b64": ciphertext}),
            json!({"ciphertext_b64": ciphertext, "plaintext_b64": b64(plaintext), "key_id": format!("arn:aws:kms:r1:111122223333:key/{KEY}")}),
        );
    }

    #[test]
    fn durable_ciphertexts_with_fresh_nonces_are_valid() {
        let (c1, c2) = (blob(1, 1, b"x"), blob(1, 2, b"y"));
        let mut h = H::new();
        encrypt(&mut h, 1, "p-1", &c1);
        encrypt(&mut h, 2, "p-2", &c2);
        h.invoke(3, "encrypt", "c1", json!({"plaintext_b64": b64("p-3")}))
            .info(3, "encrypt", "c1");
        for node in [10, 11] {
            final_decrypt(&mut h, node, &c1, "p-1");
            final_decrypt(&mut h, node, &c2, "p-2");
        }
        let results = check_crypto(&h.events);
        assert_eq!(
            results[0].verdict,
            Verdict::Valid,
            "{:#}",
            results[0].details
        );
        assert_eq!(results[0].details["acked"], 2);
        assert_eq!(
            results[1].verdict,
            Verdict::Valid,
            "{:#}",
            results[1].details
        );
        assert_eq!(results[1].details["ciphertexts"], 2);
    }

    #[test]
    fn different_plaintext_failed_or_missing_decrypt_is_invalid() {
        let (c1, c2, c3) = (blob(1, 1, b"x"), blob(1, 2, b"y"), blob(1, 3, b"z"));
        let mut h = H::new();
        encrypt(&mut h, 1, "p-1", &c1);
        encrypt(&mut h, 1, "p-2", &c2);
        encrypt(&mut h, 1, "p-3", &c3);
        final_decrypt(&mut h, 10, &c1, "p-other");
        h.invoke(10, "final_decrypt", "c1", json!({"ciphertext_b64": c2}));
        h.fail(10, "final_decrypt", "c1", "InvalidCiphertextException");
        let result = check_crypto_durability(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(
            result.details["counts"],
            json!({"mismatch": 1, "failed": 1, "missing": 1})
        );
        assert_eq!(result.details["mismatch"][0]["ciphertext_b64"], c1);
        assert_eq!(
            result.details["failed"][0]["final_decrypt"]["error"],
            "InvalidCiphertextException"
        );
    }

    #[test]
    fn only_indeterminate_final_decrypts_is_unknown() {
        let c1 = blob(1, 1, b"x");
        let mut h = H::new();
        encrypt(&mut h, 1, "p-1", &c1);
        h.invoke(10, "final_decrypt", "c1", json!({"ciphertext_b64": c1}));
        let result = check_crypto_durability(&h.events);
        assert_eq!(result.verdict, Verdict::Unknown, "{:#}", result.details);
    }

    #[test]
    fn nonce_reuse_under_one_material_is_invalid() {
        let mut h = H::new();
        encrypt(&mut h, 1, "p-1", &blob(1, 7, b"x"));
        encrypt(&mut h, 1, "p-2", &blob(2, 7, b"y")); // other material: fine
        encrypt(&mut h, 2, "p-3", &blob(1, 7, b"z")); // reuse
        let result = check_nonce_unique(&h.events);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["reused_count"], 1);
        assert_eq!(result.details["reused"][0]["key_id"], KEY);
        assert_eq!(result.details["reused"][0]["nonce"], "07".repeat(12));
        assert_eq!(result.details["reused"][0]["second"]["process"], 2);
    }

    #[test]
    fn blob_parsing() {
        let header = parse_blob(&decode_b64(&blob(3, 4, b"")).unwrap()).unwrap();
        assert_eq!(
            header,
            BlobHeader {
                key_id: KEY.into(),
                material_id: [3; 32],
                nonce: [4; 12]
            }
        );
        assert_eq!(parse_blob(&[2, 1, b'k']), None);
        assert_eq!(parse_blob(&[1, 5, b'k']), None);
        let mut h = H::new();
        encrypt(&mut h, 1, "p-1", &b64("not a blob"));
        assert_eq!(check_nonce_unique(&h.events).verdict, Verdict::Unknown);
    }
}
