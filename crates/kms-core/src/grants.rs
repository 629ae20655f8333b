//! AWS KMS grants as the replicated state holds them: the records, the apply side of
//! CreateGrant, RetireGrant and RevokeGrant, and the pure rules the server authorizes with
//! (which operations a key type allows in a grant, whether a grant names a caller, whether its
//! encryption-context constraints hold, whether a grant may create another).
//!
//! Grants live in [`State`] per key (ordered maps, so every replica lists them in the same
//! order) and are deleted with their key. The grant id and the creation time arrive in the
//! command; `apply` decides idempotency (a grant with the same `Name` and the same parameters
//! answers with the existing grant) and the per-key limit, so every replica agrees.

use crate::key_state::{check, Gate};
use crate::state::key_gone;
use crate::{CommandOutput, KeyRecord, State};
use kms_types::{KeySpec, KeyState, KeyUsage, KmsError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Grants one key may have. AWS allows 50,000; Trent keeps grants in the replicated state, so
/// it sets a lower bound.
pub const MAX_GRANTS_PER_KEY: usize = 1000;

/// Every grant operation AWS knows (`GrantOperation`).
pub const GRANT_OPERATIONS: [&str; 17] = [
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "Sign",
    "Verify",
    "GetPublicKey",
    "CreateGrant",
    "RetireGrant",
    "DescribeKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateMac",
    "VerifyMac",
    "DeriveSharedSecret",
];

/// Operations to which encryption-context constraints apply (those with an encryption context).
const CONSTRAINED_OPERATIONS: [&str; 8] = [
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
];

/// A grant's encryption-context constraints (AWS's `GrantConstraints`). Keys compare
/// case-insensitively, values case-sensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextConstraints {
    /// The request's encryption context must be exactly this.
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The request's encryption context must include every pair of this.
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

/// One grant on one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRecord {
    /// The key the grant is on.
    pub key_id: String,
    /// 64 lowercase hex characters, drawn by the proposer.
    pub grant_id: String,
    /// The optional name that makes CreateGrant idempotent.
    pub name: Option<String>,
    /// Creation time, ms since the epoch (the proposer's clock).
    pub creation_ms: i64,
    /// Who the grant allows.
    pub grantee_principal: String,
    /// Who may retire it besides the grantee (with RetireGrant) and the account.
    pub retiring_principal: Option<String>,
    /// `arn:aws:iam::ACCOUNT:root` of the account that created the grant.
    pub issuing_account: String,
    /// The grant operations, as given (validated, without duplicates).
    pub operations: Vec<String>,
    /// Encryption-context constraints, if any.
    pub constraints: Option<ContextConstraints>,
}

/// What a caller asks a grant for.
#[derive(Debug, Clone, Copy)]
pub struct GrantRequest<'a> {
    /// The caller's principal ARN.
    pub principal: &'a str,
    /// The grant operation (the IAM action without `kms:`).
    pub operation: &'a str,
    /// The request's encryption context, keys lowercased.
    pub encryption_context: &'a BTreeMap<String, String>,
    /// For CreateGrant: the operations of the grant being created.
    pub new_operations: &'a [String],
    /// For CreateGrant: the constraints of the grant being created.
    pub new_constraints: Option<&'a ContextConstraints>,
}

impl GrantRecord {
    /// Whether CreateGrant with these parameters is the same request as the one that made
    /// `self` (name, grantee, retiring principal, operations as a set, constraints).
    pub fn same_parameters(&self, other: &GrantRecord) -> bool {
        let ops = |g: &GrantRecord| g.operations.iter().cloned().collect::<BTreeSet<_>>();
        self.key_id == other.key_id
            && self.name == other.name
            && self.grantee_principal == other.grantee_principal
            && self.retiring_principal == other.retiring_principal
            && ops(self) == ops(other)
            && self.constraints == other.constraints
    }

    /// Whether the grant includes `operation`.
    pub fn includes(&self, operation: &str) -> bool {
        self.operations.iter().any(|o| o == operation)
    }

    /// Whether `principal` is this grant's grantee.
    pub fn names_grantee(&self, principal: &str) -> bool {
        principal_matches(&self.grantee_principal, principal)
    }

    /// Whether `principal` is this grant's retiring principal.
    pub fn names_retiring(&self, principal: &str) -> bool {
        self.retiring_principal
            .as_deref()
            .is_some_and(|r| principal_matches(r, principal))
    }

