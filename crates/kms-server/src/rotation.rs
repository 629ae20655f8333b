//! Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus,
//! RotateKeyOnDemand, ListKeyRotations, and the leader's automatic rotation.
//!
//! New material is generated and wrapped by the proposer and enters the log in a `RotateKey`
//! command naming the material it replaces, so a rotation proposed twice (two leaders, a retry)
//! applies once. Earlier materials stay, so every earlier ciphertext still decrypts.

use crate::call::{Call, Empty};
use crate::service::DAY_MS;
use crate::validate::{in_range, limit};
use kms_core::key_state::{check, Gate};
use kms_core::{Command, KeyRecord, WrappedMaterial};
use kms_types::model::*;
use kms_types::*;

const DEFAULT_PERIOD_DAYS: i64 = 365;

/// RotateKeyOnDemand and ListKeyRotations: symmetric keys, generated or imported.
fn require_on_demand_rotatable(key: &KeyRecord) -> Result<(), KmsError> {
    if key.supports_on_demand_rotation() {
        return Ok(());
    }
    require_rotatable(key)
}

fn require_rotatable(key: &KeyRecord) -> Result<(), KmsError> {
    if key.supports_rotation() {
        return Ok(());
    }
    Err(KmsError::UnsupportedOperation(format!(
        "{} has key spec {} and origin {}; only symmetric encryption keys with AWS_KMS material can be rotated.",
        key.arn, key.key_spec, key.origin
    )))
}

impl Call<'_> {
    pub(crate) async fn enable_key_rotation(
        &self,
        request: EnableKeyRotationRequest,
    ) -> Result<Empty, KmsError> {
        let days = in_range(
            request
                .rotation_period_in_days
                .unwrap_or(DEFAULT_PERIOD_DAYS),
            90,
            2560,
            "rotationPeriodInDays",
        )?;
        let key = self.resolve(request.key_id, false).await?;
        require_rotatable(&key)?;
        check(&key, Gate::Rotation)?;
        let next_rotation_ms = Some(self.now_ms() + days * DAY_MS);
        let command = Command::SetKeyRotation {
            key_id: key.key_id,
            period_days: Some(days as u32),
            next_rotation_ms,
        };
        self.write_key(command).await?;
        Ok(Empty {})
    }

    pub(crate) async fn disable_key_rotation(
        &self,
        request: KeyIdRequest,
    ) -> Result<Empty, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        require_rotatable(&key)?;
        check(&key, Gate::Rotation)?;
        let command = Command::SetKeyRotation {
            key_id: key.key_id,
            period_days: None,
            next_rotation_ms: None,
        };
        self.write_key(command).await?;
        Ok(Empty {})
    }

    pub(crate) async fn get_key_rotation_status(
        &self,
        request: KeyIdRequest,
    ) -> Result<GetKeyRotationStatusResponse, KmsError> {
        // AWS takes a key id or key ARN here, not an alias.
        let key = self.resolve(request.key_id, false).await?;
        require_rotatable(&key)?;
        Ok(GetKeyRotationStatusResponse {
            key_rotation_enabled: key.rotation_period_days.is_some(),
            key_id: key.arn.clone(),
            rotation_period_in_days: key.rotation_period_days,
            next_rotation_date: key.next_rotation_ms.map(epoch_seconds),
            on_demand_rotation_start_date: None,
        })
    }

    pub(crate) async fn rotate_key_on_demand(
        &self,
        request: KeyIdRequest,
    ) -> Result<RotateKeyOnDemandResponse, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        require_on_demand_rotatable(&key)?;
        check(&key, Gate::Rotation)?;
        let command = match key.origin {
            Origin::External => imported_rotation(&key)?,
            _ => self.rotation_command(&key, RotationType::OnDemand)?,
        };
        let rotated = self.write_key(command).await?;
        Ok(RotateKeyOnDemandResponse {
            key_id: rotated.arn,
        })
    }

    pub(crate) async fn list_key_rotations(
        &self,
        request: ListKeyRotationsRequest,
    ) -> Result<ListKeyRotationsResponse, KmsError> {
        let limit = limit(request.limit, 100, 1000)?;
        let include = match request.include_key_material.as_deref() {
            Some(text) => parse_enum::<IncludeKeyMaterial>(text, "includeKeyMaterial")?,
            None => IncludeKeyMaterial::RotationsOnly,
        };
        let key = self.resolve(request.key_id, false).await?;
        require_on_demand_rotatable(&key)?;
        let entries = rotation_entries(&key, include);
        let start = match request.marker.as_deref() {
            None => 0,
            Some(marker) => marker
                .parse::<usize>()
                .ok()
                .filter(|&at| at <= entries.len())
                .ok_or_else(|| KmsError::InvalidMarker("The marker is not valid.".into()))?,
        };
        let end = (start + limit).min(entries.len());
        let next_marker = (end < entries.len()).then(|| end.to_string());
        Ok(ListKeyRotationsResponse {
            rotations: entries[start..end].to_vec(),
            truncated: next_marker.is_some(),
            next_marker,
        })
    }
}

