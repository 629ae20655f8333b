//! Restoring a region from a backup: a backup's state is split into parts
//! ([`State::split_for_restore`]), each small enough for one Raft entry, and the parts go
//! through the log in order as [`Command::Restore`](crate::Command::Restore), so every node of
//! the region holds the same restored state.
//!
//! Part 0 replaces an empty region's state with the backup's (its scalars, outbox and first
//! keys) and records the restore in progress; each later part adds its keys with their aliases,
//! grants, import tokens and last uses; the last part ends the restore. A part is applied only
//! in its turn and only for the backup in progress, and a restore that was cut off starts again
//! from part 0 of the same backup.
//!
//! A part is carried as the JSON of a [`State`], not as a `State`: the Raft wire is bincode and
//! `State` decodes through its older field layout; JSON is what the backup file holds anyway.

use crate::{CommandOutput, State};
use kms_types::KmsError;
use serde::{Deserialize, Serialize};

/// A part of a backup's state, as the JSON text of a [`State`] (a string, so the log's JSON
/// holds it as text rather than as an array of numbers). `Debug` prints only its size:
/// the bytes hold wrapped key material and would flood any log line.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreImage(pub String);

impl std::fmt::Debug for RestoreImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RestoreImage({} bytes)", self.0.len())
    }
}

/// How much a state holds, for a backup's header and the operator's summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateSummary {
    /// Keys, in every state and account.
    pub keys: usize,
    /// Aliases, in every account.
    pub aliases: usize,
    /// Grants on all keys.
    pub grants: usize,
    /// Multi-region keys (primaries and replicas).
    pub multi_region_keys: usize,
    /// Messages queued for other regions.
    pub outbox: usize,
}

/// A restore in progress, in the replicated state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreProgress {
    /// The backup's id (its SHA-256).
    pub backup_id: String,
    /// The next part to apply.
    pub next_part: u32,
    /// How many parts there are.
    pub parts: u32,
}

impl State {
    /// What this state holds, counted.
    pub fn summary(&self) -> StateSummary {
        StateSummary {
            keys: self.keys.len(),
            aliases: self.account_aliases_len(),
            grants: self.grants.values().map(|g| g.len()).sum(),
            multi_region_keys: self.keys.values().filter(|k| k.mrk.is_some()).count(),
            outbox: self.outbox.len(),
        }
    }

    /// Whether the region holds nothing a restore would overwrite: no key, alias, grant, import
    /// token or queued message. (Key-use tracking may have started in an empty region.)
    pub fn is_empty_region(&self) -> bool {
        self.keys.is_empty()
            && self.account_aliases_len() == 0
            && self.grants.values().all(|g| g.is_empty())
            && self.import_tokens.is_empty()
            && self.outbox.is_empty()
    }

