//! AWS's key-state table: which operations a key's state allows, and the error each refusal
//! raises. Every state check, on the read path and inside `apply`, goes through [`check`].

use crate::KeyRecord;
use kms_types::{KeyState, KmsError};

/// Operation classes that share a row pattern in AWS's key-state table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Encrypt, Decrypt, ReEncrypt, GenerateDataKey*, GenerateMac, Sign, ...
    Cryptographic,
    /// EnableKey and DisableKey.
    EnableDisable,
    /// ScheduleKeyDeletion.
    ScheduleDeletion,
    /// CancelKeyDeletion.
    CancelDeletion,
    /// CreateAlias target, UpdateAlias target, TagResource, UntagResource, UpdateKeyDescription.
    Metadata,
    /// EnableKeyRotation, DisableKeyRotation, RotateKeyOnDemand.
    Rotation,
    /// DescribeKey, policies, List*, DeleteAlias: allowed in every state.
    Always,
    /// ReplicateKey (on the primary).
    Replicate,
    /// UpdatePrimaryRegion (on the primary).
    UpdatePrimary,
    /// GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial.
    Import,
}

/// Checks the key-state table for `gate` on `key`.
pub fn check(key: &KeyRecord, gate: Gate) -> Result<(), KmsError> {
    use KeyState::*;
    let arn = &key.arn;
    let state = key.key_state;
    let pending_deletion = || KmsError::KmsInvalidState(format!("{arn} is pending deletion."));
    match gate {
        Gate::Always => Ok(()),
        Gate::Replicate | Gate::UpdatePrimary => match state {
            Enabled => Ok(()),
            Disabled => Err(KmsError::Disabled(format!("{arn} is disabled."))),
            PendingDeletion | PendingReplicaDeletion => Err(pending_deletion()),
            other => Err(transient(arn, other)),
        },
        Gate::Cryptographic => match state {
            Enabled | Updating => Ok(()),
            Disabled => Err(KmsError::Disabled(format!("{arn} is disabled."))),
            PendingDeletion | PendingReplicaDeletion => Err(pending_deletion()),
            other => Err(transient(arn, other)),
        },
        Gate::Rotation => match state {
            Enabled | Updating => Ok(()),
            Disabled => Err(KmsError::Disabled(format!("{arn} is disabled."))),
            PendingDeletion | PendingReplicaDeletion => Err(pending_deletion()),
            other => Err(transient(arn, other)),
        },
        Gate::EnableDisable => match state {
            Enabled | Disabled | Unavailable => Ok(()),
            PendingDeletion | PendingReplicaDeletion => Err(pending_deletion()),
            other => Err(transient(arn, other)),
        },
        Gate::ScheduleDeletion => match state {
            PendingDeletion | PendingReplicaDeletion => Err(pending_deletion()),
            Updating => Err(transient(arn, Updating)),
            _ => Ok(()),
        },
        Gate::CancelDeletion => match state {
            PendingDeletion | PendingReplicaDeletion => Ok(()),
            _ => Err(KmsError::KmsInvalidState(format!(
                "{arn} is not pending deletion."
            ))),
        },
        Gate::Import => match state {
            PendingDeletion | PendingReplicaDeletion => Err(pending_deletion()),
            Creating | Updating | Unavailable => Err(transient(arn, state)),
            _ => Ok(()),
        },
        Gate::Metadata => match state {
            PendingDeletion | PendingReplicaDeletion => Err(pending_deletion()),
            _ => Ok(()),
        },
    }
}

fn transient(arn: &str, state: KeyState) -> KmsError {
    let what = match state {
        KeyState::PendingImport => "pending import",
        KeyState::Unavailable => "unavailable",
        KeyState::Creating => "creating",
        KeyState::Updating => "updating",
        KeyState::Enabled => "enabled",
        KeyState::Disabled => "disabled",
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => "pending deletion",
    };
    KmsError::KmsInvalidState(format!("{arn} is {what}."))
}
