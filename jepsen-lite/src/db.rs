//! The system under test: one 3-node Trent region (or, with `--regions 2`, two linked regions
//! `us-east-1` and `us-west-2` of 3 nodes each) of real `trent serve --config <toml>`
//! processes, on 127.0.0.1 (`--topology loopback`, the default) or one per network namespace
//! (`--topology netns`: the node in slot N runs as `ip netns exec jl-nN trent serve ...` and
//! binds its API, Raft and link ports on its own address; see `topology`).
//!
//! Node names: `n1`..`n3` with one region; `e1`..`e3` (us-east-1) and `w1`..`w3` (us-west-2)
//! with two. Each region has its own Raft ids 1..3, members and root key.
//!
//! [`Db::start`] describes the cluster as a `kms_config::Topology` and writes it under the
//! run's store dir with that crate's writer, the one every Trent launcher uses: per region
//! `nodes/<region>/root.key`, per node `nodes/<region>/<name>.toml` and the data dir
//! `nodes/<region>/<name>/`; the local CA and every node's certificate in `nodes/pki/` (Raft
//! speaks mutual TLS, as it does by default; the harness reads `/raft/status` with the
//! operator certificate), and with two regions every node gets a `[link]` section (its mTLS
//! listener and the other region's link addresses). Logs are appended to `nodes/<name>.log`. It then spawns the nodes
//! and waits until each region has a leader and every node answers a ListKeys signed for its
//! region. Every node gets its own clock-offset file, `nodes/<name>.clock-offset` (absolute
//! path in `TRENT_TEST_CLOCK_OFFSET_FILE`; "0" except while a `clock-skew` fault is
//! installed), and with two regions its own link fault file `nodes/<name>.link-fault`
//! (`TRENT_TEST_LINK_FAULT_FILE`, read by a `testing` build on every link send and accept):
//! `cut` while a `region-split` fault is installed, empty otherwise (written atomically).
//!
//! Process control is by the pid of the child the harness spawned, never by name: kill
//! (SIGKILL + wait), pause (`kill -STOP`), resume (`kill -CONT`), restart (same config and data).
//! [`Db::teardown`] (also run on drop) kills every node and refuses later restarts, so a nemesis
//! still running during shutdown cannot bring a node back; in netns mode it also removes the
//! namespaces and the bridge. `ip netns exec` execs the command, so the pid the harness spawned
//! is the trent process itself and signals reach it directly.

use crate::client::{KmsClient, Reply, ACCESS_KEY, ACCOUNT, REGIONS, SECRET_KEY};
use crate::proxy::{Mode, RaftProxy};
use crate::topology::{self, Topology};
use anyhow::{bail, Context};
use kms_config::{Credential, RaftTuning, RegionPlan};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The nodes' `[raft] heartbeat_ms`.
pub const HEARTBEAT_MS: u64 = 50;
/// The nodes' `[raft] election_timeout_ms`: the lower bound of the randomized election timeout
/// (openraft draws it from `[ELECTION_TIMEOUT_MS, 2 * ELECTION_TIMEOUT_MS)`; Trent's internal
/// POSTs also time out after `2 * ELECTION_TIMEOUT_MS`).
pub const ELECTION_TIMEOUT_MS: u64 = 300;

/// How long after a node is paused (or killed) the rest of its region may take to fail over:
/// the longest election timeout (2 x [`ELECTION_TIMEOUT_MS`]) plus a 2 s margin for a split
/// vote, a stuck request to the lost node and a slow machine. `availability_during_pause`
/// judges only operations invoked later than this.
pub fn failover_grace() -> Duration {
    Duration::from_millis(2 * ELECTION_TIMEOUT_MS) + Duration::from_secs(2)
}

