//! Three real nodes of one region in this process: each on its own single-threaded tokio
//! runtime (so a node can be paused like a SIGSTOPped process, timers included), with its
//! RocksDB store in a temporary directory, its internal router on an ephemeral 127.0.0.1 port,
//! and a [`FaultProxy`] in front of that port whose address is the node's address in the
//! membership.

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_core::{Command, KeyRecord, WrappedMaterial};
use kms_raft::{RaftSettings, RegionRaft};
use kms_types::{KeySpec, KeyState, KeyUsage, Origin};
use openraft::storage::RaftLogStorage;
use openraft::{EntryPayload, RaftLogReader, ServerState};
use tempfile::TempDir;

use crate::proxy::{Fault, FaultProxy};

/// How long any condition a test waits for may take (generous: a loaded 2-core machine).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` every 20 ms until it returns `Some`, or panics after [`PATIENCE`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Awaits `future`, or panics after [`PATIENCE`].
pub async fn within_patience<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Raft settings for the tests: production timings, a snapshot policy the test chooses.
pub fn settings(snapshot_after_entries: u64) -> RaftSettings {
    RaftSettings {
        snapshot_after_entries,
        ..RaftSettings::default()
    }
}

/// A key record (the state machine treats material as opaque bytes).
pub fn key(key_id: &str, policy: String) -> KeyRecord {
    KeyRecord {
        key_id: key_id.to_string(),
        arn: format!("arn:aws:kms:us-east-1:111122223333:key/{key_id}"),
        account_id: "111122223333".into(),
        creation_ms: 1_000,
        description: String::new(),
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsage::EncryptDecrypt,
        origin: Origin::AwsKms,
        key_state: KeyState::Enabled,
        deletion_ms: None,
        pending_window_days: None,
        multi_region: false,
        mrk: None,
        pending_rotation: None,
        key_store: None,
        policy,
        tags: Default::default(),
        materials: vec![WrappedMaterial {
            material_id: "ab".repeat(32),
            wrapped: vec![7; 32],
            created_ms: 1_000,
            public_key: None,
            import: None,
        }],
        rotation_period_days: None,
        next_rotation_ms: None,
        rotations: Vec::new(),
    }
}

/// `CreateKey` of a small key.
pub fn create(key_id: &str) -> Command {
    Command::CreateKey {
        record: key(key_id, "{}".into()),
    }
}

/// `CreateKey` of a key whose policy is `policy_bytes` long.
pub fn create_big(key_id: &str, policy_bytes: usize) -> Command {
    Command::CreateKey {
        record: key(
            key_id,
            format!("{{\"Sid\":\"{}\"}}", "p".repeat(policy_bytes)),
        ),
    }
}

/// The address node `id` connects to its peers from, so their proxies can tell it apart.
pub fn source_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        127,
        0,
        0,
        10 + u8::try_from(id).expect("a small node id"),
    ))
}

/// One node's runtime thread.
struct Running {
    raft: Arc<RegionRaft>,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    stopped: std::sync::mpsc::Receiver<()>,
    /// Held while the node is paused; dropping it resumes the node.
    resume: Option<std::sync::mpsc::Sender<()>>,
}

impl Running {
    async fn start(id: u64, dir: PathBuf, mut settings: RaftSettings) -> (Running, SocketAddr) {
        settings.source_ip = Some(source_ip(id));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (stopped_tx, stopped_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("raft-node-{id}"))
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a node runtime");
                runtime.block_on(async move {
                    let raft = RegionRaft::start(id, &dir, settings)
                        .await
                        .expect("starting the node");
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("binding the node's raft port");
                    let addr = listener.local_addr().expect("raft address");
                    let server =
                        tokio::spawn(axum::serve(listener, raft.internal_router()).into_future());
                    let _ = ready_tx.send((raft.clone(), addr, tokio::runtime::Handle::current()));
                    let _ = stop_rx.await;
                    raft.shutdown().await;
                    server.abort();
                });
                // Dropping the runtime ends every task of the node and waits for its blocking
                // RocksDB work, so the store is closed once `stopped` fires.
                drop(runtime);
                let _ = stopped_tx.send(());
            })
            .expect("spawning a node thread");
        let (raft, addr, runtime) = within_patience("a node to start", ready_rx)
            .await
            .expect("the node thread started the node");
        let running = Running {
            raft,
            runtime,
            stop: Some(stop_tx),
            stopped: stopped_rx,
            resume: None,
        };
        (running, addr)
    }

    /// Blocks the node's only runtime thread: no task, timer or socket of it makes progress
    /// (the kernel still accepts connections on its port), as with SIGSTOP.
    async fn pause(&mut self) {
        let (paused_tx, paused_rx) = tokio::sync::oneshot::channel();
        let (resume_tx, resume_rx) = std::sync::mpsc::channel::<()>();
        self.runtime.spawn(async move {
            let _ = paused_tx.send(());
            let _ = resume_rx.recv();
        });
        within_patience("the node to pause", paused_rx)
            .await
            .expect("the pause task ran");
        self.resume = Some(resume_tx);
    }

    fn resume(&mut self) {
        self.resume = None;
    }

    async fn stop(mut self) {
        self.resume();
        self.stop = None;
        eventually("a node to stop", || {
            let done = self.stopped.try_recv().is_ok();
            async move { done.then_some(()) }
        })
        .await;
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that panicked: stop the node before its directory goes away.
        self.resume = None;
        if self.stop.take().is_some() {
            let _ = self.stopped.recv_timeout(Duration::from_secs(10));
        }
    }
}

