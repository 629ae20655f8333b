//! The node supervisor of `trent up`: starts each node process (its output in a rotated log,
//! `log_rotation`), reports a node that exits and
//! keeps the others running (a region carries on with a quorum, as it would in production),
//! restarts exited nodes when the restart policy says so, and takes `start`, `stop`,
//! `restart` and `status` requests for single nodes from `trent node` over a Unix socket in the
//! data directory (`<data_dir>/trent-up.sock`, mode 0600: only the user running the cluster
//! can drive it).
//!
//! The socket speaks one request line and one answer line per connection: `start us-east-1/2`,
//! answered `ok ...` or `error ...`. `nodes` answers one JSON line describing every node (name,
//! region, id, pid if running, API and Raft addresses), for tools that drive the running
//! cluster, such as `jl nemesis`.

use crate::config::NodeConfig;
use anyhow::{bail, Context};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::{Child, Command};

/// The control socket's file name under the data directory.
pub const SOCKET_NAME: &str = "trent-up.sock";

/// How long a node gets to stop after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The first delay before an automatic restart; doubled per consecutive failure.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest delay between automatic restarts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A node that stayed up this long has its backoff reset.
const STABLE_UPTIME: Duration = Duration::from_secs(60);

/// What the supervisor does when a node exits on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RestartPolicy {
    /// Report the exit and leave the node stopped (`trent node start` brings it back).
    Never,
    /// Restart a node that exited with a failure or a signal, with exponential backoff.
    OnFailure,
    /// Restart a node whenever it exits, with exponential backoff.
    Always,
}

/// One supervised node.
pub struct Node {
    /// The node's config.
    pub config: NodeConfig,
    path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
    /// Started at, for the backoff reset.
    started: Instant,
    /// Consecutive automatic restarts without a stable run.
    failures: u32,
    /// When an automatic restart is due (set after an exit the policy restarts).
    restart_at: Option<Instant>,
}

impl Node {
    /// `region/node_id`, the name `trent node` uses.
    pub fn name(&self) -> String {
        format!("{}/{}", self.config.region, self.config.node_id)
    }

    /// How the node's process ended, if it has (before `run` takes over: `trent up` waiting
    /// for the cluster to come up).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|child| child.try_wait().ok().flatten())
    }

    /// The node's log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }
}

/// The nodes of a local cluster and the binary that runs them.
pub struct Supervisor {
    exe: PathBuf,
    policy: RestartPolicy,
    control: ControlSocket,
    /// The supervised nodes, in config order.
    pub nodes: Vec<Node>,
}

impl Supervisor {
    /// Starts one `trent serve` process per config, each logging to
    /// `<data_dir>/<region>-node<N>.log`, answering `trent node` on `control`.
    pub fn start(
        exe: PathBuf,
        control: ControlSocket,
        configs: Vec<(PathBuf, NodeConfig)>,
        policy: RestartPolicy,
    ) -> anyhow::Result<Supervisor> {
        let data_dir = control.data_dir.clone();
        let mut supervisor = Supervisor {
            exe,
            policy,
            control,
            nodes: Vec::new(),
        };
        for (path, config) in configs {
            let log_path = data_dir.join(format!("{}-node{}.log", config.region, config.node_id));
            supervisor.nodes.push(Node {
                config,
                path,
                log_path,
                child: None,
                started: Instant::now(),
                failures: 0,
                restart_at: None,
            });
        }
        for index in 0..supervisor.nodes.len() {
            supervisor.spawn(index)?;
        }
        Ok(supervisor)
    }

