//! [`Caller`]: who is calling, for which action, with which condition keys. It is built once per
//! request (by the KMS service, from the principal kms-api verified) and passed down explicitly
//! to every authorization decision.

use crate::condition_keys::ConditionKeys;
use crate::identities::PrincipalInfo;
use kms_types::Operation;
use std::sync::Arc;

/// Who is calling, for what, with which request condition keys.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal.
    pub principal: Arc<PrincipalInfo>,
    /// `kms:<Operation>`.
    pub action: String,
    /// Condition keys from the request (lowercase names).
    pub context: ConditionKeys,
}

impl Caller {
    /// The caller of `operation` with the request's condition keys.
    pub fn new(
        principal: Arc<PrincipalInfo>,
        operation: Operation,
        context: ConditionKeys,
    ) -> Caller {
        Caller {
            principal,
            action: action_for(operation),
            context,
        }
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
            | Op::CreateCustomKeyStore
            | Op::ConnectCustomKeyStore
            | Op::DisconnectCustomKeyStore
            | Op::DeleteCustomKeyStore
            | Op::DescribeCustomKeyStores
            | Op::UpdateCustomKeyStore
    )
}

/// The action name IAM uses for an operation.
pub fn action_for(operation: Operation) -> String {
    match operation {
        Operation::ReEncrypt => "kms:ReEncryptFrom".to_string(),
        other => format!("kms:{}", other.name()),
    }
}
