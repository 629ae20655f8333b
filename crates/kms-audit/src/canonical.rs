//! Canonical JSON and the chain hash.
//!
//! Canonicalisation is explicit rather than inherited from `serde_json::Value`'s map order:
//! whether `Value` objects iterate sorted depends on serde_json's `preserve_order` feature, which
//! any crate in a build can switch on. [`canonical_json`] sorts keys itself.

use serde_json::Value;

/// The `prevHash` of a log's first event: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The canonical text of `value`: no whitespace, object keys sorted by their UTF-8 bytes,
/// strings escaped as `serde_json` escapes them, numbers as `serde_json` prints them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, None, &mut out);
    out
}

/// The hash an event's `hash` member must hold: lowercase hex of
/// `SHA-256(prevHash as 32 raw bytes || canonical JSON of the event without "hash")`.
///
/// `None` if `event` is not an object or its `prevHash` is not 64 lowercase hex digits.
pub fn chain_hash(event: &Value) -> Option<String> {
    let prev = decode_hash(event.as_object()?.get("prevHash")?.as_str()?)?;
    let mut text = String::new();
    write_canonical(event, Some("hash"), &mut text);
    let mut input = Vec::with_capacity(32 + text.len());
    input.extend_from_slice(&prev);
    input.extend_from_slice(text.as_bytes());
    Some(hex(&kms_crypto::sha256(&input)))
}

/// Writes `value` canonically, leaving out the top-level member `skip` if given.
fn write_canonical(value: &Value, skip: Option<&str>, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != skip)
                .collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, None, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, None, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        // Null, booleans and numbers print the same compact way serde_json writes them.
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push_str(&Value::from(s).to_string());
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// Decodes a hash written as exactly 64 *lowercase* hex digits.
pub(crate) fn decode_hash(s: &str) -> Option<[u8; 32]> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// The JSON path of the first non-integer number in `value`, if any.
pub(crate) fn find_float(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) if !(n.is_i64() || n.is_u64()) => Some(String::new()),
        Value::Object(map) => map
            .iter()
            .find_map(|(k, v)| find_float(v).map(|p| format!(".{k}{p}"))),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_float(v).map(|p| format!("[{i}]{p}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map};

    #[test]
    fn keys_are_sorted_whatever_the_insertion_order() {
        // Build objects in reverse order: with serde_json's `preserve_order` on, `Value`'s own
        // serialisation would keep this order; canonical_json must not.
        let mut inner = Map::new();
        inner.insert("z".into(), json!(1));
        inner.insert("a".into(), json!([true, null, "x\"y\n"]));
        let mut outer = Map::new();
        outer.insert("b".into(), Value::Object(inner));
        outer.insert("B".into(), json!(-3));
        outer.insert("a".into(), json!({}));
        assert_eq!(
            canonical_json(&Value::Object(outer)),
            r#"{"B":-3,"a":{},"b":{"a":[true,null,"x\"y\n"],"z":1}}"#
        );
    }

    #[test]
    fn serde_json_preserve_order_state_is_known() {
        // Documents which map order this build has; canonical_json is correct either way.
        let v: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        let natural = serde_json::to_string(&v).unwrap();
        assert!(natural == r#"{"a":2,"b":1}"# || natural == r#"{"b":1,"a":2}"#);
        assert_eq!(canonical_json(&v), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn non_ascii_keys_sort_by_bytes() {
        let v = json!({"é": 1, "z": 2, "Z": 3});
        assert_eq!(canonical_json(&v), r#"{"Z":3,"z":2,"é":1}"#);
    }

    #[test]
    fn chain_hash_golden() {
        // Computed independently with Python's hashlib:
        // sha256(bytes(32) + b'{"a":1,"prevHash":"' + b'0' * 64 + b'"}').
        let ev = json!({"prevHash": GENESIS_HASH, "a": 1, "hash": "ignored"});
        assert_eq!(
            chain_hash(&ev).unwrap(),
            "dcfa4225cb3ab05d4c4756a82fd90ba57f7827aed995b20137c212888bdf264d"
        );
    }

    #[test]
    fn hash_codec() {
        let bytes: [u8; 32] = core::array::from_fn(|i| (i * 8) as u8);
        let s = hex(&bytes);
        assert_eq!(decode_hash(&s), Some(bytes));
        assert_eq!(decode_hash(&s.to_uppercase()), None);
        assert_eq!(decode_hash(&s[1..]), None);
        assert_eq!(decode_hash(GENESIS_HASH), Some([0; 32]));
    }

    #[test]
    fn floats_are_found() {
        assert_eq!(
            find_float(&json!({"a": [1, {"b": 2.5}]})).as_deref(),
            Some(".a[1].b")
        );
        assert_eq!(find_float(&json!({"a": [1, -2, u64::MAX]})), None);
    }
}
