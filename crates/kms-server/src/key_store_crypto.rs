//! Cryptography with keys in custom key stores (formats in kms-crypto's `store_ciphertext`):
//! - an external key store key encrypts twice, first with its KMS-held material (a version-1
//!   blob) and then through the XKS proxy with its external key, and decrypts in reverse;
//! - an HSM key store key encrypts with AES-256-GCM inside the token, under the token object
//!   labelled with the key's ARN, binding the encryption context as the AAD.
//!
//! Also CreateKey's part for such keys (the external key's metadata checked through the proxy,
//! or the key generated in the token), and GenerateRandom from an HSM key store.

use std::sync::Arc;

use kms_core::{CustomKeyStoreRecord, KeyRecord, KeyStoreBackend};
use kms_crypto::store_ciphertext::{self, BlobKind};
use kms_keystore::hsm::{HsmError, HsmToken};
use kms_keystore::xks_client::{XksCiphertext, XksError};
use kms_types::model::EncryptionContext;
use kms_types::{ConnectionState, KeyStoreError, KmsError};
use zeroize::Zeroizing;

use crate::call::Call;
use crate::crypto_ops::Sealed;
use crate::key_store_backends::{request_metadata, BackendError};

fn interrupted(e: tokio::task::JoinError) -> KmsError {
    KmsError::KmsInternal(format!("The HSM call was interrupted: {e}"))
}

fn xks_key_id(key: &KeyRecord) -> Result<&str, KmsError> {
    key.key_store
        .as_ref()
        .and_then(|link| link.xks_key_id.as_deref())
        .ok_or_else(|| KmsError::KmsInternal(format!("{} names no external key.", key.arn)))
}

