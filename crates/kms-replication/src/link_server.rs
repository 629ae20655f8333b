//! The receiving side of the link between regions, served on the mutual-TLS listener:
//! - `POST /link/v1/message`: a [`RegionMessage`] from a peer's outbox. Material is opened
//!   with this region's transport key, wrapped with its root key, and the message is committed
//!   through Raft; the answer is the committed [`kms_core::RegionReply`]. 503 if this region
//!   cannot commit now (the sender retries).
//! - `POST /link/v1/kms`: a KMS request signed for this region that a peer's node received,
//!   as its caller signed it; the region verifies the caller's signature itself
//!   ([`Region::call_forwarded`]). The peer's certificate says only who forwarded it.
//! - `POST /link/v1/transport-key`: this region's transport public key (hex).
//! - `POST /link/v1/key-metadata`: a key's metadata as this region committed it (after a read
//!   barrier), so ReplicateKey can answer with the replica as its region has it.
//!
//! - `POST /link/v1/reset`: wipes this region (a reset for test suites that started in a
//!   peer region), where reset is switched on here too; the seed is applied again afterwards.
//!
//! A peer may only speak for the region named in its client certificate.

use crate::link::{Envelope, ForwardedCall, KeyMetadataQuery, RegionLink};
use crate::Region;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use kms_core::{Command, CommandOutput, RegionMessage};
use kms_crypto::SealContext;
use kms_link::tls::PeerInfo;
use kms_types::wire_version::LINK;
use kms_types::KmsError;
use std::sync::Arc;

struct LinkState<R> {
    kms: Arc<R>,
    link: Arc<RegionLink>,
}

impl<R> Clone for LinkState<R> {
    fn clone(&self) -> Self {
        LinkState {
            kms: self.kms.clone(),
            link: self.link.clone(),
        }
    }
}

/// The largest body each link endpoint accepts (a larger one is answered 413 unread, and the
/// JSON decoder never sees it).
mod limits {
    /// `/link/v1/message`: one key's metadata and every material version, sealed.
    pub const MESSAGE: usize = 4 * 1024 * 1024;
    /// `/link/v1/kms`: one forwarded request (the API's 1 MiB body, JSON-escaped, and its
    /// signed headers).
    pub const KMS: usize = 4 * 1024 * 1024;
    /// `/link/v1/transport-key`, `/link/v1/key-metadata`.
    pub const SMALL: usize = 64 * 1024;
}

/// The router of the inter-region listener.
pub fn router<R: Region>(kms: Arc<R>, link: Arc<RegionLink>) -> Router {
    use axum::extract::DefaultBodyLimit;
    Router::new()
        .route(
            "/link/v1/message",
            post(message::<R>).layer(DefaultBodyLimit::max(limits::MESSAGE)),
        )
        .route(
            "/link/v1/kms",
            post(kms_call::<R>).layer(DefaultBodyLimit::max(limits::KMS)),
        )
        .route(
            "/link/v1/transport-key",
            post(transport_key::<R>).layer(DefaultBodyLimit::max(limits::SMALL)),
        )
        .route(
            "/link/v1/key-metadata",
            post(key_metadata::<R>).layer(DefaultBodyLimit::max(limits::SMALL)),
        )
        .route(
            "/link/v1/reset",
            post(reset::<R>).layer(DefaultBodyLimit::max(limits::SMALL)),
        )
        .layer(axum::middleware::map_response(log_oversized))
        .layer(axum::middleware::from_fn_with_state(
            link.wire_version(),
            require_wire_version,
        ))
        .with_state(LinkState { kms, link })
}

/// Refuses a request of another link wire version (409, the reason naming both) and stamps
/// every answer with this node's version.
async fn require_wire_version(
    State(ours): State<u32>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let theirs = request
        .headers()
        .get(LINK.header)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut response = match LINK.check(theirs.as_deref(), ours) {
        Ok(()) => next.run(request).await,
        Err(why) => {
            tracing::warn!(path = %request.uri().path(), "refused a link request: {why}");
            refuse(StatusCode::CONFLICT, why)
        }
    };
    response
        .headers_mut()
        .insert(LINK.header, axum::http::HeaderValue::from(ours));
    response
}

async fn log_oversized(response: Response) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        tracing::warn!("refused a link request: body over the endpoint's limit");
    }
    response
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, why.into()).into_response()
}

async fn transport_key<R: Region>(State(state): State<LinkState<R>>) -> Response {
    if state.link.cut() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "link cut");
    }
    hex::encode(state.link.transport_key().public_key()).into_response()
}

