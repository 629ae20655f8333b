//! Whether this node holds its region root key yet, and everything that depends on that:
//!
//! - [`SealState`]: the root key once unsealed (`OnceLock`, so unsealing needs no restart), why
//!   the node is still sealed, and the Shamir shares submitted so far;
//! - [`SealGate`]: the `KmsService` the API router serves. Until the node is unsealed every KMS
//!   call answers `KMSInternalException` saying so and how to unseal, and `GET /health` answers
//!   503 with a JSON body (`"status": "sealed"`); afterwards it hands calls to the region's
//!   [`Kms`]. Signatures are still checked while sealed, and STS (which does not use the root
//!   key) still answers;
//! - [`auto_unseal`]: the PKCS#11 and KMS seals, tried in the background until they succeed
//!   (a node whose HSM or remote KMS is down stays up, sealed, and says why), after migrating a
//!   plaintext root key an earlier version left;
//! - [`router`]: `GET /v1/sys/seal-status` and `POST /v1/sys/unseal` (one Shamir share per
//!   call, as OpenBao's operators know them) on the KMS API port. They are unauthenticated:
//!   the shares are the credential, and the status reveals nothing secret. A node takes at
//!   most [`UNSEAL_LIMIT`] submissions per rolling [`UNSEAL_WINDOW`] ([`UnsealLimiter`]);
//!   beyond that it answers 429 naming when to retry.
//!
//! Raft does not need the root key (it replicates only wrapped material), so the region's Raft
//! group runs while the node is sealed.

use crate::service::Kms;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use axum::{Json, Router};
use kms_api::{KmsService, RequestContext};
use kms_authz::{IdentityStore, Signer};
use kms_crypto::RootKey;
use kms_seal::{SealConfig, SealedRootKey};
use kms_types::{KmsError, KmsRequest};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// At most this many submissions to `POST /v1/sys/unseal` (a share, well-formed or not, or a
/// reset) a node takes per [`UNSEAL_WINDOW`]; beyond it the node answers 429 with when to
/// retry. The endpoint is unauthenticated, so this is what bounds a caller that guesses at
/// shares, floods the node with full sets of wrong ones (each a key recovery and an AES-GCM
/// open, and a reset of the operators' progress), or fills the log. Operators need a few
/// submissions per node (the threshold is typically 3 of 5), so 20 leaves room for typos and
/// resets; an unseal that needs more than 20 shares simply continues in the next minute. The
/// budget is the node's, not a caller's: a caller with many addresses gets no more.
pub const UNSEAL_LIMIT: usize = 20;

/// The rolling window of [`UNSEAL_LIMIT`].
pub const UNSEAL_WINDOW: Duration = Duration::from_secs(60);

/// The seal of one node's root key.
pub struct SealState {
    region: String,
    /// `pkcs11`, `kms`, `shamir`, or `plaintext` (no `[seal]`).
    kind: &'static str,
    root: OnceLock<RootKey>,
    unsealed: tokio::sync::watch::Sender<bool>,
    /// Why the node is still sealed, for the operator.
    reason: Mutex<String>,
    /// The Shamir seal's sealed file and the shares submitted so far.
    shamir: Mutex<ShamirProgress>,
    /// How many unseal submissions the node still takes.
    limiter: Mutex<UnsealLimiter>,
}

#[derive(Default)]
struct ShamirProgress {
    sealed: Option<SealedRootKey>,
    shares: Vec<Zeroizing<String>>,
    /// Full sets of shares that did not open the root key since the node started.
    failed_attempts: u64,
}

/// A rolling-window rate limit: at most `limit` admissions in any `window`. Refused calls are
/// not admissions, so a caller that keeps trying does not push the window out for everyone.
/// Time is passed in, so the tests need not wait.
#[derive(Debug)]
pub struct UnsealLimiter {
    limit: usize,
    window: Duration,
    /// When each admission of the last `window` happened, oldest first.
    admitted: VecDeque<Instant>,
    /// Refusals since the last admission.
    refused: u64,
}

/// Why [`UnsealLimiter::admit`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// When a submission is taken again (the oldest admission leaves the window).
    pub retry_after: Duration,
    /// Refusals since the last admission, this one included.
    pub refused: u64,
}

