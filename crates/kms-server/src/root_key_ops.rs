//! Root-key rotation on the Raft port, for the operator certificate: `POST /raft/root-key/rotate`
//! adds a generation through the log (the leader then re-wraps all material in the background
//! and retires the old generations), `GET /raft/root-key` tells where the rotation is.

use crate::seal_state::SealGate;
use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// `GET /raft/root-key` and `POST /raft/root-key/rotate`.
pub(crate) fn router(gate: Arc<SealGate>) -> Router {
    Router::new()
        .route("/raft/root-key", get(status))
        .route("/raft/root-key/rotate", post(rotate))
        .with_state(gate)
}

fn sealed() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(serde_json::json!({ "error": "this node is sealed" })),
    )
        .into_response()
}

async fn status(AxumState(gate): AxumState<Arc<SealGate>>) -> Response {
    let Some(kms) = gate.kms() else {
        return sealed();
    };
    axum::Json(kms.root_key_status()).into_response()
}

async fn rotate(AxumState(gate): AxumState<Arc<SealGate>>) -> Response {
    let Some(kms) = gate.kms() else {
        return sealed();
    };
    match kms.rotate_root_key().await {
        Ok(generation) => {
            tracing::info!(generation, "root-key rotation started");
            axum::Json(serde_json::json!({ "generation": generation })).into_response()
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            tracing::warn!(error = %e, "root-key rotation refused");
            (
                status,
                axum::Json(serde_json::json!({ "error": e.to_string(), "type": e.aws_code() })),
            )
                .into_response()
        }
    }
}
