//! Imported key material (keys of origin EXTERNAL) in the replicated state: the import
//! parameters GetParametersForImport hands out ([`ImportParameters`], kept by token id so any
//! node of the region can unwrap what a caller wrapped), and applying ImportKeyMaterial,
//! DeleteImportedKeyMaterial and the leader's expiry of material past its ValidTo.
//!
//! Material ids of imported material are derived from the key and the bytes (kms-crypto's
//! `imported_material_id`), so "the same material" is "the same id": re-importing after a
//! deletion or expiry must bring the same id back, and ciphertexts made before decrypt again.

use crate::key_state::{check, Gate};
use crate::state::key_gone;
use crate::{CommandOutput, KeyRecord, State, WrappedMaterial};
use kms_types::{
    ImportType, KeySpec, KeyState, KmsError, Origin, WrappingAlgorithm, WrappingKeySpec,
};
use serde::{Deserialize, Serialize};

/// Import tokens one key keeps at a time; a new one pushes out the one expiring first.
pub const MAX_IMPORT_TOKENS_PER_KEY: usize = 10;

/// How long an expired token is kept, so using it answers ExpiredImportTokenException rather
/// than InvalidImportTokenException.
const EXPIRED_TOKEN_KEPT_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// One GetParametersForImport answer: the wrapping key pair and what it may be used for.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportParameters {
    /// The KMS key the token is for.
    pub key_id: String,
    /// RSA_2048, RSA_3072 or RSA_4096.
    pub wrapping_key_spec: WrappingKeySpec,
    /// How the caller wraps the material.
    pub wrapping_algorithm: WrappingAlgorithm,
    /// The wrapping private key (PKCS#8), wrapped by the region root key
    /// (`WrapContext::import_wrapping_key(key id, token id)`); opaque here.
    pub wrapped_private_key: Vec<u8>,
    /// `ParametersValidTo`, ms since the epoch (24 hours after issue).
    pub valid_to_ms: i64,
}

impl std::fmt::Debug for ImportParameters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ImportParameters({}, {}, {}, valid to {})",
            self.key_id, self.wrapping_key_spec, self.wrapping_algorithm, self.valid_to_ms
        )
    }
}

fn require_external(key: &KeyRecord) -> Result<(), KmsError> {
    if key.origin == Origin::External {
        return Ok(());
    }
    Err(KmsError::UnsupportedOperation(format!(
        "{} origin is {} which is not valid for this operation.",
        key.arn, key.origin
    )))
}

/// The key state after its materials changed: PendingImport while any material is missing,
/// Enabled once all are back (from PendingImport only); pending deletion is kept.
fn settle_state(key: &mut KeyRecord) {
    match key.key_state {
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => {}
        _ if !key.all_material_present() => key.key_state = KeyState::PendingImport,
        KeyState::PendingImport => key.key_state = KeyState::Enabled,
        _ => {}
    }
}

impl State {
    /// The import parameters of token `token_id`, if the state still has them.
    pub fn import_parameters(&self, token_id: &str) -> Option<&ImportParameters> {
        self.import_tokens.get(token_id)
    }

    /// Earliest ValidTo among imported materials still present, for the leader's expiry task.
    pub fn next_material_expiry_ms(&self) -> Option<i64> {
        self.keys
            .values()
            .filter_map(KeyRecord::material_valid_to_ms)
            .min()
    }

    pub(crate) fn store_import_parameters(
        &mut self,
        token_id: &str,
        parameters: &ImportParameters,
        now_ms: i64,
    ) -> Result<CommandOutput, KmsError> {
        let key = self
            .keys
            .get(&parameters.key_id)
            .ok_or_else(|| key_gone(&parameters.key_id))?;
        require_external(key)?;
        check(key, Gate::Import)?;
        crate::state::retain(&mut self.import_tokens, |_, p| {
            p.valid_to_ms + EXPIRED_TOKEN_KEPT_MS > now_ms
        });
        self.import_tokens
            .insert(token_id.to_string(), parameters.clone());
        loop {
            let of_key: Vec<(&String, i64)> = self
                .import_tokens
                .iter()
                .filter(|(_, p)| p.key_id == parameters.key_id)
                .map(|(id, p)| (id, p.valid_to_ms))
                .collect();
            if of_key.len() <= MAX_IMPORT_TOKENS_PER_KEY {
                break;
            }
            let Some(oldest) = of_key
                .iter()
                .min_by_key(|(id, at)| (*at, id.as_str()))
                .map(|(id, _)| id.to_string())
            else {
                break;
            };
            self.import_tokens.remove(&oldest);
        }
        Ok(CommandOutput::Empty)
    }

