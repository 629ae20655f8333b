//! Allow-list redaction of request and response bodies for `requestParameters` and
//! `responseElements`.
//!
//! Only members named here survive, and only with the JSON shape named here (a `KeyId` that is
//! not a string is dropped, a map keeps only string values). Anything unknown is dropped, so a
//! new secret-bearing member added to the API later stays out of the log by default. Never
//! logged: `Plaintext`, `CiphertextBlob`, `Message`, `Mac`, `Signature`, `PublicKey`,
//! `PrivateKey*`, `SharedSecret`, `ImportToken`, `EncryptedKeyMaterial`, `Recipient`,
//! `CiphertextForRecipient`, `KeyStorePassword`, `RawSecretAccessKey`, `GrantToken`, and grant tokens (only their count is kept, as
//! `GrantTokenCount`).

use serde_json::{Map, Value};

/// Longest key policy (in bytes) copied into the log; KMS's own limit is 32 KiB. A longer
/// `Policy` is replaced by `PolicyBytes` (its length).
pub const MAX_POLICY_BYTES: usize = 32 * 1024;

/// Longest other string (in bytes) copied into the log; longer strings are dropped.
const MAX_STRING_BYTES: usize = 8 * 1024;

/// The JSON shape a member may have to be kept.
#[derive(Clone, Copy)]
enum Shape {
    /// A string up to [`MAX_STRING_BYTES`].
    Str,
    /// A boolean.
    Bool,
    /// An integer.
    Int,
    /// A number of epoch seconds, floored to an integer (timestamps may be fractional, and
    /// logged numbers must be integers).
    Timestamp,
    /// An object whose string values are kept (an encryption context).
    StrMap,
    /// An array whose string elements are kept.
    StrList,
    /// An object filtered by a nested allow-list.
    Object(&'static [(&'static str, Shape)]),
    /// An array of objects, each filtered by a nested allow-list.
    ObjectList(&'static [(&'static str, Shape)]),
    /// Grant tokens: replaced by `GrantTokenCount`.
    GrantTokens,
    /// A key policy document: kept up to [`MAX_POLICY_BYTES`] in the operations that set or
    /// return a key policy, dropped elsewhere.
    Policy,
}

use Shape::*;

const TAG: &[(&str, Shape)] = &[("TagKey", Str), ("TagValue", Str)];
const CONSTRAINTS: &[(&str, Shape)] = &[
    ("EncryptionContextSubset", StrMap),
    ("EncryptionContextEquals", StrMap),
];
const REGIONAL_KEY: &[(&str, Shape)] = &[("Arn", Str), ("Region", Str)];
const MULTI_REGION_CONFIGURATION: &[(&str, Shape)] = &[
    ("MultiRegionKeyType", Str),
    ("PrimaryKey", Object(REGIONAL_KEY)),
    ("ReplicaKeys", ObjectList(REGIONAL_KEY)),
];
const KEY_METADATA: &[(&str, Shape)] = &[
    ("AWSAccountId", Str),
    ("KeyId", Str),
    ("Arn", Str),
    ("CreationDate", Timestamp),
    ("Enabled", Bool),
    ("Description", Str),
    ("KeyUsage", Str),
    ("KeyState", Str),
    ("DeletionDate", Timestamp),
    ("ValidTo", Timestamp),
    ("Origin", Str),
    ("CustomKeyStoreId", Str),
    ("CloudHsmClusterId", Str),
    ("ExpirationModel", Str),
    ("KeyManager", Str),
    ("CustomerMasterKeySpec", Str),
    ("KeySpec", Str),
    ("EncryptionAlgorithms", StrList),
    ("SigningAlgorithms", StrList),
    ("KeyAgreementAlgorithms", StrList),
    ("MacAlgorithms", StrList),
    ("MultiRegion", Bool),
    (
        "MultiRegionConfiguration",
        Object(MULTI_REGION_CONFIGURATION),
    ),
    ("PendingDeletionWindowInDays", Int),
    ("CurrentKeyMaterialId", Str),
    ("XksKeyConfiguration", Object(&[("Id", Str)])),
];

