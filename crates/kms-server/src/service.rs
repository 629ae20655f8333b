//! [`Kms`]: the KMS operations of one region, on top of the region's Raft group.
//!
//! Writes become [`Command`]s committed through the leader; reads pass a linearizable read
//! barrier and then look at this node's applied state. Clock and randomness are used here, on
//! the proposing side, never in the state machine.

#[cfg(feature = "testing")]
use crate::planted_bugs::PlantedBugs;
use crate::validate::{parse_request, to_json};
use kms_api::{KmsService, RequestContext};
use kms_core::{Command, CommandOutput, KeyRecord, State, WrappedMaterial};
use kms_crypto::{KeyMaterial, MaterialId, RootKey, WrapContext};
use kms_raft::RegionRaft;
use kms_types::{KeyReference, KeySpec, KmsError, Operation};
use std::sync::Arc;

/// Milliseconds since the Unix epoch; injected so tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The system clock. In builds with the `testing` feature, if `TRENT_TEST_CLOCK_OFFSET_FILE`
/// names a file, its content (milliseconds, may be negative) is added to every reading, so tests
/// can move a node's notion of time (deletion dates, clock skew) without waiting.
pub fn system_clock() -> Clock {
    #[cfg(feature = "testing")]
    if let Some(path) = std::env::var_os("TRENT_TEST_CLOCK_OFFSET_FILE") {
        return Arc::new(move || {
            let offset = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok());
            system_now_ms() + offset.unwrap_or(0)
        });
    }
    Arc::new(system_now_ms)
}

/// One region's KMS service as served by one node.
pub struct Kms {
    pub(crate) raft: Arc<RegionRaft>,
    pub(crate) root_key: RootKey,
    pub(crate) region: String,
    pub(crate) account_id: String,
    pub(crate) clock: Clock,
    /// Planted bugs (test build only).
    #[cfg(feature = "testing")]
    pub(crate) planted: PlantedBugs,
    /// The link to other regions, if this region has peers.
    pub(crate) link: Option<Arc<crate::region_link::RegionLink>>,
    /// Wakes this node's outbox shippers when a command queued a message.
    pub(crate) shipper_wake: Option<Arc<tokio::sync::Notify>>,
    /// Who may call, with their identity policies.
    pub(crate) identities: Option<Arc<crate::identities::IdentityStore>>,
    /// Parsed key policies.
    pub(crate) policies: crate::authz::PolicyCache,
}

impl Kms {
    /// Builds the service for `region` in `account_id`.
    pub fn new(
        raft: Arc<RegionRaft>,
        root_key: RootKey,
        region: String,
        account_id: String,
        clock: Clock,
    ) -> Kms {
        Kms {
            raft,
            root_key,
            region,
            account_id,
            clock,
            #[cfg(feature = "testing")]
            planted: PlantedBugs::from_env(),
            link: None,
            shipper_wake: None,
            identities: None,
            policies: crate::authz::PolicyCache::default(),
        }
    }

    /// Authorizes callers against these identities (without, every caller is the account's
    /// root user).
    pub fn with_identities(mut self, identities: Arc<crate::identities::IdentityStore>) -> Kms {
        self.identities = Some(identities);
        self
    }

    /// Connects this region to its peers: requests signed for a peer region are forwarded
    /// there, and multi-region operations can reach them.
    pub fn with_link(
        mut self,
        link: Arc<crate::region_link::RegionLink>,
        shipper_wake: Arc<tokio::sync::Notify>,
    ) -> Kms {
        self.link = Some(link);
        self.shipper_wake = Some(shipper_wake);
        self
    }

    pub(crate) fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Commits a command and returns its output.
    pub(crate) async fn write(&self, command: Command) -> Result<CommandOutput, KmsError> {
        self.raft.write(command).await
    }

    /// Commits a command that answers with the key it changed.
    pub(crate) async fn write_key(&self, command: Command) -> Result<KeyRecord, KmsError> {
        match self.write(command).await? {
            CommandOutput::Key(record) => Ok(*record),
            other => Err(KmsError::KmsInternal(format!(
                "Unexpected state machine answer {other:?}"
            ))),
        }
    }

    /// Runs `f` on a linearizable view of the state.
    pub(crate) async fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R, KmsError> {
        #[cfg(feature = "testing")]
        if self.planted.stale_reads {
            return Ok(self.raft.reader().read(f));
        }
        self.raft.linearizable_read().await?;
        Ok(self.raft.reader().read(f))
    }

    /// Resolves a `KeyId` member to a key, linearizably.
    pub(crate) async fn resolve(
        &self,
        key_id: Option<String>,
        allow_alias: bool,
    ) -> Result<KeyRecord, KmsError> {
        self.resolve_for(key_id, allow_alias, None).await
    }

    /// [`Kms::resolve`], authorizing `action` instead of the operation's own (ReEncrypt's
    /// destination key needs `kms:ReEncryptTo`).
    pub(crate) async fn resolve_for(
        &self,
        key_id: Option<String>,
        allow_alias: bool,
        action: Option<&str>,
    ) -> Result<KeyRecord, KmsError> {
        let key_id = crate::validate::required(key_id, "keyId")?;
        let reference = KeyReference::parse(&key_id)?;
        let key = self
            .read(|state| {
                state
                    .resolve(&reference, &self.region, &self.account_id, allow_alias)
                    .cloned()
            })
            .await??;
        self.authorize_key(&key, action)?;
        Ok(key)
    }