    /// Whether this grant allows `request`: the caller is the grantee, the grant includes the
    /// operation, and its constraints hold (for CreateGrant: the new grant is no broader).
    pub fn allows(&self, request: &GrantRequest<'_>) -> bool {
        if !self.names_grantee(request.principal) || !self.includes(request.operation) {
            return false;
        }
        if request.operation == "CreateGrant" {
            return request.new_operations.iter().all(|o| self.includes(o))
                && self.constraints_cover(request.new_constraints);
        }
        if !CONSTRAINED_OPERATIONS.contains(&request.operation) {
            return true;
        }
        self.constraints
            .as_ref()
            .is_none_or(|c| c.hold_for(request.encryption_context))
    }

    /// Whether a grant with `new` constraints is at least as strict as this one.
    fn constraints_cover(&self, new: Option<&ContextConstraints>) -> bool {
        let Some(mine) = &self.constraints else {
            return true;
        };
        let new_equals = new.and_then(|n| n.encryption_context_equals.as_ref().map(lower));
        let new_subset = new.and_then(|n| n.encryption_context_subset.as_ref().map(lower));
        if let Some(equals) = mine.encryption_context_equals.as_ref().map(lower) {
            if new_equals.as_ref() != Some(&equals) {
                return false;
            }
        }
        if let Some(subset) = mine.encryption_context_subset.as_ref().map(lower) {
            let covered =
                |map: &BTreeMap<String, String>| subset.iter().all(|(k, v)| map.get(k) == Some(v));
            if !new_equals.as_ref().is_some_and(covered)
                && !new_subset.as_ref().is_some_and(covered)
            {
                return false;
            }
        }
        true
    }
}

impl ContextConstraints {
    /// Whether a request with `context` (keys lowercased) satisfies these constraints.
    pub fn hold_for(&self, context: &BTreeMap<String, String>) -> bool {
        let equals_ok = self
            .encryption_context_equals
            .as_ref()
            .is_none_or(|equals| &lower(equals) == context);
        let subset_ok = self
            .encryption_context_subset
            .as_ref()
            .is_none_or(|subset| lower(subset).iter().all(|(k, v)| context.get(k) == Some(v)));
        equals_ok && subset_ok
    }
}

fn lower(map: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    map.iter()
        .map(|(k, v)| (k.to_lowercase(), v.clone()))
        .collect()
}

/// Whether the principal named in a grant (`named`) is the caller (`caller`): the same ARN, or
/// `named` is a role and `caller` one of its sessions (`arn:aws:sts::ACCT:assumed-role/ROLE/*`).
pub fn principal_matches(named: &str, caller: &str) -> bool {
    if named == caller {
        return true;
    }
    let Some((account, role_path)) = named
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":role/"))
    else {
        return false;
    };
    let role_name = role_path.rsplit('/').next().unwrap_or(role_path);
    caller
        .strip_prefix(&format!("arn:aws:sts::{account}:assumed-role/{role_name}/"))
        .is_some_and(|session| !session.is_empty() && !session.contains('/'))
}

/// The grant operations AWS allows for a key of this spec and usage.
pub fn operations_for(key_spec: KeySpec, key_usage: KeyUsage) -> Vec<&'static str> {
    let mut ops: Vec<&'static str> = match key_usage {
        KeyUsage::EncryptDecrypt if key_spec == KeySpec::SymmetricDefault => vec![
            "Decrypt",
            "Encrypt",
            "GenerateDataKey",
            "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom",
            "ReEncryptTo",
        ],
        KeyUsage::EncryptDecrypt => {
            vec![
                "Decrypt",
                "Encrypt",
                "ReEncryptFrom",
                "ReEncryptTo",
                "GetPublicKey",
            ]
        }
        KeyUsage::SignVerify => vec!["Sign", "Verify", "GetPublicKey"],
        KeyUsage::GenerateVerifyMac => vec!["GenerateMac", "VerifyMac"],
        KeyUsage::KeyAgreement => vec!["DeriveSharedSecret", "GetPublicKey"],
    };
    ops.extend(["CreateGrant", "DescribeKey", "RetireGrant"]);
    ops
}

/// The key-state row of CreateGrant: like a cryptographic operation, except that Unavailable
/// (custom key stores) allows it.
pub fn check_create_grant(key: &KeyRecord) -> Result<(), KmsError> {
    if key.key_state == KeyState::Unavailable {
        return Ok(());
    }
    check(key, Gate::Cryptographic)
}

fn grant_not_found(key_id: &str, grant_id: &str) -> KmsError {
    KmsError::NotFound(format!("Grant {grant_id} on key {key_id} is not found."))
}

