//! Authorization of every KMS call with IAM's logic (`kms-policy`): the caller's principal, the
//! action (`kms:<Operation>`), the key's policy and the caller's identity policies, and the
//! condition keys the request and the key supply.
//!
//! The KMS service builds the [`Caller`] of each request and passes it down; every operation
//! that targets a key authorizes it with [`Authorizer::authorize_key`] against the state its
//! linearizable read made current (the service's `resolve`), so a policy change is in force for
//! every request that starts after it was acknowledged. Operations without a key (CreateKey,
//! ListKeys, ...) are authorized against the caller's identity policies alone
//! ([`Authorizer::authorize_account`]).
//!
//! Grants are a third way in (see [`crate::grant_tokens`] for the token format):
//! when the policies leave a request implicitly denied (never when a policy denies it
//! explicitly), a grant on the key allows it if it names the caller as grantee, includes the
//! operation and its encryption-context constraints hold for the request. Grant tokens in the
//! request (`GrantTokens`, kept under the private context key `trent:granttokens`) are
//! validated here; a token never authorizes by its own content, only the grant it names does,
//! and that grant is always visible by the time a token can be used because every
//! authorization follows the request's linearizable read.

use crate::caller::Caller;
use crate::condition_keys::{
    DESTINATION_CONTEXT, GRANT_TOKENS, NEW_EQUALS, NEW_SUBSET, SOURCE_CONTEXT,
};
use crate::grant_tokens::{decode_grant_token, invalid_token, GrantTokenRef};
use kms_core::grants::GrantRequest;
use kms_core::{ContextConstraints, KeyRecord, State};
use kms_policy::{Decision, Policy, Request};
use kms_types::KmsError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Parsed key policies by text, so a policy is parsed once, not per request.
#[derive(Default)]
struct PolicyCache {
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

/// Decides requests of one region.
#[derive(Default)]
pub struct Authorizer {
    region: String,
    policies: PolicyCache,
}

impl Authorizer {
    /// The authorizer of `region`.
    pub fn new(region: &str) -> Authorizer {
        Authorizer {
            region: region.to_string(),
            policies: PolicyCache::default(),
        }
    }

    /// Authorizes `caller`'s action (or `action`) on `key`, with the grants of `state` (the
    /// state the caller's read barrier made current).
    pub fn authorize_key(
        &self,
        caller: &Caller,
        key: &KeyRecord,
        action: Option<&str>,
        state: &State,
    ) -> Result<(), KmsError> {
        let action = action.unwrap_or(&caller.action);
        if caller.principal.account != key.account_id && !usable_across_accounts(action) {
            return Err(KmsError::AccessDenied(format!(
                "User: {} is not authorized to perform: {action} on resource: {} because {action} cannot be used on a key of another account",
                caller.principal.arn, key.arn
            )));
        }
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
            let by_grant = grant_allows(caller, action, key, &tokens, state)?;
            if by_grant && matches!(decision, Decision::ImplicitDeny) {
                return Ok(());
            }
        }
        denied(decision, &caller.principal.arn, action, &key.arn)
    }

    /// Authorizes `caller`'s action where no key is involved: identity policies only (the
    /// account's root user is always allowed).
    pub fn authorize_account(&self, caller: &Caller) -> Result<(), KmsError> {
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
    pub fn check_lockout(
        &self,
        caller: &Caller,
        policy: &str,
        bypass: bool,
    ) -> Result<(), KmsError> {
        let parsed = Policy::parse_key_policy(policy)
            .map_err(|e| KmsError::MalformedPolicyDocument(e.to_string()))?;
        if bypass {
            return Ok(());
        }
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

/// The actions a principal of another account may be allowed on a key (AWS's "Cross-account
/// use: Yes" operations). Others (managing the key, its aliases, tags or policy, listing) never
/// cross accounts, whatever the policies say.
const CROSS_ACCOUNT_ACTIONS: &[&str] = &[
    "kms:CreateGrant",
    "kms:Decrypt",
    "kms:DeriveSharedSecret",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateMac",
    "kms:GetKeyRotationStatus",
    "kms:GetPublicKey",
    "kms:ListGrants",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:RetireGrant",
    "kms:RevokeGrant",
    "kms:Sign",
    "kms:Verify",
    "kms:VerifyMac",
];

/// Whether `action` may be used on a key of another account (with both policies allowing).
pub fn usable_across_accounts(action: &str) -> bool {
    CROSS_ACCOUNT_ACTIONS.contains(&action)
}

/// Whether a grant on `key` allows the caller's `action`; also rejects a token whose grant
/// is present but does not match it. Reads the state the caller's read barrier made
/// current.
fn grant_allows(
    caller: &Caller,
    action: &str,
    key: &KeyRecord,
    tokens: &[GrantTokenRef],
    state: &State,
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
    for token in tokens {
        if let Some(grant) = state.grant(&token.key_id, &token.grant_id) {
            if !token.matches(grant) {
                return Err(invalid_token());
            }
        }
    }
    Ok(state
        .grants_of(&key.key_id)
        .any(|grant| grant.allows(&request)))
}

/// The request's grant tokens, decoded: at most 10, each 1–8192 characters
/// (ValidationException), each a token Trent issued (InvalidGrantTokenException).
fn grant_tokens(context: &[(String, Vec<String>)]) -> Result<Vec<GrantTokenRef>, KmsError> {
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
            decode_grant_token(token)
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