/// Static facts about one node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Raft node id within its region (1-based).
    pub id: u64,
    /// Whether it forms its region when its store is empty (the region's first node): a
    /// wiped bootstrap node would form a region of its own, so `membership`'s `replace` never
    /// picks it.
    pub bootstrap: bool,
    /// 1-based position among all nodes of the run (netns namespace and address).
    pub slot: u64,
    /// The name used in the history and logs: `n1`, `n2`, ... (`e1`.., `w1`.. with two regions).
    pub name: String,
    /// The region it serves (`us-east-1`, ...).
    pub region: String,
    /// Index of its region in [`Db::regions`].
    pub region_index: usize,
    /// Public KMS API address.
    pub api_addr: String,
    /// Internal Raft address (also serves `/raft/status`; the harness probes it here).
    pub raft_addr: String,
    /// The Raft address its peers dial (the region's membership lists it): its proxy's
    /// address when the run uses Raft proxies (`crate::proxy`), else `raft_addr`.
    pub peer_raft_addr: String,
    /// Inter-region (mutual TLS) listener, with two regions.
    pub link_addr: Option<String>,
    /// Its link fault file (`TRENT_TEST_LINK_FAULT_FILE`), with two regions.
    pub link_fault_path: Option<PathBuf>,
    /// Its TOML config.
    pub config_path: PathBuf,
    /// Its data dir (RocksDB, audit log).
    pub data_dir: PathBuf,
    /// Where its stdout/stderr are appended.
    pub log_path: PathBuf,
    /// Its service-clock offset in milliseconds (`TRENT_TEST_CLOCK_OFFSET_FILE`; read by a
    /// `testing` build on every clock reading; "0" unless a clock-skew fault is installed).
    pub clock_offset_path: PathBuf,
}

/// Options for the region.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The `trent` binary.
    pub trent: PathBuf,
    /// Number of nodes per region (3).
    pub nodes: u64,
    /// Number of regions: 1 (`us-east-1`) or 2 (`us-east-1` and `us-west-2`, linked).
    pub regions: usize,
    /// `[raft] snapshot_after_entries` (small values exercise snapshot install on restart).
    pub snapshot_after_entries: u64,
    /// A planted bug to switch on in every node (`TRENT_PLANTED_BUG`).
    pub planted_bug: Option<String>,
    /// How long to wait for the region to serve at start.
    pub start_timeout: Duration,
    /// Where the nodes live.
    pub topology: Topology,
    /// Put a TCP proxy in front of every node's Raft port (loopback only; `lag-follower`).
    pub raft_proxies: bool,
}

#[derive(Debug, Default)]
struct Procs {
    children: Vec<Option<Child>>,
    paused: Vec<bool>,
    closed: bool,
    /// Names of the nodes an installed partition or packet loss affects (netns only).
    partitioned: Vec<String>,
    /// Names of the nodes whose clock offset is not 0.
    skewed: Vec<String>,
    /// Names of the nodes whose link to the other region is cut.
    cut: Vec<String>,
    /// Names of the nodes whose inbound Raft traffic is cut (`lag-follower`).
    lagged: Vec<String>,
    /// The netns topology exists and still has to be torn down.
    netns_up: bool,
}

/// A running region.
#[derive(Debug)]
pub struct Db {
    trent: PathBuf,
    planted_bug: Option<String>,
    /// Where the nodes live.
    pub topology: Topology,
    /// The regions, in order (`us-east-1` first).
    pub regions: Vec<String>,
    /// The nodes, region by region; index = slot - 1.
    pub nodes: Vec<NodeSpec>,
    /// One Raft proxy per node (same order as `nodes`), or none.
    proxies: Vec<RaftProxy>,
    /// Per region (same order as `regions`), a client for its Raft ports presenting the
    /// operator certificate (`/raft/status`, and `/raft/members` for the `membership` fault).
    status_clients: Vec<reqwest::Client>,
    procs: Mutex<Procs>,
}

/// The name prefix of a region's nodes when there are several regions (`e` for us-east-1).
fn region_prefix(region: &str) -> String {
    match region {
        "us-east-1" => "e".into(),
        "us-west-2" => "w".into(),
        other => other.chars().take(1).collect(),
    }
}