impl UnsealLimiter {
    /// `limit` admissions per rolling `window`.
    pub fn new(limit: usize, window: Duration) -> UnsealLimiter {
        UnsealLimiter {
            limit,
            window,
            admitted: VecDeque::with_capacity(limit),
            refused: 0,
        }
    }

    /// Admits a call at `now`, or says when one will be admitted. On admission, answers how
    /// many calls were refused since the previous admission.
    pub fn admit(&mut self, now: Instant) -> Result<u64, Limited> {
        while let Some(&oldest) = self.admitted.front() {
            if now.saturating_duration_since(oldest) >= self.window {
                self.admitted.pop_front();
            } else {
                break;
            }
        }
        if self.admitted.len() >= self.limit {
            self.refused += 1;
            let retry_after = self.admitted.front().map_or(self.window, |&oldest| {
                (oldest + self.window).saturating_duration_since(now)
            });
            return Err(Limited {
                retry_after,
                refused: self.refused,
            });
        }
        self.admitted.push_back(now);
        Ok(std::mem::take(&mut self.refused))
    }
}

impl SealState {
    /// A sealed state for `region` under `seal` (`None`: the plaintext root key file).
    pub fn new(region: &str, seal: Option<&SealConfig>) -> Arc<SealState> {
        let kind = seal.map_or("plaintext", SealConfig::kind);
        let reason = match seal {
            Some(SealConfig::Shamir(_)) => {
                "waiting for Shamir unseal shares (trent operator unseal)".to_string()
            }
            Some(_) => format!("unsealing through the {kind} seal"),
            None => "loading the plaintext root key".to_string(),
        };
        Arc::new(SealState {
            region: region.to_string(),
            kind,
            root: OnceLock::new(),
            unsealed: tokio::sync::watch::channel(false).0,
            reason: Mutex::new(reason),
            shamir: Mutex::new(ShamirProgress::default()),
            limiter: Mutex::new(UnsealLimiter::new(UNSEAL_LIMIT, UNSEAL_WINDOW)),
        })
    }

    /// Hands over the unsealed root key (the first one given wins).
    pub fn unseal(&self, root: RootKey) {
        if self.root.set(root).is_ok() {
            tracing::info!(region = %self.region, seal = self.kind, "unsealed the region root key");
            self.unsealed.send_replace(true);
        }
    }

    /// The root key once unsealed.
    pub fn root_key(&self) -> Option<&RootKey> {
        self.root.get()
    }

    /// Waits until the node is unsealed and returns the root key.
    pub async fn wait_unsealed(&self) -> RootKey {
        let mut rx = self.unsealed.subscribe();
        loop {
            if let Some(root) = self.root.get() {
                return root.clone();
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as `self`; this never happens while we wait.
                std::future::pending::<()>().await;
            }
        }
    }

    fn set_reason(&self, reason: String) {
        *lock(&self.reason) = reason;
    }

    fn reason(&self) -> String {
        lock(&self.reason).clone()
    }

    /// Takes the Shamir seal's sealed file (read at start; `None` if not initialised).
    fn set_shamir_file(&self, sealed: Option<SealedRootKey>) {
        lock(&self.shamir).sealed = sealed;
    }

    /// The seal's status, as `GET /v1/sys/seal-status` and `/health` show it.
    pub fn status(&self) -> Value {
        let sealed = self.root.get().is_none();
        let mut status = json!({
            "status": if sealed { "sealed" } else { "ok" },
            "sealed": sealed,
            "type": self.kind,
            "region": self.region,
        });
        if sealed {
            status["reason"] = Value::String(self.reason());
            status["unseal"] = Value::String(self.how_to_unseal());
        }
        if self.kind == "shamir" {
            let progress = lock(&self.shamir);
            if let Some(params) = progress.sealed.as_ref().and_then(|s| s.shamir) {
                status["threshold"] = json!(params.threshold);
                status["shares"] = json!(params.shares);
            }
            status["initialized"] = json!(progress.sealed.is_some());
            status["progress"] = json!(progress.shares.len());
            status["failed_attempts"] = json!(progress.failed_attempts);
        }
        status
    }

    fn how_to_unseal(&self) -> String {
        match self.kind {
            "shamir" => "submit unseal shares with `trent operator unseal --addr \
                         https://HOST:PORT --ca CA.pem` (plain HOST:PORT only on the node's own \
                         host), one per call, until the threshold is reached"
                .to_string(),
            "plaintext" => "the node is starting".to_string(),
            kind => format!(
                "the node unseals by itself once its {kind} seal answers; fix the reason above \
                 (GET /v1/sys/seal-status shows it)"
            ),
        }
    }

