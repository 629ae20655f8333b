//! The leader's background work: deleting keys at their DeletionDate (and, best effort, their
//! material in an HSM key store's token), deleting imported key
//! material at its ValidTo, rotating keys whose automatic rotation is due, and re-wrapping
//! material under a new root-key generation (`root_key_rotation`).
//!
//! Only the leader proposes, and each effect is a replicated command carrying the leader's
//! clock (and, for rotation, the material it replaces), so every replica applies it at the same
//! log position and a proposal repeated by a new leader applies once. After a leader change the
//! new leader's tasks pick up where the old ones stopped.

use crate::service::Kms;
use kms_core::{Command, KeyRecord};
use kms_types::RotationType;
use std::sync::Arc;
use std::time::Duration;

/// How often the leader looks for due work.
const PERIOD: Duration = Duration::from_millis(500);

/// Runs until the process ends.
pub async fn run(kms: Arc<Kms>) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !kms.is_leader() {
            continue;
        }
        delete_due_keys(&kms).await;
        expire_imported_material(&kms).await;
        rotate_due_keys(&kms).await;
        crate::root_key_rotation::rewrap_step(&kms).await;
    }
}

async fn delete_due_keys(kms: &Kms) {
    let now_ms = kms.now_ms();
    let due = kms
        .read_applied(|state| state.next_deletion_ms())
        .is_some_and(|at| at <= now_ms);
    if !due {
        return;
    }
    // Keys of HSM key stores whose deletion is due: their token objects go after the commit.
    let in_tokens =
        kms.read_applied(|state| crate::key_store_backends::due_hsm_keys(state, now_ms));
    match kms.write(Command::DeleteDueKeys { now_ms }).await {
        Ok(output) => tracing::info!(?output, "deleted keys whose waiting period ended"),
        Err(e) => {
            tracing::warn!(error = %e, "deleting due keys");
            return;
        }
    }
    for (store, arn) in in_tokens {
        kms.destroy_hsm_material(&store, &arn).await;
    }
}

/// Deletes imported material whose ValidTo has passed: one `ExpireImportedMaterial` with the
/// leader's clock, which deletes whatever is due at that time; a repeat (a new leader, a retry)
/// finds nothing more to delete.
async fn expire_imported_material(kms: &Kms) {
    let now_ms = kms.now_ms();
    let due = kms
        .read_applied(|state| state.next_material_expiry_ms())
        .is_some_and(|at| at <= now_ms);
    if !due {
        return;
    }
    match kms.write(Command::ExpireImportedMaterial { now_ms }).await {
        Ok(output) => tracing::info!(?output, "deleted imported key material past its ValidTo"),
        Err(e) => tracing::warn!(error = %e, "deleting expired imported key material"),
    }
}

async fn rotate_due_keys(kms: &Kms) {
    let now_ms = kms.now_ms();
    let due: Vec<KeyRecord> = kms.read_applied(|state| {
        state
            .keys_due_for_rotation(now_ms)
            .take(64)
            .cloned()
            .collect()
    });
    for key in due {
        let command = match kms.rotation_command(&key, RotationType::Automatic) {
            Ok(command) => command,
            Err(e) => {
                tracing::warn!(key_id = %key.key_id, error = %e, "preparing an automatic rotation");
                continue;
            }
        };
        match kms.write(command).await {
            Ok(_) => tracing::info!(key_id = %key.key_id, "rotated key material automatically"),
            Err(e) => tracing::warn!(key_id = %key.key_id, error = %e, "automatic rotation"),
        }
    }
}
