//! `jl nemesis`: jepsen-lite's faults on a cluster that is already running under `trent up`,
//! for chaos testing by hand. The cluster is found from its `cluster.json`: the file's
//! directory is `trent up`'s data directory, whose control socket (`trent-up.sock`, request
//! `nodes`) names every node with its pid and addresses. The region's leader is read from each
//! node's `/metrics` (`trent_raft_is_leader`).
//!
//! Faults:
//! - `kill REGION/N`, `kill-leader [REGION]`: SIGKILL. `trent up` reports the exit and, under
//!   its restart policy, may restart the node.
//! - `pause REGION/N`, `pause-leader [REGION]`: SIGSTOP.
//! - `partition REGION/N` (root): the node's Raft traffic with its peers is dropped both ways,
//!   while clients still reach its API. Its process joins a `net_cls` cgroup of its own
//!   (mounted at `/sys/fs/cgroup/net_cls` if no `net_cls` hierarchy is), and the nftables table
//!   `inet jl_live` drops what that cgroup sends to its peers' Raft ports and what anyone else
//!   sends to its own.
//! - `heal`: resumes every paused node, removes every partition, and starts every stopped node
//!   through `trent up` (`start REGION/N`).
//! - `status`: each node's state, role and installed faults.
//!
//! What is installed is kept in `jl-nemesis.json` beside `cluster.json`, so a later `heal`
//! (another process) knows what to undo.

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The nftables table partitions live in.
const TABLE: &str = "jl_live";
/// Where `net_cls` is mounted when no hierarchy of it exists yet.
const NET_CLS_MOUNT: &str = "/sys/fs/cgroup/net_cls";
/// The state file's name, beside `cluster.json`.
const STATE_FILE: &str = "jl-nemesis.json";

/// One fault request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// SIGKILL a node.
    Kill(String),
    /// SIGKILL a region's leader (the only region if `None`).
    KillLeader(Option<String>),
    /// SIGSTOP a node.
    Pause(String),
    /// SIGSTOP a region's leader.
    PauseLeader(Option<String>),
    /// Cut a node's Raft traffic with its peers.
    Partition(String),
    /// Undo every installed fault and start stopped nodes.
    Heal,
    /// Show nodes and faults.
    Status,
}

impl Action {
    /// Parses `FAULT [TARGET]` as given on the command line.
    pub fn parse(fault: &str, target: Option<String>) -> anyhow::Result<Action> {
        let node = |target: Option<String>| {
            target.with_context(|| format!("`{fault}` needs a node: REGION/N, e.g. us-east-1/2"))
        };
        Ok(match fault {
            "kill" => Action::Kill(node(target)?),
            "kill-leader" => Action::KillLeader(target),
            "pause" => Action::Pause(node(target)?),
            "pause-leader" => Action::PauseLeader(target),
            "partition" => Action::Partition(node(target)?),
            "heal" => Action::Heal,
            "status" => Action::Status,
            other => bail!(
                "unknown fault {other:?}: kill, kill-leader, pause, pause-leader, partition, \
                 heal or status"
            ),
        })
    }
}

/// One node as `trent up` describes it.
#[derive(Debug, Clone, Deserialize)]
pub struct LiveNode {
    /// `REGION/N`.
    pub name: String,
    /// Its region.
    pub region: String,
    /// Its process, if running.
    pub pid: Option<u32>,
    /// Its KMS API address.
    pub api_addr: String,
    /// Its Raft address.
    pub raft_addr: String,
}

#[derive(Debug, Deserialize)]
struct Described {
    nodes: Vec<LiveNode>,
}

/// What `jl nemesis` installed and has not healed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Installed {
    /// Names of paused nodes.
    paused: Vec<String>,
    /// Partitioned nodes: name to the pid moved into the cgroup.
    partitioned: BTreeMap<String, u32>,
}

/// A running `trent up` cluster.
pub struct LiveCluster {
    data_dir: PathBuf,
    /// Its nodes, in config order.
    pub nodes: Vec<LiveNode>,
}

