//! The node's copy of the region keyring (`kms_crypto::Keyring`): the root key from the seal
//! plus the root-key generations the replicated state holds, opened on first use.
//!
//! Wrapping follows the state's current generation, so once a rotation commits every node wraps
//! new material under the new generation. Unwrapping picks the generation from the blob's
//! header; a generation this node has not opened yet is opened from the state. The leader's
//! re-wrapping is `root_key_rotation`.

use kms_core::State;
use kms_crypto::{KeyMaterial, Keyring, WrapContext};
use kms_types::KmsError;
use std::sync::{PoisonError, RwLock};

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
