//! The node's side of the web console ([`kms_console::node_view::NodeView`]): the IAM
//! principals of the identities file, every region's API endpoints from the node config, a
//! survey of every region's nodes (`cluster_status`), and the key's events in this node's audit
//! trail.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kms_authz::identities::IdentityStore;
use kms_console::node_view::{NodeFuture, NodeHealth, NodeView, RegionHealth};
use serde_json::Value;

use crate::cluster_status::{self, Target};

/// How long the cluster page waits for one node.
const NODE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a node shows its console.
pub(crate) struct ConsoleNode {
    pub(crate) identities: Arc<IdentityStore>,
    /// Region to API endpoints; just this node when the config names none.
    pub(crate) region_endpoints: BTreeMap<String, Vec<String>>,
    pub(crate) audit_path: PathBuf,
}

impl NodeView for ConsoleNode {
    fn known_principals(&self, account: &str) -> Vec<String> {
        self.identities.principal_arns(account)
    }

    fn region_endpoints(&self) -> BTreeMap<String, Vec<String>> {
        self.region_endpoints.clone()
    }

    fn cluster(&self) -> NodeFuture<'_, Vec<RegionHealth>> {
        Box::pin(async move {
            let targets = self
                .region_endpoints
                .iter()
                .flat_map(|(region, endpoints)| {
                    endpoints.iter().map(|endpoint| Target {
                        region: region.clone(),
                        endpoint: endpoint.clone(),
                    })
                })
                .collect();
            let Ok(regions) = cluster_status::survey(targets, NODE_TIMEOUT).await else {
                return Vec::new();
            };
            regions
                .into_iter()
                .map(|(region, survey)| RegionHealth {
                    region,
                    verdict: if survey.problems.is_empty() {
                        "healthy".into()
                    } else {
                        format!("not healthy: {}", survey.problems.join("; "))
                    },
                    nodes: survey
                        .views
                        .iter()
                        .map(|v| NodeHealth {
                            endpoint: v.endpoint().to_string(),
                            role: v.role().to_string(),
                            term: v.metric("trent_raft_term"),
                            leader_id: v.metric("trent_raft_leader"),
                            applied: v.metric("trent_raft_last_applied_index"),
                            keys: v.metric("trent_keys"),
                            lag: (v.role() == "leader")
                                .then(|| v.family("trent_raft_replication_lag_entries")),
                            problem: v.unreachable().map(str::to_string),
                        })
                        .collect(),
                })
                .collect()
        })
    }

    fn audit_events(&self, key_arn: &str, limit: usize) -> NodeFuture<'_, Vec<Value>> {
        let path = self.audit_path.clone();
        let filter = kms_audit::Filter {
            key: Some(key_arn.to_string()),
            ..kms_audit::Filter::default()
        };
        Box::pin(async move {
            // The whole trail is read (the query reads forward); off the async workers.
            let events = tokio::task::spawn_blocking(move || kms_audit::query(&path, &filter))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
            events
                .iter()
                .rev()
                .take(limit)
                .filter_map(|e| serde_json::to_value(e).ok())
                .collect()
        })
    }
}
