//! ReplicateKey and UpdatePrimaryRegion as KMS operations: validate the members, resolve and
//! authorize the key, check the replica's properties (the lockout check included), then hand
//! over to `kms_replication::multi_region`, which commits and waits for the other region.

use crate::call::{Call, Empty};
use crate::validate::required;
use kms_replication::multi_region::{self, ReplicaProperties};
use kms_types::model::*;
use kms_types::*;

impl Call<'_> {
    pub(crate) async fn replicate_key(
        &self,
        request: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        let replica_region = required(request.replica_region, "replicaRegion")?;
        multi_region::check_region_name(
            &replica_region,
            "replicaRegion",
            self.region(),
            self.replication(),
        )?;
        // An SM2 key cannot have a replica outside the China Regions (SM2 exists only there).
        if key.key_spec == KeySpec::Sm2 && !crate::key_kinds::china_region(&replica_region) {
            return Err(KmsError::UnsupportedOperation(format!(
                "KeySpec SM2 is not supported in {replica_region}."
            )));
        }
        let (description, policy, tags) = self.new_key_properties(
            request.description,
            request.policy.as_deref(),
            request.bypass_policy_lockout_safety_check,
            request.tags.as_deref(),
        )?;
        let properties = ReplicaProperties {
            description,
            policy,
            tags,
        };
        multi_region::replicate_key(
            &**self,
            self.replication(),
            &key,
            replica_region,
            properties,
        )
        .await
    }

    pub(crate) async fn update_primary_region(
        &self,
        request: UpdatePrimaryRegionRequest,
    ) -> Result<Empty, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        let to_region = required(request.primary_region, "primaryRegion")?;
        multi_region::update_primary_region(&**self, self.replication(), &key, to_region).await?;
        Ok(Empty {})
    }
}
