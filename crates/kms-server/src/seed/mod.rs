//! The seed: keys with fixed ids (and optionally fixed material) that a cluster starts with,
//! read from a YAML or JSON file (`TRENT_SEED` or the node config's `seed`).
//!
//! - `seed_file` (beside this module): the format and the checks made when it is loaded.
//! - `apply`: applying it to one region through Raft, with the operations' own commands
//!   (CreateKey's record, ImportKeyMaterial's material, ReplicateKey, CreateAlias). Applying is
//!   idempotent; a seed that disagrees with the region's state is refused before anything is
//!   written, naming the key and the field.

mod apply;

pub use crate::seed_file::Seed;
pub(crate) use apply::reapply;
pub use apply::refusal;
