//! The fault injector. It alternates heal and fault windows (default 5 s each) until the
//! workload's deadline. Which fault comes next is drawn from the seed: the requested kinds are
//! shuffled into a bag and drawn without replacement, so every kind is installed once per
//! `kinds` windows (which keeps the coverage check meaningful on short runs).
//!
//! Process faults (both topologies): `kill` (SIGKILL one random node), `pause` (SIGSTOP one
//! random node), `kill-leader`, `pause-leader`, `kill-majority` (two of three), `kill-all`,
//! `kill-follower` (SIGKILL a random node that is not the leader; skipped without a leader). A
//! heal resumes every paused node and restarts every dead one (same config and data).
//!
//! Catch-up probes (`crate::catch_up`): before a kill the nemesis reads each victim's
//! `/raft/status` (its `last_log_index`, so the probe can tell whether it needed a snapshot);
//! after every heal it starts one probe per node the heal touched, which records a `catch_up`
//! harness event. A probe still running when the next fault is installed ends `interrupted`.
//! [`Nemesis::run`] hands the running probes back to the runner, which waits for them.
//!
//! Each fault is recorded as `info` events from `process = "nemesis"`: `start_<kind>` when
//! installed (value `{"nodes": [...], "status": "installed" | "skipped"}`) and `stop_<kind>`
//! when healed (value `{"nodes": [healed nodes], "status": "installed"}`). `<kind>` uses
//! underscores: `start_kill_leader`.
//!
//! Partitions (`--topology netns` only; see `topology`): `partition-isolate-leader` (the leader
//! cut from both followers), `partition-isolate-follower` (one follower cut from the others),
//! `partition-bridge` (one node sees both others, which cannot see each other),
//! `partition-ring` (one-way ring: each node drops packets from the next one). Clients can
//! still reach every node. They are recorded as `start_partition` (value `{"nodes": [affected],
//! "status", "shape": "isolate-leader" | ..., "grudge": {"n1": ["n2", "n3"], ...}}`, grudge =
//! node -> peers whose packets it drops) and `stop_partition` at the heal; coverage counts
//! them per shape (`partition_isolate_leader`, ...).
//!
//! `clock-skew` (both topologies): writes seeded random offsets to the clock-offset files of
//! one or more nodes (`TRENT_TEST_CLOCK_OFFSET_FILE`, read by a `testing` build of the server on
//! every reading of its service clock: CreationDate, deletion dates, rotation schedules; not
//! SigV4). Mostly up to ±10 minutes, one offset in four up to ±3 days. The heal resets every
//! file to 0. Recorded as `start_clock_skew` / `stop_clock_skew` with `"offsets_ms": {"n1":
//! -123456, ...}` (the stop event lists the reset offsets, all 0).
//!
//! With two regions (`--regions 2`) every process fault first draws (from the seed) the region
//! it hits: `kill`/`pause` hit a random node of that region, `kill-leader`/`pause-leader` its
//! leader, `kill-majority` two of its three nodes, partitions and packet loss are among its
//! nodes; `kill-all` kills all six nodes and `clock-skew` skews any of the six. Their `start_*`
//! events then carry `"region"`.
//!
//! `region-split` (`--regions 2` only, both topologies): cuts the link between the regions
//! through the nodes' link fault files (`TRENT_TEST_LINK_FAULT_FILE`; a cut node neither sends
//! to nor accepts from the other region): the seed picks whether us-east-1's nodes, us-west-2's,
//! or both are cut (each is a full split). The heal empties every file. Recorded as
//! `start_region_split` / `stop_region_split` with `"cut_regions": ["us-east-1"]`; coverage
//! counts `region_split`. Clients still reach every node of both regions.
//!
//! `packet-loss` (`--topology netns` only): one or more nodes each drop a random
//! [`PACKET_LOSS_PERCENT`]% of the input packets from both peers (nft `numgen random`, in the
//! partitions' `table inet jl`; healed with them). Recorded as `start_packet_loss` /
//! `stop_packet_loss` with `"percent"` and `"lossy": {"n1": ["n2", "n3"], ...}` (node -> peers
//! whose packets it thins).

