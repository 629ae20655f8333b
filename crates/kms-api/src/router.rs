//! The HTTP boundary: routing, the per-request checks in AWS's order, and the response shape.
//!
//! Decisions where AWS is not specific:
//! - `Content-Type` must be `application/x-amz-json-1.1` or `application/x-amz-json-1.0`
//!   (media type compared case-insensitively, parameters such as `charset` ignored); a missing
//!   or different type is a 400 `SerializationException`. It is checked after the signature, so
//!   an unauthenticated caller learns nothing beyond "sign your request".
//! - An empty (or all-whitespace) body is the empty object `{}`.
//! - Anything but `POST /` (other than `GET /health`) is a 400 `UnknownOperationException`.
//! - A body over [`ApiConfig::max_body_bytes`] is a 413 `RequestEntityTooLargeException`; a
//!   declared `Content-Length` over the limit is refused before any of the body is read, and a
//!   streamed body is read only up to the limit.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use kms_types::{KmsError, KmsRequest, Operation};
use serde_json::Value;

use crate::config::{ApiConfig, Identity, RequestRecord};
use crate::forwarded::{ForwardedBy, SignedRequest};
use crate::sigv4::{self, Principal};

/// The content type of every JSON response.
pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The header carrying each response's request id (a UUID v4).
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// What precedes the operation name in `X-Amz-Target`.
pub const TARGET_PREFIX: &str = "TrentService.";

/// The accepted request content types (media type only).
const ACCEPTED_CONTENT_TYPES: [&str; 2] =
    ["application/x-amz-json-1.1", "application/x-amz-json-1.0"];

/// What the front door established about a request before handing it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The operation named by `X-Amz-Target`.
    pub operation: Operation,
    /// Who signed the request.
    pub principal: Principal,
    /// The request id, also returned in the `x-amzn-RequestId` header.
    pub request_id: String,
    /// The caller's address, when the server was started with connection info
    /// (`into_make_service_with_connect_info::<SocketAddr>()`).
    pub source_ip: Option<std::net::IpAddr>,
    /// Whether the request came over TLS (a [`SecureTransport`] request extension).
    pub secure_transport: bool,
    /// The request as its caller signed it, kept only when it is signed for another region
    /// than the service's [`KmsService::home_region`], so the service can forward it there for
    /// that region to verify again (see [`crate::forwarded`]).
    pub forward: Option<SignedRequest>,
}

/// Marks a request that arrived over TLS; the server's TLS listener inserts it.
#[derive(Debug, Clone, Copy)]
pub struct SecureTransport;

/// A resolved caller, as the service represents it.
pub trait Caller: Send + Sync + 'static {
    /// Who it is, for the audit trail.
    fn identity(&self) -> Identity<'_>;
}

/// Executes authenticated KMS operations. The front door knows nothing else about it.
pub trait KmsService: Send + Sync + 'static {
    /// Who a verified signature speaks for, as the service knows callers.
    type Caller: Caller;

    /// The region this service executes calls for. A request signed for another region is
    /// then kept whole in [`RequestContext::forward`]; `None` (the default) keeps none.
    fn home_region(&self) -> Option<&str> {
        None
    }

    /// Resolves the signer of a request, once per request; the result goes to
    /// [`KmsService::call`] and, as an [`Identity`], to the observer.
    fn resolve(&self, principal: &Principal) -> Result<Self::Caller, KmsError>;

    /// Runs the typed `request` (parsed once from the body) for `caller` and returns the JSON
    /// response.
    fn call(
        &self,
        ctx: RequestContext,
        caller: &Self::Caller,
        request: KmsRequest,
    ) -> impl std::future::Future<Output = Result<Value, KmsError>> + Send;

    /// Runs an authenticated STS call and returns the inner XML of its `<ActionResult>`
    /// element. Services without STS answer `InvalidAction`.
    fn sts(
        &self,
        request: crate::sts::StsRequest,
    ) -> impl std::future::Future<Output = Result<String, KmsError>> + Send {
        let action = request.action;
        async move {
            Err(KmsError::UnknownOperation(format!(
                "Could not find operation {action} for version 2011-06-15"
            )))
        }
    }

    /// Whether the service can serve requests now: `GET /health` answers 200 `ok` when this
    /// is `Ok`, and 503 with this JSON body when not (e.g. a sealed node, which an
    /// orchestrator should keep out of rotation but not restart).
    fn health(&self) -> Result<(), Value> {
        Ok(())
    }

    /// Whether this node should get traffic now: `GET /ready` answers 200 `ok` when this is
    /// `Ok`, and 503 with this JSON body when not. Stricter than [`KmsService::health`] (a
    /// node's readiness can also wait for its region's leader and for catching up); defaults to
    /// it.
    fn ready(&self) -> Result<(), Value> {
        self.health()
    }
}

