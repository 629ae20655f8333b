//! The four XKS operations behind one entry point ([`handle`]), in the order the checks run:
//!
//! 1. the path names a store's `/health` or `/keys/{id}/{metadata|encrypt|decrypt}`, else 404
//!    InvalidUriPathException; any method but POST there is 405;
//! 2. SigV4 ([`crate::auth`]), else 401 AuthenticationFailedException;
//! 3. the body and the key id as the spec defines them, else 400 ValidationException
//!    (501 UnsupportedOperationException for a plaintext, ciphertext or AAD over the sizes
//!    the spec requires: 4300 and 8192 bytes);
//! 4. the store's allow rules ([`crate::policy`]; never for health), else 403
//!    AccessDeniedException;
//! 5. the key: served by the store and present in the backend (404 KeyNotFoundException),
//!    AES-256 and usable for the operation (400 InvalidKeyUsageException), enabled in the
//!    store and in the backend (400 InvalidStateException; metadata answers `DISABLED`).
//!
//! A backend that refuses the key later (a KMS that will not unwrap it) is 400
//! InvalidStateException too, one that does not answer 503 DependencyTimeoutException, one
//! that throttles 429 ThrottlingException, and any other failure 500 InternalException.
//!
//! Encrypt binds the proxy's `ciphertextMetadata` (the scheme version, [`CIPHERTEXT_METADATA`])
//! into the tag with the spec's recommended AAD (`kms_keystore::xks_api::gcm_aad`), computes
//! the CDIV when asked, then decrypts its own output before answering. Health is a deep
//! check of the backend and always answers 200 once authenticated, reporting the key manager
//! `UNAVAILABLE` when the check fails. Every request is logged once with its
//! `kmsRequestId`, never with plaintext.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use kms_keystore::xks_api::{
    self, DecryptRequest, DecryptResponse, EkmFleetDetail, EkmHealthStatus, EncryptRequest,
    EncryptResponse, ErrorName, HealthResponse, KeyMetadataRequest, KeyMetadataResponse, KeyStatus,
    RequestMetadata,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth;
use crate::backend::{BackendError, KeyBackend, KeyInfo};
use crate::config::{Store, Stores};
use crate::failure::Failure;
use crate::policy::Operation;

/// The `ciphertextMetadata` of every encryption: the AAD scheme (the spec's recommended
/// construction, version 1). Decrypt accepts exactly this value.
pub const CIPHERTEXT_METADATA: &[u8] = b"trent-xks:v1";

/// The largest request body read (the spec's largest request is about 17 KiB of Base64 plus
/// metadata).
pub const MAX_BODY: usize = 64 * 1024;

/// What the handlers share: the stores (replaceable while running), the backend and the
/// numbers health answers carry.
pub struct App {
    stores: RwLock<Arc<Stores>>,
    backend: Arc<dyn KeyBackend>,
    backend_timeout: Duration,
    fleet_size: u32,
}

impl App {
    /// An app serving `stores` from `backend`, whose calls may each take `backend_timeout`.
    pub fn new(
        stores: Stores,
        backend: Arc<dyn KeyBackend>,
        backend_timeout: Duration,
        fleet_size: u32,
    ) -> App {
        App {
            stores: RwLock::new(Arc::new(stores)),
            backend,
            backend_timeout,
            fleet_size,
        }
    }

    /// Serves `stores` from now on (credentials, keys and rules; requests under way finish
    /// with the old ones).
    pub fn replace_stores(&self, stores: Stores) {
        *self
            .stores
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(stores);
    }

    fn stores(&self) -> Arc<Stores> {
        self.stores
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Runs `f` on the backend in the blocking pool, bounded by the backend timeout.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn KeyBackend) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, Failure> {
        let backend = self.backend.clone();
        let call = tokio::task::spawn_blocking(move || f(&*backend));
        match tokio::time::timeout(self.backend_timeout, call).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Failure::new(
                ErrorName::Internal,
                "the key manager call failed",
            )),
            Err(_) => Err(Failure::new(
                ErrorName::DependencyTimeout,
                "the key manager did not answer in time",
            )),
        }
    }
}

/// The proxy's routes: `GET /ping` (200, for load balancers; no authentication, no backend
/// call) and everything else through [`handle`].
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/ping", axum::routing::get(|| async { "ok" }))
        .fallback(handle)
        .with_state(app)
}

/// What a path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Health,
    Key { id: String, action: Operation },
}