impl Call<'_> {
    /// The KMS operation on whose behalf a backend is called (what an XKS proxy logs).
    fn kms_operation(&self) -> String {
        let action = self.caller().action.trim_start_matches("kms:");
        action
            .strip_suffix("From")
            .or_else(|| action.strip_suffix("To"))
            .unwrap_or(action)
            .to_string()
    }

    /// The CONNECTED store holding `key`.
    fn store_of(&self, key: &KeyRecord) -> Result<CustomKeyStoreRecord, KmsError> {
        let id = key
            .key_store
            .as_ref()
            .map(|link| link.custom_key_store_id.clone())
            .ok_or_else(|| KmsError::KmsInternal("Not a custom key store key.".into()))?;
        let store = self
            .read_applied(|state| state.custom_key_store(&id).cloned())
            .ok_or_else(|| KmsError::KmsInvalidState(format!("{} is unavailable.", key.arn)))?;
        if store.connection_state != ConnectionState::Connected {
            return Err(KmsError::KmsInvalidState(format!(
                "{} is unavailable.",
                key.arn
            )));
        }
        Ok(store)
    }

    fn metadata_for(&self, key: &KeyRecord) -> kms_keystore::xks_api::RequestMetadata {
        request_metadata(
            &self.kms_operation(),
            Some(&self.caller().principal.arn),
            Some(&key.arn),
        )
    }

    async fn token(
        &self,
        store: &CustomKeyStoreRecord,
        key: &KeyRecord,
    ) -> Result<Arc<HsmToken>, KmsError> {
        self.hsm_token(store)
            .await
            .map_err(|e| e.crypto_error(&key.arn))
    }

    /// Encrypts `plaintext` under `key`, a key in a custom key store.
    pub(crate) async fn seal_in_store(
        &self,
        key: &KeyRecord,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Sealed, KmsError> {
        let store = self.store_of(key)?;
        match &store.backend {
            KeyStoreBackend::External { .. } => {
                let inner = self.seal_with_kms_material(key, plaintext, context)?;
                let client = self
                    .xks_crypto_client(&store)
                    .map_err(|e| e.crypto_error(&key.arn))?;
                let aad = store_ciphertext::xks_proxy_aad(&key.key_id)?;
                let outer = client
                    .encrypt(xks_key_id(key)?, &self.metadata_for(key), &inner.blob, &aad)
                    .await
                    .map_err(|e| BackendError::from(e).crypto_error(&key.arn))?;
                Ok(Sealed {
                    blob: store_ciphertext::xks_blob(&key.key_id, &outer.to_bytes())?,
                    material_id: inner.material_id,
                })
            }
            KeyStoreBackend::CloudHsm { .. } => {
                let token = self.token(&store, key).await?;
                let aad = store_ciphertext::hsm_aad(&key.key_id, context)?;
                let (label, plaintext) = (key.arn.clone(), Zeroizing::new(plaintext.to_vec()));
                let sealed = tokio::task::spawn_blocking(move || {
                    token.encrypt_gcm(&label, &aad, &plaintext)
                })
                .await
                .map_err(interrupted)?
                .map_err(|e| BackendError::from(e).crypto_error(&key.arn))?;
                Ok(Sealed {
                    blob: store_ciphertext::hsm_blob(
                        &key.key_id,
                        &sealed.iv,
                        &sealed.tag,
                        &sealed.ciphertext,
                    )?,
                    material_id: String::new(),
                })
            }
        }
    }

    /// Decrypts `blob`, made by `key` (a key in a custom key store), bound to `context`.
    /// Returns the plaintext and the KMS-held material id that opened it (external key
    /// stores only).
    pub(crate) async fn open_in_store(
        &self,
        key: &KeyRecord,
        blob: &[u8],
        context: &EncryptionContext,
    ) -> Result<(Zeroizing<Vec<u8>>, String), KmsError> {
        let store = self.store_of(key)?;
        let (kind, _) =
            store_ciphertext::blob_key(blob).map_err(|_| KmsError::InvalidCiphertext)?;
        match (&store.backend, kind) {
            (KeyStoreBackend::External { .. }, BlobKind::Xks) => {
                let (_, outer) = store_ciphertext::parse_xks_blob(blob)
                    .map_err(|_| KmsError::InvalidCiphertext)?;
                let outer = XksCiphertext::from_bytes(outer).ok_or(KmsError::InvalidCiphertext)?;
                let client = self
                    .xks_crypto_client(&store)
                    .map_err(|e| e.crypto_error(&key.arn))?;
                let aad = store_ciphertext::xks_proxy_aad(&key.key_id)?;
                let inner = client
                    .decrypt(xks_key_id(key)?, &self.metadata_for(key), &outer, &aad)
                    .await
                    .map_err(|e| match e {
                        XksError::Proxy { ref error_name, .. }
                            if error_name == "InvalidCiphertextException" =>
                        {
                            KmsError::InvalidCiphertext
                        }
                        other => BackendError::from(other).crypto_error(&key.arn),
                    })?;
                let header = kms_crypto::ciphertext::parse_header(&inner)
                    .map_err(|_| KmsError::InvalidCiphertext)?;
                if header.key_id != key.key_id {
                    return Err(KmsError::InvalidCiphertext);
                }
                let material_id = header.material_id.to_hex();
                let material = self.unwrap_material(key, &material_id)?;
                let plaintext = kms_crypto::ciphertext::decrypt(&material, &inner, context)
                    .map_err(|_| KmsError::InvalidCiphertext)?;
                Ok((plaintext, material_id))
            }
            (KeyStoreBackend::CloudHsm { .. }, BlobKind::Hsm) => {
                let parsed = store_ciphertext::parse_hsm_blob(blob)
                    .map_err(|_| KmsError::InvalidCiphertext)?;
                let aad = store_ciphertext::hsm_aad(&key.key_id, context)?;
                let (iv, tag, ciphertext) = (
                    parsed.iv.to_vec(),
                    parsed.tag.to_vec(),
                    parsed.ciphertext.to_vec(),
                );
                let token = self.token(&store, key).await?;
                let label = key.arn.clone();
                let plaintext = tokio::task::spawn_blocking(move || {
                    token.decrypt_gcm(&label, &iv, &aad, &ciphertext, &tag)
                })
                .await
                .map_err(interrupted)?
                .map_err(|e| BackendError::from(e).crypto_error(&key.arn))?;
                Ok((plaintext, String::new()))
            }
            _ => Err(KmsError::InvalidCiphertext),
        }
    }

    /// CreateKey in external key store `store`: the external key must exist at the proxy, be
    /// AES_256, usable to encrypt and decrypt, and enabled.
    pub(crate) async fn check_external_key(
        &self,
        store: &CustomKeyStoreRecord,
        xks_key_id: &str,
    ) -> Result<(), KmsError> {
        let client = self.xks_crypto_client(store).map_err(|e| {
            KmsError::KeyStore(KeyStoreError::CustomKeyStoreInvalidState, e.to_string())
        })?;
        let meta = request_metadata("CreateKey", Some(&self.caller().principal.arn), None);
        match client.key_metadata(xks_key_id, &meta).await {
            Ok(metadata) if metadata.usable_by_kms() => Ok(()),
            Ok(metadata) => Err(KmsError::KeyStore(
                KeyStoreError::XksKeyInvalidConfiguration,
                format!(
                    "The external key {xks_key_id} must be an enabled AES_256 key usable to \
                     ENCRYPT and DECRYPT; the proxy reports {} {:?} {:?}.",
                    metadata.key_spec, metadata.key_usage, metadata.key_status
                ),
            )),
            Err(XksError::Proxy { error_name, .. }) if error_name == "KeyNotFoundException" => {
                Err(KmsError::KeyStore(
                    KeyStoreError::XksKeyNotFound,
                    format!("The external key store proxy has no external key {xks_key_id}."),
                ))
            }
            Err(e) => Err(KmsError::KeyStore(
                KeyStoreError::CustomKeyStoreInvalidState,
                format!("The external key store proxy could not be used: {e}"),
            )),
        }
    }

    /// CreateKey in HSM key store `store`: a non-extractable AES-256 key labelled `label` (the
    /// new key's ARN) generated in the token.
    pub(crate) async fn create_hsm_key(
        &self,
        store: &CustomKeyStoreRecord,
        label: &str,
    ) -> Result<(), KmsError> {
        let token = self.hsm_token(store).await.map_err(|e| {
            KmsError::KeyStore(KeyStoreError::CustomKeyStoreInvalidState, e.to_string())
        })?;
        let label = label.to_string();
        tokio::task::spawn_blocking(move || token.create_aes_key(&label))
            .await
            .map_err(interrupted)?
            .map_err(|e| KmsError::KmsInternal(format!("The HSM could not create the key: {e}")))
    }

    /// Best effort: deletes the token key `label` of HSM key store `store` (a CreateKey whose
    /// commit failed).
    pub(crate) async fn destroy_hsm_key(&self, store: &CustomKeyStoreRecord, label: &str) {
        let Ok(token) = self.hsm_token(store).await else {
            return;
        };
        let label = label.to_string();
        let _ = tokio::task::spawn_blocking(move || token.destroy_key(&label)).await;
    }

    /// GenerateRandom from the token of HSM key store `id` (CONNECTED, the caller's).
    pub(crate) async fn random_from_store(
        &self,
        id: String,
        length: usize,
    ) -> Result<Vec<u8>, KmsError> {
        let store = self.custom_key_store(Some(id)).await?;
        if !matches!(store.backend, KeyStoreBackend::CloudHsm { .. }) {
            return Err(KmsError::UnsupportedOperation(format!(
                "GenerateRandom supports only AWS CloudHSM key stores; {} is an external key store.",
                store.id
            )));
        }
        if store.connection_state != ConnectionState::Connected {
            return Err(KmsError::KeyStore(
                KeyStoreError::CustomKeyStoreInvalidState,
                format!(
                    "Custom key store {} is {}.",
                    store.id, store.connection_state
                ),
            ));
        }
        let token = self.hsm_token(&store).await.map_err(|e| {
            KmsError::KeyStore(KeyStoreError::CustomKeyStoreInvalidState, e.to_string())
        })?;
        tokio::task::spawn_blocking(move || token.random(length))
            .await
            .map_err(interrupted)?
            .map_err(|e: HsmError| {
                KmsError::KmsInternal(format!("The HSM could not draw random bytes: {e}"))
            })
    }
}

