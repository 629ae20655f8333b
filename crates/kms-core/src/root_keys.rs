//! The region's root-key generations in the replicated state, and the three commands of a
//! rotation: [`Command::AddRootKeyGeneration`](crate::Command::AddRootKeyGeneration) makes a new
//! generation current, [`Command::Rewrap`](crate::Command::Rewrap) replaces blobs wrapped under
//! an older one (compare-and-swap, so a stale rewrap changes nothing), and
//! [`Command::RetireRootKeyGenerations`](crate::Command::RetireRootKeyGenerations) drops the old
//! generations once no blob anywhere in the state is wrapped under one.
//!
//! Generation 0 is the sealed root key itself; a generation n ≥ 1 is held here wrapped by it.
//! Which generation wrapped a blob is read off its header ([`blob_generation`]: the first bytes
//! of kms-crypto's wrapping format, version 1 = generation 0, version 2 = the big-endian u32
//! that follows). The retirement check and the refusal of material under a retired generation
//! walk the JSON of the state or command and look at every `wrapped` and `wrapped_private_key`
//! field wherever it is nested, so a blob in a place this module does not name is still found.

use crate::{Command, CommandOutput, KeyRecord, State};
use kms_types::KmsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The fields that hold blobs wrapped by a root-key generation.
const BLOB_FIELDS: [&str; 2] = ["wrapped", "wrapped_private_key"];

/// The region's root-key generations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootKeyGenerations {
    /// The generation that wraps new material (0: the sealed root key).
    pub current: u32,
    /// Generations ≥ 1 still held, each wrapped by the root key.
    pub sealed: BTreeMap<u32, Vec<u8>>,
    /// Every generation below this one is retired: nothing in the state is wrapped under it,
    /// and a command carrying material wrapped under one is refused.
    pub retired_below: u32,
}

impl RootKeyGenerations {
    /// Whether a rotation is still re-wrapping: some generation below the current one is not
    /// retired yet.
    pub fn rotating(&self) -> bool {
        self.retired_below < self.current
    }
}

/// The generation that wrapped `blob` (kms-crypto's format); `None` for an empty blob (deleted
/// imported material) or bytes in no wrapping format.
pub fn blob_generation(blob: &[u8]) -> Option<u32> {
    match blob.first() {
        Some(1) => Some(0),
        Some(2) if blob.len() >= 5 => {
            Some(u32::from_be_bytes([blob[1], blob[2], blob[3], blob[4]]))
        }
        _ => None,
    }
}

