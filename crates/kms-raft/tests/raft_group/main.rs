//! In-process three-node tests of one region's Raft group: real openraft on the real RocksDB
//! store, nodes talking through kms-raft's own HTTP transport, with a fault-injecting proxy in
//! front of every node (`proxy`) and nodes that can be paused, stopped and restarted
//! (`cluster`).
//!
//! The tests share the machine's two cores with builds, so they run one cluster at a time
//! ([`one_cluster_at_a_time`]) and wait for conditions with deadlines rather than fixed sleeps.

mod cluster;
mod failover;
mod proxy;
mod read_barrier;
mod snapshots;
mod write_path;

/// Serializes the tests of this binary: timing-sensitive checks (fail-over bounds) should not
/// compete with another test's three nodes for the CPU.
pub async fn one_cluster_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}