impl Db {
    /// Writes the configs, root keys (and with two regions the link PKI) under `dir/nodes`
    /// with kms-config's topology writer, starts every node and waits until each serves.
    pub async fn start(options: &DbOptions, dir: &Path) -> anyhow::Result<Db> {
        let nodes_dir = dir.join("nodes");
        std::fs::create_dir_all(&nodes_dir)
            .with_context(|| format!("creating {}", nodes_dir.display()))?;
        // Absolute, so the clock-offset and link-fault paths in the nodes' environment do not
        // depend on their working directory.
        let abs_nodes_dir = std::path::absolute(&nodes_dir)
            .with_context(|| format!("resolving {}", nodes_dir.display()))?;
        if !(1..=REGIONS.len()).contains(&options.regions) {
            bail!("--regions must be between 1 and {}", REGIONS.len());
        }
        let regions: Vec<String> = REGIONS[..options.regions]
            .iter()
            .map(|r| (*r).to_string())
            .collect();
        let multi = regions.len() > 1;
        if options.topology == Topology::Netns && options.nodes != topology::NETNS_NODES {
            bail!(
                "--topology netns supports exactly {} nodes per region",
                topology::NETNS_NODES
            );
        }
        let mut plans = Vec::new();
        for (region_index, region) in regions.iter().enumerate() {
            let addrs = match options.topology {
                Topology::Loopback => kms_config::free_loopback_addrs(options.nodes as usize)?,
                Topology::Netns => (1..=options.nodes)
                    .map(|id| {
                        let ip = topology::node_ip(region_index as u64 * options.nodes + id);
                        kms_config::NodeAddrs {
                            api: format!("{ip}:{}", topology::API_PORT),
                            raft: format!("{ip}:{}", topology::RAFT_PORT),
                            link: format!("{ip}:{}", topology::LINK_PORT),
                        }
                    })
                    .collect(),
            };
            let mut plan = RegionPlan::new(region, addrs);
            for node in &mut plan.nodes {
                node.name = if multi {
                    format!("{}{}", region_prefix(region), node.id)
                } else {
                    format!("n{}", node.id)
                };
            }
            plans.push(plan);
        }
        // Proxies: peers (and the membership) name each node by its proxy's address.
        let mut proxies: Vec<(String, RaftProxy)> = Vec::new();
        if options.raft_proxies {
            if options.topology != Topology::Loopback {
                bail!("Raft proxies need --topology loopback");
            }
            let mut taken: Vec<u16> = Vec::new();
            for node in plans.iter().flat_map(|p| &p.nodes) {
                for addr in [&node.addrs.api, &node.addrs.raft, &node.addrs.link] {
                    if let Some(port) = addr.rsplit(':').next().and_then(|p| p.parse().ok()) {
                        taken.push(port);
                    }
                }
            }
            for node in plans.iter_mut().flat_map(|p| &mut p.nodes) {
                let upstream = node
                    .addrs
                    .raft
                    .parse()
                    .with_context(|| format!("parsing {}", node.addrs.raft))?;
                let proxy = RaftProxy::start(upstream, &taken)
                    .await
                    .context("starting a Raft proxy")?;
                taken.push(proxy.addr().port());
                node.raft_peer_addr = Some(proxy.addr().to_string());
                proxies.push((node.addrs.raft.clone(), proxy));
            }
        }
        let credential = Credential {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            account_id: None,
        };
        let mut cluster = kms_config::Topology::new(&abs_nodes_dir, plans, credential);
        cluster.account_id = ACCOUNT.into();
        cluster.raft = RaftTuning {
            heartbeat_ms: HEARTBEAT_MS,
            election_timeout_ms: ELECTION_TIMEOUT_MS,
            snapshot_after_entries: options.snapshot_after_entries,
        };
        let written = cluster.write().context("writing the node configs")?;
        let operator = cluster.operator_identity()?;
        let status_clients = regions
            .iter()
            .map(|region| kms_config::client_for_region(&operator, region))
            .collect::<Result<Vec<_>, _>>()
            .context("building the status clients")?;
        let mut specs = Vec::new();
        for (node, slot) in written.into_iter().zip(1u64..) {
            let name = node.name;
            let spec = NodeSpec {
                id: node.config.node_id,
                bootstrap: node.config.bootstrap,
                slot,
                region: node.config.region.clone(),
                region_index: node.region_index,
                api_addr: node.config.api_addr.clone(),
                raft_addr: node.config.raft_addr.clone(),
                peer_raft_addr: node
                    .config
                    .members
                    .get(&node.config.node_id)
                    .cloned()
                    .unwrap_or_else(|| node.config.raft_addr.clone()),
                link_addr: node.config.link.as_ref().map(|l| l.addr.clone()),
                link_fault_path: multi.then(|| abs_nodes_dir.join(format!("{name}.link-fault"))),
                config_path: node.path,
                data_dir: node.config.data_dir,
                log_path: nodes_dir.join(format!("{name}.log")),
                clock_offset_path: abs_nodes_dir.join(format!("{name}.clock-offset")),
                name,
            };
            write_clock_offset(&spec, 0)?;
            write_link_fault(&spec, false)?;
            specs.push(spec);
        }
        // One proxy per node, in the nodes' order.
        let mut by_node = Vec::new();
        for spec in &specs {
            if let Some(at) = proxies.iter().position(|(raft, _)| *raft == spec.raft_addr) {
                by_node.push(proxies.swap_remove(at).1);
            }
        }
        let proxies = by_node;
        let count = specs.len();
        let netns_up = options.topology == Topology::Netns;
        if netns_up {
            topology::setup_netns(count as u64).context("creating the netns topology")?;
        }
        let db = Db {
            trent: options.trent.clone(),
            planted_bug: options.planted_bug.clone(),
            topology: options.topology,
            regions,
            nodes: specs,
            proxies,
            status_clients,
            procs: Mutex::new(Procs {
                children: (0..count).map(|_| None).collect(),
                paused: vec![false; count],
                closed: false,
                partitioned: Vec::new(),
                skewed: Vec::new(),
                cut: Vec::new(),
                lagged: Vec::new(),
                netns_up,
            }),
        };
        for index in 0..count {
            db.restart(index)?;
        }
        db.wait_healthy(options.start_timeout)
            .await
            .context("the region never served")?;
        Ok(db)
    }

