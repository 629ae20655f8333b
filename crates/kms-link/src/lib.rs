//! The authenticated, encrypted channels inside Trent (Raft between a region's nodes, the link
//! between regions): mutual TLS (rustls with kms-crypto's provider) where each node's
//! certificate names its region and node id, reloadable certificates, a deny-list of revoked
//! nodes, plus a generator for a local PKI. Failures are an [`Error`].
//!
//! Architecture invariant: this crate knows nothing of KMS, Raft or key material; it only
//! establishes who is on the other end of a connection ([`PeerInfo`] on the server,
//! the expected region on the client, see [`client_for_region`]).
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
pub mod pki;
pub mod tls;

pub use error::{Error, Result};
pub use pki::{generate_local_pki, PkiLayout, RegionNodes};
pub use tls::{
    client_for_region, pinned_client, server_config, DenyList, LinkIdentity, PeerInfo, TlsListener,
};