/// The store and operation `path` names, if any.
fn route<'s>(stores: &'s Stores, path: &str) -> Option<(&'s Store, Op)> {
    for store in stores.0.values() {
        let Some(rest) = path.strip_prefix(store.uri_path.as_str()) else {
            continue;
        };
        if rest == "/health" {
            return Some((store, Op::Health));
        }
        let Some((id, action)) = rest.strip_prefix("/keys/").and_then(|r| r.split_once('/')) else {
            continue;
        };
        let action = match action {
            "metadata" => Operation::Metadata,
            "encrypt" => Operation::Encrypt,
            "decrypt" => Operation::Decrypt,
            _ => continue,
        };
        return Some((
            store,
            Op::Key {
                id: id.to_string(),
                action,
            },
        ));
    }
    None
}

/// Everything a request's log line says besides the outcome.
#[derive(Default)]
struct Seen {
    meta: Option<RequestMetadata>,
    access_key_id: Option<String>,
}

/// Every request but `/ping`.
pub async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let stores = app.stores();
    let path = parts.uri.path().to_string();
    let Some((store, op)) = route(&stores, &path) else {
        tracing::info!(path = %path, method = %parts.method, "no such XKS path");
        return Failure::new(
            ErrorName::InvalidUriPath,
            "no XKS API operation at this path",
        )
        .into_response();
    };
    if parts.method != Method::POST {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "POST")],
            "XKS API operations are POST only",
        )
            .into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return Failure::new(
                ErrorName::Validation,
                format!("the request body is unreadable or over {MAX_BODY} bytes"),
            )
            .into_response()
        }
    };
    let mut seen = Seen::default();
    let result = serve(&app, store, &op, &parts, &body, &mut seen).await;
    let (response, error) = match result {
        Ok(response) => (response, None),
        Err(failure) => (failure.clone().into_response(), Some(failure)),
    };
    let meta = seen.meta.unwrap_or_default();
    let (key, action) = match &op {
        Op::Health => (None, "health".to_string()),
        Op::Key { id, action } => (Some(id.as_str()), action.to_string()),
    };
    tracing::info!(
        kms_request_id = %meta.kms_request_id,
        kms_operation = %meta.kms_operation,
        principal = meta.aws_principal_arn.as_deref().unwrap_or(""),
        kms_key_arn = meta.kms_key_arn.as_deref().unwrap_or(""),
        access_key_id = seen.access_key_id.as_deref().unwrap_or(""),
        store = %store.uri_path,
        operation = %action,
        key = key.unwrap_or(""),
        status = response.status().as_u16(),
        error = error.as_ref().map(|f| f.name.as_str()).unwrap_or(""),
        error_message = error.as_ref().map(|f| f.message.as_str()).unwrap_or(""),
        elapsed_us = started.elapsed().as_micros() as u64,
        "xks request"
    );
    response
}

async fn serve(
    app: &App,
    store: &Store,
    op: &Op,
    parts: &axum::http::request::Parts,
    body: &Bytes,
    seen: &mut Seen,
) -> Result<Response, Failure> {
    let now = time::OffsetDateTime::now_utc();
    let authenticated = auth::authenticate(
        store,
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        body,
        now,
    )?;
    seen.access_key_id = Some(authenticated.access_key_id);
    let (id, action) = match op {
        Op::Health => return Ok(health(app, body, seen).await),
        Op::Key { id, action } => (id.as_str(), *action),
    };
    if !xks_api::is_valid_external_key_id(id) {
        return Err(Failure::new(
            ErrorName::Validation,
            "an externalKeyId is 1 to 128 characters of A-Z a-z 0-9 . - _",
        ));
    }
    match action {
        Operation::Metadata => {
            let request: KeyMetadataRequest = parse(body)?;
            seen.meta = Some(request.request_metadata.clone());
            let enabled = admit(store, id, action, &request.request_metadata, false)?;
            let key = id.to_string();
            let info = app
                .blocking(move |backend| key_info(backend, &key, action))
                .await?;
            let mut key_usage = Vec::new();
            if info.can_encrypt {
                key_usage.push(xks_api::USAGE_ENCRYPT.to_string());
            }
            if info.can_decrypt {
                key_usage.push(xks_api::USAGE_DECRYPT.to_string());
            }
            Ok(ok(&KeyMetadataResponse {
                key_spec: xks_api::KEY_SPEC_AES_256.to_string(),
                key_usage,
                key_status: if enabled && info.enabled {
                    KeyStatus::Enabled
                } else {
                    KeyStatus::Disabled
                },
            }))
        }
        Operation::Encrypt => {
            let request: EncryptRequest = parse(body)?;
            seen.meta = Some(request.request_metadata.clone());
            check_encrypt(&request)?;
            let enabled = admit(store, id, action, &request.request_metadata, true)?;
            if !enabled {
                return Err(disabled(id));
            }
            let key = id.to_string();
            let response = app
                .blocking(move |backend| encrypt(backend, &key, &request))
                .await?;
            Ok(ok(&response))
        }
        Operation::Decrypt => {
            let request: DecryptRequest = parse(body)?;
            seen.meta = Some(request.request_metadata.clone());
            check_decrypt(&request)?;
            let enabled = admit(store, id, action, &request.request_metadata, true)?;
            if !enabled {
                return Err(disabled(id));
            }
            let key = id.to_string();
            let plaintext = app
                .blocking(move |backend| decrypt(backend, &key, &request))
                .await?;
            Ok(ok(&DecryptResponse { plaintext }))
        }
    }
}

