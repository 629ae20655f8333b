//! Learns the STS session key this region shares with each linked peer region, so sessions
//! made here hold an entry the peer can open, and the peer's sessions open here
//! (`kms_authz::session_token`). The key comes from the peer's transport public key, fetched
//! over the mutually authenticated link; until a peer answers, tokens made here do not
//! include it, and the task tries again every second.

use std::sync::Arc;
use std::time::Duration;

use kms_authz::IdentityStore;
use kms_crypto::RootKey;
use kms_replication::{RegionLink, Replication};

const RETRY: Duration = Duration::from_secs(1);

/// Runs until every peer region's key is known.
pub async fn learn(replication: Arc<Replication>, identities: Arc<IdentityStore>) {
    let link = replication.link();
    let mut missing: Vec<String> = link.peer_regions().map(str::to_string).collect();
    let mut first_round = true;
    while !missing.is_empty() {
        let mut still = Vec::new();
        for peer in missing {
            match shared_key(link, &peer).await {
                Ok(key) => {
                    identities.add_peer_session_key(&peer, key);
                    tracing::info!(peer = %peer, "STS sessions now open in the peer region");
                }
                Err(e) => {
                    if first_round {
                        tracing::info!(peer = %peer, error = %e, "no STS session key for the peer region yet; retrying");
                    }
                    still.push(peer);
                }
            }
        }
        missing = still;
        first_round = false;
        if !missing.is_empty() {
            tokio::time::sleep(RETRY).await;
        }
    }
}

/// The session key this region shares with `peer`, from the peer's transport public key.
async fn shared_key(link: &RegionLink, peer: &str) -> Result<RootKey, String> {
    let public = link
        .transport_public(peer)
        .await
        .map_err(|e| e.to_string())?;
    link.transport_key()
        .peer_session_key(link.region(), peer, &public)
        .map_err(|e| e.to_string())
}
