//! The multi-region protocol inside the state machine: what ReplicateKey, UpdatePrimaryRegion,
//! rotation and deletion of a multi-region key queue for other regions, how a region applies
//! their messages, and what it does with their answers. Deterministic like the rest of
//! [`State::apply`]; `docs/0001-multi-region-keys.md` states the protocol and its crash points.

use crate::key_state::{check, Gate};
use crate::state::key_gone;
use crate::{
    CommandOutput, KeyRecord, MultiRegionState, OutboxEntry, OutboxKind, RegionMessage,
    RegionReply, RotationRecord, SharedProps, StagedRotation, State, WrappedMaterial,
};
use kms_types::{key_arn, KeyState, KmsError, RotationType};
use std::collections::BTreeMap;

impl State {
    fn enqueue(&mut self, to_region: &str, key_id: &str, kind: OutboxKind) -> u64 {
        let seq = self.next_outbox_seq;
        self.next_outbox_seq += 1;
        self.outbox.insert(
            seq,
            OutboxEntry {
                to_region: to_region.to_string(),
                key_id: key_id.to_string(),
                kind,
            },
        );
        seq
    }

    /// True if a message that will carry `key_id`'s newest shared properties to `region` is
    /// already queued (shared properties are read when a message is sent).
    fn shared_update_queued(&self, region: &str, key_id: &str) -> bool {
        self.outbox.values().any(|e| {
            e.to_region == region
                && e.key_id == key_id
                && matches!(
                    e.kind,
                    OutboxKind::SyncShared | OutboxKind::CreateReplica { .. }
                )
        })
    }

    /// Queues the newest shared properties of `key_id` (a primary) for every replica that lacks
    /// them.
    fn sync_replicas(&mut self, key_id: &str) {
        let Some(key) = self.keys.get(key_id) else {
            return;
        };
        let Some(mrk) = key.mrk.as_ref() else {
            return;
        };
        let behind: Vec<String> = mrk
            .replicas
            .iter()
            .filter(|(_, acked)| **acked < mrk.shared_version)
            .map(|(region, _)| region.clone())
            .collect();
        for region in behind {
            if !self.shared_update_queued(&region, key_id) {
                self.enqueue(&region, key_id, OutboxKind::SyncShared);
            }
        }
    }