const REQUEST: &[(&str, Shape)] = &[
    ("KeyId", Str),
    ("EncryptionContext", StrMap),
    ("EncryptionAlgorithm", Str),
    ("SourceKeyId", Str),
    ("SourceEncryptionContext", StrMap),
    ("SourceEncryptionAlgorithm", Str),
    ("DestinationKeyId", Str),
    ("DestinationEncryptionContext", StrMap),
    ("DestinationEncryptionAlgorithm", Str),
    ("KeySpec", Str),
    ("KeyPairSpec", Str),
    ("CustomerMasterKeySpec", Str),
    ("NumberOfBytes", Int),
    ("KeyUsage", Str),
    ("Origin", Str),
    ("MultiRegion", Bool),
    ("Description", Str),
    ("AliasName", Str),
    ("TargetKeyId", Str),
    ("SigningAlgorithm", Str),
    ("MessageType", Str),
    ("MacAlgorithm", Str),
    ("KeyAgreementAlgorithm", Str),
    ("Tags", ObjectList(TAG)),
    ("TagKeys", StrList),
    ("GrantTokens", GrantTokens),
    ("GrantId", Str),
    ("GrantName", Str),
    ("GranteePrincipal", Str),
    ("RetiringPrincipal", Str),
    ("Operations", StrList),
    ("Constraints", Object(CONSTRAINTS)),
    ("Limit", Int),
    ("Marker", Str),
    ("PendingWindowInDays", Int),
    ("RotationPeriodInDays", Int),
    ("ReplicaRegion", Str),
    ("PrimaryRegion", Str),
    ("PolicyName", Str),
    ("Policy", Policy),
    ("BypassPolicyLockoutSafetyCheck", Bool),
    ("DryRun", Bool),
    ("WrappingAlgorithm", Str),
    ("WrappingKeySpec", Str),
    ("ValidTo", Timestamp),
    ("ExpirationModel", Str),
    ("CustomKeyStoreId", Str),
    ("KeyMaterialId", Str),
    ("IncludeKeyMaterial", Str),
    ("XksKeyId", Str),
    // Custom key stores; never KeyStorePassword or the credential's RawSecretAccessKey.
    ("CustomKeyStoreName", Str),
    ("NewCustomKeyStoreName", Str),
    ("CustomKeyStoreType", Str),
    ("CloudHsmClusterId", Str),
    ("XksProxyUriEndpoint", Str),
    ("XksProxyUriPath", Str),
    ("XksProxyConnectivity", Str),
    ("XksProxyVpcEndpointServiceName", Str),
    ("XksProxyVpcEndpointServiceOwner", Str),
    (
        "XksProxyAuthenticationCredential",
        Object(&[("AccessKeyId", Str)]),
    ),
];

const RESPONSE: &[(&str, Shape)] = &[
    ("KeyId", Str),
    ("KeyMetadata", Object(KEY_METADATA)),
    ("ReplicaKeyMetadata", Object(KEY_METADATA)),
    ("EncryptionAlgorithm", Str),
    ("SourceKeyId", Str),
    ("SourceEncryptionAlgorithm", Str),
    ("DestinationEncryptionAlgorithm", Str),
    ("SigningAlgorithm", Str),
    ("MacAlgorithm", Str),
    ("KeyAgreementAlgorithm", Str),
    ("KeySpec", Str),
    ("KeyPairSpec", Str),
    ("KeyUsage", Str),
    ("KeyOrigin", Str),
    ("KeyMaterialId", Str),
    ("SignatureValid", Bool),
    ("MacValid", Bool),
    ("GrantId", Str),
    ("Truncated", Bool),
    ("NextMarker", Str),
    ("KeyRotationEnabled", Bool),
    ("RotationPeriodInDays", Int),
    ("NextRotationDate", Timestamp),
    ("OnDemandRotationStartDate", Timestamp),
    ("DeletionDate", Timestamp),
    ("PendingWindowInDays", Int),
    ("PolicyName", Str),
    ("Policy", Policy),
    ("ReplicaPolicy", Policy),
    ("CustomKeyStoreId", Str),
];

