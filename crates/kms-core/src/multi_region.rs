//! Multi-region keys as the replicated state holds them: each region's view of a key's primary
//! epoch and replicas ([`MultiRegionState`]), the shared properties a primary sends its replicas
//! ([`SharedProps`]), the messages regions exchange ([`RegionMessage`], [`RegionReply`]) and the
//! durable outbox entries that carry them ([`OutboxEntry`]).
//!
//! The protocol is written down in `docs/0001-multi-region-keys.md`. The rules every handler
//! follows: a region accepts shared properties only from a newer `(epoch, shared_version)` than
//! its own; a primary role is held at one epoch and moves only by a `TakePrimary` the receiver
//! committed; nothing is ordered by wall-clock time.

use crate::{KeyRecord, RotationRecord, WrappedMaterial};
use kms_types::{KeySpec, KeyUsage, KmsError, Origin, RotationType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One region's view of a multi-region key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionState {
    /// The highest primary epoch this region has accepted (1 at creation; +1 per primary move).
    pub epoch: u64,
    /// The region that is primary at `epoch`.
    pub primary_region: String,
    /// The replica regions. On the primary, each with the shared version that region last
    /// acknowledged; on a replica, the primary's list as last synced (versions unused).
    pub replicas: BTreeMap<String, u64>,
    /// Version of the shared properties; the primary bumps it on every shared change.
    pub shared_version: u64,
    /// On the primary: an UpdatePrimaryRegion in flight, handing the role to this region at
    /// `epoch + 1`. The key is Updating meanwhile and its shared properties are frozen.
    pub handing_to: Option<String>,
    /// On a new primary: the old primary, until it acknowledges the new epoch (the key is
    /// Updating meanwhile).
    pub taken_from: Option<String>,
    /// A rotation whose material is not used for encryption until every replica holds it.
    pub staged: Option<StagedRotation>,
    /// Why the last UpdatePrimaryRegion was refused by the other region, if it was.
    pub last_handover_error: Option<KmsError>,
}

impl MultiRegionState {
    /// The state of a new primary in `region`.
    pub fn new_primary(region: &str) -> MultiRegionState {
        MultiRegionState {
            epoch: 1,
            primary_region: region.to_string(),
            replicas: BTreeMap::new(),
            shared_version: 1,
            handing_to: None,
            taken_from: None,
            staged: None,
            last_handover_error: None,
        }
    }
}

/// New material from a rotation of a primary with replicas, shipped to every replica before it
/// becomes current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StagedRotation {
    /// The new material.
    pub material: WrappedMaterial,
    /// Automatic or on demand.
    pub rotation_type: RotationType,
    /// The shared version at which it was staged; every replica must acknowledge at least this.
    pub version: u64,
    /// The primary's next automatic rotation once this one completes.
    pub next_rotation_ms: Option<i64>,
}

/// The properties a primary owns and copies to its replicas (AWS's "shared properties"), with
/// the fencing pair `(epoch, shared_version)`.
///
/// In the state and in commands, material is wrapped by the holding region's root key. On the
/// wire between regions the same fields carry material sealed to the receiving region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedProps {
    /// The key id, the same in every region.
    pub key_id: String,
    /// The sender's primary epoch.
    pub epoch: u64,
    /// The primary at `epoch`.
    pub primary_region: String,
    /// Every replica region.
    pub replica_regions: Vec<String>,
    /// The sender's shared version.
    pub shared_version: u64,
    /// Key spec.
    pub key_spec: KeySpec,
    /// Key usage.
    pub key_usage: KeyUsage,
    /// Origin of the material.
    pub origin: Origin,
    /// Automatic rotation period, if automatic rotation is on.
    pub rotation_period_days: Option<u32>,
    /// The primary's next automatic rotation (used by a region that becomes primary).
    pub next_rotation_ms: Option<i64>,
    /// Completed rotations.
    pub rotations: Vec<RotationRecord>,
    /// Every material version, oldest first; the last is current.
    pub materials: Vec<WrappedMaterial>,
    /// A rotation waiting for every replica.
    pub staged: Option<StagedRotation>,
}

impl SharedProps {
    /// Every piece of material the message carries (versions, then staged).
    pub fn materials_mut(&mut self) -> impl Iterator<Item = &mut WrappedMaterial> {
        self.materials
            .iter_mut()
            .chain(self.staged.iter_mut().map(|s| &mut s.material))
    }
}