    /// Refuses changes to shared properties on a replica or during UpdatePrimaryRegion.
    pub(crate) fn shared_change_allowed(&self, key_id: &str) -> Result<(), KmsError> {
        let key = self.keys.get(key_id).ok_or_else(|| key_gone(key_id))?;
        if key.is_mrk_replica() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} is a multi-Region replica key; change its shared properties on the primary key.",
                key.arn
            )));
        }
        if key.mrk.as_ref().is_some_and(|m| m.handing_to.is_some()) {
            return Err(KmsError::KmsInvalidState(format!(
                "{} is updating.",
                key.arn
            )));
        }
        Ok(())
    }

    /// After a change to a primary's shared properties: bumps the shared version and queues the
    /// sync. Returns the key as it is now, for multi-region keys.
    pub(crate) fn shared_changed(&mut self, key_id: &str) -> Option<CommandOutput> {
        let key = self.keys.get_mut(key_id)?;
        let mrk = key.mrk.as_mut()?;
        mrk.shared_version += 1;
        self.sync_replicas(key_id);
        let key = self.keys.get(key_id)?;
        Some(CommandOutput::Key(Box::new(key.clone())))
    }

    /// Stages a rotation of a primary with replicas. `None` if the key has no replicas (the
    /// caller rotates at once).
    pub(crate) fn stage_rotation(
        &mut self,
        key_id: &str,
        material: &WrappedMaterial,
        rotation_type: RotationType,
        next_rotation_ms: Option<i64>,
    ) -> Option<Result<CommandOutput, KmsError>> {
        let key = self.keys.get_mut(key_id)?;
        let arn = key.arn.clone();
        let mrk = key.mrk.as_mut()?;
        if mrk.replicas.is_empty() {
            mrk.shared_version += 1;
            return None;
        }
        if mrk.staged.is_some() {
            return Some(Err(KmsError::Conflict(format!(
                "{arn} has a rotation in progress that waits for its replicas."
            ))));
        }
        mrk.shared_version += 1;
        mrk.staged = Some(StagedRotation {
            material: material.clone(),
            rotation_type,
            version: mrk.shared_version,
            next_rotation_ms,
        });
        if rotation_type == RotationType::Automatic {
            // Not due again while staged; completion sets the real next date.
            key.next_rotation_ms = None;
        }
        self.sync_replicas(key_id);
        self.keys
            .get(key_id)
            .map(|key| Ok(CommandOutput::Key(Box::new(key.clone()))))
    }

    /// Makes a staged rotation current once every replica acknowledged it.
    fn complete_staged_rotation(&mut self, key_id: &str) {
        let Some(key) = self.keys.get_mut(key_id) else {
            return;
        };
        let Some(mrk) = key.mrk.as_mut() else {
            return;
        };
        let ready = mrk
            .staged
            .as_ref()
            .is_some_and(|s| mrk.replicas.values().all(|acked| *acked >= s.version));
        if !ready {
            return;
        }
        let Some(staged) = mrk.staged.take() else {
            return;
        };
        mrk.shared_version += 1;
        key.rotations.push(RotationRecord {
            material_id: staged.material.material_id.clone(),
            rotation_ms: staged.material.created_ms,
            rotation_type: staged.rotation_type,
        });
        key.materials.push(staged.material);
        if key.rotation_period_days.is_some() && staged.rotation_type == RotationType::Automatic {
            key.next_rotation_ms = staged.next_rotation_ms;
        }
        self.sync_replicas(key_id);
    }

    /// The key and its multi-region state, if it is a multi-region primary in this region;
    /// UnsupportedOperationException naming `what` it should be otherwise.
    fn mrk_primary(
        &self,
        key_id: &str,
        what: &str,
    ) -> Result<(&KeyRecord, &MultiRegionState), KmsError> {
        let key = self.keys.get(key_id).ok_or_else(|| key_gone(key_id))?;
        let Some(mrk) = key.mrk.as_ref() else {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} is not a multi-Region key.",
                key.arn
            )));
        };
        if !key.is_mrk_primary() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} is not {what} (the primary is in {}).",
                key.arn, mrk.primary_region
            )));
        }
        Ok((key, mrk))
    }

    pub(crate) fn replicate_key(
        &mut self,
        key_id: &str,
        replica_region: &str,
        description: &str,
        policy: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<CommandOutput, KmsError> {
        let (key, mrk) = self.mrk_primary(key_id, "a multi-Region primary key")?;
        check(key, Gate::Replicate)?;
        if replica_region == key.region() || mrk.replicas.contains_key(replica_region) {
            return Err(KmsError::AlreadyExists(format!(
                "{} already exists in {replica_region}.",
                key_arn(replica_region, &key.account_id, key_id)
            )));
        }
        let key = self.keys.get_mut(key_id).ok_or_else(|| key_gone(key_id))?;
        let mrk = key.mrk.as_mut().ok_or_else(|| key_gone(key_id))?;
        mrk.replicas.insert(replica_region.to_string(), 0);
        mrk.shared_version += 1;
        let seq = self.enqueue(
            replica_region,
            key_id,
            OutboxKind::CreateReplica {
                description: description.to_string(),
                policy: policy.to_string(),
                tags: tags.clone(),
            },
        );
        // The other replicas learn the new member.
        self.sync_replicas(key_id);
        let key = self.keys.get(key_id).ok_or_else(|| key_gone(key_id))?;
        Ok(CommandOutput::Queued {
            key: Box::new(key.clone()),
            seq,
        })
    }

    pub(crate) fn start_primary_handover(
        &mut self,
        key_id: &str,
        to_region: &str,
    ) -> Result<CommandOutput, KmsError> {
        let (key, mrk) = self.mrk_primary(
            key_id,
            "the primary key; call UpdatePrimaryRegion on the primary",
        )?;
        if to_region == key.region() {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} is already the primary key in {to_region}.",
                key.arn
            )));
        }
        if !mrk.replicas.contains_key(to_region) {
            return Err(KmsError::NotFound(format!(
                "{} has no replica in {to_region}.",
                key.arn
            )));
        }
        check(key, Gate::UpdatePrimary)?;
        if mrk.staged.is_some() {
            return Err(KmsError::KmsInvalidState(format!(
                "{} has a rotation in progress; try again when its replicas have the new material.",
                key.arn
            )));
        }
        let creating = self
            .outbox
            .values()
            .any(|e| e.key_id == key_id && matches!(e.kind, OutboxKind::CreateReplica { .. }));
        if creating {
            // The new primary would not know how to create it with its own properties.
            return Err(KmsError::KmsInvalidState(format!(
                "A replica of {} is still being created; try again when it is.",
                key.arn
            )));
        }
        let key = self.keys.get_mut(key_id).ok_or_else(|| key_gone(key_id))?;
        key.key_state = KeyState::Updating;
        let mrk = key.mrk.as_mut().ok_or_else(|| key_gone(key_id))?;
        mrk.handing_to = Some(to_region.to_string());
        mrk.last_handover_error = None;
        let seq = self.enqueue(to_region, key_id, OutboxKind::TakePrimary);
        let key = self.keys.get(key_id).ok_or_else(|| key_gone(key_id))?;
        Ok(CommandOutput::Queued {
            key: Box::new(key.clone()),
            seq,
        })
    }

    /// A key of this region was deleted: a replica tells its primary.
    pub(crate) fn replica_deleted_here(&mut self, key: &KeyRecord) {
        if let Some(mrk) = key.mrk.as_ref().filter(|_| key.is_mrk_replica()) {
            self.enqueue(
                &mrk.primary_region.clone(),
                &key.key_id,
                OutboxKind::ReplicaDeleted {
                    region: key.region().to_string(),
                    epoch: mrk.epoch,
                },
            );
        }
    }

    /// Applies another region's message. Every branch is idempotent: a message delivered
    /// twice, late, or after a newer one leaves the state as the newest one left it.
    pub(crate) fn apply_region_message(
        &mut self,
        from_region: &str,
        seq: u64,
        region: &str,
        now_ms: i64,
        message: &RegionMessage,
    ) -> RegionReply {
        let duplicate = self.inbound.get(from_region).is_some_and(|s| *s >= seq);
        if !duplicate {
            self.inbound.insert(from_region.to_string(), seq);
        }
        match message {
            RegionMessage::CreateReplica {
                shared,
                description,
                policy,
                tags,
                account_id,
            } => {
                if !self.keys.contains_key(&shared.key_id) && !duplicate {
                    self.create_replica(
                        shared,
                        region,
                        description,
                        policy,
                        tags,
                        account_id,
                        now_ms,
                    );
                }
                self.apply_shared(shared)
            }
            RegionMessage::SyncShared { shared } => self.apply_shared(shared),
            RegionMessage::TakePrimary { shared } => self.take_primary(shared, from_region, region),
            RegionMessage::ReplicaDeleted {
                key_id,
                region: gone,
                ..
            } => self.forget_replica(key_id, gone, region, now_ms),
            RegionMessage::Resync => self.resync_for(from_region),
            RegionMessage::ReportShared {
                shared,
                description,
                policy,
                tags,
                account_id,
            } => {
                if !self.keys.contains_key(&shared.key_id) {
                    if shared.primary_region != region {
                        // Not ours to hold: the primary restores its replicas itself.
                        return RegionReply::Applied {
                            epoch: 0,
                            shared_version: 0,
                        };
                    }
                    // A primary the restore lost entirely, back from its replica.
                    self.create_replica(
                        shared,
                        region,
                        description,
                        policy,
                        tags,
                        account_id,
                        now_ms,
                    );
                }
                self.apply_report(shared, region)
            }
        }
    }

    /// Queues [`RegionMessage::Resync`] for each of `regions` not already asked.
    pub(crate) fn request_resync(&mut self, regions: &[String]) {
        for region in regions {
            let queued = self
                .outbox
                .values()
                .any(|e| e.to_region == *region && e.kind == OutboxKind::Resync);
            if !queued {
                self.enqueue(region, "", OutboxKind::Resync);
            }
        }
    }

    /// Answers a restored region's [`RegionMessage::Resync`]: every key this region leads with
    /// a replica in `peer` is sent to it again (as a creation, so a replica the restore lost
    /// comes back, with this primary's description, policy and tags), and every replica here
    /// whose primary is `peer` reports its shared properties to it.
    fn resync_for(&mut self, peer: &str) -> RegionReply {
        let mut creations = Vec::new();
        let mut reports = Vec::new();
        for (key_id, key) in self.keys.iter() {
            let Some(mrk) = key.mrk.as_ref() else {
                continue;
            };
            if key.is_mrk_primary() {
                if mrk.replicas.contains_key(peer) {
                    creations.push((
                        key_id.clone(),
                        OutboxKind::CreateReplica {
                            description: key.description.clone(),
                            policy: key.policy.clone(),
                            tags: key.tags.clone(),
                        },
                    ));
                }
            } else if mrk.primary_region == peer {
                reports.push(key_id.clone());
            }
        }
        for (key_id, _) in &creations {
            // Whatever it acknowledged before, it may hold less now.
            if let Some(acked) = self
                .keys
                .get_mut(key_id)
                .and_then(|k| k.mrk.as_mut())
                .and_then(|m| m.replicas.get_mut(peer))
            {
                *acked = 0;
            }
        }
        for (key_id, kind) in creations {
            let queued = self
                .outbox
                .values()
                .any(|e| e.to_region == peer && e.key_id == key_id && e.kind == kind);
            if !queued {
                self.enqueue(peer, &key_id, kind);
            }
        }
        for key_id in reports {
            let queued = self.outbox.values().any(|e| {
                e.to_region == peer && e.key_id == key_id && e.kind == OutboxKind::ReportShared
            });
            if !queued {
                self.enqueue(peer, &key_id, OutboxKind::ReportShared);
            }
        }
        RegionReply::Applied {
            epoch: 0,
            shared_version: 0,
        }
    }

    /// Takes a replica's report after a restore. Shared properties at a newer `(epoch,
    /// shared_version)` than this region's are its own history that the restore lost: at this
    /// region's epoch only this region could have written them, and a newer epoch is a move of
    /// the primary role this region missed. Adopting them (material versions are joined by id)
    /// means a later change never reuses a version number with different contents.
    fn apply_report(&mut self, shared: &SharedProps, region: &str) -> RegionReply {
        let reply = self.apply_shared(shared);
        if let Some(key) = self.keys.get_mut(&shared.key_id) {
            if key.is_mrk_primary() && key.region() == region {
                if key.next_rotation_ms.is_none() {
                    key.next_rotation_ms = shared.next_rotation_ms;
                }
                let key_id = shared.key_id.clone();
                self.sync_replicas(&key_id);
                self.complete_staged_rotation(&key_id);
            }
        }
        reply
    }

    #[allow(clippy::too_many_arguments)]
    fn create_replica(
        &mut self,
        shared: &SharedProps,
        region: &str,
        description: &str,
        policy: &str,
        tags: &BTreeMap<String, String>,
        account_id: &str,
        now_ms: i64,
    ) {
        let record = KeyRecord {
            key_id: shared.key_id.clone(),
            arn: key_arn(region, account_id, &shared.key_id),
            account_id: account_id.to_string(),
            creation_ms: now_ms,
            description: description.to_string(),
            key_spec: shared.key_spec,
            key_usage: shared.key_usage,
            origin: shared.origin,
            key_state: if shared.materials.is_empty() {
                KeyState::PendingImport
            } else {
                KeyState::Enabled
            },
            deletion_ms: None,
            pending_window_days: None,
            multi_region: true,
            policy: policy.to_string(),
            tags: tags.clone(),
            materials: Vec::new(),
            rotation_period_days: None,
            next_rotation_ms: None,
            rotations: Vec::new(),
            mrk: Some(MultiRegionState {
                epoch: 0,
                primary_region: shared.primary_region.clone(),
                replicas: BTreeMap::new(),
                shared_version: 0,
                handing_to: None,
                taken_from: None,
                staged: None,
                last_handover_error: None,
            }),
            pending_rotation: None,
            key_store: None,
        };
        self.keys.insert(shared.key_id.clone(), record);
    }

    /// Adopts shared properties from a primary with a newer `(epoch, shared_version)`.
    fn apply_shared(&mut self, shared: &SharedProps) -> RegionReply {
        let Some(key) = self.keys.get_mut(&shared.key_id) else {
            return RegionReply::Rejected {
                error: key_gone(&shared.key_id),
            };
        };
        let Some(mrk) = key.mrk.as_mut() else {
            return RegionReply::Rejected {
                error: KmsError::AlreadyExists(format!("{} is not a multi-Region key.", key.arn)),
            };
        };
        if shared.epoch < mrk.epoch {
            return RegionReply::Stale {
                epoch: mrk.epoch,
                primary_region: mrk.primary_region.clone(),
            };
        }
        if (shared.epoch, shared.shared_version) > (mrk.epoch, mrk.shared_version) {
            mrk.epoch = shared.epoch;
            mrk.primary_region = shared.primary_region.clone();
            mrk.shared_version = shared.shared_version;
            mrk.replicas = shared
                .replica_regions
                .iter()
                .map(|r| (r.clone(), 0))
                .collect();
            mrk.staged = shared.staged.clone();
            // A newer primary exists, so any hand-over this region was part of is over.
            mrk.handing_to = None;
            mrk.taken_from = None;
            if key.key_state == KeyState::Updating {
                key.key_state = KeyState::Enabled;
            }
            copy_shared(key, shared);
            if key.region() != shared.primary_region {
                key.next_rotation_ms = None;
            }
        }
        RegionReply::Applied {
            epoch: shared.epoch.max(mrk_epoch(key)),
            shared_version: key.mrk.as_ref().map_or(0, |m| m.shared_version),
        }
    }

    fn take_primary(
        &mut self,
        shared: &SharedProps,
        from_region: &str,
        region: &str,
    ) -> RegionReply {
        let Some(key) = self.keys.get_mut(&shared.key_id) else {
            return RegionReply::Rejected {
                error: key_gone(&shared.key_id),
            };
        };
        let Some(mrk) = key.mrk.as_mut() else {
            return RegionReply::Rejected {
                error: KmsError::UnsupportedOperation(format!(
                    "{} is not a multi-Region key.",
                    key.arn
                )),
            };
        };
        if shared.epoch < mrk.epoch || (shared.epoch == mrk.epoch && mrk.primary_region != region) {
            return RegionReply::Stale {
                epoch: mrk.epoch,
                primary_region: mrk.primary_region.clone(),
            };
        }
        if shared.epoch == mrk.epoch {
            // Already taken: the first answer was lost.
            return RegionReply::Applied {
                epoch: mrk.epoch,
                shared_version: mrk.shared_version,
            };
        }
        match key.key_state {
            KeyState::Enabled => {}
            KeyState::Disabled => {
                return RegionReply::Rejected {
                    error: KmsError::Disabled(format!("{} is disabled.", key.arn)),
                }
            }
            _ => {
                return RegionReply::Rejected {
                    error: KmsError::KmsInvalidState(format!(
                        "{} is {} and cannot become the primary key.",
                        key.arn, key.key_state
                    )),
                }
            }
        }
        copy_shared(key, shared);
        key.next_rotation_ms = shared.next_rotation_ms;
        key.key_state = KeyState::Updating;
        let Some(mrk) = key.mrk.as_mut() else {
            return RegionReply::Rejected {
                error: key_gone(&shared.key_id),
            };
        };
        mrk.epoch = shared.epoch;
        mrk.primary_region = region.to_string();
        mrk.shared_version = shared.shared_version + 1;
        mrk.replicas = shared
            .replica_regions
            .iter()
            .filter(|r| r.as_str() != region)
            .chain(std::iter::once(&from_region.to_string()))
            .map(|r| (r.clone(), 0))
            .collect();
        mrk.staged = None;
        mrk.handing_to = None;
        mrk.taken_from = Some(from_region.to_string());
        let (epoch, shared_version) = (mrk.epoch, mrk.shared_version);
        let key_id = shared.key_id.clone();
        self.sync_replicas(&key_id);
        RegionReply::Applied {
            epoch,
            shared_version,
        }
    }

    /// The primary learns that the replica in `gone` was deleted.
    fn forget_replica(
        &mut self,
        key_id: &str,
        gone: &str,
        region: &str,
        now_ms: i64,
    ) -> RegionReply {
        let Some(key) = self.keys.get_mut(key_id) else {
            return RegionReply::Rejected {
                error: key_gone(key_id),
            };
        };
        let Some(mrk) = key.mrk.as_mut() else {
            return RegionReply::Rejected {
                error: key_gone(key_id),
            };
        };
        if mrk.primary_region != region {
            return RegionReply::Stale {
                epoch: mrk.epoch,
                primary_region: mrk.primary_region.clone(),
            };
        }
        if mrk.replicas.remove(gone).is_some() {
            mrk.shared_version += 1;
        }
        let (epoch, shared_version) = (mrk.epoch, mrk.shared_version);
        let no_replicas = mrk.replicas.is_empty();
        if key.key_state == KeyState::PendingReplicaDeletion && no_replicas {
            // The primary's own waiting period starts now.
            key.key_state = KeyState::PendingDeletion;
            let days = i64::from(key.pending_window_days.unwrap_or(30));
            key.deletion_ms = Some(now_ms + days * 24 * 60 * 60 * 1000);
        }
        self.sync_replicas(key_id);
        self.complete_staged_rotation(key_id);
        RegionReply::Applied {
            epoch,
            shared_version,
        }
    }

    /// The message outbox entry `seq` stands for, built from the current state (material still
    /// wrapped by this region's root key: the sender seals it for the receiver). `None` if the
    /// entry is gone or obsolete (its key was deleted, or the hand-over already settled).
    pub fn outbound_message(&self, seq: u64) -> Option<RegionMessage> {
        let entry = self.outbox.get(&seq)?;
        if entry.kind == OutboxKind::Resync {
            return Some(RegionMessage::Resync);
        }
        if let OutboxKind::ReplicaDeleted { region, epoch } = &entry.kind {
            return Some(RegionMessage::ReplicaDeleted {
                key_id: entry.key_id.clone(),
                region: region.clone(),
                epoch: *epoch,
            });
        }
        let key = self.keys.get(&entry.key_id)?;
        let mut shared = key.shared_props()?;
        match &entry.kind {
            OutboxKind::CreateReplica {
                description,
                policy,
                tags,
            } => key.is_mrk_primary().then(|| RegionMessage::CreateReplica {
                shared,
                description: description.clone(),
                policy: policy.clone(),
                tags: tags.clone(),
                account_id: key.account_id.clone(),
            }),
            OutboxKind::SyncShared => key
                .is_mrk_primary()
                .then_some(RegionMessage::SyncShared { shared }),
            OutboxKind::TakePrimary => {
                let mrk = key.mrk.as_ref()?;
                if mrk.handing_to.as_deref() != Some(entry.to_region.as_str()) {
                    return None;
                }
                shared.epoch = mrk.epoch + 1;
                shared.primary_region = entry.to_region.clone();
                Some(RegionMessage::TakePrimary { shared })
            }
            OutboxKind::ReportShared => key.is_mrk_replica().then(|| RegionMessage::ReportShared {
                shared,
                description: key.description.clone(),
                policy: key.policy.clone(),
                tags: key.tags.clone(),
                account_id: key.account_id.clone(),
            }),
            OutboxKind::ReplicaDeleted { .. } | OutboxKind::Resync => None,
        }
    }

    /// Acts on the committed answer to outbox entry `seq`.
    pub(crate) fn outbox_ack(&mut self, seq: u64, reply: &RegionReply, _now_ms: i64) {
        let Some(entry) = self.outbox.remove(&seq) else {
            return;
        };
        let to = entry.to_region.as_str();
        let key_id = entry.key_id.as_str();
        match &entry.kind {
            OutboxKind::ReplicaDeleted { region, epoch } => {
                if let RegionReply::Stale { primary_region, .. } = reply {
                    // The primary moved: tell the new one.
                    if primary_region != to {
                        self.enqueue(
                            primary_region,
                            key_id,
                            OutboxKind::ReplicaDeleted {
                                region: region.clone(),
                                epoch: *epoch,
                            },
                        );
                    }
                }
            }
            OutboxKind::CreateReplica { .. } | OutboxKind::SyncShared => {
                self.replica_answered(key_id, to, reply, &entry.kind);
            }
            OutboxKind::TakePrimary => self.handover_answered(key_id, to, reply),
            // Nothing waits on these answers: the messages they brought about are queued.
            OutboxKind::Resync | OutboxKind::ReportShared => {}
        }
    }

    fn replica_answered(&mut self, key_id: &str, to: &str, reply: &RegionReply, kind: &OutboxKind) {
        let Some(key) = self.keys.get_mut(key_id) else {
            return;
        };
        if !key.is_mrk_primary() {
            return;
        }
        let Some(mrk) = key.mrk.as_mut() else {
            return;
        };
        match reply {
            RegionReply::Applied {
                epoch,
                shared_version,
            } if *epoch == mrk.epoch => {
                if let Some(acked) = mrk.replicas.get_mut(to) {
                    *acked = (*acked).max(*shared_version);
                }
                if mrk.taken_from.as_deref() == Some(to) {
                    // The old primary follows the new epoch: the hand-over is complete.
                    mrk.taken_from = None;
                    if key.key_state == KeyState::Updating {
                        key.key_state = KeyState::Enabled;
                    }
                }
            }
            RegionReply::Rejected { error } => {
                // A refused creation, or a replica that no longer exists: not a replica.
                let gone = matches!(kind, OutboxKind::CreateReplica { .. })
                    || matches!(error, KmsError::NotFound(_));
                if gone && mrk.replicas.remove(to).is_some() {
                    mrk.shared_version += 1;
                }
            }
            _ => {}
        }
        self.complete_staged_rotation(key_id);
        self.sync_replicas(key_id);
    }

    fn handover_answered(&mut self, key_id: &str, to: &str, reply: &RegionReply) {
        let Some(key) = self.keys.get_mut(key_id) else {
            return;
        };
        let region = key.region().to_string();
        let Some(mrk) = key.mrk.as_mut() else {
            return;
        };
        if mrk.handing_to.as_deref() != Some(to) {
            // Already settled (the new primary's sync arrived first).
            return;
        }
        mrk.handing_to = None;
        if key.key_state == KeyState::Updating {
            key.key_state = KeyState::Enabled;
        }
        match reply {
            RegionReply::Applied { epoch, .. } if *epoch == mrk.epoch + 1 => {
                mrk.epoch = *epoch;
                mrk.primary_region = to.to_string();
                let mut replicas: BTreeMap<String, u64> = std::mem::take(&mut mrk.replicas);
                replicas.remove(to);
                replicas.insert(region, 0);
                mrk.replicas = replicas.into_keys().map(|r| (r, 0)).collect();
                key.next_rotation_ms = None;
            }
            RegionReply::Rejected { error } => mrk.last_handover_error = Some(error.clone()),
            RegionReply::Stale { primary_region, .. } => {
                mrk.last_handover_error = Some(KmsError::KmsInvalidState(format!(
                    "The primary key moved to {primary_region} meanwhile."
                )))
            }
            RegionReply::Applied { .. } => {
                mrk.last_handover_error = Some(KmsError::KmsInternal(
                    "The other region answered with an unexpected epoch.".into(),
                ))
            }
        }
    }
}

fn mrk_epoch(key: &KeyRecord) -> u64 {
    key.mrk.as_ref().map_or(0, |m| m.epoch)
}

/// Copies the shared properties (material versions, rotation setting) into `key`.
fn copy_shared(key: &mut KeyRecord, shared: &SharedProps) {
    key.rotation_period_days = shared.rotation_period_days;
    key.rotations = shared.rotations.clone();
    for material in &shared.materials {
        if !key
            .materials
            .iter()
            .any(|m| m.material_id == material.material_id)
        {
            key.materials.push(material.clone());
        }
    }
    // Keep the primary's order (the last is current).
    let order: Vec<&str> = shared
        .materials
        .iter()
        .map(|m| m.material_id.as_str())
        .collect();
    key.materials.sort_by_key(|m| {
        order
            .iter()
            .position(|id| *id == m.material_id)
            .unwrap_or(usize::MAX)
    });
}
