//! Grant operations: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant,
//! and the grant-token format.
//!
//! Grants are replicated like everything else: the proposer validates the request, authorizes
//! it, draws the grant id and reads the clock, and commits `Command::CreateGrant`; `apply`
//! decides idempotency (`Name`) and the per-key limit. How grants authorize other requests is
//! in `authz` (on an implicit deny only, never against an explicit one).
//!
//! # Grant tokens
//!
//! A token is `base64url(version 1 ‖ len(key id) ‖ key id ‖ grant id (32 bytes) ‖ digest)`,
//! where the digest is the first 16 bytes of SHA-256 over a canonical encoding of every grant
//! parameter (key, id, name, creation time, grantee, retiring principal, issuing account,
//! operations, constraints). A token does **not** authorize by its own content: it only names
//! a grant, and the grant as stored in the replicated state decides. This needs no secret (a
//! forged token names at most a grant the caller could use anyway, and a token whose digest
//! does not match the stored grant is refused with InvalidGrantTokenException), and it cannot
//! make a token outlive its grant: once the grant is retired or revoked, its token allows
//! nothing.
//!
//! AWS needs tokens because its grants are eventually consistent. Trent's are not within a
//! region: CreateGrant answers only after its command is committed and applied, and every
//! request is authorized after a linearizable read (read index: the node waits until it has
//! applied the leader's commit index), so a request carrying a token that a client received
//! from CreateGrant, sent to any node of the region, always sees the grant. That read barrier
//! is the "wait until the grant is visible"; a token whose grant is absent after it names a
//! grant that was retired, revoked or never created, and is ignored. (An HMAC-authenticated
//! token that authorizes before its grant is visible would need a region-wide secret, which
//! `kms-crypto` does not derive, and buys nothing given the read barrier.)

use crate::authz::current_principal;
use crate::service::{Empty, Kms};
use crate::validate::{length_within, limit, required};
use base64::Engine;
use kms_core::grants::{check_create_grant, operations_for, GRANT_OPERATIONS};
use kms_core::{Command, CommandOutput, ContextConstraints, GrantRecord, KeyRecord};
use kms_types::model::*;
use kms_types::*;

const TOKEN_VERSION: u8 = 1;
const TOKEN_DIGEST_LEN: usize = 16;

/// What a grant token names.
#[derive(Debug, Clone)]
pub(crate) struct GrantTokenRef {
    /// The grant's key id.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    digest: [u8; TOKEN_DIGEST_LEN],
}

impl GrantTokenRef {
    /// Whether this token was issued for `grant` as it is stored.
    pub(crate) fn matches(&self, grant: &GrantRecord) -> bool {
        grant.key_id == self.key_id
            && grant.grant_id == self.grant_id
            && kms_crypto::constant_time_eq(&token_digest(grant), &self.digest)
    }
}

fn token_digest(grant: &GrantRecord) -> [u8; TOKEN_DIGEST_LEN] {
    let mut canonical = b"trent grant token v1".to_vec();
    let mut field = |bytes: &[u8]| {
        canonical.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        canonical.extend_from_slice(bytes);
    };
    field(grant.key_id.as_bytes());
    field(grant.grant_id.as_bytes());
    field(grant.name.as_deref().unwrap_or("").as_bytes());
    field(&[u8::from(grant.name.is_some())]);
    field(&grant.creation_ms.to_be_bytes());
    field(grant.grantee_principal.as_bytes());
    field(grant.retiring_principal.as_deref().unwrap_or("").as_bytes());
    field(&[u8::from(grant.retiring_principal.is_some())]);
    field(grant.issuing_account.as_bytes());
    field(&(grant.operations.len() as u64).to_be_bytes());
    for operation in &grant.operations {
        field(operation.as_bytes());
    }
    let constraints = grant.constraints.clone().unwrap_or_default();
    for map in [
        constraints.encryption_context_equals,
        constraints.encryption_context_subset,
    ] {
        field(&[u8::from(map.is_some())]);
        let map = map.unwrap_or_default();
        field(&(map.len() as u64).to_be_bytes());
        for (k, v) in &map {
            field(k.as_bytes());
            field(v.as_bytes());
        }
    }
    let digest = kms_crypto::sha256(&canonical);
    let mut out = [0u8; TOKEN_DIGEST_LEN];
    out.copy_from_slice(&digest[..TOKEN_DIGEST_LEN]);
    out
}