/// The `RotateKey` of an imported key: onto the material imported for it (NEW_KEY_MATERIAL).
fn imported_rotation(key: &KeyRecord) -> Result<Command, KmsError> {
    let next = key
        .pending_rotation
        .as_ref()
        .filter(|m| m.is_present())
        .ok_or_else(|| {
            KmsError::KmsInvalidState(format!(
                "{} has no imported key material pending rotation. Import new key material with ImportType NEW_KEY_MATERIAL first.",
                key.arn
            ))
        })?;
    let current = key
        .current_material()
        .ok_or_else(|| KmsError::KmsInvalidState(format!("{} has no key material.", key.arn)))?;
    Ok(Command::RotateKey {
        key_id: key.key_id.clone(),
        expected_current: current.material_id.clone(),
        material: next.clone(),
        rotation_type: RotationType::OnDemand,
        next_rotation_ms: None,
    })
}

/// ListKeyRotations entries: every rotation, plus the original material (and, for imported
/// keys, the material pending rotation) when asked for all.
fn rotation_entries(key: &KeyRecord, include: IncludeKeyMaterial) -> Vec<RotationsListEntry> {
    let current = key.current_material().map(|m| m.material_id.as_str());
    let entry = |material: &WrappedMaterial, state: KeyMaterialState| {
        let import = material.import.as_ref();
        RotationsListEntry {
            key_id: key.key_id.clone(),
            key_material_id: Some(material.material_id.clone()),
            key_material_state: Some(state),
            key_material_description: import.map(|i| i.description.clone()),
            import_state: import.map(|i| match i.imported {
                true => ImportState::Imported,
                false => ImportState::PendingImport,
            }),
            expiration_model: import.map(|i| match i.valid_to_ms {
                Some(_) => ExpirationModel::KeyMaterialExpires,
                None => ExpirationModel::KeyMaterialDoesNotExpire,
            }),
            valid_to: import.and_then(|i| i.valid_to_ms).map(epoch_seconds),
            rotation_date: None,
            rotation_type: None,
        }
    };
    let state = |material_id: &str| match Some(material_id) == current {
        true => KeyMaterialState::Current,
        false => KeyMaterialState::NonCurrent,
    };
    let mut entries = Vec::new();
    let all = include == IncludeKeyMaterial::AllKeyMaterial;
    if all {
        if let Some(first) = key.materials.first() {
            entries.push(entry(first, state(&first.material_id)));
        }
    }
    for rotation in &key.rotations {
        let Some(material) = key
            .materials
            .iter()
            .find(|m| m.material_id == rotation.material_id)
        else {
            continue;
        };
        entries.push(RotationsListEntry {
            rotation_date: Some(epoch_seconds(rotation.rotation_ms)),
            rotation_type: Some(rotation.rotation_type),
            ..entry(material, state(&rotation.material_id))
        });
    }
    if all {
        if let Some(pending) = &key.pending_rotation {
            entries.push(entry(pending, KeyMaterialState::PendingRotation));
        }
    }
    entries
}
