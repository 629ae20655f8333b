//! Fixtures for Trent's integration tests: real `trent` node processes on loopback, each with
//! its own RocksDB directory, driven by the official `aws-sdk-kms` client.
//!
//! A [`Cluster`] describes its region as a `kms_config::Topology` and writes it into a temp dir
//! with that crate's writer (node configs, root key, and as asked the local PKI, identities
//! file and STS key), starts the nodes, and can SIGKILL, SIGTERM and restart any of them.
#![allow(clippy::unwrap_used)]

pub mod local_up;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
pub use kms_config::NodeAddrs;
use kms_config::{RegionPlan, Topology};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The region every test cluster serves.
pub const REGION: &str = "us-east-1";
/// The account every test cluster uses.
pub const ACCOUNT: &str = "111122223333";
/// The access key tests sign with.
pub const ACCESS_KEY: &str = "AKIATRENTTEST0000001";
/// Its secret.
pub const SECRET_KEY: &str = "trent-test-secret";

/// The `trent` binary built beside the test binary (`target/debug/trent`): what `make run`
/// starts and users run, without test hooks.
pub fn trent_binary() -> PathBuf {
    built_binary("trent")
}

/// The `trent-test` binary: `trent` with the test hooks (clock offset, link fault switch,
/// planted bugs) compiled in. Only clusters started with [`ClusterOptions::test_hooks`] use it.
pub fn trent_test_binary() -> PathBuf {
    built_binary("trent-test")
}

/// jepsen-lite's `jl` binary, built beside `trent` by `make build`.
pub fn jl_binary() -> PathBuf {
    built_binary("jl")
}

fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug_dir = exe.parent().and_then(Path::parent).unwrap();
    let binary = debug_dir.join(name);
    assert!(
        binary.exists(),
        "{} is missing: run `make build` first",
        binary.display()
    );
    binary
}

/// One node process of a test cluster.
pub struct Node {
    /// Raft node id (1-based).
    pub id: u64,
    /// Public KMS API address.
    pub api_addr: String,
    /// Internal Raft address.
    pub raft_addr: String,
    /// Inter-region (mutual TLS) address, in a linked region.
    pub link_addr: Option<String>,
    data_dir: PathBuf,
    config_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

/// A region of real node processes.
pub struct Cluster {
    /// The temp dir holding every region's configs, data and logs (shared by linked regions).
    _root: Arc<tempfile::TempDir>,
    /// The topology the configs were written from (every region of it).
    topology: Topology,
    /// The nodes, index = id - 1.
    pub nodes: Vec<Node>,
    /// The region it serves.
    pub region: String,
    /// Whether the nodes run `trent-test` with its hooks wired to files in the region's dir.
    test_hooks: bool,
    /// Extra environment of every node process.
    env: Vec<(String, String)>,
}

/// Free loopback addresses for `n` nodes, distinct from each other and from every address
/// handed out before in this test process.
pub fn plan_addrs(n: usize) -> Vec<NodeAddrs> {
    kms_config::free_loopback_addrs(n).unwrap()
}

/// Two or more linked regions of real node processes, each its own Raft cluster.
pub struct Regions {
    /// The regions, in the order given.
    pub regions: Vec<Cluster>,
}

impl Regions {
    /// Starts linked regions of `nodes` nodes each and waits until every node serves.
    pub async fn start(names: &[&str], nodes: usize) -> Regions {
        Regions::start_with(names, nodes, ClusterOptions::default()).await
    }

    /// [`Regions::start`] with the test build's hooks ([`ClusterOptions::test_hooks`]), for
    /// tests that cut the link or move clocks.
    pub async fn start_with_test_hooks(names: &[&str], nodes: usize) -> Regions {
        let options = ClusterOptions {
            test_hooks: true,
            ..ClusterOptions::default()
        };
        Regions::start_with(names, nodes, options).await
    }

    /// Starts linked regions with `options` (`nodes` overrides its node count).
    pub async fn start_with(names: &[&str], nodes: usize, options: ClusterOptions) -> Regions {
        let options = ClusterOptions {
            nodes: nodes as u64,
            ..options
        };
        // One plan for every region, so no two nodes of any region share a port.
        let addrs = names.iter().map(|_| plan_addrs(nodes)).collect();
        let mut regions = Cluster::prepare_regions(&options, names, addrs);
        for region in &mut regions {
            region.spawn_all();
        }
        for region in &regions {
            region.wait_ready().await;
        }
        Regions { regions }
    }

