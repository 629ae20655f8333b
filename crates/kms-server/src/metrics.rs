//! The node's `/metrics` endpoint, in Prometheus's text format: KMS requests by operation and
//! outcome with their latency, and, read at scrape time, this node's Raft view (term, leader,
//! log and applied index, replication lag per follower when it leads), the region's key count,
//! the cross-region outbox depth per peer region, the key uses not yet recorded, and whether
//! the node is sealed.
//!
//! Labels never carry key ids, principals or request contents: only operation names, AWS error
//! codes, node ids and region names.

use crate::seal_state::SealGate;
use crate::service::Kms;
use kms_api::{RequestObserver, RequestRecord};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabel {
    node: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RegionLabel {
    region: String,
}

/// What this node runs: the release, and the versions of its wires and of its store's format.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    raft_wire: String,
    link_wire: String,
    store_format: String,
}

/// The node's metrics. Request metrics are fed by [`RequestObserver::observe`]; the rest is read
/// when scraped.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<OperationLabel, Histogram>,
    term: Gauge,
    leader: Gauge,
    is_leader: Gauge,
    last_log_index: Gauge,
    last_applied_index: Gauge,
    snapshot_index: Gauge,
    replication_lag: Family<NodeLabel, Gauge>,
    keys: Gauge,
    outbox: Family<RegionLabel, Gauge>,
    pending_key_uses: Gauge,
    sealed: Gauge,
    build: Family<BuildLabels, Gauge>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to about 13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    /// Registers every metric under the `trent_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("trent");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "kms_requests",
            "KMS requests answered, by operation and outcome (OK or the AWS error code)",
            requests.clone(),
        );
        let latency = Family::<OperationLabel, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "kms_request_duration_seconds",
            "Time to answer a KMS request, by operation",
            latency.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let term = gauge(&mut registry, "raft_term", "This node's current Raft term");
        let leader = gauge(
            &mut registry,
            "raft_leader",
            "The node id this node believes leads the region (-1: none)",
        );
        let is_leader = gauge(
            &mut registry,
            "raft_is_leader",
            "1 if this node leads the region",
        );
        let last_log_index = gauge(
            &mut registry,
            "raft_last_log_index",
            "The last index in this node's Raft log",
        );
        let last_applied_index = gauge(
            &mut registry,
            "raft_last_applied_index",
            "The last log index this node applied",
        );
        let snapshot_index = gauge(
            &mut registry,
            "raft_snapshot_index",
            "The log index of this node's latest snapshot",
        );
        let replication_lag = Family::<NodeLabel, Gauge>::default();
        registry.register(
            "raft_replication_lag_entries",
            "On the leader: entries each follower is behind the leader's log",
            replication_lag.clone(),
        );
        let keys = gauge(
            &mut registry,
            "keys",
            "Keys in the region, as this node applied them",
        );
        let outbox = Family::<RegionLabel, Gauge>::default();
        registry.register(
            "outbox_depth",
            "Cross-region messages not yet acknowledged, by receiving region",
            outbox.clone(),
        );
        let pending_key_uses = gauge(
            &mut registry,
            "pending_key_uses",
            "Key uses this node served that are not yet recorded for GetKeyLastUsage",
        );
        let sealed = gauge(
            &mut registry,
            "sealed",
            "1 while this node is sealed (its root key not yet unsealed)",
        );
        let build = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "1, labelled with the release and the Raft wire, link wire and store format versions \
             this node speaks",
            build.clone(),
        );
        Metrics {
            sealed,
            build,
            registry,
            requests,
            latency,
            term,
            leader,
            is_leader,
            last_log_index,
            last_applied_index,
            snapshot_index,
            replication_lag,
            keys,
            outbox,
            pending_key_uses,
        }
    }

    /// Records the wire versions this node speaks and its store's format (its release is this
    /// build's), as `trent_build_info`.
    pub fn set_build(&self, raft_wire: u32, link_wire: u32, store_format: u32) {
        self.build.clear();
        self.build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                raft_wire: raft_wire.to_string(),
                link_wire: link_wire.to_string(),
                store_format: store_format.to_string(),
            })
            .set(1);
    }

    /// Reads the node's current view into the gauges (while sealed, only `sealed` and the
    /// request metrics) and encodes everything.
    pub fn render(&self, gate: &SealGate) -> String {
        self.sealed.set(i64::from(gate.kms().is_none()));
        if let Some(kms) = gate.kms() {
            self.read_node(kms);
        }
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text = "# the metrics could not be encoded\n".into();
        }
        text
    }

    fn read_node(&self, kms: &Kms) {
        let raft = kms.raft_metrics();
        let signed = |v: Option<u64>| v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX));
        self.term.set(signed(Some(raft.current_term)));
        self.leader.set(signed(raft.current_leader));
        self.is_leader
            .set(i64::from(raft.current_leader == Some(raft.id)));
        self.last_log_index.set(signed(raft.last_log_index));
        self.last_applied_index
            .set(signed(raft.last_applied.map(|l| l.index)));
        self.snapshot_index
            .set(signed(raft.snapshot.map(|l| l.index)));
        self.replication_lag.clear();
        if let (Some(replication), Some(last)) = (&raft.replication, raft.last_log_index) {
            for (node, matched) in replication {
                if *node == raft.id {
                    continue;
                }
                let behind = last.saturating_sub(matched.map_or(0, |l| l.index));
                self.replication_lag
                    .get_or_create(&NodeLabel {
                        node: node.to_string(),
                    })
                    .set(signed(Some(behind)));
            }
        }
        // Every peer region has a series, 0 while nothing waits for it.
        let peers: Vec<String> = kms
            .replication()
            .map(|r| r.link().peer_regions().map(str::to_string).collect())
            .unwrap_or_default();
        let (keys, outbox) = kms.read_applied(|state| {
            let mut depth: BTreeMap<String, i64> =
                peers.into_iter().map(|peer| (peer, 0)).collect();
            for (_, entry) in state.outbox() {
                *depth.entry(entry.to_region.clone()).or_default() += 1;
            }
            (state.key_count(), depth)
        });
        self.keys.set(i64::try_from(keys).unwrap_or(i64::MAX));
        self.outbox.clear();
        for (region, depth) in outbox {
            self.outbox
                .get_or_create(&RegionLabel { region })
                .set(depth);
        }
        self.pending_key_uses
            .set(i64::try_from(kms.key_uses().pending_count()).unwrap_or(i64::MAX));
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl RequestObserver for Metrics {
    fn request_params(&self, _request: &kms_types::KmsRequest) -> serde_json::Value {
        serde_json::Value::Null
    }

    fn observe(&self, record: RequestRecord<'_>) {
        let operation = record
            .operation
            .map_or("unknown", |op| op.name())
            .to_string();
        let outcome = record.error.map_or("OK", |e| e.aws_code()).to_string();
        self.requests
            .get_or_create(&RequestLabels {
                operation: operation.clone(),
                outcome,
            })
            .inc();
        self.latency
            .get_or_create(&OperationLabel { operation })
            .observe(record.elapsed.as_secs_f64());
    }
}

/// Tells every observer in turn (the audit trail and the metrics).
pub struct Observers(pub Vec<Arc<dyn RequestObserver>>);

impl RequestObserver for Observers {
    fn request_params(&self, request: &kms_types::KmsRequest) -> serde_json::Value {
        // Only the audit trail keeps request members; the first observer decides.
        self.0
            .first()
            .map_or(serde_json::Value::Null, |o| o.request_params(request))
    }

    fn observe(&self, record: RequestRecord<'_>) {
        for observer in &self.0 {
            observer.observe(record.clone());
        }
    }
}

/// `GET /metrics`.
pub fn router(gate: Arc<SealGate>, metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let body = metrics.render(&gate);
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
            }
        }),
    )
}
