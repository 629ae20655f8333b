//! The persisted shapes of the released version (commit `fed589d`, store format 2), frozen.
//!
//! bincode is not self-describing: a format-2 record decodes only into the exact type layout
//! that wrote it. Since then `kms_core` gained fields (imported material, per-account aliases,
//! import tokens), so [`crate::migrate`] decodes format-2 log entries and snapshots into these
//! frozen copies, then moves them to today's types through their serde form
//! ([`upgrade`]): a field added since then takes its `#[serde(default)]`. Only the types whose
//! layout changed are copied; the unchanged ones (`AliasRecord`, `RotationRecord`,
//! `GrantRecord`, `RegionReply` and the `kms_types` enums) are today's. Never edit these
//! shapes: they are what the released binary wrote.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::codec::CodecError;
use crate::{LogId, Node, NodeId, StoredMembership};

/// Moves a value decoded in a frozen shape to today's type through serde's data model (as JSON),
/// so fields added since take their defaults.
pub(crate) fn upgrade<Old: Serialize, New: DeserializeOwned>(old: &Old) -> Result<New, CodecError> {
    Ok(serde_json::from_value(serde_json::to_value(old)?)?)
}

/// A format-2 log entry: openraft's `Entry` layout with the frozen command.
#[derive(Serialize, Deserialize)]
pub(crate) struct Entry {
    log_id: LogId,
    payload: EntryPayload,
}

/// openraft's `EntryPayload` layout with the frozen command.
#[derive(Serialize, Deserialize)]
enum EntryPayload {
    Blank,
    Normal(Box<v2::Command>),
    Membership(openraft::Membership<NodeId, Node>),
}

/// A format-2 snapshot's metadata (kms-store's `PersistedSnapshotMeta` layout before it named
/// a snapshot file).
#[derive(Serialize, Deserialize)]
pub(crate) struct PersistedSnapshotMeta {
    seq: u64,
    meta: crate::SnapshotMeta,
}

/// A format-2 snapshot's data (kms-store's `SmData` layout with the frozen state).
#[derive(Serialize, Deserialize)]
pub(crate) struct SmData {
    last_applied: Option<LogId>,
    last_membership: StoredMembership,
    state: v2::State,
}

/// The kms-core types of fed589d whose layout changed since, as they were (doc comments kept).
#[allow(missing_docs, dead_code)]
mod v2 {
    use kms_core::{AliasRecord, GrantRecord, RegionReply, RotationRecord};
    use kms_types::{KeySpec, KeyState, KeyUsage, KmsError, Origin, RotationType};
    use serde::{Deserialize, Serialize};
    use std::collections::BTreeMap;

    /// One version of a key's material, wrapped by the region root key. The state never holds
    /// plaintext material.
    #[derive(Serialize, Deserialize)]
    pub struct WrappedMaterial {
        /// 64 lowercase hex characters; also carried in ciphertexts made with this material.
        pub material_id: String,
        /// Root-key-wrapped material (opaque to this crate).
        pub wrapped: Vec<u8>,
        /// When this material was created, ms since the epoch.
        pub created_ms: i64,
        /// The public key (X.509 SubjectPublicKeyInfo DER) of an asymmetric key; public, so stored
        /// as it is.
        pub public_key: Option<Vec<u8>>,
    }

