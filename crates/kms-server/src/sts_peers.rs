//! Learns the STS session key this region shares with each linked peer region, so sessions
//! made here hold an entry the peer can open, and the peer's sessions open here
//! (`kms_authz::session_token`). The key comes from the peer's transport public key, fetched
//! over the mutually authenticated link; until a peer answers, tokens made here do not
//! include it, and the task tries again every second.

use std::sync::Arc;
use std::time::Duration;

use kms_authz::IdentityStore;
use kms_replication::Replication;

const RETRY: Duration = Duration::from_secs(1);

/// Runs until every peer region's key is known.
pub async fn learn(replication: Arc<Replication>, identities: Arc<IdentityStore>) {
    let link = replication.link();
    let mut missing: Vec<String> = link.peer_regions().map(str::to_string).collect();
    let mut warned = false;
    while !missing.is_empty() {
        let mut still = Vec::new();
        for peer in missing {
            match link.transport_public(&peer).await {
                Ok(public) => {
                    match link
                        .transport_key()
                        .peer_session_key(link.region(), &peer, &public)
                    {
                        Ok(key) => {
                            identities.add_peer_session_key(&peer, key);
                            tracing::info!(peer = %peer, "STS sessions now open in the peer region");
                        }
                        Err(e) => {
                            tracing::error!(peer = %peer, error = %e, "the peer's transport key is unusable");
                            still.push(peer);
                        }
                    }
                }
                Err(e) => {
                    if !warned {
                        tracing::info!(peer = %peer, error = %e, "cannot reach the peer region for its STS session key yet; retrying");
                    }
                    still.push(peer);
                }
            }
        }
        missing = still;
        if !missing.is_empty() {
            warned = true;
            tokio::time::sleep(RETRY).await;
        }
    }
}
