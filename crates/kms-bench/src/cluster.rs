//! Starting and stopping real Trent clusters (`trent up`) in a temporary directory.
//!
//! [`start`] runs one 3-node region: kms-config's topology writer puts its node configs (free
//! loopback ports) under `<tmp>/cluster/us-east-1/` and `trent up --cluster-dir` runs them.
//! [`start_two_regions`] runs us-east-1 and us-west-2 (3 nodes each, linked over mutual
//! TLS) from the topology `trent up` generates itself when given no `--cluster-dir`
//! (`TRENT_REGIONS`, `TRENT_NODES_PER_REGION` and `TRENT_CREDENTIALS` set in its environment);
//! that topology uses fixed loopback ports (region i, node n: 8100+10i+n API, 8200+10i+n Raft,
//! 8300+10i+n link), so it refuses to start when any of them is taken. Either way `trent up`
//! runs as a child process logging to `<tmp>/trent-up.log`, the cluster counts as up once
//! `<tmp>/data/cluster.json` exists (which `up` writes only after every node answers), and the
//! API endpoints are read from that file.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use kms_config::{ClusterFile, Credential, NodeAddrs, RegionPlan, Topology};
use tempfile::TempDir;
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// The region the benchmark cluster runs (the primary region of the two-region cluster).
pub const REGION: &str = "us-east-1";
/// The second region of the two-region cluster (where multi-region keys are replicated).
pub const REPLICA_REGION: &str = "us-west-2";
/// The access key id the cluster accepts.
pub const ACCESS_KEY_ID: &str = "bench";
/// Its secret.
pub const SECRET_ACCESS_KEY: &str = "bench-secret";