    /// The error every KMS call answers while sealed.
    fn sealed_error(&self) -> KmsError {
        KmsError::KmsInternal(format!(
            "This Trent node is sealed: the root key of region {} is not unsealed ({} seal: \
             {}). To unseal: {}.",
            self.region,
            self.kind,
            self.reason(),
            self.how_to_unseal()
        ))
    }

    /// Takes one Shamir share; unseals once the threshold is reached. A malformed share is
    /// refused and not counted; a full set that does not open the root key is refused, the
    /// progress reset (fail closed), and the failure counted and logged. Nothing of a share is
    /// ever logged; `peer` (the caller's address) is.
    fn submit_share(&self, share: &str, peer: &str) -> Result<(), String> {
        if self.kind != "shamir" {
            return Err(format!(
                "this node uses the {} seal, not Shamir shares",
                self.kind
            ));
        }
        if self.root.get().is_some() {
            return Ok(());
        }
        if let Err(e) = kms_crypto::shamir::check_share(share) {
            tracing::warn!(region = %self.region, peer, "refused a malformed unseal share");
            return Err(e.to_string());
        }
        let mut progress = lock(&self.shamir);
        let Some(sealed) = progress.sealed.clone() else {
            return Err(
                "this region's Shamir seal is not initialised (trent operator init)".into(),
            );
        };
        let Some(params) = sealed.shamir else {
            return Err("the sealed root key file is not a Shamir seal's".into());
        };
        if progress.shares.iter().any(|s| s.trim() == share.trim()) {
            return Err("this share was already submitted".into());
        }
        progress
            .shares
            .push(Zeroizing::new(share.trim().to_string()));
        if progress.shares.len() < usize::from(params.threshold) {
            return Ok(());
        }
        let shares = Zeroizing::new(
            progress
                .shares
                .drain(..)
                .map(|s| s.to_string())
                .collect::<Vec<String>>(),
        );
        let opened = sealed.open_with_shares(&shares);
        match opened {
            Ok(root) => {
                drop(progress);
                self.unseal(root);
                Ok(())
            }
            Err(e) => {
                progress.failed_attempts += 1;
                let failed_attempts = progress.failed_attempts;
                drop(progress);
                tracing::warn!(
                    region = %self.region,
                    peer,
                    failed_attempts,
                    "an unseal attempt with a full set of shares did not open the root key; \
                     progress reset"
                );
                Err(format!(
                    "{e}; the unseal progress was reset (failed attempts since the node \
                     started: {failed_attempts})"
                ))
            }
        }
    }

    /// Forgets the shares submitted so far.
    fn reset(&self) {
        lock(&self.shamir).shares.clear();
    }

    /// Counts one unseal submission against [`UNSEAL_LIMIT`], logging when the node starts
    /// refusing and, once it takes submissions again, how many it refused.
    fn admit_submission(&self, peer: &str) -> Result<(), Limited> {
        let admitted = lock(&self.limiter).admit(Instant::now());
        match admitted {
            Ok(0) => Ok(()),
            Ok(refused) => {
                tracing::warn!(region = %self.region, peer, refused, "took unseal submissions again after refusing some over the rate limit");
                Ok(())
            }
            Err(limited) => {
                let retry_in_s = retry_secs(limited.retry_after);
                if limited.refused == 1 {
                    tracing::warn!(
                        region = %self.region,
                        peer,
                        limit = UNSEAL_LIMIT,
                        window_s = UNSEAL_WINDOW.as_secs(),
                        retry_in_s,
                        "unseal submissions over the rate limit: refusing them (429) until the \
                         window passes"
                    );
                } else {
                    tracing::debug!(region = %self.region, peer, refused = limited.refused, retry_in_s, "refused an unseal submission over the rate limit");
                }
                Err(limited)
            }
        }
    }
}