/// Operations whose `Policy` member is a key policy worth logging.
const POLICY_OPERATIONS: &[&str] = &["CreateKey", "PutKeyPolicy", "ReplicateKey", "GetKeyPolicy"];

/// The non-secret members of a KMS request body (`operation` is the KMS operation name),
/// for `requestParameters`. Member names are kept as the request spells them (`KeyId`, not
/// CloudTrail's `keyId`). A body that is not an object gives `{}`.
pub fn redact_request(operation: &str, request: &Value) -> Value {
    Value::Object(filter_object(operation, request, REQUEST))
}

/// The non-secret members of a KMS response body, for `responseElements`: key metadata, ids,
/// algorithms and verdicts; never plaintexts, ciphertexts, key material, signatures, MACs,
/// public keys or grant tokens. A body that is not an object gives `{}`.
pub fn redact_response(operation: &str, response: &Value) -> Value {
    Value::Object(filter_object(operation, response, RESPONSE))
}

fn filter_object(operation: &str, value: &Value, allow: &[(&str, Shape)]) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(obj) = value.as_object() else {
        return out;
    };
    for (name, shape) in allow {
        let Some(v) = obj.get(*name) else { continue };
        match shape {
            GrantTokens => {
                if let Some(tokens) = v.as_array() {
                    out.insert("GrantTokenCount".into(), Value::from(tokens.len()));
                }
            }
            Policy => {
                if !POLICY_OPERATIONS.contains(&operation) {
                    continue;
                }
                if let Some(text) = v.as_str() {
                    if text.len() <= MAX_POLICY_BYTES {
                        out.insert((*name).into(), Value::from(text));
                    } else {
                        out.insert(format!("{name}Bytes"), Value::from(text.len()));
                    }
                }
            }
            other => {
                if let Some(kept) = filter_value(operation, v, *other) {
                    out.insert((*name).into(), kept);
                }
            }
        }
    }
    out
}

fn filter_value(operation: &str, v: &Value, shape: Shape) -> Option<Value> {
    match shape {
        Str => short_string(v),
        Bool => v.as_bool().map(Value::from),
        Int => v
            .as_i64()
            .map(Value::from)
            .or_else(|| v.as_u64().map(Value::from)),
        Timestamp => v.as_i64().map(Value::from).or_else(|| {
            let f = v.as_f64()?;
            // Saturating float → int conversion; only finite, plausible times are kept.
            (f.is_finite() && f.abs() < 1e15).then(|| Value::from(f.floor() as i64))
        }),
        StrMap => Some(Value::Object(
            v.as_object()?
                .iter()
                .filter(|(k, _)| k.len() <= MAX_STRING_BYTES)
                .filter_map(|(k, v)| Some((k.clone(), short_string(v)?)))
                .collect(),
        )),
        StrList => Some(Value::Array(
            v.as_array()?.iter().filter_map(short_string).collect(),
        )),
        Object(allow) => {
            v.as_object()?;
            Some(Value::Object(filter_object(operation, v, allow)))
        }
        ObjectList(allow) => Some(Value::Array(
            v.as_array()?
                .iter()
                .filter(|item| item.is_object())
                .map(|item| Value::Object(filter_object(operation, item, allow)))
                .collect(),
        )),
        // Handled by `filter_object`, which needs the member name.
        GrantTokens | Policy => None,
    }
}

