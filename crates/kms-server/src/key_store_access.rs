//! How `Kms` reaches its custom key stores' backends (`key_store_backends`): store secrets
//! wrapped and unwrapped with the region's root key, the XKS client and PKCS#11 token of a
//! store, the probe that decides whether a store can be CONNECTED, and the best-effort
//! deletion of a deleted key's material in its token.

use std::sync::Arc;
use std::time::Duration;

use kms_core::{CustomKeyStoreRecord, KeyStoreBackend, WrappedSecret};
use kms_crypto::{KeyMaterial, WrapContext};
use kms_keystore::hsm::HsmToken;
use kms_keystore::xks_client::{XksClient, XksError};
use zeroize::Zeroizing;

use crate::key_store_backends::{request_metadata, BackendError, PROBE_TIMEOUT, XKS_TIMEOUT};
use crate::service::Kms;

impl Kms {
    /// Best effort: destroys the token object of a deleted key of HSM key store `store`
    /// (AWS deletes the key material in the cluster when it can reach it).
    pub(crate) async fn destroy_hsm_material(&self, store: &CustomKeyStoreRecord, arn: &str) {
        let token = match self.hsm_token(store).await {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(store = %store.id, error = %e, "deleting a deleted key's HSM material");
                return;
            }
        };
        let label = arn.to_string();
        match tokio::task::spawn_blocking(move || token.destroy_key(&label)).await {
            Ok(Ok(_)) => {
                tracing::info!(store = %store.id, key = %arn, "deleted a key's HSM material")
            }
            Ok(Err(e)) => {
                tracing::warn!(store = %store.id, error = %e, "deleting a deleted key's HSM material")
            }
            Err(e) => tracing::warn!(error = %e, "deleting a deleted key's HSM material"),
        }
    }

    /// `secret` wrapped under the region's root key for store `store_id`.
    pub(crate) fn wrap_store_secret(&self, store_id: &str, secret: &str) -> WrappedSecret {
        let material = KeyMaterial::from_bytes(secret.as_bytes().to_vec());
        WrappedSecret {
            wrapped: self.wrap_with_root_key(&material, &WrapContext::key_store_secret(store_id)),
        }
    }

    fn unwrap_store_secret(
        &self,
        store_id: &str,
        secret: &WrappedSecret,
    ) -> Result<Zeroizing<String>, BackendError> {
        let material = self
            .unwrap_with_root_key(&secret.wrapped, &WrapContext::key_store_secret(store_id))
            .map_err(|e| BackendError::Config(format!("unwrapping the store's secret: {e}")))?;
        let text = std::str::from_utf8(material.as_bytes())
            .map_err(|_| BackendError::Config("the store's secret is not text".into()))?;
        Ok(Zeroizing::new(text.to_string()))
    }

    /// The XKS client of external key store `store`, for calls that may take `timeout`.
    pub(crate) fn xks_client(
        &self,
        store: &CustomKeyStoreRecord,
        timeout: Duration,
    ) -> Result<XksClient, BackendError> {
        self.key_store_backends()
            .xks_client(store, self.region(), timeout, |secret| {
                self.unwrap_store_secret(&store.id, secret)
            })
    }

    /// The XKS client for cryptographic calls (AWS's 250 ms per call).
    pub(crate) fn xks_crypto_client(
        &self,
        store: &CustomKeyStoreRecord,
    ) -> Result<XksClient, BackendError> {
        self.xks_client(store, XKS_TIMEOUT)
    }

    /// The logged-in token of HSM key store `store`.
    pub(crate) async fn hsm_token(
        &self,
        store: &CustomKeyStoreRecord,
    ) -> Result<Arc<HsmToken>, BackendError> {
        self.key_store_backends()
            .hsm_token(store, |password| {
                self.unwrap_store_secret(&store.id, password)
            })
            .await
    }

    /// Whether `store`'s backend answers as a connected store's must: the proxy's health
    /// (some key manager not UNAVAILABLE), or a login to the token and a call in it.
    /// `operation` is the KMS operation that asks (the proxy sees it).
    pub(crate) async fn probe_key_store(
        &self,
        store: &CustomKeyStoreRecord,
        operation: &str,
    ) -> Result<(), BackendError> {
        match &store.backend {
            KeyStoreBackend::External { .. } => {
                let client = self.xks_client(store, PROBE_TIMEOUT)?;
                let health = client
                    .health(&request_metadata(operation, None, None))
                    .await?;
                if let Some(problem) = health.problem() {
                    return Err(XksError::InvalidResponse(problem).into());
                }
                if health.all_unavailable() {
                    return Err(XksError::Unreachable(
                        "every external key manager behind the proxy is UNAVAILABLE".into(),
                    )
                    .into());
                }
                Ok(())
            }
            KeyStoreBackend::CloudHsm { .. } => {
                // A fresh login: the cached one may predate a changed PIN or a lost token.
                self.key_store_backends().forget(&store.id);
                let token = self.hsm_token(store).await?;
                tokio::task::spawn_blocking(move || token.health_check())
                    .await
                    .map_err(|e| BackendError::Config(format!("interrupted: {e}")))??;
                Ok(())
            }
        }
    }
}
