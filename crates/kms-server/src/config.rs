//! A node's configuration: the types live in `kms-config` (shared with the topology writer
//! every launcher uses); this module re-exports them for the server's modules.

pub use kms_config::node::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_are_the_raft_defaults() {
        let config = RaftTuning::default();
        let raft = kms_raft::RaftSettings::default();
        assert_eq!(config.heartbeat_ms, raft.heartbeat_ms);
        assert_eq!(config.election_timeout_ms, raft.election_timeout_ms);
        assert_eq!(config.snapshot_after_entries, raft.snapshot_after_entries);
    }
}
