//! Key lifecycle operations: CreateKey, DescribeKey, ListKeys, UpdateKeyDescription,
//! EnableKey/DisableKey, ScheduleKeyDeletion/CancelKeyDeletion.

use crate::call::{Call, Empty};
use crate::validate::{self, in_range, length_within, limit, required};
use kms_core::{Command, KeyRecord, MultiRegionState};
use kms_types::model::*;
use kms_types::*;

use crate::service::DAY_MS;

/// A new key's description, policy and tags.
pub(crate) type NewKeyProperties = (String, String, Vec<(String, String)>);

/// The key spec, usage and origin a CreateKey request asks for, after AWS's defaults.
pub(crate) struct KeyShape {
    pub(crate) spec: KeySpec,
    pub(crate) usage: KeyUsage,
    pub(crate) origin: Origin,
}

fn key_shape(request: &CreateKeyRequest, region: &str) -> Result<KeyShape, KmsError> {
    let spec = match (&request.key_spec, &request.customer_master_key_spec) {
        (Some(_), Some(_)) => {
            return Err(KmsError::Validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated."
                    .into(),
            ))
        }
        (Some(spec), None) => parse_enum::<KeySpec>(spec, "keySpec")?,
        (None, Some(spec)) => parse_enum::<KeySpec>(spec, "customerMasterKeySpec")?,
        (None, None) => KeySpec::SymmetricDefault,
    };
    let usage = match &request.key_usage {
        Some(usage) => parse_enum::<KeyUsage>(usage, "keyUsage")?,
        None => KeyUsage::EncryptDecrypt,
    };
    let origin = match &request.origin {
        Some(origin) => parse_enum::<Origin>(origin, "origin")?,
        None => Origin::AwsKms,
    };
    // SM2 exists only in the China Regions; elsewhere AWS answers UnsupportedOperation.
    if spec == KeySpec::Sm2 && !crate::key_kinds::china_region(region) {
        return Err(crate::key_kinds::not_in_this_region("KeySpec SM2"));
    }
    if !spec.valid_usages().contains(&usage) {
        return Err(KmsError::Validation(format!(
            "KeyUsage {usage} is not compatible with KeySpec {spec}. Valid key usages for {spec}: {}.",
            spec.valid_usages().iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(KeyShape {
        spec,
        usage,
        origin,
    })
}

impl Call<'_> {
    /// The independent properties a new key (CreateKey) or replica (ReplicateKey) gets:
    /// description, policy (the default one if none; the lockout check applies) and tags.
    pub(crate) fn new_key_properties(
        &self,
        description: Option<String>,
        policy: Option<&str>,
        bypass_lockout_check: Option<bool>,
        tags: Option<&[Tag]>,
    ) -> Result<NewKeyProperties, KmsError> {
        let description = description.unwrap_or_default();
        length_within(description.chars().count(), 0, 8192, "description")?;
        let policy = match policy {
            Some(policy) => {
                validate::policy(policy)?;
                self.check_lockout(policy, bypass_lockout_check.unwrap_or(false))?;
                policy.to_string()
            }
            None => kms_policy::default_key_policy(self.account_id()),
        };
        let tags = validate::tags(tags.unwrap_or_default())?;
        if tags.len() > kms_core::MAX_TAGS_PER_KEY {
            return Err(KmsError::Tag(format!(
                "A key can have at most {} tags.",
                kms_core::MAX_TAGS_PER_KEY
            )));
        }
        Ok((description, policy, tags))
    }

    pub(crate) async fn create_key(
        &self,
        request: CreateKeyRequest,
    ) -> Result<CreateKeyResponse, KmsError> {
        let shape = key_shape(&request, self.region())?;
        let (description, policy, tags) = self.new_key_properties(
            request.description.clone(),
            request.policy.as_deref(),
            request.bypass_policy_lockout_safety_check,
            request.tags.as_deref(),
        )?;
        let multi_region = request.multi_region.unwrap_or(false);
        if matches!(shape.origin, Origin::AwsCloudhsm | Origin::ExternalKeyStore)
            || request.custom_key_store_id.is_some()
            || request.xks_key_id.is_some()
        {
            return self
                .create_key_in_store(&request, &shape, multi_region, (description, policy, tags))
                .await;
        }
        match shape.origin {
            Origin::AwsKms => {}
            Origin::External if multi_region => {
                return Err(KmsError::UnsupportedOperation(
                    "Multi-Region keys with imported key material are not supported by Trent yet."
                        .into(),
                ))
            }
            Origin::External => crate::key_kinds::check_external_spec(shape.spec)?,
            other => {
                return Err(KmsError::UnsupportedOperation(format!(
                    "Origin {other} is not supported by Trent yet."
                )))
            }
        }
        let key_id = new_key_id(multi_region);
        let now_ms = self.now_ms();
        let external = shape.origin == Origin::External;
        let materials = match external {
            // Imported later (ImportKeyMaterial); the key waits in PendingImport.
            true => Vec::new(),
            false => vec![self.fresh_material(shape.spec, &key_id, now_ms).await?],
        };
        let record = new_key_record(
            self.region(),
            self.account_id(),
            key_id,
            now_ms,
            (shape.spec, shape.usage, shape.origin),
            multi_region,
            (description, policy, tags),
            materials,
        );
        #[cfg(feature = "testing")]
        if self.planted().ack_before_commit {
            self.propose_detached(Command::CreateKey {
                record: record.clone(),
            });
            return Ok(CreateKeyResponse {
                key_metadata: self.metadata(&record),
            });
        }
        let created = self.write_key(Command::CreateKey { record }).await?;
        Ok(CreateKeyResponse {
            key_metadata: self.metadata(&created),
        })
    }

    /// KeyMetadata for a key of this region, with its multi-region configuration and, for a
    /// key in an HSM key store, the store's cluster.
    pub(crate) fn metadata(&self, key: &KeyRecord) -> KeyMetadata {
        let mut metadata = key.metadata();
        if let Some(link) = &key.key_store {
            metadata.cloud_hsm_cluster_id = self.read_applied(|state| {
                match state
                    .custom_key_store(&link.custom_key_store_id)
                    .map(|s| &s.backend)
                {
                    Some(kms_core::KeyStoreBackend::CloudHsm { cluster_id, .. }) => {
                        Some(cluster_id.clone())
                    }
                    _ => None,
                }
            });
        }
        metadata
    }

    pub(crate) async fn describe_key(
        &self,
        request: DescribeKeyRequest,
    ) -> Result<DescribeKeyResponse, KmsError> {
        let key = self.resolve(request.key_id, true).await?;
        Ok(DescribeKeyResponse {
            key_metadata: self.metadata(&key),
        })
    }

    pub(crate) async fn list_keys(
        &self,
        request: ListKeysRequest,
    ) -> Result<ListKeysResponse, KmsError> {
        let limit = limit(request.limit, 100, 1000)?;
        let marker = request.marker.as_deref();
        if marker.is_some_and(|m| !is_valid_key_id(m)) {
            return Err(KmsError::InvalidMarker("The marker is not valid.".into()));
        }
        let (page, more) = self
            .read(|state| {
                let mut keys = state.keys_after(self.account_id(), marker);
                let page: Vec<KeyListEntry> = keys
                    .by_ref()
                    .take(limit)
                    .map(|k| KeyListEntry {
                        key_id: k.key_id.clone(),
                        key_arn: k.arn.clone(),
                    })
                    .collect();
                (page, keys.next().is_some())
            })
            .await?;
        let next_marker = more
            .then(|| page.last().map(|k| k.key_id.clone()))
            .flatten();
        Ok(ListKeysResponse {
            keys: page,
            truncated: next_marker.is_some(),
            next_marker,
        })
    }

    pub(crate) async fn update_key_description(
        &self,
        request: UpdateKeyDescriptionRequest,
    ) -> Result<Empty, KmsError> {
        let description = required(request.description, "description")?;
        length_within(description.chars().count(), 0, 8192, "description")?;
        let key = self.resolve(request.key_id, false).await?;
        self.write_key(Command::UpdateKeyDescription {
            key_id: key.key_id,
            description,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn set_enabled(
        &self,
        request: KeyIdRequest,
        enabled: bool,
    ) -> Result<Empty, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        self.write_key(Command::SetKeyEnabled {
            key_id: key.key_id,
            enabled,
        })
        .await?;
        Ok(Empty {})
    }

    pub(crate) async fn schedule_key_deletion(
        &self,
        request: ScheduleKeyDeletionRequest,
    ) -> Result<ScheduleKeyDeletionResponse, KmsError> {
        let days = in_range(
            request.pending_window_in_days.unwrap_or(30),
            7,
            30,
            "pendingWindowInDays",
        )? as u32;
        let key = self.resolve(request.key_id, false).await?;
        let deletion_ms = self.now_ms() + i64::from(days) * DAY_MS;
        let command = Command::ScheduleKeyDeletion {
            key_id: key.key_id,
            deletion_ms,
            pending_window_days: days,
        };
        let key = self.write_key(command).await?;
        Ok(ScheduleKeyDeletionResponse {
            key_id: key.arn.clone(),
            deletion_date: key.deletion_ms.map(epoch_seconds),
            key_state: key.key_state,
            pending_window_in_days: days,
        })
    }

    pub(crate) async fn cancel_key_deletion(
        &self,
        request: KeyIdRequest,
    ) -> Result<CancelKeyDeletionResponse, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        let key = self
            .write_key(Command::CancelKeyDeletion { key_id: key.key_id })
            .await?;
        Ok(CancelKeyDeletionResponse { key_id: key.arn })
    }
}

/// The record CreateKey commits for a new key of `region` and `account` (its material already
/// wrapped; none: an EXTERNAL key waiting in PendingImport). The seed's keys are made with it
/// too.
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_key_record(
    region: &str,
    account: &str,
    key_id: String,
    now_ms: i64,
    (key_spec, key_usage, origin): (KeySpec, KeyUsage, Origin),
    multi_region: bool,
    (description, policy, tags): NewKeyProperties,
    materials: Vec<kms_core::WrappedMaterial>,
) -> KeyRecord {
    KeyRecord {
        arn: key_arn(region, account, &key_id),
        key_id,
        account_id: account.to_string(),
        creation_ms: now_ms,
        description,
        key_spec,
        key_usage,
        origin,
        key_state: match materials.is_empty() {
            true => KeyState::PendingImport,
            false => KeyState::Enabled,
        },
        deletion_ms: None,
        pending_window_days: None,
        multi_region,
        policy,
        tags: tags.into_iter().collect(),
        materials,
        rotation_period_days: None,
        next_rotation_ms: None,
        rotations: Vec::new(),
        mrk: multi_region.then(|| MultiRegionState::new_primary(region)),
        pending_rotation: None,
        key_store: None,
    }
}

/// A fresh key id: a UUID v4, or `mrk-` + 32 hex for a multi-region key.
pub(crate) fn new_key_id(multi_region: bool) -> String {
    let id = uuid::Uuid::new_v4();
    if multi_region {
        format!("mrk-{}", id.simple())
    } else {
        id.hyphenated().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(spec: Option<&str>, usage: Option<&str>) -> CreateKeyRequest {
        CreateKeyRequest {
            key_spec: spec.map(String::from),
            key_usage: usage.map(String::from),
            ..Default::default()
        }
    }

    #[test]
    fn key_shapes_follow_aws_defaults_and_pairs() {
        let shape = key_shape(&request(None, None), "us-east-1").expect("default");
        assert_eq!(
            (shape.spec, shape.usage, shape.origin),
            (
                KeySpec::SymmetricDefault,
                KeyUsage::EncryptDecrypt,
                Origin::AwsKms
            )
        );
        assert!(key_shape(&request(Some("HMAC_256"), None), "us-east-1").is_err());
        assert!(key_shape(
            &request(Some("HMAC_256"), Some("GENERATE_VERIFY_MAC")),
            "us-east-1"
        )
        .is_ok());
        assert!(key_shape(
            &request(Some("ECC_NIST_P256"), Some("ENCRYPT_DECRYPT")),
            "us-east-1"
        )
        .is_err());
        assert!(matches!(
            key_shape(&request(Some("SM2"), Some("SIGN_VERIFY")), "us-east-1"),
            Err(KmsError::UnsupportedOperation(m)) if m == "KeySpec SM2 is not supported in this Region."
        ));
        for region in ["cn-north-1", "cn-northwest-1"] {
            for usage in ["SIGN_VERIFY", "ENCRYPT_DECRYPT", "KEY_AGREEMENT"] {
                assert!(key_shape(&request(Some("SM2"), Some(usage)), region).is_ok());
            }
            assert!(matches!(
                key_shape(&request(Some("SM2"), Some("GENERATE_VERIFY_MAC")), region),
                Err(KmsError::Validation(_))
            ));
        }
        assert!(matches!(
            key_shape(&request(Some("AES"), None), "us-east-1"),
            Err(KmsError::Validation(_))
        ));
    }

    #[test]
    fn new_key_ids_have_aws_shapes() {
        assert!(is_valid_key_id(&new_key_id(false)));
        let mrk = new_key_id(true);
        assert!(mrk.starts_with("mrk-") && is_valid_key_id(&mrk), "{mrk}");
    }
}