struct AppState<S> {
    config: ApiConfig,
    service: Arc<S>,
}

/// The KMS HTTP API: `POST /` for every operation; `GET /health` (200 `ok`, or 503 with the
/// service's JSON reason, [`KmsService::health`]), `GET /ready` (the same for
/// [`KmsService::ready`]) and `GET /live` (200 `ok` while the process answers HTTP).
pub fn router<S: KmsService>(config: ApiConfig, service: Arc<S>) -> Router {
    let state = Arc::new(AppState { config, service });
    Router::new()
        .route("/", any(handle::<S>))
        .route("/health", get(health::<S>).fallback(not_an_operation))
        .route("/ready", get(ready::<S>).fallback(not_an_operation))
        .route("/live", get(live).fallback(not_an_operation))
        .fallback(not_an_operation)
        .with_state(state)
}

async fn health<S: KmsService>(State(state): State<Arc<AppState<S>>>) -> Response {
    probe(state.service.health())
}

async fn ready<S: KmsService>(State(state): State<Arc<AppState<S>>>) -> Response {
    probe(state.service.ready())
}

async fn live() -> Response {
    probe(Ok(()))
}

/// 200 `ok`, or 503 with the reason as JSON.
fn probe(outcome: Result<(), Value>) -> Response {
    let response = match outcome {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, axum::Json(reason)).into_response(),
    };
    with_request_id(response, &new_request_id())
}

async fn not_an_operation() -> Response {
    let request_id = new_request_id();
    let error = KmsError::UnknownOperation(
        "Trent answers AWS JSON 1.1 requests on POST / only.".to_string(),
    );
    tracing::debug!(request_id, outcome = error.aws_code(), "non-API request");
    error_response(&error, &request_id)
}

async fn handle<S: KmsService>(
    State(state): State<Arc<AppState<S>>>,
    request: Request,
) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let (parts, body) = request.into_parts();
    if crate::sts::is_sts(&parts) {
        return handle_sts(&state, &request_id, &parts, body).await;
    }
    let mut operation = None;
    let mut seen = Seen::default();
    let result = process(&state, &request_id, &parts, body, &mut operation, &mut seen).await;
    observe(
        &state.config,
        Observed {
            operation,
            seen: &seen,
            request_id: &request_id,
            source_ip: connection_ip(&parts),
            parts: &parts,
            forwarded_by: None,
            elapsed: started.elapsed(),
        },
        &result,
    );
    let (response, outcome) = match result {
        Ok(mut value) => {
            let encoded = serde_json::to_vec(&value);
            zeroize_strings(&mut value);
            match encoded {
                Ok(bytes) => (secret_json_response(bytes, &request_id), "OK"),
                Err(_) => {
                    let error = KmsError::KmsInternal("The response could not be encoded.".into());
                    (error_response(&error, &request_id), error.aws_code())
                }
            }
        }
        Err(error) => (error_response(&error, &request_id), error.aws_code()),
    };
    // Never log bodies or messages: they can hold plaintext and key material.
    tracing::debug!(
        request_id,
        operation = operation.map_or("-", |op| op.name()),
        status = response.status().as_u16(),
        outcome,
        elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "kms request"
    );
    response
}

