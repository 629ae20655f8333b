//! [`RegionRaft`]: one node's Raft instance, its internal HTTP endpoints, and the write and read
//! paths the KMS service uses.

use crate::network::HttpNetworkFactory;
use crate::read_barrier::ReadBarrier;
use crate::snapshot_schedule::{Progress, Schedule, CHECK_EVERY};
use crate::wire::{
    decode, encode, limits, ForwardReply, ForwardedWrite, ReadIndexReply, WriteReply,
};
use crate::write_batcher::WriteBatcher;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::routing::post;
use axum::Router;
use kms_core::{Command, CommandOutput};
use kms_store::{StateReader, TypeConfig};
use kms_types::KmsError;
use openraft::error::{CheckIsLeaderError, ClientWriteError, ForwardToLeader, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Snapshot chunk size sent per InstallSnapshot request.
const SNAPSHOT_CHUNK_BYTES: u64 = 1024 * 1024;
/// Log entries per AppendEntries request, so one request stays below [`limits::APPEND`].
const MAX_PAYLOAD_ENTRIES: u64 = 64;

/// Tunables of one region's Raft group.
#[derive(Debug, Clone)]
pub struct RaftSettings {
    /// Leader heartbeat period.
    pub heartbeat_ms: u64,
    /// Lower bound of the election timeout (the upper bound is twice this).
    pub election_timeout_ms: u64,
    /// Build a snapshot (and allow log compaction) after this many applied entries, or after
    /// half as many as the state holds keys if that is more (`snapshot_schedule.rs`).
    pub snapshot_after_entries: u64,
    /// How long a request waits for a leader before answering a retryable error.
    pub leader_wait: Duration,
    /// A client for mutual TLS between the region's nodes (`https://` to peers); `None` for
    /// plain HTTP. Its timeouts are the caller's.
    pub tls_client: Option<reqwest::Client>,
    /// The local IP address plain-HTTP connections to peers are made from (`None`: the
    /// system's choice), for a host with several addresses. Not used with `tls_client`.
    pub source_ip: Option<IpAddr>,
    /// The Raft wire version this node speaks and requires of its peers
    /// ([`crate::wire_version`]); a test build may speak another to test the refusal.
    pub wire_version: u32,
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            heartbeat_ms: 100,
            election_timeout_ms: 500,
            snapshot_after_entries: 5000,
            leader_wait: Duration::from_secs(5),
            tls_client: None,
            source_ip: None,
            wire_version: crate::wire_version::RAFT_WIRE_VERSION,
        }
    }
}

/// One node of a region's Raft group.
pub struct RegionRaft {
    node_id: u64,
    raft: Raft<TypeConfig>,
    reader: StateReader,
    http: reqwest::Client,
    settings: RaftSettings,
    reads: ReadBarrier,
    writes: WriteBatcher,
}

type Shared = Arc<RegionRaft>;