use crate::catch_up::{Probe, Prober};
use crate::db::Db;
use crate::generator::Rng;
use crate::history::{Event, EventType, Process};
use crate::runner::Recorder;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// SIGKILL one random node.
    Kill,
    /// SIGSTOP one random node.
    Pause,
    /// SIGKILL the current leader.
    KillLeader,
    /// SIGSTOP the current leader (it keeps its connections; peers see silence).
    PauseLeader,
    /// SIGKILL a majority (two of three nodes).
    KillMajority,
    /// SIGKILL every node.
    KillAll,
    /// SIGKILL one random node that is not the leader (it then falls behind the log).
    KillFollower,
    /// netns: cut the leader off from both followers.
    PartitionIsolateLeader,
    /// netns: cut one follower off from the other two nodes.
    PartitionIsolateFollower,
    /// netns: one node sees both others; those two cannot see each other.
    PartitionBridge,
    /// netns: one-way ring, each node drops packets from the next one.
    PartitionRing,
    /// Skew the service clocks of one or more nodes (minutes, sometimes days).
    ClockSkew,
    /// netns: one or more nodes drop a random share of their peers' packets.
    PacketLoss,
    /// `--regions 2`: cut the inter-region link (link fault files) until the heal.
    RegionSplit,
}

/// The share (in percent) of peer packets a `packet-loss` node drops.
pub const PACKET_LOSS_PERCENT: u8 = 30;

/// Largest `clock-skew` offset of the usual kind (10 minutes), in milliseconds.
pub const SKEW_MINUTES_MAX_MS: u64 = 10 * 60 * 1000;

/// Largest `clock-skew` offset of the occasional kind (3 days), in milliseconds. Stays well
/// below the workloads' 30-day deletion window.
pub const SKEW_DAYS_MAX_MS: u64 = 3 * 24 * 60 * 60 * 1000;

impl Fault {
    /// Every process fault, in CLI order.
    pub const ALL: [Fault; 7] = [
        Fault::Kill,
        Fault::Pause,
        Fault::KillLeader,
        Fault::PauseLeader,
        Fault::KillMajority,
        Fault::KillAll,
        Fault::KillFollower,
    ];

    /// The network partitions (need `--topology netns`), in CLI order.
    pub const PARTITIONS: [Fault; 4] = [
        Fault::PartitionIsolateLeader,
        Fault::PartitionIsolateFollower,
        Fault::PartitionBridge,
        Fault::PartitionRing,
    ];

    /// The other faults, in CLI order (`packet-loss` needs `--topology netns`, `region-split`
    /// needs `--regions 2`).
    pub const OTHER: [Fault; 3] = [Fault::ClockSkew, Fault::PacketLoss, Fault::RegionSplit];

    /// Whether this is a network partition (netns only).
    pub fn is_partition(self) -> bool {
        Fault::PARTITIONS.contains(&self)
    }

    /// Whether this fault needs `--topology netns` (partitions and packet loss).
    pub fn needs_netns(self) -> bool {
        self.is_partition() || self == Fault::PacketLoss
    }

    /// Whether this fault needs two regions (`region-split`).
    pub fn needs_regions(self) -> bool {
        self == Fault::RegionSplit
    }

    /// The partition shape recorded in `start_partition` events (`isolate-leader`, ...).
    pub fn shape(self) -> Option<&'static str> {
        self.name().strip_prefix("partition-")
    }

    /// The key `fault_coverage` counts this kind under (`kill_leader`,
    /// `partition_isolate_leader`).
    pub fn coverage_name(self) -> String {
        self.name().replace('-', "_")
    }

    /// The CLI name (`kill-leader`).
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Pause => "pause",
            Fault::KillLeader => "kill-leader",
            Fault::PauseLeader => "pause-leader",
            Fault::KillMajority => "kill-majority",
            Fault::KillAll => "kill-all",
            Fault::KillFollower => "kill-follower",
            Fault::PartitionIsolateLeader => "partition-isolate-leader",
            Fault::PartitionIsolateFollower => "partition-isolate-follower",
            Fault::PartitionBridge => "partition-bridge",
            Fault::PartitionRing => "partition-ring",
            Fault::ClockSkew => "clock-skew",
            Fault::PacketLoss => "packet-loss",
            Fault::RegionSplit => "region-split",
        }
    }

    /// The history name (`kill_leader`; `partition` for every partition shape); events are
    /// `start_<this>` and `stop_<this>`.
    pub fn history_name(self) -> String {
        if self.is_partition() {
            "partition".into()
        } else {
            self.name().replace('-', "_")
        }
    }

    /// Parses a comma-separated list (`kill,pause`); `none` or empty means no faults.
    pub fn parse_list(text: &str) -> Result<Vec<Fault>, String> {
        let mut faults = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "none" {
                continue;
            }
            let fault = Fault::ALL
                .into_iter()
                .chain(Fault::PARTITIONS)
                .chain(Fault::OTHER)
                .find(|f| f.name() == part)
                .ok_or_else(|| {
                    format!(
                        "unknown nemesis {part:?}: expected kill, pause, kill-leader, \
                         pause-leader, kill-majority, kill-all, kill-follower, clock-skew, \
                         partition-isolate-leader, partition-isolate-follower, \
                         partition-bridge, partition-ring, packet-loss, region-split or none"
                    )
                })?;
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
        Ok(faults)
    }
}

