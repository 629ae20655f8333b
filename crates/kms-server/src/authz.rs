//! Authorization of every KMS call with IAM's logic (`kms-policy`): the caller's principal, the
//! action (`kms:<Operation>`), the key's policy and the caller's identity policies, and the
//! condition keys the request and the key supply.
//!
//! [`Kms::call`] establishes the [`Caller`] for the request (a task-local); every operation that
//! targets a key resolves it through [`Kms::resolve`], which authorizes against that key after
//! the linearizable read, so a policy change is in force for every request that starts after it
//! was acknowledged. Operations without a key (CreateKey, ListKeys, ...) are authorized against
//! the caller's identity policies alone ([`Kms::authorize_account`]).
//!
//! Grants are a third way in (see `grants_ops` for the operations and the grant-token format):
//! when the policies leave a request implicitly denied (never when a policy denies it
//! explicitly), a grant on the key allows it if it names the caller as grantee, includes the
//! operation and its encryption-context constraints hold for the request. Grant tokens in the
//! request (`GrantTokens`, kept under the private context key `trent:granttokens`) are
//! validated here; a token never authorizes by its own content, only the grant it names does,
//! and that grant is always visible by the time a token can be used because every
//! authorization follows the request's linearizable read.

use crate::identities::PrincipalInfo;
use crate::service::Kms;
use kms_core::grants::GrantRequest;
use kms_core::{ContextConstraints, KeyRecord};
use kms_policy::{Decision, Policy, Request};
use kms_types::{KmsError, Operation};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static CALLER: Caller;
}

/// Who is calling, for what, with which request condition keys.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal.
    pub principal: Arc<PrincipalInfo>,
    /// `kms:<Operation>`.
    pub action: String,
    /// Condition keys from the request (lowercase names).
    pub context: Vec<(String, Vec<String>)>,
}

/// The current request's principal, if the task runs for a caller.
pub(crate) fn current_principal() -> Option<Arc<PrincipalInfo>> {
    CALLER.try_with(|caller| caller.principal.clone()).ok()
}

/// Private context key: the request's grant tokens (not an IAM condition key).
const GRANT_TOKENS: &str = "trent:granttokens";
/// Private context key prefixes: ReEncrypt's source and destination encryption contexts.
const SOURCE_CONTEXT: &str = "trent:sourceencryptioncontext:";
const DESTINATION_CONTEXT: &str = "trent:destinationencryptioncontext:";
/// Private context key prefixes: CreateGrant's requested constraints.
const NEW_EQUALS: &str = "trent:newgrant:equals:";
const NEW_SUBSET: &str = "trent:newgrant:subset:";

/// Runs `f` with `caller` as the task's caller.
pub async fn with_caller<F: std::future::Future>(caller: Caller, f: F) -> F::Output {
    CALLER.scope(caller, f).await
}

/// Parsed key policies by text, so a policy is parsed once, not per request.
#[derive(Default)]
pub struct PolicyCache {
    parsed: Mutex<HashMap<String, Arc<Policy>>>,
}

impl PolicyCache {
    fn get(&self, text: &str) -> Result<Arc<Policy>, KmsError> {
        if let Some(policy) = self.parsed.lock().ok().and_then(|m| m.get(text).cloned()) {
            return Ok(policy);
        }
        let policy = Arc::new(Policy::parse_key_policy(text).map_err(|e| {
            KmsError::KmsInternal(format!("The stored key policy does not parse: {e}"))
        })?);
        if let Ok(mut map) = self.parsed.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(text.to_string(), policy.clone());
        }
        Ok(policy)
    }
}

/// The operations that act on no key: only identity policies decide.
pub fn is_account_level(operation: Operation) -> bool {
    use Operation as Op;
    matches!(
        operation,
        Op::CreateKey
            | Op::ListKeys
            | Op::ListAliases
            | Op::GenerateRandom
            | Op::DeleteAlias
            | Op::ListRetirableGrants
    )
}

