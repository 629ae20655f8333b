//! The node's copy of the region keyring (`kms_crypto::Keyring`): the root key from the seal
//! plus the root-key generations the replicated state holds, opened on first use; and the
//! leader's part of a rotation, which re-wraps every blob under the current generation and then
//! retires the old ones.
//!
//! Wrapping reads the state's current generation each time, so once a rotation commits every
//! node wraps new material under the new generation. Unwrapping picks the generation from the
//! blob's header; a generation this node has not opened yet is opened from the state.

use crate::service::Kms;
use kms_core::{Command, State};
use kms_crypto::{KeyMaterial, Keyring, WrapContext};
use kms_types::KmsError;
use std::sync::{PoisonError, RwLock};

/// How many keys one `Rewrap` command re-wraps.
const REWRAP_BATCH: usize = 256;
/// How many `Rewrap` commands the leader proposes per tick of its background tasks.
const BATCHES_PER_TICK: usize = 16;

/// The node's keyring.
pub(crate) struct RegionKeyring {
    ring: RwLock<Keyring>,
}

impl RegionKeyring {
    /// A keyring of the unsealed root key alone; later generations are opened as they are met.
    pub(crate) fn new(root: kms_crypto::RootKey) -> RegionKeyring {
        RegionKeyring {
            ring: RwLock::new(Keyring::new(root)),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        self.ring.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Keyring> {
        self.ring.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether this node has generation `generation` open.
    pub(crate) fn holds(&self, generation: u32) -> bool {
        self.read().holds(generation)
    }

    /// The generation this node wraps new material under.
    pub(crate) fn current(&self) -> u32 {
        self.read().current()
    }

    /// Opens generation `generation` from `state` if this node does not hold it yet.
    pub(crate) fn open(&self, state: &State, generation: u32) -> Result<(), KmsError> {
        if self.holds(generation) {
            return Ok(());
        }
        let sealed = state.root_keys().sealed.get(&generation).ok_or_else(|| {
            KmsError::KmsInternal(format!(
                "Root-key generation {generation} is not in this region's state (retired?)."
            ))
        })?;
        let mut ring = self.write();
        let key = ring.open_generation(generation, sealed).map_err(|_| {
            KmsError::KmsInternal(format!(
                "Root-key generation {generation} does not open under this node's root key."
            ))
        })?;
        ring.insert(generation, key);
        Ok(())
    }

    /// Makes `state`'s current generation this node's current one (opening it first), and
    /// drops the generations the state has retired.
    pub(crate) fn follow(&self, state: &State) -> Result<(), KmsError> {
        let keys = state.root_keys();
        self.open(state, keys.current)?;
        let mut ring = self.write();
        ring.set_current(keys.current)
            .map_err(|e| KmsError::KmsInternal(e.to_string()))?;
        ring.retire_below(keys.retired_below);
        Ok(())
    }

    /// Wraps `material` under this node's current generation.
    pub(crate) fn wrap(&self, material: &KeyMaterial, context: &WrapContext) -> Vec<u8> {
        self.read().wrap(material, context)
    }

    /// Unwraps `wrapped` with the generation that wrapped it, if this node holds it.
    pub(crate) fn unwrap(
        &self,
        wrapped: &[u8],
        context: &WrapContext,
    ) -> Result<KeyMaterial, KmsError> {
        self.read().unwrap(wrapped, context).map_err(|_| {
            KmsError::KmsInternal(
                "Wrapped data could not be unwrapped with this region's root keys.".into(),
            )
        })
    }

    /// A new generation after `state`'s current one, sealed by the root key, for
    /// `Command::AddRootKeyGeneration`.
    pub(crate) fn next_generation(&self, state: &State) -> (u32, Vec<u8>) {
        let generation = state.root_keys().current + 1;
        let (_, sealed) = self.read().new_generation(generation);
        (generation, sealed)
    }
}

/// The leader's share of a rotation in progress, each tick: `Rewrap` commands of up to
/// [`REWRAP_BATCH`] keys each, walking the keys in order (at most [`BATCHES_PER_TICK`] of them),
/// and, once a walk from the first key finds nothing left under an old generation, the
/// retirement of the old generations.
pub(crate) async fn rewrap_step(kms: &Kms) {
    let mut after: Option<String> = None;
    for _ in 0..BATCHES_PER_TICK {
        match rewrap_batch(kms, after.as_deref()).await {
            Some(last) => after = Some(last),
            None => return,
        }
    }
}

/// One batch after key `after`; the last key it re-wrapped, or `None` when this tick is done.
async fn rewrap_batch(kms: &Kms, after: Option<&str>) -> Option<String> {
    let plan = kms.read_applied(|state| {
        let keys = state.root_keys();
        if !keys.rotating() {
            return None;
        }
        let current = keys.current;
        let (records, tokens) = state.blobs_to_rewrap(after, REWRAP_BATCH);
        let key_ids: Vec<String> = records.iter().map(|k| k.key_id.clone()).collect();
        let mut blobs = Vec::new();
        for key in &records {
            for (material_id, wrapped) in key_blobs(key) {
                if kms_crypto::wrapped_generation(wrapped).is_some_and(|g| g < current) {
                    blobs.push((
                        wrapped.to_vec(),
                        WrapContext::material(&key.key_id, material_id),
                    ));
                }
            }
        }
        let token_ids: Vec<String> = tokens.iter().map(|(id, _)| (*id).to_string()).collect();
        for (token_id, wrapped) in &tokens {
            let key_id = state
                .import_parameters(token_id)
                .map(|p| p.key_id.clone())
                .unwrap_or_default();
            blobs.push((
                wrapped.to_vec(),
                WrapContext::import_wrapping_key(&key_id, token_id),
            ));
        }
        Some((current, key_ids, token_ids, blobs))
    });
    let (current, key_ids, token_ids, blobs) = plan?;
    if blobs.is_empty() {
        // Nothing after the cursor; only a walk from the first key may retire.
        if after.is_none() {
            match kms
                .write(Command::RetireRootKeyGenerations { below: current })
                .await
            {
                Ok(_) => tracing::info!(
                    generation = current,
                    "root-key rotation done: older generations retired"
                ),
                Err(e) => tracing::warn!(error = %e, "retiring old root-key generations"),
            }
        }
        return None;
    }
    let mut pairs = Vec::with_capacity(blobs.len());
    for (old, context) in blobs {
        match kms.rewrap_blob(&old, &context) {
            Ok(new) => pairs.push((old, new)),
            Err(e) => {
                tracing::error!(error = %e, "a blob under an old root-key generation does not open; the rotation waits");
                return None;
            }
        }
    }
    let last = key_ids.last().cloned();
    let command = Command::Rewrap {
        key_ids,
        token_ids,
        blobs: pairs,
    };
    match kms.write(command).await {
        Ok(output) => {
            tracing::debug!(
                ?output,
                generation = current,
                "re-wrapped blobs under the current root-key generation"
            );
            // Tokens only (no key left after the cursor): the next tick walks again.
            last
        }
        Err(e) => {
            tracing::warn!(error = %e, "root-key rotation step");
            None
        }
    }
}

/// Each blob of `key` with the material id it is bound to.
pub(crate) fn key_blobs(key: &kms_core::KeyRecord) -> Vec<(&str, &[u8])> {
    let staged = key
        .mrk
        .as_ref()
        .and_then(|m| m.staged.as_ref())
        .map(|s| &s.material);
    key.materials
        .iter()
        .chain(key.pending_rotation.as_ref())
        .chain(staged)
        .filter(|m| !m.wrapped.is_empty())
        .map(|m| (m.material_id.as_str(), m.wrapped.as_slice()))
        .collect()
}