    fn spawn(&mut self, index: usize) -> anyhow::Result<()> {
        let node = &mut self.nodes[index];
        let log = crate::log_rotation::RotatingLog::open(
            &node.log_path,
            crate::log_rotation::DEFAULT_MAX_BYTES,
            crate::log_rotation::DEFAULT_KEEP,
        )
        .with_context(|| format!("opening {}", node.log_path.display()))?;
        let log = std::sync::Arc::new(std::sync::Mutex::new(log));
        let mut child = Command::new(&self.exe)
            .arg("serve")
            .arg("--config")
            .arg(&node.path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting node {}", node.path.display()))?;
        // The node's output goes through a size-bounded, rotated log.
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(crate::log_rotation::copy_lines(stdout, log.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(crate::log_rotation::copy_lines(stderr, log));
        }
        node.child = Some(child);
        node.started = Instant::now();
        node.restart_at = None;
        Ok(())
    }

    /// Runs until SIGINT or SIGTERM: watches the nodes (once a second), applies the restart
    /// policy and serves `trent node` requests on the control socket.
    pub async fn run(&mut self) -> anyhow::Result<()> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut terminate = signal(SignalKind::terminate())?;
        let mut check = tokio::time::interval(Duration::from_secs(1));
        let result = loop {
            tokio::select! {
                _ = interrupt.recv() => break Ok(()),
                _ = terminate.recv() => break Ok(()),
                _ = check.tick() => self.watch(),
                accepted = self.control.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        if let Err(e) = self.serve_control(stream).await {
                            eprintln!("trent up: control request failed: {e:#}");
                        }
                    }
                    Err(e) => break Err(anyhow::Error::from(e).context("control socket")),
                },
            }
        };
        result
    }

    /// Reports nodes that exited and restarts those the policy restarts, when their backoff
    /// has passed.
    fn watch(&mut self) {
        let now = Instant::now();
        for index in 0..self.nodes.len() {
            let node = &mut self.nodes[index];
            if let Some(child) = node.child.as_mut() {
                let Ok(Some(status)) = child.try_wait() else {
                    continue;
                };
                node.child = None;
                if node.started.elapsed() >= STABLE_UPTIME {
                    node.failures = 0;
                }
                let restart = match self.policy {
                    RestartPolicy::Never => false,
                    RestartPolicy::OnFailure => !status.success(),
                    RestartPolicy::Always => true,
                };
                if restart {
                    let delay = backoff(node.failures);
                    node.failures = node.failures.saturating_add(1);
                    node.restart_at = Some(now + delay);
                    eprintln!(
                        "trent up: node {} exited ({status}); restarting it in {}s, the other nodes keep running",
                        node.name(),
                        delay.as_secs()
                    );
                } else {
                    eprintln!(
                        "trent up: node {} exited ({status}); the other nodes keep running (`trent node start {}` brings it back)",
                        node.name(),
                        node.name()
                    );
                }
            } else if node.restart_at.is_some_and(|at| at <= now) {
                let name = node.name();
                match self.spawn(index) {
                    Ok(()) => eprintln!("trent up: node {name} restarted"),
                    Err(e) => eprintln!("trent up: restarting node {name} failed: {e:#}"),
                }
            }
        }
    }

    async fn serve_control(&mut self, stream: UnixStream) -> anyhow::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut line = String::new();
        let mut reader = BufReader::new(read).take(4096);
        tokio::time::timeout(Duration::from_secs(5), reader.read_line(&mut line))
            .await
            .context("no request line within 5 s")??;
        let answer = match self.control(line.trim()).await {
            Ok(text) => format!("ok {text}\n"),
            Err(e) => format!("error {e:#}\n"),
        };
        write.write_all(answer.as_bytes()).await?;
        Ok(())
    }

    /// Carries out one control request: `status`, or `start|stop|restart REGION/N`.
    async fn control(&mut self, request: &str) -> anyhow::Result<String> {
        let mut words = request.split_whitespace();
        let verb = words.next().unwrap_or_default();
        if verb == "status" {
            return Ok(self.status());
        }
        if verb == "nodes" {
            return Ok(self.describe());
        }
        let Some(target) = words.next() else {
            bail!("usage: start|stop|restart REGION/N, or status");
        };
        let index = self
            .nodes
            .iter()
            .position(|n| n.name() == target)
            .with_context(|| format!("no node {target} in this cluster"))?;
        match verb {
            "start" => {
                if self.nodes[index].child.is_some() {
                    bail!("node {target} is running");
                }
                self.spawn(index)?;
                Ok(format!("started {target}"))
            }
            "stop" => {
                self.stop_node(index).await;
                Ok(format!("stopped {target}"))
            }
            "restart" => {
                self.stop_node(index).await;
                self.spawn(index)?;
                Ok(format!("restarted {target}"))
            }
            other => bail!("unknown request '{other}': start, stop, restart, status or nodes"),
        }
    }

    /// One line per node: name, state and pid, separated by `; `.
    fn status(&self) -> String {
        self.nodes
            .iter()
            .map(|n| match n.pid() {
                Some(pid) => format!("{} running pid {pid}", n.name()),
                None if n.restart_at.is_some() => format!("{} restarting", n.name()),
                None => format!("{} stopped", n.name()),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Every node as one JSON line: `{"nodes": [{"name", "region", "id", "pid", "api_addr",
    /// "raft_addr"}]}`, `pid` null for a node that is not running.
    fn describe(&self) -> String {
        let nodes: Vec<serde_json::Value> = self
            .nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "name": n.name(),
                    "region": n.config.region,
                    "id": n.config.node_id,
                    "pid": n.pid(),
                    "api_addr": n.config.api_addr,
                    "raft_addr": n.config.raft_addr,
                })
            })
            .collect();
        serde_json::json!({ "nodes": nodes }).to_string()
    }

    /// Stops one node (SIGTERM, then SIGKILL after the grace period); a stopped node stays
    /// stopped whatever the restart policy.
    async fn stop_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        node.restart_at = None;
        if let Some(mut child) = node.child.take() {
            terminate(&mut child).await;
        }
    }

    /// Stops every node: SIGTERM to all, then waits for each (killing it after the grace
    /// period); then gives up the control socket.
    pub async fn stop_all(&mut self) {
        for node in &self.nodes {
            if let Some(pid) = node.pid() {
                send_term(pid);
            }
        }
        for node in &mut self.nodes {
            node.restart_at = None;
            if let Some(mut child) = node.child.take() {
                if tokio::time::timeout(STOP_GRACE, child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
        }
        let _ = std::fs::remove_file(self.control.path());
    }
}

fn backoff(failures: u32) -> Duration {
    FIRST_BACKOFF
        .saturating_mul(1u32 << failures.min(5))
        .min(MAX_BACKOFF)
}

fn send_term(pid: u32) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

async fn terminate(child: &mut Child) {
    if let Some(pid) = child.id() {
        send_term(pid);
    }
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// A data directory's control socket, held by the one `trent up` running on it.
pub struct ControlSocket {
    data_dir: PathBuf,
    listener: UnixListener,
}

impl ControlSocket {
    /// Binds `<data_dir>/trent-up.sock`, replacing a stale one (a socket nobody answers on)
    /// and refusing when another `trent up` runs on the same data directory. Called before
    /// `trent up` writes anything there.
    pub fn claim(data_dir: &Path) -> anyhow::Result<ControlSocket> {
        let listener = bind_control_socket(&data_dir.join(SOCKET_NAME))?;
        Ok(ControlSocket {
            data_dir: data_dir.to_path_buf(),
            listener,
        })
    }

    fn path(&self) -> PathBuf {
        self.data_dir.join(SOCKET_NAME)
    }
}

fn bind_control_socket(path: &Path) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another `trent up` is running on this data directory ({} answers)",
                path.display()
            );
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path)
        .with_context(|| format!("binding the control socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// `trent node VERB [REGION/N]`: sends one request to the `trent up` running on `data_dir`
/// and returns its answer, or an error carrying the supervisor's refusal.
pub async fn request(data_dir: &Path, request: &str) -> anyhow::Result<String> {
    let path = data_dir.join(SOCKET_NAME);
    let mut stream = UnixStream::connect(&path).await.with_context(|| {
        format!(
            "no `trent up` answers on {} (is the local cluster running with this --data-dir?)",
            path.display()
        )
    })?;
    stream.write_all(format!("{request}\n").as_bytes()).await?;
    let mut answer = String::new();
    // Stopping a node can take the whole grace period; allow a little more.
    tokio::time::timeout(
        STOP_GRACE * 2 + Duration::from_secs(5),
        BufReader::new(stream).read_line(&mut answer),
    )
    .await
    .context("`trent up` did not answer")??;
    let answer = answer.trim_end();
    match answer.split_once(' ') {
        Some(("ok", text)) => Ok(text.to_string()),
        Some(("error", text)) => bail!("{text}"),
        _ => bail!("unexpected answer from `trent up`: {answer:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(16));
        assert_eq!(backoff(5), MAX_BACKOFF);
        assert_eq!(backoff(40), MAX_BACKOFF);
    }
}
