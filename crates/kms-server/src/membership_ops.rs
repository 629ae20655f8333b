//! Membership changes on the Raft port, for the operator certificate: `GET /raft/members` (the
//! membership this node knows), `POST /raft/members/add`, `/raft/members/remove` and
//! `/raft/members/replace` (kms-raft's changes, made on the leader). A follower answers 421
//! naming the leader's Raft address, which `trent cluster` follows.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kms_raft::{MembershipError, RegionRaft};
use serde::Deserialize;
use serde_json::json;

/// How long a new node has to catch up with the log before it is made a voter.
const CATCH_UP: Duration = Duration::from_secs(120);

/// `/raft/members` and its changes.
pub(crate) fn router(raft: Arc<RegionRaft>) -> Router {
    Router::new()
        .route("/raft/members", get(members))
        .route("/raft/members/add", post(add))
        .route("/raft/members/remove", post(remove))
        .route("/raft/members/replace", post(replace))
        .with_state(raft)
}

async fn members(AxumState(raft): AxumState<Arc<RegionRaft>>) -> Response {
    Json(raft.membership()).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Add {
    id: u64,
    raft_addr: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Remove {
    id: u64,
    #[serde(default)]
    force: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Replace {
    old: u64,
    id: u64,
    raft_addr: String,
}

fn answer(outcome: Result<kms_raft::MembershipView, MembershipError>) -> Response {
    match outcome {
        Ok(view) => Json(view).into_response(),
        Err(e) => {
            let status = match &e {
                MembershipError::NotLeader(_) => StatusCode::MISDIRECTED_REQUEST,
                MembershipError::Refused(_) => StatusCode::CONFLICT,
                MembershipError::Failed(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            let leader = match &e {
                MembershipError::NotLeader(Some((id, addr))) => {
                    json!({"id": id, "raft_addr": addr})
                }
                _ => serde_json::Value::Null,
            };
            tracing::warn!(%status, error = %e, "membership change not made");
            (
                status,
                Json(json!({"error": e.to_string(), "leader": leader})),
            )
                .into_response()
        }
    }
}

async fn add(AxumState(raft): AxumState<Arc<RegionRaft>>, Json(req): Json<Add>) -> Response {
    answer(raft.add_node(req.id, &req.raft_addr, CATCH_UP).await)
}

async fn remove(AxumState(raft): AxumState<Arc<RegionRaft>>, Json(req): Json<Remove>) -> Response {
    answer(raft.remove_node(req.id, req.force).await)
}

async fn replace(
    AxumState(raft): AxumState<Arc<RegionRaft>>,
    Json(req): Json<Replace>,
) -> Response {
    answer(
        raft.replace_node(req.old, req.id, &req.raft_addr, CATCH_UP)
            .await,
    )
}
