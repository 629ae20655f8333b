//! [`Call`]: one request being served: the region's [`Kms`] and the request's [`Caller`], passed
//! down explicitly. Every KMS operation (one module per area: `keys`, `aliases`,
//! `tags_policies`, `crypto_ops`, `asymmetric_ops`, `rotation`, `grants_ops`,
//! `multi_region_ops`) is a method of `Call`; the ones that target a key reach it only through
//! [`Call::resolve`], which authorizes the caller after the linearizable read.

use crate::service::Kms;
use crate::validate::{parse_request, to_json};
use kms_authz::Caller;
use kms_core::KeyRecord;
use kms_types::{KeyReference, KmsError, Operation};

/// One request: the service it runs on and who is calling.
pub(crate) struct Call<'a> {
    kms: &'a Kms,
    caller: &'a Caller,
}

/// Operations read the service's primitives (commit, read, material) as `self.write(...)`.
impl std::ops::Deref for Call<'_> {
    type Target = Kms;

    fn deref(&self) -> &Kms {
        self.kms
    }
}

impl<'a> Call<'a> {
    /// The request of `caller` on `kms`.
    pub(crate) fn new(kms: &'a Kms, caller: &'a Caller) -> Call<'a> {
        Call { kms, caller }
    }

    /// Who is calling.
    pub(crate) fn caller(&self) -> &Caller {
        self.caller
    }

    /// Resolves a `KeyId` member to a key, linearizably, and authorizes the caller's action on
    /// it.
    pub(crate) async fn resolve(
        &self,
        key_id: Option<String>,
        allow_alias: bool,
    ) -> Result<KeyRecord, KmsError> {
        self.resolve_for(key_id, allow_alias, None).await
    }

    /// [`Call::resolve`], authorizing `action` instead of the operation's own (ReEncrypt's
    /// destination key needs `kms:ReEncryptTo`).
    pub(crate) async fn resolve_for(
        &self,
        key_id: Option<String>,
        allow_alias: bool,
        action: Option<&str>,
    ) -> Result<KeyRecord, KmsError> {
        let key_id = crate::validate::required(key_id, "keyId")?;
        let reference = KeyReference::parse(&key_id)?;
        self.kms
            .read(|state| {
                let key =
                    state.resolve(&reference, self.region(), self.account_id(), allow_alias)?;
                self.authorize_in(key, action, state)?;
                Ok(key.clone())
            })
            .await?
    }

    /// Authorizes the caller's action on `key` (found without `resolve`: Decrypt's key named
    /// by the ciphertext), after the linearizable read that found it.
    pub(crate) fn authorize_key(&self, key: &KeyRecord) -> Result<(), KmsError> {
        self.read_applied(|state| self.authorize_in(key, None, state))
    }

    fn authorize_in(
        &self,
        key: &KeyRecord,
        action: Option<&str>,
        state: &kms_core::State,
    ) -> Result<(), KmsError> {
        self.authorizer()
            .authorize_key(self.caller, key, action, state)
    }

    /// Authorizes the caller's action where no key is involved (identity policies only).
    pub(crate) fn authorize_account(&self) -> Result<(), KmsError> {
        self.authorizer().authorize_account(self.caller)
    }

    /// The lockout safety check for a new key policy (CreateKey, PutKeyPolicy, ReplicateKey).
    pub(crate) fn check_lockout(&self, policy: &str, bypass: bool) -> Result<(), KmsError> {
        self.authorizer().check_lockout(self.caller, policy, bypass)
    }

    /// Authorizes account-level operations and runs the operation.
    pub(crate) async fn run(
        &self,
        operation: Operation,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, KmsError> {
        if kms_authz::is_account_level(operation) {
            self.authorize_account()?;
        }
        use Operation as Op;
        match operation {
            Op::CreateKey => to_json(self.create_key(parse_request(body)?).await?),
            Op::DescribeKey => to_json(self.describe_key(parse_request(body)?).await?),
            Op::ListKeys => to_json(self.list_keys(parse_request(body)?).await?),
            Op::UpdateKeyDescription => {
                to_json(self.update_key_description(parse_request(body)?).await?)
            }
            Op::EnableKey => to_json(self.set_enabled(parse_request(body)?, true).await?),
            Op::DisableKey => to_json(self.set_enabled(parse_request(body)?, false).await?),
            Op::ScheduleKeyDeletion => {
                to_json(self.schedule_key_deletion(parse_request(body)?).await?)
            }
            Op::CancelKeyDeletion => to_json(self.cancel_key_deletion(parse_request(body)?).await?),
            Op::CreateAlias => to_json(self.create_alias(parse_request(body)?).await?),
            Op::UpdateAlias => to_json(self.update_alias(parse_request(body)?).await?),
            Op::DeleteAlias => to_json(self.delete_alias(parse_request(body)?).await?),
            Op::ListAliases => to_json(self.list_aliases(parse_request(body)?).await?),
            Op::TagResource => to_json(self.tag_resource(parse_request(body)?).await?),
            Op::UntagResource => to_json(self.untag_resource(parse_request(body)?).await?),
            Op::ListResourceTags => to_json(self.list_resource_tags(parse_request(body)?).await?),
            Op::GetKeyPolicy => to_json(self.get_key_policy(parse_request(body)?).await?),
            Op::PutKeyPolicy => to_json(self.put_key_policy(parse_request(body)?).await?),
            Op::ListKeyPolicies => to_json(self.list_key_policies(parse_request(body)?).await?),
            Op::Encrypt => to_json(self.encrypt(parse_request(body)?).await?),
            Op::Decrypt => to_json(self.decrypt(parse_request(body)?).await?),
            Op::ReEncrypt => to_json(self.re_encrypt(parse_request(body)?).await?),
            Op::GenerateDataKey => {
                to_json(self.generate_data_key(parse_request(body)?, true).await?)
            }
            Op::GenerateDataKeyWithoutPlaintext => {
                to_json(self.generate_data_key(parse_request(body)?, false).await?)
            }
            Op::GenerateRandom => to_json(self.generate_random(parse_request(body)?)?),
            Op::EnableKeyRotation => to_json(self.enable_key_rotation(parse_request(body)?).await?),
            Op::DisableKeyRotation => {
                to_json(self.disable_key_rotation(parse_request(body)?).await?)
            }
            Op::GetKeyRotationStatus => {
                to_json(self.get_key_rotation_status(parse_request(body)?).await?)
            }
            Op::RotateKeyOnDemand => {
                to_json(self.rotate_key_on_demand(parse_request(body)?).await?)
            }
            Op::ListKeyRotations => to_json(self.list_key_rotations(parse_request(body)?).await?),
            Op::Sign => to_json(self.sign(parse_request(body)?).await?),
            Op::Verify => to_json(self.verify(parse_request(body)?).await?),
            Op::GetPublicKey => to_json(self.get_public_key(parse_request(body)?).await?),
            Op::GenerateMac => to_json(self.generate_mac(parse_request(body)?).await?),
            Op::VerifyMac => to_json(self.verify_mac(parse_request(body)?).await?),
            Op::DeriveSharedSecret => {
                to_json(self.derive_shared_secret(parse_request(body)?).await?)
            }
            Op::GenerateDataKeyPair => to_json(
                self.generate_data_key_pair(parse_request(body)?, true)
                    .await?,
            ),
            Op::GenerateDataKeyPairWithoutPlaintext => to_json(
                self.generate_data_key_pair(parse_request(body)?, false)
                    .await?,
            ),
            Op::ReplicateKey => to_json(self.replicate_key(parse_request(body)?).await?),
            Op::UpdatePrimaryRegion => {
                to_json(self.update_primary_region(parse_request(body)?).await?)
            }
            Op::CreateGrant => to_json(self.create_grant(parse_request(body)?).await?),
            Op::ListGrants => to_json(self.list_grants(parse_request(body)?).await?),
            Op::ListRetirableGrants => {
                to_json(self.list_retirable_grants(parse_request(body)?).await?)
            }
            Op::RetireGrant => to_json(self.retire_grant(parse_request(body)?).await?),
            Op::RevokeGrant => to_json(self.revoke_grant(parse_request(body)?).await?),
            other => Err(KmsError::UnsupportedOperation(format!(
                "Trent does not implement {other} yet."
            ))),
        }
    }
}

/// An empty JSON object, the response of operations that return nothing.
#[derive(serde::Serialize)]
pub(crate) struct Empty {}