impl RegionRaft {
    /// `https` when the Raft port speaks mutual TLS, else `http`.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.settings.tls_client.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Opens the store under `data_dir` and starts Raft. The node joins whatever membership its
    /// log holds; a fresh region is formed by [`RegionRaft::initialize`].
    pub async fn start(
        node_id: u64,
        data_dir: &Path,
        settings: RaftSettings,
    ) -> anyhow_like::Result<Arc<RegionRaft>> {
        let config = Config {
            cluster_name: "trent".into(),
            heartbeat_interval: settings.heartbeat_ms,
            election_timeout_min: settings.election_timeout_ms,
            election_timeout_max: settings.election_timeout_ms * 2,
            // Snapshots are asked for by `snapshot_schedule`, whose interval grows with the state.
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 100,
            install_snapshot_timeout: 10_000,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            ..Default::default()
        }
        .validate()
        .map_err(|e| format!("invalid raft config: {e}"))?;
        let (log_store, state_machine) = kms_store::open(data_dir)
            .map_err(|e| format!("opening the store in {}: {e}", data_dir.display()))?;
        let reader = state_machine.reader();
        let (http, scheme) = match &settings.tls_client {
            Some(client) => (client.clone(), "https"),
            None => (
                reqwest::Client::builder()
                    .connect_timeout(Duration::from_millis(500))
                    .pool_idle_timeout(Duration::from_secs(30))
                    .local_address(settings.source_ip)
                    .build()
                    .map_err(|e| format!("building the HTTP client: {e}"))?,
                "http",
            ),
        };
        let network = HttpNetworkFactory {
            http: http.clone(),
            scheme,
            version: settings.wire_version,
        };
        let raft = Raft::new(node_id, Arc::new(config), network, log_store, state_machine)
            .await
            .map_err(|e| format!("starting raft: {e}"))?;
        let node = Arc::new_cyclic(|weak: &std::sync::Weak<RegionRaft>| {
            let for_reads = weak.clone();
            let reads = ReadBarrier::spawn(move || {
                let weak = for_reads.clone();
                async move {
                    match weak.upgrade() {
                        Some(node) => node.read_barrier().await,
                        None => Err(KmsError::KmsInternal("The node is shutting down.".into())),
                    }
                }
            });
            let for_writes = weak.clone();
            let writes = WriteBatcher::spawn(move |command, submitted| {
                let weak = for_writes.clone();
                async move {
                    match weak.upgrade() {
                        Some(node) => node.propose(command, submitted).await,
                        None => Err(KmsError::KmsInternal("The node is shutting down.".into())),
                    }
                }
            });
            RegionRaft {
                node_id,
                raft,
                reader,
                http,
                settings,
                reads,
                writes,
            }
        });
        tokio::spawn(schedule_snapshots(Arc::downgrade(&node)));
        Ok(node)
    }

    /// What the snapshot schedule looks at: applied and snapshot indexes, and the key count.
    fn snapshot_progress(&self) -> Progress {
        let (applied, snapshot) = {
            let metrics = self.raft.metrics();
            let metrics = metrics.borrow();
            (
                metrics.last_applied.map_or(0, |log_id| log_id.index),
                metrics.snapshot.map(|log_id| log_id.index),
            )
        };
        Progress {
            applied,
            snapshot,
            keys: self.reader.read(kms_core::State::key_count) as u64,
        }
    }

