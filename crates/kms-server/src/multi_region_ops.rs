//! ReplicateKey and UpdatePrimaryRegion: validate, commit the command that queues the
//! cross-region message, then wait briefly for the other region's committed answer so that
//! on a healthy link the caller sees the settled result (AWS answers at once with Creating or
//! Updating; Trent does too when the other region does not answer within [`SETTLE_WAIT`]).

use crate::service::{Empty, Kms};
use crate::validate::required;
use kms_core::{Command, CommandOutput, KeyRecord};
use kms_types::model::*;
use kms_types::*;
use std::time::{Duration, Instant};

/// How long an operation waits for the other region before answering with the transient state.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

impl Kms {
    fn check_region_name(&self, region: &str, field: &str) -> Result<(), KmsError> {
        let well_formed = (1..=32).contains(&region.len())
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{region}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){{2,3}}\\d+$"
            )));
        }
        let known =
            region == self.region || self.link.as_ref().is_some_and(|link| link.has_peer(region));
        if !known {
            return Err(KmsError::UnsupportedOperation(format!(
                "Region {region} is not part of this Trent deployment."
            )));
        }
        Ok(())
    }

    /// Waits until outbox entry `seq` has its answer committed, or `SETTLE_WAIT` passed.
    /// True if it settled.
    async fn wait_delivered(&self, seq: u64) -> bool {
        if let Some(wake) = &self.shipper_wake {
            wake.notify_waiters();
        }
        let deadline = Instant::now() + SETTLE_WAIT;
        // One barrier, so this node has applied the entry; from then on its disappearance from
        // the local state means the answer was committed.
        if let Err(e) = self.read(|_| ()).await {
            tracing::debug!(error = %e, "waiting for a cross-region answer");
            return false;
        }
        loop {
            if !self.raft.reader().read(|state| state.outbox_pending(seq)) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub(crate) async fn replicate_key(
        &self,
        request: ReplicateKeyRequest,
    ) -> Result<ReplicateKeyResponse, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        let replica_region = required(request.replica_region, "replicaRegion")?;
        self.check_region_name(&replica_region, "replicaRegion")?;
        let (description, policy, tags) = self.new_key_properties(
            request.description,
            request.policy.as_deref(),
            request.bypass_policy_lockout_safety_check,
            request.tags.as_deref(),
        )?;
        let output = self
            .write(Command::ReplicateKey {
                key_id: key.key_id.clone(),
                replica_region: replica_region.clone(),
                description: description.clone(),
                policy: policy.clone(),
                tags: tags.iter().cloned().collect(),
            })
            .await?;
        let CommandOutput::Queued { key: primary, seq } = output else {
            return Err(unexpected(output));
        };
        let delivered = self.wait_delivered(seq).await;
        let mut replica: KeyRecord = *primary;
        replica.arn = key_arn(&replica_region, &self.account_id, &replica.key_id);
        replica.description = description;
        replica.creation_ms = self.now_ms();
        replica.key_state = if delivered {
            // The replica region committed it; its own view is authoritative from here on.
            KeyState::Enabled
        } else {
            KeyState::Creating
        };
        replica.deletion_ms = None;
        replica.pending_window_days = None;
        let state_after = self.read(|s| s.key(&key.key_id).cloned()).await?;
        if let (Some(after), Some(mrk)) = (state_after, replica.mrk.as_mut()) {
            // The primary's view after the answer (a refused replica is no longer listed).
            if let Some(after_mrk) = after.mrk {
                if delivered && !after_mrk.replicas.contains_key(&replica_region) {
                    return Err(KmsError::KmsInternal(format!(
                        "{replica_region} refused the replica."
                    )));
                }
                mrk.replicas = after_mrk.replicas;
            }
        }
        Ok(ReplicateKeyResponse {
            replica_key_metadata: replica.metadata(),
            replica_policy: policy,
            replica_tags: tags
                .into_iter()
                .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
                .collect(),
        })
    }

    pub(crate) async fn update_primary_region(
        &self,
        request: UpdatePrimaryRegionRequest,
    ) -> Result<Empty, KmsError> {
        let key = self.resolve(request.key_id, false).await?;
        let to_region = required(request.primary_region, "primaryRegion")?;
        self.check_region_name(&to_region, "primaryRegion")?;
        let output = self
            .write(Command::StartPrimaryHandover {
                key_id: key.key_id.clone(),
                to_region,
            })
            .await?;
        let CommandOutput::Queued { seq, .. } = output else {
            return Err(unexpected(output));
        };
        if self.wait_delivered(seq).await {
            // A refusal by the other region (its key disabled, say) is the caller's error.
            let refused = self
                .read(|state| {
                    state
                        .key(&key.key_id)
                        .and_then(|k| k.mrk.as_ref())
                        .and_then(|m| m.last_handover_error.clone())
                })
                .await?;
            if let Some(error) = refused {
                return Err(error);
            }
        }
        Ok(Empty {})
    }
}

fn unexpected(output: CommandOutput) -> KmsError {
    KmsError::KmsInternal(format!("Unexpected state machine answer {output:?}"))
}
