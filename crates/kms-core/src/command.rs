//! Commands carried by the Raft log and what applying one returns.
//!
//! A command holds everything its effect depends on: the proposer has already read the clock,
//! drawn random ids and wrapped fresh key material.

use crate::{
    GrantRecord, ImportParameters, KeyRecord, RegionMessage, RegionReply, WrappedMaterial,
};
use kms_types::{ImportType, KmsError, RotationType};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One mutation of the key store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// A command lives briefly (built, serialized into the log, applied); boxing CreateKey's record
// would add an allocation to the common write and change every construction for nothing.
#[allow(clippy::large_enum_variant)]
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
        /// The caller's account; empty in commands logged before accounts were tenants (then
        /// the one alias of that name is meant).
        #[serde(default)]
        account_id: String,
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
    /// GetParametersForImport: keeps a wrapping key pair (private half wrapped by the root
    /// key) under its token id, and drops tokens expired at `now_ms`.
    StoreImportParameters {
        /// The import token's id (hex).
        token_id: String,
        /// The parameters.
        parameters: ImportParameters,
        /// The proposer's clock.
        now_ms: i64,
    },
    /// ImportKeyMaterial: the material, already unwrapped from the caller's wrapping, checked
    /// and wrapped again by the root key, with its id derived from the key and the bytes.
    ImportKeyMaterial {
        /// Target key id.
        key_id: String,
        /// The import token's id; it must still be the key's and valid at `now_ms`.
        token_id: String,
        /// The material (`import` set: validity and description).
        material: WrappedMaterial,
        /// `ImportType` as sent; omitted is NEW for a key without material, else EXISTING.
        import_type: Option<ImportType>,
        /// Whether `KeyMaterialDescription` was sent (omitted keeps the previous one).
        description_sent: bool,
        /// The proposer's clock.
        now_ms: i64,
    },
    /// DeleteImportedKeyMaterial of one material of an EXTERNAL key: the key goes
    /// PendingImport (unless pending deletion).
    DeleteImportedMaterial {
        /// Target key id.
        key_id: String,
        /// The material.
        material_id: String,
    },
    /// Deletes every imported material whose ValidTo is at or before `now_ms`. Proposed by the
    /// leader's task; applying it again deletes nothing more.
    ExpireImportedMaterial {
        /// The leader's clock when it proposed this.
        now_ms: i64,
    },
    /// Wipes every key, alias and grant, and the messages queued for other regions (the reset
    /// test suites call, where the operator switched it on). The outbox counters stay, so no
    /// sequence number is used twice.
    Reset,
    /// One part of a backup being restored (`trent restore`): part 0 replaces an empty region's
    /// state (refused in a region that holds any key, alias or grant), the later parts add
    /// their keys, in order.
    Restore {
        /// The backup's SHA-256 (hex), so parts of two backups never mix.
        backup_id: String,
        /// This part's number, from 0.
        part: u32,
        /// How many parts the backup has.
        parts: u32,
        /// The part's state.
        image: crate::RestoreImage,
        /// The proposer's clock (the restored outbox counter moves past it).
        restore_ms: i64,
    },
    /// Makes root-key generation `generation` (the current one + 1) the one that wraps new
    /// material; refused while an earlier rotation is still re-wrapping.
    AddRootKeyGeneration {
        /// The new generation's number.
        generation: u32,
        /// Its key, wrapped by the root key (`WrapContext::root_key_generation`).
        sealed: Vec<u8>,
    },
    /// Replaces, in the named keys and import tokens (and every custom key store's secret),
    /// each blob equal to an `old` by its `new`
    /// (re-wrapped under the current generation); a blob that changed meanwhile stays.
    Rewrap {
        /// Keys whose blobs are re-wrapped.
        key_ids: Vec<String>,
        /// Import tokens whose wrapping keys are re-wrapped.
        token_ids: Vec<String>,
        /// (old blob, the same material wrapped under the current generation).
        blobs: Vec<(Vec<u8>, Vec<u8>)>,
    },
    /// Retires every root-key generation below `below`; refused while any blob in the state is
    /// wrapped under one.
    RetireRootKeyGenerations {
        /// The lowest generation kept (besides the root key itself).
        below: u32,
    },
    /// A node's batch of key uses since its last batch (GetKeyLastUsage); also starts the
    /// region's use tracking at `now_ms` if it had not started (an empty batch does only that).
    RecordKeyUse {
        /// Key id and its latest use on the proposing node.
        uses: Vec<(String, crate::KeyUse)>,
        /// The proposer's clock.
        now_ms: i64,
    },
    /// Creates a custom key store (DISCONNECTED); refused if its name, proxy URI or cluster is
    /// in use in the account.
    CreateCustomKeyStore {
        /// The new store.
        record: crate::CustomKeyStoreRecord,
    },
    /// Gives store `id` a new name and backend; a change AWS allows only while disconnected
    /// is refused otherwise.
    UpdateCustomKeyStore {
        /// The store.
        id: String,
        /// Its name after the update.
        name: String,
        /// Its backend after the update.
        backend: crate::KeyStoreBackend,
    },
    /// Deletes a DISCONNECTED store that holds no key.
    DeleteCustomKeyStore {
        /// The store.
        id: String,
    },
    /// Moves a store to another connection state (Connect, Disconnect, the leader's probe).
    SetCustomKeyStoreConnection(crate::ConnectionChange),
    /// After a restore: asks each of `regions` (the linked regions) to send again what it
    /// knows of the multi-region keys it shares with this one (`RegionMessage::Resync`).
    ResyncWith {
        /// The regions to ask.
        regions: Vec<String>,
    },
}

/// What a successfully applied command returns to its proposer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum CommandOutput {
    /// Nothing to report.
    #[default]
    Empty,
    /// The key as it is after the command.
    Key(Box<KeyRecord>),
    /// How many keys a `DeleteDueKeys` removed.
    Deleted(u32),
    /// The key after a command that queued a message for another region, and the outbox
    /// sequence number of that message.
    Queued {
        /// The key.
        key: Box<KeyRecord>,
        /// The outbox entry to wait for.
        seq: u64,
    },
    /// This region's answer to another region's message.
    Region(RegionReply),
    /// One result per command of a `Batch`, in order.
    Batch(Vec<Result<CommandOutput, KmsError>>),
    /// The grant CreateGrant created or, for a repeated named request, found.
    Grant(Box<GrantRecord>),
}

/// The state machine's answer to one log entry: the command's output or the KMS error that
/// rejected it (rejections are deterministic, so every replica agrees on them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response(pub Result<CommandOutput, KmsError>);

impl Default for Response {
    fn default() -> Self {
        Response(Ok(CommandOutput::Empty))
    }
}
