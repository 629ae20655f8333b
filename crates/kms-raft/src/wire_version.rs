//! The version of the Raft wire between a region's nodes (kms-types' `wire_version::RAFT`).
//! Every bincode request (`/raft/append`, `vote`, `snapshot`, `write`, `read-index`) and every
//! answer carries it in the [`HEADER`] header. Bincode is not self-describing, so the version
//! changes with any encoding an older node cannot read, and two nodes interoperate exactly when
//! they speak the same version; otherwise the receiver refuses with HTTP 409 and a message
//! naming both versions, and the sender logs that message instead of a bare network error.
//!
//! A release that changes the version is upgraded by stopping the region, upgrading every node
//! and starting them (the on-disk data migrates at start); releases that keep it are upgraded
//! one node at a time.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kms_types::wire_version::RAFT;

/// The header that carries the version.
pub const HEADER: &str = RAFT.header;

/// The Raft wire version this build speaks.
pub const RAFT_WIRE_VERSION: u32 = RAFT.version;

/// Middleware for the bincode endpoints: refuses a request of another version (409, the
/// reason as text) and stamps every answer with this node's version.
pub(crate) async fn require(State(ours): State<u32>, request: Request, next: Next) -> Response {
    let header = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut response = match RAFT.check(header.as_deref(), ours) {
        Ok(()) => next.run(request).await,
        Err(why) => {
            tracing::warn!(path = %request.uri().path(), "refused a Raft request: {why}");
            (StatusCode::CONFLICT, why).into_response()
        }
    };
    response
        .headers_mut()
        .insert(HEADER, HeaderValue::from(ours));
    response
}

/// Logs a peer's refusal of this node's version, at most once every ten seconds (heartbeats
/// would otherwise repeat it twenty times a second).
pub(crate) fn warn_refused(peer: &str, why: &str) {
    static LAST: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if last.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(10)) {
        *last = Some(std::time::Instant::now());
        tracing::error!(%peer, "a peer refused this node's Raft traffic: {why}");
    }
}
