//! The leader's share of a root-key rotation: re-wrapping every key's material and the import
//! wrapping keys under the current generation (`Command::Rewrap`, compare-and-swap per blob),
//! then retiring the old generations (`Command::RetireRootKeyGenerations`) once a walk over
//! every key finds nothing left under one.

use crate::service::Kms;
use kms_core::Command;
use kms_crypto::WrapContext;

/// How many keys one `Rewrap` command re-wraps.
const REWRAP_BATCH: usize = 256;
/// How many `Rewrap` commands the leader proposes per tick of its background tasks.
const BATCHES_PER_TICK: usize = 16;

/// The leader's share of a rotation in progress, each tick: `Rewrap` commands of up to
/// [`REWRAP_BATCH`] keys each, walking the keys in order (at most [`BATCHES_PER_TICK`] of them),
/// and, once a walk from the first key finds nothing left under an old generation, the
/// retirement of the old generations.
pub(crate) async fn rewrap_step(kms: &Kms) {
    let mut after: Option<String> = None;
    for _ in 0..BATCHES_PER_TICK {
        match rewrap_batch(kms, after.as_deref()).await {
            Some(last) => after = Some(last),
            None => return,
        }
    }
}

/// One batch after key `after`; the last key it re-wrapped, or `None` when this tick is done.
async fn rewrap_batch(kms: &Kms, after: Option<&str>) -> Option<String> {
    let plan = kms.read_applied(|state| {
        let keys = state.root_keys();
        if !keys.rotating() {
            return None;
        }
        let current = keys.current;
        let (records, tokens) = state.blobs_to_rewrap(after, REWRAP_BATCH);
        let key_ids: Vec<String> = records.iter().map(|k| k.key_id.clone()).collect();
        let mut blobs = Vec::new();
        for key in &records {
            for (material_id, wrapped) in key_blobs(key) {
                if kms_crypto::wrapped_generation(wrapped).is_some_and(|g| g < current) {
                    blobs.push((
                        wrapped.to_vec(),
                        WrapContext::material(&key.key_id, material_id),
                    ));
                }
            }
        }
        let token_ids: Vec<String> = tokens.iter().map(|(id, _)| (*id).to_string()).collect();
        for (token_id, wrapped) in &tokens {
            let key_id = state
                .import_parameters(token_id)
                .map(|p| p.key_id.clone())
                .unwrap_or_default();
            blobs.push((
                wrapped.to_vec(),
                WrapContext::import_wrapping_key(&key_id, token_id),
            ));
        }
        for (store_id, wrapped) in state.store_secrets_to_rewrap() {
            blobs.push((wrapped.to_vec(), WrapContext::key_store_secret(store_id)));
        }
        Some((current, key_ids, token_ids, blobs))
    });
    let (current, key_ids, token_ids, blobs) = plan?;
    if blobs.is_empty() {
        // Nothing after the cursor; only a walk from the first key may retire.
        if after.is_none() {
            match kms
                .write(Command::RetireRootKeyGenerations { below: current })
                .await
            {
                Ok(_) => tracing::info!(
                    generation = current,
                    "root-key rotation done: older generations retired"
                ),
                Err(e) => tracing::warn!(error = %e, "retiring old root-key generations"),
            }
        }
        return None;
    }
    let mut pairs = Vec::with_capacity(blobs.len());
    for (old, context) in blobs {
        match kms.rewrap_blob(&old, &context) {
            Ok(new) => pairs.push((old, new)),
            Err(e) => {
                tracing::error!(error = %e, "a blob under an old root-key generation does not open; the rotation waits");
                return None;
            }
        }
    }
    let last = key_ids.last().cloned();
    let command = Command::Rewrap {
        key_ids,
        token_ids,
        blobs: pairs,
    };
    match kms.write(command).await {
        Ok(output) => {
            tracing::debug!(
                ?output,
                generation = current,
                "re-wrapped blobs under the current root-key generation"
            );
            // Tokens only (no key left after the cursor): the next tick walks again.
            last
        }
        Err(e) => {
            tracing::warn!(error = %e, "root-key rotation step");
            None
        }
    }
}

/// Each blob of `key` with the material id it is bound to.
pub(crate) fn key_blobs(key: &kms_core::KeyRecord) -> Vec<(&str, &[u8])> {
    let staged = key
        .mrk
        .as_ref()
        .and_then(|m| m.staged.as_ref())
        .map(|s| &s.material);
    key.materials
        .iter()
        .chain(key.pending_rotation.as_ref())
        .chain(staged)
        .filter(|m| !m.wrapped.is_empty())
        .map(|m| (m.material_id.as_str(), m.wrapped.as_slice()))
        .collect()
}
