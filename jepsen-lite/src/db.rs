//! The system under test: a 3-node Trent region of real `trent serve --config <toml>` processes,
//! on 127.0.0.1 (`--topology loopback`, the default) or one per network namespace
//! (`--topology netns`: node N runs as `ip netns exec jl-nN trent serve ...` and binds its API
//! and Raft ports on its own address; see `topology`).
//!
//! [`Db::start`] writes one config per node under the run's store dir (`nodes/nN.toml`, data in
//! `nodes/nN-data/`, logs appended to `nodes/nN.log`), creates the region root key with
//! `trent root-key --create`, spawns the nodes and waits until each answers a signed ListKeys.
//! The config keys are the ones Trent's integration tests write (`tests/src/lib.rs`).
//! Every node gets its own clock-offset file, `nodes/nN.clock-offset` (absolute path in
//! `TRENT_TEST_CLOCK_OFFSET_FILE`; "0" except while a `clock-skew` fault is installed).
//!
//! Process control is by the pid of the child the harness spawned, never by name: kill
//! (SIGKILL + wait), pause (`kill -STOP`), resume (`kill -CONT`), restart (same config and data).
//! [`Db::teardown`] (also run on drop) kills every node and refuses later restarts, so a nemesis
//! still running during shutdown cannot bring a node back; in netns mode it also removes the
//! namespaces and the bridge. `ip netns exec` execs the command, so the pid the harness spawned
//! is the trent process itself and signals reach it directly.

use crate::client::{KmsClient, Reply, ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY};
use crate::topology::{self, Topology};
use anyhow::{bail, Context};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Static facts about one node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Raft node id (1-based).
    pub id: u64,
    /// The name used in the history and logs: `n1`, `n2`, ...
    pub name: String,
    /// Public KMS API address.
    pub api_addr: String,
    /// Internal Raft address (also serves `/raft/status`).
    pub raft_addr: String,
    /// Its TOML config.
    pub config_path: PathBuf,
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
    /// Number of nodes (3 for Phase 1).
    pub nodes: u64,
    /// `[raft] snapshot_after_entries` (small values exercise snapshot install on restart).
    pub snapshot_after_entries: u64,
    /// A planted bug to switch on in every node (`TRENT_PLANTED_BUG`).
    pub planted_bug: Option<String>,
    /// How long to wait for the region to serve at start.
    pub start_timeout: Duration,
    /// Where the nodes live.
    pub topology: Topology,
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
    /// The nodes, index = id - 1.
    pub nodes: Vec<NodeSpec>,
    procs: Mutex<Procs>,
}

/// A port the kernel says is free on 127.0.0.1 and that is not in `taken` (the listener is
/// closed again, so two calls can return the same port; `taken` keeps one region's ports
/// distinct).
fn free_port(taken: &mut Vec<u16>) -> anyhow::Result<u16> {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if !taken.contains(&port) {
            taken.push(port);
            return Ok(port);
        }
    }
    bail!("no distinct free port on 127.0.0.1 after 100 tries")
}