/// A node that exited without the harness killing it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnexpectedExit {
    /// Node name.
    pub node: String,
    /// Its exit status.
    pub status: String,
    /// Seconds since the start of the run when it was noticed.
    pub at_s: f64,
}

/// The nemesis of one run.
pub struct Nemesis {
    /// The region.
    pub db: Arc<Db>,
    /// The shared history.
    pub recorder: Arc<Recorder>,
    /// Seeded choices (fault order, targets).
    pub rng: Rng,
    /// Requested kinds; empty = no faults.
    pub faults: Vec<Fault>,
    /// How long a fault stays installed.
    pub fault_window: Duration,
    /// How long the region runs healthy between faults (also before the first).
    pub heal_window: Duration,
    /// Nodes that exited on their own (shared with the runner's logs check).
    pub exits: Arc<Mutex<Vec<UnexpectedExit>>>,
    /// Starts the catch-up probes after each heal.
    pub prober: Prober,
}

/// The catch-up probes still running when [`Nemesis::run`] returns.
pub type Probes = tokio::task::JoinSet<anyhow::Result<()>>;

impl Nemesis {
    /// Runs fault/heal windows until `deadline`, then heals. Returns after the last heal, with
    /// the catch-up probes that may still be running.
    pub async fn run(mut self, deadline: Instant) -> anyhow::Result<Probes> {
        let mut bag: Vec<Fault> = Vec::new();
        let mut probes = Probes::new();
        // Counts installed faults; a change interrupts the running probes.
        let epoch = Arc::new(AtomicU64::new(0));
        // Victims' last_log_index just before they were killed.
        let mut last_logs: HashMap<usize, u64> = HashMap::new();
        loop {
            self.sleep_until(deadline.min(Instant::now() + self.heal_window), deadline)
                .await;
            // Leave at least a second of fault, or stop.
            if self.faults.is_empty() || Instant::now() + Duration::from_secs(1) >= deadline {
                break;
            }
            if bag.is_empty() {
                bag = self.faults.clone();
                self.rng.shuffle(&mut bag);
            }
            let Some(fault) = bag.pop() else { break };
            epoch.fetch_add(1, Ordering::SeqCst);
            let (nodes, extra) = if fault.is_partition() {
                self.install_partition(fault).await?
            } else if fault == Fault::ClockSkew {
                self.install_clock_skew()?
            } else if fault == Fault::PacketLoss {
                self.install_packet_loss()?
            } else if fault == Fault::RegionSplit {
                self.install_region_split()?
            } else {
                self.install(fault, &mut last_logs).await?
            };
            let installed = !nodes.is_empty();
            let mut value = json!({
                "nodes": nodes,
                "status": if installed { "installed" } else { "skipped" },
            });
            if let (Some(map), Value::Object(more)) = (value.as_object_mut(), extra) {
                map.extend(more);
            }
            self.record_value(format!("start_{}", fault.history_name()), value)?;
            if !installed {
                continue;
            }
            self.sleep_until(deadline.min(Instant::now() + self.fault_window), deadline)
                .await;
            let healed = self.db.heal_all()?;
            let healed_at = Instant::now();
            let after = format!("stop_{}", fault.history_name());
            for name in &healed {
                let Some(node) = self.db.index_of(name) else {
                    continue;
                };
                let probe = Probe {
                    node,
                    after: after.clone(),
                    healed_at,
                    last_log_at_fault: last_logs.remove(&node),
                    epoch: Some((epoch.clone(), epoch.load(Ordering::SeqCst))),
                };
                let prober = self.prober.clone();
                probes.spawn(async move { prober.run(probe).await });
            }
            last_logs.clear();
            let mut value = json!({ "nodes": healed, "status": "installed" });
            if fault == Fault::ClockSkew {
                let reset: BTreeMap<&str, i64> = nodes.iter().map(|n| (n.as_str(), 0)).collect();
                value["offsets_ms"] = json!(reset);
            }
            self.record_value(after, value)?;
        }
        self.note_exits();
        Ok(probes)
    }