/// The condition keys a request body supplies.
pub fn request_context(
    body: &Value,
    source_ip: Option<std::net::IpAddr>,
    secure_transport: bool,
    now: time::OffsetDateTime,
) -> Vec<(String, Vec<String>)> {
    let mut context: Vec<(String, Vec<String>)> = Vec::new();
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

impl Kms {
    /// Authorizes the current caller's action (or `action`) on `key`.
    pub(crate) fn authorize_key(
        &self,
        key: &KeyRecord,
        action: Option<&str>,
    ) -> Result<(), KmsError> {
        let Ok(caller) = CALLER.try_with(Clone::clone) else {
            // Internal work (leader tasks, the region link) acts for no caller.
            return Ok(());
        };
        let action = action.unwrap_or(&caller.action);
        let key_policy = self.policies.get(&key.policy)?;
        let mut request = Request::new(&caller.principal.arn, action, &key.arn);
        for (name, values) in &caller.context {
            request = request.with_context(name, values.iter().cloned());
        }
        request = request
            .with_context("kms:KeySpec", [key.key_spec.as_str()])
            .with_context("kms:KeyUsage", [key.key_usage.as_str()])
            .with_context("kms:KeyOrigin", [key.origin.as_str()])
            .with_context("kms:MultiRegion", [key.multi_region.to_string()]);
        if let Some(config) = key.multi_region_configuration() {
            request = request.with_context(
                "kms:MultiRegionKeyType",
                [config.multi_region_key_type.as_str()],
            );
        }
        for (tag, value) in &key.tags {
            request = request.with_context(&format!("aws:ResourceTag/{tag}"), [value.clone()]);
        }
        let decision = kms_policy::evaluate(&request, &key_policy, &caller.principal.policies);
        let tokens = grant_tokens(&caller.context)?;
        if !tokens.is_empty() || matches!(decision, Decision::ImplicitDeny) {
            let by_grant = self.grant_allows(&caller, action, key, &tokens)?;
            if by_grant && matches!(decision, Decision::ImplicitDeny) {
                return Ok(());
            }
        }
        denied(decision, &caller.principal.arn, action, &key.arn)
    }

    /// Whether a grant on `key` allows the caller's `action`; also rejects a token whose grant
    /// is present but does not match it. Reads the state the caller's read barrier made
    /// current.
    fn grant_allows(
        &self,
        caller: &Caller,
        action: &str,
        key: &KeyRecord,
        tokens: &[crate::grants_ops::GrantTokenRef],
    ) -> Result<bool, KmsError> {
        let operation = action.strip_prefix("kms:").unwrap_or(action);
        let prefix = match operation {
            "ReEncryptFrom" => SOURCE_CONTEXT,
            "ReEncryptTo" => DESTINATION_CONTEXT,
            _ => "kms:encryptioncontext:",
        };
        let pairs = |prefix: &str| -> BTreeMap<String, String> {
            caller
                .context
                .iter()
                .filter_map(|(k, v)| {
                    let k = k.strip_prefix(prefix)?;
                    Some((k.to_string(), v.first().cloned().unwrap_or_default()))
                })
                .collect()
        };
        let values = |name: &str| -> Vec<String> {
            caller
                .context
                .iter()
                .filter(|(k, _)| k == name)
                .flat_map(|(_, v)| v.iter().cloned())
                .collect()
        };
        let encryption_context = pairs(prefix);
        let new_operations = values("kms:grantoperations");
        let types = values("kms:grantconstrainttype");
        let new_constraints = (!types.is_empty()).then(|| ContextConstraints {
            encryption_context_equals: types
                .iter()
                .any(|t| t == "EncryptionContextEquals")
                .then(|| pairs(NEW_EQUALS)),
            encryption_context_subset: types
                .iter()
                .any(|t| t == "EncryptionContextSubset")
                .then(|| pairs(NEW_SUBSET)),
        });
        let request = GrantRequest {
            principal: &caller.principal.arn,
            operation,
            encryption_context: &encryption_context,
            new_operations: &new_operations,
            new_constraints: new_constraints.as_ref(),
        };
        self.raft.reader().read(|state| {
            for token in tokens {
                if let Some(grant) = state.grant(&token.key_id, &token.grant_id) {
                    if !token.matches(grant) {
                        return Err(crate::grants_ops::invalid_token());
                    }
                }
            }
            Ok(state
                .grants_of(&key.key_id)
                .any(|grant| grant.allows(&request)))
        })
    }

    /// Authorizes the current caller's action where no key is involved: identity policies only
    /// (the account's root user is always allowed).
    pub(crate) fn authorize_account(&self) -> Result<(), KmsError> {
        let Ok(caller) = CALLER.try_with(Clone::clone) else {
            return Ok(());
        };
        // A key policy that delegates to the account: what decides is the identity policy.
        let delegation = self
            .policies
            .get(&kms_policy::default_key_policy(&caller.principal.account))?;
        let resource = format!(
            "arn:aws:kms:{}:{}:key/*",
            self.region, caller.principal.account
        );
        let mut request = Request::new(&caller.principal.arn, &caller.action, &resource);
        for (name, values) in &caller.context {
            request = request.with_context(name, values.iter().cloned());
        }
        let decision = kms_policy::evaluate(&request, &delegation, &caller.principal.policies);
        denied(decision, &caller.principal.arn, &caller.action, "*")
    }

    /// The lockout safety check for a new key policy (CreateKey, PutKeyPolicy, ReplicateKey):
    /// unless bypassed, the caller must be able to change the policy again.
    pub(crate) fn check_lockout(&self, policy: &str, bypass: bool) -> Result<(), KmsError> {
        let parsed = Policy::parse_key_policy(policy)
            .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
        if bypass {
            return Ok(());
        }
        let Ok(caller) = CALLER.try_with(Clone::clone) else {
            return Ok(());
        };
        if !kms_policy::allows_future_put_key_policy(
            &parsed,
            &caller.principal.arn,
            &caller.principal.account,
        ) {
            return Err(KmsError::MalformedPolicyDocument(
                "The new key policy will not allow you to update the key policy in the future."
                    .into(),
            ));
        }
        Ok(())
    }
}

/// The request's grant tokens, decoded: at most 10, each 1–8192 characters
/// (ValidationException), each a token Trent issued (InvalidGrantTokenException).
fn grant_tokens(
    context: &[(String, Vec<String>)],
) -> Result<Vec<crate::grants_ops::GrantTokenRef>, KmsError> {
    let Some((_, tokens)) = context.iter().find(|(k, _)| k == GRANT_TOKENS) else {
        return Ok(Vec::new());
    };
    if tokens.len() > 10 {
        return Err(KmsError::Validation(
            "1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to 10".into(),
        ));
    }
    tokens
        .iter()
        .map(|token| {
            if token.is_empty() || token.len() > 8192 {
                return Err(KmsError::Validation(
                    "1 validation error detected: Value at 'grantTokens.member' failed to satisfy constraint: Member must have length between 1 and 8192".into(),
                ));
            }
            crate::grants_ops::decode_grant_token(token)
        })
        .collect()
}

fn denied(
    decision: Decision,
    principal: &str,
    action: &str,
    resource: &str,
) -> Result<(), KmsError> {
    let why = match decision {
        Decision::Allow => return Ok(()),
        Decision::ExplicitDeny { .. } => "with an explicit deny in a resource-based policy",
        Decision::ImplicitDeny => "because no resource-based policy allows the action",
    };
    let why = why.replace("the action", &format!("the {action} action"));
    Err(KmsError::AccessDenied(format!(
        "User: {principal} is not authorized to perform: {action} on resource: {resource} {why}"
    )))
}

/// The action name IAM uses for an operation.
pub fn action_for(operation: Operation) -> String {
    match operation {
        Operation::ReEncrypt => "kms:ReEncryptFrom".to_string(),
        other => format!("kms:{}", other.name()),
    }
}
