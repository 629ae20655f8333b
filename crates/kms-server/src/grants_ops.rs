//! Grant operations: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant,
//! and the grant-token format.
//!
//! Grants are replicated like everything else: the proposer validates the request, authorizes
//! it, draws the grant id and reads the clock, and commits `Command::CreateGrant`; `apply`
//! decides idempotency (`Name`) and the per-key limit. How grants authorize other requests is
//! in `kms_authz` (on an implicit deny only, never against an explicit one), and so is the
//! grant-token format.
//!
//! These stay here, not in `kms-authz`: they are KMS operations that validate, resolve the key
//! and commit through Raft like any other, while `kms-authz` only decides and commits nothing.

use crate::call::{Call, Empty};
use crate::validate::{length_within, limit, required};
use kms_authz::grant_tokens::{decode_grant_token, grant_token, invalid_token, GrantTokenRef};
use kms_core::grants::{check_create_grant, operations_for, GRANT_OPERATIONS};
use kms_core::{Command, CommandOutput, ContextConstraints, GrantRecord, KeyRecord};
use kms_types::model::*;
use kms_types::*;

fn validation(detail: String) -> KmsError {
    KmsError::Validation(format!("1 validation error detected: {detail}"))
}

fn principal(value: &str, field: &str) -> Result<(), KmsError> {
    length_within(value.chars().count(), 1, 256, field)?;
    let allowed = |c: char| c.is_alphanumeric() || "_+=,.@:/-".contains(c);
    if !value.chars().all(allowed) {
        return Err(validation(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[\\w+=,.@:/-]+$"
        )));
    }
    Ok(())
}

fn grant_id(value: Option<String>) -> Result<String, KmsError> {
    let value = required(value, "grantId")?;
    length_within(value.chars().count(), 1, 128, "grantId")?;
    Ok(value)
}

fn dry_run(requested: Option<bool>) -> Result<(), KmsError> {
    if requested == Some(true) {
        return Err(KmsError::DryRunOperation(
            "The request would have succeeded, but the DryRun option is set.".into(),
        ));
    }
    Ok(())
}

fn grant_not_found(grant_id: &str) -> KmsError {
    KmsError::NotFound(format!("Grant ID {grant_id} not found"))
}

/// A `Marker` of the grant listings: the last grant id of the previous page.
fn marker(marker: Option<String>) -> Result<Option<String>, KmsError> {
    match marker {
        Some(m) if m.len() != 64 || !m.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err(KmsError::InvalidMarker("The marker is not valid.".into()))
        }
        other => Ok(other),
    }
}

fn list_entry(grant: &GrantRecord, key_arn: String) -> GrantListEntry {
    GrantListEntry {
        key_id: key_arn,
        grant_id: grant.grant_id.clone(),
        name: grant.name.clone(),
        creation_date: epoch_seconds(grant.creation_ms),
        grantee_principal: grant.grantee_principal.clone(),
        retiring_principal: grant.retiring_principal.clone(),
        issuing_account: grant.issuing_account.clone(),
        operations: grant.operations.clone(),
        constraints: grant.constraints.as_ref().map(|c| GrantConstraints {
            encryption_context_equals: c.encryption_context_equals.clone(),
            encryption_context_subset: c.encryption_context_subset.clone(),
        }),
    }
}

/// One page of grants (already in grant id order) after `after`.
fn page(grants: Vec<GrantListEntry>, after: Option<String>, limit: usize) -> ListGrantsResponse {
    let mut remaining = grants.into_iter().filter(|g| {
        after
            .as_ref()
            .is_none_or(|m| g.grant_id.as_str() > m.as_str())
    });
    let grants: Vec<GrantListEntry> = remaining.by_ref().take(limit).collect();
    let more = remaining.next().is_some();
    let next_marker = more
        .then(|| grants.last().map(|g| g.grant_id.clone()))
        .flatten();
    ListGrantsResponse {
        grants,
        truncated: next_marker.is_some(),
        next_marker,
    }
}