/// Every blob in `value`'s blob fields, however deeply nested, given to `f` with its generation.
fn visit_blobs(value: &serde_json::Value, f: &mut impl FnMut(u32)) {
    match value {
        serde_json::Value::Object(fields) => {
            for (name, field) in fields {
                if BLOB_FIELDS.contains(&name.as_str()) {
                    if let Some(generation) = json_blob_generation(field) {
                        f(generation);
                    }
                } else {
                    visit_blobs(field, f);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| visit_blobs(item, f)),
        _ => {}
    }
}

fn json_blob_generation(field: &serde_json::Value) -> Option<u32> {
    let bytes: Vec<u8> = field
        .as_array()?
        .iter()
        .take(5)
        .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
        .collect::<Option<_>>()?;
    blob_generation(&bytes)
}

/// The lowest generation any blob in `value` is wrapped under, and how many blobs are below
/// `floor`.
fn scan(value: &impl Serialize, floor: u32) -> (Option<u32>, usize) {
    let Ok(value) = serde_json::to_value(value) else {
        return (None, 0);
    };
    let (mut lowest, mut below) = (None::<u32>, 0);
    visit_blobs(&value, &mut |generation| {
        lowest = Some(lowest.map_or(generation, |l| l.min(generation)));
        if generation < floor {
            below += 1;
        }
    });
    (lowest, below)
}

/// Every blob of one key: its material versions, a pending rotation and a staged multi-region
/// rotation.
fn key_blobs_mut(key: &mut KeyRecord) -> impl Iterator<Item = &mut Vec<u8>> {
    let staged = key
        .mrk
        .as_mut()
        .and_then(|m| m.staged.as_mut())
        .map(|s| &mut s.material.wrapped);
    key.materials
        .iter_mut()
        .map(|m| &mut m.wrapped)
        .chain(key.pending_rotation.as_mut().map(|m| &mut m.wrapped))
        .chain(staged)
}

/// [`key_blobs_mut`], read-only.
fn key_blobs(key: &KeyRecord) -> impl Iterator<Item = &Vec<u8>> {
    let staged = key
        .mrk
        .as_ref()
        .and_then(|m| m.staged.as_ref())
        .map(|s| &s.material.wrapped);
    key.materials
        .iter()
        .map(|m| &m.wrapped)
        .chain(key.pending_rotation.as_ref().map(|m| &m.wrapped))
        .chain(staged)
}

impl State {
    /// The region's root-key generations.
    pub fn root_keys(&self) -> &RootKeyGenerations {
        &self.root_keys
    }

    /// Keys after key id `after` (up to `limit`, in key id order) holding a blob wrapped under
    /// a generation below the current one, and every import token likewise: what a rotation
    /// still has to re-wrap.
    pub fn blobs_to_rewrap(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<&KeyRecord>, Vec<(&str, &[u8])>) {
        use std::ops::Bound;
        let current = self.root_keys.current;
        let behind = |blob: &[u8]| blob_generation(blob).is_some_and(|g| g < current);
        let start = after.map_or(Bound::Unbounded, |a| Bound::Excluded(a.to_string()));
        let keys = self
            .keys
            .range((start, Bound::Unbounded))
            .map(|(_, key)| key)
            .filter(|key| key_blobs(key).any(|blob| behind(blob)))
            .take(limit)
            .collect();
        let tokens = self
            .import_tokens
            .iter()
            .filter(|(_, p)| behind(&p.wrapped_private_key))
            .map(|(id, p)| (id.as_str(), p.wrapped_private_key.as_slice()))
            .collect();
        (keys, tokens)
    }

    /// Refuses `command` if it carries material wrapped under a retired generation (proposed
    /// before the retirement, committed after it): its material could never be opened.
    pub(crate) fn check_blob_generations(&self, command: &Command) -> Result<(), KmsError> {
        let floor = self.root_keys.retired_below;
        let carries_blobs = matches!(
            command,
            Command::CreateKey { .. }
                | Command::RotateKey { .. }
                | Command::ApplyRegionMessage { .. }
                | Command::StoreImportParameters { .. }
                | Command::ImportKeyMaterial { .. }
                | Command::Rewrap { .. }
        );
        if floor == 0 || !carries_blobs {
            return Ok(());
        }
        match scan(command, floor) {
            (_, 0) => Ok(()),
            (lowest, _) => Err(KmsError::KmsInternal(format!(
                "The request's key material was wrapped under root-key generation {lowest:?}, \
                 retired meanwhile. Retry the request."
            ))),
        }
    }

    /// Applies [`Command::AddRootKeyGeneration`](crate::Command::AddRootKeyGeneration).
    pub(crate) fn add_root_key_generation(
        &mut self,
        generation: u32,
        sealed: &[u8],
    ) -> Result<CommandOutput, KmsError> {
        let keys = &mut self.root_keys;
        if keys.rotating() {
            return Err(KmsError::KmsInvalidState(format!(
                "A root-key rotation to generation {} is still re-wrapping key material.",
                keys.current
            )));
        }
        if generation != keys.current + 1 {
            return Err(KmsError::KmsInvalidState(format!(
                "Root-key generation {generation} does not follow generation {}.",
                keys.current
            )));
        }
        keys.sealed.insert(generation, sealed.to_vec());
        keys.current = generation;
        Ok(CommandOutput::Empty)
    }

    /// Every custom key store whose secret is wrapped under a generation below the current
    /// one: (store id, blob).
    pub fn store_secrets_to_rewrap(&self) -> Vec<(&str, &[u8])> {
        let current = self.root_keys.current;
        self.custom_key_stores
            .values()
            .map(|store| (store.id.as_str(), store.backend.secret().wrapped.as_slice()))
            .filter(|(_, blob)| blob_generation(blob).is_some_and(|g| g < current))
            .collect()
    }

    /// Applies [`Command::Rewrap`](crate::Command::Rewrap): in the named keys and import tokens,
    /// and in every custom key store's secret, each blob equal to an `old` is replaced by its
    /// `new`; any other blob stays.
    pub(crate) fn rewrap(
        &mut self,
        key_ids: &[String],
        token_ids: &[String],
        blobs: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<CommandOutput, KmsError> {
        let current = self.root_keys.current;
        if blobs
            .iter()
            .any(|(_, new)| blob_generation(new) != Some(current))
        {
            return Err(KmsError::KmsInternal(format!(
                "A re-wrapped blob is not under the current root-key generation {current}."
            )));
        }
        let replacement: BTreeMap<&[u8], &[u8]> = blobs
            .iter()
            .map(|(old, new)| (old.as_slice(), new.as_slice()))
            .collect();
        let mut replaced = 0;
        let mut swap = |blob: &mut Vec<u8>| {
            if let Some(new) = replacement.get(blob.as_slice()) {
                *blob = new.to_vec();
                replaced += 1;
            }
        };
        for key_id in key_ids {
            if let Some(key) = self.keys.get_mut(key_id) {
                key_blobs_mut(key).for_each(&mut swap);
            }
        }
        for token_id in token_ids {
            if let Some(parameters) = self.import_tokens.get_mut(token_id) {
                swap(&mut parameters.wrapped_private_key);
            }
        }
        for store in self.custom_key_stores.values_mut() {
            swap(&mut store.backend.secret_mut().wrapped);
        }
        Ok(CommandOutput::Deleted(replaced))
    }

    /// Applies [`Command::RetireRootKeyGenerations`](crate::Command::RetireRootKeyGenerations):
    /// refused while any blob in the state is wrapped under a generation below `below`.
    pub(crate) fn retire_root_key_generations(
        &mut self,
        below: u32,
    ) -> Result<CommandOutput, KmsError> {
        if below > self.root_keys.current {
            return Err(KmsError::KmsInvalidState(format!(
                "Generation {below} is not in use yet (current is {}).",
                self.root_keys.current
            )));
        }
        if below <= self.root_keys.retired_below {
            return Ok(CommandOutput::Empty);
        }
        let (lowest, remaining) = scan(self, below);
        if remaining > 0 {
            return Err(KmsError::KmsInvalidState(format!(
                "{remaining} blobs are still wrapped under root-key generation {lowest:?}."
            )));
        }
        let keys = &mut self.root_keys;
        keys.retired_below = below;
        keys.sealed.retain(|generation, _| *generation >= below);
        Ok(CommandOutput::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob as kms-crypto would write it under `generation`.
    fn blob(generation: u32, tag: u8) -> Vec<u8> {
        if generation == 0 {
            vec![1, tag, tag]
        } else {
            let mut b = vec![2];
            b.extend_from_slice(&generation.to_be_bytes());
            b.extend_from_slice(&[tag, tag]);
            b
        }
    }

    fn region_with_keys() -> State {
        let mut state = crate::tests::state_with_keys_and_aliases(3);
        let ids: Vec<String> = state.keys.keys().cloned().collect();
        for (i, id) in ids.iter().enumerate() {
            state.keys.get_mut(id).unwrap().materials[0].wrapped = blob(0, i as u8);
        }
        state
    }

    fn add(state: &mut State, generation: u32) -> Response {
        state.apply(&Command::AddRootKeyGeneration {
            generation,
            sealed: vec![1, 9, 9],
        })
    }

    use crate::Response;

    #[test]
    fn a_rotation_rewraps_every_blob_then_retires_the_old_generation() {
        let mut state = region_with_keys();
        assert!(add(&mut state, 1).0.is_ok());
        assert!(state.root_keys().rotating());
        // A second rotation waits for this one; retiring now is refused, naming what is left.
        assert!(add(&mut state, 2).0.is_err());
        let early = state.apply(&Command::RetireRootKeyGenerations { below: 1 });
        assert!(matches!(early.0, Err(KmsError::KmsInvalidState(ref m)) if m.contains("3 blobs")));

        let (keys, _) = state.blobs_to_rewrap(None, 10);
        let key_ids: Vec<String> = keys.iter().map(|k| k.key_id.clone()).collect();
        let blobs: Vec<(Vec<u8>, Vec<u8>)> = keys
            .iter()
            .map(|k| {
                (
                    k.materials[0].wrapped.clone(),
                    blob(1, k.materials[0].wrapped[1]),
                )
            })
            .collect();
        assert_eq!(key_ids.len(), 3);
        // A stale rewrap (its old blob is not there) changes nothing.
        let stale = Command::Rewrap {
            key_ids: key_ids.clone(),
            token_ids: Vec::new(),
            blobs: vec![(blob(0, 77), blob(1, 77))],
        };
        assert!(matches!(
            state.apply(&stale).0,
            Ok(CommandOutput::Deleted(0))
        ));
        let rewrap = Command::Rewrap {
            key_ids,
            token_ids: Vec::new(),
            blobs,
        };
        assert!(matches!(
            state.apply(&rewrap).0,
            Ok(CommandOutput::Deleted(3))
        ));
        assert!(state.blobs_to_rewrap(None, 10).0.is_empty());
        assert!(state
            .apply(&Command::RetireRootKeyGenerations { below: 1 })
            .0
            .is_ok());
        assert!(!state.root_keys().rotating());

        // Material wrapped under the retired generation, committed late, is refused.
        let mut late = crate::tests::record("11111111-2222-3333-4444-999999999999");
        late.materials[0].wrapped = blob(0, 5);
        let refused = state.apply(&Command::CreateKey {
            record: late.clone(),
        });
        assert!(matches!(refused.0, Err(KmsError::KmsInternal(_))));
        late.materials[0].wrapped = blob(1, 5);
        assert!(state.apply(&Command::CreateKey { record: late }).0.is_ok());

        // The next rotation retires generation 1 and drops its sealed key.
        assert!(add(&mut state, 2).0.is_ok());
        let (keys, _) = state.blobs_to_rewrap(None, 10);
        let rewrap = Command::Rewrap {
            key_ids: keys.iter().map(|k| k.key_id.clone()).collect(),
            token_ids: Vec::new(),
            blobs: keys
                .iter()
                .map(|k| {
                    (
                        k.materials[0].wrapped.clone(),
                        blob(2, k.materials[0].wrapped[5]),
                    )
                })
                .collect(),
        };
        assert!(state.apply(&rewrap).0.is_ok());
        assert!(state
            .apply(&Command::RetireRootKeyGenerations { below: 2 })
            .0
            .is_ok());
        assert_eq!(
            state.root_keys().sealed.keys().collect::<Vec<_>>(),
            vec![&2]
        );
    }

    #[test]
    fn a_blob_anywhere_in_the_state_holds_its_generation() {
        let mut state = region_with_keys();
        assert!(add(&mut state, 1).0.is_ok());
        let ids: Vec<String> = state.keys.keys().cloned().collect();
        for id in &ids {
            state.keys.get_mut(id).unwrap().materials[0].wrapped = blob(1, 3);
        }
        // One old blob left in a pending rotation, then in an import token.
        let mut pending = state.keys[&ids[0]].materials[0].clone();
        pending.wrapped = blob(0, 4);
        state.keys.get_mut(&ids[0]).unwrap().pending_rotation = Some(pending);
        let refused = state.apply(&Command::RetireRootKeyGenerations { below: 1 });
        assert!(refused.0.is_err());
        assert_eq!(state.blobs_to_rewrap(None, 10).0.len(), 1);
        state.keys.get_mut(&ids[0]).unwrap().pending_rotation = None;
        state.import_tokens.insert(
            "t1".into(),
            crate::ImportParameters {
                key_id: ids[1].clone(),
                wrapping_key_spec: kms_types::WrappingKeySpec::Rsa2048,
                wrapping_algorithm: kms_types::WrappingAlgorithm::RsaesOaepSha256,
                wrapped_private_key: blob(0, 6),
                valid_to_ms: 10,
            },
        );
        assert!(state
            .apply(&Command::RetireRootKeyGenerations { below: 1 })
            .0
            .is_err());
        assert_eq!(state.blobs_to_rewrap(None, 10).1.len(), 1);
        state.import_tokens.clear();
        assert!(state
            .apply(&Command::RetireRootKeyGenerations { below: 1 })
            .0
            .is_ok());
        assert_eq!(blob_generation(&[]), None);
        assert_eq!(blob_generation(&blob(7, 1)), Some(7));
    }
}

#[cfg(test)]
mod store_secret_tests {
    use super::*;
    use crate::{Command, CustomKeyStoreRecord, KeyStoreBackend, WrappedSecret};
    use kms_types::ConnectionState;

    #[test]
    fn a_rotation_rewraps_custom_key_store_secrets_before_retiring() {
        let mut state = State::default();
        let store = CustomKeyStoreRecord {
            id: "cks-1".into(),
            account_id: "111122223333".into(),
            name: "s".into(),
            creation_ms: 1,
            backend: KeyStoreBackend::CloudHsm {
                cluster_id: "cluster-1234567890ab".into(),
                trust_anchor_certificate: "pem".into(),
                password: WrappedSecret {
                    wrapped: vec![1, 7, 7],
                },
            },
            connection_state: ConnectionState::Disconnected,
            connection_error_code: None,
        };
        assert!(state
            .apply(&Command::CreateCustomKeyStore { record: store })
            .0
            .is_ok());
        let added = Command::AddRootKeyGeneration {
            generation: 1,
            sealed: vec![1, 9, 9],
        };
        assert!(state.apply(&added).0.is_ok());
        assert_eq!(
            state.store_secrets_to_rewrap(),
            vec![("cks-1", &[1u8, 7, 7][..])]
        );
        // The old generation stays while the secret is under it.
        assert!(state
            .apply(&Command::RetireRootKeyGenerations { below: 1 })
            .0
            .is_err());
        let new = vec![2, 0, 0, 0, 1, 7, 7];
        let rewrap = Command::Rewrap {
            key_ids: vec![],
            token_ids: vec![],
            blobs: vec![(vec![1, 7, 7], new.clone())],
        };
        assert!(state.apply(&rewrap).0.is_ok());
        assert!(state.store_secrets_to_rewrap().is_empty());
        let secret = &state.custom_key_store("cks-1").unwrap().backend;
        assert_eq!(secret.secret().wrapped, new);
        assert!(state
            .apply(&Command::RetireRootKeyGenerations { below: 1 })
            .0
            .is_ok());
    }
}