    /// Region `i`.
    pub fn region(&self, i: usize) -> &Cluster {
        &self.regions[i]
    }
}

/// Options for a test cluster.
#[derive(Clone)]
pub struct ClusterOptions {
    /// Number of nodes.
    pub nodes: u64,
    /// Snapshot after this many entries (small values exercise snapshots and compaction).
    pub snapshot_after_entries: u64,
    /// Content of an identities file (IAM users, keys, policies), if any; the file is
    /// `<dir>/identities.toml` (see [`Cluster::identities_path`]).
    pub identities: Option<String>,
    /// Serve the KMS API over TLS with a certificate from `trent pki` (CA at
    /// `<dir>/pki/ca.pem`, see [`Cluster::ca_path`]); the fixture's SDK clients speak plain
    /// HTTP, so such a cluster is started with [`Cluster::prepare`] and probed by the caller.
    pub api_tls: bool,
    /// Mutual TLS between the nodes on the Raft port (the default: each node's certificate
    /// from the same local CA); [`Cluster::status`] then presents the operator certificate.
    /// `false` runs plain HTTP (`insecure_plaintext_raft`).
    pub raft_tls: bool,
    /// Run the nodes as `trent-test` (the test build) with its clock-offset and link-fault
    /// hooks wired up, for [`Cluster::set_clock_offset`] and [`Cluster::cut_link`]. Without
    /// it the nodes run `trent`, the binary users run.
    pub test_hooks: bool,
    /// Extra environment variables for every node process.
    pub env: Vec<(String, String)>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            nodes: 3,
            snapshot_after_entries: 5000,
            identities: None,
            api_tls: false,
            raft_tls: true,
            test_hooks: false,
            env: Vec::new(),
        }
    }
}

impl Cluster {
    /// Starts a 3-node region and waits until it serves.
    pub async fn start() -> Cluster {
        Cluster::start_with(ClusterOptions::default()).await
    }

    /// Starts a 3-node region of `trent-test` nodes whose clocks the test can move.
    pub async fn start_with_test_hooks() -> Cluster {
        Cluster::start_with(ClusterOptions {
            test_hooks: true,
            ..ClusterOptions::default()
        })
        .await
    }

    /// Starts a region with `options` and waits until every node serves.
    pub async fn start_with(options: ClusterOptions) -> Cluster {
        let addrs = plan_addrs(options.nodes as usize);
        let mut cluster = Cluster::prepare(&options, &addrs);
        for index in 0..cluster.nodes.len() {
            cluster.spawn(index);
        }
        cluster.wait_ready().await;
        cluster
    }

    /// Writes the configs and root key of region [`REGION`] (one node per entry of `addrs`)
    /// without starting it.
    pub fn prepare(options: &ClusterOptions, addrs: &[NodeAddrs]) -> Cluster {
        let mut regions = Cluster::prepare_regions(options, &[REGION], vec![addrs.to_vec()]);
        regions.remove(0)
    }

    /// Writes the configs, root keys and (with several regions, or TLS) the local PKI of the
    /// regions `names` (linked when there are several) without starting them; `addrs[i]` are
    /// region `i`'s nodes.
    pub fn prepare_regions(
        options: &ClusterOptions,
        names: &[&str],
        addrs: Vec<Vec<NodeAddrs>>,
    ) -> Vec<Cluster> {
        let root = Arc::new(tempfile::tempdir().unwrap());
        let plans = names
            .iter()
            .zip(addrs)
            .map(|(name, addrs)| RegionPlan::new(name, addrs))
            .collect();
        let credential = kms_config::Credential {
            access_key_id: ACCESS_KEY.into(),
            secret_access_key: SECRET_KEY.into(),
            account_id: None,
        };
        let mut topology = Topology::new(root.path(), plans, credential);
        topology.account_id = ACCOUNT.into();
        topology.raft = kms_config::RaftTuning {
            heartbeat_ms: 50,
            election_timeout_ms: 300,
            snapshot_after_entries: options.snapshot_after_entries,
        };
        topology.api_tls = options.api_tls;
        topology.raft_tls = options.raft_tls;
        topology.identities = options.identities.clone();
        let written = topology.write().unwrap();
        let mut clusters: Vec<Cluster> = names
            .iter()
            .map(|name| Cluster {
                _root: Arc::clone(&root),
                topology: topology.clone(),
                nodes: Vec::new(),
                region: (*name).to_string(),
                test_hooks: options.test_hooks,
                env: options.env.clone(),
            })
            .collect();
        for node in written {
            let cluster = &mut clusters[node.region_index];
            let log_path = topology
                .region_dir(&cluster.region)
                .join(format!("{}.log", node.name));
            cluster.nodes.push(Node {
                id: node.config.node_id,
                api_addr: node.config.api_addr.clone(),
                raft_addr: node.config.raft_addr.clone(),
                link_addr: node.config.link.as_ref().map(|l| l.addr.clone()),
                data_dir: node.config.data_dir.clone(),
                config_path: node.path,
                log_path,
                child: None,
            });
        }
        clusters
    }

