//! Who may use this node's Raft port: on mutual TLS, a request is admitted only from a node of
//! this region (its certificate names the region and the node id) that is in the region's
//! current membership (or, before the node has joined a group, in its configured initial
//! members) and not on the deny-list; the operator certificate may only read `/raft/status`,
//! take a backup (`GET /raft/backup`) and restore one (`POST /raft/restore`), rotate the
//! root key (`/raft/root-key`, `/raft/root-key/rotate`), and read and change the membership
//! (`/raft/members`, `/raft/members/{add,remove,replace}`). Membership changes are the
//! operator's alone: a node's certificate may not make them.
//! Every refusal is logged with the peer's address and identity, and so is a body refused as
//! too large (the per-endpoint limits are kms-raft's).

use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use kms_link::tls::{DenyList, PeerInfo};
use kms_raft::RegionRaft;
use std::collections::BTreeSet;
use std::sync::Arc;

/// What the check needs: this node's region, its Raft group, the deny-list and the members
/// named in its config.
#[derive(Clone)]
pub(crate) struct Admission {
    pub region: String,
    pub raft: Arc<RegionRaft>,
    pub deny_list: Arc<DenyList>,
    pub initial_members: BTreeSet<u64>,
}

impl Admission {
    /// Why `peer` may not make this request, if it may not.
    fn refusal(&self, peer: &PeerInfo, method: &Method, path: &str) -> Option<&'static str> {
        if peer.operator {
            let allowed = matches!(
                (method, path),
                (
                    &Method::GET,
                    "/raft/status" | "/raft/backup" | "/raft/root-key" | "/raft/members"
                ) | (
                    &Method::POST,
                    "/raft/restore"
                        | "/raft/root-key/rotate"
                        | "/raft/members/add"
                        | "/raft/members/remove"
                        | "/raft/members/replace"
                )
            );
            return (!allowed).then_some(
                "the operator certificate may only read /raft/status, back up or restore, \
                 rotate the root key and change the membership",
            );
        }
        if *method == Method::POST && path.starts_with("/raft/members/") {
            return Some("membership changes need the operator certificate");
        }
        if peer.region.as_deref() != Some(self.region.as_str()) {
            return Some("the certificate is not of this region");
        }
        let Some(node) = peer.node else {
            return Some("the certificate names no node");
        };
        if self.deny_list.is_revoked(&self.region, node) {
            return Some("the node is revoked (deny-list)");
        }
        let members = self.raft.members();
        let members = if members.is_empty() {
            &self.initial_members
        } else {
            &members
        };
        (!members.contains(&node)).then_some("the node is not a member of this region's group")
    }
}

/// `router` behind the admission check (mutual TLS; connections carry a [`PeerInfo`]).
pub(crate) fn admit_members(router: Router, admission: Admission) -> Router {
    router.layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let admission = admission.clone();
            async move {
                let peer = request
                    .extensions()
                    .get::<ConnectInfo<PeerInfo>>()
                    .map(|info| info.0.clone());
                let path = request.uri().path().to_owned();
                let refusal = match &peer {
                    Some(peer) => admission.refusal(peer, request.method(), &path),
                    None => Some("no verified client certificate"),
                };
                if let Some(why) = refusal {
                    tracing::warn!(
                        peer = ?peer.as_ref().map(|p| p.addr),
                        peer_region = ?peer.as_ref().and_then(|p| p.region.clone()),
                        peer_node = ?peer.as_ref().and_then(|p| p.node),
                        path,
                        reason = why,
                        "refused a Raft request"
                    );
                    return (StatusCode::FORBIDDEN, why).into_response();
                }
                let response = next.run(request).await;
                log_oversized(&response, &path, peer.as_ref().map(|p| p.addr.to_string()));
                response
            }
        },
    ))
}

/// `router` for plain HTTP (`insecure_plaintext_raft`): no identities to check; oversized
/// bodies are still logged.
pub(crate) fn log_only(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(
        |request: Request, next: Next| async move {
            let peer = request
                .extensions()
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.to_string());
            let path = request.uri().path().to_owned();
            let response = next.run(request).await;
            log_oversized(&response, &path, peer);
            response
        },
    ))
}

fn log_oversized(response: &Response, path: &str, peer: Option<String>) {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        tracing::warn!(
            ?peer,
            path,
            "refused a Raft request: body over the endpoint's limit"
        );
    }
}
