//! What each single-region op sends (Jepsen's client `invoke!`): the KMS request(s) for an
//! [`Op`] of `key-state`, `create-set`, `crypto` or `big-keys`, and how the reply is
//! classified (ok / fail / info, see `client`). The `f` names and recorded values are the
//! checkers' contract.

use crate::client::{classify_error, Completion, KmsClient, Reply};
use crate::generator::{Op, Workload};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::HashMap;

fn key_id(keys: &HashMap<String, String>, op: &Op) -> String {
    op.key
        .as_ref()
        .and_then(|k| keys.get(k))
        .cloned()
        .unwrap_or_default()
}

/// Every node's final key listing (create-set's final read, and the liveness probe).
pub(crate) const F_FINAL_LIST_KEYS: &str = "final_list_keys";

/// The string at `path` in a JSON reply.
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, p| v.get(*p))?.as_str()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs one single-region op against a node and classifies the outcome (see `client`).
pub(crate) async fn execute(
    client: &KmsClient,
    workload: Workload,
    op: &Op,
    keys: &HashMap<String, String>,
) -> Completion {
    let id = key_id(keys, op);
    let mutation = |operation: &'static str, body: Value| async move {
        match client.call(operation, &body).await {
            Reply::Ok(_) => Completion::Ok(op.value.clone()),
            other => classify_error(&other, true),
        }
    };
    match (workload, op.f) {
        (Workload::KeyState, "enable_key") => mutation("EnableKey", json!({ "KeyId": id })).await,
        (Workload::KeyState, "disable_key") => mutation("DisableKey", json!({ "KeyId": id })).await,
        (Workload::KeyState, "update_description") => {
            let description = op.value["description"].clone();
            mutation(
                "UpdateKeyDescription",
                json!({ "KeyId": id, "Description": description }),
            )
            .await
        }
        (Workload::KeyState, "schedule_deletion") => {
            mutation(
                "ScheduleKeyDeletion",
                json!({ "KeyId": id, "PendingWindowInDays": 30 }),
            )
            .await
        }
        (Workload::KeyState, "cancel_deletion") => {
            mutation("CancelKeyDeletion", json!({ "KeyId": id })).await
        }
        (Workload::KeyState, "describe_key") => {
            match client.call("DescribeKey", &json!({ "KeyId": id })).await {
                Reply::Ok(v) => match (
                    str_at(&v, &["KeyMetadata", "KeyState"]),
                    str_at(&v, &["KeyMetadata", "Description"]),
                ) {
                    (Some(state), description) => Completion::Ok(json!({
                        "state": state,
                        "description": description.unwrap_or(""),
                    })),
                    _ => Completion::Fail(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        (Workload::KeyState, "encrypt") => {
            let body = json!({ "KeyId": id, "Plaintext": b64(crate::generator::PROBE_PLAINTEXT) });
            match client.call("Encrypt", &body).await {
                Reply::Ok(_) => Completion::Ok(json!({ "observed": "Enabled" })),
                Reply::Error { error, .. } if error == "DisabledException" => {
                    Completion::Ok(json!({ "observed": "Disabled" }))
                }
                Reply::Error { error, .. } if error == "KMSInvalidStateException" => {
                    Completion::Ok(json!({ "observed": "PendingDeletion" }))
                }
                other => classify_error(&other, false),
            }
        }
        (Workload::CreateSet | Workload::BigKeys, "create_key") => {
            let body = match (workload, op.value["description"].as_str()) {
                (Workload::BigKeys, Some(name)) => json!({
                    "Description": crate::generator::big_description(name),
                    "Policy": crate::generator::big_policy(name),
                }),
                _ => json!({ "Description": op.value["description"].clone() }),
            };
            match client.call("CreateKey", &body).await {
                Reply::Ok(v) => match str_at(&v, &["KeyMetadata", "KeyId"]) {
                    Some(key_id) => Completion::Ok(json!({ "key_id": key_id })),
                    // It may have been created; we cannot tell which key it is.
                    None => Completion::Info(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, true),
            }
        }
        (Workload::Crypto, "encrypt") => {
            let plaintext = op.value["plaintext_b64"].clone();
            let body = json!({ "KeyId": id, "Plaintext": plaintext });
            match client.call("Encrypt", &body).await {
                Reply::Ok(v) => match v.get("CiphertextBlob").and_then(Value::as_str) {
                    Some(blob) => Completion::Ok(json!({
                        "ciphertext_b64": blob,
                        "plaintext_b64": plaintext,
                    })),
                    None => Completion::Fail(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        (_, F_FINAL_LIST_KEYS) => list_all_keys(client).await,
        (Workload::Crypto, "final_decrypt") => {
            let blob = op.value["ciphertext_b64"].clone();
            match client
                .call("Decrypt", &json!({ "CiphertextBlob": blob }))
                .await
            {
                Reply::Ok(v) => match v.get("Plaintext").and_then(Value::as_str) {
                    Some(plaintext) => Completion::Ok(json!({
                        "ciphertext_b64": blob,
                        "plaintext_b64": plaintext,
                    })),
                    None => Completion::Fail(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        (_, f) => Completion::Fail(format!("jl:unsupported-op:{f}")),
    }
}

/// ListKeys, every page.
async fn list_all_keys(client: &KmsClient) -> Completion {
    let mut key_ids: Vec<Value> = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10_000 {
        let mut body = json!({ "Limit": 100 });
        if let (Some(m), Some(map)) = (&marker, body.as_object_mut()) {
            map.insert("Marker".into(), m.clone().into());
        }
        match client.call("ListKeys", &body).await {
            Reply::Ok(v) => {
                let Some(keys) = v.get("Keys").and_then(Value::as_array) else {
                    return Completion::Fail(crate::client::ERR_BAD_RESPONSE.into());
                };
                key_ids.extend(keys.iter().filter_map(|k| k.get("KeyId")).cloned());
                let truncated = v.get("Truncated").and_then(Value::as_bool) == Some(true);
                marker = v
                    .get("NextMarker")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if !truncated || marker.is_none() {
                    return Completion::Ok(json!({ "key_ids": key_ids }));
                }
            }
            other => return classify_error(&other, false),
        }
    }
    Completion::Fail("jl:too-many-pages".into())
}
