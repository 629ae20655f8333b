//! The replicated key store as plain Rust: the [`Command`]s the Raft log carries, the [`State`]
//! they build, the deterministic [`State::apply`] that turns one into the other, and AWS's
//! key-state table, the grants on keys ([`grants`]), imported key material (`import`), custom key stores
//! (`custom_key_store`), the restore of a backup (`restore`) and the root-key generations of a rotation (`root_keys`).
//!
//! Architecture invariant: no clock, no randomness, no IO and no crypto here. Time, fresh key ids
//! and wrapped key material are decided by the proposer and arrive inside the command, so every
//! replica that applies the same log reaches the same state.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod command;
mod custom_key_store;
pub mod grants;
mod import;
pub mod key_state;
mod key_use;
pub mod multi_region;
mod record;
mod region_protocol;
#[cfg(test)]
mod region_tests;
mod restore;
mod root_keys;
mod state;
#[cfg(test)]
mod tests;

pub use command::{Command, CommandOutput, Response};
pub use custom_key_store::{
    ConnectionChange, CustomKeyStoreRecord, KeyStoreBackend, KeyStoreLink, WrappedSecret,
    MAX_CUSTOM_KEY_STORES,
};
pub use grants::{ContextConstraints, GrantRecord, MAX_GRANTS_PER_KEY};
pub use import::{ImportParameters, MAX_IMPORT_TOKENS_PER_KEY};
pub use key_use::KeyUse;
pub use multi_region::{
    MultiRegionState, OutboxEntry, OutboxKind, RegionMessage, RegionReply, SharedProps,
    StagedRotation,
};
pub use record::{AliasRecord, ImportedMaterial, KeyRecord, RotationRecord, WrappedMaterial};
pub use restore::{RestoreImage, StateSummary};
pub use root_keys::{blob_generation, RootKeyGenerations};
pub use state::{State, MAX_ALIASES_PER_KEY, MAX_ON_DEMAND_ROTATIONS, MAX_TAGS_PER_KEY};