    /// Asks openraft to build a snapshot now.
    async fn trigger_snapshot(&self) -> Result<(), String> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| e.to_string())
    }

    /// Forms a new region from `members` (node id to Raft address). Safe to call on every
    /// start: it does nothing on a node that already belongs to a cluster.
    pub async fn initialize(&self, members: BTreeMap<u64, String>) -> anyhow_like::Result<bool> {
        if self
            .raft
            .is_initialized()
            .await
            .map_err(|e| e.to_string())?
        {
            return Ok(false);
        }
        let nodes: BTreeMap<u64, BasicNode> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr }))
            .collect();
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(true),
            Err(RaftError::APIError(e)) => {
                tracing::info!(error = %e, "cluster already initialised");
                Ok(false)
            }
            Err(e) => Err(format!("initialising the cluster: {e}")),
        }
    }

    /// Read access to this node's applied state. Only linearizable after [`RegionRaft::linearizable_read`].
    pub fn reader(&self) -> &StateReader {
        &self.reader
    }

    /// The client this node reaches its peers with.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The Raft wire version this node speaks.
    pub fn wire_version(&self) -> u32 {
        self.settings.wire_version
    }

    /// This node's id.
    pub fn node_id(&self) -> u64 {
        self.node_id
    }

    /// The underlying openraft handle (metrics, tests, the leader's background tasks).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// True if this node currently believes it is the leader.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    /// Stops Raft.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
    }

    /// Commits `command` through the leader (forwarding if this node is a follower) and returns
    /// the state machine's answer. Concurrent writes share a log entry (group commit).
    pub async fn write(&self, command: Command) -> Result<CommandOutput, KmsError> {
        self.writes.submit(command).await
    }

    /// Proposes one log entry, submitted by its (oldest) caller at `submitted`. Retries only
    /// while the command is known not to have been proposed; an ambiguous failure is a
    /// retryable `KMSInternalException`. Answers within `leader_wait` of `submitted`, plus at
    /// most one forwarding attempt.
    async fn propose(
        &self,
        command: Command,
        submitted: Instant,
    ) -> Result<CommandOutput, KmsError> {
        let deadline = submitted + self.settings.leader_wait;
        loop {
            if Instant::now() >= deadline {
                return Err(no_leader());
            }
            let leader = match self.write_here(command.clone(), deadline).await {
                WriteHere::Done(result) => return result,
                WriteHere::NotLeader(leader) => leader,
            };
            if let Some((leader_id, addr)) = leader.filter(|(id, _)| *id != self.node_id) {
                match self.forward_write(&addr, &command).await {
                    Ok(ForwardReply::Done(result)) => return result,
                    Ok(ForwardReply::NotLeader { .. }) => {
                        tracing::debug!(leader_id, "forward target is no longer leader")
                    }
                    // Nothing reached the leader: safe to try again, perhaps elsewhere.
                    Err(PostError::Unsent(e)) => {
                        tracing::debug!(leader_id, error = %e, "forward not sent")
                    }
                    // The leader may have committed it: only the client may decide to retry.
                    Err(PostError::Lost(e)) => {
                        return Err(KmsError::KmsInternal(format!(
                            "The leader's answer was lost: {e}"
                        )))
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Proposes `command` on this node, if it leads, and waits for its result until
    /// `deadline`. A leader cut off from its quorum never commits and is not told so; past the
    /// deadline the write is answered with a retryable error (it may still be committed).
    async fn write_here(&self, command: Command, deadline: Instant) -> WriteHere {
        let written = tokio::time::timeout_at(deadline.into(), self.raft.client_write(command));
        match written.await {
            Ok(Ok(response)) => WriteHere::Done(response.data.0),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                WriteHere::NotLeader(leader_of(&forward))
            }
            Ok(Err(e)) => WriteHere::Done(Err(KmsError::KmsInternal(format!(
                "The write could not be committed: {e}"
            )))),
            Err(_) => WriteHere::Done(Err(KmsError::KmsInternal(
                "The write was not committed in time; it may still be.".into(),
            ))),
        }
    }

    async fn forward_write(&self, addr: &str, command: &Command) -> Result<WriteReply, PostError> {
        let body = encode(&ForwardedWrite {
            command: command.clone(),
        })
        .map_err(PostError::Unsent)?;
        let bytes = self.post(addr, "write", body).await?;
        decode::<{ limits::WRITE }, _>(&bytes)
            .map_err(|e| PostError::Lost(format!("bad reply from the leader: {e}")))
    }

    /// POSTs to a peer's internal endpoint with a per-attempt timeout of two election timeouts,
    /// so a paused or cut-off leader delays a request by about one election, not `leader_wait`.
    async fn post(&self, addr: &str, path: &str, body: Vec<u8>) -> Result<Bytes, PostError> {
        let attempt_timeout = Duration::from_millis(self.settings.election_timeout_ms * 2);
        let response = self
            .http
            .post(format!("{}://{addr}/raft/{path}", self.scheme()))
            .header(crate::wire_version::HEADER, self.settings.wire_version)
            .timeout(attempt_timeout)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    PostError::Unsent(e.to_string())
                } else {
                    PostError::Lost(e.to_string())
                }
            })?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            // Refused before it was looked at: a peer of another Raft wire version.
            let why = response.text().await.unwrap_or_default();
            crate::wire_version::warn_refused(addr, &why);
            return Err(PostError::Unsent(format!("{addr} refused: {why}")));
        }
        response
            .bytes()
            .await
            .map_err(|e| PostError::Lost(e.to_string()))
    }

    /// Returns once this node's state reflects every write acknowledged (anywhere in the
    /// region) before the call: a read-index barrier, batched across concurrent callers.
    pub async fn linearizable_read(&self) -> Result<(), KmsError> {
        self.reads.wait().await
    }

    /// One read barrier: obtain a read index from the leader (confirming its leadership with a
    /// quorum) and wait until this node has applied up to it.
    async fn read_barrier(&self) -> Result<(), KmsError> {
        let deadline = Instant::now() + self.settings.leader_wait;
        loop {
            let leader = match self.raft.get_read_log_id().await {
                Ok((read_log_id, _)) => {
                    return self
                        .wait_applied(read_log_id.map(|l| l.index), deadline)
                        .await
                }
                Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward))) => {
                    leader_of(&forward)
                }
                Err(RaftError::APIError(e)) => {
                    tracing::debug!(error = %e, "read barrier: leadership not confirmed");
                    None
                }
                Err(e) => {
                    return Err(KmsError::KmsInternal(format!(
                        "The read could not be served: {e}"
                    )))
                }
            };
            if let Some((_, addr)) = leader.filter(|(id, _)| *id != self.node_id) {
                // A failed attempt (unreachable, paused or deposed leader) is retried against
                // whoever this node then believes leads; reads have no effect to duplicate.
                if let Ok(bytes) = self.post(&addr, "read-index", Vec::new()).await {
                    if let Ok(ForwardReply::Done(result)) =
                        decode::<{ limits::SMALL }, ReadIndexReply>(&bytes)
                    {
                        return self.wait_applied(Some(result?), deadline).await;
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(no_leader());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn wait_applied(&self, index: Option<u64>, deadline: Instant) -> Result<(), KmsError> {
        let Some(index) = index else { return Ok(()) };
        if self
            .reader
            .last_applied_index()
            .is_some_and(|applied| applied >= index)
        {
            return Ok(());
        }
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "linearizable read")
            .await
            .map(|_| ())
            .map_err(|_| no_leader())
    }

    /// The ids of every node (voter or learner) in the membership this node knows: whom it
    /// takes Raft traffic from. Empty until the node has joined a group.
    pub fn members(&self) -> std::collections::BTreeSet<u64> {
        let metrics = self.raft.metrics().borrow().clone();
        let members = metrics
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        members
    }

    /// The internal endpoints peers call: Raft RPCs, forwarded writes and read-index requests,
    /// each with its own body limit (a larger body is answered 413 unread). Who may call them
    /// is the caller's to check (the node admits only its region's members).
    pub fn internal_router(self: &Arc<Self>) -> Router {
        use axum::extract::DefaultBodyLimit;
        // AppendEntries batches and snapshot chunks exceed axum's 2 MB default; a 413 here
        // left a lagging node unable to ever install a snapshot (found by t30 under load).
        Router::new()
            .route(
                "/raft/append",
                post(append).layer(DefaultBodyLimit::max(limits::APPEND)),
            )
            .route(
                "/raft/vote",
                post(vote).layer(DefaultBodyLimit::max(limits::SMALL)),
            )
            .route(
                "/raft/snapshot",
                post(snapshot).layer(DefaultBodyLimit::max(limits::SNAPSHOT)),
            )
            .route(
                "/raft/write",
                post(forwarded_write).layer(DefaultBodyLimit::max(limits::WRITE)),
            )
            .route(
                "/raft/read-index",
                post(read_index).layer(DefaultBodyLimit::max(limits::SMALL)),
            )
            .route_layer(axum::middleware::from_fn_with_state(
                self.settings.wire_version,
                crate::wire_version::require,
            ))
            .route("/raft/status", axum::routing::get(status))
            .with_state(self.clone())
    }
}

/// The outcome of proposing a write on this node.
enum WriteHere {
    /// Committed and applied (the state machine's answer), or failed.
    Done(Result<CommandOutput, KmsError>),
    /// Not proposed: this node does not lead; here is who it thinks does.
    NotLeader(Option<(u64, String)>),
}

/// Why an internal POST failed.
#[derive(Debug)]
enum PostError {
    /// Nothing was delivered (connection refused, or the request could not be built).
    Unsent(String),
    /// The request may have been delivered; its effect is unknown.
    Lost(String),
}

fn leader_of(forward: &ForwardToLeader<u64, BasicNode>) -> Option<(u64, String)> {
    match (forward.leader_id, &forward.leader_node) {
        (Some(id), Some(node)) => Some((id, node.addr.clone())),
        _ => None,
    }
}

fn no_leader() -> KmsError {
    KmsError::DependencyTimeout(
        "The region has no leader right now (election in progress); retry.".into(),
    )
}

/// Maps any handler outcome to a bincode body (HTTP 200) or a 400 for an undecodable request.
fn reply<T: serde::Serialize>(value: &T) -> (axum::http::StatusCode, Vec<u8>) {
    match encode(value) {
        Ok(bytes) => (axum::http::StatusCode::OK, bytes),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            e.into_bytes(),
        ),
    }
}