impl Call<'_> {
    /// CreateKey with Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE (or a CustomKeyStoreId or
    /// XksKeyId): AWS's checks, then the key's backing in the store, then the commit.
    pub(crate) async fn create_key_in_store(
        &self,
        request: &kms_types::model::CreateKeyRequest,
        shape: &crate::keys::KeyShape,
        multi_region: bool,
        properties: crate::keys::NewKeyProperties,
    ) -> Result<kms_types::model::CreateKeyResponse, KmsError> {
        use kms_types::{KeySpec, KeyUsage, Origin};
        let origin = shape.origin;
        if !matches!(origin, Origin::AwsCloudhsm | Origin::ExternalKeyStore) {
            return Err(KmsError::Validation(format!(
                "CustomKeyStoreId and XksKeyId require Origin AWS_CLOUDHSM or \
                 EXTERNAL_KEY_STORE; Origin is {origin}."
            )));
        }
        let store_id = request.custom_key_store_id.clone().ok_or_else(|| {
            KmsError::Validation(format!("Origin {origin} requires a CustomKeyStoreId."))
        })?;
        let xks_key_id = match (origin, &request.xks_key_id) {
            (Origin::ExternalKeyStore, Some(id)) => {
                crate::validate::length_within(id.len(), 1, 128, "xksKeyId")?;
                let ok = id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
                crate::validate::pattern(id, ok, "xksKeyId", "^[a-zA-Z0-9-_.]+$", false)?;
                Some(id.clone())
            }
            (Origin::ExternalKeyStore, None) => {
                return Err(KmsError::Validation(
                    "Origin EXTERNAL_KEY_STORE requires an XksKeyId.".into(),
                ))
            }
            (_, Some(_)) => {
                return Err(KmsError::Validation(
                    "XksKeyId is valid only with Origin EXTERNAL_KEY_STORE.".into(),
                ))
            }
            (_, None) => None,
        };
        if shape.spec != KeySpec::SymmetricDefault || shape.usage != KeyUsage::EncryptDecrypt {
            return Err(KmsError::UnsupportedOperation(format!(
                "Keys in custom key stores are symmetric encryption keys only (KeySpec \
                 SYMMETRIC_DEFAULT, KeyUsage ENCRYPT_DECRYPT), not {} {}.",
                shape.spec, shape.usage
            )));
        }
        if multi_region {
            return Err(KmsError::UnsupportedOperation(
                "Multi-Region keys cannot be created in a custom key store.".into(),
            ));
        }
        let store = self.custom_key_store(Some(store_id)).await?;
        let expected = match store.backend {
            KeyStoreBackend::CloudHsm { .. } => Origin::AwsCloudhsm,
            KeyStoreBackend::External { .. } => Origin::ExternalKeyStore,
        };
        if expected != origin {
            return Err(KmsError::UnsupportedOperation(format!(
                "Custom key store {} is of type {}; keys in it need Origin {expected}.",
                store.id,
                store.backend.store_type()
            )));
        }
        if store.connection_state != ConnectionState::Connected {
            return Err(KmsError::KeyStore(
                KeyStoreError::CustomKeyStoreInvalidState,
                format!(
                    "Custom key store {} is {}; keys can be created only in a connected store.",
                    store.id, store.connection_state
                ),
            ));
        }
        let key_id = crate::keys::new_key_id(false);
        let now_ms = self.now_ms();
        let arn = kms_types::key_arn(self.region(), self.account_id(), &key_id);
        let materials = match &xks_key_id {
            Some(external) => {
                self.check_external_key(&store, external).await?;
                vec![self.fresh_symmetric_material(&key_id, now_ms)]
            }
            None => {
                self.create_hsm_key(&store, &arn).await?;
                Vec::new()
            }
        };
        let mut record = crate::keys::new_key_record(
            self.region(),
            self.account_id(),
            key_id,
            now_ms,
            (shape.spec, shape.usage, origin),
            false,
            properties,
            materials,
        );
        record.key_state = kms_types::KeyState::Enabled;
        record.key_store = Some(kms_core::KeyStoreLink {
            custom_key_store_id: store.id.clone(),
            xks_key_id,
        });
        match self
            .write_key(kms_core::Command::CreateKey { record })
            .await
        {
            Ok(created) => Ok(kms_types::model::CreateKeyResponse {
                key_metadata: self.metadata(&created),
            }),
            Err(e) => {
                if origin == Origin::AwsCloudhsm {
                    self.destroy_hsm_key(&store, &arn).await;
                }
                Err(e)
            }
        }
    }
}