fn ok<T: Serialize>(body: &T) -> Response {
    (StatusCode::OK, Json(body)).into_response()
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body)
        .map_err(|e| Failure::new(ErrorName::Validation, format!("invalid request body: {e}")))
}

fn disabled(id: &str) -> Failure {
    Failure::new(
        ErrorName::InvalidState,
        format!("the external key {id:?} is disabled"),
    )
}

/// The metadata every key operation needs, the allow rules, and the store serving the key:
/// whether the key is enabled.
fn admit(
    store: &Store,
    id: &str,
    action: Operation,
    meta: &RequestMetadata,
    needs_key_arn: bool,
) -> Result<bool, Failure> {
    let Some(principal) = meta.aws_principal_arn.as_deref() else {
        return Err(Failure::new(
            ErrorName::Validation,
            "requestMetadata.awsPrincipalArn is required",
        ));
    };
    if needs_key_arn && meta.kms_key_arn.is_none() {
        return Err(Failure::new(
            ErrorName::Validation,
            "requestMetadata.kmsKeyArn is required",
        ));
    }
    if store.policy.allows(principal, id, action).is_none() {
        tracing::warn!(
            kms_request_id = %meta.kms_request_id,
            principal = %principal,
            store = %store.uri_path,
            key = %id,
            operation = %action,
            "denied: no allow rule of the store matches"
        );
        return Err(Failure::new(
            ErrorName::AccessDenied,
            format!("no allow rule of this store lets the principal {action} this key"),
        ));
    }
    store.keys.get(id).copied().ok_or_else(|| {
        Failure::new(
            ErrorName::KeyNotFound,
            format!("this store serves no key {id:?}"),
        )
    })
}

fn too_big(what: &str, max: usize) -> Failure {
    Failure::new(
        ErrorName::UnsupportedOperation,
        format!("{what} over {max} bytes is not supported"),
    )
}

fn check_algorithm(algorithm: &str) -> Result<(), Failure> {
    if algorithm != xks_api::ENCRYPTION_ALGORITHM {
        return Err(Failure::new(
            ErrorName::Validation,
            "encryptionAlgorithm must be AES_GCM",
        ));
    }
    Ok(())
}

fn check_aad(aad: &Option<Vec<u8>>) -> Result<(), Failure> {
    if aad.as_ref().is_some_and(|aad| aad.len() > xks_api::MAX_AAD) {
        return Err(too_big("additionalAuthenticatedData", xks_api::MAX_AAD));
    }
    Ok(())
}

fn check_encrypt(request: &EncryptRequest) -> Result<(), Failure> {
    check_algorithm(&request.encryption_algorithm)?;
    if let Some(cdiv) = &request.ciphertext_data_integrity_value_algorithm {
        if cdiv != xks_api::CDIV_ALGORITHM {
            return Err(Failure::new(
                ErrorName::Validation,
                "ciphertextDataIntegrityValueAlgorithm must be SHA_256",
            ));
        }
    }
    if request.plaintext.is_empty() {
        return Err(Failure::new(
            ErrorName::Validation,
            "the plaintext is empty",
        ));
    }
    if request.plaintext.len() > xks_api::MAX_PLAINTEXT {
        return Err(too_big("plaintext", xks_api::MAX_PLAINTEXT));
    }
    check_aad(&request.additional_authenticated_data)
}

fn check_decrypt(request: &DecryptRequest) -> Result<(), Failure> {
    check_algorithm(&request.encryption_algorithm)?;
    if request.ciphertext.len() > xks_api::MAX_PLAINTEXT {
        return Err(too_big("ciphertext", xks_api::MAX_PLAINTEXT));
    }
    check_aad(&request.additional_authenticated_data)?;
    let invalid = |what: &str| Err(Failure::new(ErrorName::InvalidCiphertext, what));
    if request.ciphertext.is_empty() {
        return invalid("the ciphertext is empty");
    }
    if request.ciphertext_metadata.as_deref() != Some(CIPHERTEXT_METADATA) {
        return invalid("the ciphertextMetadata is not this proxy's");
    }
    // This proxy only makes 12-byte IVs.
    if request.initialization_vector.len() != 12 {
        return invalid("the initializationVector is not 12 bytes");
    }
    if request.authentication_tag.len() != xks_api::TAG_LEN {
        return invalid("the authenticationTag is not 16 bytes");
    }
    Ok(())
}

