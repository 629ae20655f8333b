//! What the state holds per key and per alias, and how a key record renders as `KeyMetadata`.

use crate::MultiRegionState;
use kms_types::model::{epoch_seconds, KeyMetadata, MultiRegionConfiguration, MultiRegionKey};
use kms_types::{
    key_arn, ExpirationModel, KeyAgreementAlgorithmSpec, KeyManager, KeySpec, KeyState, KeyUsage,
    MultiRegionKeyType, Origin, RotationType,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One version of a key's material, wrapped by the region root key. The state never holds
/// plaintext material.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedMaterial {
    /// 64 lowercase hex characters; also carried in ciphertexts made with this material.
    pub material_id: String,
    /// Root-key-wrapped material (opaque to this crate).
    pub wrapped: Vec<u8>,
    /// When this material was created, ms since the epoch.
    pub created_ms: i64,
    /// The public key (X.509 SubjectPublicKeyInfo DER) of an asymmetric key; public, so stored
    /// as it is.
    pub public_key: Option<Vec<u8>>,
    /// For material imported into a key of origin EXTERNAL: whether it is in the key now, and
    /// until when. `None` for material Trent generated.
    #[serde(default)]
    pub import: Option<ImportedMaterial>,
}

/// What a piece of imported material's record says beyond its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedMaterial {
    /// Whether the material is in the key now. False once it is deleted
    /// (DeleteImportedKeyMaterial) or expired; `wrapped` is empty then, and only the same
    /// material (the same id) can be imported again.
    pub imported: bool,
    /// When the material expires, ms since the epoch; `None`: KEY_MATERIAL_DOES_NOT_EXPIRE.
    pub valid_to_ms: Option<i64>,
    /// `KeyMaterialDescription`, 0–256 characters.
    pub description: String,
}

impl WrappedMaterial {
    /// Whether the material is usable here: generated, or imported and not deleted or expired.
    pub fn is_present(&self) -> bool {
        self.import.as_ref().is_none_or(|i| i.imported)
    }
}

impl std::fmt::Debug for WrappedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WrappedMaterial({})", self.material_id)
    }
}

/// A KMS key as the replicated state holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Region-independent key id (UUID, or `mrk-` + 32 hex).
    pub key_id: String,
    /// The key's ARN in this region.
    pub arn: String,
    /// Owning account.
    pub account_id: String,
    /// Creation time, ms since the epoch.
    pub creation_ms: i64,
    /// Free-form description (0–8192 characters).
    pub description: String,
    /// Key spec.
    pub key_spec: KeySpec,
    /// Key usage.
    pub key_usage: KeyUsage,
    /// Origin of the material.
    pub origin: Origin,
    /// Key state.
    pub key_state: KeyState,
    /// When a key pending deletion is deleted, ms since the epoch.
    pub deletion_ms: Option<i64>,
    /// The waiting period given to ScheduleKeyDeletion.
    pub pending_window_days: Option<u32>,
    /// Whether this is a multi-region key.
    pub multi_region: bool,
    /// The key policy document (JSON text).
    pub policy: String,
    /// Tags, by tag key.
    pub tags: BTreeMap<String, String>,
    /// Every material version, oldest first; the last is current.
    pub materials: Vec<WrappedMaterial>,
    /// The automatic rotation period in days; `Some` exactly when automatic rotation is on.
    pub rotation_period_days: Option<u32>,
    /// When the leader next rotates the key automatically, ms since the epoch.
    pub next_rotation_ms: Option<i64>,
    /// Every rotation so far, oldest first.
    pub rotations: Vec<RotationRecord>,
    /// This region's view of a multi-region key (`Some` exactly when `multi_region`).
    pub mrk: Option<MultiRegionState>,
    /// Imported material (ImportType NEW_KEY_MATERIAL) waiting for RotateKeyOnDemand to make it
    /// current; symmetric keys of origin EXTERNAL only.
    #[serde(default)]
    pub pending_rotation: Option<WrappedMaterial>,
    /// The custom key store holding the key (origins AWS_CLOUDHSM and EXTERNAL_KEY_STORE).
    #[serde(default)]
    pub key_store: Option<crate::KeyStoreLink>,
}

/// One completed rotation of a key's material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationRecord {
    /// The material the rotation made current.
    pub material_id: String,
    /// When it happened, ms since the epoch.
    pub rotation_ms: i64,
    /// Automatic or on demand.
    pub rotation_type: RotationType,
}

impl KeyRecord {
    /// True for keys whose material Trent can rotate: symmetric encryption keys with material
    /// Trent generated.
    pub fn supports_rotation(&self) -> bool {
        self.key_spec == KeySpec::SymmetricDefault && self.origin == Origin::AwsKms
    }

    /// True for keys RotateKeyOnDemand can rotate: symmetric encryption keys, generated or
    /// imported (imported ones onto material imported for the purpose).
    pub fn supports_on_demand_rotation(&self) -> bool {
        self.key_spec == KeySpec::SymmetricDefault
            && matches!(self.origin, Origin::AwsKms | Origin::External)
    }

    /// Whether every material of the key is present (always true for generated keys), so the
    /// key can leave PendingImport.
    pub fn all_material_present(&self) -> bool {
        !self.materials.is_empty() && self.materials.iter().all(WrappedMaterial::is_present)
    }