    async fn sleep_until(&self, until: Instant, deadline: Instant) {
        // Wake once a second to notice nodes that died on their own.
        while Instant::now() < until.min(deadline) {
            let step = until
                .min(deadline)
                .saturating_duration_since(Instant::now())
                .min(Duration::from_secs(1));
            tokio::time::sleep(step).await;
            self.note_exits();
        }
    }

    fn note_exits(&self) {
        let crashed = self.db.reap_crashed();
        if crashed.is_empty() {
            return;
        }
        let at_s = self.recorder.elapsed().as_secs_f64();
        let mut exits = self
            .exits
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (node, status) in crashed {
            eprintln!("jl: node {node} exited on its own ({status}) at {at_s:.1}s");
            exits.push(UnexpectedExit { node, status, at_s });
        }
    }

    /// The region a region-scoped fault hits: drawn from the seed with several regions (no draw
    /// with one, so single-region runs keep their fault sequences); plus the `"region"` field
    /// of the fault's event (only with several regions).
    fn pick_region(&mut self) -> (usize, Value) {
        let count = self.db.regions.len();
        if count <= 1 {
            return (0, Value::Null);
        }
        let region = self.rng.index(count);
        (region, json!({ "region": self.db.regions[region] }))
    }

    /// Installs a process `fault`; returns the names of the nodes it hit (empty = skipped)
    /// and the extra fields of its event. Before killing, notes each victim's `last_log_index`
    /// in `last_logs`.
    async fn install(
        &mut self,
        fault: Fault,
        last_logs: &mut HashMap<usize, u64>,
    ) -> anyhow::Result<(Vec<String>, Value)> {
        let (region, mut extra) = if fault == Fault::KillAll {
            (0, Value::Null)
        } else {
            self.pick_region()
        };
        let mut live = self.db.live_in(region);
        let targets: Vec<usize> = match fault {
            Fault::Kill | Fault::Pause => {
                if live.is_empty() {
                    Vec::new()
                } else {
                    vec![live[self.rng.index(live.len())]]
                }
            }
            Fault::KillLeader | Fault::PauseLeader => self
                .db
                .wait_leader_in(region, Duration::from_secs(3))
                .await
                .into_iter()
                .collect(),
            Fault::KillFollower => {
                match self.db.wait_leader_in(region, Duration::from_secs(3)).await {
                    Some(leader) => {
                        let followers: Vec<usize> =
                            live.into_iter().filter(|&i| i != leader).collect();
                        if followers.is_empty() {
                            Vec::new()
                        } else {
                            vec![followers[self.rng.index(followers.len())]]
                        }
                    }
                    None => Vec::new(),
                }
            }
            Fault::KillMajority => {
                self.rng.shuffle(&mut live);
                live.truncate(self.db.region_nodes(region).len() / 2 + 1);
                live
            }
            // Every node of every region.
            Fault::KillAll => {
                extra = Value::Null;
                self.db.live()
            }
            // These go through their own `install_*`.
            Fault::PartitionIsolateLeader
            | Fault::PartitionIsolateFollower
            | Fault::PartitionBridge
            | Fault::PartitionRing
            | Fault::ClockSkew
            | Fault::PacketLoss
            | Fault::RegionSplit => Vec::new(),
        };
        if !matches!(fault, Fault::Pause | Fault::PauseLeader) {
            for &index in &targets {
                let status = self.db.status(index).await;
                if let Some(last) = status.and_then(|s| s["last_log_index"].as_u64()) {
                    last_logs.insert(index, last);
                }
            }
        }
        let mut hit = Vec::new();
        for index in targets {
            let done = match fault {
                Fault::Pause | Fault::PauseLeader => self.db.pause(index)?,
                _ => self.db.kill(index),
            };
            if done {
                hit.push(self.db.nodes[index].name.clone());
            }
        }
        Ok((hit, extra))
    }

