//! Where the external keys live: the [`KeyBackend`] trait (blocking calls; the handlers run
//! them on tokio's blocking pool) and its two implementations:
//!
//! - [`Pkcs11Backend`]: an external key id is the CKA_LABEL of an AES-256 key in one token,
//!   used with AES-GCM inside the token through `kms_keystore::hsm`;
//! - [`kms::KmsBackend`]: an external key id names a key file holding an AES-256 key wrapped
//!   by an AWS-KMS-compatible KMS, which unwraps it for the proxy; AES-GCM runs in the proxy
//!   (through `kms_crypto::aead`) with the key cached in memory for a while.

pub mod kms;

use std::sync::Arc;

use kms_keystore::hsm::{self, HsmError, HsmToken};
use zeroize::Zeroizing;

use crate::config::Pkcs11Config;
use crate::ProxyError;

/// What the backend says about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// An AES key of 256 bits (the only kind XKS v1 knows).
    pub aes_256: bool,
    /// Usable to encrypt.
    pub can_encrypt: bool,
    /// Usable to decrypt.
    pub can_decrypt: bool,
    /// Enabled in the key manager: when not, metadata answers `DISABLED` and encrypt and
    /// decrypt InvalidStateException (as for a key a store lists as disabled).
    pub enabled: bool,
}

/// An AES-GCM encryption's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The IV the backend chose.
    pub iv: Vec<u8>,
    /// As long as the plaintext.
    pub ciphertext: Vec<u8>,
    /// 16 bytes.
    pub tag: Vec<u8>,
}

/// Who the backend is, for health answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EkmIdentity {
    /// `ekmVendor`.
    pub vendor: String,
    /// `ekmFleetDetails[].id`.
    pub id: String,
    /// `ekmFleetDetails[].model`.
    pub model: String,
}

/// Why a backend call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// No key with this id.
    #[error("no key {0:?}")]
    KeyNotFound(String),
    /// A key with this id exists already.
    #[error("a key {0:?} exists already")]
    KeyExists(String),
    /// Authenticated decryption failed.
    #[error("decryption failed")]
    DecryptFailed,
    /// The input was refused before reaching the key manager.
    #[error("{0}")]
    InvalidInput(String),
    /// The key manager refuses to use the key (it is disabled or being deleted there, or the
    /// proxy may not use it).
    #[error("{0}")]
    KeyUnusable(String),
    /// The key manager did not answer (in time).
    #[error("{0}")]
    Unreachable(String),
    /// The key manager throttled the proxy.
    #[error("{0}")]
    Throttled(String),
    /// The key manager failed.
    #[error("{0}")]
    Unavailable(String),
}

/// A key manager. Every call blocks.
pub trait KeyBackend: Send + Sync + 'static {
    /// Who it is.
    fn identity(&self) -> EkmIdentity;
    /// The key `id`, or `None` if there is none.
    fn key_info(&self, id: &str) -> Result<Option<KeyInfo>, BackendError>;
    /// AES-GCM encryption of `plaintext` with `aad` (never empty) under key `id`.
    fn encrypt(&self, id: &str, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, BackendError>;
    /// AES-GCM decryption.
    fn decrypt(
        &self,
        id: &str,
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BackendError>;
    /// A deep check: `Ok` only if an encrypt or decrypt right after would work.
    fn health(&self) -> Result<(), BackendError>;
    /// Creates the AES-256 key `id` (sensitive, never extractable, encrypt and decrypt only).
    fn create_key(&self, id: &str) -> Result<(), BackendError>;
}

/// AES-256 keys in a PKCS#11 token.
pub struct Pkcs11Backend {
    token: HsmToken,
    identity: EkmIdentity,
    health_key: Option<String>,
}

impl std::fmt::Debug for Pkcs11Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Backend")
            .field("token", &self.token)
            .field("health_key", &self.health_key)
            .finish()
    }
}