fn check_constraints(
    constraints: Option<GrantConstraints>,
    key: &KeyRecord,
) -> Result<Option<ContextConstraints>, KmsError> {
    let Some(c) = constraints else {
        return Ok(None);
    };
    if c.encryption_context_equals.is_none() && c.encryption_context_subset.is_none() {
        return Ok(None);
    }
    if key.key_spec != KeySpec::SymmetricDefault {
        return Err(KmsError::Validation(format!(
            "Grant constraints are supported only with symmetric encryption KMS keys; {} has key spec {}.",
            key.arn, key.key_spec
        )));
    }
    for (map, field) in [
        (
            &c.encryption_context_equals,
            "constraints.encryptionContextEquals",
        ),
        (
            &c.encryption_context_subset,
            "constraints.encryptionContextSubset",
        ),
    ] {
        let Some(map) = map else { continue };
        if map.len() > 8 {
            return Err(validation(format!(
                "Value at '{field}' failed to satisfy constraint: Member must have at most 8 pairs"
            )));
        }
        for value in map.values() {
            length_within(value.chars().count(), 0, 384, field)?;
        }
    }
    Ok(Some(ContextConstraints {
        encryption_context_equals: c.encryption_context_equals,
        encryption_context_subset: c.encryption_context_subset,
    }))
}