fn bad_request(e: String) -> (axum::http::StatusCode, Vec<u8>) {
    (axum::http::StatusCode::BAD_REQUEST, e.into_bytes())
}

async fn append(
    AxumState(node): AxumState<Shared>,
    body: Bytes,
) -> (axum::http::StatusCode, Vec<u8>) {
    match decode::<{ limits::APPEND }, _>(&body) {
        Ok(request) => reply(&node.raft.append_entries(request).await),
        Err(e) => bad_request(e),
    }
}

async fn vote(
    AxumState(node): AxumState<Shared>,
    body: Bytes,
) -> (axum::http::StatusCode, Vec<u8>) {
    match decode::<{ limits::SMALL }, _>(&body) {
        Ok(request) => reply(&node.raft.vote(request).await),
        Err(e) => bad_request(e),
    }
}

async fn snapshot(
    AxumState(node): AxumState<Shared>,
    body: Bytes,
) -> (axum::http::StatusCode, Vec<u8>) {
    match decode::<{ limits::SNAPSHOT }, _>(&body) {
        Ok(request) => reply(&node.raft.install_snapshot(request).await),
        Err(e) => bad_request(e),
    }
}

async fn forwarded_write(
    AxumState(node): AxumState<Shared>,
    body: Bytes,
) -> (axum::http::StatusCode, Vec<u8>) {
    let request: ForwardedWrite = match decode::<{ limits::WRITE }, _>(&body) {
        Ok(request) => request,
        Err(e) => return bad_request(e),
    };
    let deadline = Instant::now() + node.settings.leader_wait;
    let answer: WriteReply = match node.write_here(request.command, deadline).await {
        WriteHere::Done(result) => ForwardReply::Done(result),
        WriteHere::NotLeader(leader) => ForwardReply::NotLeader { leader },
    };
    reply(&answer)
}

