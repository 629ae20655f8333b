//! The key store's state (keys and aliases), the deterministic apply function, and the lookups
//! the read path uses.

use crate::key_state::{check, Gate};
use crate::{
    AliasRecord, Command, CommandOutput, KeyRecord, OutboxEntry, Response, RotationRecord,
    WrappedMaterial,
};
use imbl::OrdMap;
use kms_types::{is_valid_key_id, key_arn, KeyReference, KeyState, KmsError, RotationType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Aliases one key may have (AWS quota).
pub const MAX_ALIASES_PER_KEY: usize = 50;
/// On-demand rotations one key may have (AWS quota, per the API model).
pub const MAX_ON_DEMAND_ROTATIONS: usize = 25;
/// Tags one key may have (AWS quota).
pub const MAX_TAGS_PER_KEY: usize = 50;

/// Everything the Raft log has built. Holds key material only in wrapped form. Ordered maps
/// only, so iteration order (listing, snapshots) is the same on every replica. The maps that grow
/// with the number of keys are persistent [`OrdMap`]s: cloning the state (a snapshot) is O(1)
/// and shares their nodes, so building a snapshot never holds up apply.
///
/// Keys are one map by key id (ids are unique across accounts); each record names its
/// account. Aliases are per account: two accounts may each have `alias/app`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StateFields")]
pub struct State {
    pub(crate) keys: OrdMap<String, KeyRecord>,
    /// Aliases of a snapshot written before accounts were tenants (one namespace for every
    /// account). Always empty in memory: loading moves each into `account_aliases` under its
    /// target key's account. Kept so the persisted layout keeps every field.
    pub(crate) aliases: BTreeMap<String, AliasRecord>,
    /// Messages to other regions not yet acknowledged, by sequence number.
    pub(crate) outbox: BTreeMap<u64, OutboxEntry>,
    /// The next outbox sequence number.
    pub(crate) next_outbox_seq: u64,
    /// Per sending region, the highest outbox sequence number applied here.
    pub(crate) inbound: BTreeMap<String, u64>,
    /// Grants, by key id and grant id.
    #[serde(default)]
    pub(crate) grants: OrdMap<String, OrdMap<String, crate::GrantRecord>>,
    /// GetParametersForImport's wrapping keys, by import token id.
    #[serde(default)]
    pub(crate) import_tokens: OrdMap<String, crate::ImportParameters>,
    /// Aliases by account id, then alias name (`alias/...`).
    #[serde(default)]
    pub(crate) account_aliases: OrdMap<String, OrdMap<String, AliasRecord>>,
    /// The latest recorded use of each key (see `key_use`).
    #[serde(default)]
    pub(crate) key_uses: OrdMap<String, crate::KeyUse>,
    /// When the region began recording key uses.
    #[serde(default)]
    pub(crate) key_use_tracking_start_ms: Option<i64>,
    /// A restore in progress: which backup, and the next part expected (see `restore`).
    #[serde(default)]
    pub(crate) restoring: Option<crate::restore::RestoreProgress>,
    /// The root-key generations (see `root_keys`).
    #[serde(default)]
    pub(crate) root_keys: crate::RootKeyGenerations,
    /// Custom key stores, by id (see `custom_key_store`).
    #[serde(default)]
    pub(crate) custom_key_stores: BTreeMap<String, crate::CustomKeyStoreRecord>,
}

/// [`State`]'s persisted fields as they are read; [`State`] is built from them, moving the
/// aliases of a snapshot from before accounts were tenants to their key's account.
#[derive(Deserialize)]
struct StateFields {
    keys: OrdMap<String, KeyRecord>,
    pub(crate) aliases: BTreeMap<String, AliasRecord>,
    outbox: BTreeMap<u64, OutboxEntry>,
    next_outbox_seq: u64,
    inbound: BTreeMap<String, u64>,
    #[serde(default)]
    grants: OrdMap<String, OrdMap<String, crate::GrantRecord>>,
    #[serde(default)]
    pub(crate) account_aliases: OrdMap<String, OrdMap<String, AliasRecord>>,
    #[serde(default)]
    import_tokens: OrdMap<String, crate::ImportParameters>,
    #[serde(default)]
    key_uses: OrdMap<String, crate::KeyUse>,
    #[serde(default)]
    key_use_tracking_start_ms: Option<i64>,
    #[serde(default)]
    restoring: Option<crate::restore::RestoreProgress>,
    #[serde(default)]
    root_keys: crate::RootKeyGenerations,
    #[serde(default)]
    custom_key_stores: BTreeMap<String, crate::CustomKeyStoreRecord>,
}

impl From<StateFields> for State {
    fn from(fields: StateFields) -> State {
        let mut account_aliases = fields.account_aliases;
        for (name, alias) in fields.aliases {
            // An alias whose key is gone was unreachable already; it is dropped.
            if let Some(key) = fields.keys.get(&alias.target_key_id) {
                account_aliases
                    .entry(key.account_id.clone())
                    .or_default()
                    .entry(name)
                    .or_insert(alias);
            }
        }
        State {
            keys: fields.keys,
            aliases: BTreeMap::new(),
            outbox: fields.outbox,
            next_outbox_seq: fields.next_outbox_seq,
            inbound: fields.inbound,
            grants: fields.grants,
            import_tokens: fields.import_tokens,
            account_aliases,
            key_uses: fields.key_uses,
            key_use_tracking_start_ms: fields.key_use_tracking_start_ms,
            restoring: fields.restoring,
            root_keys: fields.root_keys,
            custom_key_stores: fields.custom_key_stores,
        }
    }
}

impl State {
    /// Applies one command. Deterministic: the same state and command give the same result on
    /// every replica. A rejected command changes nothing.
    pub fn apply(&mut self, command: &Command) -> Response {
        Response(self.apply_inner(command))
    }

    fn apply_inner(&mut self, command: &Command) -> Result<CommandOutput, KmsError> {
        self.check_blob_generations(command)?;
        match command {
            Command::Noop => Ok(CommandOutput::Empty),
            Command::CreateKey { record } => {
                if self.keys.contains_key(&record.key_id) {
                    return Err(KmsError::AlreadyExists(format!(
                        "{} already exists.",
                        record.arn
                    )));
                }
                self.check_new_key_in_store(record)?;
                self.keys.insert(record.key_id.clone(), record.clone());
                Ok(CommandOutput::Key(Box::new(record.clone())))
            }
            Command::UpdateKeyDescription {
                key_id,
                description,
            } => self.mutate_key(key_id, Gate::Metadata, |key| {
                key.description = description.clone()
            }),
            Command::SetKeyEnabled { key_id, enabled } => {
                let state = if *enabled {
                    KeyState::Enabled
                } else {
                    KeyState::Disabled
                };
                self.mutate_key(key_id, Gate::EnableDisable, |key| key.key_state = state)
            }
            Command::ScheduleKeyDeletion {
                key_id,
                deletion_ms,
                pending_window_days,
            } => self.mutate_key(key_id, Gate::ScheduleDeletion, |key| {
                // A primary with replicas waits for the last replica to be deleted before its
                // own waiting period starts.
                let has_replicas = key.is_mrk_primary()
                    && key.mrk.as_ref().is_some_and(|m| !m.replicas.is_empty());
                if has_replicas {
                    key.key_state = KeyState::PendingReplicaDeletion;
                    key.deletion_ms = None;
                } else {
                    key.key_state = KeyState::PendingDeletion;
                    key.deletion_ms = Some(*deletion_ms);
                }
                key.pending_window_days = Some(*pending_window_days);
            }),
            Command::CancelKeyDeletion { key_id } => {
                self.mutate_key(key_id, Gate::CancelDeletion, |key| {
                    // A key whose imported material is missing cannot be Disabled.
                    key.key_state = if key.all_material_present() {
                        KeyState::Disabled
                    } else {
                        KeyState::PendingImport
                    };
                    key.deletion_ms = None;
                    key.pending_window_days = None;
                })
            }
            Command::DeleteDueKeys { now_ms } => {
                Ok(CommandOutput::Deleted(self.delete_due_keys(*now_ms)))
            }
            Command::CreateAlias {
                alias_name,
                target_key_id,
                now_ms,
            } => self.create_alias(alias_name, target_key_id, *now_ms),
            Command::UpdateAlias {
                alias_name,
                target_key_id,
                now_ms,
            } => self.update_alias(alias_name, target_key_id, *now_ms),
            Command::DeleteAlias {
                alias_name,
                account_id,
            } => self.delete_alias(alias_name, account_id),
            Command::TagResource { key_id, tags } => self.tag_resource(key_id, tags),
            Command::UntagResource { key_id, tag_keys } => {
                self.mutate_key(key_id, Gate::Metadata, |key| {
                    for tag_key in tag_keys {
                        key.tags.remove(tag_key);
                    }
                })
            }
            Command::PutKeyPolicy { key_id, policy } => {
                self.mutate_key(key_id, Gate::Always, |key| key.policy = policy.clone())
            }
            Command::SetKeyRotation {
                key_id,
                period_days,
                next_rotation_ms,
            } => self.set_key_rotation(key_id, *period_days, *next_rotation_ms),
            Command::RotateKey {
                key_id,
                expected_current,
                material,
                rotation_type,
                next_rotation_ms,
            } => self.rotate_key(
                key_id,
                expected_current,
                material,
                *rotation_type,
                *next_rotation_ms,
            ),
            Command::ReplicateKey {
                key_id,
                replica_region,
                description,
                policy,
                tags,
            } => self.replicate_key(key_id, replica_region, description, policy, tags),
            Command::StartPrimaryHandover { key_id, to_region } => {
                self.start_primary_handover(key_id, to_region)
            }
            Command::ApplyRegionMessage {
                from_region,
                seq,
                region,
                now_ms,
                message,
            } => Ok(CommandOutput::Region(self.apply_region_message(
                from_region,
                *seq,
                region,
                *now_ms,
                message,
            ))),
            Command::OutboxAck { seq, reply, now_ms } => {
                self.outbox_ack(*seq, reply, *now_ms);
                Ok(CommandOutput::Empty)
            }
            Command::CreateGrant { grant } => self.create_grant(grant),
            Command::RetireGrant { key_id, grant_id }
            | Command::RevokeGrant { key_id, grant_id } => self.remove_grant(key_id, grant_id),
            Command::StoreImportParameters {
                token_id,
                parameters,
                now_ms,
            } => self.store_import_parameters(token_id, parameters, *now_ms),
            Command::ImportKeyMaterial {
                key_id,
                token_id,
                material,
                import_type,
                description_sent,
                now_ms,
            } => self.import_key_material(
                key_id,
                token_id,
                material,
                *import_type,
                *description_sent,
                *now_ms,
            ),
            Command::DeleteImportedMaterial {
                key_id,
                material_id,
            } => self.delete_imported_material(key_id, material_id),
            Command::ExpireImportedMaterial { now_ms } => Ok(CommandOutput::Deleted(
                self.expire_imported_material(*now_ms),
            )),
            Command::Reset => {
                self.keys.clear();
                self.aliases.clear();
                self.account_aliases.clear();
                self.grants.clear();
                self.import_tokens.clear();
                self.outbox.clear();
                self.key_uses.clear();
                self.custom_key_stores.clear();
                self.restoring = None;
                Ok(CommandOutput::Empty)
            }
            Command::Restore {
                backup_id,
                part,
                parts,
                image,
                restore_ms,
            } => self.restore(backup_id, *part, *parts, image, *restore_ms),
            Command::AddRootKeyGeneration { generation, sealed } => {
                self.add_root_key_generation(*generation, sealed)
            }
            Command::Rewrap {
                key_ids,
                token_ids,
                blobs,
            } => self.rewrap(key_ids, token_ids, blobs),
            Command::RetireRootKeyGenerations { below } => self.retire_root_key_generations(*below),
            Command::RecordKeyUse { uses, now_ms } => {
                self.record_key_uses(uses, *now_ms);
                Ok(CommandOutput::Empty)
            }
            Command::CreateCustomKeyStore { record } => self.create_custom_key_store(record),
            Command::UpdateCustomKeyStore { id, name, backend } => {
                self.update_custom_key_store(id, name, backend)
            }
            Command::DeleteCustomKeyStore { id } => self.delete_custom_key_store(id),
            Command::SetCustomKeyStoreConnection(change) => {
                self.set_custom_key_store_connection(change)
            }
            Command::ResyncWith { regions } => {
                self.request_resync(regions);
                Ok(CommandOutput::Empty)
            }
            Command::Batch(commands) => Ok(CommandOutput::Batch(
                commands
                    .iter()
                    .map(|command| match command {
                        Command::Batch(_) => {
                            Err(KmsError::KmsInternal("Batches do not nest.".into()))
                        }
                        single => self.apply_inner(single),
                    })
                    .collect(),
            )),
        }
    }

    fn mutate_key(
        &mut self,
        key_id: &str,
        gate: Gate,
        change: impl FnOnce(&mut KeyRecord),
    ) -> Result<CommandOutput, KmsError> {
        let key = self.keys.get_mut(key_id).ok_or_else(|| key_gone(key_id))?;
        check(key, gate)?;
        change(key);
        Ok(CommandOutput::Key(Box::new(key.clone())))
    }

    fn delete_due_keys(&mut self, now_ms: i64) -> u32 {
        let due: Vec<String> = self
            .keys
            .values()
            .filter(|k| {
                k.key_state == KeyState::PendingDeletion
                    && k.deletion_ms.is_some_and(|d| d <= now_ms)
            })
            .map(|k| k.key_id.clone())
            .collect();
        for key_id in &due {
            if let Some(key) = self.keys.remove(key_id) {
                self.replica_deleted_here(&key);
            }
            self.delete_grants_of(key_id);
            self.forget_import_tokens_of(key_id);
            self.key_uses.remove(key_id);
        }
        let accounts: Vec<String> = self.account_aliases.keys().cloned().collect();
        for account in accounts {
            if let Some(aliases) = self.account_aliases.get_mut(&account) {
                retain(aliases, |_, alias| !due.contains(&alias.target_key_id));
                if aliases.is_empty() {
                    self.account_aliases.remove(&account);
                }
            }
        }
        due.len() as u32
    }

    fn create_alias(
        &mut self,
        alias_name: &str,
        target_key_id: &str,
        now_ms: i64,
    ) -> Result<CommandOutput, KmsError> {
        let key = self.alias_target(target_key_id)?;
        let account = key.account_id.clone();
        if self.alias(&account, alias_name).is_some() {
            return Err(KmsError::AlreadyExists(format!(
                "An alias with the name {} already exists",
                alias_arn_like(key, alias_name)
            )));
        }
        let record = AliasRecord {
            target_key_id: target_key_id.to_string(),
            creation_ms: now_ms,
            last_updated_ms: now_ms,
        };
        self.account_aliases
            .entry(account)
            .or_default()
            .insert(alias_name.to_string(), record);
        Ok(CommandOutput::Empty)
    }

    fn update_alias(
        &mut self,
        alias_name: &str,
        target_key_id: &str,
        now_ms: i64,
    ) -> Result<CommandOutput, KmsError> {
        let key = self.alias_target(target_key_id)?;
        let account = key.account_id.clone();
        let current = self
            .alias(&account, alias_name)
            .ok_or_else(|| alias_not_found(alias_name))?;
        if let Some(old) = self.keys.get(&current.target_key_id) {
            // AWS: the same key type (symmetric, asymmetric, HMAC) and key usage; the spec
            // may differ (an RSA_2048 alias may move to an RSA_4096 or ECC key).
            if old.key_spec.key_type() != key.key_spec.key_type() || old.key_usage != key.key_usage
            {
                return Err(KmsError::Validation(format!(
                    "{alias_name} can only point to a key of the same key type and key usage as its current key."
                )));
            }
        }
        if let Some(alias) = self
            .account_aliases
            .get_mut(&account)
            .and_then(|aliases| aliases.get_mut(alias_name))
        {
            alias.target_key_id = target_key_id.to_string();
            alias.last_updated_ms = now_ms;
        }
        Ok(CommandOutput::Empty)
    }

    /// DeleteAlias in `account`. An empty account (a command logged before accounts were
    /// tenants, when alias names were one namespace) names the one alias of that name.
    fn delete_alias(&mut self, alias_name: &str, account: &str) -> Result<CommandOutput, KmsError> {
        let account = if account.is_empty() {
            self.account_aliases
                .iter()
                .find(|(_, aliases)| aliases.contains_key(alias_name))
                .map(|(account, _)| account.clone())
                .unwrap_or_default()
        } else {
            account.to_string()
        };
        let aliases = self
            .account_aliases
            .get_mut(&account)
            .ok_or_else(|| alias_not_found(alias_name))?;
        aliases
            .remove(alias_name)
            .ok_or_else(|| alias_not_found(alias_name))?;
        if aliases.is_empty() {
            self.account_aliases.remove(&account);
        }
        Ok(CommandOutput::Empty)
    }

    fn tag_resource(
        &mut self,
        key_id: &str,
        tags: &[(String, String)],
    ) -> Result<CommandOutput, KmsError> {
        let key = self.keys.get(key_id).ok_or_else(|| key_gone(key_id))?;
        check(key, Gate::Metadata)?;
        let new_keys = tags
            .iter()
            .filter(|(k, _)| !key.tags.contains_key(k))
            .count();
        if key.tags.len() + new_keys > MAX_TAGS_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "A key can have at most {MAX_TAGS_PER_KEY} tags."
            )));
        }
        self.mutate_key(key_id, Gate::Metadata, |key| {
            for (tag_key, tag_value) in tags {
                key.tags.insert(tag_key.clone(), tag_value.clone());
            }
        })
    }

    fn set_key_rotation(
        &mut self,
        key_id: &str,
        period_days: Option<u32>,
        next_rotation_ms: Option<i64>,
    ) -> Result<CommandOutput, KmsError> {
        self.rotatable(key_id)?;
        self.shared_change_allowed(key_id)?;
        let output = self.mutate_key(key_id, Gate::Rotation, |key| {
            key.rotation_period_days = period_days;
            key.next_rotation_ms = period_days.and(next_rotation_ms);
        })?;
        Ok(self.shared_changed(key_id).unwrap_or(output))
    }

    fn rotate_key(
        &mut self,
        key_id: &str,
        expected_current: &str,
        material: &WrappedMaterial,
        rotation_type: RotationType,
        next_rotation_ms: Option<i64>,
    ) -> Result<CommandOutput, KmsError> {
        let key = match rotation_type {
            RotationType::OnDemand => self.rotatable_on_demand(key_id)?,
            RotationType::Automatic => self.rotatable(key_id)?,
        };
        let imported = key.origin == kms_types::Origin::External;
        if imported
            && key
                .pending_rotation
                .as_ref()
                .map(|p| p.material_id.as_str())
                != Some(material.material_id.as_str())
        {
            return Err(KmsError::Conflict(format!(
                "{} was rotated by another request.",
                key.arn
            )));
        }
        if key.current_material().map(|m| m.material_id.as_str()) != Some(expected_current) {
            return Err(KmsError::Conflict(format!(
                "{} was rotated by another request.",
                key.arn
            )));
        }
        if key.material(&material.material_id).is_some() {
            return Err(KmsError::KmsInternal("Duplicate key material id.".into()));
        }
        if rotation_type == RotationType::OnDemand
            && key.on_demand_rotations() >= MAX_ON_DEMAND_ROTATIONS
        {
            return Err(KmsError::LimitExceeded(format!(
                "{} has reached the limit of {MAX_ON_DEMAND_ROTATIONS} on-demand rotations.",
                key.arn
            )));
        }
        self.shared_change_allowed(key_id)?;
        if let Some(staged) = self.stage_rotation(key_id, material, rotation_type, next_rotation_ms)
        {
            return staged;
        }
        self.mutate_key(key_id, Gate::Rotation, |key| {
            if imported {
                key.pending_rotation = None;
            }
            key.materials.push(material.clone());
            key.rotations.push(RotationRecord {
                material_id: material.material_id.clone(),
                rotation_ms: material.created_ms,
                rotation_type,
            });
            if key.rotation_period_days.is_some() && rotation_type == RotationType::Automatic {
                key.next_rotation_ms = next_rotation_ms;
            }
        })
    }

    /// The key, if its material can be rotated; AWS's UnsupportedOperationException otherwise.
    fn rotatable(&self, key_id: &str) -> Result<&KeyRecord, KmsError> {
        let key = self.keys.get(key_id).ok_or_else(|| key_gone(key_id))?;
        if !key.supports_rotation() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} has key spec {} and origin {}, whose material Trent cannot rotate.",
                key.arn, key.key_spec, key.origin
            )));
        }
        Ok(key)
    }

    /// The key, if RotateKeyOnDemand can rotate it; AWS's UnsupportedOperationException
    /// otherwise.
    fn rotatable_on_demand(&self, key_id: &str) -> Result<&KeyRecord, KmsError> {
        let key = self.keys.get(key_id).ok_or_else(|| key_gone(key_id))?;
        if !key.supports_on_demand_rotation() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} has key spec {} and origin {}, whose material Trent cannot rotate.",
                key.arn, key.key_spec, key.origin
            )));
        }
        Ok(key)
    }

    /// Keys due for automatic rotation at `now_ms` (Enabled, rotation on, date passed).
    pub fn keys_due_for_rotation(&self, now_ms: i64) -> impl Iterator<Item = &KeyRecord> + '_ {
        self.keys.values().filter(move |k| {
            k.key_state == KeyState::Enabled
                && k.next_rotation_ms.is_some_and(|at| at <= now_ms)
                && !k.is_mrk_replica()
                && k.mrk.as_ref().is_none_or(|m| m.staged.is_none())
        })
    }

    /// The key an alias may point at: it exists, its state allows it, and it has room for
    /// another alias.
    fn alias_target(&self, target_key_id: &str) -> Result<&KeyRecord, KmsError> {
        let key = self
            .keys
            .get(target_key_id)
            .ok_or_else(|| key_gone(target_key_id))?;
        check(key, Gate::Metadata)?;
        if self.alias_count(target_key_id) >= MAX_ALIASES_PER_KEY {
            return Err(KmsError::LimitExceeded(format!(
                "Key {} already has {MAX_ALIASES_PER_KEY} aliases.",
                key.arn
            )));
        }
        Ok(key)
    }

    fn alias_count(&self, key_id: &str) -> usize {
        self.keys
            .get(key_id)
            .map_or(0, |key| self.aliases_of(&key.account_id, key_id).count())
    }

    /// A key by id.
    pub fn key(&self, key_id: &str) -> Option<&KeyRecord> {
        self.keys.get(key_id)
    }

    /// An alias of `account` by name (`alias/...`).
    pub fn alias(&self, account: &str, alias_name: &str) -> Option<&AliasRecord> {
        self.account_aliases.get(account)?.get(alias_name)
    }

    /// The keys of `account` in id order, starting after `after` (exclusive), for ListKeys.
    pub fn keys_after<'a>(
        &'a self,
        account: &'a str,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a KeyRecord> + 'a {
        // A range from the marker (O(log n) to find), not a scan from the first key: a page
        // costs the same at the end of a large map as at its start.
        self.keys
            .range(after_bound(after))
            .map(|(_, key)| key)
            .filter(move |key| key.account_id == account)
    }

    /// The aliases of `account` in name order, starting after `after`, for ListAliases.
    pub fn aliases_after<'a>(
        &'a self,
        account: &str,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a String, &'a AliasRecord)> + 'a {
        let bound = after_bound(after);
        self.account_aliases
            .get(account)
            .into_iter()
            .flat_map(move |aliases| aliases.range(bound.clone()))
    }

    /// The aliases of `account` that point at `key_id`, in name order.
    pub fn aliases_of<'a>(
        &'a self,
        account: &str,
        key_id: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a AliasRecord)> + 'a {
        self.account_aliases
            .get(account)
            .into_iter()
            .flatten()
            .filter(move |(_, a)| a.target_key_id == key_id)
    }

    /// Messages waiting for delivery to other regions, in sequence order.
    pub fn outbox(&self) -> impl Iterator<Item = (u64, &OutboxEntry)> + '_ {
        self.outbox.iter().map(|(seq, entry)| (*seq, entry))
    }

    /// Whether outbox entry `seq` still waits for its answer.
    pub fn outbox_pending(&self, seq: u64) -> bool {
        self.outbox.contains_key(&seq)
    }

    /// Number of aliases, in every account.
    pub(crate) fn account_aliases_len(&self) -> usize {
        self.account_aliases.values().map(OrdMap::len).sum()
    }

    /// Number of keys.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Earliest deletion date among keys pending deletion, for the leader's deletion task.
    pub fn next_deletion_ms(&self) -> Option<i64> {
        self.keys
            .values()
            .filter(|k| k.key_state == KeyState::PendingDeletion)
            .filter_map(|k| k.deletion_ms)
            .min()
    }

    /// Resolves a `KeyId` parameter of a caller of `account` in `region` to a key.
    /// `allow_alias` is false for operations whose `KeyId` accepts only a key id or key ARN.
    ///
    /// A key id or alias name names the caller's own account: another account's key is not
    /// found that way (AWS's NotFoundException). A key or alias ARN may name another account
    /// (in this region); that key is returned and the authorizer decides whether the caller
    /// may use it across accounts.
    pub fn resolve(
        &self,
        reference: &KeyReference,
        region: &str,
        account: &str,
        allow_alias: bool,
    ) -> Result<&KeyRecord, KmsError> {
        let alias_target = |owner: &str, name: &str, shown: &str| -> Result<&KeyRecord, KmsError> {
            let alias = self
                .alias(owner, name)
                .ok_or_else(|| KmsError::NotFound(format!("Alias {shown} is not found.")))?;
            self.keys
                .get(&alias.target_key_id)
                .ok_or_else(|| key_gone(&alias.target_key_id))
        };
        let key_of = |owner: &str, key_id: &str, shown: &str| -> Result<&KeyRecord, KmsError> {
            self.keys
                .get(key_id)
                .filter(|key| key.account_id == owner)
                .ok_or_else(|| KmsError::NotFound(format!("Key '{shown}' does not exist")))
        };
        match reference {
            KeyReference::KeyId(key_id) => {
                if !is_valid_key_id(key_id) {
                    return Err(KmsError::NotFound(format!("Invalid keyId '{key_id}'")));
                }
                key_of(account, key_id, &key_arn(region, account, key_id))
            }
            KeyReference::KeyArn {
                region: r,
                account: a,
                key_id,
            } => {
                let full = key_arn(r, a, key_id);
                if r != region {
                    return Err(KmsError::NotFound(format!("Key '{full}' does not exist")));
                }
                key_of(a, key_id, &full)
            }
            KeyReference::AliasName(name) if allow_alias => {
                alias_target(account, name, &kms_types::alias_arn(region, account, name))
            }
            KeyReference::AliasArn {
                region: r,
                account: a,
                alias_name,
            } if allow_alias => {
                let full = kms_types::alias_arn(r, a, alias_name);
                if r != region {
                    return Err(KmsError::NotFound(format!("Alias {full} is not found.")));
                }
                alias_target(a, alias_name, &full)
            }
            KeyReference::AliasName(name)
            | KeyReference::AliasArn {
                alias_name: name, ..
            } => Err(KmsError::NotFound(format!("Invalid keyId '{name}'"))),
        }
    }
}

