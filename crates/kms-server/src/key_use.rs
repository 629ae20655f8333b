//! The node's log of key uses not yet recorded in the region, and which operations count as
//! a use. GetKeyLastUsage and the task that records the log are in `key_use_ops`.
//!
//! A successful cryptographic operation does not write to Raft. The node notes the use in
//! memory ([`KeyUseLog`]), and `key_use_ops::run` proposes what it noted as one
//! `RecordKeyUse` batch every [`FLUSH_PERIOD`]. GetKeyLastUsage answers with the later of the region's recorded use and
//! this node's not-yet-flushed one. So a use is visible at once on the node that served it and
//! within about [`FLUSH_PERIOD`] on every other node; a node that dies loses at most its last
//! period of uses (never a key or a ciphertext).
//!
//! Not kept: `CloudTrailEventId` (Trent's audit trail does not tie an event id to the request
//! id yet), so `KeyLastUsage` carries the operation, the time and the `KmsRequestId`.

use kms_core::KeyUse;
use kms_types::Operation;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How often a node proposes the uses it noted.
pub const FLUSH_PERIOD: Duration = Duration::from_secs(5);

/// The most uses one batch carries; more wait for the next period.
const MAX_BATCH: usize = 4096;

/// The operations GetKeyLastUsage reports (AWS's KeyLastUsageTrackingOperation values that
/// Trent serves).
pub fn is_tracked(operation: Operation) -> bool {
    use Operation as Op;
    matches!(
        operation,
        Op::Decrypt
            | Op::DeriveSharedSecret
            | Op::Encrypt
            | Op::GenerateDataKey
            | Op::GenerateDataKeyPair
            | Op::GenerateDataKeyPairWithoutPlaintext
            | Op::GenerateDataKeyWithoutPlaintext
            | Op::GenerateMac
            | Op::ReEncrypt
            | Op::Sign
            | Op::Verify
            | Op::VerifyMac
    )
}

/// The uses this node served since its last batch, latest per key.
#[derive(Default)]
pub struct KeyUseLog {
    pending: Mutex<HashMap<String, KeyUse>>,
}

impl KeyUseLog {
    /// Notes a use of `key_id`, keeping the later of it and one already noted.
    pub fn note(&self, key_id: &str, used: KeyUse) {
        let mut pending = self.lock();
        match pending.get(key_id) {
            Some(known) if !used.is_later_than(known) => {}
            _ => {
                pending.insert(key_id.to_string(), used);
            }
        }
    }

    /// This node's not-yet-recorded use of `key_id`.
    pub fn pending(&self, key_id: &str) -> Option<KeyUse> {
        self.lock().get(key_id).cloned()
    }

    /// How many keys have a use not yet recorded.
    pub fn pending_count(&self) -> usize {
        self.lock().len()
    }

    /// Takes up to [`MAX_BATCH`] noted uses for a batch.
    pub(crate) fn take(&self) -> Vec<(String, KeyUse)> {
        let mut pending = self.lock();
        let keys: Vec<String> = pending.keys().take(MAX_BATCH).cloned().collect();
        keys.into_iter()
            .filter_map(|key_id| pending.remove(&key_id).map(|used| (key_id, used)))
            .collect()
    }

    /// Puts back a batch that could not be committed.
    pub(crate) fn restore(&self, batch: Vec<(String, KeyUse)>) {
        for (key_id, used) in batch {
            self.note(&key_id, used);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyUse>> {
        // A panic while holding this lock loses nothing worth refusing service for.
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The key ids a successful `operation` used, from its JSON response (`KeyId`, and ReEncrypt's
/// `SourceKeyId`); both are key ARNs.
pub fn used_key_ids(operation: Operation, response: &serde_json::Value) -> Vec<String> {
    if !is_tracked(operation) {
        return Vec::new();
    }
    ["KeyId", "SourceKeyId"]
        .iter()
        .filter_map(|field| response.get(field)?.as_str())
        .filter_map(|arn| arn.rsplit_once(":key/").map(|(_, id)| id.to_string()))
        .collect()
}
