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
//! replayed at a restart. openraft's own policy is off; `RegionRaft`'s snapshot task consults
//! a [`Schedule`] every [`CHECK_EVERY`] and asks openraft for a snapshot through its trigger.

use std::time::{Duration, Instant};

/// How often the schedule is consulted (`RegionRaft`'s snapshot task).
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(250);

/// How long a requested snapshot may take before the schedule asks again.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Entries to apply between two snapshots of a state holding `keys` keys, with the configured
/// `floor`.
pub(crate) fn entries_between_snapshots(floor: u64, keys: u64) -> u64 {
    floor.max(keys / 2)
}

/// What the node reports at one check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Progress {
    /// Index of the last applied entry.
    pub(crate) applied: u64,
    /// Index of the last entry the current snapshot covers.
    pub(crate) snapshot: Option<u64>,
    /// Keys in the state.
    pub(crate) keys: u64,
}

/// The schedule of one node: when to ask openraft for a snapshot.
#[derive(Debug)]
pub(crate) struct Schedule {
    floor: u64,
    /// The applied index of the outstanding request and when it was made: no second request
    /// until a snapshot covers that index (or [`GIVE_UP_AFTER`] has passed).
    requested: Option<(u64, Instant)>,
}

impl Schedule {
    /// A schedule with at least `floor` entries between snapshots.
    pub(crate) fn new(floor: u64) -> Self {
        Self {
            floor,
            requested: None,
        }
    }

    /// Whether to ask for a snapshot now; if so, the request is noted as outstanding.
    pub(crate) fn due(&mut self, progress: Progress, now: Instant) -> bool {
        if let Some((at, since)) = self.requested {
            let done = progress.snapshot.is_some_and(|index| index >= at);
            if !done && now.duration_since(since) < GIVE_UP_AFTER {
                return false;
            }
            self.requested = None;
        }
        let since_last = progress
            .applied
            .saturating_sub(progress.snapshot.unwrap_or(0));
        let due = progress.applied > 0
            && since_last >= entries_between_snapshots(self.floor, progress.keys);
        if due {
            self.requested = Some((progress.applied, now));
        }
        due
    }

    /// The request could not be made: the next check may ask again.
    pub(crate) fn request_failed(&mut self) {
        self.requested = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_the_floor_until_the_state_outgrows_it() {
        assert_eq!(entries_between_snapshots(5000, 0), 5000);
        assert_eq!(entries_between_snapshots(5000, 10_000), 5000);
        assert_eq!(entries_between_snapshots(5000, 40_000), 20_000);
        assert_eq!(entries_between_snapshots(5000, 1_000_000), 500_000);
        assert_eq!(entries_between_snapshots(100, 1_000), 500);
    }

    fn at(applied: u64, snapshot: Option<u64>, keys: u64) -> Progress {
        Progress {
            applied,
            snapshot,
            keys,
        }
    }

    #[test]
    fn one_request_at_a_time_until_a_snapshot_covers_it() {
        let start = Instant::now();
        let mut schedule = Schedule::new(100);
        assert!(!schedule.due(at(0, None, 0), start));
        assert!(!schedule.due(at(99, None, 10), start));
        assert!(schedule.due(at(100, None, 10), start));
        // Outstanding: not asked again while no snapshot covers index 100.
        assert!(!schedule.due(at(250, None, 10), start + Duration::from_secs(1)));
        // Covered; 80 entries since, below the floor.
        assert!(!schedule.due(at(180, Some(100), 10), start + Duration::from_secs(2)));
        // A large state stretches the interval: 1,000 keys need 500 entries.
        assert!(!schedule.due(at(550, Some(100), 1000), start + Duration::from_secs(3)));
        assert!(schedule.due(at(600, Some(100), 1000), start + Duration::from_secs(3)));
        // A request that never completes is given up on after a minute.
        assert!(!schedule.due(at(1200, Some(100), 1000), start + Duration::from_secs(30)));
        assert!(schedule.due(at(1200, Some(100), 1000), start + Duration::from_secs(64)));
        schedule.request_failed();
        assert!(schedule.due(at(1200, Some(100), 1000), start + Duration::from_secs(65)));
    }
}