impl Pkcs11Backend {
    /// Loads the module, logs in to the token with the PIN from `config.pin_file` and, with a
    /// health key configured, creates it if the token lacks it. Blocks.
    pub fn open(config: &Pkcs11Config) -> Result<Pkcs11Backend, ProxyError> {
        let pin = crate::config::read_secret(&config.pin_file)
            .map_err(|e| ProxyError::Config(format!("the PIN file: {e}")))?;
        let module = hsm::module(&config.module, config.softhsm2_conf.as_deref())
            .map_err(|e| ProxyError::Backend(e.to_string()))?;
        let token = HsmToken::connect(module, &config.token_label, &pin)
            .map_err(|e| ProxyError::Backend(e.to_string()))?;
        let model = config
            .module
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| config.module.display().to_string());
        let backend = Pkcs11Backend {
            token,
            identity: EkmIdentity {
                vendor: "PKCS#11".to_string(),
                id: config.token_label.clone(),
                model: format!("PKCS#11 token via {model}"),
            },
            health_key: config.health_key.clone(),
        };
        if let Some(key) = &backend.health_key {
            match backend.token.create_aes_key(key) {
                Ok(()) => tracing::info!(key = %key, "created the health check's key"),
                Err(HsmError::KeyExists(_)) => {}
                Err(e) => {
                    return Err(ProxyError::Backend(format!(
                        "creating the health check's key {key:?}: {e}"
                    )))
                }
            }
        }
        Ok(backend)
    }
}

fn backend_error(e: HsmError) -> BackendError {
    match e {
        HsmError::KeyNotFound(label) => BackendError::KeyNotFound(label),
        HsmError::KeyExists(label) => BackendError::KeyExists(label),
        HsmError::DecryptFailed => BackendError::DecryptFailed,
        HsmError::InvalidInput(what) => BackendError::InvalidInput(what),
        other => BackendError::Unavailable(other.to_string()),
    }
}

impl KeyBackend for Pkcs11Backend {
    fn identity(&self) -> EkmIdentity {
        self.identity.clone()
    }

    fn key_info(&self, id: &str) -> Result<Option<KeyInfo>, BackendError> {
        Ok(self.token.key_info(id).map_err(backend_error)?.map(|info| {
            if info.extractable || !info.sensitive {
                tracing::warn!(
                    key = %id,
                    extractable = info.extractable,
                    sensitive = info.sensitive,
                    "the key can leave the token"
                );
            }
            KeyInfo {
                aes_256: info.key_type_aes && info.value_len == hsm::AES_KEY_LEN,
                can_encrypt: info.can_encrypt,
                can_decrypt: info.can_decrypt,
                enabled: true,
            }
        }))
    }

    fn encrypt(&self, id: &str, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, BackendError> {
        let sealed = self
            .token
            .encrypt_gcm(id, aad, plaintext)
            .map_err(backend_error)?;
        Ok(Sealed {
            iv: sealed.iv.to_vec(),
            ciphertext: sealed.ciphertext,
            tag: sealed.tag.to_vec(),
        })
    }

    fn decrypt(
        &self,
        id: &str,
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BackendError> {
        self.token
            .decrypt_gcm(id, iv, aad, ciphertext, tag)
            .map_err(backend_error)
    }

    fn health(&self) -> Result<(), BackendError> {
        self.token.health_check().map_err(backend_error)?;
        let Some(key) = &self.health_key else {
            return Ok(());
        };
        let probe = self.token.random(32).map_err(backend_error)?;
        let aad = b"trent-xks-proxy health check";
        let sealed = self.encrypt(key, aad, &probe)?;
        let opened = self.decrypt(key, &sealed.iv, aad, &sealed.ciphertext, &sealed.tag)?;
        if opened.as_slice() != probe.as_slice() {
            return Err(BackendError::Unavailable(
                "the health check's decryption returned other bytes".to_string(),
            ));
        }
        Ok(())
    }

    fn create_key(&self, id: &str) -> Result<(), BackendError> {
        self.token.create_aes_key(id).map_err(backend_error)
    }
}

/// Opens the backend a config names.
pub fn open(config: &crate::config::BackendConfig) -> Result<Arc<dyn KeyBackend>, ProxyError> {
    match config {
        crate::config::BackendConfig::Pkcs11(p) => Ok(Arc::new(Pkcs11Backend::open(p)?)),
        crate::config::BackendConfig::Kms(k) => Ok(Arc::new(kms::KmsBackend::open(k)?)),
    }
}

/// An in-memory backend for unit tests: keys are random 32-byte secrets and the "AES-GCM" is
/// a stand-in built from HMAC-SHA-256 (a keystream and a tag), with the same interface and
/// failure behaviour (any altered IV, AAD, ciphertext or tag fails to decrypt).
#[cfg(test)]
pub(crate) mod memory {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    pub(crate) struct MemoryBackend {
        keys: Mutex<HashMap<String, (Vec<u8>, KeyInfo)>>,
        pub(crate) down: std::sync::atomic::AtomicBool,
        /// When set, encrypt and decrypt fail with it.
        failure: Mutex<Option<BackendError>>,
    }

    impl MemoryBackend {
        pub(crate) fn with_keys(ids: &[&str]) -> MemoryBackend {
            let backend = MemoryBackend::default();
            for id in ids {
                backend.create_key(id).expect("a new key");
            }
            backend
        }

        pub(crate) fn set_info(&self, id: &str, info: KeyInfo) {
            if let Some(entry) = self.lock().get_mut(id) {
                entry.1 = info;
            }
        }

        pub(crate) fn remove(&self, id: &str) {
            self.lock().remove(id);
        }

        pub(crate) fn fail_with(&self, error: Option<BackendError>) {
            *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = error;
        }

        fn failure(&self) -> Result<(), BackendError> {
            match self
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                Some(error) => Err(error),
                None => Ok(()),
            }
        }

        fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, KeyInfo)>> {
            self.keys.lock().unwrap_or_else(|p| p.into_inner())
        }

        fn key(&self, id: &str) -> Result<(Vec<u8>, KeyInfo), BackendError> {
            self.lock()
                .get(id)
                .cloned()
                .ok_or_else(|| BackendError::KeyNotFound(id.to_string()))
        }

        fn keystream(key: &[u8], iv: &[u8], len: usize) -> Vec<u8> {
            let mut out = Vec::with_capacity(len + 32);
            let mut counter = 0u32;
            while out.len() < len {
                let mut block = iv.to_vec();
                block.extend_from_slice(&counter.to_be_bytes());
                out.extend_from_slice(&kms_crypto::hmac_sha256(key, &block));
                counter += 1;
            }
            out.truncate(len);
            out
        }

        fn tag(key: &[u8], iv: &[u8], aad: &[u8], ciphertext: &[u8]) -> Vec<u8> {
            let mut input = b"tag".to_vec();
            for part in [iv, aad, ciphertext] {
                input.extend_from_slice(&(part.len() as u64).to_be_bytes());
                input.extend_from_slice(part);
            }
            kms_crypto::hmac_sha256(key, &input)[..16].to_vec()
        }
    }

