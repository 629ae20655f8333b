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
//!   the shares are the credential, and the status reveals nothing secret.
//!
//! Raft does not need the root key (it replicates only wrapped material), so the region's Raft
//! group runs while the node is sealed.

use crate::service::Kms;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use kms_api::{KmsService, RequestContext};
use kms_authz::{IdentityStore, Signer};
use kms_crypto::RootKey;
use kms_seal::{SealConfig, SealedRootKey};
use kms_types::{KmsError, KmsRequest};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

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
}

#[derive(Default)]
struct ShamirProgress {
    sealed: Option<SealedRootKey>,
    shares: Vec<Zeroizing<String>>,
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
        }
        status
    }

    fn how_to_unseal(&self) -> String {
        match self.kind {
            "shamir" => "submit unseal shares with `trent operator unseal --addr HOST:PORT`, one \
                         per call, until the threshold is reached"
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
    /// refused and not counted; a full set that does not open the root key is refused and
    /// the progress reset (fail closed).
    fn submit_share(&self, share: &str) -> Result<(), String> {
        if self.kind != "shamir" {
            return Err(format!(
                "this node uses the {} seal, not Shamir shares",
                self.kind
            ));
        }
        if self.root.get().is_some() {
            return Ok(());
        }
        kms_crypto::shamir::check_share(share).map_err(|e| e.to_string())?;
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
                tracing::warn!(region = %self.region, "an unseal attempt with a full set of shares failed; progress reset");
                Err(format!("{e}; the unseal progress was reset"))
            }
        }
    }

    /// Forgets the shares submitted so far.
    fn reset(&self) {
        lock(&self.shamir).shares.clear();
    }
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
/// true}`; answers the status, or 400 `{"errors": [...]}` with the status).
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

async fn unseal(State(state): State<Arc<SealState>>, body: axum::body::Bytes) -> Response {
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
    match state.submit_share(&share) {
        Ok(()) => Json(state.status()).into_response(),
        Err(reason) => refused(&state, reason),
    }
}

fn refused(state: &SealState, reason: String) -> Response {
    let mut body = state.status();
    body["errors"] = json!([reason]);
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}
