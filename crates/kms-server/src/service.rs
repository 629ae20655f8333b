//! [`Kms`]: the KMS service of one region as one node serves it, on top of the region's Raft
//! group: its state (the Raft group, the root key, the identities, the authorizer, the link to
//! other regions) and the primitives every operation uses (commit, linearizable read, key
//! material). The `KmsService` entry point and the operations are in `call` (one `Call` per
//! request, with its caller); this module does not know them.
//!
//! Writes become [`Command`]s committed through the leader; reads pass a linearizable read
//! barrier and then look at this node's applied state. Clock and randomness are used here, on
//! the proposing side, never in the state machine.

use crate::key_use::KeyUseLog;
#[cfg(feature = "testing")]
use crate::planted_bugs::PlantedBugs;
use kms_authz::{Authorizer, IdentityStore};
use kms_core::{Command, CommandOutput, KeyRecord, State, WrappedMaterial};
use kms_crypto::{KeyMaterial, MaterialId, RootKey, WrapContext};
use kms_raft::RegionRaft;
use kms_replication::Replication;
use kms_types::{Clock, KeySpec, KmsError, RotationType};
use std::sync::Arc;

/// The system clock. In builds with the `testing` feature, if `TRENT_TEST_CLOCK_OFFSET_FILE`
/// names a file, its content (milliseconds, may be negative) is added to every reading, so tests
/// can move a node's notion of time (deletion dates, clock skew) without waiting.
pub fn system_clock() -> Clock {
    #[cfg(feature = "testing")]
    if let Some(path) = std::env::var_os("TRENT_TEST_CLOCK_OFFSET_FILE") {
        return Clock::new(move || {
            let offset = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse::<i64>().ok());
            kms_types::system_now_ms() + offset.unwrap_or(0)
        });
    }
    Clock::system()
}

/// One region's KMS service as served by one node.
pub struct Kms {
    raft: Arc<RegionRaft>,
    /// The root key and the root-key generations of the region.
    keyring: crate::root_keyring::RegionKeyring,
    region: String,
    account_id: String,
    clock: Clock,
    /// Planted bugs (test build only).
    #[cfg(feature = "testing")]
    planted: PlantedBugs,
    /// Who may call, with their identity policies.
    identities: Arc<IdentityStore>,
    /// Decides every request (key policies parsed once).
    authorizer: Authorizer,
    /// The link to other regions, if this region has peers.
    replication: Option<Arc<Replication>>,
    /// The front door's checks (credentials, clock, body limit, audit), which a call
    /// forwarded from another region passes again here.
    front_door: Option<kms_api::ApiConfig>,
    /// Key uses served here and not yet recorded through Raft (GetKeyLastUsage).
    key_uses: KeyUseLog,
    /// The seed file's keys, if the node has one.
    seed: Option<Arc<crate::seed_file::Seed>>,
    /// Whether the reset endpoints may wipe the cluster.
    allow_reset: bool,
    /// Whether the seed is applied (always, without one); the API waits for it.
    seeded: tokio::sync::watch::Sender<bool>,
    /// Whether this node has applied what its region committed before it served (`readiness`).
    caught_up: std::sync::atomic::AtomicBool,
    /// This node's connections to custom key stores' backends.
    key_stores: crate::key_store_backends::KeyStoreBackends,
}

impl Kms {
    /// Builds the service for `region`, authorizing callers against `identities`;
    /// `account_id` is the node's default account (keys belong to their caller's account).
    pub fn new(
        raft: Arc<RegionRaft>,
        root_key: RootKey,
        region: String,
        account_id: String,
        clock: Clock,
        identities: Arc<IdentityStore>,
    ) -> Kms {
        Kms {
            authorizer: Authorizer::new(&region),
            raft,
            keyring: crate::root_keyring::RegionKeyring::new(root_key),
            region,
            account_id,
            clock,
            #[cfg(feature = "testing")]
            planted: PlantedBugs::from_env(),
            identities,
            replication: None,
            front_door: None,
            key_uses: KeyUseLog::default(),
            seed: None,
            allow_reset: false,
            seeded: tokio::sync::watch::Sender::new(true),
            caught_up: std::sync::atomic::AtomicBool::new(false),
            key_stores: crate::key_store_backends::KeyStoreBackends::empty(),
        }
    }

    /// Sets how this node reaches custom key stores' backends.
    pub fn with_key_stores(mut self, config: kms_config::CustomKeyStores) -> anyhow::Result<Kms> {
        self.key_stores = crate::key_store_backends::KeyStoreBackends::new(config)?;
        Ok(self)
    }

