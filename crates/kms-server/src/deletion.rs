//! The leader's deletion task: keys pending deletion are deleted at their DeletionDate.
//!
//! Only the leader proposes, and the deletion itself is a replicated command carrying the
//! leader's clock, so every replica deletes the same keys at the same log position. After a
//! leader change the new leader's task picks up where the old one stopped.

use crate::service::Clock;
use kms_core::Command;
use kms_raft::RegionRaft;
use std::sync::Arc;
use std::time::Duration;

/// How often the task looks for due keys.
const PERIOD: Duration = Duration::from_millis(500);

/// Runs until the process ends.
pub async fn run(raft: Arc<RegionRaft>, clock: Clock) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !raft.is_leader() {
            continue;
        }
        let now_ms = clock();
        let due = raft
            .reader()
            .read(|state| state.next_deletion_ms())
            .is_some_and(|at| at <= now_ms);
        if !due {
            continue;
        }
        match raft.write(Command::DeleteDueKeys { now_ms }).await {
            Ok(output) => tracing::info!(?output, "deleted keys whose waiting period ended"),
            Err(e) => tracing::warn!(error = %e, "deleting due keys"),
        }
    }
}