impl State {
    pub(crate) fn create_grant(&mut self, grant: &GrantRecord) -> Result<CommandOutput, KmsError> {
        let key = self
            .keys
            .get(&grant.key_id)
            .ok_or_else(|| key_gone(&grant.key_id))?;
        check_create_grant(key)?;
        if let Some(existing) = self.grants.get(&grant.key_id) {
            if grant.name.is_some() {
                if let Some(same) = existing.values().find(|g| g.same_parameters(grant)) {
                    return Ok(CommandOutput::Grant(Box::new(same.clone())));
                }
            }
            if existing.contains_key(&grant.grant_id) {
                return Err(KmsError::KmsInternal("Duplicate grant id.".into()));
            }
            if existing.len() >= MAX_GRANTS_PER_KEY {
                return Err(KmsError::LimitExceeded(format!(
                    "{} already has {MAX_GRANTS_PER_KEY} grants.",
                    key.arn
                )));
            }
        }
        self.grants
            .entry(grant.key_id.clone())
            .or_default()
            .insert(grant.grant_id.clone(), grant.clone());
        Ok(CommandOutput::Grant(Box::new(grant.clone())))
    }

    /// RetireGrant and RevokeGrant: the proposer has authorized; allowed in every key state.
    pub(crate) fn remove_grant(
        &mut self,
        key_id: &str,
        grant_id: &str,
    ) -> Result<CommandOutput, KmsError> {
        let grants = self
            .grants
            .get_mut(key_id)
            .ok_or_else(|| grant_not_found(key_id, grant_id))?;
        grants
            .remove(grant_id)
            .ok_or_else(|| grant_not_found(key_id, grant_id))?;
        if grants.is_empty() {
            self.grants.remove(key_id);
        }
        Ok(CommandOutput::Empty)
    }

    /// Deletes a key's grants (the key was deleted).
    pub(crate) fn delete_grants_of(&mut self, key_id: &str) {
        self.grants.remove(key_id);
    }

