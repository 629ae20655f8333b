//! The service's entry point ([`KmsService`] for [`Kms`]: resolve the signer, forward a request
//! signed for another region, build the caller's condition keys) and [`Call`]: one request
//! being served: the region's [`Kms`] and the request's [`Caller`], passed
//! down explicitly. Every KMS operation (one module per area: `keys`, `aliases`,
//! `tags_policies`, `crypto_ops`, `asymmetric_ops`, `rotation`, `grants_ops`,
//! `multi_region_ops`, `import_ops`) is a method of `Call`; the ones that target a key reach it only through
//! [`Call::resolve`], which authorizes the caller after the linearizable read.

use crate::service::Kms;
use crate::validate::to_json;
use kms_api::{KmsService, RequestContext};
use kms_authz::{Caller, Signer};
use kms_core::KeyRecord;
use kms_replication::ForwardedCall;
use kms_types::{KeyReference, KmsError, KmsRequest};

impl KmsService for Kms {
    type Caller = Signer;

    fn home_region(&self) -> Option<&str> {
        Some(self.region())
    }

    fn resolve(&self, principal: &kms_api::Principal) -> Result<Signer, KmsError> {
        self.identities().resolve(principal)
    }

    async fn sts(&self, request: kms_api::sts::StsRequest) -> Result<String, KmsError> {
        kms_authz::sts::handle(self.identities(), request)
    }

    async fn call(
        &self,
        ctx: RequestContext,
        signer: &Signer,
        request: KmsRequest,
    ) -> Result<serde_json::Value, KmsError> {
        if ctx.principal.region != self.region() {
            return forward(self, ctx, request).await;
        }
        self.wait_seeded().await?;
        refuse_recipient(&request)?;
        let context = kms_authz::condition_keys::request_context(
            &request,
            ctx.source_ip,
            ctx.secure_transport,
            self.now_ms(),
        );
        let caller = Caller::new(signer.principal.clone(), ctx.operation, context);
        let response = Call::new(self, &caller).run(request).await?;
        self.note_key_uses(ctx.operation, &ctx.request_id, &response);
        Ok(response)
    }
}

/// A request naming a Nitro enclave `Recipient` is refused: Trent does not verify attestation
/// documents yet, and answering it as if `Recipient` were absent would hand the plaintext to
/// whoever called instead of only to the attested enclave.
fn refuse_recipient(request: &KmsRequest) -> Result<(), KmsError> {
    let mut named = false;
    request.visit_members(&mut |name, _| named |= name == "recipient");
    if named {
        return Err(KmsError::UnsupportedOperation(
            "Recipient (a Nitro Enclaves attestation document) is not supported by Trent: it \
             does not verify attestation documents, so it returns neither the plaintext nor a \
             CiphertextForRecipient."
                .into(),
        ));
    }
    Ok(())
}