async fn handle_sts<S: KmsService>(
    state: &AppState<S>,
    request_id: &str,
    parts: &Parts,
    body: Body,
) -> Response {
    let outcome = async {
        if parts.method != Method::POST {
            return Err(KmsError::UnknownOperation(
                "STS answers POST / only.".into(),
            ));
        }
        let body = read_body(parts, body, state.config.max_body_bytes).await?;
        let request = crate::sts::parse(&state.config, parts, &body, request_id)?;
        let action = request.action.clone();
        let inner = state.service.sts(request).await?;
        Ok::<_, KmsError>((action, inner))
    }
    .await;
    let response = match outcome {
        Ok((action, inner)) => crate::sts::ok_response(&action, &inner, request_id),
        Err(error) => crate::sts::error_response(&error, request_id),
    };
    tracing::debug!(
        request_id,
        status = response.status().as_u16(),
        "sts request"
    );
    response
}

/// What `process` learned before the call, for the observer.
struct Seen<C> {
    principal: Option<Principal>,
    caller: Option<C>,
    request: Option<Value>,
}

impl<C> Default for Seen<C> {
    fn default() -> Self {
        Seen {
            principal: None,
            caller: None,
            request: None,
        }
    }
}

/// What the observer is told of one answered request besides its outcome.
struct Observed<'a, C> {
    operation: Option<Operation>,
    seen: &'a Seen<C>,
    request_id: &'a str,
    /// The address of the connection the request arrived on.
    source_ip: Option<std::net::IpAddr>,
    parts: &'a Parts,
    forwarded_by: Option<&'a ForwardedBy>,
    /// From the request's arrival to its answer being decided.
    elapsed: std::time::Duration,
}

/// Tells the config's observer (the audit trail) about an answered request.
fn observe<C: Caller>(
    config: &ApiConfig,
    observed: Observed<'_, C>,
    result: &Result<Value, KmsError>,
) {
    let Some(observer) = &config.observer else {
        return;
    };
    observer.observe(RequestRecord {
        operation: observed.operation,
        principal: observed.seen.principal.as_ref(),
        identity: observed.seen.caller.as_ref().map(Caller::identity),
        request_id: observed.request_id,
        source_ip: observed.source_ip,
        user_agent: observed
            .parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        request: observed.seen.request.as_ref(),
        response: result.as_ref().ok(),
        error: result.as_ref().err(),
        forwarded_by: observed.forwarded_by,
        elapsed: observed.elapsed,
    });
}

/// The peer address of the connection `parts` arrived on, if the server records it.
fn connection_ip(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The checks, in order, then the service call.
async fn process<S: KmsService>(
    state: &AppState<S>,
    request_id: &str,
    parts: &Parts,
    body: Body,
    operation: &mut Option<Operation>,
    seen: &mut Seen<S::Caller>,
) -> Result<Value, KmsError> {
    if parts.method != Method::POST {
        return Err(KmsError::UnknownOperation(
            "Trent answers AWS JSON 1.1 requests on POST / only.".to_string(),
        ));
    }
    let config = &state.config;
    let body = read_body(parts, body, config.max_body_bytes).await?;
    let arrival = Arrival {
        accepted_regions: &config.accepted_regions,
        source_ip: connection_ip(parts),
        secure_transport: parts.extensions.get::<SecureTransport>().is_some(),
        forwarded: false,
    };
    authenticate_and_call(
        config,
        state.service.as_ref(),
        request_id,
        parts,
        body,
        &arrival,
        operation,
        seen,
    )
    .await
}

/// How a request reached the checks of [`authenticate_and_call`].
struct Arrival<'a> {
    /// The regions its credential scope may name.
    accepted_regions: &'a [String],
    /// The caller's address, as far as this node knows it.
    source_ip: Option<std::net::IpAddr>,
    /// Whether the caller used TLS, as far as this node knows it.
    secure_transport: bool,
    /// Another region forwarded it: it is never kept for forwarding again.
    forwarded: bool,
}