const NODES: usize = 3;
pub(crate) const ACCOUNT_ID: &str = "111122223333";
const START_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The regions of the two-region cluster, in `TRENT_REGIONS` order (region index i picks the
/// ports 8x00+10i+n, `kms_config::NodeAddrs::fixed`).
const TWO_REGIONS: [&str; 2] = [REGION, REPLICA_REGION];

/// A running `trent up`.
pub struct Cluster {
    /// The API addresses of [`REGION`]'s nodes, node 1 first.
    pub endpoints: Vec<SocketAddr>,
    /// Every region's API addresses, node 1 first ([`REGION`] included).
    pub regions: BTreeMap<String, Vec<SocketAddr>>,
    child: Child,
    dir: TempDir,
    /// Whether `trent up` generated the topology (two regions) rather than reading ours.
    generated: bool,
    stopped: bool,
}

/// Writes the configs, starts `trent up` and waits for `cluster.json`.
pub async fn start(trent: &Path) -> anyhow::Result<Cluster> {
    let dir = tempfile::Builder::new()
        .prefix("trent-bench-")
        .tempdir()
        .context("creating the temporary directory")?;
    let root = dir.path();
    let region = RegionPlan::new(REGION, kms_config::free_loopback_addrs(NODES)?);
    let credential = Credential {
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SECRET_ACCESS_KEY.into(),
        account_id: None,
    };
    let mut topology = Topology::new(&root.join("cluster"), vec![region], credential);
    topology.account_id = ACCOUNT_ID.into();
    topology.write()?;

    let mut up = Command::new(trent);
    up.arg("up").arg("--cluster-dir").arg(root.join("cluster"));
    run_up(up, dir, false).await
}

/// Starts us-east-1 and us-west-2 (3 nodes each) from the topology `trent up` generates, and
/// waits for `cluster.json`, whose endpoints it then uses. Fails first if a fixed port is taken.
pub async fn start_two_regions(trent: &Path) -> anyhow::Result<Cluster> {
    let taken = taken_ports(&fixed_ports(TWO_REGIONS.len(), NODES));
    if !taken.is_empty() {
        let list: Vec<String> = taken.iter().map(u16::to_string).collect();
        bail!(
            "the two-region cluster needs the fixed loopback ports {}, but {} {} already in use \
             (is `make run` or another Trent running?)",
            port_ranges(TWO_REGIONS.len(), NODES),
            list.join(", "),
            if taken.len() == 1 { "is" } else { "are" }
        );
    }
    let dir = tempfile::Builder::new()
        .prefix("trent-bench-")
        .tempdir()
        .context("creating the temporary directory")?;
    let mut up = Command::new(trent);
    up.arg("up")
        .env("TRENT_REGIONS", TWO_REGIONS.join(","))
        .env("TRENT_NODES_PER_REGION", NODES.to_string())
        .env(
            "TRENT_CREDENTIALS",
            format!("{ACCESS_KEY_ID}:{SECRET_ACCESS_KEY}"),
        )
        .env_remove("TRENT_ACCOUNT_ID");
    run_up(up, dir, true).await
}

/// Runs `up` (a `trent up` command) with `--data-dir <dir>/data`, logging to
/// `<dir>/trent-up.log`, and waits for `cluster.json`; `generated` says whether `trent up`
/// generates the (two-region) topology itself.
async fn run_up(mut up: Command, dir: TempDir, generated: bool) -> anyhow::Result<Cluster> {
    let root = dir.path();
    let log = File::create(root.join("trent-up.log")).context("creating the log file")?;
    let child = up
        .arg("--data-dir")
        .arg(root.join("data"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .context("starting trent up")?;
    let mut cluster = Cluster {
        endpoints: Vec::new(),
        regions: BTreeMap::new(),
        child,
        dir,
        generated,
        stopped: false,
    };
    if let Err(e) = cluster.wait_ready().await {
        cluster.print_logs();
        cluster.stop().await;
        return Err(e);
    }
    Ok(cluster)
}

/// Every port of the generated topology for `regions` regions of `nodes` nodes.
fn fixed_ports(regions: usize, nodes: usize) -> Vec<u16> {
    let addrs: Vec<NodeAddrs> = (0..regions)
        .flat_map(|region| (1..=nodes as u64).map(move |node| NodeAddrs::fixed(region, node)))
        .collect();
    let mut ports: Vec<u16> = addrs
        .iter()
        .flat_map(|a| [&a.api, &a.raft, &a.link])
        .filter_map(|addr| addr.rsplit(':').next()?.parse().ok())
        .collect();
    ports.sort_unstable();
    ports
}

/// [`fixed_ports`] as ranges of consecutive ports, e.g. `8101-8103, 8111-8113, 8201-8203, ...`.
fn port_ranges(regions: usize, nodes: usize) -> String {
    let mut ranges: Vec<(u16, u16)> = Vec::new();
    for port in fixed_ports(regions, nodes) {
        match ranges.last_mut() {
            Some((_, last)) if *last + 1 == port => *last = port,
            _ => ranges.push((port, port)),
        }
    }
    let text: Vec<String> = ranges.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    text.join(", ")
}

/// The ones of `ports` that cannot be bound on 127.0.0.1 right now.
fn taken_ports(ports: &[u16]) -> Vec<u16> {
    ports
        .iter()
        .copied()
        .filter(|port| TcpListener::bind(("127.0.0.1", *port)).is_err())
        .collect()
}

impl Cluster {
    /// Waits for `cluster.json` and reads the endpoints from it (retrying while it does not
    /// parse, in case it is caught half-written).
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let marker = self.dir.path().join("data").join("cluster.json");
        let deadline = Instant::now() + START_TIMEOUT;
        let expected: &[&str] = if self.generated {
            &TWO_REGIONS
        } else {
            &[REGION]
        };
        let mut parse_error = None;
        loop {
            if marker.exists() {
                let text = std::fs::read_to_string(&marker).unwrap_or_default();
                match ClusterFile::parse(&text).and_then(|file| file.endpoints(expected)) {
                    Ok(regions) => {
                        self.endpoints = regions[REGION].clone();
                        self.regions = regions;
                        return Ok(());
                    }
                    Err(e) => parse_error = Some(e),
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("trent up exited ({status}) before the cluster came up");
            }
            if Instant::now() > deadline {
                if let Some(e) = parse_error {
                    return Err(e);
                }
                bail!(
                    "the cluster did not come up within {} s",
                    START_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Prints the `trent up` log and every node log to stderr.
    fn print_logs(&self) {
        let data = self.dir.path().join("data");
        let regions: &[&str] = if self.generated {
            &TWO_REGIONS
        } else {
            &[REGION]
        };
        let mut logs = vec![self.dir.path().join("trent-up.log")];
        for region in regions {
            logs.extend((1..=NODES).map(|n| data.join(format!("{region}-node{n}.log"))));
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ports_follow_the_generated_topology() {
        let ports = fixed_ports(2, 3);
        assert_eq!(ports.len(), 18);
        for port in [8101, 8103, 8111, 8113, 8201, 8213, 8301, 8313] {
            assert!(ports.contains(&port), "{port}");
        }
        assert!(!ports.contains(&8104) && !ports.contains(&8100));
        assert_eq!(
            port_ranges(2, 3),
            "8101-8103, 8111-8113, 8201-8203, 8211-8213, 8301-8303, 8311-8313"
        );
    }
}