/// Runs a request signed for another region in that region's cluster: the caller's request
/// goes there as signed, and that region verifies the signature itself.
async fn forward(
    kms: &Kms,
    ctx: RequestContext,
    _request: KmsRequest,
) -> Result<serde_json::Value, KmsError> {
    let Some(replication) = kms.replication() else {
        return Err(KmsError::UnrecognizedClient(format!(
            "This node serves region {}, not {}.",
            kms.region(),
            ctx.principal.region
        )));
    };
    let Some(mut signed) = ctx.forward else {
        return Err(KmsError::KmsInternal(
            "The request signed for another region was not kept for forwarding.".into(),
        ));
    };
    let call = ForwardedCall {
        request_id: ctx.request_id,
        method: std::mem::take(&mut signed.method),
        uri: std::mem::take(&mut signed.uri),
        headers: std::mem::take(&mut signed.headers),
        body_hex: hex::encode(&signed.body),
    };
    replication.forward(&ctx.principal.region, call).await
}

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

    /// The caller's account: the account of the keys it creates and lists, of its aliases, and
    /// the one a bare key id or alias name refers to.
    pub(crate) fn account_id(&self) -> &str {
        &self.caller.principal.account
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
                // A key whose custom key store is not connected is Unavailable.
                let mut key = key.clone();
                key.key_state = state.shown_key_state(&key);
                Ok(key)
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
    pub(crate) async fn run(&self, request: KmsRequest) -> Result<serde_json::Value, KmsError> {
        if kms_authz::is_account_level(request.operation()) {
            self.authorize_account()?;
        }
        use KmsRequest as Op;
        match request {
            Op::CreateKey(r) => to_json(self.create_key(r).await?),
            Op::DescribeKey(r) => to_json(self.describe_key(r).await?),
            Op::ListKeys(r) => to_json(self.list_keys(r).await?),
            Op::UpdateKeyDescription(r) => to_json(self.update_key_description(r).await?),
            Op::EnableKey(r) => to_json(self.set_enabled(r, true).await?),
            Op::DisableKey(r) => to_json(self.set_enabled(r, false).await?),
            Op::ScheduleKeyDeletion(r) => to_json(self.schedule_key_deletion(r).await?),
            Op::CancelKeyDeletion(r) => to_json(self.cancel_key_deletion(r).await?),
            Op::CreateAlias(r) => to_json(self.create_alias(r).await?),
            Op::UpdateAlias(r) => to_json(self.update_alias(r).await?),
            Op::DeleteAlias(r) => to_json(self.delete_alias(r).await?),
            Op::ListAliases(r) => to_json(self.list_aliases(r).await?),
            Op::TagResource(r) => to_json(self.tag_resource(r).await?),
            Op::UntagResource(r) => to_json(self.untag_resource(r).await?),
            Op::ListResourceTags(r) => to_json(self.list_resource_tags(r).await?),
            Op::GetKeyPolicy(r) => to_json(self.get_key_policy(r).await?),
            Op::PutKeyPolicy(r) => to_json(self.put_key_policy(r).await?),
            Op::ListKeyPolicies(r) => to_json(self.list_key_policies(r).await?),
            Op::Encrypt(r) => to_json(self.encrypt(r).await?),
            Op::Decrypt(r) => to_json(self.decrypt(r).await?),
            Op::ReEncrypt(r) => to_json(self.re_encrypt(r).await?),
            Op::GenerateDataKey(r) => to_json(self.generate_data_key(r, true).await?),
            Op::GenerateDataKeyWithoutPlaintext(r) => {
                to_json(self.generate_data_key(r, false).await?)
            }
            Op::GenerateRandom(r) => to_json(self.generate_random(r).await?),
            Op::EnableKeyRotation(r) => to_json(self.enable_key_rotation(r).await?),
            Op::DisableKeyRotation(r) => to_json(self.disable_key_rotation(r).await?),
            Op::GetKeyRotationStatus(r) => to_json(self.get_key_rotation_status(r).await?),
            Op::RotateKeyOnDemand(r) => to_json(self.rotate_key_on_demand(r).await?),
            Op::ListKeyRotations(r) => to_json(self.list_key_rotations(r).await?),
            Op::Sign(r) => to_json(self.sign(r).await?),
            Op::Verify(r) => to_json(self.verify(r).await?),
            Op::GetPublicKey(r) => to_json(self.get_public_key(r).await?),
            Op::GenerateMac(r) => to_json(self.generate_mac(r).await?),
            Op::VerifyMac(r) => to_json(self.verify_mac(r).await?),
            Op::DeriveSharedSecret(r) => to_json(self.derive_shared_secret(r).await?),
            Op::GenerateDataKeyPair(r) => to_json(self.generate_data_key_pair(r, true).await?),
            Op::GenerateDataKeyPairWithoutPlaintext(r) => {
                to_json(self.generate_data_key_pair(r, false).await?)
            }
            Op::ReplicateKey(r) => to_json(self.replicate_key(r).await?),
            Op::UpdatePrimaryRegion(r) => to_json(self.update_primary_region(r).await?),
            Op::CreateGrant(r) => to_json(self.create_grant(r).await?),
            Op::ListGrants(r) => to_json(self.list_grants(r).await?),
            Op::ListRetirableGrants(r) => to_json(self.list_retirable_grants(r).await?),
            Op::RetireGrant(r) => to_json(self.retire_grant(r).await?),
            Op::RevokeGrant(r) => to_json(self.revoke_grant(r).await?),
            Op::GetParametersForImport(r) => to_json(self.get_parameters_for_import(r).await?),
            Op::ImportKeyMaterial(r) => to_json(self.import_key_material(r).await?),
            Op::DeleteImportedKeyMaterial(r) => {
                to_json(self.delete_imported_key_material(r).await?)
            }
            Op::GetKeyLastUsage(r) => to_json(self.get_key_last_usage(r).await?),
            Op::CreateCustomKeyStore(r) => to_json(self.create_custom_key_store(r).await?),
            Op::ConnectCustomKeyStore(r) => to_json(self.connect_custom_key_store(r).await?),
            Op::DisconnectCustomKeyStore(r) => to_json(self.disconnect_custom_key_store(r).await?),
            Op::DeleteCustomKeyStore(r) => to_json(self.delete_custom_key_store(r).await?),
            Op::DescribeCustomKeyStores(r) => to_json(self.describe_custom_key_stores(r).await?),
            Op::UpdateCustomKeyStore(r) => to_json(self.update_custom_key_store(r).await?),
            Op::Unimplemented(other) => Err(KmsError::UnsupportedOperation(format!(
                "Trent does not implement {other} yet."
            ))),
        }
    }
}

/// An empty JSON object, the response of operations that return nothing.
#[derive(serde::Serialize)]
pub(crate) struct Empty {}