impl LiveCluster {
    /// Finds the cluster whose `cluster.json` is at `cluster_json` and asks its `trent up` for
    /// the nodes.
    pub fn open(cluster_json: &Path) -> anyhow::Result<LiveCluster> {
        let text = std::fs::read_to_string(cluster_json)
            .with_context(|| format!("reading {}", cluster_json.display()))?;
        kms_config::ClusterFile::parse(&text)?;
        let data_dir = cluster_json
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let answer = control(&data_dir, "nodes")?;
        let described: Described =
            serde_json::from_str(&answer).context("parsing `trent up`'s node list")?;
        Ok(LiveCluster {
            data_dir,
            nodes: described.nodes,
        })
    }

    fn node(&self, name: &str) -> anyhow::Result<&LiveNode> {
        self.nodes.iter().find(|n| n.name == name).with_context(|| {
            let names: Vec<&str> = self.nodes.iter().map(|n| n.name.as_str()).collect();
            format!(
                "no node {name} in this cluster (it has {})",
                names.join(", ")
            )
        })
    }

    fn region(&self, region: Option<&str>) -> anyhow::Result<String> {
        let mut regions: Vec<&str> = self.nodes.iter().map(|n| n.region.as_str()).collect();
        regions.dedup();
        match region {
            Some(region) if regions.contains(&region) => Ok(region.to_string()),
            Some(region) => bail!(
                "no region {region} in this cluster ({})",
                regions.join(", ")
            ),
            None if regions.len() == 1 => Ok(regions[0].to_string()),
            None => bail!(
                "this cluster has several regions ({}): name one",
                regions.join(", ")
            ),
        }
    }

    /// The running node of `region` that reports itself leader.
    pub async fn leader(&self, region: &str) -> anyhow::Result<&LiveNode> {
        for node in self
            .nodes
            .iter()
            .filter(|n| n.region == region && n.pid.is_some())
        {
            if role(node).await == Some(true) {
                return Ok(node);
            }
        }
        bail!("region {region} has no leader now")
    }

    fn state_path(&self) -> PathBuf {
        self.data_dir.join(STATE_FILE)
    }

    fn installed(&self) -> anyhow::Result<Installed> {
        match std::fs::read_to_string(self.state_path()) {
            Ok(text) => serde_json::from_str(&text).context("parsing jl-nemesis.json"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Installed::default()),
            Err(e) => Err(e).context("reading jl-nemesis.json"),
        }
    }