    /// Indices (into [`Db::nodes`]) of region `region`'s nodes.
    pub fn region_nodes(&self, region: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].region_index == region)
            .collect()
    }

    /// A client for node `index`, signing for the node's own region.
    pub fn client(&self, index: usize, timeout: Duration) -> anyhow::Result<KmsClient> {
        let spec = &self.nodes[index];
        KmsClient::in_region(&spec.api_addr, timeout, &spec.region)
    }

    fn procs(&self) -> MutexGuard<'_, Procs> {
        // A panic while holding the lock cannot leave `Procs` inconsistent (every update is
        // a single assignment), so a poisoned lock is still usable.
        self.procs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts node `index` if it is not running (same config and data dir).
    pub fn restart(&self, index: usize) -> anyhow::Result<bool> {
        let mut procs = self.procs();
        if procs.closed {
            bail!("the region was torn down");
        }
        if procs.children[index].is_some() {
            return Ok(false);
        }
        let spec = &self.nodes[index];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&spec.log_path)
            .with_context(|| format!("opening {}", spec.log_path.display()))?;
        let mut command = match self.topology {
            Topology::Loopback => Command::new(&self.trent),
            Topology::Netns => {
                // `ip netns exec` execs the trent binary: the child's pid is trent's.
                let mut command = Command::new("ip");
                command
                    .arg("netns")
                    .arg("exec")
                    .arg(topology::netns_name(spec.slot))
                    .arg(&self.trent);
                command
            }
        };
        if let Some(bug) = &self.planted_bug {
            command.env("TRENT_PLANTED_BUG", bug);
        } else {
            command.env_remove("TRENT_PLANTED_BUG");
        }
        match &spec.link_fault_path {
            Some(path) => command.env("TRENT_TEST_LINK_FAULT_FILE", path),
            None => command.env_remove("TRENT_TEST_LINK_FAULT_FILE"),
        };
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(&spec.config_path)
            .env("RUST_LOG", "info,openraft=warn")
            .env("TRENT_TEST_CLOCK_OFFSET_FILE", &spec.clock_offset_path)
            .env_remove("TRENT_CREDENTIALS")
            .env_remove("TRENT_ACCOUNT_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("spawning {} for {}", self.trent.display(), spec.name))?;
        procs.children[index] = Some(child);
        procs.paused[index] = false;
        Ok(true)
    }

    /// Deletes the Raft store of the stopped node `index`, as a replaced disk would lose it:
    /// RocksDB's files (log, vote, state) and the snapshot files. Its configuration, sealed root
    /// key and audit trail stay, so it restarts as the same member with an empty log.
    pub fn wipe_raft_store(&self, index: usize) -> anyhow::Result<()> {
        let dir = &self.nodes[index].data_dir;
        let snapshots = dir.join("snapshots");
        if snapshots.exists() {
            std::fs::remove_dir_all(&snapshots)
                .with_context(|| format!("removing {}", snapshots.display()))?;
        }
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if is_rocksdb_file(name) {
                std::fs::remove_file(&path)
                    .with_context(|| format!("removing {}", path.display()))?;
            }
        }
        Ok(())
    }

    /// SIGKILLs node `index` and waits for it to exit. Returns false if it was not running.
    pub fn kill(&self, index: usize) -> bool {
        let mut procs = self.procs();
        let Some(mut child) = procs.children[index].take() else {
            return false;
        };
        // SIGKILL also ends a stopped (paused) process.
        let _ = child.kill();
        let _ = child.wait();
        procs.paused[index] = false;
        true
    }

    fn signal(&self, index: usize, signal: &str) -> anyhow::Result<bool> {
        let procs = self.procs();
        let Some(child) = procs.children[index].as_ref() else {
            return Ok(false);
        };
        let status = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .context("running kill")?;
        if !status.success() {
            bail!("kill {signal} {} failed", child.id());
        }
        Ok(true)
    }

    /// SIGSTOPs node `index`. Returns false if it was not running or already paused.
    pub fn pause(&self, index: usize) -> anyhow::Result<bool> {
        if self.procs().paused[index] || !self.signal(index, "-STOP")? {
            return Ok(false);
        }
        self.procs().paused[index] = true;
        Ok(true)
    }

    /// SIGCONTs node `index`. Returns false if it was not paused.
    pub fn resume(&self, index: usize) -> anyhow::Result<bool> {
        if !self.procs().paused[index] {
            return Ok(false);
        }
        self.signal(index, "-CONT")?;
        self.procs().paused[index] = false;
        Ok(true)
    }

    /// Installs a netns partition: `grudge` maps a node index to the indices whose packets
    /// it drops. Returns the names of the affected nodes. Fails in loopback mode.
    pub fn partition(&self, grudge: &BTreeMap<usize, Vec<usize>>) -> anyhow::Result<Vec<String>> {
        self.install_nft(grudge, "partitions", topology::install_partition)
    }

    /// Installs netns packet loss: `lossy` maps a node index to the indices of which it drops a
    /// random `percent`% of input packets. Returns the names of the affected nodes. Fails in
    /// loopback mode.
    pub fn packet_loss(
        &self,
        lossy: &BTreeMap<usize, Vec<usize>>,
        percent: u8,
    ) -> anyhow::Result<Vec<String>> {
        self.install_nft(lossy, "packet loss", |ids| {
            topology::install_packet_loss(ids, percent)
        })
    }

    fn install_nft(
        &self,
        grudge: &BTreeMap<usize, Vec<usize>>,
        what: &str,
        install: impl FnOnce(&BTreeMap<u64, Vec<u64>>) -> anyhow::Result<()>,
    ) -> anyhow::Result<Vec<String>> {
        if self.topology != Topology::Netns {
            bail!("{what} needs --topology netns");
        }
        let mut procs = self.procs();
        if procs.closed {
            bail!("the region was torn down");
        }
        let slots: BTreeMap<u64, Vec<u64>> = grudge
            .iter()
            .map(|(&node, peers)| {
                (
                    self.nodes[node].slot,
                    peers.iter().map(|&p| self.nodes[p].slot).collect(),
                )
            })
            .collect();
        let mut affected: Vec<String> = Vec::new();
        for (&node, peers) in grudge {
            for index in std::iter::once(node).chain(peers.iter().copied()) {
                let name = self.nodes[index].name.clone();
                if !affected.contains(&name) {
                    affected.push(name);
                }
            }
        }
        affected.sort();
        procs.partitioned = affected.clone();
        if let Err(e) = install(&slots) {
            // Leave nothing half-installed.
            let _ = topology::heal_partitions(self.nodes.len() as u64);
            procs.partitioned.clear();
            return Err(e);
        }
        Ok(affected)
    }

    /// Removes every partition (netns mode); returns the names of the nodes it affected.
    pub fn heal_partitions(&self) -> anyhow::Result<Vec<String>> {
        let mut procs = self.procs();
        if !procs.netns_up {
            return Ok(Vec::new());
        }
        topology::heal_partitions(self.nodes.len() as u64)?;
        Ok(std::mem::take(&mut procs.partitioned))
    }

    /// Cuts the inter-region link of the given node indices (writes `cut` to their link fault
    /// files): each of them then neither sends to nor accepts from the other region. Returns
    /// their names. Fails with one region (no link, no fault files).
    pub fn cut_links(&self, nodes: &[usize]) -> anyhow::Result<Vec<String>> {
        let mut procs = self.procs();
        if procs.closed {
            bail!("the region was torn down");
        }
        let mut cut = Vec::new();
        for &index in nodes {
            let spec = &self.nodes[index];
            if spec.link_fault_path.is_none() {
                bail!("region-split needs --regions 2");
            }
            write_link_fault(spec, true)?;
            cut.push(spec.name.clone());
            if !procs.cut.contains(&spec.name) {
                procs.cut.push(spec.name.clone());
            }
        }
        Ok(cut)
    }

    /// Heals every cut link (empties every link fault file); returns the names that were cut.
    pub fn heal_links(&self) -> anyhow::Result<Vec<String>> {
        let mut procs = self.procs();
        for spec in &self.nodes {
            write_link_fault(spec, false)?;
        }
        Ok(std::mem::take(&mut procs.cut))
    }

    /// Cuts every peer's Raft traffic to node `index`, which then falls behind while still
    /// answering clients (`lag-follower`): in loopback mode its proxy blackholes (needs
    /// [`DbOptions::raft_proxies`]); in netns mode its namespace drops every packet from its
    /// region's other nodes (an nft grudge, healed with the partitions). Returns the affected
    /// node names (the lagging node first).
    pub fn lag(&self, index: usize) -> anyhow::Result<Vec<String>> {
        let name = self.nodes[index].name.clone();
        match self.topology {
            Topology::Loopback => {
                let Some(proxy) = self.proxies.get(index) else {
                    bail!("lag-follower needs the Raft proxies (DbOptions::raft_proxies)");
                };
                let mut procs = self.procs();
                if procs.closed {
                    bail!("the region was torn down");
                }
                proxy.set(Mode::Blackhole);
                if !procs.lagged.contains(&name) {
                    procs.lagged.push(name.clone());
                }
                Ok(vec![name])
            }
            Topology::Netns => {
                let region = self.nodes[index].region_index;
                let peers: Vec<usize> = self
                    .region_nodes(region)
                    .into_iter()
                    .filter(|&i| i != index)
                    .collect();
                let grudge = BTreeMap::from([(index, peers)]);
                self.install_nft(&grudge, "lag", topology::install_partition)?;
                Ok(vec![name])
            }
        }
    }

    /// Lets every proxy forward again; returns the names of the nodes that were lagging.
    pub fn heal_lags(&self) -> Vec<String> {
        let mut procs = self.procs();
        for proxy in &self.proxies {
            proxy.set(Mode::Forward);
        }
        std::mem::take(&mut procs.lagged)
    }

    /// Sets the service-clock offsets (milliseconds) of the given node indices; returns their
    /// names. A running node sees the new offset at its next clock reading.
    pub fn skew_clocks(&self, offsets: &BTreeMap<usize, i64>) -> anyhow::Result<Vec<String>> {
        let mut procs = self.procs();
        if procs.closed {
            bail!("the region was torn down");
        }
        let mut skewed = Vec::new();
        for (&index, &offset) in offsets {
            let spec = &self.nodes[index];
            write_clock_offset(spec, offset)?;
            if offset != 0 {
                skewed.push(spec.name.clone());
            }
        }
        skewed.sort();
        for name in &skewed {
            if !procs.skewed.contains(name) {
                procs.skewed.push(name.clone());
            }
        }
        Ok(skewed)
    }

    /// Resets every node's clock offset to 0; returns the names of the nodes that were skewed.
    pub fn heal_clocks(&self) -> anyhow::Result<Vec<String>> {
        let mut procs = self.procs();
        for spec in &self.nodes {
            write_clock_offset(spec, 0)?;
        }
        Ok(std::mem::take(&mut procs.skewed))
    }

    /// Heals partitions, packet loss, lagging nodes and cut region links, resets clock offsets,
    /// resumes every paused node and restarts every dead one; returns the names touched.
    pub fn heal_all(&self) -> anyhow::Result<Vec<String>> {
        let mut touched = self.heal_partitions()?;
        let healed = self.heal_clocks()?.into_iter().chain(self.heal_links()?);
        for name in healed.chain(self.heal_lags()) {
            if !touched.contains(&name) {
                touched.push(name);
            }
        }
        for index in 0..self.nodes.len() {
            let name = &self.nodes[index].name;
            if (self.resume(index)? || self.restart(index)?) && !touched.contains(name) {
                touched.push(name.clone());
            }
        }
        Ok(touched)
    }

    /// Indices of nodes that are running and not paused.
    pub fn live(&self) -> Vec<usize> {
        let procs = self.procs();
        (0..self.nodes.len())
            .filter(|&i| procs.children[i].is_some() && !procs.paused[i])
            .collect()
    }

    /// Indices of region `region`'s nodes that are running and not paused.
    pub fn live_in(&self, region: usize) -> Vec<usize> {
        self.live()
            .into_iter()
            .filter(|&i| self.nodes[i].region_index == region)
            .collect()
    }

    /// Indices of region `region`'s running, unpaused nodes other than `leader`.
    pub fn live_followers_in(&self, region: usize, leader: usize) -> Vec<usize> {
        self.live_in(region)
            .into_iter()
            .filter(|&i| i != leader)
            .collect()
    }

    /// Checks whether any node exited on its own (not killed by the harness); returns
    /// `(name, exit status)` for each and forgets them, so a heal restarts them.
    pub fn reap_crashed(&self) -> Vec<(String, String)> {
        let mut procs = self.procs();
        let mut crashed = Vec::new();
        for index in 0..self.nodes.len() {
            let exited = match procs.children[index].as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => Some(status.to_string()),
                _ => None,
            };
            if let Some(status) = exited {
                procs.children[index] = None;
                procs.paused[index] = false;
                crashed.push((self.nodes[index].name.clone(), status));
            }
        }
        crashed
    }

    /// Node `index`'s `GET /raft/members` (the membership it knows), if it answers within 2 s.
    pub async fn members(&self, index: usize) -> Option<serde_json::Value> {
        let addr = &self.nodes[index].raft_addr;
        topology::check_target(addr).ok()?;
        let response = self.status_clients[self.nodes[index].region_index]
            .get(format!("https://{addr}/raft/members"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// Node `index`'s `/raft/status`, if it answers within 500 ms.
    pub async fn status(&self, index: usize) -> Option<serde_json::Value> {
        let addr = &self.nodes[index].raft_addr;
        topology::check_target(addr).ok()?;
        let url = format!("https://{addr}/raft/status");
        let response = self.status_clients[self.nodes[index].region_index]
            .get(url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// The index of a live node of the first region that reports itself as leader, if any.
    pub async fn leader(&self) -> Option<usize> {
        self.leader_in(0).await
    }

    /// The index of a live node of region `region` that reports itself as leader, if any.
    pub async fn leader_in(&self, region: usize) -> Option<usize> {
        self.leader_status_in(region).await.map(|(index, _)| index)
    }

    /// The index and `/raft/status` of a live node of region `region` that reports itself as
    /// leader, if any.
    pub async fn leader_status_in(&self, region: usize) -> Option<(usize, serde_json::Value)> {
        for index in self.live_in(region) {
            if let Some(status) = self.status(index).await {
                if status["current_leader"].as_u64() == Some(self.nodes[index].id) {
                    return Some((index, status));
                }
            }
        }
        None
    }

    /// Asks region `region`'s leader to change its membership: `POST /raft/members/{action}`
    /// (`add`, `remove`) with `body`, presenting the operator certificate. Answers the
    /// membership the leader reports after the change, or why it was not made.
    pub async fn change_membership(
        &self,
        region: usize,
        action: &str,
        body: serde_json::Value,
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let Some(leader) = self.leader_in(region).await else {
            bail!("region {} has no leader", self.regions[region]);
        };
        let addr = &self.nodes[leader].raft_addr;
        topology::check_target(addr)?;
        let response = self.status_clients[region]
            .post(format!("https://{addr}/raft/members/{action}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .timeout(timeout)
            .send()
            .await
            .with_context(|| format!("POST /raft/members/{action} to {addr}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("/raft/members/{action}: {status}: {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("/raft/members/{action}: {text}"))
    }

    /// The names of region `region`'s voters in a membership answer (`{"voters": {"1": ...}}`).
    pub fn voter_names(&self, region: usize, membership: &serde_json::Value) -> Vec<String> {
        let Some(voters) = membership["voters"].as_object() else {
            return Vec::new();
        };
        self.region_nodes(region)
            .into_iter()
            .filter(|&i| voters.contains_key(&self.nodes[i].id.to_string()))
            .map(|i| self.nodes[i].name.clone())
            .collect()
    }

    /// Node name -> region name, for every node.
    pub fn node_regions(&self) -> BTreeMap<String, String> {
        self.nodes
            .iter()
            .map(|n| (n.name.clone(), n.region.clone()))
            .collect()
    }

    /// The index of the node named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Polls [`Db::leader`] until one is found or `timeout` passes.
    pub async fn wait_leader(&self, timeout: Duration) -> Option<usize> {
        self.wait_leader_in(0, timeout).await
    }

    /// Polls [`Db::leader_in`] until region `region` has a leader or `timeout` passes.
    pub async fn wait_leader_in(&self, region: usize, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader_in(region).await {
                return Some(leader);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until every region has a leader and every node answers a ListKeys signed for its
    /// region with 200.
    pub async fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let clients = (0..self.nodes.len())
            .map(|i| self.client(i, Duration::from_secs(2)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut last = String::new();
        loop {
            let mut healthy = true;
            for (index, region) in self.regions.iter().enumerate() {
                if healthy && self.leader_in(index).await.is_none() {
                    healthy = false;
                    last = if self.regions.len() > 1 {
                        format!("no leader in {region}")
                    } else {
                        "no leader".into()
                    };
                }
            }
            for (spec, client) in self.nodes.iter().zip(&clients) {
                if !healthy {
                    break;
                }
                match client.call("ListKeys", &serde_json::json!({})).await {
                    Reply::Ok(_) => {}
                    other => {
                        healthy = false;
                        last = format!("{}: {other:?}", spec.name);
                    }
                }
            }
            if healthy {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("region not healthy after {timeout:?} (last: {last})");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Kills every node and refuses later restarts; in netns mode then removes the namespaces
    /// and the bridge. Idempotent.
    pub fn teardown(&self) {
        self.procs().closed = true;
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
        let netns_up = std::mem::take(&mut self.procs().netns_up);
        if netns_up {
            topology::teardown_netns();
        }
    }
}

/// Writes `cut` (or nothing) to `spec`'s link fault file atomically (temp file + rename), so a
/// node reading it concurrently never sees a torn value. No-op without a link.
fn write_link_fault(spec: &NodeSpec, cut: bool) -> anyhow::Result<()> {
    let Some(path) = &spec.link_fault_path else {
        return Ok(());
    };
    let tmp = path.with_extension("link-fault.tmp");
    std::fs::write(&tmp, if cut { "cut" } else { "" })
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Writes `offset` (ms) to `spec`'s clock-offset file atomically (temp file + rename), so a
/// node reading it concurrently sees the old or the new value, never a torn one.
fn write_clock_offset(spec: &NodeSpec, offset: i64) -> anyhow::Result<()> {
    let path = &spec.clock_offset_path;
    let tmp = path.with_extension("clock-offset.tmp");
    std::fs::write(&tmp, format!("{offset}\n"))
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

impl Drop for Db {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Whether `name` (a file of a node's data dir) is one of RocksDB's: its manifest, options,
/// identity, lock, info logs, write-ahead logs (`NNNNNN.log`) and tables.
fn is_rocksdb_file(name: &str) -> bool {
    matches!(name, "CURRENT" | "IDENTITY" | "LOCK" | "LOG")
        || name.starts_with("LOG.old.")
        || name.starts_with("MANIFEST-")
        || name.starts_with("OPTIONS-")
        || name.ends_with(".sst")
        || name.ends_with(".blob")
        || (name.ends_with(".log") && name[..name.len() - 4].bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod rocksdb_file_tests {
    use super::is_rocksdb_file;

    #[test]
    fn only_rocksdb_files_are_picked() {
        for name in [
            "CURRENT",
            "IDENTITY",
            "LOCK",
            "LOG",
            "LOG.old.1733",
            "MANIFEST-000005",
            "OPTIONS-000007",
            "000012.sst",
            "000004.log",
            "000009.blob",
        ] {
            assert!(is_rocksdb_file(name), "{name}");
        }
        for name in [
            "audit.jsonl",
            "root.sealed",
            "node.toml",
            "trent.log",
            "x.log",
            "snapshots",
        ] {
            assert!(!is_rocksdb_file(name), "{name}");
        }
    }
}