/// A three-node region.
pub struct Cluster {
    settings: RaftSettings,
    nodes: BTreeMap<u64, Option<Running>>,
    proxies: BTreeMap<u64, FaultProxy>,
    dirs: BTreeMap<u64, TempDir>,
    http: reqwest::Client,
}

impl Cluster {
    /// Starts nodes 1, 2 and 3, forms the region and waits until it has a leader.
    pub async fn start(settings: RaftSettings) -> Cluster {
        let mut cluster = Cluster {
            settings,
            nodes: BTreeMap::new(),
            proxies: BTreeMap::new(),
            dirs: BTreeMap::new(),
            http: reqwest::Client::new(),
        };
        for id in 1..=3 {
            let dir = tempfile::tempdir().expect("a data directory");
            let (running, addr) =
                Running::start(id, dir.path().to_path_buf(), cluster.settings.clone()).await;
            cluster.proxies.insert(id, FaultProxy::start(addr).await);
            cluster.nodes.insert(id, Some(running));
            cluster.dirs.insert(id, dir);
        }
        let members = cluster
            .proxies
            .iter()
            .map(|(id, proxy)| (*id, proxy.addr().to_string()))
            .collect();
        let formed = cluster
            .node(1)
            .initialize(members)
            .await
            .expect("forming the region");
        assert!(formed, "a fresh node forms the region");
        cluster.leader().await;
        cluster
    }

    /// The running node `id`.
    pub fn node(&self, id: u64) -> &Arc<RegionRaft> {
        match self.nodes.get(&id) {
            Some(Some(running)) => &running.raft,
            _ => panic!("node {id} is not running"),
        }
    }

    /// The proxy in front of node `id`.
    pub fn proxy(&self, id: u64) -> &FaultProxy {
        &self.proxies[&id]
    }

    /// The leader every running, unpaused node agrees on (waiting for one).
    pub async fn leader(&self) -> u64 {
        self.leader_among(&self.ids()).await
    }

    /// The leader the given nodes agree on, once it is one of them and believes it leads.
    pub async fn leader_among(&self, ids: &[u64]) -> u64 {
        eventually("the nodes to agree on a leader", || {
            let views: Vec<_> = ids
                .iter()
                .map(|id| self.node(*id).raft().metrics().borrow().current_leader)
                .collect();
            let agreed = match views.first() {
                Some(Some(leader)) if views.iter().all(|v| *v == Some(*leader)) => Some(*leader),
                _ => None,
            };
            let leading = agreed.filter(|leader| {
                ids.contains(leader)
                    && self.node(*leader).raft().metrics().borrow().state == ServerState::Leader
            });
            async move { leading }
        })
        .await
    }