    /// Cuts the link between the regions: the link fault files of us-east-1's nodes, of
    /// us-west-2's, or of both (seeded); returns the cut nodes and `cut_regions`.
    fn install_region_split(&mut self) -> anyhow::Result<(Vec<String>, Value)> {
        let count = self.db.regions.len();
        if count < 2 {
            anyhow::bail!("region-split needs --regions 2");
        }
        // One region's nodes cut, or every region's: either way nothing crosses.
        let pick = self.rng.index(count + 1);
        let cut_regions: Vec<usize> = if pick < count {
            vec![pick]
        } else {
            (0..count).collect()
        };
        let nodes: Vec<usize> = cut_regions
            .iter()
            .flat_map(|&r| self.db.region_nodes(r))
            .collect();
        let names = self.db.cut_links(&nodes)?;
        let regions: Vec<&str> = cut_regions
            .iter()
            .map(|&r| self.db.regions[r].as_str())
            .collect();
        Ok((names, json!({ "cut_regions": regions })))
    }

    /// Installs a partition shape; returns the affected nodes (empty = skipped) and the
    /// `shape`/`grudge` fields of the event.
    async fn install_partition(&mut self, fault: Fault) -> anyhow::Result<(Vec<String>, Value)> {
        let (region, region_field) = self.pick_region();
        let members = self.db.region_nodes(region);
        let count = members.len();
        let mut grudge: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        let cut_off = |grudge: &mut BTreeMap<usize, Vec<usize>>, lone: usize| {
            for &other in members.iter().filter(|&&o| o != lone) {
                grudge.entry(lone).or_default().push(other);
                grudge.entry(other).or_default().push(lone);
            }
        };
        match fault {
            Fault::PartitionIsolateLeader | Fault::PartitionIsolateFollower => {
                let leader = self.db.wait_leader_in(region, Duration::from_secs(3)).await;
                let lone = match (fault, leader) {
                    (Fault::PartitionIsolateLeader, Some(leader)) => Some(leader),
                    (Fault::PartitionIsolateFollower, Some(leader)) => {
                        let followers: Vec<usize> =
                            members.iter().copied().filter(|&i| i != leader).collect();
                        followers.get(self.rng.index(followers.len())).copied()
                    }
                    _ => None,
                };
                if let Some(lone) = lone {
                    cut_off(&mut grudge, lone);
                }
            }
            Fault::PartitionBridge => {
                let mut order: Vec<usize> = members.clone();
                self.rng.shuffle(&mut order);
                // order[0] is the bridge; the others drop each other.
                for (i, &a) in order.iter().enumerate().skip(1) {
                    for &b in order.iter().skip(i + 1) {
                        grudge.entry(a).or_default().push(b);
                        grudge.entry(b).or_default().push(a);
                    }
                }
            }
            Fault::PartitionRing => {
                let mut order: Vec<usize> = members.clone();
                self.rng.shuffle(&mut order);
                for (i, &node) in order.iter().enumerate() {
                    grudge.insert(node, vec![order[(i + 1) % count]]);
                }
            }
            _ => {}
        }
        let name = |i: &usize| self.db.nodes[*i].name.clone();
        let grudge_json: BTreeMap<String, Vec<String>> = grudge
            .iter()
            .map(|(node, peers)| {
                let mut peers: Vec<String> = peers.iter().map(name).collect();
                peers.sort();
                (name(node), peers)
            })
            .collect();
        let mut extra = json!({ "shape": fault.shape(), "grudge": grudge_json });
        if let (Some(map), Value::Object(more)) = (extra.as_object_mut(), region_field) {
            map.extend(more);
        }
        if grudge.is_empty() {
            return Ok((Vec::new(), extra));
        }
        let nodes = self.db.partition(&grudge)?;
        Ok((nodes, extra))
    }

    /// A random non-empty subset of the node indices, sorted.
    fn some_nodes(&mut self) -> Vec<usize> {
        let count = self.db.nodes.len();
        let mut order: Vec<usize> = (0..count).collect();
        self.rng.shuffle(&mut order);
        order.truncate(1 + self.rng.index(count));
        order.sort_unstable();
        order
    }

