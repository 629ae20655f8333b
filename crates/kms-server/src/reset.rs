//! The reset test suites call between tests, at the paths their tools use: LocalStack's
//! `POST /_localstack/state/reset` and `POST /_localstack/state/kms/reset`, moto's
//! `POST /moto-api/reset`. Off unless the operator switched it on (`TRENT_ALLOW_RESET=1` or
//! `allow_reset` in the node config); off, the routes do not exist, so the paths answer as any
//! unknown path.
//!
//! A reset wipes this region through Raft, then every linked region (over the link, each
//! refusing unless reset is on there too), then applies this region's seed again; the other
//! regions re-apply theirs in the background.

use crate::seal_state::SealGate;
use crate::service::Kms;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use kms_types::KmsError;
use std::sync::Arc;

/// The paths LocalStack and moto users call.
pub const RESET_PATHS: [&str; 3] = [
    "/_localstack/state/reset",
    "/_localstack/state/kms/reset",
    "/moto-api/reset",
];

/// The reset routes, merged into the API router only where reset is switched on.
pub fn router(gate: Arc<SealGate>) -> Router {
    let mut router = Router::new();
    for path in RESET_PATHS {
        router = router.route(path, post(reset));
    }
    router.with_state(gate)
}

async fn reset(State(gate): State<Arc<SealGate>>) -> Response {
    let Some(kms) = gate.kms() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "message": "This node is sealed; unseal it first." })),
        )
            .into_response();
    };
    match reset_everywhere(kms).await {
        Ok(regions) => Json(serde_json::json!({ "reset": regions })).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "message": e.to_string() })),
        )
            .into_response(),
    }
}

/// Wipes this region and every linked one, then re-applies this region's seed. Answers the
/// regions reset.
async fn reset_everywhere(kms: &Kms) -> Result<Vec<String>, KmsError> {
    kms.reset_region().await?;
    let mut regions = vec![kms.region().to_string()];
    let mut failed = None;
    if let Some(replication) = kms.replication() {
        for peer in replication.link().peer_regions() {
            match replication.link().reset(peer).await {
                Ok(()) => regions.push(peer.to_string()),
                Err(e) => {
                    tracing::warn!(region = peer, error = %e, "resetting a linked region");
                    failed = Some(KmsError::KmsInternal(format!(
                        "Reset {} but not {peer}: {e}",
                        regions.join(", ")
                    )));
                }
            }
        }
    }
    crate::seed::reapply(kms).await;
    match failed {
        Some(error) => Err(error),
        None => Ok(regions),
    }
}