/// Whole seconds to wait, rounded up, at least 1.
fn retry_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Prepares the seal at start: a plaintext root key without `[seal]` is loaded now (a
/// warning: it rests unsealed on disk); a Shamir seal's file is read so shares can be checked
/// against it; an auto-unsealing seal is handed to [`auto_unseal`].
pub fn start(
    state: &Arc<SealState>,
    seal: Option<&SealConfig>,
    plaintext: PathBuf,
) -> anyhow::Result<()> {
    match seal {
        None => {
            let root = RootKey::load(&plaintext).map_err(|e| {
                anyhow::anyhow!("loading the region root key {}: {e}", plaintext.display())
            })?;
            tracing::warn!(
                path = %plaintext.display(),
                "the region root key is a plaintext file: configure [seal] (pkcs11, kms or shamir) \
                 so it never rests unsealed on disk"
            );
            state.unseal(root);
        }
        Some(SealConfig::Shamir(shamir)) => {
            if plaintext.exists() {
                state.set_reason(format!(
                    "a plaintext root key is at {}: run `trent operator init` to seal it under \
                     Shamir shares",
                    plaintext.display()
                ));
                tracing::warn!(path = %plaintext.display(), "a plaintext root key waits to be sealed by trent operator init");
            }
            match SealedRootKey::read(&shamir.sealed_root_key) {
                Ok(Some(sealed)) => {
                    if let Err(e) =
                        sealed.check_matches(&SealConfig::Shamir(shamir.clone()), &state.region)
                    {
                        state.set_reason(e.to_string());
                        anyhow::bail!("{e}");
                    }
                    state.set_shamir_file(Some(sealed));
                }
                Ok(None) => state.set_reason(format!(
                    "the Shamir seal is not initialised: no {} (trent operator init)",
                    shamir.sealed_root_key.display()
                )),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        Some(auto) => {
            tokio::spawn(auto_unseal(state.clone(), auto.clone(), plaintext));
        }
    }
    Ok(())
}

/// Unseals through an auto-unsealing seal, retrying (1 s, doubling to 30 s) with the reason
/// logged and shown in the seal status, until it succeeds. First seals a plaintext root key
/// an earlier version left at `plaintext`, and destroys that file.
pub async fn auto_unseal(state: Arc<SealState>, seal: SealConfig, plaintext: PathBuf) {
    let mut backoff = Duration::from_secs(1);
    loop {
        match try_auto_unseal(&state, &seal, &plaintext).await {
            Ok(root) => {
                state.unseal(root);
                return;
            }
            Err(e) => {
                tracing::warn!(seal = seal.kind(), error = %e, retry_in_s = backoff.as_secs(), "still sealed: the seal did not open the root key");
                state.set_reason(e.to_string());
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn try_auto_unseal(
    state: &SealState,
    seal: &SealConfig,
    plaintext: &std::path::Path,
) -> Result<RootKey, kms_seal::SealError> {
    for file in seal.secret_files() {
        kms_seal::secret_file::check(file, "the seal's secret file")?;
    }
    let prepared = kms_seal::ensure_sealed(seal, &state.region, plaintext, false).await?;
    if prepared == kms_seal::Prepared::Migrated {
        tracing::info!(path = %plaintext.display(), seal = seal.kind(), "sealed the plaintext root key an earlier version wrote and destroyed the plaintext file");
    }
    let sealed = SealedRootKey::read(seal.sealed_root_key())?.ok_or_else(|| {
        kms_seal::SealError(format!(
            "no sealed root key at {}",
            seal.sealed_root_key().display()
        ))
    })?;
    sealed.check_matches(seal, &state.region)?;
    kms_seal::unseal_auto(seal, &sealed).await
}

/// The KMS service the API serves: the region's [`Kms`] once unsealed, a sealed answer before.
pub struct SealGate {
    seal: Arc<SealState>,
    identities: Arc<IdentityStore>,
    kms: OnceLock<Arc<Kms>>,
}

impl SealGate {
    /// A gate that answers sealed until [`SealGate::open`].
    pub fn new(seal: Arc<SealState>, identities: Arc<IdentityStore>) -> SealGate {
        SealGate {
            seal,
            identities,
            kms: OnceLock::new(),
        }
    }

    /// Starts serving `kms` (after unsealing).
    pub fn open(&self, kms: Arc<Kms>) {
        let _ = self.kms.set(kms);
    }

    /// The region's service, once unsealed.
    pub fn kms(&self) -> Option<&Arc<Kms>> {
        self.kms.get()
    }
}

impl KmsService for SealGate {
    type Caller = Signer;

    fn home_region(&self) -> Option<&str> {
        // Known while sealed too, so a request signed for another region is kept for
        // forwarding (the region's `Kms` answers it once unsealed).
        Some(&self.seal.region)
    }

    fn resolve(&self, principal: &kms_api::Principal) -> Result<Signer, KmsError> {
        self.identities.resolve(principal)
    }

    async fn sts(&self, request: kms_api::sts::StsRequest) -> Result<String, KmsError> {
        kms_authz::sts::handle(&self.identities, request)
    }

    async fn call(
        &self,
        ctx: RequestContext,
        signer: &Signer,
        request: KmsRequest,
    ) -> Result<Value, KmsError> {
        match self.kms.get() {
            Some(kms) => kms.call(ctx, signer, request).await,
            None => Err(self.seal.sealed_error()),
        }
    }

    fn health(&self) -> Result<(), Value> {
        if self.kms.get().is_some() {
            Ok(())
        } else {
            Err(self.seal.status())
        }
    }

    fn ready(&self) -> Result<(), Value> {
        match self.kms.get() {
            Some(kms) => crate::readiness::readiness(kms),
            None => Err(self.seal.status()),
        }
    }
}

/// `GET /v1/sys/seal-status` and `POST /v1/sys/unseal` (`{"key": SHARE}` or `{"reset":
/// true}`; answers the status, or 400 `{"errors": [...]}` with the status, or 429 with the
/// status, `errors`, `retry_after_secs` and a `Retry-After` header beyond [`UNSEAL_LIMIT`]).
pub fn router(state: Arc<SealState>) -> Router {
    Router::new()
        .route("/v1/sys/seal-status", get(seal_status))
        .route("/v1/sys/unseal", post(unseal))
        .with_state(state)
}

async fn seal_status(State(state): State<Arc<SealState>>) -> Response {
    Json(state.status()).into_response()
}

#[derive(serde::Deserialize)]
struct UnsealRequest {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    reset: bool,
}

async fn unseal(
    State(state): State<Arc<SealState>>,
    peer: Option<Extension<axum::extract::ConnectInfo<SocketAddr>>>,
    body: axum::body::Bytes,
) -> Response {
    let peer = peer.map_or_else(|| "unknown".to_string(), |info| info.0 .0.to_string());
    // Counted before the body is looked at: a refused submission's share is never examined.
    if let Err(limited) = state.admit_submission(&peer) {
        return rate_limited(&state, limited);
    }
    let request: UnsealRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return refused(
                &state,
                "the body must be JSON: {\"key\": SHARE} or {\"reset\": true}".into(),
            )
        }
    };
    if request.reset {
        state.reset();
        return Json(state.status()).into_response();
    }
    let Some(share) = request.key.map(Zeroizing::new) else {
        return refused(&state, "no share in \"key\"".into());
    };
    match state.submit_share(&share, &peer) {
        Ok(()) => Json(state.status()).into_response(),
        Err(reason) => refused(&state, reason),
    }
}

fn refused(state: &SealState, reason: String) -> Response {
    let mut body = state.status();
    body["errors"] = json!([reason]);
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// 429 beyond [`UNSEAL_LIMIT`]: the status with `errors` (as [`refused`]) and when to retry.
fn rate_limited(state: &SealState, limited: Limited) -> Response {
    let retry = retry_secs(limited.retry_after);
    let mut body = state.status();
    body["errors"] = json!([format!(
        "too many unseal submissions: this node takes at most {UNSEAL_LIMIT} per {} s; retry \
         in {retry} s (this submission was not looked at)",
        UNSEAL_WINDOW.as_secs()
    )]);
    body["retry_after_secs"] = json!(retry);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(axum::http::header::RETRY_AFTER, retry.to_string())],
        Json(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kms_seal::ShamirConfig;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn the_limiter_takes_its_limit_per_rolling_window_and_says_when_to_retry() {
        let mut limiter = UnsealLimiter::new(3, MINUTE);
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(limiter.admit(at(0)), Ok(0));
        assert_eq!(limiter.admit(at(10)), Ok(0));
        assert_eq!(limiter.admit(at(20)), Ok(0));
        // The fourth within a minute of the first is refused until the first leaves the window.
        assert_eq!(
            limiter.admit(at(30)),
            Err(Limited {
                retry_after: Duration::from_secs(30),
                refused: 1
            })
        );
        assert_eq!(
            limiter.admit(at(59)),
            Err(Limited {
                retry_after: Duration::from_secs(1),
                refused: 2
            })
        );
        // Refusals are not admissions: the window is not pushed out by them.
        assert_eq!(
            limiter.admit(at(60)),
            Ok(2),
            "the refusals are reported once"
        );
        // Rolling: the window now holds 10, 20 and 60; the next slot frees at 70.
        assert_eq!(
            limiter.admit(at(61)).unwrap_err().retry_after,
            Duration::from_secs(9)
        );
        assert_eq!(limiter.admit(at(70)), Ok(1));
        assert_eq!(limiter.admit(at(80)), Ok(0));
        assert!(limiter.admit(at(80)).is_err());
        // A quiet window empties it.
        for secs in [200, 201, 202] {
            assert!(limiter.admit(at(secs)).is_ok());
        }
        assert!(limiter.admit(at(203)).is_err());
    }

    #[test]
    fn retry_seconds_round_up() {
        assert_eq!(retry_secs(Duration::ZERO), 1);
        assert_eq!(retry_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_secs(Duration::from_millis(59_001)), 60);
        assert_eq!(retry_secs(Duration::from_secs(60)), 60);
    }

    fn shamir_state(dir: &std::path::Path) -> Arc<SealState> {
        SealState::new(
            "us-east-1",
            Some(&SealConfig::Shamir(ShamirConfig {
                sealed_root_key: dir.join("root.sealed"),
            })),
        )
    }

    async fn post(state: &Arc<SealState>, body: Value) -> (StatusCode, Option<String>, Value) {
        let peer: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let response = unseal(
            State(state.clone()),
            Some(Extension(axum::extract::ConnectInfo(peer))),
            axum::body::Bytes::from(body.to_string()),
        )
        .await;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(axum::http::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, retry_after, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn submissions_beyond_the_limit_answer_429_with_when_to_retry() {
        let dir = tempfile::tempdir().unwrap();
        let state = shamir_state(dir.path());
        let root = RootKey::generate();
        let (sealed, _) = SealedRootKey::shamir("us-east-1", &root, 5, 3).unwrap();
        state.set_shamir_file(Some(sealed));
        for _ in 0..UNSEAL_LIMIT {
            let (status, _, body) = post(&state, json!({"key": "trent-share-v1-00"})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        }
        let (status, retry_after, body) = post(&state, json!({"key": "trent-share-v1-00"})).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        // The shape of the other refusals: the status, with the reason in `errors`.
        assert_eq!(body["sealed"], true);
        assert_eq!(body["type"], "shamir");
        let reason = body["errors"][0].as_str().unwrap();
        assert!(
            reason.contains("too many unseal submissions") && reason.contains("retry in"),
            "{reason}"
        );
        let secs = body["retry_after_secs"].as_u64().unwrap();
        assert!((1..=60).contains(&secs), "{body}");
        assert_eq!(retry_after, Some(secs.to_string()));
        // A reset counts too (it would otherwise wipe the operators' progress at will).
        let (status, _, _) = post(&state, json!({"reset": true})).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    }

    #[tokio::test]
    async fn wrong_full_sets_fail_closed_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let state = shamir_state(dir.path());
        let root = RootKey::generate();
        let (sealed, _) = SealedRootKey::shamir("us-east-1", &root, 5, 3).unwrap();
        let (_, foreign) = SealedRootKey::shamir("us-east-1", &root, 5, 3).unwrap();
        state.set_shamir_file(Some(sealed));
        for attempt in 1..=2u64 {
            for share in &foreign[..2] {
                let (status, _, body) = post(&state, json!({ "key": share })).await;
                assert_eq!(status, StatusCode::OK, "{body}");
            }
            let (status, _, body) = post(&state, json!({ "key": foreign[2] })).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["sealed"], true);
            assert_eq!(body["progress"], 0, "{body}");
            assert_eq!(body["failed_attempts"], attempt, "{body}");
            let reason = body["errors"][0].as_str().unwrap();
            assert!(reason.contains("reset"), "{reason}");
            assert!(
                !foreign.iter().any(|s| reason.contains(s.as_str())),
                "the refusal never echoes a share"
            );
        }
        assert!(state.root_key().is_none());
        assert_eq!(state.status()["failed_attempts"], 2);
    }
}
