//! This node's connections to the backends of custom key stores: an XKS client per external
//! key store and a logged-in PKCS#11 token per HSM key store, each built from the store's
//! record (its secret given by the caller, unwrapped) and rebuilt when the record changes;
//! and the mapping of backend failures to AWS's connection error codes and KMS errors.
//! `key_store_access` gives `Kms` its way in (secrets unwrapped with the root key, probes).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use kms_core::{CustomKeyStoreRecord, KeyStoreBackend, WrappedSecret};
use kms_keystore::hsm::{self, HsmError, HsmToken};
use kms_keystore::xks_api::RequestMetadata;
use kms_keystore::xks_client::{XksClient, XksEndpoint, XksError, XksTrust};
use kms_types::{ConnectionErrorCode, KmsError};
use zeroize::Zeroizing;

/// AWS's limit on each call to an XKS proxy.
pub(crate) const XKS_TIMEOUT: Duration = Duration::from_millis(250);
/// A probe (Create, Connect, the health check) may wait longer: a proxy's first TLS handshake.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a backend could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BackendError {
    #[error("{0}")]
    Xks(#[from] XksError),
    #[error("{0}")]
    Hsm(#[from] HsmError),
    #[error("{0}")]
    Config(String),
}

impl BackendError {
    /// AWS's `ConnectionErrorCode` for a store whose probe failed this way.
    pub(crate) fn connection_error_code(&self) -> ConnectionErrorCode {
        let code = match self {
            BackendError::Xks(e) => e.connection_error_code(),
            BackendError::Hsm(e) => e.connection_error_code(),
            BackendError::Config(_) => "INTERNAL_ERROR",
        };
        code.parse().unwrap_or(ConnectionErrorCode::InternalError)
    }

    /// The KMS error a cryptographic operation on a key of `arn` answers with: AWS reports an
    /// external key store's failures as KMSInvalidStateException.
    pub(crate) fn crypto_error(&self, arn: &str) -> KmsError {
        match self {
            BackendError::Hsm(HsmError::DecryptFailed) => KmsError::InvalidCiphertext,
            BackendError::Xks(XksError::Proxy { error_name, .. })
                if error_name == "InvalidCiphertextException" =>
            {
                KmsError::InvalidCiphertext
            }
            other => KmsError::KmsInvalidState(format!(
                "The custom key store of {arn} could not complete the request: {other}"
            )),
        }
    }
}

/// The node's backend connections, by store id, each with the record it was built from.
pub(crate) struct KeyStoreBackends {
    config: kms_config::CustomKeyStores,
    xks_ca: Option<Vec<u8>>,
    xks: Mutex<BTreeMap<String, (KeyStoreBackend, XksClient)>>,
    hsm: Mutex<BTreeMap<String, (KeyStoreBackend, Arc<HsmToken>)>>,
}

impl KeyStoreBackends {
    /// No configuration: external key stores trust the web PKI on port 443, no PKCS#11.
    pub(crate) fn empty() -> KeyStoreBackends {
        KeyStoreBackends {
            config: kms_config::CustomKeyStores::default(),
            xks_ca: None,
            xks: Mutex::new(BTreeMap::new()),
            hsm: Mutex::new(BTreeMap::new()),
        }
    }

    /// Reads the CA file named in `config`, if any.
    pub(crate) fn new(config: kms_config::CustomKeyStores) -> anyhow::Result<KeyStoreBackends> {
        let xks_ca = match &config.xks_ca_file {
            Some(path) => Some(
                std::fs::read(path)
                    .map_err(|e| anyhow::anyhow!("reading xks_ca_file {}: {e}", path.display()))?,
            ),
            None => None,
        };
        Ok(KeyStoreBackends {
            config,
            xks_ca,
            xks: Mutex::new(BTreeMap::new()),
            hsm: Mutex::new(BTreeMap::new()),
        })
    }

    /// The node's `[custom_key_stores]` config.
    pub(crate) fn config(&self) -> &kms_config::CustomKeyStores {
        &self.config
    }

    /// Whether HSM key stores can be used here (a PKCS#11 module is configured).
    pub(crate) fn has_pkcs11(&self) -> bool {
        self.config.pkcs11_module.is_some()
    }

    /// The PKCS#11 module of HSM key stores.
    pub(crate) fn pkcs11_module(&self) -> Result<Arc<hsm::HsmModule>, BackendError> {
        let path = self.config.pkcs11_module.as_deref().ok_or_else(|| {
            BackendError::Config("this node has no [custom_key_stores] pkcs11_module".into())
        })?;
        Ok(hsm::module(path, self.config.softhsm2_conf.as_deref())?)
    }

    /// The XKS client of external key store `store`, for calls that may take `timeout` (built
    /// once per version of its record for AWS's 250 ms; `secret` gives the unwrapped secret).
    pub(crate) fn xks_client(
        &self,
        store: &CustomKeyStoreRecord,
        region: &str,
        timeout: Duration,
        secret: impl FnOnce(&WrappedSecret) -> Result<Zeroizing<String>, BackendError>,
    ) -> Result<XksClient, BackendError> {
        if timeout == XKS_TIMEOUT {
            let cached = self.xks.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((built_from, client)) = cached.get(&store.id) {
                if *built_from == store.backend {
                    return Ok(client.clone());
                }
            }
        }
        let KeyStoreBackend::External {
            uri_endpoint,
            uri_path,
            access_key_id,
            secret: wrapped,
            ..
        } = &store.backend
        else {
            return Err(BackendError::Config("not an external key store".into()));
        };
        // AWS's pattern lets an XksProxyUriEndpoint name a port; without one, the node's.
        let (host, port) = match uri_endpoint.rsplit_once(':') {
            Some((host, port)) if host != "https" => (
                host.to_string(),
                port.parse().map_err(|_| {
                    BackendError::Config(format!("{uri_endpoint} names no valid port"))
                })?,
            ),
            _ => (uri_endpoint.clone(), self.config.xks_proxy_port),
        };
        let endpoint = XksEndpoint {
            uri_endpoint: host,
            port,
            uri_path: uri_path.clone(),
            access_key_id: access_key_id.clone(),
            secret: secret(wrapped)?,
            region: region.to_string(),
            trust: match &self.xks_ca {
                Some(pem) => XksTrust::CaPem(pem.clone()),
                None => XksTrust::WebPki,
            },
        };
        let client = XksClient::new(endpoint, timeout)?;
        if timeout == XKS_TIMEOUT {
            self.xks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(store.id.clone(), (store.backend.clone(), client.clone()));
        }
        Ok(client)
    }

    /// The logged-in token of HSM key store `store` (one login per version of its record;
    /// `pin` gives the unwrapped password).
    pub(crate) async fn hsm_token(
        &self,
        store: &CustomKeyStoreRecord,
        pin: impl FnOnce(&WrappedSecret) -> Result<Zeroizing<String>, BackendError>,
    ) -> Result<Arc<HsmToken>, BackendError> {
        {
            let cached = self.hsm.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((built_from, token)) = cached.get(&store.id) {
                if *built_from == store.backend {
                    return Ok(token.clone());
                }
            }
        }
        let KeyStoreBackend::CloudHsm {
            cluster_id,
            password,
            ..
        } = &store.backend
        else {
            return Err(BackendError::Config("not an HSM key store".into()));
        };
        let module = self.pkcs11_module()?;
        let pin = pin(password)?;
        let label = cluster_id.clone();
        let token = tokio::task::spawn_blocking(move || HsmToken::connect(module, &label, &pin))
            .await
            .map_err(|e| {
                BackendError::Config(format!("the PKCS#11 login was interrupted: {e}"))
            })??;
        let token = Arc::new(token);
        self.hsm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(store.id.clone(), (store.backend.clone(), token.clone()));
        Ok(token)
    }

    /// Forgets the connections of store `id` (disconnected or deleted).
    pub(crate) fn forget(&self, id: &str) {
        self.xks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        self.hsm
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
}

/// The request metadata of a call made for `operation` by `principal` on key `key_arn`.
pub(crate) fn request_metadata(
    operation: &str,
    principal: Option<&str>,
    key_arn: Option<&str>,
) -> RequestMetadata {
    RequestMetadata {
        aws_principal_arn: principal.map(str::to_string),
        kms_key_arn: key_arn.map(str::to_string),
        kms_operation: operation.to_string(),
        kms_request_id: uuid::Uuid::new_v4().to_string(),
        ..RequestMetadata::default()
    }
}

/// The keys of HSM key stores whose deletion is due at `now_ms`, with their store.
pub(crate) fn due_hsm_keys(
    state: &kms_core::State,
    now_ms: i64,
) -> Vec<(CustomKeyStoreRecord, String)> {
    state
        .all_keys()
        .filter(|key| key.key_state == kms_types::KeyState::PendingDeletion)
        .filter(|key| key.deletion_ms.is_some_and(|at| at <= now_ms))
        .filter_map(|key| {
            let link = key.key_store.as_ref()?;
            let store = state.custom_key_store(&link.custom_key_store_id)?;
            matches!(store.backend, KeyStoreBackend::CloudHsm { .. })
                .then(|| (store.clone(), key.arn.clone()))
        })
        .collect()
}
