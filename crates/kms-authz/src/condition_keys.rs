//! The condition keys a request supplies to policy evaluation (`kms:EncryptionContext:*`,
//! `kms:GrantOperations`, `aws:SourceIp`, `aws:CurrentTime`, ...), and the private keys
//! (prefix `trent:`) that carry what grant evaluation needs from the request. IAM condition key
//! names are compared in lowercase. They are read from the typed request's members, the one
//! parse of the body.

use kms_types::{KmsRequest, Member};

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

/// The condition keys a request supplies, read from its typed members.
pub fn request_context(
    request: &KmsRequest,
    source_ip: Option<std::net::IpAddr>,
    secure_transport: bool,
    now_ms: i64,
) -> ConditionKeys {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let mut context: ConditionKeys = Vec::new();
    let mut put = |key: &str, values: Vec<String>| context.push((key.to_lowercase(), values));
    let mut context_keys = Vec::new();
    let mut tag_keys = Vec::new();
    // CreateGrant is the only request with `Operations`; its principals count only there.
    let is_create_grant = matches!(request, KmsRequest::CreateGrant(_));
    request.visit_members(&mut |name, member| match (name, member) {
        (
            "encryption_context" | "source_encryption_context" | "destination_encryption_context",
            Member::Map(map),
        ) => {
            let private = match name {
                "source_encryption_context" => Some(SOURCE_CONTEXT),
                "destination_encryption_context" => Some(DESTINATION_CONTEXT),
                _ => None,
            };
            for (k, v) in map {
                put(&format!("kms:EncryptionContext:{k}"), vec![v.clone()]);
                if let Some(prefix) = private {
                    put(&format!("{prefix}{k}"), vec![v.clone()]);
                }
                context_keys.push(k.clone());
            }
        }
        ("grant_tokens", Member::List(tokens)) => put(GRANT_TOKENS, tokens.to_vec()),
        ("operations", Member::List(operations)) => {
            put("kms:GrantOperations", operations.to_vec());
            put("kms:GrantIsForAWSResource", vec!["false".into()]);
        }
        ("grantee_principal", Member::Text(v)) if is_create_grant => {
            put("kms:GranteePrincipal", vec![v.to_string()]);
        }
        ("retiring_principal", Member::Text(v)) if is_create_grant => {
            put("kms:RetiringPrincipal", vec![v.to_string()]);
        }
        ("constraints", Member::Constraints(constraints)) => {
            let mut types = Vec::new();
            for (field, prefix, map) in [
                (
                    "EncryptionContextEquals",
                    NEW_EQUALS,
                    &constraints.encryption_context_equals,
                ),
                (
                    "EncryptionContextSubset",
                    NEW_SUBSET,
                    &constraints.encryption_context_subset,
                ),
            ] {
                if let Some(map) = map {
                    types.push(field.to_string());
                    for (k, v) in map {
                        put(&format!("{prefix}{k}"), vec![v.clone()]);
                    }
                }
            }
            if !types.is_empty() {
                put("kms:GrantConstraintType", types);
            }
        }
        ("multi_region", Member::Bool(multi)) => {
            put("kms:MultiRegion", vec![multi.to_string()]);
            if multi {
                put("kms:MultiRegionKeyType", vec!["PRIMARY".into()]);
            }
        }
        ("bypass_policy_lockout_safety_check", Member::Bool(bypass)) => {
            put(
                "kms:BypassPolicyLockoutSafetyCheck",
                vec![bypass.to_string()],
            );
        }
        ("key_id", Member::Text(key_id)) => {
            let alias = if key_id.starts_with("alias/") {
                Some(key_id.to_string())
            } else {
                key_id
                    .split_once(":alias/")
                    .map(|(_, a)| format!("alias/{a}"))
            };
            if let Some(alias) = alias {
                put("kms:RequestAlias", vec![alias]);
            }
        }
        ("tags", Member::Tags(tags)) => {
            for tag in tags {
                put(
                    &format!("aws:RequestTag/{}", tag.tag_key),
                    vec![tag.tag_value.clone()],
                );
                tag_keys.push(tag.tag_key.clone());
            }
        }
        ("tag_keys", Member::List(keys)) => tag_keys.extend(keys.iter().cloned()),
        (name, Member::Text(v)) => {
            if let Some(key) = text_condition_key(name) {
                put(key, vec![v.to_string()]);
            }
        }
        _ => {}
    });
    if !context_keys.is_empty() {
        put("kms:EncryptionContextKeys", context_keys);
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

/// The condition key a string member supplies as it is.
fn text_condition_key(member: &str) -> Option<&'static str> {
    Some(match member {
        "encryption_algorithm" | "destination_encryption_algorithm" => "kms:EncryptionAlgorithm",
        "signing_algorithm" => "kms:SigningAlgorithm",
        "message_type" => "kms:MessageType",
        "mac_algorithm" => "kms:MacAlgorithm",
        "key_agreement_algorithm" => "kms:KeyAgreementAlgorithm",
        "key_spec" | "customer_master_key_spec" => "kms:KeySpec",
        "key_usage" => "kms:KeyUsage",
        "origin" => "kms:KeyOrigin",
        "replica_region" => "kms:ReplicaRegion",
        "primary_region" => "kms:PrimaryRegion",
        "data_key_pair_spec" => "kms:DataKeyPairSpec",
        _ => return None,
    })
}
