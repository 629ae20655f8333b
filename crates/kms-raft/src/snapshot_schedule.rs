//! When a node builds a snapshot.
//!
//! A snapshot encodes the whole state, so its cost grows with the number of keys. Taking one
//! after a fixed number of entries made that cost per entry grow with the state too: at 40k
//! keys each 5,000-entry snapshot was 109 MB and about a second of a core. The interval here
//! grows with the state instead, so the cost per applied entry stays flat: a snapshot once
//! [`entries_between_snapshots`] entries have been applied since the last one, the larger of
//! the configured floor (`snapshot_after_entries`) and half the key count.
//!
//! The price is log kept on disk between snapshots (up to half as many entries as keys) and
//! replayed at a restart. openraft's own policy is off; [`run`] checks every
//! [`CHECK_EVERY`] and asks openraft for a snapshot through its trigger.

use std::sync::Weak;
use std::time::Duration;

use crate::node::RegionRaft;

/// How often the schedule looks at the applied index.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(250);

/// Entries to apply between two snapshots of a state holding `keys` keys, with the configured
/// `floor`.
pub(crate) fn entries_between_snapshots(floor: u64, keys: u64) -> u64 {
    floor.max(keys / 2)
}

/// Asks for a snapshot whenever one is due, until the node is dropped.
pub(crate) async fn run(node: Weak<RegionRaft>) {
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The applied index a requested snapshot has not yet reached: no second request until the
    // metrics show a snapshot at or past it (or it is given up on).
    let mut requested: Option<(u64, tokio::time::Instant)> = None;
    loop {
        ticker.tick().await;
        let Some(node) = node.upgrade() else {
            return;
        };
        let (applied, snapshot) = node.applied_and_snapshot_index();
        if let Some((at, since)) = requested {
            let done = snapshot.is_some_and(|index| index >= at);
            if !done && since.elapsed() < Duration::from_secs(60) {
                continue;
            }
            requested = None;
        }
        let keys = node.key_count() as u64;
        let since_last = applied.saturating_sub(snapshot.unwrap_or(0));
        if applied > 0 && since_last >= entries_between_snapshots(node.snapshot_floor(), keys) {
            if let Err(e) = node.trigger_snapshot().await {
                tracing::warn!(error = %e, "could not ask for a snapshot");
                continue;
            }
            requested = Some((applied, tokio::time::Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::entries_between_snapshots;

    #[test]
    fn the_interval_is_the_floor_until_the_state_outgrows_it() {
        assert_eq!(entries_between_snapshots(5000, 0), 5000);
        assert_eq!(entries_between_snapshots(5000, 10_000), 5000);
        assert_eq!(entries_between_snapshots(5000, 40_000), 20_000);
        assert_eq!(entries_between_snapshots(5000, 1_000_000), 500_000);
        assert_eq!(entries_between_snapshots(100, 1_000), 500);
    }
}
