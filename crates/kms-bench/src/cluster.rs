//! Starting and stopping a real 3-node Trent region (`trent up`) in a temporary directory.
//!
//! The node configs go to `<tmp>/cluster/us-east-1/node{1,2,3}.toml` with free ports, `trent up`
//! runs as a child process logging to `<tmp>/trent-up.log`, and the region counts as up once
//! `<tmp>/data/cluster.json` exists (which `up` writes only after every node answers).

use std::fmt::Write as _;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The region the benchmark cluster runs.
pub const REGION: &str = "us-east-1";
/// The access key id the cluster accepts.
pub const ACCESS_KEY_ID: &str = "bench";
/// Its secret.
pub const SECRET_ACCESS_KEY: &str = "bench-secret";

const NODES: usize = 3;
const ACCOUNT_ID: &str = "111122223333";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `trent up`.
pub struct Cluster {
    /// The nodes' API addresses, node 1 first.
    pub endpoints: Vec<SocketAddr>,
    child: Child,
    dir: TempDir,
    stopped: bool,
}

/// Writes the configs, starts `trent up` and waits for `cluster.json`.
pub async fn start(trent: &Path) -> anyhow::Result<Cluster> {
    let dir = tempfile::Builder::new()
        .prefix("trent-bench-")
        .tempdir()
        .context("creating the temporary directory")?;
    let root = dir.path();
    let ports = free_addrs(2 * NODES)?;
    let (api, raft) = ports.split_at(NODES);
    write_configs(root, api, raft)?;

    let log_path = root.join("trent-up.log");
    let log = File::create(&log_path).context("creating the log file")?;
    let child = Command::new(trent)
        .arg("up")
        .arg("--cluster-dir")
        .arg(root.join("cluster"))
        .arg("--data-dir")
        .arg(root.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("starting {}", trent.display()))?;
    let mut cluster = Cluster {
        endpoints: api.to_vec(),
        child,
        dir,
        stopped: false,
    };
    if let Err(e) = cluster.wait_ready().await {
        cluster.print_logs();
        cluster.stop().await;
        return Err(e);
    }
    Ok(cluster)
}

impl Cluster {
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let marker = self.dir.path().join("data").join("cluster.json");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if marker.exists() {
                return Ok(());
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("trent up exited ({status}) before the region came up");
            }
            if Instant::now() > deadline {
                bail!(
                    "the region did not come up within {} s",
                    START_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Prints the `trent up` log and every node log to stderr.
    fn print_logs(&self) {
        let data = self.dir.path().join("data");
        let mut logs = vec![self.dir.path().join("trent-up.log")];
        logs.extend((1..=NODES).map(|n| data.join(format!("{REGION}-node{n}.log"))));
        for path in logs {
            match std::fs::read_to_string(&path) {
                Ok(text) => eprintln!("===== {} =====\n{text}", path.display()),
                Err(e) => eprintln!("===== {} ===== (unreadable: {e})", path.display()),
            }
        }
    }

    /// Sends SIGTERM to `trent up` (which stops its nodes) and waits for it to exit.
    pub async fn stop(mut self) {
        self.terminate();
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if !status.success() => eprintln!("trent up exited with {status}"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("waiting for trent up failed: {e}"),
            Err(_) => {
                eprintln!(
                    "trent up did not stop within {} s; killing it",
                    STOP_TIMEOUT.as_secs()
                );
                if let Err(e) = self.child.kill().await {
                    eprintln!("killing trent up failed: {e}");
                }
            }
        }
        self.stopped = true;
    }

    fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
    }
}

impl Drop for Cluster {
    /// Best effort on early exits: ask `trent up` to stop its nodes.
    fn drop(&mut self) {
        if !self.stopped {
            self.terminate();
        }
    }
}

/// `n` distinct free loopback addresses (all bound at once, then released).
fn free_addrs(n: usize) -> anyhow::Result<Vec<SocketAddr>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("finding free ports")?;
    listeners
        .iter()
        .map(|l| l.local_addr().context("finding free ports"))
        .collect()
}

/// Writes `<root>/cluster/<REGION>/node{1..}.toml`.
fn write_configs(root: &Path, api: &[SocketAddr], raft: &[SocketAddr]) -> anyhow::Result<()> {
    let region_dir = root.join("cluster").join(REGION);
    std::fs::create_dir_all(&region_dir)?;
    let data = root.join("data").join(REGION);
    let mut members = String::new();
    for (i, addr) in raft.iter().enumerate() {
        writeln!(members, "{} = \"{addr}\"", i + 1)?;
    }
    for (i, (api_addr, raft_addr)) in api.iter().zip(raft).enumerate() {
        let id = i + 1;
        let config = format!(
            "node_id = {id}\n\
             region = \"{REGION}\"\n\
             api_addr = \"{api_addr}\"\n\
             raft_addr = \"{raft_addr}\"\n\
             data_dir = {}\n\
             root_key_path = {}\n\
             account_id = \"{ACCOUNT_ID}\"\n\
             bootstrap = {}\n\
             \n\
             [members]\n\
             {members}\n\
             [[credentials]]\n\
             access_key_id = \"{ACCESS_KEY_ID}\"\n\
             secret_access_key = \"{SECRET_ACCESS_KEY}\"\n",
            toml_path(&data.join(format!("node{id}")))?,
            toml_path(&data.join("root.key"))?,
            id == 1,
        );
        let path: PathBuf = region_dir.join(format!("node{id}.toml"));
        std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// `path` as a TOML basic string.
fn toml_path(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))?;
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}
