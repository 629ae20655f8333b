//! [`Keyring`]: the region root key and the later generations of the key that wraps key
//! material, so the wrapping key can be rotated without touching the seal.
//!
//! Generation 0 is the sealed root key itself and writes the version-1 wrapping format of
//! [`RootKey::wrap`], so everything wrapped before rotation existed is generation 0. A rotation
//! adds generation n ≥ 1: a fresh AES-256 key, kept in the replicated state wrapped by the root
//! key ([`WrapContext::root_key_generation`]), which wraps new material from then on in
//! format version 2 (persistent):
//!
//! ```text
//! 0x02 | n (u32, big-endian) | nonce (12 bytes, random) | AES-256-GCM(material) | tag (16 bytes)
//! ```
//!
//! with AAD = `b"trent-wrap-v2" || n || context`. [`wrapped_generation`] reads the generation
//! off a wrapped blob, so material is unwrapped with the generation that wrapped it, and the
//! region can tell when nothing is left under an old generation and retire it.

use std::collections::BTreeMap;

use crate::root_key::WRAP_VERSION_GENERATION;
use crate::{CryptoError, KeyMaterial, RootKey, WrapContext};

/// The root-key generation that wrapped `wrapped`: 0 for the version-1 format, n for version 2;
/// `None` for bytes in neither format (empty, as deleted imported material is, or foreign).
pub fn wrapped_generation(wrapped: &[u8]) -> Option<u32> {
    match wrapped.first() {
        Some(1) => Some(0),
        Some(&WRAP_VERSION_GENERATION) if wrapped.len() >= 5 => {
            let mut n = [0u8; 4];
            n.copy_from_slice(&wrapped[1..5]);
            Some(u32::from_be_bytes(n))
        }
        _ => None,
    }
}

/// The root key and the generations a region holds, with the one that wraps new material.
/// `Debug` prints only the generation numbers.
#[derive(Clone)]
pub struct Keyring {
    root: RootKey,
    generations: BTreeMap<u32, RootKey>,
    current: u32,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring(current {}, generations {:?})",
            self.current,
            self.generations.keys().collect::<Vec<_>>()
        )
    }
}

impl Keyring {
    /// A keyring holding only the root key (generation 0, current).
    pub fn new(root: RootKey) -> Keyring {
        Keyring {
            root,
            generations: BTreeMap::new(),
            current: 0,
        }
    }

    /// The sealed root key (generation 0).
    pub fn root(&self) -> &RootKey {
        &self.root
    }

    /// The generation that wraps new material.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// Whether generation `generation` is held (0 always is).
    pub fn holds(&self, generation: u32) -> bool {
        generation == 0 || self.generations.contains_key(&generation)
    }

    /// A fresh key for generation `generation` (≥ 1), and that key wrapped by the root key for
    /// the replicated state.
    pub fn new_generation(&self, generation: u32) -> (RootKey, Vec<u8>) {
        let key = RootKey::generate();
        let material = KeyMaterial::from_bytes(key.export_secret().to_vec());
        let sealed = self
            .root
            .wrap(&material, &WrapContext::root_key_generation(generation));
        (key, sealed)
    }

    /// Opens generation `generation`'s key from what [`Keyring::new_generation`] sealed.
    pub fn open_generation(&self, generation: u32, sealed: &[u8]) -> Result<RootKey, CryptoError> {
        let material = self
            .root
            .unwrap(sealed, &WrapContext::root_key_generation(generation))?;
        RootKey::from_secret(material.as_bytes())
    }

    /// Holds `key` as generation `generation` (≥ 1).
    pub fn insert(&mut self, generation: u32, key: RootKey) {
        if generation > 0 {
            self.generations.insert(generation, key);
        }
    }

    /// Makes `generation` the one that wraps new material; refused unless it is held.
    pub fn set_current(&mut self, generation: u32) -> Result<(), CryptoError> {
        if !self.holds(generation) {
            return Err(CryptoError::RootKey(format!(
                "root-key generation {generation} is not held"
            )));
        }
        self.current = generation;
        Ok(())
    }