    /// The directory of this region's configs, data dirs and logs.
    pub fn dir(&self) -> PathBuf {
        self.topology.region_dir(&self.region)
    }

    /// The directory of the local CA and the regions' certificates.
    pub fn pki_dir(&self) -> PathBuf {
        self.topology.pki_dir()
    }

    /// Node `index`'s data dir (RocksDB, audit log).
    pub fn data_dir(&self, index: usize) -> &Path {
        &self.nodes[index].data_dir
    }

    /// Node `index`'s Raft address (host:port).
    pub fn raft_addr(&self, index: usize) -> &str {
        &self.nodes[index].raft_addr
    }

    /// Node `index`'s config file.
    pub fn config_path(&self, index: usize) -> &Path {
        &self.nodes[index].config_path
    }

    /// The CA certificate of a cluster prepared with [`ClusterOptions::api_tls`].
    pub fn ca_path(&self) -> PathBuf {
        self.topology.ca_cert()
    }

    /// The identities file of a cluster started with [`ClusterOptions::identities`].
    pub fn identities_path(&self) -> PathBuf {
        self.topology.identities_path()
    }

    /// Starts every node that is not running, without waiting.
    pub fn spawn_all(&mut self) {
        for index in 0..self.nodes.len() {
            if self.nodes[index].child.is_none() {
                self.spawn(index);
            }
        }
    }

    /// Cuts (`true`) or heals this region's link to every other region: its nodes neither send
    /// to nor accept from other regions while cut (the server's test fault switch).
    pub fn cut_link(&self, cut: bool) {
        self.require_test_hooks("cut_link");
        for node in &self.nodes {
            let path = self.dir().join(format!("link-fault-{}", node.id));
            std::fs::write(path, if cut { "cut" } else { "" }).unwrap();
        }
    }

    /// A client signing for `region` and talking to node `index` of this cluster.
    pub fn client_in(&self, index: usize, region: &str) -> aws_sdk_kms::Client {
        client_in_region(&self.nodes[index].api_addr, region)
    }

    fn spawn(&mut self, index: usize) {
        let dir = self.dir();
        let node = &mut self.nodes[index];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .unwrap();
        let mut command = if self.test_hooks {
            let mut command = Command::new(trent_test_binary());
            command
                .env(
                    "TRENT_TEST_CLOCK_OFFSET_FILE",
                    dir.join(format!("clock-offset-{}", node.id)),
                )
                .env(
                    "TRENT_TEST_LINK_FAULT_FILE",
                    dir.join(format!("link-fault-{}", node.id)),
                );
            command
        } else {
            Command::new(trent_binary())
        };
        let child = command
            .arg("serve")
            .arg("--config")
            .arg(&node.config_path)
            .env("RUST_LOG", "info,openraft=warn")
            .env_remove("TRENT_CREDENTIALS")
            .env_remove("TRENT_ACCOUNT_ID")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        node.child = Some(child);
    }

    /// Starts a fresh node for this region as an operator would before `trent cluster
    /// add-node`: a certificate from the region's CA (`trent pki`, which issues only what is
    /// missing), node 1's config with the new id, addresses and data dir and `bootstrap = false`,
    /// and the process. It is not a member until added. Returns its index.
    pub fn start_fresh_node(&mut self) -> usize {
        let id = self.nodes.len() as u64 + 1;
        let pki = run_trent(&[
            "pki",
            "--dir",
            self.pki_dir().to_str().unwrap(),
            "--regions",
            &self.region,
            "--nodes",
            &id.to_string(),
        ]);
        assert!(pki.status.success(), "trent pki: {pki:?}");
        let addrs = plan_addrs(1).remove(0);
        let first = &self.nodes[0];
        let mut config = kms_config::NodeConfig::load(&first.config_path).unwrap();
        let dir = first.config_path.parent().unwrap().to_path_buf();
        config.node_id = id;
        config.api_addr = addrs.api.clone();
        config.raft_addr = addrs.raft.clone();
        config.bootstrap = false;
        config.data_dir = dir.join(format!("node{id}-data"));
        config.audit_log = None;
        if let Some(tls) = &mut config.raft_tls {
            let layout = self.pki_dir();
            tls.cert = layout.join(&self.region).join(format!("node{id}.pem"));
            tls.key = layout.join(&self.region).join(format!("node{id}.key"));
        }
        let config_path = dir.join(format!("node{id}.toml"));
        std::fs::write(&config_path, config.to_toml(&[]).unwrap()).unwrap();
        self.nodes.push(Node {
            id,
            api_addr: addrs.api,
            raft_addr: addrs.raft,
            link_addr: None,
            data_dir: config.data_dir.clone(),
            config_path,
            log_path: dir.join(format!("node{id}.log")),
            child: None,
        });
        let index = self.nodes.len() - 1;
        self.spawn(index);
        index
    }

