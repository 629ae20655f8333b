//! One `jl run`: start the region (or two linked regions with `--regions 2`), set up the
//! workloads, run clients and the nemesis until the deadline, heal, wait for recovery, run the
//! final reads, tear everything down, check the history, and write `results.json` and
//! `report.html`.
//!
//! With two regions, the single-region workloads (`key-state`, `create-set`, `crypto`) run
//! against us-east-1 only (its nodes `e1`..`e3` play the part of `n1`..`n3`), and the
//! `multi-region` workload (`crate::multi_region`) talks to both: its worker `w` holds a
//! client for one node of each region and sends each op to the region it targets.
//!
//! Every event goes through one [`Recorder`] (one `history::HistoryWriter` behind a mutex, one
//! `Instant` for all `time_ns`). Clients are `--concurrency` workers; with several workloads
//! (`--workload all`) they run **concurrently against the same region**: worker `w` runs
//! workload `w % W` and talks to node `(w / W + w % W) % 3`, so each workload's workers are
//! spread over the nodes. A worker's process number starts at its id and is replaced by a fresh
//! one after an `info` (Jepsen rule). All workers share one rate limiter (`--rate` ops/s total).
//!
//! Each checker sees only its own workload's events plus the nemesis events (the recorder tags
//! every event with its workload), so keys created by one workload never look like phantoms to
//! another. `liveness` and `catch_up` see the whole history; `availability_during_pause` (in
//! runs with `pause` or `pause-leader` and a single-region workload) sees every event but the
//! multi-region workload's. The runner adds two checks of its own:
//! `fault_coverage` (every requested nemesis kind was installed at least once) and `logs` (no
//! node log contains "panicked" and no node exited without being killed).
//!
//! Final heal: every node is restarted or resumed, and while the runner waits for every region
//! to serve again it probes every node's catch-up (`crate::catch_up`); the nemesis' own probes
//! are awaited after the final phase.
//!
//! Final phase (after the last heal and once every region has a leader and every node answers
//! ListKeys): `final_list_keys` on every node (create-set's final read on us-east-1's nodes,
//! and otherwise the probe `liveness` judges), `describe_key` of every key-state key on every
//! us-east-1 node (ordinary reads for the register checker), `final_decrypt` of every acked
//! crypto-workload ciphertext on every us-east-1 node, and the multi-region workload's settle
//! loop and final reads (`crate::multi_region::final_phase`).

use crate::catch_up::Prober;
use crate::checker::{self, CheckResult, Verdict};
use crate::client::{classify_error, Completion, KmsClient, Reply};
use crate::db::{Db, DbOptions};
use crate::generator::{
    Counters, Generator, Op, Rng, Workload, CRYPTO_KEY, KEY_STATE_KEYS, MRK_KEYS,
};
use crate::history::{Event, EventType, HistoryWriter, Process};
use crate::nemesis::{Fault, Nemesis, UnexpectedExit};
use crate::topology::Topology;
use anyhow::{bail, Context};
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Everything `jl run` was asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The workloads, run concurrently.
    pub workloads: Vec<Workload>,
    /// `--workload` as given (names the store dir).
    pub workload_arg: String,
    /// Requested fault kinds.
    pub faults: Vec<Fault>,
    /// Length of the main phase.
    pub time: Duration,
    /// The seed of every random choice.
    pub seed: u64,
    /// Client workers.
    pub concurrency: usize,
    /// Total client ops per second.
    pub rate: f64,
    /// The `trent` binary.
    pub trent: PathBuf,
    /// Root of the store.
    pub store: PathBuf,
    /// Fault window.
    pub fault_window: Duration,
    /// Heal window.
    pub heal_window: Duration,
    /// Per-request deadline of the main phase.
    pub request_timeout: Duration,
    /// Per-request deadline of setup and final reads.
    pub final_timeout: Duration,
    /// How long the region may take to recover after the final heal.
    pub recovery_timeout: Duration,
    /// Wall-clock budget of the linearizability search.
    pub check_budget: Duration,
    /// `[raft] snapshot_after_entries` of the nodes.
    pub snapshot_after_entries: u64,
    /// A bug planted in every node (`TRENT_PLANTED_BUG`), to prove the checkers catch it.
    pub planted_bug: Option<String>,
    /// Keep the nodes' data dirs even after a valid run (they are always kept otherwise).
    pub keep_data: bool,
    /// Where the nodes live (`loopback` or `netns`).
    pub topology: Topology,
    /// Number of regions (1, or 2 for `multi-region` and `region-split`).
    pub regions: usize,
    /// How long the multi-region keys may take to settle after the final heal.
    pub settle_timeout: Duration,
    /// How long after a heal a node may take to catch up with its leader (`catch_up`).
    pub catch_up_timeout: Duration,
    /// `catch_up` is unknown unless a node needed a snapshot while at least this many bytes of
    /// `big-keys` payload were acknowledged (`--expect-snapshot-mb`).
    pub expect_snapshot_bytes: Option<u64>,
    /// Longest latency `availability_during_pause` accepts (`--failover-latency`).
    pub failover_latency: Duration,
    /// The exact command that reruns this test (for the report).
    pub command: String,
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunSummary {
    /// The store dir of this run.
    pub dir: PathBuf,
    /// The combined verdict.
    pub verdict: Verdict,
}