    /// The earliest expiry of the key's imported materials (AWS's `ValidTo`).
    pub fn material_valid_to_ms(&self) -> Option<i64> {
        self.materials
            .iter()
            .chain(self.pending_rotation.iter())
            .filter_map(|m| m.import.as_ref())
            .filter(|i| i.imported)
            .filter_map(|i| i.valid_to_ms)
            .min()
    }

    /// How many on-demand rotations this key has had.
    pub fn on_demand_rotations(&self) -> usize {
        self.rotations
            .iter()
            .filter(|r| r.rotation_type == RotationType::OnDemand)
            .count()
    }

    /// The material used for new ciphertexts.
    pub fn current_material(&self) -> Option<&WrappedMaterial> {
        self.materials.last()
    }

    /// The material with this id, for decryption (a staged rotation's material included: a
    /// replica may receive ciphertext made with it as soon as the primary makes it current).
    pub fn material(&self, material_id: &str) -> Option<&WrappedMaterial> {
        self.materials
            .iter()
            .chain(
                self.mrk
                    .as_ref()
                    .and_then(|m| m.staged.as_ref())
                    .map(|s| &s.material),
            )
            .find(|m| m.material_id == material_id)
    }

    /// AWS's `MultiRegionConfiguration` as this region sees it.
    pub fn multi_region_configuration(&self) -> Option<MultiRegionConfiguration> {
        let mrk = self.mrk.as_ref()?;
        let member = |region: &str| MultiRegionKey {
            arn: key_arn(region, &self.account_id, &self.key_id),
            region: region.to_string(),
        };
        Some(MultiRegionConfiguration {
            multi_region_key_type: if mrk.primary_region == self.region() {
                MultiRegionKeyType::Primary
            } else {
                MultiRegionKeyType::Replica
            },
            primary_key: member(&mrk.primary_region),
            replica_keys: mrk.replicas.keys().map(|r| member(r)).collect(),
        })
    }

    /// Renders the record as AWS's `KeyMetadata`.
    pub fn metadata(&self) -> KeyMetadata {
        let symmetric = self.key_spec == KeySpec::SymmetricDefault;
        KeyMetadata {
            aws_account_id: self.account_id.clone(),
            key_id: self.key_id.clone(),
            arn: self.arn.clone(),
            creation_date: epoch_seconds(self.creation_ms),
            enabled: self.key_state == KeyState::Enabled,
            description: self.description.clone(),
            key_usage: self.key_usage,
            key_state: self.key_state,
            deletion_date: match self.key_state {
                KeyState::PendingDeletion => self.deletion_ms.map(epoch_seconds),
                _ => None,
            },
            origin: self.origin,
            valid_to: self.material_valid_to_ms().map(epoch_seconds),
            expiration_model: self.expiration_model(),
            key_manager: KeyManager::Customer,
            customer_master_key_spec: self.key_spec,
            key_spec: self.key_spec,
            encryption_algorithms: non_empty(self.key_spec.encryption_algorithms(self.key_usage)),
            signing_algorithms: non_empty(self.key_spec.signing_algorithms(self.key_usage)),
            mac_algorithms: self
                .key_spec
                .mac_algorithm()
                .map(|algorithm| vec![algorithm]),
            key_agreement_algorithms: (self.key_usage == KeyUsage::KeyAgreement)
                .then(|| vec![KeyAgreementAlgorithmSpec::Ecdh]),
            multi_region: self.multi_region,
            multi_region_configuration: self.multi_region_configuration(),
            pending_deletion_window_in_days: match self.key_state {
                KeyState::PendingReplicaDeletion => self.pending_window_days,
                _ => None,
            },
            current_key_material_id: if symmetric && self.key_store.is_none() {
                self.current_material().map(|m| m.material_id.clone())
            } else {
                None
            },
            custom_key_store_id: self
                .key_store
                .as_ref()
                .map(|link| link.custom_key_store_id.clone()),
            // The store's cluster: filled in by whoever holds the state.
            cloud_hsm_cluster_id: None,
            xks_key_configuration: self
                .key_store
                .as_ref()
                .and_then(|link| link.xks_key_id.clone())
                .map(|id| kms_types::model::XksKeyConfiguration { id }),
        }
    }
}

impl KeyRecord {
    /// AWS's `ExpirationModel` of an EXTERNAL key whose current material was imported.
    pub fn expiration_model(&self) -> Option<ExpirationModel> {
        if self.origin != Origin::External {
            return None;
        }
        let import = self.current_material()?.import.as_ref()?;
        Some(match import.valid_to_ms {
            Some(_) => ExpirationModel::KeyMaterialExpires,
            None => ExpirationModel::KeyMaterialDoesNotExpire,
        })
    }
}

/// An alias and the key it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    /// Target key id.
    pub target_key_id: String,
    /// Creation time, ms since the epoch.
    pub creation_ms: i64,
    /// Last UpdateAlias, ms since the epoch.
    pub last_updated_ms: i64,
}

fn non_empty<T>(list: Vec<T>) -> Option<Vec<T>> {
    (!list.is_empty()).then_some(list)
}