    /// Drops every generation below `floor` except the root key, which wraps the others.
    pub fn retire_below(&mut self, floor: u32) {
        self.generations
            .retain(|generation, _| *generation >= floor);
    }

    /// Wraps `material` under the current generation.
    pub fn wrap(&self, material: &KeyMaterial, context: &WrapContext) -> Vec<u8> {
        match self.generations.get(&self.current) {
            Some(key) if self.current > 0 => {
                key.wrap_as_generation(self.current, material, context)
            }
            _ => self.root.wrap(material, context),
        }
    }

    /// Unwraps `wrapped` with the generation that wrapped it; [`CryptoError::UnwrapFailed`] if
    /// that generation is not held, or for any mismatch [`RootKey::unwrap`] refuses.
    pub fn unwrap(
        &self,
        wrapped: &[u8],
        context: &WrapContext,
    ) -> Result<KeyMaterial, CryptoError> {
        match wrapped_generation(wrapped) {
            Some(0) => self.root.unwrap(wrapped, context),
            Some(generation) => self
                .generations
                .get(&generation)
                .ok_or(CryptoError::UnwrapFailed)?
                .unwrap_as_generation(generation, wrapped, context),
            None => Err(CryptoError::UnwrapFailed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> WrapContext {
        WrapContext::material("key-1", "mat-1")
    }

    #[test]
    fn each_generation_unwraps_what_it_wrapped_and_old_material_still_opens() {
        let mut ring = Keyring::new(RootKey::generate());
        let m = KeyMaterial::generate_symmetric();
        let under_root = ring.wrap(&m, &ctx());
        assert_eq!(wrapped_generation(&under_root), Some(0));

        let (key, sealed) = ring.new_generation(1);
        let opened = ring.open_generation(1, &sealed).unwrap();
        assert_eq!(opened.export_secret(), key.export_secret());
        ring.insert(1, opened);
        ring.set_current(1).unwrap();
        let under_one = ring.wrap(&m, &ctx());
        assert_eq!(wrapped_generation(&under_one), Some(1));
        assert_eq!(under_one.len(), 5 + 12 + 32 + 16);
        for wrapped in [&under_root, &under_one] {
            assert_eq!(
                ring.unwrap(wrapped, &ctx()).unwrap().as_bytes(),
                m.as_bytes()
            );
        }
        // The context and the generation number are both bound.
        assert!(ring
            .unwrap(&under_one, &WrapContext::material("key-2", "mat-1"))
            .is_err());
        let mut relabelled = under_one.clone();
        relabelled[4] = 2;
        let (two, _) = ring.new_generation(2);
        ring.insert(2, two);
        assert!(ring.unwrap(&relabelled, &ctx()).is_err());
        // A generation's sealed key opens only as that generation.
        assert!(ring.open_generation(2, &sealed).is_err());
    }

    #[test]
    fn a_retired_generation_no_longer_opens_and_the_root_key_stays() {
        let mut ring = Keyring::new(RootKey::generate());
        let m = KeyMaterial::generate_symmetric();
        let under_root = ring.wrap(&m, &ctx());
        let (key, _) = ring.new_generation(1);
        ring.insert(1, key);
        ring.set_current(1).unwrap();
        let under_one = ring.wrap(&m, &ctx());
        let (key, _) = ring.new_generation(2);
        ring.insert(2, key);
        ring.set_current(2).unwrap();
        ring.retire_below(2);
        assert!(!ring.holds(1) && ring.holds(0) && ring.holds(2));
        assert_eq!(
            ring.unwrap(&under_one, &ctx()).unwrap_err(),
            CryptoError::UnwrapFailed
        );
        assert!(ring.unwrap(&under_root, &ctx()).is_ok());
        assert!(ring.set_current(1).is_err());
        assert_eq!(wrapped_generation(&[]), None);
        assert_eq!(wrapped_generation(&[9, 0, 0, 0, 1]), None);
    }
}