/// The refusal of a request while the link is cut or from anything but a peer region's
/// certificate; `None` admits it.
fn refuse_non_peer<R: Region>(state: &LinkState<R>, peer: &PeerInfo) -> Option<Response> {
    if state.link.cut() {
        return Some(refuse(StatusCode::SERVICE_UNAVAILABLE, "link cut"));
    }
    if let Some(why) = state.link.refusal(peer) {
        tracing::warn!(
            peer = %peer.addr,
            peer_region = ?peer.region,
            peer_node = ?peer.node,
            reason = why,
            "refused a link request"
        );
        return Some(refuse(StatusCode::FORBIDDEN, why));
    }
    None
}

async fn key_metadata<R: Region>(
    State(state): State<LinkState<R>>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    Json(query): Json<KeyMetadataQuery>,
) -> Response {
    if let Some(refused) = refuse_non_peer(&state, &peer) {
        return refused;
    }
    if let Err(e) = state.kms.barrier().await {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
    }
    let metadata = state
        .kms
        .read_applied(|s| s.key(&query.key_id).map(|k| k.metadata()));
    Json(metadata).into_response()
}

async fn reset<R: Region>(
    State(state): State<LinkState<R>>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
) -> Response {
    if let Some(refused) = refuse_non_peer(&state, &peer) {
        return refused;
    }
    if let Err(e) = state.kms.reset().await {
        return refuse(StatusCode::FORBIDDEN, e.to_string());
    }
    // The seed comes back in the background: its replicas may come from the region that
    // asked, which re-applies its own seed after this answer.
    let kms = state.kms.clone();
    tokio::spawn(async move { kms.reseed().await });
    StatusCode::OK.into_response()
}

async fn message<R: Region>(
    State(state): State<LinkState<R>>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    Json(envelope): Json<Envelope>,
) -> Response {
    if let Some(refused) = refuse_non_peer(&state, &peer) {
        return refused;
    }
    if peer.region.as_deref() != Some(envelope.from_region.as_str()) {
        tracing::warn!(
            peer = %peer.addr,
            peer_region = ?peer.region,
            claimed = %envelope.from_region,
            "refused a region message sent on another region's behalf"
        );
        return refuse(
            StatusCode::FORBIDDEN,
            format!(
                "certificate of {:?} may not speak for {}",
                peer.region, envelope.from_region
            ),
        );
    }
    let Envelope {
        from_region,
        seq,
        mut message,
    } = envelope;
    if let Err(e) = rewrap(&state, &from_region, &mut message) {
        tracing::warn!(from = %from_region, error = %e, "refused a message whose material does not open");
        return refuse(StatusCode::BAD_REQUEST, e.to_string());
    }
    let command = Command::ApplyRegionMessage {
        from_region,
        seq,
        region: state.link.region().to_string(),
        now_ms: state.kms.now_ms(),
        message,
    };
    match state.kms.commit(command).await {
        Ok(CommandOutput::Region(reply)) => Json(reply).into_response(),
        Ok(other) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unexpected state machine answer {other:?}"),
        ),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Opens material sealed to this region and wraps it with this region's root key.
fn rewrap<R: Region>(
    state: &LinkState<R>,
    from: &str,
    message: &mut RegionMessage,
) -> Result<(), KmsError> {
    let to = state.link.region().to_string();
    let Some(shared) = message.shared_mut() else {
        return Ok(());
    };
    let key_id = shared.key_id.clone();
    for material in shared.materials_mut() {
        let sealed_to = SealContext::region_material(from, &to, &key_id, &material.material_id);
        let plain = state
            .link
            .transport_key()
            .open_material(&material.wrapped, &sealed_to)
            .map_err(|_| KmsError::KmsInternal("Sealed key material did not open.".into()))?;
        material.wrapped = state
            .kms
            .wrap_material(&key_id, &material.material_id, &plain);
    }
    Ok(())
}

async fn kms_call<R: Region>(
    State(state): State<LinkState<R>>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    body: axum::body::Bytes,
) -> Response {
    if let Some(refused) = refuse_non_peer(&state, &peer) {
        return refused;
    }
    let call: ForwardedCall = match serde_json::from_slice(&body) {
        Ok(call) => call,
        Err(e) => {
            tracing::warn!(
                peer = %peer.addr,
                peer_region = ?peer.region,
                peer_node = ?peer.node,
                error = %e,
                "refused a forwarded call that is not a signed request"
            );
            return refuse(
                StatusCode::BAD_REQUEST,
                "a forwarded call must carry the caller's signed request",
            );
        }
    };
    let outcome: Result<serde_json::Value, KmsError> = state.kms.call_forwarded(&peer, call).await;
    Json(outcome).into_response()
}
