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
/// For tools that read `/raft/status` with the operator certificate
/// ([`Topology::operator_identity`]).
pub use kms_link::{client_for_region, LinkIdentity};
pub use node::{
    is_account_id, is_loopback_addr, parse_credentials, ApiTls, Credential, CustomKeyStores,
    LinkConfig, NodeConfig, RaftTls, RaftTuning, DEFAULT_ACCOUNT_ID,
};
pub use ports::{free_loopback_addrs, free_port};
pub use topology::{prepare_softhsm_seal, NodeAddrs, NodePlan, RegionPlan, Topology, WrittenNode};