async fn read_index(AxumState(node): AxumState<Shared>) -> (axum::http::StatusCode, Vec<u8>) {
    let answer: ReadIndexReply = match node.raft.get_read_log_id().await {
        Ok((read_log_id, _)) => ForwardReply::Done(Ok(read_log_id.map(|l| l.index).unwrap_or(0))),
        Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward))) => {
            ForwardReply::NotLeader {
                leader: leader_of(&forward),
            }
        }
        Err(e) => ForwardReply::Done(Err(KmsError::KmsInternal(format!(
            "The read could not be served: {e}"
        )))),
    };
    reply(&answer)
}

/// This node's view of the group, as JSON, for operators and tests.
async fn status(AxumState(node): AxumState<Shared>) -> axum::Json<serde_json::Value> {
    let metrics = node.raft.metrics().borrow().clone();
    axum::Json(serde_json::json!({
        "node_id": node.node_id,
        "state": format!("{:?}", metrics.state),
        "current_term": metrics.current_term,
        "current_leader": metrics.current_leader,
        "last_log_index": metrics.last_log_index,
        "last_applied_index": metrics.last_applied.map(|l| l.index),
        "snapshot_index": metrics.snapshot.map(|l| l.index),
        "purged_index": metrics.purged.map(|l| l.index),
        "raft_wire_version": node.settings.wire_version,
    }))
}

/// Errors of this crate's setup paths are plain strings with context; the binary adds more.
mod anyhow_like {
    pub type Result<T> = std::result::Result<T, String>;
}

/// The node's snapshot task: consults its [`Schedule`] every [`CHECK_EVERY`] and asks openraft
/// for a snapshot when one is due, until the node is dropped.
async fn schedule_snapshots(node: std::sync::Weak<RegionRaft>) {
    let mut ticker = tokio::time::interval(CHECK_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut schedule = match node.upgrade() {
        Some(node) => Schedule::new(node.settings.snapshot_after_entries),
        None => return,
    };
    loop {
        ticker.tick().await;
        let Some(node) = node.upgrade() else {
            return;
        };
        if schedule.due(node.snapshot_progress(), Instant::now()) {
            if let Err(e) = node.trigger_snapshot().await {
                tracing::warn!(error = %e, "could not ask for a snapshot");
                schedule.request_failed();
            }
        }
    }
}