    /// Ids of the running nodes.
    pub fn ids(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.as_ref().is_some_and(|n| n.resume.is_none()))
            .map(|(id, _)| *id)
            .collect()
    }

    /// The running nodes other than `leader`.
    pub fn others(&self, leader: u64) -> Vec<u64> {
        self.ids().into_iter().filter(|id| *id != leader).collect()
    }

    /// Waits until every running node has applied at least up to `index`.
    pub async fn wait_applied_everywhere(&self, index: u64) {
        for id in self.ids() {
            self.wait_applied(id, index).await;
        }
    }

    /// Waits until node `id` has applied at least up to `index`.
    pub async fn wait_applied(&self, id: u64, index: u64) {
        eventually(&format!("node {id} to apply index {index}"), || {
            let applied = self.node(id).reader().last_applied_index();
            async move { applied.filter(|a| *a >= index).map(|_| ()) }
        })
        .await;
    }

    /// The last log index node `id` holds.
    pub fn last_log_index(&self, id: u64) -> u64 {
        self.node(id)
            .raft()
            .metrics()
            .borrow()
            .last_log_index
            .unwrap_or(0)
    }

    /// True if node `id` has applied a key with this id.
    pub fn has_key(&self, id: u64, key_id: &str) -> bool {
        self.node(id)
            .reader()
            .read(|state| state.key(key_id).is_some())
    }

    /// Node `id`'s `/raft/status`, fetched through its proxy.
    pub async fn status(&self, id: u64) -> serde_json::Value {
        let url = format!("http://{}/raft/status", self.proxy(id).addr());
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("GET /raft/status");
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.bytes().await.expect("the status body");
        serde_json::from_slice(&body).expect("status is JSON")
    }

    /// Drops every byte between the nodes of `side` and the other nodes (both ways); each side
    /// still talks within itself.
    pub fn partition(&self, side: &[u64]) {
        for a in side {
            for b in self.proxies.keys().filter(|b| !side.contains(b)) {
                self.proxy(*b).set_from(source_ip(*a), Some(Fault::Stall));
                self.proxy(*a).set_from(source_ip(*b), Some(Fault::Stall));
            }
        }
    }

    /// Lifts every partition.
    pub fn heal(&self) {
        for a in self.proxies.keys() {
            for b in self.proxies.keys() {
                self.proxy(*b).set_from(source_ip(*a), None);
            }
        }
    }

    /// Pauses node `id` (see [`Running::pause`]).
    pub async fn pause(&mut self, id: u64) {
        self.running_mut(id).pause().await;
    }

    /// Resumes a paused node.
    pub fn resume(&mut self, id: u64) {
        self.running_mut(id).resume();
    }

    /// Stops node `id` (its store closed, its port refusing connections).
    pub async fn stop(&mut self, id: u64) {
        self.proxy(id).set(Fault::Refuse).await;
        let running = self
            .nodes
            .get_mut(&id)
            .and_then(Option::take)
            .unwrap_or_else(|| panic!("node {id} is not running"));
        running.stop().await;
    }

    /// Starts a stopped node again from its data directory.
    pub async fn restart(&mut self, id: u64) {
        let dir = self.dirs[&id].path().to_path_buf();
        let (running, addr) = Running::start(id, dir, self.settings.clone()).await;
        self.nodes.insert(id, Some(running));
        self.proxy(id).set_target(addr);
        self.proxy(id).set(Fault::None).await;
    }

    /// Stops every node and returns each one's log, as the commands of its normal entries
    /// (a `Batch` flattened into its commands).
    pub async fn stop_and_read_logs(mut self) -> BTreeMap<u64, Vec<Command>> {
        for id in self.nodes.keys().copied().collect::<Vec<_>>() {
            if self.nodes[&id].is_some() {
                self.stop(id).await;
            }
        }
        let mut logs = BTreeMap::new();
        for (id, dir) in &self.dirs {
            let (mut log_store, _state_machine) =
                kms_store::open(dir.path()).expect("reopening a stopped node's store");
            let mut reader = log_store.get_log_reader().await;
            let entries = reader
                .try_get_log_entries(0..)
                .await
                .expect("reading the log");
            let mut commands = Vec::new();
            for entry in entries {
                match entry.payload {
                    EntryPayload::Normal(Command::Batch(batch)) => commands.extend(batch),
                    EntryPayload::Normal(command) => commands.push(command),
                    _ => {}
                }
            }
            logs.insert(*id, commands);
        }
        logs
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for id in self.nodes.keys().copied().collect::<Vec<_>>() {
            if let Some(running) = self.nodes.get_mut(&id).and_then(Option::take) {
                running.stop().await;
            }
        }
    }

    fn running_mut(&mut self, id: u64) -> &mut Running {
        match self.nodes.get_mut(&id) {
            Some(Some(running)) => running,
            _ => panic!("node {id} is not running"),
        }
    }
}

/// How many times a log holds a `CreateKey` of `key_id`.
pub fn creates_of(log: &[Command], key_id: &str) -> usize {
    log.iter()
        .filter(|c| matches!(c, Command::CreateKey { record } if record.key_id == key_id))
        .count()
}
