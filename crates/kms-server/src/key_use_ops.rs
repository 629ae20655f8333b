//! GetKeyLastUsage, and the task that records this node's [`KeyUseLog`] in the region as one
//! `RecordKeyUse` batch every [`FLUSH_PERIOD`].

use crate::call::Call;
use crate::key_use::{used_key_ids, FLUSH_PERIOD};
use crate::service::Kms;
use kms_core::{Command, KeyUse};
use kms_types::model::{epoch_seconds, GetKeyLastUsageResponse, KeyIdRequest, KeyLastUsageData};
use kms_types::{KmsError, Operation};
use std::sync::Arc;

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
