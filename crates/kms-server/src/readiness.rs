//! Readiness, apart from liveness: `GET /ready` answers 200 only when this node is unsealed,
//! knows its region's leader, and has applied what its region had committed when the node
//! started serving; `GET /live` answers 200 whenever the process serves HTTP, sealed or not.
//! An orchestrator routes traffic by the first and restarts by the second.
//!
//! "Caught up" is the first linearizable read barrier the node passes after it unseals: the
//! barrier gets the leader's commit index and waits until this node has applied that far.

use crate::service::Kms;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Why `kms` is not ready, if it is not.
pub(crate) fn readiness(kms: &Kms) -> Result<(), Value> {
    let metrics = kms.raft_metrics();
    let applied = metrics.last_applied.map(|l| l.index);
    if metrics.current_leader.is_none() {
        return Err(json!({
            "status": "not ready",
            "reason": "this node knows no leader of its region (an election, or it is cut off from a quorum)",
            "term": metrics.current_term,
            "last_applied_index": applied,
        }));
    }
    if !kms.is_caught_up() {
        return Err(json!({
            "status": "not ready",
            "reason": "this node is still applying what its region committed before it started",
            "last_applied_index": applied,
        }));
    }
    Ok(())
}

/// Passes one read barrier (retrying until one succeeds), then marks `kms` caught up.
pub(crate) async fn catch_up(kms: Arc<Kms>) {
    let mut wait = Duration::from_millis(100);
    loop {
        match kms.read(|_| ()).await {
            Ok(()) => {
                kms.mark_caught_up();
                tracing::info!("caught up with the region: ready");
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "not caught up yet");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}
