//! The leader's outbox shipper: delivers every queued [`kms_core::RegionMessage`] to its region,
//! one at a time per region in sequence order, retrying with backoff while the region is down
//! or cut off, and commits each committed answer (`OutboxAck`) so every node of this region
//! agrees it was delivered. After a leader change, the new leader's shipper carries on from
//! the replicated outbox.

use crate::link::RegionLink;
use crate::Region;
use kms_core::{Command, RegionReply};
use kms_types::KmsError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How often an idle shipper looks at the outbox (new entries also wake it at once).
const IDLE_PERIOD: Duration = Duration::from_millis(20);
/// Longest wait between retries to an unreachable region.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Starts one shipper task per peer region. `wake` is notified when a command queued a message.
pub fn spawn<R: Region>(
    kms: Arc<R>,
    link: Arc<RegionLink>,
    wake: Arc<Notify>,
) -> Vec<tokio::task::JoinHandle<()>> {
    link.peer_regions()
        .map(|peer| {
            let (kms, link, wake, peer) =
                (kms.clone(), link.clone(), wake.clone(), peer.to_string());
            tokio::spawn(async move { ship_to(kms, link, wake, peer).await })
        })
        .collect()
}

async fn ship_to<R: Region>(kms: Arc<R>, link: Arc<RegionLink>, wake: Arc<Notify>, peer: String) {
    let mut backoff = Duration::from_millis(50);
    loop {
        if !kms.is_leader() {
            let _ = tokio::time::timeout(IDLE_PERIOD, wake.notified()).await;
            continue;
        }
        let next = kms.read_applied(|state| {
            state
                .outbox()
                .find(|(_, entry)| entry.to_region == peer)
                .map(|(seq, _)| (seq, state.outbound_message(seq)))
        });
        let Some((seq, message)) = next else {
            let _ = tokio::time::timeout(IDLE_PERIOD, wake.notified()).await;
            continue;
        };
        let reply = match message {
            // The entry no longer means anything (its key was deleted, or the hand-over
            // settled another way): retire it.
            None => Ok(RegionReply::Rejected {
                error: KmsError::KmsInternal("obsolete outbox entry".into()),
            }),
            Some(message) => link.deliver(&peer, seq, message, kms.as_ref()).await,
        };
        match reply {
            Ok(reply) => {
                backoff = Duration::from_millis(50);
                let ack = Command::OutboxAck {
                    seq,
                    reply,
                    now_ms: kms.now_ms(),
                };
                if let Err(e) = kms.commit(ack).await {
                    tracing::warn!(%peer, seq, error = %e, "committing a delivery");
                    tokio::time::sleep(backoff).await;
                }
            }
            Err(e) => {
                tracing::debug!(%peer, seq, error = %e, "delivery failed; will retry");
                let _ = tokio::time::timeout(backoff, wake.notified()).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