/// A message from one region to another about one multi-region key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegionMessage {
    /// Primary to a new replica region: create the replica (ReplicateKey).
    CreateReplica {
        /// Shared properties, material included.
        shared: SharedProps,
        /// The replica's own description, policy and tags from the ReplicateKey request.
        description: String,
        /// The replica's key policy.
        policy: String,
        /// The replica's tags.
        tags: BTreeMap<String, String>,
        /// The owning account.
        account_id: String,
    },
    /// Primary to a replica: the current shared properties.
    SyncShared {
        /// Shared properties, material included.
        shared: SharedProps,
    },
    /// Old primary to new primary (UpdatePrimaryRegion): take the role at `shared.epoch`.
    TakePrimary {
        /// Shared properties with the new epoch and the receiver as primary.
        shared: SharedProps,
    },
    /// A replica region to the primary: the replica was deleted.
    ReplicaDeleted {
        /// The key id.
        key_id: String,
        /// The region whose replica is gone.
        region: String,
        /// The epoch the replica knew.
        epoch: u64,
    },
    /// A region restored from a backup to each linked region: send me again what you know of
    /// every multi-region key we share (the restore lost what arrived after the backup, and
    /// the sender's outbox counts it as delivered).
    Resync,
    /// A replica to its primary, answering [`RegionMessage::Resync`]: the shared properties as
    /// this replica holds them, and its own description, policy and tags (which a primary that
    /// lost the key entirely takes for its own).
    ReportShared {
        /// Shared properties, material included.
        shared: SharedProps,
        /// The replica's description.
        description: String,
        /// The replica's key policy.
        policy: String,
        /// The replica's tags.
        tags: BTreeMap<String, String>,
        /// The owning account.
        account_id: String,
    },
}

impl RegionMessage {
    /// The key the message is about.
    pub fn key_id(&self) -> &str {
        match self {
            RegionMessage::CreateReplica { shared, .. }
            | RegionMessage::SyncShared { shared }
            | RegionMessage::TakePrimary { shared }
            | RegionMessage::ReportShared { shared, .. } => &shared.key_id,
            RegionMessage::ReplicaDeleted { key_id, .. } => key_id,
            RegionMessage::Resync => "",
        }
    }

    /// The shared properties the message carries, if any.
    pub fn shared_mut(&mut self) -> Option<&mut SharedProps> {
        match self {
            RegionMessage::CreateReplica { shared, .. }
            | RegionMessage::SyncShared { shared }
            | RegionMessage::TakePrimary { shared }
            | RegionMessage::ReportShared { shared, .. } => Some(shared),
            RegionMessage::ReplicaDeleted { .. } | RegionMessage::Resync => None,
        }
    }
}

/// What the receiving region committed in answer to a [`RegionMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RegionReply {
    /// Applied (or already applied): the receiver's epoch and shared version now.
    Applied {
        /// Receiver's epoch.
        epoch: u64,
        /// Receiver's shared version.
        shared_version: u64,
    },
    /// The sender is behind: the receiver knows a newer primary.
    Stale {
        /// Receiver's epoch.
        epoch: u64,
        /// The primary at that epoch.
        primary_region: String,
    },
    /// Refused for good (the sender must not retry), with AWS's error.
    Rejected {
        /// Why.
        error: KmsError,
    },
}

/// A message this region must deliver, kept in the replicated state until the receiver's
/// answer is committed here too, so a leader change or a cut link loses nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// The receiving region.
    pub to_region: String,
    /// The key it is about.
    pub key_id: String,
    /// What to send. Shared properties are read from the key when the message is sent, so a
    /// retry always carries the newest ones.
    pub kind: OutboxKind,
}

/// The kinds of outbox entries (see [`RegionMessage`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxKind {
    /// [`RegionMessage::CreateReplica`] with these independent properties.
    CreateReplica {
        /// Replica description.
        description: String,
        /// Replica policy.
        policy: String,
        /// Replica tags.
        tags: BTreeMap<String, String>,
    },
    /// [`RegionMessage::SyncShared`].
    SyncShared,
    /// [`RegionMessage::TakePrimary`].
    TakePrimary,
    /// [`RegionMessage::ReplicaDeleted`].
    ReplicaDeleted {
        /// The deleted replica's region.
        region: String,
        /// The epoch it knew.
        epoch: u64,
    },
    /// [`RegionMessage::Resync`] (not about one key: `key_id` is empty).
    Resync,
    /// [`RegionMessage::ReportShared`].
    ReportShared,
}

impl KeyRecord {
    /// The region of this record, from its ARN.
    pub fn region(&self) -> &str {
        self.arn.split(':').nth(3).unwrap_or("")
    }

    /// True for a multi-region key that is the primary in this record's region.
    pub fn is_mrk_primary(&self) -> bool {
        self.mrk
            .as_ref()
            .is_some_and(|m| m.primary_region == self.region())
    }

    /// True for a multi-region replica.
    pub fn is_mrk_replica(&self) -> bool {
        self.mrk
            .as_ref()
            .is_some_and(|m| m.primary_region != self.region())
    }

    /// The shared properties this (primary) record would send. `None` for other keys.
    pub fn shared_props(&self) -> Option<SharedProps> {
        let mrk = self.mrk.as_ref()?;
        Some(SharedProps {
            key_id: self.key_id.clone(),
            epoch: mrk.epoch,
            primary_region: mrk.primary_region.clone(),
            replica_regions: mrk.replicas.keys().cloned().collect(),
            shared_version: mrk.shared_version,
            key_spec: self.key_spec,
            key_usage: self.key_usage,
            origin: self.origin,
            rotation_period_days: self.rotation_period_days,
            next_rotation_ms: self.next_rotation_ms,
            rotations: self.rotations.clone(),
            materials: self.materials.clone(),
            staged: mrk.staged.clone(),
        })
    }
}
