//! The condition keys a request supplies to policy evaluation (`kms:EncryptionContext:*`,
//! `kms:GrantOperations`, `aws:SourceIp`, `aws:CurrentTime`, ...), and the private keys
//! (prefix `trent:`) that carry what grant evaluation needs from the request. IAM condition key
//! names are compared in lowercase.

use serde_json::Value;

/// Condition keys and their values (lowercase names).
pub type ConditionKeys = Vec<(String, Vec<String>)>;

/// Private context key: the request's grant tokens (not an IAM condition key).
pub(crate) const GRANT_TOKENS: &str = "trent:granttokens";
/// Private context key prefixes: ReEncrypt's source and destination encryption contexts.
pub(crate) const SOURCE_CONTEXT: &str = "trent:sourceencryptioncontext:";
pub(crate) const DESTINATION_CONTEXT: &str = "trent:destinationencryptioncontext:";
/// Private context key prefixes: CreateGrant's requested constraints.
pub(crate) const NEW_EQUALS: &str = "trent:newgrant:equals:";
pub(crate) const NEW_SUBSET: &str = "trent:newgrant:subset:";

/// The condition keys a request body supplies.
pub fn request_context(
    body: &Value,
    source_ip: Option<std::net::IpAddr>,
    secure_transport: bool,
    now_ms: i64,
) -> ConditionKeys {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut context: ConditionKeys = Vec::new();
    let mut put = |key: &str, values: Vec<String>| context.push((key.to_lowercase(), values));
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let mut context_keys = Vec::new();
    for field in [
        "EncryptionContext",
        "SourceEncryptionContext",
        "DestinationEncryptionContext",
    ] {
        if let Some(map) = body.get(field).and_then(Value::as_object) {
            for (k, v) in map {
                if let Some(v) = v.as_str() {
                    put(&format!("kms:EncryptionContext:{k}"), vec![v.to_string()]);
                    context_keys.push(k.clone());
                }
            }
        }
    }
    if !context_keys.is_empty() {
        put("kms:EncryptionContextKeys", context_keys);
    }
    for (field, prefix) in [
        ("SourceEncryptionContext", SOURCE_CONTEXT),
        ("DestinationEncryptionContext", DESTINATION_CONTEXT),
    ] {
        if let Some(map) = body.get(field).and_then(Value::as_object) {
            for (k, v) in map {
                if let Some(v) = v.as_str() {
                    put(&format!("{prefix}{k}"), vec![v.to_string()]);
                }
            }
        }
    }
    if let Some(tokens) = body.get("GrantTokens").and_then(Value::as_array) {
        let tokens: Vec<String> = tokens
            .iter()
            .map(|t| t.as_str().unwrap_or("").to_string())
            .collect();
        put(GRANT_TOKENS, tokens);
    }
    // CreateGrant (the only request with `Operations`).
    if let Some(operations) = body.get("Operations").and_then(Value::as_array) {
        let operations = operations
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        put("kms:GrantOperations", operations);
        put("kms:GrantIsForAWSResource", vec!["false".into()]);
        for (field, key) in [
            ("GranteePrincipal", "kms:GranteePrincipal"),
            ("RetiringPrincipal", "kms:RetiringPrincipal"),
        ] {
            if let Some(v) = text(field) {
                put(key, vec![v]);
            }
        }
        let mut types = Vec::new();
        if let Some(constraints) = body.get("Constraints").and_then(Value::as_object) {
            for (field, prefix) in [
                ("EncryptionContextEquals", NEW_EQUALS),
                ("EncryptionContextSubset", NEW_SUBSET),
            ] {
                if let Some(map) = constraints.get(field).and_then(Value::as_object) {
                    types.push(field.to_string());
                    for (k, v) in map {
                        if let Some(v) = v.as_str() {
                            put(&format!("{prefix}{k}"), vec![v.to_string()]);
                        }
                    }
                }
            }
        }
        if !types.is_empty() {
            put("kms:GrantConstraintType", types);
        }
    }
    for (field, key) in [
        ("EncryptionAlgorithm", "kms:EncryptionAlgorithm"),
        ("DestinationEncryptionAlgorithm", "kms:EncryptionAlgorithm"),
        ("SigningAlgorithm", "kms:SigningAlgorithm"),
        ("MessageType", "kms:MessageType"),
        ("MacAlgorithm", "kms:MacAlgorithm"),
        ("KeyAgreementAlgorithm", "kms:KeyAgreementAlgorithm"),
        ("KeySpec", "kms:KeySpec"),
        ("CustomerMasterKeySpec", "kms:KeySpec"),
        ("KeyUsage", "kms:KeyUsage"),
        ("Origin", "kms:KeyOrigin"),
        ("ReplicaRegion", "kms:ReplicaRegion"),
        ("PrimaryRegion", "kms:PrimaryRegion"),
        ("DataKeyPairSpec", "kms:DataKeyPairSpec"),
    ] {
        if let Some(v) = text(field) {
            put(key, vec![v]);
        }
    }
    if let Some(multi) = body.get("MultiRegion").and_then(Value::as_bool) {
        put("kms:MultiRegion", vec![multi.to_string()]);
        if multi {
            put("kms:MultiRegionKeyType", vec!["PRIMARY".into()]);
        }
    }
    if let Some(bypass) = body
        .get("BypassPolicyLockoutSafetyCheck")
        .and_then(Value::as_bool)
    {
        put(
            "kms:BypassPolicyLockoutSafetyCheck",
            vec![bypass.to_string()],
        );
    }
    if let Some(key_id) = text("KeyId") {
        if let Some(alias) = key_id
            .strip_prefix("alias/")
            .map(|_| key_id.clone())
            .or_else(|| {
                key_id
                    .split_once(":alias/")
                    .map(|(_, a)| format!("alias/{a}"))
            })
        {
            put("kms:RequestAlias", vec![alias]);
        }
    }
    let mut tag_keys = Vec::new();
    if let Some(tags) = body.get("Tags").and_then(Value::as_array) {
        for tag in tags {
            if let (Some(k), Some(v)) = (
                tag.get("TagKey").and_then(Value::as_str),
                tag.get("TagValue").and_then(Value::as_str),
            ) {
                put(&format!("aws:RequestTag/{k}"), vec![v.to_string()]);
                tag_keys.push(k.to_string());
            }
        }
    }
    if let Some(keys) = body.get("TagKeys").and_then(Value::as_array) {
        tag_keys.extend(keys.iter().filter_map(Value::as_str).map(str::to_string));
    }
    if !tag_keys.is_empty() {
        put("aws:TagKeys", tag_keys);
    }
    if let Some(ip) = source_ip {
        put("aws:SourceIp", vec![ip.to_string()]);
    }
    if let Ok(current) = now.format(&time::format_description::well_known::Rfc3339) {
        put("aws:CurrentTime", vec![current]);
    }
    put("aws:EpochTime", vec![now.unix_timestamp().to_string()]);
    put("aws:SecureTransport", vec![secure_transport.to_string()]);
    context
}