/// The grant token CreateGrant returns for `grant`.
pub(crate) fn grant_token(grant: &GrantRecord) -> String {
    let mut bytes = vec![TOKEN_VERSION, grant.key_id.len() as u8];
    bytes.extend_from_slice(grant.key_id.as_bytes());
    bytes.extend_from_slice(&hex::decode(&grant.grant_id).unwrap_or_default());
    bytes.extend_from_slice(&token_digest(grant));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// AWS's InvalidGrantTokenException.
pub(crate) fn invalid_token() -> KmsError {
    KmsError::InvalidGrantToken("The grant token is not valid.".into())
}

/// Decodes a grant token; anything Trent did not issue is InvalidGrantTokenException.
pub(crate) fn decode_grant_token(token: &str) -> Result<GrantTokenRef, KmsError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid_token())?;
    let (&version, rest) = bytes.split_first().ok_or_else(invalid_token)?;
    let (&key_len, rest) = rest.split_first().ok_or_else(invalid_token)?;
    let key_len = usize::from(key_len);
    if version != TOKEN_VERSION || rest.len() != key_len + 32 + TOKEN_DIGEST_LEN {
        return Err(invalid_token());
    }
    let key_id = std::str::from_utf8(&rest[..key_len]).map_err(|_| invalid_token())?;
    if !is_valid_key_id(key_id) {
        return Err(invalid_token());
    }
    let mut digest = [0u8; TOKEN_DIGEST_LEN];
    digest.copy_from_slice(&rest[key_len + 32..]);
    Ok(GrantTokenRef {
        key_id: key_id.to_string(),
        grant_id: hex::encode(&rest[key_len..key_len + 32]),
        digest,
    })
}

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

impl Kms {
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
        let account = current_principal()
            .map(|p| p.account.clone())
            .unwrap_or_else(|| self.account_id.clone());
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
        let grants = self.raft.reader().read(|state| {
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
                            state.resolve(reference, &self.region, &self.account_id, false)?;
                        let grant = state
                            .grant(&key.key_id, id)
                            .ok_or_else(|| grant_not_found(id))?;
                        (key, grant)
                    }
                };
                Ok((key.clone(), grant.clone()))
            })
            .await??;
        if let Some(caller) = current_principal() {
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
        let exists = self
            .raft
            .reader()
            .read(|state| state.grant(&key.key_id, &id).is_some());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> GrantRecord {
        GrantRecord {
            key_id: "11111111-2222-3333-4444-555555555555".into(),
            grant_id: "ab".repeat(32),
            name: Some("n".into()),
            creation_ms: 5,
            grantee_principal: "arn:aws:iam::111122223333:user/bob".into(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: vec!["Encrypt".into()],
            constraints: None,
        }
    }

    #[test]
    fn tokens_round_trip_and_bind_the_grant() {
        let token = grant_token(&grant());
        let decoded = decode_grant_token(&token).unwrap();
        assert_eq!(decoded.key_id, grant().key_id);
        assert_eq!(decoded.grant_id, grant().grant_id);
        assert!(decoded.matches(&grant()));
        let mut other = grant();
        other.operations.push("Decrypt".into());
        assert!(!decoded.matches(&other));
        for bad in ["", "not a token", &token[..token.len() - 2], "AQ"] {
            assert!(matches!(
                decode_grant_token(bad),
                Err(KmsError::InvalidGrantToken(_))
            ));
        }
    }
}