    /// This node's connections to custom key stores' backends.
    pub(crate) fn key_store_backends(&self) -> &crate::key_store_backends::KeyStoreBackends {
        &self.key_stores
    }

    /// Gives the node a seed: requests wait until it is applied.
    pub fn with_seed(mut self, seed: Option<crate::seed_file::Seed>) -> Kms {
        self.seeded.send_replace(seed.is_none());
        self.seed = seed.map(Arc::new);
        self
    }

    /// Switches the reset endpoints on (`TRENT_ALLOW_RESET=1`).
    pub fn with_reset(mut self, allow_reset: bool) -> Kms {
        self.allow_reset = allow_reset;
        self
    }

    /// The node's seed, if any.
    pub(crate) fn seed(&self) -> Option<Arc<crate::seed_file::Seed>> {
        self.seed.clone()
    }

    /// Marks the seed applied (or not, while a reset re-applies it).
    pub(crate) fn set_seeded(&self, seeded: bool) {
        self.seeded.send_replace(seeded);
    }

    /// Waits (a while) until the seed is applied; a retryable error after that.
    pub(crate) async fn wait_seeded(&self) -> Result<(), KmsError> {
        let mut seeded = self.seeded.subscribe();
        let waited =
            tokio::time::timeout(std::time::Duration::from_secs(10), seeded.wait_for(|s| *s)).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ => Err(KmsError::DependencyTimeout(
                "Trent is applying its seed file; try again.".into(),
            )),
        }
    }

    /// Wipes this region through Raft (`Command::Reset`: keys, aliases of every account,
    /// grants, import tokens, queued messages to other regions), if reset is switched on.
    /// Requests wait from here until the seed is applied again ([`Kms::reseed`]).
    pub(crate) async fn reset_region(&self) -> Result<(), KmsError> {
        if !self.allow_reset {
            return Err(KmsError::UnsupportedOperation(
                "Reset is off in this region (TRENT_ALLOW_RESET=1 switches it on).".into(),
            ));
        }
        if self.seed.is_some() {
            self.set_seeded(false);
        }
        match self.write(Command::Reset).await {
            Ok(_) => {
                tracing::warn!(region = %self.region, "the region's state was reset");
                Ok(())
            }
            Err(e) => {
                self.set_seeded(true);
                Err(e)
            }
        }
    }

    /// Connects this region to its peers: requests signed for a peer region are forwarded
    /// there, and multi-region operations can reach them.
    pub fn with_replication(mut self, replication: Arc<Replication>) -> Kms {
        self.replication = Some(replication);
        self
    }

    /// Sets the front door's configuration, so calls forwarded from other regions are verified
    /// and audited as this node's own are.
    pub fn with_front_door(mut self, config: kms_api::ApiConfig) -> Kms {
        self.front_door = Some(config);
        self
    }

    /// The front door's configuration, if set.
    pub(crate) fn front_door(&self) -> Option<&kms_api::ApiConfig> {
        self.front_door.as_ref()
    }

    /// The node's default account.
    pub(crate) fn account_id(&self) -> &str {
        &self.account_id
    }

    /// This region.
    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The link to other regions, if any.
    pub(crate) fn replication(&self) -> Option<&Replication> {
        self.replication.as_deref()
    }

    /// Key uses served here and not yet recorded.
    pub(crate) fn key_uses(&self) -> &KeyUseLog {
        &self.key_uses
    }

    /// Who may call.
    pub(crate) fn identities(&self) -> &IdentityStore {
        &self.identities
    }

    /// The authorizer of this region.
    pub(crate) fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    /// The planted bugs this node runs with (test build only).
    #[cfg(feature = "testing")]
    pub(crate) fn planted(&self) -> PlantedBugs {
        self.planted
    }

    /// This node's current Raft view (term, leader, indexes, replication).
    pub(crate) fn raft_metrics(&self) -> kms_raft::RaftMetrics {
        self.raft.raft().metrics().borrow().clone()
    }

    /// Marks this node caught up with its region (`readiness`).
    pub(crate) fn mark_caught_up(&self) {
        self.caught_up
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether this node has caught up with its region since it started.
    pub(crate) fn is_caught_up(&self) -> bool {
        self.caught_up.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether this node leads the region.
    pub(crate) fn is_leader(&self) -> bool {
        self.raft.is_leader()
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
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

    /// Runs `f` on this node's applied state, without a barrier (after one the caller passed).
    pub(crate) fn read_applied<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        self.raft.reader().read(f)
    }

    /// Planted bug `ack-before-commit` (test build only): proposes `command` in the
    /// background, a little later, without waiting for it.
    #[cfg(feature = "testing")]
    pub(crate) fn propose_detached(&self, command: Command) {
        let raft = self.raft.clone();
        tokio::spawn(async move {
            // Widen the window in which an acknowledged key exists nowhere but here.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            raft.write(command).await
        });
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
        self.unwrap_with_root_key(
            &wrapped.wrapped,
            &WrapContext::material(&key.key_id, material_id),
        )
    }
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
        let wrapped =
            self.wrap_with_root_key(material, &WrapContext::material(key_id, &material_id));
        WrappedMaterial {
            material_id,
            wrapped,
            created_ms: now_ms,
            public_key,
            import: None,
        }
    }

    /// Wraps `material` under the region's current root-key generation, bound to `context`
    /// (new and imported material, the private half of an import wrapping key).
    pub(crate) fn wrap_with_root_key(
        &self,
        material: &KeyMaterial,
        context: &WrapContext,
    ) -> Vec<u8> {
        let current = self.read_applied(|state| state.root_keys().current);
        if self.keyring.current() != current {
            if let Err(e) = self.read_applied(|state| self.keyring.follow(state)) {
                // Wrapped under the generation held; the rotation re-wraps it, or the commit
                // refuses it if that generation is retired.
                tracing::error!(error = %e, "cannot follow the region's root-key generation");
            }
        }
        self.keyring.wrap(material, context)
    }

    /// Unwraps what [`Kms::wrap_with_root_key`] wrapped, under any generation not retired.
    pub(crate) fn unwrap_with_root_key(
        &self,
        wrapped: &[u8],
        context: &WrapContext,
    ) -> Result<KeyMaterial, KmsError> {
        if let Some(generation) = kms_crypto::wrapped_generation(wrapped) {
            if !self.keyring.holds(generation) {
                self.read_applied(|state| self.keyring.open(state, generation))?;
            }
        }
        self.keyring.unwrap(wrapped, context)
    }

    /// `old` unwrapped and wrapped again under the current root-key generation (a rotation).
    pub(crate) fn rewrap_blob(
        &self,
        old: &[u8],
        context: &WrapContext,
    ) -> Result<Vec<u8>, KmsError> {
        let material = self.unwrap_with_root_key(old, context)?;
        Ok(self.wrap_with_root_key(&material, context))
    }

    /// Starts a root-key rotation: a new generation through the log, after which the leader
    /// re-wraps every blob and retires the old generations. Answers the new generation.
    pub(crate) async fn rotate_root_key(&self) -> Result<u32, KmsError> {
        let (rotating, (generation, sealed)) = self
            .read(|state| {
                (
                    state.root_keys().rotating(),
                    self.keyring.next_generation(state),
                )
            })
            .await?;
        if rotating {
            return Err(KmsError::KmsInvalidState(
                "A root-key rotation is still re-wrapping key material; wait for it to finish."
                    .into(),
            ));
        }
        self.write(Command::AddRootKeyGeneration { generation, sealed })
            .await?;
        Ok(generation)
    }

    /// Where the region's root-key generations stand (`GET /raft/root-key`).
    pub(crate) fn root_key_status(&self) -> serde_json::Value {
        self.read_applied(|state| {
            let keys = state.root_keys();
            let (behind, tokens) = state.blobs_to_rewrap(None, usize::MAX);
            serde_json::json!({
                "current": keys.current,
                "retired_below": keys.retired_below,
                "generations": keys.sealed.keys().collect::<Vec<_>>(),
                "rotating": keys.rotating(),
                "keys_to_rewrap": behind.len(),
                "import_tokens_to_rewrap": tokens.len(),
            })
        })
    }

    /// A `RotateKey` command for `key` with fresh material.
    pub(crate) fn rotation_command(
        &self,
        key: &KeyRecord,
        rotation_type: RotationType,
    ) -> Result<Command, KmsError> {
        let current = key.current_material().ok_or_else(|| {
            KmsError::KmsInvalidState(format!("{} has no key material.", key.arn))
        })?;
        let now_ms = self.now_ms();
        let next_rotation_ms = key
            .rotation_period_days
            .map(|days| now_ms + i64::from(days) * DAY_MS);
        Ok(Command::RotateKey {
            key_id: key.key_id.clone(),
            expected_current: current.material_id.clone(),
            material: self.fresh_symmetric_material(&key.key_id, now_ms),
            rotation_type,
            next_rotation_ms,
        })
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

/// One day in milliseconds.
pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;