/// The checks after the body is read, in order (target, signature, signer, content type, the
/// one parse), then the service call.
#[allow(clippy::too_many_arguments)]
async fn authenticate_and_call<S: KmsService>(
    config: &ApiConfig,
    service: &S,
    request_id: &str,
    parts: &Parts,
    body: Vec<u8>,
    arrival: &Arrival<'_>,
    operation: &mut Option<Operation>,
    seen: &mut Seen<S::Caller>,
) -> Result<Value, KmsError> {
    let op = parse_target(parts)?;
    *operation = Some(op);
    let principal = sigv4::verify(
        parts,
        &body,
        config.credentials.as_ref(),
        arrival.accepted_regions,
        (config.clock)(),
    )?;
    if config.observer.is_some() {
        seen.principal = Some(principal.clone());
    }
    let caller = seen.caller.insert(service.resolve(&principal)?);
    check_content_type(parts)?;
    let forward = match service.home_region() {
        Some(home) if !arrival.forwarded && principal.region != home => {
            Some(SignedRequest::capture(parts, &body))
        }
        _ => None,
    };
    // The one parse of the body: everything after reads this typed request. The raw body
    // (plaintexts, secrets) is zeroed once parsed, whether or not it parsed.
    let mut body = zeroize::Zeroizing::new(body);
    let request = KmsRequest::parse(op, &body)?;
    zeroize::Zeroize::zeroize(&mut *body);
    if let Some(observer) = &config.observer {
        seen.request = Some(observer.request_params(&request));
    }
    let ctx = RequestContext {
        operation: op,
        principal,
        request_id: request_id.to_string(),
        source_ip: arrival.source_ip,
        secure_transport: arrival.secure_transport,
        forward,
    };
    service.call(ctx, caller, request).await
}

/// The refusal of a body over `limit` bytes.
fn too_large(limit: usize) -> KmsError {
    KmsError::RequestEntityTooLarge(format!(
        "Request body is larger than the maximum of {limit} bytes."
    ))
}

/// Reads the whole body, refusing more than `limit` bytes without buffering them.
async fn read_body(parts: &Parts, mut body: Body, limit: usize) -> Result<Vec<u8>, KmsError> {
    let too_large = || too_large(limit);
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(declared) = declared {
        if declared > u64::try_from(limit).unwrap_or(u64::MAX) {
            return Err(too_large());
        }
    }
    let capacity = declared
        .and_then(|d| usize::try_from(d).ok())
        .unwrap_or(0)
        .min(limit);
    let mut buffer = Vec::with_capacity(capacity);
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame.map_err(|_| {
            KmsError::Serialization("The request body could not be read.".to_string())
        })?;
        if let Ok(data) = frame.into_data() {
            if data.len() > limit - buffer.len() {
                return Err(too_large());
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer)
}

/// The operation named by `X-Amz-Target: TrentService.<Operation>`.
fn parse_target(parts: &Parts) -> Result<Operation, KmsError> {
    let Some(target) = parts.headers.get("x-amz-target") else {
        return Err(KmsError::UnknownOperation(
            "Missing X-Amz-Target header.".to_string(),
        ));
    };
    let target = String::from_utf8_lossy(target.as_bytes());
    target
        .strip_prefix(TARGET_PREFIX)
        .and_then(|name| name.parse::<Operation>().ok())
        .ok_or_else(|| {
            let shown: String = target.chars().take(128).collect();
            KmsError::UnknownOperation(format!("Unknown operation {shown}"))
        })
}

fn check_content_type(parts: &Parts) -> Result<(), KmsError> {
    let media_type = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim());
    match media_type {
        Some(media)
            if ACCEPTED_CONTENT_TYPES
                .iter()
                .any(|a| a.eq_ignore_ascii_case(media)) =>
        {
            Ok(())
        }
        _ => Err(KmsError::Serialization(format!(
            "Content-Type must be '{}' (or '{}').",
            ACCEPTED_CONTENT_TYPES[0], ACCEPTED_CONTENT_TYPES[1]
        ))),
    }
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn json_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let response = (
        status,
        [(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE))],
        body,
    )
        .into_response();
    with_request_id(response, request_id)
}