    /// A KMS key as the replicated state holds it.
    #[derive(Serialize, Deserialize)]
    pub struct KeyRecord {
        /// Region-independent key id (UUID, or `mrk-` + 32 hex).
        pub key_id: String,
        /// The key's ARN in this region.
        pub arn: String,
        /// Owning account.
        pub account_id: String,
        /// Creation time, ms since the epoch.
        pub creation_ms: i64,
        /// Free-form description (0–8192 characters).
        pub description: String,
        /// Key spec.
        pub key_spec: KeySpec,
        /// Key usage.
        pub key_usage: KeyUsage,
        /// Origin of the material.
        pub origin: Origin,
        /// Key state.
        pub key_state: KeyState,
        /// When a key pending deletion is deleted, ms since the epoch.
        pub deletion_ms: Option<i64>,
        /// The waiting period given to ScheduleKeyDeletion.
        pub pending_window_days: Option<u32>,
        /// Whether this is a multi-region key.
        pub multi_region: bool,
        /// The key policy document (JSON text).
        pub policy: String,
        /// Tags, by tag key.
        pub tags: BTreeMap<String, String>,
        /// Every material version, oldest first; the last is current.
        pub materials: Vec<WrappedMaterial>,
        /// The automatic rotation period in days; `Some` exactly when automatic rotation is on.
        pub rotation_period_days: Option<u32>,
        /// When the leader next rotates the key automatically, ms since the epoch.
        pub next_rotation_ms: Option<i64>,
        /// Every rotation so far, oldest first.
        pub rotations: Vec<RotationRecord>,
        /// This region's view of a multi-region key (`Some` exactly when `multi_region`).
        pub mrk: Option<MultiRegionState>,
    }

    /// One mutation of the key store.
    #[derive(Serialize, Deserialize)]
    pub enum Command {
        /// Does nothing; a leader barrier and a test entry.
        Noop,
        /// Adds a new key; fails if the id is taken.
        CreateKey {
            /// The complete record, material already wrapped.
            record: KeyRecord,
        },
        /// UpdateKeyDescription.
        UpdateKeyDescription {
            /// Target key id.
            key_id: String,
            /// New description.
            description: String,
        },
        /// EnableKey (`enabled = true`) or DisableKey.
        SetKeyEnabled {
            /// Target key id.
            key_id: String,
            /// Whether the key ends up Enabled or Disabled.
            enabled: bool,
        },
        /// ScheduleKeyDeletion.
        ScheduleKeyDeletion {
            /// Target key id.
            key_id: String,
            /// When the key is to be deleted, ms since the epoch.
            deletion_ms: i64,
            /// The waiting period, 7–30 days.
            pending_window_days: u32,
        },
        /// CancelKeyDeletion: the key returns Disabled.
        CancelKeyDeletion {
            /// Target key id.
            key_id: String,
        },
        /// Deletes every key pending deletion whose date is at or before `now_ms`, with its aliases.
        /// Proposed by the leader's deletion task.
        DeleteDueKeys {
            /// The leader's clock when it proposed this.
            now_ms: i64,
        },
        /// CreateAlias.
        CreateAlias {
            /// `alias/...`.
            alias_name: String,
            /// Target key id.
            target_key_id: String,
            /// Proposer's clock.
            now_ms: i64,
        },
        /// UpdateAlias.
        UpdateAlias {
            /// `alias/...`.
            alias_name: String,
            /// New target key id.
            target_key_id: String,
            /// Proposer's clock.
            now_ms: i64,
        },
        /// DeleteAlias.
        DeleteAlias {
            /// `alias/...`.
            alias_name: String,
        },
        /// TagResource: adds or overwrites tags.
        TagResource {
            /// Target key id.
            key_id: String,
            /// Tag key and value pairs.
            tags: Vec<(String, String)>,
        },
        /// UntagResource.
        UntagResource {
            /// Target key id.
            key_id: String,
            /// Tag keys to remove.
            tag_keys: Vec<String>,
        },
        /// PutKeyPolicy.
        PutKeyPolicy {
            /// Target key id.
            key_id: String,
            /// The validated policy document.
            policy: String,
        },
        /// EnableKeyRotation (`period_days` is `Some`) or DisableKeyRotation (`None`).
        SetKeyRotation {
            /// Target key id.
            key_id: String,
            /// Rotation period in days, 90–2560, or `None` to disable.
            period_days: Option<u32>,
            /// The next automatic rotation, ms since the epoch (with `period_days`).
            next_rotation_ms: Option<i64>,
        },
        /// Makes new material current (RotateKeyOnDemand, or the leader's automatic rotation).
        RotateKey {
            /// Target key id.
            key_id: String,
            /// The material the proposer saw as current; if another rotation won the race, this
            /// one is rejected, so a rotation happens once.
            expected_current: String,
            /// The new material, wrapped.
            material: WrappedMaterial,
            /// Automatic or on demand.
            rotation_type: RotationType,
            /// The next automatic rotation after this one, if automatic rotation is on.
            next_rotation_ms: Option<i64>,
        },
        /// ReplicateKey on a multi-region primary: lists the new replica and queues its creation.
        ReplicateKey {
            /// The primary's key id.
            key_id: String,
            /// The region to create the replica in.
            replica_region: String,
            /// The replica's description.
            description: String,
            /// The replica's key policy.
            policy: String,
            /// The replica's tags.
            tags: BTreeMap<String, String>,
        },
        /// UpdatePrimaryRegion on a multi-region primary: the key goes Updating and a
        /// `TakePrimary` for epoch + 1 is queued for `to_region`.
        StartPrimaryHandover {
            /// The primary's key id.
            key_id: String,
            /// The replica region that is to become primary.
            to_region: String,
        },
        /// A message from another region, its material already rewrapped by this region's root
        /// key. Answers with [`CommandOutput::Region`].
        ApplyRegionMessage {
            /// The sending region.
            from_region: String,
            /// The sender's outbox sequence number.
            seq: u64,
            /// This region.
            region: String,
            /// The proposer's clock.
            now_ms: i64,
            /// The message.
            message: RegionMessage,
        },
        /// The committed answer of another region to outbox entry `seq`: removes the entry and
        /// acts on the answer.
        OutboxAck {
            /// The outbox entry.
            seq: u64,
            /// The receiver's answer.
            reply: RegionReply,
            /// The proposer's clock.
            now_ms: i64,
        },
        /// Several independent commands proposed together (one log entry, one fsync), applied in
        /// order; each gets its own result. Batches do not nest.
        Batch(Vec<Command>),
        /// CreateGrant: adds the grant (id and creation time drawn by the proposer), or answers
        /// with an existing grant of the same name and parameters.
        CreateGrant {
            /// The complete grant.
            grant: GrantRecord,
        },
        /// RetireGrant, already authorized by the proposer.
        RetireGrant {
            /// The grant's key.
            key_id: String,
            /// The grant.
            grant_id: String,
        },
        /// RevokeGrant, already authorized by the proposer.
        RevokeGrant {
            /// The grant's key.
            key_id: String,
            /// The grant.
            grant_id: String,
        },
    }

