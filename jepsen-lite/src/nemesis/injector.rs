//! The nemesis loop: alternates heal and fault windows until the deadline, installs each drawn
//! fault (see the `nemesis` module docs for the kinds and their history events), heals, and
//! starts the catch-up probes after every heal.

use super::catch_up::{Probe, Prober};
use super::fault::{Fault, PACKET_LOSS_PERCENT, SKEW_DAYS_MAX_MS, SKEW_MINUTES_MAX_MS};
use crate::checker::logs::UnexpectedExit;
use crate::db::Db;
use crate::generator::Rng;
use crate::history::Event;
use crate::recorder::Recorder;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// How long the heal of a `membership` fault keeps trying to add its node back (the leader
/// itself gives a learner 120 s to catch up).
const REJOIN_TIMEOUT: Duration = Duration::from_secs(150);

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
        // The node a `membership` fault took out of its region (region, node), re-added at
        // the heal.
        let mut removed: Option<(usize, usize)> = None;
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
            } else if fault == Fault::LagFollower {
                self.install_lag_follower().await?
            } else if fault == Fault::Membership {
                let (nodes, extra, taken) = self.install_membership(&mut last_logs).await?;
                removed = taken;
                (nodes, extra)
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
            let mut healed = self.db.heal_all()?;
            // A removed node rejoins as an operator would add it: it must be running first.
            let rejoined = match removed.take() {
                Some((region, node)) => {
                    let name = &self.db.nodes[node].name;
                    if !healed.contains(name) {
                        healed.push(name.clone());
                    }
                    Some(self.heal_membership(region, node).await)
                }
                None => None,
            };
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
            if let Some(rejoined) = rejoined {
                value["status"] = rejoined["status"].clone();
                value["voters"] = rejoined["voters"].clone();
                if let Some(error) = rejoined.get("error") {
                    value["error"] = error.clone();
                }
            }
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
            Fault::KillFollower | Fault::WipeFollower => {
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
            | Fault::RegionSplit
            | Fault::LagFollower
            | Fault::Membership => Vec::new(),
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
                Fault::WipeFollower => {
                    let killed = self.db.kill(index);
                    if killed {
                        self.db.wipe_raft_store(index)?;
                        // It comes back with no log at all: anything the leader purged meanwhile
                        // reaches it only by snapshot (catch_up's `needed_snapshot`).
                        last_logs.insert(index, 0);
                    }
                    killed
                }
                _ => self.db.kill(index),
            };
            if done {
                hit.push(self.db.nodes[index].name.clone());
            }
        }
        Ok((hit, extra))
    }

    /// Takes a random live follower of a (seeded) region out of the region through the
    /// leader's `/raft/members/remove`, then (action `replace`, drawn from the seed) kills it
    /// and wipes its Raft store, as for a dead disk; a `remove`d node keeps running. Returns
    /// it, the event's fields (`action`, `leader`, `voters` after the change, `region`), and
    /// the (region, node) to re-add at the heal. Skipped without a leader, without a follower,
    /// or when the leader refuses the change.
    async fn install_membership(
        &mut self,
        last_logs: &mut HashMap<usize, u64>,
    ) -> anyhow::Result<(Vec<String>, Value, Option<(usize, usize)>)> {
        let (region, region_field) = self.pick_region();
        let mut extra = match region_field {
            Value::Null => json!({}),
            field => field,
        };
        let Some(leader) = self.db.wait_leader_in(region, Duration::from_secs(3)).await else {
            return Ok((Vec::new(), extra, None));
        };
        extra["leader"] = json!(self.db.nodes[leader].name);
        let followers = self.db.live_followers_in(region, leader);
        // A wiped bootstrap node would form a region of its own: it is only ever removed.
        let wipeable: Vec<usize> = followers
            .iter()
            .copied()
            .filter(|&i| !self.db.nodes[i].bootstrap)
            .collect();
        let replace = self.rng.index(2) == 1 && !wipeable.is_empty();
        let pool = if replace { &wipeable } else { &followers };
        if pool.is_empty() {
            return Ok((Vec::new(), extra, None));
        }
        let node = pool[self.rng.index(pool.len())];
        extra["action"] = json!(if replace { "replace" } else { "remove" });
        let id = self.db.nodes[node].id;
        let membership = match self
            .db
            .change_membership(
                region,
                "remove",
                json!({ "id": id }),
                Duration::from_secs(10),
            )
            .await
        {
            Ok(membership) => membership,
            Err(e) => {
                extra["error"] = json!(format!("{e:#}"));
                return Ok((Vec::new(), extra, None));
            }
        };
        extra["voters"] = json!(self.db.voter_names(region, &membership));
        if replace && self.db.kill(node) {
            self.db.wipe_raft_store(node)?;
            // It comes back with no log at all (catch_up's `needed_snapshot`).
            last_logs.insert(node, 0);
        }
        Ok((
            vec![self.db.nodes[node].name.clone()],
            extra,
            Some((region, node)),
        ))
    }

    /// Adds the removed `node` back to `region` (`/raft/members/add`: a learner, then a voter
    /// once within the leader's catch-up slack), retrying through leader changes for up to
    /// [`REJOIN_TIMEOUT`]. Answers `{"status": "installed" | "failed", "voters": [...]}`, with
    /// the last `error` if it failed.
    async fn heal_membership(&self, region: usize, node: usize) -> Value {
        let spec = &self.db.nodes[node];
        let body = json!({ "id": spec.id, "raft_addr": spec.peer_raft_addr });
        let deadline = Instant::now() + REJOIN_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let error = match self
                .db
                .change_membership(
                    region,
                    "add",
                    body.clone(),
                    left.max(Duration::from_secs(1)),
                )
                .await
            {
                Ok(membership) => {
                    let voters = self.db.voter_names(region, &membership);
                    if voters.contains(&spec.name) {
                        return json!({ "status": "installed", "voters": voters });
                    }
                    format!("added, but the voters are {voters:?}")
                }
                // An earlier attempt may have finished after its answer was lost.
                Err(e) if format!("{e}").contains("already a voter") => {
                    let voters = self.voters_now(region).await;
                    return json!({ "status": "installed", "voters": voters });
                }
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() >= deadline {
                let voters = self.voters_now(region).await;
                return json!({ "status": "failed", "voters": voters, "error": error });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The names of `region`'s voters as its leader reports them (`GET /raft/members`), or
    /// none if it does not answer.
    async fn voters_now(&self, region: usize) -> Vec<String> {
        let Some((leader, _)) = self.db.leader_status_in(region).await else {
            return Vec::new();
        };
        let members = self.db.members(leader).await.unwrap_or(Value::Null);
        self.db.voter_names(region, &members)
    }

    /// Cuts every peer's Raft traffic to a random follower of a (seeded) region; returns it and
    /// the `leader` and `mechanism` (`proxy` or `nft`) fields. Skipped without a leader.
    async fn install_lag_follower(&mut self) -> anyhow::Result<(Vec<String>, Value)> {
        let (region, region_field) = self.pick_region();
        let mut extra = json!({
            "mechanism": match self.db.topology {
                crate::topology::Topology::Loopback => "proxy",
                crate::topology::Topology::Netns => "nft",
            },
        });
        if let (Some(map), Value::Object(more)) = (extra.as_object_mut(), region_field) {
            map.extend(more);
        }
        let Some(leader) = self.db.wait_leader_in(region, Duration::from_secs(3)).await else {
            return Ok((Vec::new(), extra));
        };
        extra["leader"] = self.db.nodes[leader].name.clone().into();
        let followers = self.db.live_followers_in(region, leader);
        if followers.is_empty() {
            return Ok((Vec::new(), extra));
        }
        let follower = followers[self.rng.index(followers.len())];
        Ok((self.db.lag(follower)?, extra))
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
        self.recorder
            .record(None, Event::harness_info("nemesis", None, f, value))
    }
}