fn short_string(v: &Value) -> Option<Value> {
    let s = v.as_str()?;
    (s.len() <= MAX_STRING_BYTES).then(|| Value::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_dropped_and_identifiers_kept() {
        let request = json!({
            "KeyId": "alias/app",
            "EncryptionContext": {"tenant": "a", "bad": 7},
            "Plaintext": "c2VjcmV0",
            "CiphertextBlob": "AQID",
            "Message": "bWVzc2FnZQ==",
            "Mac": "AAAA",
            "Signature": "BBBB",
            "PublicKey": "CCCC",
            "Recipient": {"AttestationDocument": "DDDD"},
            "GrantTokens": ["t1", "t2"],
            "SigningAlgorithm": "ECDSA_SHA_256",
            "NumberOfBytes": 32,
            "SomethingNew": "maybe secret",
        });
        let out = redact_request("Sign", &request);
        assert_eq!(
            out,
            json!({
                "KeyId": "alias/app",
                "EncryptionContext": {"tenant": "a"},
                "GrantTokenCount": 2,
                "SigningAlgorithm": "ECDSA_SHA_256",
                "NumberOfBytes": 32,
            })
        );
        let text = out.to_string();
        for secret in [
            "c2VjcmV0",
            "AQID",
            "bWVzc2FnZQ",
            "AAAA",
            "BBBB",
            "CCCC",
            "DDDD",
            "t1",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn wrong_shapes_are_dropped() {
        let request = json!({
            "KeyId": {"nested": "x"},
            "EncryptionContext": "not a map",
            "NumberOfBytes": 1.5,
            "Tags": [{"TagKey": "k", "TagValue": "v", "Extra": "x"}, "junk"],
            "Description": "d".repeat(MAX_STRING_BYTES + 1),
        });
        assert_eq!(
            redact_request("CreateKey", &request),
            json!({"Tags": [{"TagKey": "k", "TagValue": "v"}]})
        );
        assert_eq!(redact_request("Encrypt", &json!("x")), json!({}));
    }

    #[test]
    fn policies_only_where_they_belong_and_bounded() {
        let small = json!({"KeyId": "k", "Policy": "{\"Version\":\"2012-10-17\"}"});
        assert_eq!(redact_request("PutKeyPolicy", &small), small);
        assert_eq!(redact_request("Encrypt", &small), json!({"KeyId": "k"}));
        let big = json!({"Policy": "x".repeat(MAX_POLICY_BYTES + 1)});
        assert_eq!(
            redact_request("PutKeyPolicy", &big),
            json!({"PolicyBytes": MAX_POLICY_BYTES + 1})
        );
    }

    #[test]
    fn responses_keep_metadata_not_material() {
        let response = json!({
            "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k",
            "Plaintext": "c2VjcmV0",
            "CiphertextBlob": "AQID",
            "PrivateKeyPlaintext": "EEEE",
            "PublicKey": "CCCC",
            "GrantToken": "FFFF",
            "KeyMetadata": {"KeyId": "k", "CreationDate": 1700000000.75, "Enabled": true,
                            "MultiRegionConfiguration": {"MultiRegionKeyType": "PRIMARY",
                              "PrimaryKey": {"Arn": "a", "Region": "r", "X": 1}}},
        });
        assert_eq!(
            redact_response("CreateKey", &response),
            json!({
                "KeyId": "arn:aws:kms:us-east-1:111122223333:key/k",
                "KeyMetadata": {"KeyId": "k", "CreationDate": 1700000000, "Enabled": true,
                                "MultiRegionConfiguration": {"MultiRegionKeyType": "PRIMARY",
                                  "PrimaryKey": {"Arn": "a", "Region": "r"}}},
            })
        );
    }

    #[test]
    fn custom_key_store_secrets_stay_out() {
        let request = json!({
            "CustomKeyStoreName": "hsm",
            "CloudHsmClusterId": "cluster-1234567890ab",
            "KeyStorePassword": "hunter22",
            "XksProxyUriEndpoint": "https://xks.example.com",
            "XksProxyAuthenticationCredential": {
                "AccessKeyId": "ABCDEFGHIJKLMNOPQRST",
                "RawSecretAccessKey": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"
            },
        });
        let kept = redact_request("CreateCustomKeyStore", &request);
        let text = kept.to_string();
        assert!(
            !text.contains("hunter22") && !text.contains("RawSecretAccessKey"),
            "{text}"
        );
        assert_eq!(kept["CloudHsmClusterId"], "cluster-1234567890ab");
        assert_eq!(
            kept["XksProxyAuthenticationCredential"],
            json!({"AccessKeyId": "ABCDEFGHIJKLMNOPQRST"})
        );
    }
}