    /// Unwraps one material version of `key`.
    pub(crate) fn unwrap_material(
        &self,
        key: &KeyRecord,
        material_id: &str,
    ) -> Result<KeyMaterial, KmsError> {
        let wrapped = key
            .material(material_id)
            .ok_or(KmsError::InvalidCiphertext)?;
        self.root_key
            .unwrap(
                &wrapped.wrapped,
                &WrapContext::material(&key.key_id, material_id),
            )
            .map_err(|_| {
                KmsError::KmsInternal(
                    "Key material could not be unwrapped with this region's root key.".into(),
                )
            })
    }
}

/// One day in milliseconds.
pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;

impl Kms {
    /// New AES-256 material for `key_id`, wrapped with the root key, ready for a command.
    pub(crate) fn fresh_symmetric_material(&self, key_id: &str, now_ms: i64) -> WrappedMaterial {
        self.wrap_new_material(key_id, now_ms, &KeyMaterial::generate_symmetric(), None)
    }

    /// New material of `spec` for `key_id`: generated off the async threads (RSA-4096 takes
    /// seconds), wrapped with the root key, with the public key beside it.
    pub(crate) async fn fresh_material(
        &self,
        spec: KeySpec,
        key_id: &str,
        now_ms: i64,
    ) -> Result<WrappedMaterial, KmsError> {
        let Some(kind) = crate::key_kinds::key_kind(spec) else {
            return Ok(self.fresh_symmetric_material(key_id, now_ms));
        };
        let generated = tokio::task::spawn_blocking(move || kms_crypto::asymmetric::generate(kind))
            .await
            .map_err(|e| KmsError::KmsInternal(format!("Key generation was interrupted: {e}")))??;
        Ok(self.wrap_new_material(key_id, now_ms, &generated.material, generated.public_key))
    }

    fn wrap_new_material(
        &self,
        key_id: &str,
        now_ms: i64,
        material: &KeyMaterial,
        public_key: Option<Vec<u8>>,
    ) -> WrappedMaterial {
        let material_id = MaterialId::generate().to_hex();
        let wrapped = self
            .root_key
            .wrap(material, &WrapContext::material(key_id, &material_id));
        WrappedMaterial {
            material_id,
            wrapped,
            created_ms: now_ms,
            public_key,
        }
    }

    /// The current material of `key`, unwrapped.
    pub(crate) fn current_material<'a>(
        &self,
        key: &'a KeyRecord,
    ) -> Result<(KeyMaterial, &'a WrappedMaterial), KmsError> {
        let current = key.current_material().ok_or_else(|| {
            KmsError::KmsInvalidState(format!("{} has no key material.", key.arn))
        })?;
        Ok((self.unwrap_material(key, &current.material_id)?, current))
    }
}

impl KmsService for Kms {
    async fn sts(&self, request: kms_api::sts::StsRequest) -> Result<String, KmsError> {
        crate::sts_ops::handle(self, request)
    }

    async fn call(
        &self,
        ctx: RequestContext,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, KmsError> {
        if ctx.principal.region != self.region {
            return self.forward(ctx, body).await;
        }
        let caller = self.caller(&ctx, &body)?;
        let operation = ctx.operation;
        crate::authz::with_caller(caller, async move {
            if crate::authz::is_account_level(operation) {
                self.authorize_account()?;
            }
            self.dispatch(operation, body).await
        })
        .await
    }
}

impl Kms {
    /// Who is calling: the principal of the access key (the account's root user when this node
    /// has no identity store), the action and the request's condition keys.
    fn caller(
        &self,
        ctx: &RequestContext,
        body: &serde_json::Value,
    ) -> Result<crate::authz::Caller, KmsError> {
        let principal = self.principal_of(&ctx.principal)?;
        Ok(crate::authz::Caller {
            principal,
            action: crate::authz::action_for(ctx.operation),
            context: crate::authz::request_context(
                body,
                ctx.source_ip,
                ctx.secure_transport,
                time::OffsetDateTime::now_utc(),
            ),
        })
    }

    /// The principal behind a verified signature: the access key's user (or the account's
    /// root user), or the assumed role of a session token.
    pub(crate) fn principal_of(
        &self,
        principal: &kms_api::Principal,
    ) -> Result<Arc<crate::identities::PrincipalInfo>, KmsError> {
        let unknown = || {
            KmsError::UnrecognizedClient(
                "The security token included in the request is invalid.".into(),
            )
        };
        match (&self.identities, &principal.session_token) {
            (Some(store), Some(token)) => store.session_principal(token).ok_or_else(unknown),
            (Some(store), None) => store
                .principal(&principal.access_key_id)
                .ok_or_else(unknown),
            (None, _) => Ok(Arc::new(crate::identities::PrincipalInfo {
                arn: format!("arn:aws:iam::{}:root", self.account_id),
                account: self.account_id.clone(),
                policies: Arc::new(Vec::new()),
                user_id: self.account_id.clone(),
            })),
        }
    }

    async fn dispatch(
        &self,
        operation: Operation,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, KmsError> {
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

impl Kms {
    /// Runs a request signed for another region in that region's cluster.
    async fn forward(
        &self,
        ctx: RequestContext,
        body: serde_json::Value,
    ) -> Result<serde_json::Value, KmsError> {
        let Some(link) = self.link.as_ref() else {
            return Err(KmsError::UnrecognizedClient(format!(
                "This node serves region {}, not {}.",
                self.region, ctx.principal.region
            )));
        };
        let call = crate::region_link::ForwardedCall {
            operation: ctx.operation,
            access_key_id: ctx.principal.access_key_id,
            session_token: ctx.principal.session_token,
            request_id: ctx.request_id,
            body,
            source_ip: ctx.source_ip,
            secure_transport: ctx.secure_transport,
        };
        link.forward(&ctx.principal.region, call).await
    }
}

/// An empty JSON object, the response of operations that return nothing.
#[derive(serde::Serialize)]
pub(crate) struct Empty {}
