//! Running ops (Jepsen's interpreter, client side): the state every worker shares, one rate
//! limiter for all of them (`--rate` ops/s in total), and `perform`: record the invoke, run
//! the op (`workload::ops` or `workload::mrk_ops`), record the completion.

use super::{mrk_ops, ops};
use crate::client::{Completion, KmsClient};
use crate::generator::{Op, Workload};
use crate::history::{Event, EventType, Process};
use crate::recorder::Recorder;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Spaces ops so the total rate is at most `rate` per second.
pub(crate) struct RateLimiter {
    interval: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(rate: f64) -> RateLimiter {
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
    /// The shared state of `concurrency` workers (process numbers `0..concurrency` are theirs)
    /// running until `deadline` at `rate` ops/s in total against the setup `keys`.
    pub(crate) fn new(
        recorder: Arc<Recorder>,
        rate: f64,
        concurrency: usize,
        keys: HashMap<String, String>,
        deadline: Instant,
    ) -> Shared {
        Shared {
            recorder,
            limiter: RateLimiter::new(rate),
            next_process: AtomicU64::new(concurrency as u64),
            keys,
            deadline,
            mrk_ciphertexts: Mutex::new(Vec::new()),
        }
    }

    /// A process number no worker has used yet.
    pub(crate) fn fresh_process(&self) -> u64 {
        self.next_process.fetch_add(1, Ordering::Relaxed)
    }

    /// Waits for this worker's next rate-limiter slot; false once the slot falls past the
    /// deadline (the worker's main loop then ends).
    pub(crate) async fn next_slot(&self) -> bool {
        let slot = self.limiter.slot();
        if slot >= self.deadline {
            return false;
        }
        tokio::time::sleep_until(slot.into()).await;
        true
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
    // `final_list_keys` (the liveness probe) is the same op for every workload.
    let completion = match workload {
        Workload::MultiRegion if op.f != ops::F_FINAL_LIST_KEYS => {
            mrk_ops::execute(client, op, &shared.keys).await
        }
        _ => ops::execute(client, workload, op, &shared.keys).await,
    };
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