    fn save(&self, installed: &Installed) -> anyhow::Result<()> {
        let path = self.state_path();
        if installed.paused.is_empty() && installed.partitioned.is_empty() {
            return match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        }
        std::fs::write(&path, serde_json::to_string_pretty(installed)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    /// Carries out `action`; answers what it did, one line per node touched.
    pub async fn run(&self, action: &Action) -> anyhow::Result<String> {
        match action {
            Action::Kill(name) => self.kill(self.node(name)?),
            Action::KillLeader(region) => {
                let region = self.region(region.as_deref())?;
                self.kill(self.leader(&region).await?)
            }
            Action::Pause(name) => self.pause(self.node(name)?),
            Action::PauseLeader(region) => {
                let region = self.region(region.as_deref())?;
                self.pause(self.leader(&region).await?)
            }
            Action::Partition(name) => self.partition(self.node(name)?),
            Action::Heal => self.heal(),
            Action::Status => Ok(self.status().await?),
        }
    }

    fn pid(node: &LiveNode) -> anyhow::Result<u32> {
        node.pid
            .with_context(|| format!("node {} is not running", node.name))
    }

    fn kill(&self, node: &LiveNode) -> anyhow::Result<String> {
        signal(Self::pid(node)?, "-KILL")?;
        // A partition of it stays recorded: its rules still drop traffic to its Raft port
        // until `heal` removes them.
        let mut installed = self.installed()?;
        installed.paused.retain(|n| *n != node.name);
        self.save(&installed)?;
        Ok(format!("killed {} (pid {})", node.name, Self::pid(node)?))
    }

    fn pause(&self, node: &LiveNode) -> anyhow::Result<String> {
        let pid = Self::pid(node)?;
        signal(pid, "-STOP")?;
        let mut installed = self.installed()?;
        if !installed.paused.contains(&node.name) {
            installed.paused.push(node.name.clone());
        }
        self.save(&installed)?;
        Ok(format!("paused {} (pid {pid})", node.name))
    }

    fn partition(&self, node: &LiveNode) -> anyhow::Result<String> {
        let pid = Self::pid(node)?;
        let slot = self
            .nodes
            .iter()
            .position(|n| n.name == node.name)
            .unwrap_or_default();
        let classid = 0x0010_0000u32 + slot as u32 + 1;
        let group = net_cls_root()?.join(cgroup_name(&node.name));
        std::fs::create_dir_all(&group)
            .with_context(|| format!("creating the cgroup {}", group.display()))?;
        std::fs::write(group.join("net_cls.classid"), format!("{classid}"))
            .context("setting the cgroup's net_cls.classid")?;
        std::fs::write(group.join("cgroup.procs"), pid.to_string())
            .with_context(|| format!("moving pid {pid} into {}", group.display()))?;
        let own = port_of(&node.raft_addr)?;
        let peers: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| n.region == node.region && n.name != node.name)
            .map(|n| port_of(&n.raft_addr).map(|p| p.to_string()))
            .collect::<anyhow::Result<_>>()?;
        let mut script = format!(
            "table inet {TABLE} {{\n chain out {{\n  type filter hook output priority 0; policy accept;\n"
        );
        if !peers.is_empty() {
            script.push_str(&format!(
                "  meta cgroup {classid} tcp dport {{ {} }} drop\n",
                peers.join(", ")
            ));
        }
        script.push_str(&format!(
            "  meta cgroup != {classid} tcp dport {own} drop\n }}\n}}\n"
        ));
        nft(&script)?;
        let mut installed = self.installed()?;
        installed.partitioned.insert(node.name.clone(), pid);
        self.save(&installed)?;
        Ok(format!(
            "partitioned {} (pid {pid}) from its peers' Raft traffic; its API still answers",
            node.name
        ))
    }

    fn heal(&self) -> anyhow::Result<String> {
        let mut lines = Vec::new();
        let installed = self.installed()?;
        if !installed.partitioned.is_empty() {
            // Deleting the table removes every partition at once.
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", TABLE])
                .output();
            let root = net_cls_root()?;
            for (name, pid) in &installed.partitioned {
                // The node may have died meanwhile; its cgroup is removed either way.
                let _ = std::fs::write(root.join("cgroup.procs"), pid.to_string());
                let _ = std::fs::remove_dir(root.join(cgroup_name(name)));
                lines.push(format!("healed the partition of {name}"));
            }
        }
        for node in &self.nodes {
            // Resume every running node: a pause from elsewhere is undone too.
            if let Some(pid) = node.pid {
                signal(pid, "-CONT")?;
                if installed.paused.contains(&node.name) {
                    lines.push(format!("resumed {}", node.name));
                }
            } else {
                let answer = control(&self.data_dir, &format!("start {}", node.name))?;
                lines.push(answer);
            }
        }
        self.save(&Installed::default())?;
        if lines.is_empty() {
            lines.push("nothing to heal".into());
        }
        Ok(lines.join("\n"))
    }

    async fn status(&self) -> anyhow::Result<String> {
        let installed = self.installed()?;
        let mut lines = Vec::new();
        for node in &self.nodes {
            let mut line = match node.pid {
                Some(pid) => format!("{} running pid {pid}", node.name),
                None => format!("{} stopped", node.name),
            };
            if installed.paused.contains(&node.name) {
                line.push_str(" paused");
            } else if node.pid.is_some() {
                match role(node).await {
                    Some(true) => line.push_str(" leader"),
                    Some(false) => line.push_str(" follower"),
                    None => line.push_str(" not answering"),
                }
            }
            if installed.partitioned.contains_key(&node.name) {
                line.push_str(" partitioned");
            }
            lines.push(line);
        }
        Ok(lines.join("\n"))
    }
}

/// Sends one request line to the `trent up` on `data_dir` and returns its `ok` answer.
fn control(data_dir: &Path, request: &str) -> anyhow::Result<String> {
    let path = data_dir.join("trent-up.sock");
    let mut stream = UnixStream::connect(&path).with_context(|| {
        format!(
            "no `trent up` answers on {} (is the local cluster running?)",
            path.display()
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .context("`trent up` did not answer")?;
    let answer = answer.trim_end();
    match answer.split_once(' ') {
        Some(("ok", text)) => Ok(text.to_string()),
        Some(("error", text)) => bail!("trent up: {text}"),
        _ => bail!("unexpected answer from `trent up`: {answer:?}"),
    }
}

/// Whether `node` reports itself leader in its `/metrics`; `None` if it does not answer.
async fn role(node: &LiveNode) -> Option<bool> {
    crate::topology::check_target(&node.api_addr).ok()?;
    let text = reqwest::Client::new()
        .get(format!("http://{}/metrics", node.api_addr))
        .timeout(Duration::from_secs(1))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = text
        .lines()
        .find_map(|line| line.strip_prefix("trent_raft_is_leader "))?;
    Some(value.trim() == "1")
}

fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .context("running kill")?;
    if !status.success() {
        bail!("kill {signal} {pid} failed");
    }
    Ok(())
}

fn port_of(addr: &str) -> anyhow::Result<u16> {
    addr.rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .with_context(|| format!("no port in {addr}"))
}

fn cgroup_name(node: &str) -> String {
    format!("jl-{}", node.replace('/', "-"))
}

/// The root of a `net_cls` cgroup hierarchy, mounting one if none is.
fn net_cls_root() -> anyhow::Result<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/mounts").context("reading /proc/mounts")?;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let [_, dir, "cgroup", options, ..] = fields[..] {
            if options.split(',').any(|o| o == "net_cls") {
                return Ok(PathBuf::from(dir));
            }
        }
    }
    std::fs::create_dir_all(NET_CLS_MOUNT)
        .with_context(|| format!("creating {NET_CLS_MOUNT} (partition needs root)"))?;
    let output = Command::new("mount")
        .args(["-t", "cgroup", "-o", "net_cls", "net_cls", NET_CLS_MOUNT])
        .output()
        .context("running mount")?;
    if !output.status.success() {
        bail!(
            "mounting the net_cls cgroup at {NET_CLS_MOUNT} failed (partition needs root and \
             cgroup v1's net_cls): {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(PathBuf::from(NET_CLS_MOUNT))
}

/// Loads an nftables script (`nft -f -`), replacing the table if it exists.
fn nft(script: &str) -> anyhow::Result<()> {
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", TABLE])
        .output();
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("running nft (partition needs root and nftables)")?;
    child
        .stdin
        .take()
        .context("nft's stdin")?
        .write_all(script.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "nft refused the partition: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse_with_their_targets() {
        assert_eq!(
            Action::parse("kill", Some("us-east-1/2".into())).unwrap(),
            Action::Kill("us-east-1/2".into())
        );
        assert_eq!(
            Action::parse("kill-leader", None).unwrap(),
            Action::KillLeader(None)
        );
        assert_eq!(
            Action::parse("pause-leader", Some("us-west-2".into())).unwrap(),
            Action::PauseLeader(Some("us-west-2".into()))
        );
        assert_eq!(Action::parse("heal", None).unwrap(), Action::Heal);
        let missing = Action::parse("partition", None).unwrap_err().to_string();
        assert!(missing.contains("REGION/N"), "{missing}");
        assert!(Action::parse("explode", None).is_err());
    }

    #[test]
    fn ports_and_cgroup_names() {
        assert_eq!(port_of("127.0.0.1:8202").unwrap(), 8202);
        assert!(port_of("localhost").is_err());
        assert_eq!(cgroup_name("us-east-1/2"), "jl-us-east-1-2");
    }
}