/// The key `id` in the backend, AES-256 and usable for `action` (encrypt also needs decrypt,
/// for its check).
fn key_info(backend: &dyn KeyBackend, id: &str, action: Operation) -> Result<KeyInfo, Failure> {
    let info = backend
        .key_info(id)
        .map_err(Failure::from_backend)?
        .ok_or_else(|| {
            Failure::new(
                ErrorName::KeyNotFound,
                format!("the key manager holds no key {id:?}"),
            )
        })?;
    let unusable = |what: &str| Err(Failure::new(ErrorName::InvalidKeyUsage, what));
    if !info.aes_256 {
        return unusable("the external key is not an AES-256 key");
    }
    match action {
        Operation::Metadata => {}
        Operation::Encrypt if !(info.can_encrypt && info.can_decrypt) => {
            return unusable("the external key cannot both encrypt and decrypt");
        }
        Operation::Decrypt if !info.can_decrypt => {
            return unusable("the external key cannot decrypt");
        }
        Operation::Encrypt | Operation::Decrypt => {}
    }
    if action != Operation::Metadata && !info.enabled {
        return Err(Failure::new(
            ErrorName::InvalidState,
            format!("the external key {id:?} is disabled in the key manager"),
        ));
    }
    Ok(info)
}

fn gcm_aad(aad: &Option<Vec<u8>>) -> Result<Vec<u8>, Failure> {
    xks_api::gcm_aad(aad.as_deref().unwrap_or_default(), CIPHERTEXT_METADATA)
        .ok_or_else(|| too_big("additionalAuthenticatedData", xks_api::MAX_AAD))
}

/// Encrypt, CDIV, decrypt again: the spec's order, so a corruption after the CDIV shows.
fn encrypt(
    backend: &dyn KeyBackend,
    id: &str,
    request: &EncryptRequest,
) -> Result<EncryptResponse, Failure> {
    key_info(backend, id, Operation::Encrypt)?;
    let aad = gcm_aad(&request.additional_authenticated_data)?;
    let sealed = backend
        .encrypt(id, &aad, &request.plaintext)
        .map_err(Failure::from_backend)?;
    let md = CIPHERTEXT_METADATA;
    let cdiv = request
        .ciphertext_data_integrity_value_algorithm
        .is_some()
        .then(|| {
            xks_api::cdiv(
                request
                    .additional_authenticated_data
                    .as_deref()
                    .unwrap_or_default(),
                md,
                &sealed.iv,
                &sealed.ciphertext,
                &sealed.tag,
            )
            .to_vec()
        });
    let check = backend.decrypt(id, &sealed.iv, &aad, &sealed.ciphertext, &sealed.tag);
    match check {
        Ok(opened) if kms_crypto::constant_time_eq(&opened, &request.plaintext) => {}
        _ => {
            tracing::error!(key = %id, "the key manager's ciphertext does not decrypt to the plaintext");
            return Err(Failure::new(
                ErrorName::Internal,
                "the key manager's ciphertext failed its check",
            ));
        }
    }
    Ok(EncryptResponse {
        ciphertext: sealed.ciphertext,
        ciphertext_metadata: Some(md.to_vec()),
        initialization_vector: sealed.iv,
        authentication_tag: sealed.tag,
        ciphertext_data_integrity_value: cdiv,
    })
}

