//! What each `multi-region` op sends (Jepsen's client `invoke!` for that workload): one op
//! against a client signed for the op's region, classified as ok / fail / info. The history
//! values it records are the contract of `checker::mrk`.

use super::ops::str_at;
use crate::checker::mrk::{
    rotation_ids, View, F_DECRYPT, F_DESCRIBE, F_ENCRYPT, F_FINAL_DECRYPT, F_FINAL_DESCRIBE,
    F_FINAL_LIST_ROTATIONS, F_LIST_ROTATIONS, F_REPLICATE, F_ROTATE, F_UPDATE_PRIMARY,
};
use crate::client::{classify_error, Completion, KmsClient, Reply, ERR_BAD_RESPONSE};
use crate::generator::Op;
use serde_json::{json, Value};
use std::collections::HashMap;

fn region_of(op: &Op, client: &KmsClient) -> String {
    op.value["region"]
        .as_str()
        .unwrap_or(client.region())
        .to_string()
}

/// Runs one multi-region op against `client` (signed for the op's region) and classifies it.
pub(crate) async fn execute(
    client: &KmsClient,
    op: &Op,
    keys: &HashMap<String, String>,
) -> Completion {
    let id = op
        .key
        .as_ref()
        .and_then(|k| keys.get(k))
        .cloned()
        .unwrap_or_default();
    let region = region_of(op, client);
    let not_found =
        |reply: &Reply| matches!(reply, Reply::Error { error, .. } if error == "NotFoundException");
    match op.f {
        F_DESCRIBE | F_FINAL_DESCRIBE => {
            match client.call("DescribeKey", &json!({ "KeyId": id })).await {
                Reply::Ok(v) if v.get("KeyMetadata").is_some() => {
                    Completion::Ok(View::from_describe(&v).to_value(&region))
                }
                Reply::Ok(_) => Completion::Fail(ERR_BAD_RESPONSE.into()),
                other if not_found(&other) => Completion::Ok(View::absent().to_value(&region)),
                other => classify_error(&other, false),
            }
        }
        F_LIST_ROTATIONS | F_FINAL_LIST_ROTATIONS => {
            let body = json!({ "KeyId": id, "Limit": 1000 });
            match client.call("ListKeyRotations", &body).await {
                Reply::Ok(v) if v.get("Rotations").is_some() => Completion::Ok(json!({
                    "region": region,
                    "exists": true,
                    "material_ids": rotation_ids(&v),
                })),
                Reply::Ok(_) => Completion::Fail(ERR_BAD_RESPONSE.into()),
                other if not_found(&other) => Completion::Ok(json!({
                    "region": region,
                    "exists": false,
                    "material_ids": [],
                })),
                other => classify_error(&other, false),
            }
        }
        F_REPLICATE => {
            let body = json!({ "KeyId": id, "ReplicaRegion": op.value["replica_region"] });
            match client.call("ReplicateKey", &body).await {
                Reply::Ok(v) => {
                    let mut value = op.value.clone();
                    value["replica_state"] = str_at(&v, &["ReplicaKeyMetadata", "KeyState"]).into();
                    Completion::Ok(value)
                }
                other => classify_error(&other, true),
            }
        }
        F_UPDATE_PRIMARY => {
            let body = json!({ "KeyId": id, "PrimaryRegion": op.value["primary_region"] });
            match client.call("UpdatePrimaryRegion", &body).await {
                Reply::Ok(_) => Completion::Ok(op.value.clone()),
                other => classify_error(&other, true),
            }
        }
        F_ROTATE => match client
            .call("RotateKeyOnDemand", &json!({ "KeyId": id }))
            .await
        {
            Reply::Ok(_) => Completion::Ok(op.value.clone()),
            other => classify_error(&other, true),
        },
        F_ENCRYPT => {
            let plaintext = op.value["plaintext_b64"].clone();
            let body = json!({ "KeyId": id, "Plaintext": plaintext });
            match client.call("Encrypt", &body).await {
                Reply::Ok(v) => match v.get("CiphertextBlob").and_then(Value::as_str) {
                    Some(blob) => Completion::Ok(json!({
                        "region": region,
                        "ciphertext_b64": blob,
                        "plaintext_b64": plaintext,
                        "key_id": v.get("KeyId"),
                    })),
                    None => Completion::Fail(ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        F_DECRYPT | F_FINAL_DECRYPT => {
            let body = json!({ "CiphertextBlob": op.value["ciphertext_b64"] });
            match client.call("Decrypt", &body).await {
                Reply::Ok(v) => match v.get("Plaintext").and_then(Value::as_str) {
                    Some(plaintext) => Completion::Ok(json!({
                        "region": region,
                        "plaintext_b64": plaintext,
                        "key_id": v.get("KeyId"),
                    })),
                    None => Completion::Fail(ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        f => Completion::Fail(format!("jl:unsupported-op:{f}")),
    }
}
