//! Catch-up probes. After the nemesis heals a fault, one probe per node the heal touched (a
//! killed node restarted, a paused one resumed, a partitioned one reconnected), and after the
//! run's final heal one probe per node, measures whether the node applies everything its
//! region's leader had applied when the probe began, and then reads through it:
//!
//! 1. poll (every 100 ms) until a live node of the region reports itself leader; its
//!    `last_applied_index` is the target, its `purged_index` tells whether the probed node can
//!    still be sent the log it misses (else it needs a snapshot);
//! 2. poll the node's `/raft/status` until its `last_applied_index` reaches the target
//!    (`caught_up`) or `--catch-up-timeout` has passed since the heal (`timeout`);
//! 3. after catching up, `ListKeys` on that node (`read`: `ok` or the error).
//!
//! A probe that is still running when the nemesis installs its next fault is `interrupted`
//! (not judged: the next fault may legitimately stop the node from catching up); the final
//! probes cannot be interrupted. Each probe records one harness event `catch_up` (value described
//! in `checker::catch_up`), which the `catch_up` checker judges.

use crate::checker::catch_up::{F_CATCH_UP, HARNESS};
use crate::client::Reply;
use crate::db::Db;
use crate::history::Event;
use crate::recorder::Recorder;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a probe polls `/raft/status`.
const POLL: Duration = Duration::from_millis(100);

/// What every probe of a run shares.
#[derive(Clone)]
pub struct Prober {
    /// The region(s).
    pub db: Arc<Db>,
    /// The shared history.
    pub recorder: Arc<Recorder>,
    /// How long after the heal a node may take to catch up (`--catch-up-timeout`).
    pub bound: Duration,
    /// Deadline of the read after catching up.
    pub read_timeout: Duration,
}

/// One probe's inputs.
pub struct Probe {
    /// Index of the probed node.
    pub node: usize,
    /// The heal that started it (`stop_kill`, ..., `final_heal`).
    pub after: String,
    /// When the heal happened.
    pub healed_at: Instant,
    /// The node's `last_log_index` just before the fault, if the nemesis saw it.
    pub last_log_at_fault: Option<u64>,
    /// The nemesis' fault counter and its value when the probe began: a change interrupts the
    /// probe. `None` for the final probes.
    pub epoch: Option<(Arc<AtomicU64>, u64)>,
}

impl Probe {
    fn interrupted(&self) -> bool {
        self.epoch
            .as_ref()
            .is_some_and(|(epoch, at)| epoch.load(Ordering::SeqCst) != *at)
    }
}

impl Prober {
    /// Runs `probe` to its end and records its `catch_up` event.
    pub async fn run(&self, probe: Probe) -> anyhow::Result<()> {
        let spec = &self.db.nodes[probe.node];
        let deadline = probe.healed_at + self.bound;
        // (leader name, its last_applied_index, its purged_index)
        let mut target: Option<(String, u64, Option<u64>)> = None;
        let mut last_log_at_restart: Option<u64> = None;
        let mut applied: Option<u64> = None;
        let status = loop {
            if probe.interrupted() {
                break "interrupted";
            }
            if target.is_none() {
                if let Some((leader, status)) = self.db.leader_status_in(spec.region_index).await {
                    target = Some((
                        self.db.nodes[leader].name.clone(),
                        status["last_applied_index"].as_u64().unwrap_or(0),
                        status["purged_index"].as_u64(),
                    ));
                }
            }
            if let Some(status) = self.db.status(probe.node).await {
                if last_log_at_restart.is_none() {
                    last_log_at_restart = status["last_log_index"].as_u64();
                }
                applied = status["last_applied_index"].as_u64();
                if let Some((_, index, _)) = &target {
                    if applied.unwrap_or(0) >= *index {
                        break "caught_up";
                    }
                }
            }
            if Instant::now() >= deadline {
                break "timeout";
            }
            tokio::time::sleep(POLL).await;
        };
        let seconds = probe.healed_at.elapsed().as_secs_f64();
        let mut status = status;
        let mut read = Value::Null;
        if status == "caught_up" {
            let client = self.db.client(probe.node, self.read_timeout)?;
            read = match client.call("ListKeys", &json!({ "Limit": 1 })).await {
                Reply::Ok(_) => "ok".into(),
                Reply::Error { error, .. } => error.into(),
                Reply::Transport { error, .. } => error.into(),
            };
            // A fault installed during the read may have failed it.
            if read != "ok" && probe.interrupted() {
                status = "interrupted";
            }
        }
        let (leader, target_index, purged) = match &target {
            Some((name, index, purged)) => (Some(name.clone()), Some(*index), *purged),
            None => (None, None, None),
        };
        // It could only catch up through a snapshot if the leader had already purged the log
        // after the node's last entry.
        let last_log = probe.last_log_at_fault.or(last_log_at_restart);
        let needed_snapshot = match (purged, last_log) {
            (Some(purged), Some(last)) => Some(purged > last),
            _ => None,
        };
        if status != "caught_up" || needed_snapshot == Some(true) {
            println!(
                "jl: catch-up of {} after {}: {status} in {seconds:.1}s (applied {applied:?}, \
                 target {target_index:?}, needed snapshot {needed_snapshot:?})",
                spec.name, probe.after
            );
        }
        self.recorder.record(
            None,
            Event::harness_info(
                HARNESS,
                Some(spec.name.clone()),
                F_CATCH_UP,
                json!({
                    "status": status,
                    "after": probe.after,
                    "seconds": seconds,
                    "bound_s": self.bound.as_secs_f64(),
                    "leader": leader,
                    "target_index": target_index,
                    "applied_index": applied,
                    "purged_index": purged,
                    "last_log_at_fault": probe.last_log_at_fault,
                    "last_log_at_restart": last_log_at_restart,
                    "needed_snapshot": needed_snapshot,
                    "read": read,
                }),
            ),
        )
    }

    /// Probes every node after the final heal (never interrupted); returns when all are done.
    pub async fn final_probes(&self, healed_at: Instant) -> anyhow::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        for node in 0..self.db.nodes.len() {
            let prober = self.clone();
            tasks.spawn(async move {
                prober
                    .run(Probe {
                        node,
                        after: "final_heal".into(),
                        healed_at,
                        last_log_at_fault: None,
                        epoch: None,
                    })
                    .await
            });
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
        Ok(())
    }
}