fn decrypt(
    backend: &dyn KeyBackend,
    id: &str,
    request: &DecryptRequest,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Failure> {
    key_info(backend, id, Operation::Decrypt)?;
    let aad = gcm_aad(&request.additional_authenticated_data)?;
    backend
        .decrypt(
            id,
            &request.initialization_vector,
            &aad,
            &request.ciphertext,
            &request.authentication_tag,
        )
        .map_err(|e| match e {
            BackendError::InvalidInput(_) => Failure::from_backend(BackendError::DecryptFailed),
            other => Failure::from_backend(other),
        })
}

/// The deep health check: its answer is 200 either way, the key manager `ACTIVE` or
/// `UNAVAILABLE`.
async fn health(app: &App, body: &[u8], seen: &mut Seen) -> Response {
    // The spec allows no ValidationException here: a body without requestMetadata is only
    // logged without its request id.
    if let Ok(request) = serde_json::from_slice::<xks_api::HealthRequest>(body) {
        seen.meta = Some(request.request_metadata);
    }
    let identity = app.backend.identity();
    let status = match app
        .blocking(|backend| backend.health().map_err(Failure::from_backend))
        .await
    {
        Ok(()) => EkmHealthStatus::Active,
        Err(failure) => {
            tracing::warn!(error = %failure.message, "the deep health check failed");
            EkmHealthStatus::Unavailable
        }
    };
    ok(&HealthResponse {
        xks_proxy_fleet_size: app.fleet_size,
        xks_proxy_vendor: "Trent".to_string(),
        xks_proxy_model: format!("Trent XKS Proxy {}", env!("CARGO_PKG_VERSION")),
        ekm_vendor: identity.vendor,
        ekm_fleet_details: vec![EkmFleetDetail {
            id: identity.id,
            model: identity.model,
            health_status: status,
        }],
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use axum::body::Body;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use kms_api::sigv4::{sign, SigningInput};
    use kms_keystore::xks_client::SIGV4_SERVICE;
    use serde_json::{json, Value};
    use tower::ServiceExt;
    use zeroize::Zeroizing;

    use super::*;
    use crate::backend::memory::MemoryBackend;
    use crate::config::tests::{AKID, SECRET};
    use crate::policy::{Pattern, Policy, Rule};

    const PREFIX: &str = "/example/prefix/kms/xks/v1";
    const ALICE: &str = "arn:aws:iam::123456789012:user/Alice";

    struct Fixture {
        backend: Arc<MemoryBackend>,
        router: Router,
    }

    fn fixture() -> Fixture {
        let backend = Arc::new(MemoryBackend::with_keys(&[
            "key-1", "key-2", "key-3", "key-off",
        ]));
        let store = Store {
            uri_path: PREFIX.to_string(),
            regions: None,
            credentials: [(AKID.to_string(), Zeroizing::new(SECRET.to_string()))].into(),
            keys: BTreeMap::from([
                ("key-1".to_string(), true),
                ("key-2".to_string(), true),
                ("key-3".to_string(), true),
                ("key-off".to_string(), false),
                ("key-gone".to_string(), true),
            ]),
            policy: Policy {
                rules: vec![Rule {
                    principals: vec![Pattern::new("arn:aws:iam::123456789012:user/*")],
                    keys: vec![Pattern::new("key-*")],
                    operations: [Operation::Metadata, Operation::Encrypt, Operation::Decrypt]
                        .into(),
                }],
            },
        };
        let stores = Stores(BTreeMap::from([(PREFIX.to_string(), store)]));
        let app = App::new(stores, backend.clone(), Duration::from_secs(5), 1);
        Fixture {
            backend,
            router: router(Arc::new(app)),
        }
    }

    fn meta(principal: &str, operation: &str) -> Value {
        json!({
            "awsPrincipalArn": principal,
            "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "kmsOperation": operation,
            "kmsRequestId": "4112f4d6-db54-4af4-ae30-c55a22a8dfae"
        })
    }

    impl Fixture {
        async fn call_with(
            &self,
            method: &str,
            path: &str,
            body: &Value,
            secret: &str,
        ) -> (u16, Value) {
            let body = serde_json::to_vec(body).unwrap();
            let signed = sign(
                &SigningInput {
                    method,
                    uri: path,
                    headers: &[
                        ("host", "xks.example.com"),
                        ("content-type", "application/json"),
                    ],
                    body: &body,
                },
                (AKID, secret),
                "us-east-1",
                SIGV4_SERVICE,
                time::OffsetDateTime::now_utc(),
            );
            let request = axum::http::Request::builder()
                .method(method)
                .uri(path)
                .header("host", "xks.example.com")
                .header("content-type", "application/json")
                .header("x-amz-date", signed.x_amz_date)
                .header("authorization", signed.authorization)
                .body(Body::from(body))
                .unwrap();
            let response = self.router.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        }

        async fn call(&self, path: &str, body: &Value) -> (u16, Value) {
            self.call_with("POST", path, body, SECRET).await
        }

        async fn encrypt(&self, key: &str, body: Value) -> (u16, Value) {
            self.call(&format!("{PREFIX}/keys/{key}/encrypt"), &body)
                .await
        }
    }

    fn error_name(answer: &(u16, Value)) -> (u16, &str) {
        (answer.0, answer.1["errorName"].as_str().unwrap_or(""))
    }

    fn encrypt_body(plaintext: &[u8], aad: Option<&[u8]>) -> Value {
        let mut body = json!({
            "requestMetadata": meta(ALICE, "Encrypt"),
            "plaintext": STANDARD.encode(plaintext),
            "encryptionAlgorithm": "AES_GCM",
            "ciphertextDataIntegrityValueAlgorithm": "SHA_256"
        });
        if let Some(aad) = aad {
            body["additionalAuthenticatedData"] = json!(STANDARD.encode(aad));
        }
        body
    }

    fn decrypt_body(encrypted: &Value, aad: Option<&[u8]>) -> Value {
        let mut body = json!({
            "requestMetadata": meta(ALICE, "Decrypt"),
            "ciphertext": encrypted["ciphertext"],
            "ciphertextMetadata": encrypted["ciphertextMetadata"],
            "initializationVector": encrypted["initializationVector"],
            "authenticationTag": encrypted["authenticationTag"],
            "encryptionAlgorithm": "AES_GCM"
        });
        if let Some(aad) = aad {
            body["additionalAuthenticatedData"] = json!(STANDARD.encode(aad));
        }
        body
    }

    fn b64(value: &Value) -> Vec<u8> {
        STANDARD.decode(value.as_str().unwrap()).unwrap()
    }

    #[tokio::test]
    async fn health_answers_deeply() {
        let f = fixture();
        let body =
            json!({"requestMetadata": {"kmsRequestId": "r1", "kmsOperation": "KmsHealthCheck"}});
        let (status, answer) = f.call(&format!("{PREFIX}/health"), &body).await;
        assert_eq!(status, 200, "{answer}");
        let health: HealthResponse = serde_json::from_value(answer).unwrap();
        assert_eq!(health.problem(), None);
        assert_eq!(
            health.ekm_fleet_details[0].health_status,
            EkmHealthStatus::Active
        );
        f.backend
            .down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let (status, answer) = f.call(&format!("{PREFIX}/health"), &body).await;
        assert_eq!(status, 200);
        let health: HealthResponse = serde_json::from_value(answer).unwrap();
        assert_eq!(
            health.connection_error_code(),
            Some("XKS_PROXY_NOT_REACHABLE")
        );
    }

    #[tokio::test]
    async fn encrypt_decrypt_round_trip_with_cdiv() {
        let f = fixture();
        let aad = b"project=nile,department=marketing";
        for aad in [Some(&aad[..]), None] {
            let (status, enc) = f.encrypt("key-1", encrypt_body(b"Hello World!", aad)).await;
            assert_eq!(status, 200, "{enc}");
            let ct = b64(&enc["ciphertext"]);
            let md = b64(&enc["ciphertextMetadata"]);
            let iv = b64(&enc["initializationVector"]);
            let tag = b64(&enc["authenticationTag"]);
            assert_eq!((ct.len(), iv.len(), tag.len()), (12, 12, 16));
            assert_eq!(md, CIPHERTEXT_METADATA);
            assert_eq!(
                b64(&enc["ciphertextDataIntegrityValue"]),
                xks_api::cdiv(aad.unwrap_or_default(), &md, &iv, &ct, &tag)
            );
            let (status, dec) = f
                .call(
                    &format!("{PREFIX}/keys/key-1/decrypt"),
                    &decrypt_body(&enc, aad),
                )
                .await;
            assert_eq!(status, 200, "{dec}");
            assert_eq!(b64(&dec["plaintext"]), b"Hello World!");
        }
        // No CDIV unless asked for.
        let mut body = encrypt_body(b"x", None);
        body.as_object_mut()
            .unwrap()
            .remove("ciphertextDataIntegrityValueAlgorithm");
        let (status, enc) = f.encrypt("key-1", body).await;
        assert_eq!(status, 200);
        assert!(enc.get("ciphertextDataIntegrityValue").is_none());
    }

    #[tokio::test]
    async fn altered_ciphertexts_are_invalid() {
        let f = fixture();
        let (_, enc) = f
            .encrypt("key-1", encrypt_body(b"secret data", Some(b"ctx")))
            .await;
        let path = format!("{PREFIX}/keys/key-1/decrypt");
        let mut tag = b64(&enc["authenticationTag"]);
        tag[0] ^= 1;
        let mut tampered = decrypt_body(&enc, Some(b"ctx"));
        tampered["authenticationTag"] = json!(STANDARD.encode(&tag));
        let cases = [
            ("tag", tampered),
            ("aad", decrypt_body(&enc, Some(b"other"))),
            ("no aad", decrypt_body(&enc, None)),
            ("metadata", {
                let mut b = decrypt_body(&enc, Some(b"ctx"));
                b["ciphertextMetadata"] = json!(STANDARD.encode(b"other"));
                b
            }),
            ("no metadata", {
                let mut b = decrypt_body(&enc, Some(b"ctx"));
                b.as_object_mut().unwrap().remove("ciphertextMetadata");
                b
            }),
            ("iv length", {
                let mut b = decrypt_body(&enc, Some(b"ctx"));
                b["initializationVector"] = json!(STANDARD.encode([0u8; 16]));
                b
            }),
        ];
        for (what, body) in cases {
            let answer = f.call(&path, &body).await;
            assert_eq!(
                error_name(&answer),
                (400, "InvalidCiphertextException"),
                "{what}"
            );
        }
        // Another key cannot decrypt it either.
        let answer = f
            .call(
                &format!("{PREFIX}/keys/key-2/decrypt"),
                &decrypt_body(&enc, Some(b"ctx")),
            )
            .await;
        assert_eq!(error_name(&answer), (400, "InvalidCiphertextException"));
    }

    #[tokio::test]
    async fn authentication_paths_and_methods() {
        let f = fixture();
        let body = json!({"requestMetadata": meta(ALICE, "DescribeKey")});
        let metadata = format!("{PREFIX}/keys/key-1/metadata");
        let answer = f.call_with("POST", &metadata, &body, &"x".repeat(43)).await;
        assert_eq!(error_name(&answer), (401, "AuthenticationFailedException"));
        let answer = f
            .call("/other/prefix/kms/xks/v1/keys/key-1/metadata", &body)
            .await;
        assert_eq!(error_name(&answer), (404, "InvalidUriPathException"));
        let answer = f.call(&format!("{PREFIX}/keys/key-1/sign"), &body).await;
        assert_eq!(error_name(&answer), (404, "InvalidUriPathException"));
        let answer = f.call_with("GET", &metadata, &body, SECRET).await;
        assert_eq!(answer.0, 405);
        let answer = f
            .call_with("GET", &format!("{PREFIX}/health"), &body, SECRET)
            .await;
        assert_eq!(answer.0, 405);
        let answer = f.call(&metadata, &body).await;
        assert_eq!(answer.0, 200, "{}", answer.1);
        assert_eq!(
            answer.1,
            json!({"keySpec": "AES_256", "keyUsage": ["ENCRYPT", "DECRYPT"], "keyStatus": "ENABLED"})
        );
    }

    #[tokio::test]
    async fn the_policy_decides_who_may_use_which_key() {
        let f = fixture();
        let mallory = "arn:aws:iam::999999999999:user/Mallory";
        let mut body = encrypt_body(b"x", None);
        body["requestMetadata"] = meta(mallory, "Encrypt");
        let answer = f.encrypt("key-1", body).await;
        assert_eq!(error_name(&answer), (403, "AccessDeniedException"));
        // Denied before the key's existence is told.
        let answer = f
            .call(
                &format!("{PREFIX}/keys/nokey/metadata"),
                &json!({"requestMetadata": meta(ALICE, "DescribeKey")}),
            )
            .await;
        assert_eq!(error_name(&answer), (403, "AccessDeniedException"));
        // Health is never subject to it.
        let answer = f
            .call(
                &format!("{PREFIX}/health"),
                &json!({"requestMetadata": {"kmsRequestId": "r", "kmsOperation": "KmsHealthCheck"}}),
            )
            .await;
        assert_eq!(answer.0, 200);
    }

    #[tokio::test]
    async fn key_states() {
        let f = fixture();
        let describe = json!({"requestMetadata": meta(ALICE, "DescribeKey")});
        let answer = f
            .call(&format!("{PREFIX}/keys/key-off/metadata"), &describe)
            .await;
        assert_eq!(answer.1["keyStatus"], "DISABLED");
        let answer = f.encrypt("key-off", encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (400, "InvalidStateException"));
        // Not served by the store / not in the key manager.
        let answer = f.encrypt("key-9", encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (404, "KeyNotFoundException"));
        let answer = f.encrypt("key-gone", encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (404, "KeyNotFoundException"));
        f.backend.remove("key-2");
        let answer = f
            .call(&format!("{PREFIX}/keys/key-2/metadata"), &describe)
            .await;
        assert_eq!(error_name(&answer), (404, "KeyNotFoundException"));
        // Keys that are not AES-256 or cannot encrypt.
        let aes128 = KeyInfo {
            aes_256: false,
            can_encrypt: true,
            can_decrypt: true,
            enabled: true,
        };
        f.backend.set_info("key-1", aes128);
        let answer = f.encrypt("key-1", encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (400, "InvalidKeyUsageException"));
        let decrypt_only = KeyInfo {
            aes_256: true,
            can_encrypt: false,
            can_decrypt: true,
            enabled: true,
        };
        f.backend.set_info("key-1", decrypt_only);
        let answer = f.encrypt("key-1", encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (400, "InvalidKeyUsageException"));
        let answer = f
            .call(&format!("{PREFIX}/keys/key-1/metadata"), &describe)
            .await;
        assert_eq!(answer.1["keyUsage"], json!(["DECRYPT"]));
        // Disabled in the key manager (a KMS key that is not Enabled).
        let (_, sealed) = f.encrypt("key-3", encrypt_body(b"x", None)).await;
        let disabled = KeyInfo {
            aes_256: true,
            can_encrypt: true,
            can_decrypt: true,
            enabled: false,
        };
        f.backend.set_info("key-3", disabled);
        let answer = f
            .call(&format!("{PREFIX}/keys/key-3/metadata"), &describe)
            .await;
        assert_eq!(answer.1["keyStatus"], "DISABLED", "{}", answer.1);
        assert_eq!(answer.1["keyUsage"], json!(["ENCRYPT", "DECRYPT"]));
        let answer = f.encrypt("key-3", encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (400, "InvalidStateException"));
        let answer = f
            .call(
                &format!("{PREFIX}/keys/key-3/decrypt"),
                &decrypt_body(&sealed, None),
            )
            .await;
        assert_eq!(error_name(&answer), (400, "InvalidStateException"));
        // A backend that refuses, does not answer or throttles.
        f.backend.set_info(
            "key-3",
            KeyInfo {
                enabled: true,
                ..disabled
            },
        );
        for (error, expected) in [
            (
                BackendError::KeyUnusable("DisabledException".into()),
                (400, "InvalidStateException"),
            ),
            (
                BackendError::Unreachable("connection refused".into()),
                (503, "DependencyTimeoutException"),
            ),
            (
                BackendError::Throttled("ThrottlingException".into()),
                (429, "ThrottlingException"),
            ),
            (
                BackendError::Unavailable("KMSInternalException".into()),
                (500, "InternalException"),
            ),
        ] {
            f.backend.fail_with(Some(error.clone()));
            let answer = f.encrypt("key-3", encrypt_body(b"x", None)).await;
            assert_eq!(error_name(&answer), expected, "{error:?}");
        }
        f.backend.fail_with(None);
        assert_eq!(f.encrypt("key-3", encrypt_body(b"x", None)).await.0, 200);
    }

    #[tokio::test]
    async fn validation() {
        let f = fixture();
        let answer = f
            .encrypt("key-1", encrypt_body(&[0; 4300], Some(&[1; 8192])))
            .await;
        assert_eq!(answer.0, 200, "the spec's maximum sizes are served");
        let answer = f.encrypt("key-1", encrypt_body(&[0; 4301], None)).await;
        assert_eq!(error_name(&answer), (501, "UnsupportedOperationException"));
        let answer = f
            .encrypt("key-1", encrypt_body(b"x", Some(&[1; 8193])))
            .await;
        assert_eq!(error_name(&answer), (501, "UnsupportedOperationException"));
        let mut cases = Vec::new();
        let mut body = encrypt_body(b"x", None);
        body["encryptionAlgorithm"] = json!("AES_CBC");
        cases.push(("algorithm", body));
        let mut body = encrypt_body(b"x", None);
        body["ciphertextDataIntegrityValueAlgorithm"] = json!("MD5");
        cases.push(("cdiv algorithm", body));
        cases.push(("empty plaintext", encrypt_body(b"", None)));
        let mut body = encrypt_body(b"x", None);
        body["plaintext"] = json!("not base64!");
        cases.push(("base64", body));
        let mut body = encrypt_body(b"x", None);
        body["requestMetadata"]
            .as_object_mut()
            .unwrap()
            .remove("awsPrincipalArn");
        cases.push(("no principal", body));
        let mut body = encrypt_body(b"x", None);
        body["requestMetadata"]
            .as_object_mut()
            .unwrap()
            .remove("kmsKeyArn");
        cases.push(("no key arn", body));
        let mut body = encrypt_body(b"x", None);
        body["requestMetadata"]
            .as_object_mut()
            .unwrap()
            .remove("kmsRequestId");
        cases.push(("no request id", body));
        for (what, body) in cases {
            let answer = f.encrypt("key-1", body).await;
            assert_eq!(error_name(&answer), (400, "ValidationException"), "{what}");
        }
        let answer = f.encrypt(&"k".repeat(129), encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (400, "ValidationException"));
        let answer = f.encrypt("bad%20id", encrypt_body(b"x", None)).await;
        assert_eq!(error_name(&answer), (400, "ValidationException"));
        // An unknown kmsOperation is fine.
        let mut body = encrypt_body(b"x", None);
        body["requestMetadata"]["kmsOperation"] = json!("BulkEncrypt");
        assert_eq!(f.encrypt("key-1", body).await.0, 200);
    }

    #[test]
    fn routes() {
        let store = Store {
            uri_path: PREFIX.to_string(),
            regions: None,
            credentials: Default::default(),
            keys: Default::default(),
            policy: Policy::default(),
        };
        let stores = Stores(BTreeMap::from([(PREFIX.to_string(), store)]));
        let op = |path: &str| route(&stores, path).map(|(_, op)| op);
        assert_eq!(op(&format!("{PREFIX}/health")), Some(Op::Health));
        assert_eq!(
            op(&format!("{PREFIX}/keys/k.1/decrypt")),
            Some(Op::Key {
                id: "k.1".into(),
                action: Operation::Decrypt
            })
        );
        assert_eq!(op(&format!("{PREFIX}/health/")), None);
        assert_eq!(op(&format!("{PREFIX}/keys/k/a/encrypt")), None);
        assert_eq!(op(&format!("{PREFIX}x/health")), None);
        assert_eq!(op("/kms/xks/v1/health"), None);
    }
}