impl Call<'_> {
    pub(crate) async fn create_grant(
        &self,
        request: CreateGrantRequest,
    ) -> Result<CreateGrantResponse, KmsError> {
        let grantee = required(request.grantee_principal, "granteePrincipal")?;
        principal(&grantee, "granteePrincipal")?;
        if let Some(retiring) = &request.retiring_principal {
            principal(retiring, "retiringPrincipal")?;
        }
        let requested = required(request.operations, "operations")?;
        let unknown: Vec<&String> = requested
            .iter()
            .filter(|o| !GRANT_OPERATIONS.contains(&o.as_str()))
            .collect();
        if !unknown.is_empty() || requested.is_empty() {
            return Err(validation(format!(
                "Value '{requested:?}' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: {GRANT_OPERATIONS:?}]"
            )));
        }
        let mut operations: Vec<String> = Vec::with_capacity(requested.len());
        for operation in requested {
            if !operations.contains(&operation) {
                operations.push(operation);
            }
        }
        if let Some(name) = &request.name {
            length_within(name.chars().count(), 1, 256, "name")?;
            let allowed = |c: char| c.is_ascii_alphanumeric() || ":/_-".contains(c);
            if !name.chars().all(allowed) {
                return Err(validation(format!(
                    "Value '{name}' at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
                )));
            }
        }
        let key = self.resolve(request.key_id, false).await?;
        let valid = operations_for(key.key_spec, key.key_usage);
        let invalid: Vec<&String> = operations
            .iter()
            .filter(|o| !valid.contains(&o.as_str()))
            .collect();
        if !invalid.is_empty() {
            return Err(KmsError::Validation(format!(
                "Grant operations {invalid:?} are not valid for {} with key spec {} and key usage {}.",
                key.arn, key.key_spec, key.key_usage
            )));
        }
        let constraints = check_constraints(request.constraints, &key)?;
        check_create_grant(&key)?;
        dry_run(request.dry_run)?;
        let account = self.caller().principal.account.clone();
        let grant = GrantRecord {
            key_id: key.key_id.clone(),
            grant_id: hex::encode(kms_crypto::random_bytes(32)),
            name: request.name,
            creation_ms: self.now_ms(),
            grantee_principal: grantee,
            retiring_principal: request.retiring_principal,
            issuing_account: format!("arn:aws:iam::{account}:root"),
            operations,
            constraints,
        };
        let grant = match self.write(Command::CreateGrant { grant }).await? {
            CommandOutput::Grant(grant) => *grant,
            other => {
                return Err(KmsError::KmsInternal(format!(
                    "Unexpected state machine answer {other:?}"
                )))
            }
        };
        Ok(CreateGrantResponse {
            grant_token: grant_token(&grant),
            grant_id: grant.grant_id,
        })
    }

    pub(crate) async fn list_grants(
        &self,
        request: ListGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let limit = limit(request.limit, 50, 100)?;
        let after = marker(request.marker)?;
        if let Some(id) = &request.grant_id {
            length_within(id.chars().count(), 1, 128, "grantId")?;
        }
        if let Some(grantee) = &request.grantee_principal {
            principal(grantee, "granteePrincipal")?;
        }
        let key = self.resolve(request.key_id, false).await?;
        // `resolve` passed the read barrier; the state is at least that current.
        let grants = self.read_applied(|state| {
            state
                .grants_of(&key.key_id)
                .filter(|g| request.grant_id.as_ref().is_none_or(|id| &g.grant_id == id))
                .filter(|g| {
                    request
                        .grantee_principal
                        .as_ref()
                        .is_none_or(|p| &g.grantee_principal == p)
                })
                .map(|g| list_entry(g, key.arn.clone()))
                .collect()
        });
        Ok(page(grants, after, limit))
    }

    pub(crate) async fn list_retirable_grants(
        &self,
        request: ListRetirableGrantsRequest,
    ) -> Result<ListGrantsResponse, KmsError> {
        let limit = limit(request.limit, 50, 100)?;
        let after = marker(request.marker)?;
        let retiring = required(request.retiring_principal, "retiringPrincipal")?;
        principal(&retiring, "retiringPrincipal")?;
        let mut grants = self
            .read(|state| {
                state
                    .all_grants()
                    .filter(|g| g.retiring_principal.as_deref() == Some(retiring.as_str()))
                    .filter_map(|g| {
                        let arn = state.key(&g.key_id)?.arn.clone();
                        Some(list_entry(g, arn))
                    })
                    .collect::<Vec<_>>()
            })
            .await?;
        grants.sort_by(|a, b| a.grant_id.cmp(&b.grant_id));
        Ok(page(grants, after, limit))
    }

    pub(crate) async fn retire_grant(
        &self,
        request: RetireGrantRequest,
    ) -> Result<Empty, KmsError> {
        enum Target {
            Token(GrantTokenRef),
            Id(KeyReference, String),
        }
        let target = match request.grant_token {
            Some(token) => {
                length_within(token.len(), 1, 8192, "grantToken")?;
                Target::Token(decode_grant_token(&token)?)
            }
            None => {
                let (Some(key_id), Some(id)) = (request.key_id, request.grant_id) else {
                    return Err(KmsError::Validation(
                        "Either GrantToken, or both KeyId and GrantId, must be specified.".into(),
                    ));
                };
                let id = grant_id(Some(id))?;
                Target::Id(KeyReference::parse(&key_id)?, id)
            }
        };
        let (key, grant) = self
            .read(|state| -> Result<(KeyRecord, GrantRecord), KmsError> {
                let (key, grant) = match &target {
                    Target::Token(token) => {
                        let key = state
                            .key(&token.key_id)
                            .ok_or_else(|| grant_not_found(&token.grant_id))?;
                        let grant = state
                            .grant(&token.key_id, &token.grant_id)
                            .ok_or_else(|| grant_not_found(&token.grant_id))?;
                        if !token.matches(grant) {
                            return Err(invalid_token());
                        }
                        (key, grant)
                    }
                    Target::Id(reference, id) => {
                        let key =
                            state.resolve(reference, self.region(), self.account_id(), false)?;
                        let grant = state
                            .grant(&key.key_id, id)
                            .ok_or_else(|| grant_not_found(id))?;
                        (key, grant)
                    }
                };
                Ok((key.clone(), grant.clone()))
            })
            .await??;
        let caller = &self.caller().principal;
        let root = |account: &str| format!("arn:aws:iam::{account}:root");
        let allowed = grant.names_retiring(&caller.arn)
            || (grant.includes("RetireGrant") && grant.names_grantee(&caller.arn))
            || caller.arn == root(&key.account_id)
            || caller.arn == grant.issuing_account;
        if !allowed {
            return Err(KmsError::AccessDenied(format!(
                "User: {} is not authorized to perform: kms:RetireGrant on resource: {} because the grant does not name them as retiring principal or as grantee with RetireGrant",
                caller.arn, key.arn
            )));
        }
        dry_run(request.dry_run)?;
        self.write(Command::RetireGrant {
            key_id: grant.key_id,
            grant_id: grant.grant_id,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn revoke_grant(
        &self,
        request: RevokeGrantRequest,
    ) -> Result<Empty, KmsError> {
        let id = grant_id(request.grant_id)?;
        let key = self.resolve(request.key_id, false).await?;
        let exists = self.read_applied(|state| state.grant(&key.key_id, &id).is_some());
        if !exists {
            return Err(grant_not_found(&id));
        }
        dry_run(request.dry_run)?;
        self.write(Command::RevokeGrant {
            key_id: key.key_id,
            grant_id: id,
        })
        .await?;
        Ok(Empty {})
    }
}