/// A 200 answer whose body may hold plaintext or key material: its bytes are zeroed when the
/// server lets go of them (after writing them out).
fn secret_json_response(body: Vec<u8>, request_id: &str) -> Response {
    let body = axum::body::Bytes::from_owner(zeroize::Zeroizing::new(body));
    let response = (
        StatusCode::OK,
        [(CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE))],
        body,
    )
        .into_response();
    with_request_id(response, request_id)
}

/// Zeroes every string in a response value (base64 plaintexts, data keys) before it is dropped.
fn zeroize_strings(value: &mut Value) {
    match value {
        Value::String(text) => zeroize::Zeroize::zeroize(text),
        Value::Array(items) => items.iter_mut().for_each(zeroize_strings),
        Value::Object(map) => map.values_mut().for_each(zeroize_strings),
        _ => {}
    }
}

fn error_response(error: &KmsError, request_id: &str) -> Response {
    let status =
        StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::json!({ "__type": error.aws_code(), "message": error.message() });
    json_response(status, body.to_string().into_bytes(), request_id)
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static("x-amzn-requestid"), value);
    }
    response
}

/// Runs a request that region `from.region` forwarded as [`SignedRequest`], with this region's
/// front-door checks: the body limit, `X-Amz-Target`, the caller's SigV4 signature verified
/// with `config`'s credentials and clock and scoped to `home_region` only, the signer resolved
/// by `service`, the content type and the one parse. The observer (audit trail) is told, with
/// `from` noted. A refusal of the caller's proof is logged with the peer that sent it.
pub async fn serve_forwarded<S: KmsService>(
    config: &ApiConfig,
    service: &S,
    home_region: &str,
    request_id: &str,
    mut request: SignedRequest,
    from: &ForwardedBy,
) -> Result<Value, KmsError> {
    let started = Instant::now();
    let mut operation = None;
    let mut seen = Seen::default();
    let parts = request.parts();
    let result = match &parts {
        Ok(parts) => {
            run_forwarded(
                config,
                service,
                home_region,
                request_id,
                parts,
                std::mem::take(&mut request.body),
                &mut operation,
                &mut seen,
            )
            .await
        }
        Err(e) => Err(e.clone()),
    };
    if let Err(error) = &result {
        if seen.principal.is_none() {
            tracing::warn!(
                request_id,
                peer_region = %from.region,
                peer_node = ?from.node,
                peer = ?from.addr,
                outcome = error.aws_code(),
                "refused a forwarded call: the caller's signature does not verify in this region"
            );
        }
    }
    let empty = axum::http::Request::new(()).into_parts().0;
    observe(
        config,
        Observed {
            operation,
            seen: &seen,
            request_id,
            source_ip: from.addr,
            parts: parts.as_ref().unwrap_or(&empty),
            forwarded_by: Some(from),
            elapsed: started.elapsed(),
        },
        &result,
    );
    result
}

#[allow(clippy::too_many_arguments)]
async fn run_forwarded<S: KmsService>(
    config: &ApiConfig,
    service: &S,
    home_region: &str,
    request_id: &str,
    parts: &Parts,
    body: Vec<u8>,
    operation: &mut Option<Operation>,
    seen: &mut Seen<S::Caller>,
) -> Result<Value, KmsError> {
    if parts.method != Method::POST || parts.uri.path() != "/" {
        return Err(KmsError::UnknownOperation(
            "Trent answers AWS JSON 1.1 requests on POST / only.".to_string(),
        ));
    }
    if body.len() > config.max_body_bytes {
        return Err(too_large(config.max_body_bytes));
    }
    let accepted = [home_region.to_string()];
    let arrival = Arrival {
        accepted_regions: &accepted,
        // Neither is proven by the forwarding region; see the module documentation.
        source_ip: None,
        secure_transport: false,
        forwarded: true,
    };
    authenticate_and_call(
        config, service, request_id, parts, body, &arrival, operation, seen,
    )
    .await
}

#[cfg(test)]
mod tests;