    /// Every key of every account, by key id.
    pub fn all_keys(&self) -> impl Iterator<Item = &crate::KeyRecord> + '_ {
        self.keys.values()
    }

    /// The restore in progress, if one is.
    pub fn restore_in_progress(&self) -> Option<&RestoreProgress> {
        self.restoring.as_ref()
    }

    /// This state as the parts of a restore, each part's JSON at most about `max_part_bytes`
    /// (a single key bigger than that gets a part of its own). Part 0 holds the scalars, the
    /// root-key generations, the custom key stores and the outbox; each key travels with its aliases, grants, import tokens and last use.
    pub fn split_for_restore(&self, max_part_bytes: usize) -> Vec<RestoreImage> {
        let mut first = State {
            outbox: self.outbox.clone(),
            next_outbox_seq: self.next_outbox_seq,
            inbound: self.inbound.clone(),
            key_use_tracking_start_ms: self.key_use_tracking_start_ms,
            root_keys: self.root_keys.clone(),
            custom_key_stores: self.custom_key_stores.clone(),
            ..State::default()
        };
        // Aliases by target key, so each goes with its key.
        let mut aliases_of: std::collections::BTreeMap<&str, Vec<(&str, &str)>> =
            Default::default();
        for (account, aliases) in &self.account_aliases {
            for (name, alias) in aliases {
                aliases_of
                    .entry(alias.target_key_id.as_str())
                    .or_default()
                    .push((account.as_str(), name.as_str()));
            }
        }
        let mut parts = Vec::new();
        let mut current = std::mem::take(&mut first);
        let mut current_bytes = 0usize;
        for (key_id, record) in &self.keys {
            let mut bundle = State::default();
            bundle.keys.insert(key_id.clone(), record.clone());
            for (account, name) in aliases_of.get(key_id.as_str()).into_iter().flatten() {
                if let Some(alias) = self
                    .account_aliases
                    .get(*account)
                    .and_then(|a| a.get(*name))
                {
                    bundle
                        .account_aliases
                        .entry((*account).to_string())
                        .or_default()
                        .insert((*name).to_string(), alias.clone());
                }
            }
            if let Some(grants) = self.grants.get(key_id) {
                bundle.grants.insert(key_id.clone(), grants.clone());
            }
            if let Some(last_use) = self.key_uses.get(key_id) {
                bundle.key_uses.insert(key_id.clone(), last_use.clone());
            }
            for (token, parameters) in &self.import_tokens {
                if &parameters.key_id == key_id {
                    bundle
                        .import_tokens
                        .insert(token.clone(), parameters.clone());
                }
            }
            let bytes = serde_json::to_vec(&bundle).map_or(0, |b| b.len());
            if current_bytes > 0 && current_bytes + bytes > max_part_bytes {
                parts.push(std::mem::take(&mut current));
                current_bytes = 0;
            }
            current.merge_part(bundle);
            current_bytes += bytes;
        }
        parts.push(current);
        parts
            .iter()
            .map(|part| RestoreImage(serde_json::to_string(part).unwrap_or_default()))
            .collect()
    }

    /// Adds the keys (with their aliases, grants, tokens and uses) of `part`; what is already
    /// here stays.
    fn merge_part(&mut self, part: State) {
        for (key_id, record) in part.keys {
            self.keys.entry(key_id).or_insert(record);
        }
        for (account, aliases) in part.account_aliases {
            let mine = self.account_aliases.entry(account).or_default();
            for (name, alias) in aliases {
                mine.entry(name).or_insert(alias);
            }
        }
        for (key_id, grants) in part.grants {
            self.grants.entry(key_id).or_default().extend(grants);
        }
        for (token, parameters) in part.import_tokens {
            self.import_tokens.entry(token).or_insert(parameters);
        }
        for (key_id, last_use) in part.key_uses {
            self.key_uses.entry(key_id).or_insert(last_use);
        }
    }

    /// Applies [`Command::Restore`](crate::Command::Restore).
    ///
    /// Part 0 is refused unless this region is empty or is restoring the same backup (a cut-off
    /// restore starting again), so a restore never overwrites keys. Its outbox counter moves
    /// past `restore_ms << 16`: the region that wrote the backup may have sent messages past the
    /// image's counter before it was lost, and peer regions drop any sequence number they have
    /// seen, so the restored region's new messages must start above every number the lost one
    /// used (65 536 numbers per millisecond between two restores of one region).
    pub(crate) fn restore(
        &mut self,
        backup_id: &str,
        part: u32,
        parts: u32,
        image: &RestoreImage,
        restore_ms: i64,
    ) -> Result<CommandOutput, KmsError> {
        if parts == 0 || part >= parts {
            return Err(KmsError::Validation(format!(
                "Restore part {part} of {parts} does not exist."
            )));
        }
        let restarting = self
            .restoring
            .as_ref()
            .is_some_and(|r| r.backup_id == backup_id);
        if part == 0 && !self.is_empty_region() && !restarting {
            return Err(KmsError::KmsInvalidState(
                "The region is not empty: a backup is restored only into a new region with no \
                 keys, aliases or grants."
                    .into(),
            ));
        }
        if part > 0 {
            let expected = self
                .restoring
                .as_ref()
                .filter(|r| r.backup_id == backup_id && r.parts == parts)
                .map(|r| r.next_part);
            if expected != Some(part) {
                return Err(KmsError::KmsInvalidState(format!(
                    "Restore part {part} of backup {backup_id} is out of turn (expected {expected:?}); \
                     start the restore again."
                )));
            }
        }
        let decoded: State = serde_json::from_str(&image.0).map_err(|e| {
            KmsError::Validation(format!("The backup image is not a Trent state: {e}"))
        })?;
        if part == 0 {
            let floor = u64::try_from(restore_ms)
                .unwrap_or(0)
                .saturating_mul(1 << 16);
            let mut restored = State {
                keys: Default::default(),
                ..decoded.clone()
            };
            restored.account_aliases.clear();
            restored.grants.clear();
            restored.import_tokens.clear();
            restored.key_uses.clear();
            restored.next_outbox_seq = restored
                .next_outbox_seq
                .max(self.next_outbox_seq)
                .max(floor);
            if restored.key_use_tracking_start_ms.is_none() {
                restored.key_use_tracking_start_ms = self.key_use_tracking_start_ms;
            }
            *self = restored;
        }
        self.merge_part(decoded);
        self.restoring = (part + 1 < parts).then(|| RestoreProgress {
            backup_id: backup_id.to_string(),
            next_part: part + 1,
            parts,
        });
        Ok(CommandOutput::Empty)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;

    fn restore_all(target: &mut State, source: &State, max_part_bytes: usize) -> usize {
        let parts = source.split_for_restore(max_part_bytes);
        let count = parts.len();
        for (part, image) in parts.into_iter().enumerate() {
            let result = target.apply(&Command::Restore {
                backup_id: "b1".into(),
                part: part as u32,
                parts: count as u32,
                image,
                restore_ms: 1_800_000_000_000,
            });
            assert!(result.0.is_ok(), "part {part}: {:?}", result.0);
        }
        count
    }

    #[test]
    fn an_empty_region_takes_the_backup_in_parts_and_its_outbox_counter_moves_on() {
        let source = crate::tests::state_with_keys_and_aliases(20);
        let mut target = State::default();
        // Small parts: several keys per part, several parts.
        let parts = restore_all(&mut target, &source, 2_000);
        assert!(parts > 2, "{parts} parts");
        assert_eq!(target.summary(), source.summary());
        assert_eq!(target.keys, source.keys);
        assert_eq!(target.account_aliases, source.account_aliases);
        assert!(target.restore_in_progress().is_none());
        assert!(target.next_outbox_seq >= 1_800_000_000_000u64 << 16);
    }

    #[test]
    fn a_region_with_keys_refuses_a_restore_and_keeps_its_state() {
        let mut target = crate::tests::state_with_keys_and_aliases(1);
        let before = target.clone();
        let result = target.apply(&Command::Restore {
            backup_id: "b1".into(),
            part: 0,
            parts: 1,
            image: State::default().split_for_restore(1 << 20).remove(0),
            restore_ms: 1,
        });
        assert!(matches!(result.0, Err(KmsError::KmsInvalidState(_))));
        assert_eq!(target, before);
    }

    #[test]
    fn parts_apply_only_in_turn_and_a_cut_off_restore_starts_again() {
        let source = crate::tests::state_with_keys_and_aliases(6);
        let parts = source.split_for_restore(1_000);
        let n = parts.len() as u32;
        assert!(n >= 3);
        let mut target = State::default();
        let part = |i: usize, id: &str| Command::Restore {
            backup_id: id.into(),
            part: i as u32,
            parts: n,
            image: parts[i].clone(),
            restore_ms: 5,
        };
        assert!(target.apply(&part(0, "b1")).0.is_ok());
        // Part 2 before part 1, or a part of another backup: refused, nothing changes.
        let before = target.clone();
        assert!(target.apply(&part(2, "b1")).0.is_err());
        assert!(target.apply(&part(1, "b2")).0.is_err());
        assert_eq!(target, before);
        assert!(target.apply(&part(1, "b1")).0.is_ok());
        // Cut off here: the same backup starts again from part 0 and completes.
        for i in 0..n as usize {
            assert!(target.apply(&part(i, "b1")).0.is_ok(), "part {i}");
        }
        assert_eq!(target.keys, source.keys);
        // Another backup cannot start over a restored region.
        assert!(target.apply(&part(0, "b2")).0.is_err());
    }

    #[test]
    fn an_image_that_is_not_a_state_is_refused() {
        let mut target = State::default();
        let result = target.apply(&Command::Restore {
            backup_id: "b1".into(),
            part: 0,
            parts: 1,
            image: RestoreImage("{\"keys\": 3}".into()),
            restore_ms: 1,
        });
        assert!(matches!(result.0, Err(KmsError::Validation(_))));
        assert_eq!(target, State::default());
    }
}
