//! GetKeyLastUsage, and the node's side of recording key uses.
//!
//! A successful cryptographic operation does not write to Raft. The node notes the use in
//! memory ([`KeyUseLog`]), and [`run`] proposes what it noted as one `RecordKeyUse` batch every
//! [`FLUSH_PERIOD`]. GetKeyLastUsage answers with the later of the region's recorded use and
//! this node's not-yet-flushed one. So a use is visible at once on the node that served it and
//! within about [`FLUSH_PERIOD`] on every other node; a node that dies loses at most its last
//! period of uses (never a key or a ciphertext).
//!
//! Not kept: `CloudTrailEventId` (Trent's audit trail does not tie an event id to the request
//! id yet), so `KeyLastUsage` carries the operation, the time and the `KmsRequestId`.

use crate::call::Call;
use crate::service::Kms;
use kms_core::{Command, KeyUse};
use kms_types::model::{epoch_seconds, GetKeyLastUsageResponse, KeyIdRequest, KeyLastUsageData};
use kms_types::{KmsError, Operation};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
    fn take(&self) -> Vec<(String, KeyUse)> {
        let mut pending = self.lock();
        let keys: Vec<String> = pending.keys().take(MAX_BATCH).cloned().collect();
        keys.into_iter()
            .filter_map(|key_id| pending.remove(&key_id).map(|used| (key_id, used)))
            .collect()
    }

    /// Puts back a batch that could not be committed.
    fn restore(&self, batch: Vec<(String, KeyUse)>) {
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

/// Proposes this node's noted uses every [`FLUSH_PERIOD`] until the process ends; the leader
/// also starts the region's tracking if nothing has.
pub async fn run(kms: Arc<Kms>) {
    let mut ticker = tokio::time::interval(FLUSH_PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let uses = kms.key_uses().take();
        let untracked = kms.read_applied(|state| state.key_use_tracking_start_ms().is_none());
        if uses.is_empty() && !(untracked && kms.is_leader()) {
            continue;
        }
        let command = Command::RecordKeyUse {
            uses: uses.clone(),
            now_ms: kms.now_ms(),
        };
        if let Err(e) = kms.write(command).await {
            tracing::debug!(error = %e, uses = uses.len(), "recording key uses; retried next period");
            kms.key_uses().restore(uses);
        }
    }
}

impl Kms {
    /// Notes the keys a successful call used, for GetKeyLastUsage.
    pub(crate) fn note_key_uses(
        &self,
        operation: Operation,
        request_id: &str,
        response: &serde_json::Value,
    ) {
        let key_ids = used_key_ids(operation, response);
        if key_ids.is_empty() {
            return;
        }
        let at_ms = self.now_ms();
        for key_id in key_ids {
            self.key_uses().note(
                &key_id,
                KeyUse {
                    operation,
                    at_ms,
                    request_id: request_id.to_string(),
                },
            );
        }
    }
}

impl Call<'_> {
    pub(crate) async fn get_key_last_usage(
        &self,
        request: KeyIdRequest,
    ) -> Result<GetKeyLastUsageResponse, KmsError> {
        // AWS: key id or key ARN only, and never another account's key.
        let key = self.resolve(request.key_id, false).await?;
        if key.account_id != self.account_id() {
            return Err(KmsError::NotFound(format!(
                "Key '{}' does not exist",
                key.arn
            )));
        }
        let (recorded, start_ms) = self.read_applied(|state| {
            (
                state.last_use(&key.key_id).cloned(),
                state.key_use_tracking_start_ms(),
            )
        });
        let pending = self.key_uses().pending(&key.key_id);
        let latest = match (recorded, pending) {
            (Some(a), Some(b)) => Some(if b.is_later_than(&a) { b } else { a }),
            (a, b) => a.or(b),
        };
        let tracking_start_ms = start_ms.unwrap_or(key.creation_ms).max(key.creation_ms);
        Ok(GetKeyLastUsageResponse {
            key_id: key.arn.clone(),
            key_last_usage: latest.map(|used| KeyLastUsageData {
                operation: used.operation.name().to_string(),
                timestamp: epoch_seconds(used.at_ms),
                kms_request_id: used.request_id,
            }),
            tracking_start_date: epoch_seconds(tracking_start_ms),
            key_creation_date: epoch_seconds(key.creation_ms),
        })
    }
}
