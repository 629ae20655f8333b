//! The receiving side of the link between regions, served on the mutual-TLS listener:
//! - `POST /link/v1/message`: a [`RegionMessage`] from a peer's outbox. Material is opened
//!   with this region's transport key, wrapped with its root key, and the message is committed
//!   through Raft; the answer is the committed [`kms_core::RegionReply`]. 503 if this region
//!   cannot commit now (the sender retries).
//! - `POST /link/v1/kms`: a KMS request signed for this region that a peer's node received.
//! - `POST /link/v1/transport-key`: this region's transport public key (hex).
//!
//! A peer may only speak for the region named in its client certificate.

use crate::region_link::{Envelope, ForwardedCall, RegionLink};
use crate::service::Kms;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use kms_api::{KmsService, RequestContext};
use kms_core::{Command, CommandOutput, RegionMessage};
use kms_crypto::{SealContext, WrapContext};
use kms_link::tls::PeerInfo;
use kms_types::KmsError;
use std::sync::Arc;

#[derive(Clone)]
struct LinkState {
    kms: Arc<Kms>,
    link: Arc<RegionLink>,
}

/// The router of the inter-region listener.
pub fn router(kms: Arc<Kms>, link: Arc<RegionLink>) -> Router {
    Router::new()
        .route("/link/v1/message", post(message))
        .route("/link/v1/kms", post(kms_call))
        .route("/link/v1/transport-key", post(transport_key))
        .layer(axum::extract::DefaultBodyLimit::max(16 * 1024 * 1024))
        .with_state(LinkState { kms, link })
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    (status, why.into()).into_response()
}

async fn transport_key(State(state): State<LinkState>) -> Response {
    if state.link.cut() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "link cut");
    }
    hex::encode(state.link.transport_key().public_key()).into_response()
}

async fn message(
    State(state): State<LinkState>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    Json(envelope): Json<Envelope>,
) -> Response {
    if state.link.cut() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "link cut");
    }
    if peer.region.as_deref() != Some(envelope.from_region.as_str())
        || !state.link.has_peer(&envelope.from_region)
    {
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
    match state.kms.write(command).await {
        Ok(CommandOutput::Region(reply)) => Json(reply).into_response(),
        Ok(other) => refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("unexpected state machine answer {other:?}"),
        ),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

/// Opens material sealed to this region and wraps it with this region's root key.
fn rewrap(state: &LinkState, from: &str, message: &mut RegionMessage) -> Result<(), KmsError> {
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
        material.wrapped = state.kms.root_key.wrap(
            &plain,
            &WrapContext::material(&key_id, &material.material_id),
        );
    }
    Ok(())
}

async fn kms_call(
    State(state): State<LinkState>,
    ConnectInfo(peer): ConnectInfo<PeerInfo>,
    Json(call): Json<ForwardedCall>,
) -> Response {
    if state.link.cut() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "link cut");
    }
    if !peer
        .region
        .as_deref()
        .is_some_and(|r| state.link.has_peer(r))
    {
        return refuse(StatusCode::FORBIDDEN, "not a peer region");
    }
    let ctx = RequestContext {
        operation: call.operation,
        principal: kms_api::Principal {
            access_key_id: call.access_key_id,
            region: state.link.region().to_string(),
            session_token: call.session_token,
        },
        request_id: call.request_id,
        source_ip: call.source_ip,
        secure_transport: call.secure_transport,
    };
    let outcome: Result<serde_json::Value, KmsError> = state.kms.call(ctx, call.body).await;
    Json(outcome).into_response()
}
