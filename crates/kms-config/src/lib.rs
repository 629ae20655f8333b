//! Trent's configuration: the node config file `trent serve` reads ([`node`]), the topology
//! writer that produces every node's config of a cluster with its keys and local PKI
//! ([`topology`]), the `cluster.json` that describes a running cluster to tools
//! ([`cluster_file`]), and free loopback ports for test clusters ([`ports`]).
//!
//! Every launcher (`trent up`, the integration-test fixtures, jepsen-lite, trent-bench) writes
//! configs through [`Topology::write`], so the server parses exactly the types written here.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod cluster_file;
pub mod node;
pub mod ports;
pub mod topology;

pub use cluster_file::ClusterFile;
pub use node::{
    is_account_id, parse_credentials, ApiTls, Credential, LinkConfig, NodeConfig, RaftTls,
    RaftTuning, DEFAULT_ACCOUNT_ID,
};
pub use ports::{free_loopback_addrs, free_port};
pub use topology::{NodeAddrs, NodePlan, RegionPlan, Topology, WrittenNode};