    /// Skews the clocks of one or more nodes; returns the skewed nodes and `offsets_ms`.
    fn install_clock_skew(&mut self) -> anyhow::Result<(Vec<String>, Value)> {
        let mut offsets: BTreeMap<usize, i64> = BTreeMap::new();
        for index in self.some_nodes() {
            let max = if self.rng.below(4) == 0 {
                SKEW_DAYS_MAX_MS
            } else {
                SKEW_MINUTES_MAX_MS
            };
            // At least a second, so every chosen node really is skewed.
            let magnitude = 1000 + self.rng.below(max - 1000);
            let magnitude = i64::try_from(magnitude).unwrap_or(i64::MAX);
            let offset = if self.rng.below(2) == 0 {
                magnitude
            } else {
                -magnitude
            };
            offsets.insert(index, offset);
        }
        let nodes = self.db.skew_clocks(&offsets)?;
        let offsets_json: BTreeMap<String, i64> = offsets
            .iter()
            .map(|(&i, &o)| (self.db.nodes[i].name.clone(), o))
            .collect();
        Ok((nodes, json!({ "offsets_ms": offsets_json })))
    }

    /// Makes one or more nodes drop a random share of their peers' packets; returns the
    /// affected nodes and the `percent`/`lossy` fields.
    fn install_packet_loss(&mut self) -> anyhow::Result<(Vec<String>, Value)> {
        // Each lossy node thins the packets of its own region's other nodes.
        let lossy: BTreeMap<usize, Vec<usize>> = self
            .some_nodes()
            .into_iter()
            .map(|node| {
                let region = self.db.nodes[node].region_index;
                let peers = self
                    .db
                    .region_nodes(region)
                    .into_iter()
                    .filter(|&p| p != node)
                    .collect();
                (node, peers)
            })
            .collect();
        let name = |i: &usize| self.db.nodes[*i].name.clone();
        let lossy_json: BTreeMap<String, Vec<String>> = lossy
            .iter()
            .map(|(node, peers)| (name(node), peers.iter().map(name).collect()))
            .collect();
        let extra = json!({ "percent": PACKET_LOSS_PERCENT, "lossy": lossy_json });
        let nodes = self.db.packet_loss(&lossy, PACKET_LOSS_PERCENT)?;
        Ok((nodes, extra))
    }

    fn record_value(&self, f: String, value: Value) -> anyhow::Result<()> {
        self.recorder.record(
            None,
            Event {
                index: 0,
                time_ns: 0,
                kind: EventType::Info,
                process: Process::Nemesis("nemesis".into()),
                node: None,
                f,
                key: None,
                value,
                error: None,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nemesis_lists_parse() {
        assert_eq!(
            Fault::parse_list(
                "kill,pause,kill-leader,pause-leader,kill-majority,kill-all,kill-follower"
            ),
            Ok(Fault::ALL.to_vec())
        );
        assert_eq!(Fault::KillFollower.history_name(), "kill_follower");
        assert_eq!(Fault::parse_list("none"), Ok(vec![]));
        assert_eq!(Fault::parse_list("kill,kill"), Ok(vec![Fault::Kill]));
        assert!(Fault::parse_list("partition").is_err());
        assert_eq!(Fault::KillMajority.history_name(), "kill_majority");
        assert_eq!(
            Fault::parse_list("partition-isolate-leader,partition-ring,kill"),
            Ok(vec![
                Fault::PartitionIsolateLeader,
                Fault::PartitionRing,
                Fault::Kill
            ])
        );
        assert_eq!(Fault::PartitionBridge.history_name(), "partition");
        assert_eq!(Fault::PartitionBridge.shape(), Some("bridge"));
        assert_eq!(
            Fault::PartitionIsolateFollower.coverage_name(),
            "partition_isolate_follower"
        );
        assert_eq!(Fault::Kill.shape(), None);
        assert_eq!(
            Fault::parse_list("clock-skew,packet-loss"),
            Ok(vec![Fault::ClockSkew, Fault::PacketLoss])
        );
        assert_eq!(Fault::ClockSkew.history_name(), "clock_skew");
        assert_eq!(Fault::PacketLoss.coverage_name(), "packet_loss");
        assert_eq!(Fault::PacketLoss.shape(), None);
        assert!(Fault::PacketLoss.needs_netns());
        assert!(!Fault::ClockSkew.needs_netns());
        assert!(Fault::PartitionRing.needs_netns());
        assert_eq!(
            Fault::parse_list("region-split,kill"),
            Ok(vec![Fault::RegionSplit, Fault::Kill])
        );
        assert_eq!(Fault::RegionSplit.history_name(), "region_split");
        assert_eq!(Fault::RegionSplit.coverage_name(), "region_split");
        assert!(Fault::RegionSplit.needs_regions());
        assert!(!Fault::RegionSplit.needs_netns());
        assert!(!Fault::Kill.needs_regions());
    }
}