    /// A client talking to node `index` (0-based).
    pub fn client(&self, index: usize) -> aws_sdk_kms::Client {
        client_in_region(&self.nodes[index].api_addr, &self.region)
    }

    /// The process id of node `index`, while it runs.
    pub fn pid(&self, index: usize) -> Option<u32> {
        self.nodes[index].child.as_ref().map(Child::id)
    }

    /// SIGKILLs node `index` and waits for it to die.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM to node `index` and waits for a clean exit; returns its exit status.
    pub fn terminate(&mut self, index: usize) -> std::process::ExitStatus {
        let mut child = self.nodes[index].child.take().expect("node is running");
        let pid = child.id().to_string();
        Command::new("kill")
            .arg("-TERM")
            .arg(&pid)
            .status()
            .unwrap();
        child.wait().unwrap()
    }

    /// Restarts a stopped node `index` (same config and data) and waits until it serves.
    pub async fn restart(&mut self, index: usize) {
        self.restart_all(&[index]).await;
    }

    /// Restarts the stopped nodes `indices` together, then waits until each serves (a region
    /// that lost its quorum serves only once enough of them are back).
    pub async fn restart_all(&mut self, indices: &[usize]) {
        for &index in indices {
            assert!(
                self.nodes[index].child.is_none(),
                "node {index} is still running"
            );
            self.spawn(index);
        }
        for &index in indices {
            self.wait_serving(index).await;
        }
    }

    /// Moves node `index`'s clock by `offset_ms` from real time (the `testing` clock hook).
    pub fn set_clock_offset(&self, index: usize, offset_ms: i64) {
        self.require_test_hooks("set_clock_offset");
        let path = self
            .dir()
            .join(format!("clock-offset-{}", self.nodes[index].id));
        std::fs::write(path, offset_ms.to_string()).unwrap();
    }

    fn require_test_hooks(&self, what: &str) {
        assert!(
            self.test_hooks,
            "{what} needs a cluster started with ClusterOptions::test_hooks (the trent-test binary)"
        );
    }