pub(crate) fn key_gone(key_id: &str) -> KmsError {
    KmsError::NotFound(format!("Key '{key_id}' does not exist"))
}

fn alias_not_found(alias_name: &str) -> KmsError {
    KmsError::NotFound(format!("Alias {alias_name} is not found."))
}

fn alias_arn_like(key: &KeyRecord, alias_name: &str) -> String {
    match key.arn.rsplit_once(":key/") {
        Some((prefix, _)) => format!("{prefix}:{alias_name}"),
        None => alias_name.to_string(),
    }
}

/// Keeps the entries of `map` for which `keep` holds ([`OrdMap`] has no `retain`).
pub(crate) fn retain<K: Ord + Clone, V: Clone>(
    map: &mut OrdMap<K, V>,
    mut keep: impl FnMut(&K, &V) -> bool,
) {
    let gone: Vec<K> = map
        .iter()
        .filter(|(key, value)| !keep(key, value))
        .map(|(key, _)| key.clone())
        .collect();
    for key in gone {
        map.remove(&key);
    }
}

/// The range of a map's keys after `after` (all of them without one), for paging.
fn after_bound(after: Option<&str>) -> (std::ops::Bound<String>, std::ops::Bound<String>) {
    use std::ops::Bound;
    match after {
        Some(marker) => (Bound::Excluded(marker.to_string()), Bound::Unbounded),
        None => (Bound::Unbounded, Bound::Unbounded),
    }
}
