//! The authenticated, encrypted channel between regions: mutual TLS (rustls with kms-crypto's
//! provider) where each region's certificate names the region, plus a generator for a local
//! PKI. Failures are an [`Error`].
//!
//! Architecture invariant: this crate knows nothing of KMS, Raft or key material; it only
//! establishes who is on the other end of a connection ([`PeerInfo::region`] on the server,
//! the expected region on the client, see [`client_for_region`]).
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod error;
pub mod pki;
pub mod tls;

pub use error::{Error, Result};
pub use pki::generate_local_pki;
pub use tls::{client_for_region, server_config, LinkIdentity, PeerInfo, TlsListener};