/// The shared history: one writer, one clock, and an in-memory copy tagged by workload.
pub struct Recorder {
    start: Instant,
    inner: Mutex<RecorderInner>,
}

struct RecorderInner {
    writer: HistoryWriter,
    events: Vec<(Option<Workload>, Event)>,
}

impl Recorder {
    /// Creates `path`; `time_ns` counts from now.
    pub fn create(path: &Path) -> anyhow::Result<Recorder> {
        Ok(Recorder {
            start: Instant::now(),
            inner: Mutex::new(RecorderInner {
                writer: HistoryWriter::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
                events: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Time since the recorder was created.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Stamps `event` with the time and next index, appends it to the file, and keeps a copy
    /// tagged with `workload` (`None` = belongs to every workload, e.g. nemesis events).
    pub fn record(&self, workload: Option<Workload>, mut event: Event) -> anyhow::Result<()> {
        let mut inner = self.lock();
        event.time_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        event.index = inner
            .writer
            .append(event.clone())
            .context("writing the history")?;
        inner.events.push((workload, event));
        Ok(())
    }

    /// The whole history so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Every event except those of `workload`.
    pub fn events_except(&self, workload: Workload) -> Vec<Event> {
        self.lock()
            .events
            .iter()
            .filter(|(w, _)| *w != Some(workload))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The events of `workload` and the untagged (nemesis) events.
    pub fn events_for(&self, workload: Workload) -> Vec<Event> {
        self.lock()
            .events
            .iter()
            .filter(|(w, _)| w.is_none_or(|w| w == workload))
            .map(|(_, e)| e.clone())
            .collect()
    }
}

/// Spaces ops so the total rate is at most `rate` per second.
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(rate: f64) -> RateLimiter {
        RateLimiter {
            interval: Duration::from_secs_f64(1.0 / rate.max(0.001)),
            next: Mutex::new(Instant::now()),
        }
    }

    /// The instant this caller may start its op.
    pub(crate) fn slot(&self) -> Instant {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let slot = (*next).max(Instant::now());
        *next = slot + self.interval;
        slot
    }
}

/// State shared by the workers.
pub(crate) struct Shared {
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) limiter: RateLimiter,
    next_process: AtomicU64,
    /// Logical key name → KeyId.
    pub(crate) keys: HashMap<String, String>,
    pub(crate) deadline: Instant,
    /// Acknowledged multi-region ciphertexts: (logical key, ciphertext, plaintext), base64.
    pub(crate) mrk_ciphertexts: Mutex<Vec<(String, String, String)>>,
}

impl Shared {
    pub(crate) fn fresh_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }
}

/// How an op completed, for the caller.
pub(crate) struct Done {
    /// It completed `info` (the process must be replaced).
    pub(crate) info: bool,
    /// Its `ok` value, if it completed `ok`.
    pub(crate) ok: Option<Value>,
}

/// One client call: invoke, execute, complete.
pub(crate) async fn perform(
    shared: &Shared,
    client: &KmsClient,
    node: &str,
    process: u64,
    workload: Workload,
    op: &Op,
) -> anyhow::Result<Done> {
    let event = |kind: EventType, value: Value, error: Option<String>| Event {
        index: 0,
        time_ns: 0,
        kind,
        process: Process::Client(process),
        node: Some(node.to_string()),
        f: op.f.to_string(),
        key: op.key.clone(),
        value,
        error,
    };
    shared.recorder.record(
        Some(workload),
        event(EventType::Invoke, op.value.clone(), None),
    )?;
    let completion = execute(client, workload, op, &shared.keys).await;
    let (kind, value, error) = match completion {
        Completion::Ok(value) => (EventType::Ok, value, None),
        Completion::Fail(error) => (EventType::Fail, Value::Null, Some(error)),
        Completion::Info(error) => (EventType::Info, Value::Null, Some(error)),
    };
    let ok = (kind == EventType::Ok).then(|| value.clone());
    shared
        .recorder
        .record(Some(workload), event(kind, value, error))?;
    Ok(Done {
        info: kind == EventType::Info,
        ok,
    })
}

fn key_id(keys: &HashMap<String, String>, op: &Op) -> String {
    op.key
        .as_ref()
        .and_then(|k| keys.get(k))
        .cloned()
        .unwrap_or_default()
}

pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, p| v.get(*p))?.as_str()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs one op against a node and classifies the outcome (see `client`).
async fn execute(
    client: &KmsClient,
    workload: Workload,
    op: &Op,
    keys: &HashMap<String, String>,
) -> Completion {
    let id = key_id(keys, op);
    let mutation = |operation: &'static str, body: Value| async move {
        match client.call(operation, &body).await {
            Reply::Ok(_) => Completion::Ok(op.value.clone()),
            other => classify_error(&other, true),
        }
    };
    match (workload, op.f) {
        (Workload::KeyState, "enable_key") => mutation("EnableKey", json!({ "KeyId": id })).await,
        (Workload::KeyState, "disable_key") => mutation("DisableKey", json!({ "KeyId": id })).await,
        (Workload::KeyState, "update_description") => {
            let description = op.value["description"].clone();
            mutation(
                "UpdateKeyDescription",
                json!({ "KeyId": id, "Description": description }),
            )
            .await
        }
        (Workload::KeyState, "schedule_deletion") => {
            mutation(
                "ScheduleKeyDeletion",
                json!({ "KeyId": id, "PendingWindowInDays": 30 }),
            )
            .await
        }
        (Workload::KeyState, "cancel_deletion") => {
            mutation("CancelKeyDeletion", json!({ "KeyId": id })).await
        }
        (Workload::KeyState, "describe_key") => {
            match client.call("DescribeKey", &json!({ "KeyId": id })).await {
                Reply::Ok(v) => match (
                    str_at(&v, &["KeyMetadata", "KeyState"]),
                    str_at(&v, &["KeyMetadata", "Description"]),
                ) {
                    (Some(state), description) => Completion::Ok(json!({
                        "state": state,
                        "description": description.unwrap_or(""),
                    })),
                    _ => Completion::Fail(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        (Workload::KeyState, "encrypt") => {
            let body = json!({ "KeyId": id, "Plaintext": b64(crate::generator::PROBE_PLAINTEXT) });
            match client.call("Encrypt", &body).await {
                Reply::Ok(_) => Completion::Ok(json!({ "observed": "Enabled" })),
                Reply::Error { error, .. } if error == "DisabledException" => {
                    Completion::Ok(json!({ "observed": "Disabled" }))
                }
                Reply::Error { error, .. } if error == "KMSInvalidStateException" => {
                    Completion::Ok(json!({ "observed": "PendingDeletion" }))
                }
                other => classify_error(&other, false),
            }
        }
        (Workload::CreateSet | Workload::BigKeys, "create_key") => {
            let body = match (workload, op.value["description"].as_str()) {
                (Workload::BigKeys, Some(name)) => json!({
                    "Description": crate::generator::big_description(name),
                    "Policy": crate::generator::big_policy(name),
                }),
                _ => json!({ "Description": op.value["description"].clone() }),
            };
            match client.call("CreateKey", &body).await {
                Reply::Ok(v) => match str_at(&v, &["KeyMetadata", "KeyId"]) {
                    Some(key_id) => Completion::Ok(json!({ "key_id": key_id })),
                    // It may have been created; we cannot tell which key it is.
                    None => Completion::Info(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, true),
            }
        }
        (Workload::Crypto, "encrypt") => {
            let plaintext = op.value["plaintext_b64"].clone();
            let body = json!({ "KeyId": id, "Plaintext": plaintext });
            match client.call("Encrypt", &body).await {
                Reply::Ok(v) => match v.get("CiphertextBlob").and_then(Value::as_str) {
                    Some(blob) => Completion::Ok(json!({
                        "ciphertext_b64": blob,
                        "plaintext_b64": plaintext,
                    })),
                    None => Completion::Fail(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        (_, "final_list_keys") => list_all_keys(client).await,
        (Workload::MultiRegion, _) => crate::multi_region::execute(client, op, keys).await,
        (Workload::Crypto, "final_decrypt") => {
            let blob = op.value["ciphertext_b64"].clone();
            match client
                .call("Decrypt", &json!({ "CiphertextBlob": blob }))
                .await
            {
                Reply::Ok(v) => match v.get("Plaintext").and_then(Value::as_str) {
                    Some(plaintext) => Completion::Ok(json!({
                        "ciphertext_b64": blob,
                        "plaintext_b64": plaintext,
                    })),
                    None => Completion::Fail(crate::client::ERR_BAD_RESPONSE.into()),
                },
                other => classify_error(&other, false),
            }
        }
        (_, f) => Completion::Fail(format!("jl:unsupported-op:{f}")),
    }
}

/// ListKeys, every page.
async fn list_all_keys(client: &KmsClient) -> Completion {
    let mut key_ids: Vec<Value> = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..10_000 {
        let mut body = json!({ "Limit": 100 });
        if let (Some(m), Some(map)) = (&marker, body.as_object_mut()) {
            map.insert("Marker".into(), m.clone().into());
        }
        match client.call("ListKeys", &body).await {
            Reply::Ok(v) => {
                let Some(keys) = v.get("Keys").and_then(Value::as_array) else {
                    return Completion::Fail(crate::client::ERR_BAD_RESPONSE.into());
                };
                key_ids.extend(keys.iter().filter_map(|k| k.get("KeyId")).cloned());
                let truncated = v.get("Truncated").and_then(Value::as_bool) == Some(true);
                marker = v
                    .get("NextMarker")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                if !truncated || marker.is_none() {
                    return Completion::Ok(json!({ "key_ids": key_ids }));
                }
            }
            other => return classify_error(&other, false),
        }
    }
    Completion::Fail("jl:too-many-pages".into())
}

/// One client worker's main loop.
async fn worker(
    shared: Arc<Shared>,
    id: usize,
    workload: Workload,
    node: String,
    client: KmsClient,
    mut generator: Generator,
) -> anyhow::Result<()> {
    let mut process = id as u64;
    loop {
        let slot = shared.limiter.slot();
        if slot >= shared.deadline {
            return Ok(());
        }
        tokio::time::sleep_until(slot.into()).await;
        let op = generator.next_op();
        if perform(&shared, &client, &node, process, workload, &op)
            .await?
            .info
        {
            process = shared.fresh_process();
        }
    }
}

/// Which workload and node worker `w` gets (see the module docs).
pub fn assignment(worker: usize, workloads: usize, nodes: usize) -> (usize, usize) {
    let workloads = workloads.max(1);
    let workload = worker % workloads;
    let node = (worker / workloads + workload) % nodes.max(1);
    (workload, node)
}

/// Creates the setup keys; retried on definite failure, a harness error on an unknown outcome
/// (an orphan key would otherwise be indistinguishable from a phantom).
async fn setup(
    recorder: &Recorder,
    client: &KmsClient,
    setup_node: &str,
    workloads: &[Workload],
) -> anyhow::Result<HashMap<String, String>> {
    let mut keys = HashMap::new();
    for &workload in workloads {
        let names: &[&str] = match workload {
            Workload::KeyState => &KEY_STATE_KEYS,
            Workload::Crypto => &[CRYPTO_KEY],
            Workload::CreateSet | Workload::BigKeys => &[],
            Workload::MultiRegion => &MRK_KEYS,
        };
        let (body, mut value) = if workload == Workload::MultiRegion {
            (
                json!({ "MultiRegion": true }),
                json!({ "description": "", "region": client.region() }),
            )
        } else {
            (json!({}), json!({ "description": "" }))
        };
        for name in names {
            let mut attempt = 0;
            let key_id = loop {
                attempt += 1;
                match client.call("CreateKey", &body).await {
                    Reply::Ok(v) => match str_at(&v, &["KeyMetadata", "KeyId"]) {
                        Some(id) => break id.to_string(),
                        None => bail!("setup CreateKey returned no KeyId: {v}"),
                    },
                    other => match classify_error(&other, true) {
                        Completion::Fail(e) if attempt < 20 => {
                            eprintln!("jl: setup CreateKey failed ({e}), retrying");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        outcome => bail!("setup CreateKey for {name}: {outcome:?}"),
                    },
                }
            };
            value["key_id"] = key_id.clone().into();
            recorder.record(
                Some(workload),
                Event {
                    index: 0,
                    time_ns: 0,
                    kind: EventType::Ok,
                    process: Process::Client(0),
                    node: Some(setup_node.to_string()),
                    f: "setup_key".into(),
                    key: Some((*name).to_string()),
                    value: value.clone(),
                    error: None,
                },
            )?;
            keys.insert((*name).to_string(), key_id);
        }
    }
    Ok(keys)
}

/// Clients of some nodes, with the nodes' names.
type NodeClients = Vec<(String, KmsClient)>;

/// The final phase: per-node reads of everything the workloads must still see.
async fn final_phase(
    shared: &Arc<Shared>,
    db: &Db,
    workloads: &[Workload],
    timeout: Duration,
) -> anyhow::Result<()> {
    let clients_of = |indices: Vec<usize>| {
        indices
            .into_iter()
            .map(|i| db.client(i, timeout).map(|c| (db.nodes[i].name.clone(), c)))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    // The single-region workloads' keys live in the first region.
    let first_region = clients_of(db.region_nodes(0))?;
    let other_regions = clients_of(
        (0..db.nodes.len())
            .filter(|&i| db.nodes[i].region_index != 0)
            .collect(),
    )?;
    // Every run ends with `final_list_keys` on every node: the final read of create-set and
    // big-keys (one listing each, on the first region's nodes), and otherwise the liveness
    // probe (`liveness` judges `final_*` ops except the final decrypts). Another region's
    // listings are given to a workload that ignores them, never to a set workload (its keys
    // are not there).
    let mut list_owners: Vec<Workload> = workloads
        .iter()
        .copied()
        .filter(|w| w.lists_keys())
        .collect();
    if list_owners.is_empty() {
        list_owners.push(workloads.first().copied().unwrap_or(Workload::KeyState));
    }
    let list = || {
        vec![Op {
            f: "final_list_keys",
            key: None,
            value: Value::Null,
        }]
    };
    let mut phases: Vec<(Workload, Vec<Op>, &NodeClients)> = list_owners
        .into_iter()
        .map(|owner| (owner, list(), &first_region))
        .collect();
    if let Some(&owner) = workloads.iter().find(|w| !w.lists_keys()) {
        if !other_regions.is_empty() {
            phases.push((owner, list(), &other_regions));
        }
    }
    for &workload in workloads {
        let ops: Vec<Op> = match workload {
            // Ordinary reads, judged by the register checker (a lost write with no later
            // read shows up here).
            Workload::KeyState => KEY_STATE_KEYS
                .iter()
                .map(|k| Op {
                    f: "describe_key",
                    key: Some((*k).to_string()),
                    value: Value::Null,
                })
                .collect(),
            Workload::CreateSet | Workload::BigKeys | Workload::MultiRegion => continue,
            Workload::Crypto => shared
                .recorder
                .events_for(Workload::Crypto)
                .iter()
                .filter(|e| e.f == "encrypt" && e.kind == EventType::Ok)
                .filter_map(|e| e.value.get("ciphertext_b64").cloned())
                .map(|blob| Op {
                    f: "final_decrypt",
                    key: Some(CRYPTO_KEY.to_string()),
                    value: json!({ "ciphertext_b64": blob }),
                })
                .collect(),
        };
        phases.push((workload, ops, &first_region));
    }
    for (workload, ops, clients) in phases {
        let ops = Arc::new(ops);
        // Per node, a few sequential lanes; one process number per lane.
        let mut tasks = tokio::task::JoinSet::new();
        for (name, client) in clients {
            for lane in 0..3usize {
                let (shared, ops, name, client) =
                    (shared.clone(), ops.clone(), name.clone(), client.clone());
                tasks.spawn(async move {
                    let mut process = shared.fresh_process();
                    for op in ops.iter().skip(lane).step_by(3) {
                        if perform(&shared, &client, &name, process, workload, op)
                            .await?
                            .info
                        {
                            process = shared.fresh_process();
                        }
                    }
                    anyhow::Ok(())
                });
            }
        }
        while let Some(result) = tasks.join_next().await {
            result.context("final-phase task")??;
        }
    }
    Ok(())
}

/// Whether `availability_during_pause` judges this run: it pauses nodes (`pause`,
/// `pause-leader`) and runs a single-region workload.
pub fn applies_availability_during_pause(options: &RunOptions) -> bool {
    options
        .faults
        .iter()
        .any(|f| matches!(f, Fault::Pause | Fault::PauseLeader))
        && options
            .workloads
            .iter()
            .any(|w| *w != Workload::MultiRegion)
}

/// `fault_coverage`: every requested nemesis kind was installed at least once.
pub fn check_fault_coverage(events: &[Event], faults: &[Fault]) -> CheckResult {
    let mut installed: BTreeMap<String, u64> = BTreeMap::new();
    let mut skipped: BTreeMap<String, u64> = BTreeMap::new();
    for event in events {
        if !matches!(event.process, Process::Nemesis(_)) {
            continue;
        }
        let Some(kind) = event.f.strip_prefix("start_") else {
            continue;
        };
        // Partitions are one event name; coverage counts each shape.
        let kind = match event.value["shape"].as_str() {
            Some(shape) => format!("{kind}_{}", shape.replace('-', "_")),
            None => kind.to_string(),
        };
        let bucket = if event.value["status"] == "installed" {
            &mut installed
        } else {
            &mut skipped
        };
        *bucket.entry(kind).or_default() += 1;
    }
    let missing: Vec<&str> = faults
        .iter()
        .filter(|f| !installed.contains_key(&f.coverage_name()))
        .map(|f| f.name())
        .collect();
    let verdict = if missing.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    CheckResult::new(
        "fault_coverage",
        verdict,
        json!({
            "requested": faults.iter().map(|f| f.name()).collect::<Vec<_>>(),
            "installed": installed,
            "skipped": skipped,
            "missing": missing,
        }),
    )
}

/// `logs`: no node log contains "panicked", and no node exited without being killed.
pub fn check_logs(nodes_dir: &Path, exits: &[UnexpectedExit]) -> CheckResult {
    let mut panics = Vec::new();
    let mut error_lines: BTreeMap<String, u64> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut panic_count = 0usize;
    let mut logs: Vec<PathBuf> = std::fs::read_dir(nodes_dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    for path in &logs {
        let node = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(bytes) = std::fs::read(path) else {
            unreadable.push(node);
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            if line.contains("panicked") {
                panic_count += 1;
                if panics.len() < checker::MAX_LISTED {
                    panics.push(json!({ "node": node, "line": line }));
                }
            }
            if line.contains(" ERROR ") {
                *error_lines.entry(node.clone()).or_default() += 1;
            }
        }
    }
    let verdict = if panic_count > 0 || !exits.is_empty() {
        Verdict::Invalid
    } else if !unreadable.is_empty() || logs.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    CheckResult::new(
        "logs",
        verdict,
        json!({
            "logs": logs.len(),
            "panics": panic_count,
            "first_panics": panics,
            "unexpected_exits": exits.iter().map(|e| json!({
                "node": e.node, "status": e.status, "at_s": e.at_s,
            })).collect::<Vec<_>>(),
            "error_lines": error_lines,
            "unreadable": unreadable,
        }),
    )
}

/// A check result with the workload it judged (`None` = the whole run).
#[derive(Debug, Clone)]
pub struct ScopedResult {
    /// The workload, or `None` for run-wide checks.
    pub workload: Option<Workload>,
    /// The result.
    pub result: CheckResult,
}

fn workload_checks(workload: Workload, events: &[Event], budget: Duration) -> Vec<CheckResult> {
    match workload {
        Workload::KeyState => vec![checker::key_state::check_key_state(events, budget)],
        Workload::CreateSet | Workload::BigKeys => checker::set_full::check_create_set(events),
        Workload::Crypto => checker::crypto::check_crypto(events),
        Workload::MultiRegion => checker::mrk::check_multi_region(events),
    }
}

/// Counts of completions per `f` and outcome.
pub fn stats(events: &[Event]) -> BTreeMap<String, BTreeMap<&'static str, u64>> {
    let mut stats: BTreeMap<String, BTreeMap<&'static str, u64>> = BTreeMap::new();
    for event in events {
        if !matches!(event.process, Process::Client(_)) {
            continue;
        }
        let outcome = match event.kind {
            EventType::Invoke => continue,
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        };
        *stats
            .entry(event.f.clone())
            .or_default()
            .entry(outcome)
            .or_default() += 1;
    }
    stats
}

fn timestamp_dir(parent: &Path) -> anyhow::Result<PathBuf> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = time::OffsetDateTime::now_utc().format(&format)?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    for n in 0..100 {
        let name = if n == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = parent.join(&name);
        if std::fs::create_dir(&dir).is_ok() {
            let latest = parent.join("latest");
            let _ = std::fs::remove_file(&latest);
            let _ = std::os::unix::fs::symlink(&name, &latest);
            return Ok(dir);
        }
    }
    bail!(
        "could not create a run directory under {}",
        parent.display()
    )
}

/// The store dir name of a run: `<workload>-<nemesis kinds joined by '+'>`.
pub fn test_name(options: &RunOptions) -> String {
    let nemesis = if options.faults.is_empty() {
        "none".to_string()
    } else {
        options
            .faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join("+")
    };
    format!("{}-{nemesis}", options.workload_arg)
}

/// Runs the whole test; the region is torn down before this returns (also on error).
pub async fn run(options: &RunOptions) -> anyhow::Result<RunSummary> {
    if options.concurrency < options.workloads.len() {
        bail!(
            "--concurrency {} is less than the number of workloads ({})",
            options.concurrency,
            options.workloads.len()
        );
    }
    if options.regions < 2 && options.workloads.contains(&Workload::MultiRegion) {
        bail!("--workload multi-region needs --regions 2");
    }
    if options.regions < 2 && options.faults.iter().any(|f| f.needs_regions()) {
        bail!("--nemesis region-split needs --regions 2");
    }
    let dir = timestamp_dir(&options.store.join(test_name(options)))?;
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    println!("jl: store {}", dir.display());
    println!("jl: rerun with: {}", options.command);
    let db = Db::start(
        &DbOptions {
            trent: options.trent.clone(),
            nodes: 3,
            regions: options.regions,
            snapshot_after_entries: options.snapshot_after_entries,
            planted_bug: options.planted_bug.clone(),
            start_timeout: Duration::from_secs(60),
            topology: options.topology,
        },
        &dir,
    )
    .await?;
    let db = Arc::new(db);
    // Ctrl-C: kill every node before exiting (the watcher holds no strong reference).
    let weak = Arc::downgrade(&db);
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            if let Some(db) = weak.upgrade() {
                db.teardown();
            }
            eprintln!("jl: interrupted; region torn down");
            std::process::exit(130);
        }
    });
    let outcome = drive(options, &db, &dir).await;
    db.teardown();
    watcher.abort();
    let (recorder, exits, recovery) = outcome?;
    let summary = finish(
        options,
        &dir,
        &recorder,
        &exits,
        recovery,
        &db.node_regions(),
    )?;
    if summary.verdict == Verdict::Valid && !options.keep_data {
        // ~75 MB of RocksDB per node; only a failing run's data is worth keeping.
        for node in &db.nodes {
            let _ = std::fs::remove_dir_all(&node.data_dir);
        }
    }
    Ok(summary)
}

type Driven = (Arc<Recorder>, Vec<UnexpectedExit>, Option<f64>);

/// Setup, main phase, heal, recovery, final phase.
async fn drive(options: &RunOptions, db: &Arc<Db>, dir: &Path) -> anyhow::Result<Driven> {
    let recorder = Arc::new(Recorder::create(&dir.join("history.jsonl"))?);
    let setup_client = db.client(0, options.final_timeout)?;
    let keys = setup(
        &recorder,
        &setup_client,
        &db.nodes[0].name,
        &options.workloads,
    )
    .await?;
    let root = Rng::new(options.seed);
    let counters = Arc::new(Counters::default());
    let deadline = Instant::now() + options.time;
    let shared = Arc::new(Shared {
        recorder: recorder.clone(),
        limiter: RateLimiter::new(options.rate),
        next_process: AtomicU64::new(options.concurrency as u64),
        keys,
        deadline,
        mrk_ciphertexts: Mutex::new(Vec::new()),
    });
    let exits = Arc::new(Mutex::new(Vec::new()));
    let prober = Prober {
        db: db.clone(),
        recorder: recorder.clone(),
        bound: options.catch_up_timeout,
        read_timeout: options.final_timeout,
    };
    let nemesis = Nemesis {
        db: db.clone(),
        recorder: recorder.clone(),
        rng: root.fork(u64::MAX),
        faults: options.faults.clone(),
        fault_window: options.fault_window,
        heal_window: options.heal_window,
        exits: exits.clone(),
        prober: prober.clone(),
    };
    let nemesis = tokio::spawn(nemesis.run(deadline));
    let mut workers = tokio::task::JoinSet::new();
    // Single-region workloads use the first region's nodes (all of them with one region).
    let first_region = db.region_nodes(0);
    for id in 0..options.concurrency {
        let (w, n) = assignment(id, options.workloads.len(), first_region.len());
        let workload = options.workloads[w];
        let generator = Generator::new(workload, root.fork(id as u64), counters.clone());
        if workload == Workload::MultiRegion {
            // Node n of the first region, node n+1 of the second, ...: one client per region.
            let mut clients = Vec::new();
            for region in 0..db.regions.len() {
                let members = db.region_nodes(region);
                let index = members[(n + region) % members.len()];
                clients.push((
                    db.nodes[index].name.clone(),
                    db.client(index, options.request_timeout)?,
                ));
            }
            workers.spawn(crate::multi_region::worker(
                shared.clone(),
                id,
                clients,
                generator,
            ));
            continue;
        }
        let index = first_region[n];
        let node = &db.nodes[index];
        let client = db.client(index, options.request_timeout)?;
        workers.spawn(worker(
            shared.clone(),
            id,
            workload,
            node.name.clone(),
            client,
            generator,
        ));
    }
    println!(
        "jl: {} workers, {} ops/s, {:?} of faults {:?}",
        options.concurrency,
        options.rate,
        options.time,
        options.faults.iter().map(|f| f.name()).collect::<Vec<_>>()
    );
    while let Some(result) = workers.join_next().await {
        result.context("worker task")??;
    }
    let mut probes = nemesis.await.context("nemesis task")??;
    // Final heal and recovery, while every node's catch-up is measured.
    let healed_at = Instant::now();
    db.heal_all()?;
    let (healthy, probed) = tokio::join!(
        db.wait_healthy(options.recovery_timeout),
        prober.final_probes(healed_at)
    );
    probed?;
    let recovery = match healthy {
        Ok(()) => Some(healed_at.elapsed().as_secs_f64()),
        Err(e) => {
            eprintln!("jl: region did not recover: {e:#}");
            None
        }
    };
    if let Some(seconds) = recovery {
        println!("jl: healed; region serving again after {seconds:.2}s; final reads");
    }
    final_phase(&shared, db, &options.workloads, options.final_timeout).await?;
    if options.workloads.contains(&Workload::MultiRegion) {
        crate::multi_region::final_phase(&shared, db, options).await?;
    }
    // The nemesis' last probes (bounded by --catch-up-timeout).
    while let Some(result) = probes.join_next().await {
        result.context("catch-up probe")??;
    }
    let crashed = db.reap_crashed();
    let mut exits: Vec<UnexpectedExit> = exits
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let at_s = recorder.elapsed().as_secs_f64();
    exits.extend(
        crashed
            .into_iter()
            .map(|(node, status)| UnexpectedExit { node, status, at_s }),
    );
    Ok((recorder, exits, recovery))
}

/// Checks, results.json, report.html and the verdict table. `regions`: node name -> region.
fn finish(
    options: &RunOptions,
    dir: &Path,
    recorder: &Recorder,
    exits: &[UnexpectedExit],
    recovery: Option<f64>,
    regions: &BTreeMap<String, String>,
) -> anyhow::Result<RunSummary> {
    let events = recorder.events();
    let mut results: Vec<ScopedResult> = Vec::new();
    for &workload in &options.workloads {
        let scoped = recorder.events_for(workload);
        for result in workload_checks(workload, &scoped, options.check_budget) {
            results.push(ScopedResult {
                workload: Some(workload),
                result,
            });
        }
    }
    let mut run_wide = vec![
        checker::liveness::check_liveness(&events),
        checker::catch_up::check_catch_up(
            &events,
            &checker::catch_up::CatchUpOptions {
                expect_snapshot_bytes: options.expect_snapshot_bytes,
            },
        ),
    ];
    if applies_availability_during_pause(options) {
        // The single-region workloads' operations (multi-region ones wait for the other
        // region by design) and the nemesis events.
        run_wide.push(checker::availability::check_availability_during_pause(
            &recorder.events_except(Workload::MultiRegion),
            &checker::availability::PauseOptions {
                grace: crate::db::failover_grace(),
                max_latency: options.failover_latency,
                regions: regions.clone(),
            },
        ));
    }
    run_wide.push(check_fault_coverage(&events, &options.faults));
    run_wide.push(check_logs(&dir.join("nodes"), exits));
    for result in run_wide {
        results.push(ScopedResult {
            workload: None,
            result,
        });
    }
    let plain: Vec<CheckResult> = results.iter().map(|r| r.result.clone()).collect();
    let verdict = checker::combine(&plain);
    let results_json = json!({
        "verdict": verdict,
        "exit_code": verdict.exit_code(),
        "command": options.command,
        "seed": options.seed,
        "workloads": options.workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
        "nemesis": options.faults.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "time_s": options.time.as_secs_f64(),
        "concurrency": options.concurrency,
        "rate": options.rate,
        "mode": options.topology.name(),
        "regions": options.regions,
        "recovery_s": recovery,
        "events": events.len(),
        "stats": stats(&events),
        "checks": results.iter().map(|r| json!({
            "workload": r.workload.map(Workload::name),
            "name": r.result.name,
            "verdict": r.result.verdict,
            "details": r.result.details,
        })).collect::<Vec<_>>(),
    });
    let path = dir.join("results.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&results_json)?)
        .with_context(|| format!("writing {}", path.display()))?;
    let mode = mode_description(options);
    let report = crate::report::render(&crate::report::ReportInput {
        title: &test_name(options),
        mode: &mode,
        command: &options.command,
        events: &events,
        results: &results,
        verdict,
        recovery_s: recovery,
    });
    let report_path = dir.join("report.html");
    std::fs::write(&report_path, report)
        .with_context(|| format!("writing {}", report_path.display()))?;
    print_table(&results, verdict);
    println!("jl: results {}", path.display());
    println!("jl: report  {}", report_path.display());
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        verdict,
    })
}

/// The topology in words, for the report.
fn mode_description(options: &RunOptions) -> String {
    let placement = match options.topology {
        Topology::Loopback => "loopback: local trent processes on 127.0.0.1",
        Topology::Netns => "netns: one network namespace per trent process",
    };
    if options.regions > 1 {
        format!(
            "{placement}; {} linked regions of 3 nodes (us-east-1: e1-e3, us-west-2: w1-w3)",
            options.regions
        )
    } else {
        format!("{placement}; one region of 3 nodes (n1-n3)")
    }
}

/// A one-line summary of a result's details for the table.
pub fn summary(result: &CheckResult) -> String {
    let Some(map) = result.details.as_object() else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (key, value) in map {
        let shown = match value {
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::String(s) if s.len() <= 40 => s.clone(),
            Value::Array(a) if a.is_empty() => continue,
            Value::Array(a) => format!("[{}]", a.len()),
            _ => continue,
        };
        parts.push(format!("{key}={shown}"));
    }
    let mut line = parts.join(" ");
    if line.len() > 100 {
        let cut = (0..=100)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        line.truncate(cut);
        line.push('…');
    }
    line
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Valid => "valid",
        Verdict::Invalid => "INVALID",
        Verdict::Unknown => "unknown",
    }
}

fn print_table(results: &[ScopedResult], verdict: Verdict) {
    println!();
    println!(
        "{:<12} {:<25} {:<8} summary",
        "workload", "check", "verdict"
    );
    println!("{}", "-".repeat(90));
    for r in results {
        println!(
            "{:<12} {:<25} {:<8} {}",
            r.workload.map_or("run", Workload::name),
            r.result.name,
            verdict_name(r.result.verdict),
            summary(&r.result)
        );
    }
    println!("{}", "-".repeat(90));
    println!(
        "verdict: {} (exit {})",
        verdict_name(verdict),
        verdict.exit_code()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nemesis_event(f: &str, status: &str) -> Event {
        Event {
            index: 0,
            time_ns: 0,
            kind: EventType::Info,
            process: Process::Nemesis("nemesis".into()),
            node: None,
            f: f.into(),
            key: None,
            value: json!({ "nodes": ["n1"], "status": status }),
            error: None,
        }
    }

    #[test]
    fn assignment_spreads_each_workload_over_the_nodes() {
        let mut seen: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for w in 0..6 {
            let (workload, node) = assignment(w, 3, 3);
            seen.entry(workload).or_default().push(node);
        }
        for nodes in seen.values() {
            assert_eq!(nodes.len(), 2);
            assert_ne!(nodes[0], nodes[1]);
        }
        let single: Vec<usize> = (0..6).map(|w| assignment(w, 1, 3).1).collect();
        assert_eq!(single, vec![0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn coverage_needs_every_requested_kind_installed() {
        let events = vec![
            nemesis_event("start_kill", "installed"),
            nemesis_event("stop_kill", "installed"),
            nemesis_event("start_kill_leader", "skipped"),
        ];
        let result = check_fault_coverage(&events, &[Fault::Kill]);
        assert_eq!(result.verdict, Verdict::Valid);
        let result = check_fault_coverage(&events, &[Fault::Kill, Fault::KillLeader]);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["missing"], json!(["kill-leader"]));
    }

    #[test]
    fn logs_with_a_panic_or_an_exit_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("n1.log"), "INFO fine\n").unwrap();
        assert_eq!(check_logs(dir.path(), &[]).verdict, Verdict::Valid);
        let exit = UnexpectedExit {
            node: "n1".into(),
            status: "exit status: 1".into(),
            at_s: 1.0,
        };
        assert_eq!(check_logs(dir.path(), &[exit]).verdict, Verdict::Invalid);
        std::fs::write(
            dir.path().join("n2.log"),
            "thread 'main' panicked at src/x.rs:1:1\n",
        )
        .unwrap();
        let result = check_logs(dir.path(), &[]);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["panics"], 1);
    }

    #[tokio::test]
    async fn recorder_stamps_indices_and_splits_by_workload() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::create(&dir.path().join("h.jsonl")).unwrap();
        let mut e = nemesis_event("start_kill", "installed");
        recorder.record(None, e.clone()).unwrap();
        e.process = Process::Client(1);
        e.f = "create_key".into();
        recorder
            .record(Some(Workload::CreateSet), e.clone())
            .unwrap();
        e.f = "encrypt".into();
        recorder.record(Some(Workload::Crypto), e).unwrap();
        let all = recorder.events();
        assert_eq!(
            all.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(all.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        let crypto = recorder.events_for(Workload::Crypto);
        assert_eq!(
            crypto.iter().map(|e| e.f.as_str()).collect::<Vec<_>>(),
            vec!["start_kill", "encrypt"]
        );
        let on_disk = crate::history::read(&dir.path().join("h.jsonl")).unwrap();
        assert_eq!(on_disk, all);
    }
}