    /// Waits up to `timeout` for node `index` to exit by itself; its exit status, or `None` if
    /// it is still running (it is left running then).
    pub async fn wait_exit(
        &mut self,
        index: usize,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.nodes[index].child.as_mut()?;
            if let Some(status) = child.try_wait().unwrap() {
                self.nodes[index].child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Deletes a stopped node's data directory, as if its disk were replaced.
    pub fn wipe(&mut self, index: usize) {
        assert!(
            self.nodes[index].child.is_none(),
            "node {index} is still running"
        );
        std::fs::remove_dir_all(self.data_dir(index)).unwrap();
    }

    /// Waits until every running node answers a signed ListKeys.
    pub async fn wait_ready(&self) {
        for index in 0..self.nodes.len() {
            if self.nodes[index].child.is_some() {
                self.wait_serving(index).await;
            }
        }
    }

    async fn wait_serving(&self, index: usize) {
        let client = &self.client(index);
        let served = poll(Duration::from_secs(60), move || async move {
            client.list_keys().send().await.ok().map(|_| ())
        })
        .await;
        if served.is_none() {
            let mut report = String::new();
            for other in 0..self.nodes.len() {
                let status = self.status(other).await;
                report.push_str(&format!(
                    "\n--- node {other} status {status:?}\n{}",
                    self.log(other)
                ));
            }
            panic!("node {index} never served{report}");
        }
    }

    /// Sets (or replaces) an environment variable of every node started from now on.
    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
    }

    /// A client for this region's Raft ports: with mutual TLS it presents the operator
    /// certificate (which may read `/raft/status` only).
    pub fn raft_client(&self) -> (reqwest::Client, &'static str) {
        if !self.topology.raft_tls {
            return (reqwest::Client::new(), "http");
        }
        let operator = self.topology.operator_identity().unwrap();
        (
            kms_config::client_for_region(&operator, &self.region).unwrap(),
            "https",
        )
    }

    /// Node `index`'s Raft status (`/raft/status`).
    pub async fn status(&self, index: usize) -> Option<serde_json::Value> {
        let (client, scheme) = self.raft_client();
        let url = format!("{scheme}://{}/raft/status", self.nodes[index].raft_addr);
        let response = client
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()?;
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// The index of the current leader, waiting for one to be elected among running nodes.
    pub async fn leader(&self) -> usize {
        let leader = poll(Duration::from_secs(30), || async {
            for index in 0..self.nodes.len() {
                if self.nodes[index].child.is_none() {
                    continue;
                }
                let status = self.status(index).await?;
                if status["current_leader"].as_u64() == Some(self.nodes[index].id) {
                    return Some(index);
                }
            }
            None
        })
        .await;
        leader.expect("no leader elected")
    }

    /// The node's log so far (for assertion messages and panic checks).
    pub fn log(&self, index: usize) -> String {
        std::fs::read_to_string(&self.nodes[index].log_path).unwrap_or_default()
    }

    /// Every byte under node `index`'s data dir, concatenated (to search for plaintext).
    pub fn data_bytes(&self, index: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut stack = vec![self.data_dir(index).to_path_buf()];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).unwrap() {
                    stack.push(entry.unwrap().path());
                }
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.extend(bytes);
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for index in 0..self.nodes.len() {
            self.kill(index);
        }
    }
}

/// Calls `probe` every 100 ms until it returns `Some`, for at most `timeout`.
pub async fn poll<T, F, Fut>(timeout: Duration, mut probe: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `condition` until it holds; fails the test with `what` after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let held = poll(timeout, || {
        let check = condition();
        async move { check.await.then_some(()) }
    })
    .await;
    assert!(held.is_some(), "timed out waiting until {what}");
}

/// Creates a key with CreateKey's defaults (SYMMETRIC_DEFAULT) and returns its id.
pub async fn new_key(kms: &aws_sdk_kms::Client) -> String {
    let created = kms.create_key().send().await.unwrap();
    created.key_metadata.unwrap().key_id
}

/// Creates a multi-region primary key with the defaults and returns its id (`mrk-...`).
pub async fn new_mrk(kms: &aws_sdk_kms::Client) -> String {
    let created = kms.create_key().multi_region(true).send().await.unwrap();
    created.key_metadata.unwrap().key_id
}

/// Runs `trent` (the binary users run) with `args`, waits, and prints what it said (for the
/// test's log).
pub fn run_trent(args: &[&str]) -> std::process::Output {
    let output = Command::new(trent_binary()).args(args).output().unwrap();
    eprintln!(
        "trent {}: {}\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Creates a key of `spec` and `usage` and returns its id.
pub async fn new_key_with(
    kms: &aws_sdk_kms::Client,
    spec: aws_sdk_kms::types::KeySpec,
    usage: aws_sdk_kms::types::KeyUsageType,
) -> String {
    let created = kms
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .unwrap();
    created.key_metadata.unwrap().key_id
}

/// A signing key and a MAC key, each with a signature or MAC made when the witness was made,
/// to show later (after a root-key rotation, a restore, a restart) that both kept their
/// material.
pub struct MaterialWitness {
    signing_key: String,
    signature: aws_sdk_kms::primitives::Blob,
    mac_key: String,
    mac: aws_sdk_kms::primitives::Blob,
}

impl MaterialWitness {
    const MESSAGE: &'static str = "witnessed";

    /// Creates an ECC_NIST_P256 signing key and an HMAC_256 key, signs and MACs a message.
    pub async fn make(kms: &aws_sdk_kms::Client) -> MaterialWitness {
        use aws_sdk_kms::primitives::Blob;
        use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec, SigningAlgorithmSpec};
        let signing_key = new_key_with(kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
        let signed = kms
            .sign()
            .key_id(&signing_key)
            .message(Blob::new(Self::MESSAGE))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .unwrap();
        let mac_key = new_key_with(kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
        let mac = kms
            .generate_mac()
            .key_id(&mac_key)
            .message(Blob::new(Self::MESSAGE))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await
            .unwrap();
        MaterialWitness {
            signing_key,
            signature: signed.signature.unwrap(),
            mac_key,
            mac: mac.mac.unwrap(),
        }
    }

    /// Panics unless the signature still verifies and the MAC comes out the same.
    pub async fn check(&self, kms: &aws_sdk_kms::Client) {
        use aws_sdk_kms::primitives::Blob;
        use aws_sdk_kms::types::{MacAlgorithmSpec, SigningAlgorithmSpec};
        let verified = kms
            .verify()
            .key_id(&self.signing_key)
            .message(Blob::new(Self::MESSAGE))
            .signature(self.signature.clone())
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await
            .unwrap();
        assert!(verified.signature_valid, "the signature no longer verifies");
        let again = kms
            .generate_mac()
            .key_id(&self.mac_key)
            .message(Blob::new(Self::MESSAGE))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await
            .unwrap();
        assert_eq!(
            again.mac.unwrap(),
            self.mac,
            "the MAC key's material changed"
        );
    }
}

/// Encrypts `plaintext` under `key_id` (no context) and returns the ciphertext blob.
pub async fn encrypt(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    plaintext: &str,
) -> aws_sdk_kms::primitives::Blob {
    let sealed = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(aws_sdk_kms::primitives::Blob::new(plaintext.as_bytes()))
        .send()
        .await
        .unwrap();
    sealed.ciphertext_blob.unwrap()
}

/// An `aws-sdk-kms` client for `addr` with the given credentials, in [`REGION`].
pub fn client_for(addr: &str, access_key: &str, secret_key: &str) -> aws_sdk_kms::Client {
    client_with(addr, REGION, access_key, secret_key)
}

/// A client with the test credentials, signing for `region`, talking to `addr`.
pub fn client_in_region(addr: &str, region: &str) -> aws_sdk_kms::Client {
    client_with(addr, region, ACCESS_KEY, SECRET_KEY)
}

/// A client signing for `region` with the given credentials, talking to `addr`.
pub fn client_with_credentials_in(
    addr: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_kms::Client {
    client_with(addr, region, access_key, secret_key)
}

fn client_with(
    addr: &str,
    region: &str,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new(
            access_key,
            secret_key,
            None,
            None,
            "trent-tests",
        ))
        .endpoint_url(format!("http://{addr}"))
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// Sends a raw signed (or unsigned) request to `addr` and returns (status, JSON body).
pub async fn raw_request(
    addr: &str,
    target: Option<&str>,
    content_type: &str,
    body: &[u8],
    sign_with: Option<(&str, &str)>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}/"))
        .header("content-type", content_type);
    if let Some(target) = target {
        request = request.header("x-amz-target", target);
    }
    if let Some(credentials) = sign_with {
        let mut headers = vec![("host", addr), ("content-type", content_type)];
        if let Some(target) = target {
            headers.push(("x-amz-target", target));
        }
        let input = kms_api::sigv4::SigningInput {
            method: "POST",
            uri: "/",
            headers: &headers,
            body,
        };
        let signed = kms_api::sigv4::sign(
            &input,
            credentials,
            REGION,
            "kms",
            time::OffsetDateTime::now_utc(),
        );
        request = request
            .header("x-amz-date", signed.x_amz_date)
            .header("authorization", signed.authorization);
    }
    let response = request.body(body.to_vec()).send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// A custom key store's ConnectionState and ConnectionErrorCode, from DescribeCustomKeyStores.
pub async fn key_store_state(
    kms: &aws_sdk_kms::Client,
    id: &str,
) -> (
    aws_sdk_kms::types::ConnectionStateType,
    Option<aws_sdk_kms::types::ConnectionErrorCodeType>,
) {
    let out = kms
        .describe_custom_key_stores()
        .custom_key_store_id(id)
        .send()
        .await
        .unwrap();
    let store = &out.custom_key_stores()[0];
    (
        store.connection_state().unwrap().clone(),
        store.connection_error_code().cloned(),
    )
}

/// Waits (30 s at most) until custom key store `id` is in state `want`; its error code then.
pub async fn wait_key_store_state(
    kms: &aws_sdk_kms::Client,
    id: &str,
    want: aws_sdk_kms::types::ConnectionStateType,
) -> Option<aws_sdk_kms::types::ConnectionErrorCodeType> {
    let seen = poll(Duration::from_secs(30), || async {
        let (state, code) = key_store_state(kms, id).await;
        (state == want).then_some(code)
    })
    .await;
    match seen {
        Some(code) => code,
        None => panic!(
            "store {id} never became {want:?}: {:?}",
            key_store_state(kms, id).await
        ),
    }
}