impl Db {
    /// Creates the configs and root key under `dir/nodes`, starts every node and waits until
    /// each serves.
    pub async fn start(options: &DbOptions, dir: &Path) -> anyhow::Result<Db> {
        let nodes_dir = dir.join("nodes");
        std::fs::create_dir_all(&nodes_dir)
            .with_context(|| format!("creating {}", nodes_dir.display()))?;
        // Absolute, so the clock-offset path in the nodes' environment does not depend on
        // their working directory.
        let abs_nodes_dir = std::path::absolute(&nodes_dir)
            .with_context(|| format!("resolving {}", nodes_dir.display()))?;
        let root_key = nodes_dir.join("root.key");
        let output = Command::new(&options.trent)
            .arg("root-key")
            .arg("--create")
            .arg(&root_key)
            .output()
            .with_context(|| format!("running {} root-key", options.trent.display()))?;
        if !output.status.success() {
            bail!(
                "trent root-key failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        if options.topology == Topology::Netns && options.nodes != topology::NETNS_NODES {
            bail!(
                "--topology netns supports exactly {} nodes",
                topology::NETNS_NODES
            );
        }
        let mut specs = Vec::new();
        let mut ports = Vec::new();
        for id in 1..=options.nodes {
            let (api_addr, raft_addr) = match options.topology {
                Topology::Loopback => (
                    format!("127.0.0.1:{}", free_port(&mut ports)?),
                    format!("127.0.0.1:{}", free_port(&mut ports)?),
                ),
                Topology::Netns => (
                    format!("{}:{}", topology::node_ip(id), topology::API_PORT),
                    format!("{}:{}", topology::node_ip(id), topology::RAFT_PORT),
                ),
            };
            specs.push(NodeSpec {
                id,
                name: format!("n{id}"),
                api_addr,
                raft_addr,
                config_path: nodes_dir.join(format!("n{id}.toml")),
                log_path: nodes_dir.join(format!("n{id}.log")),
                clock_offset_path: abs_nodes_dir.join(format!("n{id}.clock-offset")),
            });
        }
        let members: String = specs
            .iter()
            .map(|s| format!("{} = \"{}\"\n", s.id, s.raft_addr))
            .collect();
        for spec in &specs {
            let config = format!(
                "node_id = {id}\nregion = \"{REGION}\"\napi_addr = \"{api}\"\nraft_addr = \"{raft}\"\n\
                 data_dir = \"{data}\"\nroot_key_path = \"{key}\"\naccount_id = \"{ACCOUNT}\"\nbootstrap = {boot}\n\
                 [members]\n{members}\n[[credentials]]\naccess_key_id = \"{ACCESS_KEY}\"\nsecret_access_key = \"{SECRET_KEY}\"\n\
                 [raft]\nheartbeat_ms = 50\nelection_timeout_ms = 300\nsnapshot_after_entries = {snap}\n",
                id = spec.id,
                api = spec.api_addr,
                raft = spec.raft_addr,
                data = nodes_dir.join(format!("{}-data", spec.name)).display(),
                key = root_key.display(),
                boot = spec.id == 1,
                snap = options.snapshot_after_entries,
            );
            std::fs::write(&spec.config_path, config)
                .with_context(|| format!("writing {}", spec.config_path.display()))?;
            write_clock_offset(spec, 0)?;
        }
        let count = specs.len();
        let netns_up = options.topology == Topology::Netns;
        if netns_up {
            topology::setup_netns().context("creating the netns topology")?;
        }
        let db = Db {
            trent: options.trent.clone(),
            planted_bug: options.planted_bug.clone(),
            topology: options.topology,
            nodes: specs,
            procs: Mutex::new(Procs {
                children: (0..count).map(|_| None).collect(),
                paused: vec![false; count],
                closed: false,
                partitioned: Vec::new(),
                skewed: Vec::new(),
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
                    .arg(topology::netns_name(spec.id))
                    .arg(&self.trent);
                command
            }
        };
        if let Some(bug) = &self.planted_bug {
            command.env("TRENT_PLANTED_BUG", bug);
        } else {
            command.env_remove("TRENT_PLANTED_BUG");
        }
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
        let ids: BTreeMap<u64, Vec<u64>> = grudge
            .iter()
            .map(|(&node, peers)| {
                (
                    self.nodes[node].id,
                    peers.iter().map(|&p| self.nodes[p].id).collect(),
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
        if let Err(e) = install(&ids) {
            // Leave nothing half-installed.
            let _ = topology::heal_partitions();
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
        topology::heal_partitions()?;
        Ok(std::mem::take(&mut procs.partitioned))
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

    /// Heals partitions and packet loss, resets clock offsets, resumes every paused node and
    /// restarts every dead one; returns the names touched.
    pub fn heal_all(&self) -> anyhow::Result<Vec<String>> {
        let mut touched = self.heal_partitions()?;
        for name in self.heal_clocks()? {
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

    /// Node `index`'s `/raft/status`, if it answers within 500 ms.
    pub async fn status(&self, index: usize) -> Option<serde_json::Value> {
        let addr = &self.nodes[index].raft_addr;
        topology::check_target(addr).ok()?;
        let url = format!("http://{addr}/raft/status");
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .ok()?
            .get(url)
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// The index of a live node that reports itself as leader, if any right now.
    pub async fn leader(&self) -> Option<usize> {
        for index in self.live() {
            if let Some(status) = self.status(index).await {
                if status["current_leader"].as_u64() == Some(self.nodes[index].id) {
                    return Some(index);
                }
            }
        }
        None
    }

    /// Polls [`Db::leader`] until one is found or `timeout` passes.
    pub async fn wait_leader(&self, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader().await {
                return Some(leader);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until a leader exists and every node answers a signed ListKeys with 200.
    pub async fn wait_healthy(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let clients = self
            .nodes
            .iter()
            .map(|n| KmsClient::new(&n.api_addr, Duration::from_secs(2)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut last = String::new();
        loop {
            let mut healthy = self.leader().await.is_some();
            if !healthy {
                last = "no leader".into();
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