    /// One region's view of a multi-region key.
    #[derive(Serialize, Deserialize)]
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

    /// New material from a rotation of a primary with replicas, shipped to every replica before it
    /// becomes current.
    #[derive(Serialize, Deserialize)]
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
    #[derive(Serialize, Deserialize)]
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

    /// A message from one region to another about one multi-region key.
    #[derive(Serialize, Deserialize)]
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
    }

    /// A message this region must deliver, kept in the replicated state until the receiver's
    /// answer is committed here too, so a leader change or a cut link loses nothing.
    #[derive(Serialize, Deserialize)]
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
    #[derive(Serialize, Deserialize)]
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
    }

    /// Everything the Raft log has built. Holds key material only in wrapped form. Ordered maps
    /// only, so iteration order (listing, snapshots) is the same on every replica.
    #[derive(Serialize, Deserialize)]
    pub struct State {
        pub keys: BTreeMap<String, KeyRecord>,
        aliases: BTreeMap<String, AliasRecord>,
        /// Messages to other regions not yet acknowledged, by sequence number.
        pub outbox: BTreeMap<u64, OutboxEntry>,
        /// The next outbox sequence number.
        pub next_outbox_seq: u64,
        /// Per sending region, the highest outbox sequence number applied here.
        pub inbound: BTreeMap<String, u64>,
        /// Grants, by key id and grant id.
        #[serde(default)]
        pub grants: BTreeMap<String, BTreeMap<String, GrantRecord>>,
    }
}
