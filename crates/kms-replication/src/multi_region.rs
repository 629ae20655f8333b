//! ReplicateKey and UpdatePrimaryRegion: validate, commit the command that queues the
//! cross-region message, then wait briefly for the other region's committed answer so that
//! on a healthy link the caller sees the settled result (AWS answers at once with Creating or
//! Updating; Trent does too when the other region does not answer within `SETTLE_WAIT`).
//!
//! The KMS service validates the request's members, resolves and authorizes the key, and then
//! hands the authorized key to these functions.

use crate::{Region, Replication};
use kms_core::{Command, CommandOutput, KeyRecord};
use kms_types::model::*;
use kms_types::*;
use std::time::{Duration, Instant};

/// How long an operation waits for the other region before answering with the transient state.
const SETTLE_WAIT: Duration = Duration::from_secs(2);

/// A new replica's independent properties, validated by the KMS service.
pub struct ReplicaProperties {
    /// Its description.
    pub description: String,
    /// Its key policy.
    pub policy: String,
    /// Its tags.
    pub tags: Vec<(String, String)>,
}

/// Checks a region member: well formed, and this region or a peer of the link.
pub fn check_region_name(
    region: &str,
    field: &str,
    this_region: &str,
    replication: Option<&Replication>,
) -> Result<(), KmsError> {
    let well_formed = (1..=32).contains(&region.len())
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !well_formed {
        return Err(KmsError::Validation(format!(
                "1 validation error detected: Value '{region}' at '{field}' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){{2,3}}\\d+$"
            )));
    }
    let known = region == this_region
        || replication.is_some_and(|replication| replication.link().has_peer(region));
    if !known {
        return Err(KmsError::UnsupportedOperation(format!(
            "Region {region} is not part of this Trent deployment."
        )));
    }
    Ok(())
}

/// Waits until outbox entry `seq` has its answer committed, or `SETTLE_WAIT` passed. True if it
/// settled.
async fn wait_delivered(kms: &impl Region, replication: Option<&Replication>, seq: u64) -> bool {
    if let Some(replication) = replication {
        replication.wake_shippers();
    }
    let deadline = Instant::now() + SETTLE_WAIT;
    // One barrier, so this node has applied the entry; from then on its disappearance from
    // the local state means the answer was committed.
    if let Err(e) = kms.barrier().await {
        tracing::debug!(error = %e, "waiting for a cross-region answer");
        return false;
    }
    loop {
        if !kms.read_applied(|state| state.outbox_pending(seq)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// ReplicateKey of the authorized primary `key` to `replica_region`. The answer carries the
/// replica's metadata as the replica region committed it, read back from that region over the
/// link; when the replica region has not answered within `SETTLE_WAIT` (or cannot be read
/// back), it carries what AWS shows meanwhile: the replica in state `Creating`.
pub async fn replicate_key(
    kms: &impl Region,
    replication: Option<&Replication>,
    key: &KeyRecord,
    replica_region: String,
    properties: ReplicaProperties,
) -> Result<ReplicateKeyResponse, KmsError> {
    check_region_name(&replica_region, "replicaRegion", kms.region(), replication)?;
    let ReplicaProperties {
        description,
        policy,
        tags,
    } = properties;
    let output = kms
        .commit(Command::ReplicateKey {
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
    let delivered = wait_delivered(kms, replication, seq).await;
    let mut committed = None;
    if delivered {
        // The primary's view after the answer: a refused replica is no longer listed.
        kms.barrier().await?;
        let listed = kms.read_applied(|s| {
            s.key(&key.key_id)
                .and_then(|k| k.mrk.as_ref())
                .map(|m| m.replicas.contains_key(&replica_region))
        });
        if listed == Some(false) {
            return Err(KmsError::KmsInternal(format!(
                "{replica_region} refused the replica."
            )));
        }
        if let Some(replication) = replication {
            match replication
                .link()
                .key_metadata(&replica_region, &key.key_id)
                .await
            {
                Ok(metadata) => committed = metadata,
                Err(e) => {
                    tracing::debug!(error = %e, "reading back a new replica's metadata");
                }
            }
        }
    }
    let replica_key_metadata = match committed {
        Some(metadata) => metadata,
        None => creating_replica(kms, *primary, &replica_region, description),
    };
    Ok(ReplicateKeyResponse {
        replica_key_metadata,
        replica_policy: policy,
        replica_tags: tags
            .into_iter()
            .map(|(tag_key, tag_value)| Tag { tag_key, tag_value })
            .collect(),
    })
}

/// The replica as AWS shows it before the replica region answered: state `Creating`, the
/// shared properties of the primary, the replica's own ARN and description.
fn creating_replica(
    kms: &impl Region,
    primary: KeyRecord,
    replica_region: &str,
    description: String,
) -> KeyMetadata {
    let mut replica = primary;
    replica.arn = key_arn(replica_region, &replica.account_id, &replica.key_id);
    replica.description = description;
    replica.creation_ms = kms.now_ms();
    replica.key_state = KeyState::Creating;
    replica.deletion_ms = None;
    replica.pending_window_days = None;
    replica.metadata()
}

/// UpdatePrimaryRegion of the authorized `key` to `to_region`.
pub async fn update_primary_region(
    kms: &impl Region,
    replication: Option<&Replication>,
    key: &KeyRecord,
    to_region: String,
) -> Result<(), KmsError> {
    check_region_name(&to_region, "primaryRegion", kms.region(), replication)?;
    let output = kms
        .commit(Command::StartPrimaryHandover {
            key_id: key.key_id.clone(),
            to_region,
        })
        .await?;
    let CommandOutput::Queued { seq, .. } = output else {
        return Err(unexpected(output));
    };
    if wait_delivered(kms, replication, seq).await {
        // A refusal by the other region (its key disabled, say) is the caller's error.
        kms.barrier().await?;
        let refused = kms.read_applied(|state| {
            state
                .key(&key.key_id)
                .and_then(|k| k.mrk.as_ref())
                .and_then(|m| m.last_handover_error.clone())
        });
        if let Some(error) = refused {
            return Err(error);
        }
    }
    Ok(())
}

fn unexpected(output: CommandOutput) -> KmsError {
    KmsError::KmsInternal(format!("Unexpected state machine answer {output:?}"))
}