    pub(crate) fn import_key_material(
        &mut self,
        key_id: &str,
        token_id: &str,
        material: &WrappedMaterial,
        import_type: Option<ImportType>,
        description_sent: bool,
        now_ms: i64,
    ) -> Result<CommandOutput, KmsError> {
        let token = self
            .import_tokens
            .get(token_id)
            .filter(|p| p.key_id == key_id)
            .ok_or_else(|| {
                KmsError::InvalidImportToken("The import token is not valid for this key.".into())
            })?;
        if token.valid_to_ms <= now_ms {
            return Err(KmsError::ExpiredImportToken(
                "The import token has expired. Call GetParametersForImport for a new one.".into(),
            ));
        }
        let key = self.keys.get_mut(key_id).ok_or_else(|| key_gone(key_id))?;
        require_external(key)?;
        check(key, Gate::Import)?;
        let id = material.material_id.as_str();
        let import_type = import_type.unwrap_or(if key.materials.is_empty() {
            ImportType::NewKeyMaterial
        } else {
            ImportType::ExistingKeyMaterial
        });
        match import_type {
            ImportType::NewKeyMaterial if key.materials.is_empty() => {
                key.materials.push(material.clone());
            }
            ImportType::NewKeyMaterial => {
                let known = key.material(id).is_some()
                    || key
                        .pending_rotation
                        .as_ref()
                        .is_some_and(|p| p.material_id == id);
                if known {
                    return Err(KmsError::IncorrectKeyMaterial(format!(
                        "The key material is already associated with {}. Use ImportType EXISTING_KEY_MATERIAL to reimport it.",
                        key.arn
                    )));
                }
                if key.key_spec != KeySpec::SymmetricDefault {
                    return Err(KmsError::IncorrectKeyMaterial(format!(
                        "{} has key spec {}; only symmetric encryption keys can have more than one key material.",
                        key.arn, key.key_spec
                    )));
                }
                if key.pending_rotation.is_some() {
                    return Err(KmsError::KmsInvalidState(format!(
                        "{} already has key material pending rotation. Rotate the key onto it or delete it first.",
                        key.arn
                    )));
                }
                key.pending_rotation = Some(material.clone());
            }
            ImportType::ExistingKeyMaterial => {
                let slot = key
                    .materials
                    .iter_mut()
                    .chain(key.pending_rotation.iter_mut())
                    .find(|m| m.material_id == id);
                let Some(slot) = slot else {
                    return Err(KmsError::IncorrectKeyMaterial(format!(
                        "The key material is not the key material previously imported into {}.",
                        key.arn
                    )));
                };
                let previous = slot
                    .import
                    .as_ref()
                    .map(|i| i.description.clone())
                    .unwrap_or_default();
                slot.wrapped = material.wrapped.clone();
                slot.import = material.import.clone();
                if let (false, Some(import)) = (description_sent, slot.import.as_mut()) {
                    import.description = previous;
                }
            }
        }
        settle_state(key);
        Ok(CommandOutput::Key(Box::new(key.clone())))
    }

    pub(crate) fn delete_imported_material(
        &mut self,
        key_id: &str,
        material_id: &str,
    ) -> Result<CommandOutput, KmsError> {
        let key = self.keys.get_mut(key_id).ok_or_else(|| key_gone(key_id))?;
        require_external(key)?;
        check(key, Gate::Import)?;
        if key
            .pending_rotation
            .as_ref()
            .is_some_and(|p| p.material_id == material_id)
        {
            key.pending_rotation = None;
        } else {
            let material = key
                .materials
                .iter_mut()
                .find(|m| m.material_id == material_id)
                .ok_or_else(|| {
                    KmsError::NotFound(format!(
                        "Key material {material_id} is not associated with {}.",
                        key.arn
                    ))
                })?;
            material.wrapped.clear();
            if let Some(import) = material.import.as_mut() {
                import.imported = false;
            }
        }
        settle_state(key);
        Ok(CommandOutput::Key(Box::new(key.clone())))
    }

    pub(crate) fn expire_imported_material(&mut self, now_ms: i64) -> u32 {
        let mut expired = 0;
        // Find the keys with material due first, so only they are touched (a mutable borrow of a
        // persistent map's entry copies its node when a snapshot shares it).
        let due: Vec<String> = self
            .keys
            .values()
            .filter(|key| {
                key.materials
                    .iter()
                    .chain(key.pending_rotation.iter())
                    .filter_map(|material| material.import.as_ref())
                    .any(|import| {
                        import.imported && import.valid_to_ms.is_some_and(|at| at <= now_ms)
                    })
            })
            .map(|key| key.key_id.clone())
            .collect();
        for key_id in due {
            let Some(key) = self.keys.get_mut(&key_id) else {
                continue;
            };
            let mut changed = false;
            for material in key
                .materials
                .iter_mut()
                .chain(key.pending_rotation.iter_mut())
            {
                let Some(import) = material.import.as_mut() else {
                    continue;
                };
                if import.imported && import.valid_to_ms.is_some_and(|at| at <= now_ms) {
                    import.imported = false;
                    material.wrapped.clear();
                    changed = true;
                    expired += 1;
                }
            }
            if changed {
                settle_state(key);
            }
        }
        expired
    }

    pub(crate) fn forget_import_tokens_of(&mut self, key_id: &str) {
        crate::state::retain(&mut self.import_tokens, |_, p| p.key_id != key_id);
    }
}