    impl KeyBackend for MemoryBackend {
        fn identity(&self) -> EkmIdentity {
            EkmIdentity {
                vendor: "memory".to_string(),
                id: "memory-1".to_string(),
                model: "in-memory test backend".to_string(),
            }
        }

        fn key_info(&self, id: &str) -> Result<Option<KeyInfo>, BackendError> {
            Ok(self.lock().get(id).map(|(_, info)| *info))
        }

        fn encrypt(&self, id: &str, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, BackendError> {
            self.failure()?;
            let (key, _) = self.key(id)?;
            let iv = kms_crypto::random_bytes(12);
            let ciphertext: Vec<u8> = Self::keystream(&key, &iv, plaintext.len())
                .iter()
                .zip(plaintext)
                .map(|(k, p)| k ^ p)
                .collect();
            let tag = Self::tag(&key, &iv, aad, &ciphertext);
            Ok(Sealed {
                iv,
                ciphertext,
                tag,
            })
        }

        fn decrypt(
            &self,
            id: &str,
            iv: &[u8],
            aad: &[u8],
            ciphertext: &[u8],
            tag: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, BackendError> {
            self.failure()?;
            let (key, _) = self.key(id)?;
            if !kms_crypto::constant_time_eq(&Self::tag(&key, iv, aad, ciphertext), tag) {
                return Err(BackendError::DecryptFailed);
            }
            Ok(Zeroizing::new(
                Self::keystream(&key, iv, ciphertext.len())
                    .iter()
                    .zip(ciphertext)
                    .map(|(k, c)| k ^ c)
                    .collect(),
            ))
        }

        fn health(&self) -> Result<(), BackendError> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(BackendError::Unavailable("switched off".to_string()));
            }
            Ok(())
        }

        fn create_key(&self, id: &str) -> Result<(), BackendError> {
            let mut keys = self.lock();
            if keys.contains_key(id) {
                return Err(BackendError::KeyExists(id.to_string()));
            }
            keys.insert(
                id.to_string(),
                (
                    kms_crypto::random_bytes(32),
                    KeyInfo {
                        aes_256: true,
                        can_encrypt: true,
                        can_decrypt: true,
                        enabled: true,
                    },
                ),
            );
            Ok(())
        }
    }
}
