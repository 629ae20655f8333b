//! Bugs planted on purpose, to prove that jepsen-lite's checkers catch them. This module and
//! every branch that uses it exist only with the `testing` feature, i.e. in the `trent-test`
//! binary; `trent` (what `make run` and users run) contains neither the bugs nor the variable
//! `TRENT_PLANTED_BUG` (comma-separated names) that switches them on per node.
//!
//! - `stale-reads`: reads skip the read-index barrier and serve this node's applied state, so a
//!   follower (or a deposed leader) can answer with state older than an acknowledged write.
//! - `ack-before-commit`: CreateKey answers as soon as the command is handed to Raft, before it
//!   is committed, so a leader crash can lose an acknowledged key.

/// Which planted bugs this node runs with.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlantedBugs {
    /// Skip the linearizable read barrier.
    pub stale_reads: bool,
    /// Acknowledge CreateKey before commit.
    pub ack_before_commit: bool,
}

impl PlantedBugs {
    /// Reads `TRENT_PLANTED_BUG`.
    pub fn from_env() -> PlantedBugs {
        if let Ok(names) = std::env::var("TRENT_PLANTED_BUG") {
            let has = |bug: &str| names.split(',').any(|name| name.trim() == bug);
            let bugs = PlantedBugs {
                stale_reads: has("stale-reads"),
                ack_before_commit: has("ack-before-commit"),
            };
            tracing::warn!(?bugs, "running with planted bugs (testing build)");
            return bugs;
        }
        PlantedBugs::default()
    }
}