    /// A key's grants in grant id order.
    pub fn grants_of<'a>(&'a self, key_id: &str) -> impl Iterator<Item = &'a GrantRecord> + 'a {
        self.grants
            .get(key_id)
            .into_iter()
            .flat_map(|grants| grants.values())
    }

    /// One grant.
    pub fn grant(&self, key_id: &str, grant_id: &str) -> Option<&GrantRecord> {
        self.grants.get(key_id).and_then(|g| g.get(grant_id))
    }

    /// Every grant of the region, key by key.
    pub fn all_grants(&self) -> impl Iterator<Item = &GrantRecord> + '_ {
        self.grants.values().flat_map(|grants| grants.values())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;

    const KEY: &str = "11111111-2222-3333-4444-555555555555";
    const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

    fn key() -> KeyRecord {
        crate::tests::record(KEY)
    }

    fn grant(id: u8, name: Option<&str>) -> GrantRecord {
        GrantRecord {
            key_id: KEY.into(),
            grant_id: format!("{id:02x}").repeat(32),
            name: name.map(str::to_string),
            creation_ms: 2_000,
            grantee_principal: ALICE.into(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: vec!["Encrypt".into(), "Decrypt".into()],
            constraints: Some(ContextConstraints {
                encryption_context_equals: None,
                encryption_context_subset: Some([("Dept".to_string(), "eng".to_string())].into()),
            }),
        }
    }

    fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn asks<'a>(
        principal: &'a str,
        operation: &'a str,
        context: &'a BTreeMap<String, String>,
    ) -> GrantRequest<'a> {
        GrantRequest {
            principal,
            operation,
            encryption_context: context,
            new_operations: &[],
            new_constraints: None,
        }
    }

    #[test]
    fn grants_are_created_idempotently_by_name_and_removed() {
        let mut state = State::default();
        state
            .apply(&Command::CreateKey { record: key() })
            .0
            .unwrap();
        let first = state
            .apply(&Command::CreateGrant {
                grant: grant(1, Some("g")),
            })
            .0
            .unwrap();
        // The same name and parameters under a fresh id: the existing grant, nothing added.
        let again = state
            .apply(&Command::CreateGrant {
                grant: grant(2, Some("g")),
            })
            .0
            .unwrap();
        assert_eq!(first, again);
        assert_eq!(state.grants_of(KEY).count(), 1);
        // Different parameters under the same name: a new grant.
        let mut broader = grant(3, Some("g"));
        broader.operations.push("GenerateDataKey".into());
        state
            .apply(&Command::CreateGrant { grant: broader })
            .0
            .unwrap();
        assert_eq!(state.grants_of(KEY).count(), 2);

        let before = state.clone();
        let missing = Command::RevokeGrant {
            key_id: KEY.into(),
            grant_id: "ff".repeat(32),
        };
        assert!(matches!(
            state.apply(&missing).0,
            Err(KmsError::NotFound(_))
        ));
        assert_eq!(state, before);
        let retire = Command::RetireGrant {
            key_id: KEY.into(),
            grant_id: "01".repeat(32),
        };
        assert!(state.apply(&retire).0.is_ok());
        assert!(state.grant(KEY, &"01".repeat(32)).is_none());

        // Key state gates CreateGrant, not retiring; deletion takes the grants with the key.
        state
            .apply(&Command::ScheduleKeyDeletion {
                key_id: KEY.into(),
                deletion_ms: 5_000,
                pending_window_days: 7,
            })
            .0
            .unwrap();
        assert!(matches!(
            state
                .apply(&Command::CreateGrant {
                    grant: grant(4, None)
                })
                .0,
            Err(KmsError::KmsInvalidState(_))
        ));
        state
            .apply(&Command::DeleteDueKeys { now_ms: 5_000 })
            .0
            .unwrap();
        assert_eq!(state.all_grants().count(), 0);
        assert_eq!(state, State::default());
    }

    #[test]
    fn grant_limit_is_enforced() {
        let mut state = State::default();
        state
            .apply(&Command::CreateKey { record: key() })
            .0
            .unwrap();
        for i in 0..MAX_GRANTS_PER_KEY {
            let mut g = grant(0, None);
            g.grant_id = format!("{i:064x}");
            state.apply(&Command::CreateGrant { grant: g }).0.unwrap();
        }
        let mut g = grant(0, None);
        g.grant_id = "e".repeat(64);
        assert!(matches!(
            state.apply(&Command::CreateGrant { grant: g }).0,
            Err(KmsError::LimitExceeded(_))
        ));
    }

    #[test]
    fn grants_match_grantee_operation_and_constraints() {
        let g = grant(1, None);
        let right = context(&[("dept", "eng"), ("app", "x")]);
        let wrong_value = context(&[("dept", "ENG")]);
        let none = context(&[]);
        assert!(g.allows(&asks(ALICE, "Encrypt", &right)));
        assert!(!g.allows(&asks(ALICE, "Encrypt", &wrong_value)));
        assert!(!g.allows(&asks(ALICE, "Encrypt", &none)));
        assert!(!g.allows(&asks(ALICE, "GenerateDataKey", &right)));
        assert!(!g.allows(&asks(
            "arn:aws:iam::111122223333:user/bob",
            "Encrypt",
            &right
        )));

        let mut equals = grant(1, None);
        equals.constraints = Some(ContextConstraints {
            encryption_context_equals: Some([("dept".to_string(), "eng".to_string())].into()),
            encryption_context_subset: None,
        });
        assert!(equals.allows(&asks(ALICE, "Decrypt", &context(&[("dept", "eng")]))));
        assert!(!equals.allows(&asks(ALICE, "Decrypt", &right)));

        // A role grantee matches its sessions, not other roles' sessions.
        let mut role = grant(1, None);
        role.grantee_principal = "arn:aws:iam::111122223333:role/ops/worker".into();
        role.constraints = None;
        let session = "arn:aws:sts::111122223333:assumed-role/worker/s1";
        assert!(role.allows(&asks(session, "Encrypt", &none)));
        assert!(!role.allows(&asks(
            "arn:aws:sts::111122223333:assumed-role/other/s1",
            "Encrypt",
            &none
        )));

        // CreateGrant through a grant: no broader operations, constraints at least as strict.
        let mut parent = grant(1, None);
        parent.operations.push("CreateGrant".into());
        let child_ops = vec!["Encrypt".to_string()];
        let stricter = ContextConstraints {
            encryption_context_equals: Some(context(&[("DEPT", "eng"), ("app", "x")])),
            encryption_context_subset: None,
        };
        let mut request = asks(ALICE, "CreateGrant", &none);
        request.new_operations = &child_ops;
        request.new_constraints = Some(&stricter);
        assert!(parent.allows(&request));
        request.new_constraints = None;
        assert!(!parent.allows(&request));
        let broader_ops = vec!["Encrypt".to_string(), "Sign".to_string()];
        request.new_operations = &broader_ops;
        request.new_constraints = Some(&stricter);
        assert!(!parent.allows(&request));
    }

    #[test]
    fn operations_depend_on_the_key_type() {
        let symmetric = operations_for(KeySpec::SymmetricDefault, KeyUsage::EncryptDecrypt);
        assert!(symmetric.contains(&"GenerateDataKey") && !symmetric.contains(&"Sign"));
        let signing = operations_for(KeySpec::EccNistP256, KeyUsage::SignVerify);
        assert!(signing.contains(&"Sign") && !signing.contains(&"Encrypt"));
        for op in symmetric.iter().chain(&signing) {
            assert!(GRANT_OPERATIONS.contains(op));
        }
    }
}
