//! The last cryptographic use of each key, for GetKeyLastUsage.
//!
//! Uses are not written per request: each node notes them in memory and proposes them in one
//! [`Command::RecordKeyUse`](crate::Command::RecordKeyUse) batch every few seconds. Applying a
//! batch keeps, per key, the latest use, so batches from several nodes and repeats of one batch
//! land in any order with the same result. The region's tracking start is set once, by the
//! first batch applied (the leader proposes an empty one when it finds none).

use crate::State;
use kms_types::Operation;
use serde::{Deserialize, Serialize};

/// One successful cryptographic operation with a key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUse {
    /// The operation (Encrypt, Decrypt, Sign, ...).
    pub operation: Operation,
    /// When it was answered, by the serving node's clock.
    pub at_ms: i64,
    /// The request id it was answered under (`x-amzn-RequestId`).
    pub request_id: String,
}

impl KeyUse {
    /// Whether `self` happened after `other` (ties broken by request id, so every replica and
    /// every node picks the same one).
    pub fn is_later_than(&self, other: &KeyUse) -> bool {
        (self.at_ms, &self.request_id) > (other.at_ms, &other.request_id)
    }
}

impl State {
    /// The latest use of `key_id` the region has recorded.
    pub fn last_use(&self, key_id: &str) -> Option<&KeyUse> {
        self.key_uses.get(key_id)
    }

    /// When the region began recording uses; `None` until the first batch is applied.
    pub fn key_use_tracking_start_ms(&self) -> Option<i64> {
        self.key_use_tracking_start_ms
    }

    /// Applies a batch: keeps each key's latest use (keys that are gone are skipped) and
    /// starts tracking at `now_ms` if it had not started.
    pub(crate) fn record_key_uses(&mut self, uses: &[(String, KeyUse)], now_ms: i64) {
        self.key_use_tracking_start_ms.get_or_insert(now_ms);
        for (key_id, used) in uses {
            if !self.keys.contains_key(key_id) {
                continue;
            }
            match self.key_uses.get(key_id) {
                Some(known) if !used.is_later_than(known) => {}
                _ => {
                    self.key_uses.insert(key_id.clone(), used.clone());
                }
            }
        }
    }
}
