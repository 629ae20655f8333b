//! What the console learns from its node rather than through KMS calls: the IAM principals it
//! may offer in the wizard, every region's API endpoints, the health of every region's nodes,
//! and the audit events this node recorded for a key. The node implements [`NodeView`].

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// A future the node returns to the console.
pub type NodeFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One node as the cluster page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    /// The node's API endpoint.
    pub endpoint: String,
    /// `leader`, `follower`, `sealed` or `unreachable`.
    pub role: String,
    /// The Raft term, when the node answered unsealed.
    pub term: Option<i64>,
    /// The leader's node id as this node sees it (-1: none).
    pub leader_id: Option<i64>,
    /// The last applied log index.
    pub applied: Option<i64>,
    /// The keys in the region, as this node counts them.
    pub keys: Option<i64>,
    /// On a leader: each follower's lag in entries (`node=entries,...`).
    pub lag: Option<String>,
    /// Why the node is unreachable, when it is.
    pub problem: Option<String>,
}

/// One region as the cluster page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionHealth {
    /// The region's name.
    pub region: String,
    /// `healthy`, or what is wrong.
    pub verdict: String,
    /// Its nodes.
    pub nodes: Vec<NodeHealth>,
}

/// The node's side of the console.
pub trait NodeView: Send + Sync + 'static {
    /// The ARNs of the IAM users and roles of `account` that the node knows.
    fn known_principals(&self, account: &str) -> Vec<String>;

    /// Every region's API endpoints, this region's included.
    fn region_endpoints(&self) -> BTreeMap<String, Vec<String>>;

    /// Every region's nodes, asked now.
    fn cluster(&self) -> NodeFuture<'_, Vec<RegionHealth>>;

    /// Up to `limit` of the newest audit events this node recorded for the key `key_arn`,
    /// newest first.
    fn audit_events(&self, key_arn: &str, limit: usize) -> NodeFuture<'_, Vec<Value>>;
}

/// A node that knows nothing beyond its own API: for router tests.
pub struct Alone;

impl NodeView for Alone {
    fn known_principals(&self, _account: &str) -> Vec<String> {
        Vec::new()
    }

    fn region_endpoints(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::new()
    }

    fn cluster(&self) -> NodeFuture<'_, Vec<RegionHealth>> {
        Box::pin(async { Vec::new() })
    }

    fn audit_events(&self, _key_arn: &str, _limit: usize) -> NodeFuture<'_, Vec<Value>> {
        Box::pin(async { Vec::new() })
    }
}
