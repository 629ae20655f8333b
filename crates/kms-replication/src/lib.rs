//! Replication between regions: everything that crosses from one region's Raft group to
//! another's.
//!
//! - [`link`]: the sending side (mutual-TLS clients to every peer region, sealing material to
//!   the receiver, delivery of outbox messages, forwarding of requests signed for another
//!   region).
//! - [`link_server`]: the receiving side, on the mutual-TLS listener.
//! - [`shipper`]: the leader's outbox delivery, one task per peer region.
//! - [`multi_region`]: ReplicateKey and UpdatePrimaryRegion.
//!
//! The crate reaches the region's KMS service only through the [`Region`] trait: commit a
//! command, read the state, wrap and unwrap material with the region's root key (which never
//! leaves the service), run a forwarded KMS call (the service verifies the caller's signature in it). It knows no SigV4, no authorization and no
//! storage.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod link;
pub mod link_server;
pub mod multi_region;
pub mod shipper;

pub use link::{Envelope, ForwardedCall, LinkError, RegionLink};

use kms_core::{Command, CommandOutput, State};
use kms_crypto::KeyMaterial;
use kms_link::tls::PeerInfo;
use kms_types::KmsError;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Notify;

/// What replication needs from the KMS service of this region.
pub trait Region: Send + Sync + 'static {
    /// This region's name.
    fn region(&self) -> &str;
    /// The node's default account (each key names its own account).
    fn account_id(&self) -> &str;
    /// The node's clock, milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// Whether this node leads the region's Raft group.
    fn is_leader(&self) -> bool;
    /// Commits a command through the region's Raft group and returns its output.
    fn commit(
        &self,
        command: Command,
    ) -> impl Future<Output = Result<CommandOutput, KmsError>> + Send;
    /// Waits until this node has applied everything committed before the call (a
    /// linearizable read barrier).
    fn barrier(&self) -> impl Future<Output = Result<(), KmsError>> + Send;
    /// Runs `f` on this node's applied state (no barrier).
    fn read_applied<R>(&self, f: impl FnOnce(&State) -> R) -> R;
    /// Unwraps material of `key_id` wrapped with this region's root key.
    fn unwrap_material(
        &self,
        key_id: &str,
        material_id: &str,
        wrapped: &[u8],
    ) -> Result<KeyMaterial, KmsError>;
    /// Wraps material of `key_id` with this region's root key.
    fn wrap_material(&self, key_id: &str, material_id: &str, material: &KeyMaterial) -> Vec<u8>;
    /// Wipes this region's state through Raft (a peer's reset for test suites); refused where
    /// reset is switched off.
    fn reset(&self) -> impl Future<Output = Result<(), KmsError>> + Send;
    /// Applies this region's seed again after [`Region::reset`].
    fn reseed(&self) -> impl Future<Output = ()> + Send;
    /// Runs a KMS request that a peer region's node received, signed for this region, after
    /// verifying the caller's signature in it; `from` is the peer as its certificate names it.
    fn call_forwarded(
        &self,
        from: &PeerInfo,
        call: ForwardedCall,
    ) -> impl Future<Output = Result<serde_json::Value, KmsError>> + Send;
}

/// This region's end of replication: the link to the peers and the shippers' wake-up.
pub struct Replication {
    link: Arc<RegionLink>,
    wake: Arc<Notify>,
}

impl Replication {
    /// Replication over `link`.
    pub fn new(link: RegionLink) -> Replication {
        Replication {
            link: Arc::new(link),
            wake: Arc::new(Notify::new()),
        }
    }

    /// The link to the peer regions.
    pub fn link(&self) -> &RegionLink {
        &self.link
    }

    /// Wakes the shippers (a command queued a message).
    pub fn wake_shippers(&self) {
        self.wake.notify_waiters();
    }

    /// Starts the outbox shippers, one task per peer region.
    pub fn spawn_shippers<R: Region>(&self, region: Arc<R>) -> Vec<tokio::task::JoinHandle<()>> {
        shipper::spawn(region, self.link.clone(), self.wake.clone())
    }

    /// The router of the inter-region listener.
    pub fn router<R: Region>(&self, region: Arc<R>) -> axum::Router {
        link_server::router(region, self.link.clone())
    }

    /// Runs a request signed for `to_region` in that region.
    pub async fn forward(
        &self,
        to_region: &str,
        call: ForwardedCall,
    ) -> Result<serde_json::Value, KmsError> {
        self.link.forward(to_region, call).await
    }
}
