//! The KMS backend ([`KmsBackend`]): the external keys are held by an AWS-KMS-compatible KMS
//! (a Trent region, or AWS KMS), reached with `aws-sdk-kms`.
//!
//! - An external key is a 256-bit AES key the KMS generates: GenerateDataKeyWithoutPlaintext
//!   (KeySpec `AES_256`) under the configured `key_id`, with the encryption context
//!   `{"trent-xks-key-id": "<external key id>"}` ([`KEY_ID_CONTEXT`]). The proxy stores only
//!   the returned CiphertextBlob, as the whole of `keys_dir/<external key id>.key` (mode 0600,
//!   written under a temporary name and linked into place, so a key file is whole and never
//!   replaced). The AES key is never on disk.
//! - Encrypt and decrypt unwrap the key file with the KMS (Decrypt under `key_id`, the same
//!   context, so a key file renamed to another id does not open) and run AES-256-GCM here,
//!   through `kms_crypto::aead`, with a random 96-bit IV. The unwrapped key is kept in memory
//!   (zeroized on drop) for `cache_secs`; so is the KMS key's state (DescribeKey), which
//!   decides whether a key is enabled. A sweeper drops expired keys every second.
//! - A key exists while its key file does, and is enabled while DescribeKey says the KMS key
//!   is an `Enabled` encryption key (a refused DescribeKey counts as not enabled): metadata
//!   then answers `DISABLED`, encrypt and decrypt InvalidStateException.
//! - A key the KMS will not unwrap (its key disabled or pending deletion, access denied) is
//!   [`BackendError::KeyUnusable`] (InvalidStateException); a KMS that does not answer is
//!   [`BackendError::Unreachable`] (DependencyTimeoutException); throttling is
//!   [`BackendError::Throttled`]; anything else (a key file the KMS calls an invalid
//!   ciphertext, a malformed answer) is [`BackendError::Unavailable`] (InternalException).
//! - The deep health check asks the KMS every time: DescribeKey of `key_id` must say
//!   `Enabled`, then the health key's file is unwrapped anew and used for an AES-GCM round
//!   trip.
//!
//! The trait's calls block; the SDK is async, so the backend owns a one-thread tokio runtime
//! for its KMS calls and each call waits for its answer on a channel, which works from any
//! thread, inside another runtime or not (`trent xks-proxy create-key` runs in the CLI's).

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, KeyState, KeyUsageType};
use kms_crypto::aead;
use zeroize::Zeroizing;

use super::{BackendError, EkmIdentity, KeyBackend, KeyInfo, Sealed};
use crate::config::KmsConfig;
use crate::ProxyError;

/// The encryption context key binding a wrapped key to its external key id.
pub const KEY_ID_CONTEXT: &str = "trent-xks-key-id";

/// The file name extension of key files.
pub const KEY_FILE_EXTENSION: &str = "key";

/// The largest key file read (a KMS ciphertext blob of a 32-byte key is a few hundred bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// How often expired keys are dropped from memory.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

type Key = Arc<Zeroizing<[u8; aead::KEY_LEN]>>;

/// An unwrapped key and until when it may be used without asking the KMS.
struct CachedKey {
    key: Key,
    until: Instant,
}

type Cache = Mutex<HashMap<String, CachedKey>>;

/// The KMS key's state as DescribeKey last told it: whether it is usable, until when that is
/// trusted.
#[derive(Clone, Copy)]
struct KmsKeyState {
    usable: bool,
    until: Instant,
}

/// External keys held by an AWS-KMS-compatible KMS (see the module doc).
pub struct KmsBackend {
    config: KmsConfig,
    client: aws_sdk_kms::Client,
    /// Runs the SDK's futures; shut down in the background on drop.
    runtime: Option<tokio::runtime::Runtime>,
    keys: Arc<Cache>,
    state: Mutex<Option<KmsKeyState>>,
    identity: EkmIdentity,
}

impl std::fmt::Debug for KmsBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsBackend")
            .field("endpoint", &self.config.endpoint)
            .field("region", &self.config.region)
            .field("key_id", &self.config.key_id)
            .field("keys_dir", &self.config.keys_dir)
            .finish_non_exhaustive()
    }
}

impl Drop for KmsBackend {
    fn drop(&mut self) {
        // Not `Runtime::drop`, which blocks and panics inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The access key of `config.credentials_file`: one line `access_key_id:secret_access_key`
/// in a file of mode 0600 owned by the proxy's user.
fn credentials(config: &KmsConfig) -> Result<Credentials, ProxyError> {
    let path = &config.credentials_file;
    let text = crate::config::read_secret(path)
        .map_err(|e| ProxyError::Config(format!("the KMS credentials file: {e}")))?;
    let (id, secret) = text
        .split_once(':')
        .filter(|(id, secret)| !id.is_empty() && !secret.is_empty() && !secret.contains('\n'))
        .ok_or_else(|| {
            ProxyError::Config(format!(
                "{} must hold one line access_key_id:secret_access_key",
                path.display()
            ))
        })?;
    Ok(Credentials::new(id, secret, None, None, "trent-xks-proxy"))
}

impl KmsBackend {
    /// Reads the credentials, makes the client and `keys_dir` (mode 0700, if missing) and,
    /// with a health key configured whose file is missing, creates it (one
    /// GenerateDataKeyWithoutPlaintext). Otherwise it does not call the KMS: a KMS that is
    /// down at start shows in health answers. Blocks.
    pub fn open(config: &KmsConfig) -> Result<KmsBackend, ProxyError> {
        let credentials = credentials(config)?;
        match std::fs::metadata(&config.keys_dir) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(ProxyError::Config(format!(
                    "backend.keys_dir {} is not a directory",
                    config.keys_dir.display()
                )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&config.keys_dir)
                    .map_err(|e| {
                        ProxyError::Config(format!(
                            "creating backend.keys_dir {}: {e}",
                            config.keys_dir.display()
                        ))
                    })?;
            }
            Err(e) => {
                return Err(ProxyError::Config(format!(
                    "backend.keys_dir {}: {e}",
                    config.keys_dir.display()
                )))
            }
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("xks-kms-client")
            .enable_all()
            .build()
            .map_err(|e| ProxyError::Io(format!("starting the KMS client's runtime: {e}")))?;
        let sdk = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials)
            .endpoint_url(config.endpoint.clone())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(config.timeout)
                    .operation_timeout(config.timeout)
                    .build(),
            )
            .build();
        let keys: Arc<Cache> = Arc::default();
        runtime.spawn(sweep(Arc::downgrade(&keys)));
        let backend = KmsBackend {
            config: config.clone(),
            client: aws_sdk_kms::Client::from_conf(sdk),
            runtime: Some(runtime),
            keys,
            state: Mutex::new(None),
            identity: EkmIdentity {
                vendor: "AWS KMS API".to_string(),
                id: config.key_id.clone(),
                model: format!("KMS at {} ({})", config.endpoint, config.region),
            },
        };
        if let Some(key) = &config.health_key {
            if !backend.key_path(key).exists() {
                match backend.create_key(key) {
                    Ok(()) => tracing::info!(key = %key, "created the health check's key"),
                    Err(BackendError::KeyExists(_)) => {}
                    Err(e) => {
                        return Err(ProxyError::Backend(format!(
                            "creating the health check's key {key:?} with the KMS at {}: {e}",
                            config.endpoint
                        )))
                    }
                }
            }
        }
        Ok(backend)
    }

    /// The key file of external key `id`.
    pub fn key_path(&self, id: &str) -> PathBuf {
        key_path(&self.config.keys_dir, id)
    }

    /// Runs `future` on the backend's runtime and waits for it, at most the backend timeout.
    fn call<T: Send + 'static>(
        &self,
        what: &'static str,
        future: impl Future<Output = Result<T, BackendError>> + Send + 'static,
    ) -> Result<T, BackendError> {
        let Some(runtime) = &self.runtime else {
            return Err(BackendError::Unavailable(
                "the KMS client is shut down".to_string(),
            ));
        };
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        let timeout = self.config.timeout;
        runtime.spawn(async move {
            let result = match tokio::time::timeout(timeout, future).await {
                Ok(result) => result,
                Err(_) => Err(BackendError::Unreachable(format!(
                    "the KMS's {what} did not answer in {} ms",
                    timeout.as_millis()
                ))),
            };
            let _ = answer.send(result);
        });
        answered.recv().unwrap_or_else(|_| {
            Err(BackendError::Unavailable(format!(
                "the KMS client dropped the {what} call"
            )))
        })
    }

    fn context(id: &str) -> HashMap<String, String> {
        HashMap::from([(KEY_ID_CONTEXT.to_string(), id.to_string())])
    }

    /// DescribeKey of `key_id`: whether it is a symmetric encryption key in state Enabled.
    /// A refusal (no such key, access denied) is "not usable", with the reason logged.
    fn describe(&self) -> Result<bool, BackendError> {
        let client = self.client.clone();
        let key_id = self.config.key_id.clone();
        let usable = self.call("DescribeKey", async move {
            let answer = client.describe_key().key_id(&key_id).send().await;
            match answer {
                Ok(answer) => {
                    let Some(meta) = answer.key_metadata else {
                        return Err(BackendError::Unavailable(
                            "DescribeKey answered without KeyMetadata".to_string(),
                        ));
                    };
                    let state = meta.key_state.clone();
                    let usable = meta.enabled
                        && state == Some(KeyState::Enabled)
                        && meta
                            .key_usage
                            .as_ref()
                            .is_none_or(|usage| *usage == KeyUsageType::EncryptDecrypt);
                    if !usable {
                        tracing::warn!(
                            key_id = %key_id,
                            state = ?state,
                            usage = ?meta.key_usage,
                            "the KMS key is not an enabled encryption key"
                        );
                    }
                    Ok(usable)
                }
                Err(e) => match classify("DescribeKey", e) {
                    BackendError::KeyUnusable(why) => {
                        tracing::warn!(
                            key_id = %key_id,
                            error = %why,
                            "the KMS refuses DescribeKey"
                        );
                        Ok(false)
                    }
                    other => Err(other),
                },
            }
        })?;
        if !self.config.cache.is_zero() {
            *lock(&self.state) = Some(KmsKeyState {
                usable,
                until: Instant::now() + self.config.cache,
            });
        }
        Ok(usable)
    }

    /// Whether the KMS key is usable: cached for `cache_secs`, else [`KmsBackend::describe`].
    fn kms_key_usable(&self) -> Result<bool, BackendError> {
        if let Some(state) = *lock(&self.state) {
            if Instant::now() < state.until {
                return Ok(state.usable);
            }
        }
        self.describe()
    }

    /// Whether `id` has a key file (a regular file of 1 to [`MAX_KEY_FILE`] bytes; anything
    /// else there is an error).
    fn has_key_file(&self, id: &str) -> Result<bool, BackendError> {
        let path = self.key_path(id);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() && (1..=MAX_KEY_FILE).contains(&meta.len()) => Ok(true),
            Ok(_) => Err(BackendError::Unavailable(format!(
                "{} is not a key file (a regular file of 1 to {MAX_KEY_FILE} bytes)",
                path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BackendError::Unavailable(format!(
                "{}: {e}",
                path.display()
            ))),
        }
    }

    /// The key file of `id`: its bytes, or `None` if there is none.
    fn read_key_file(&self, id: &str) -> Result<Option<Vec<u8>>, BackendError> {
        if !self.has_key_file(id)? {
            return Ok(None);
        }
        let path = self.key_path(id);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(BackendError::Unavailable(format!(
                "{}: {e}",
                path.display()
            ))),
        }
    }

    /// Decrypt of `id`'s key file by the KMS, never cached.
    fn unwrap_key(&self, id: &str) -> Result<Key, BackendError> {
        let blob = self
            .read_key_file(id)?
            .ok_or_else(|| BackendError::KeyNotFound(id.to_string()))?;
        let client = self.client.clone();
        let key_id = self.config.key_id.clone();
        let context = Self::context(id);
        let owned_id = id.to_string();
        self.call("Decrypt", async move {
            let answer = client
                .decrypt()
                .key_id(&key_id)
                .ciphertext_blob(Blob::new(blob))
                .set_encryption_context(Some(context))
                .send()
                .await
                .map_err(|e| {
                    if e.code() == Some("InvalidCiphertextException") {
                        BackendError::Unavailable(format!(
                            "the key file of {owned_id:?} does not decrypt under {key_id} with \
                             its encryption context (corrupt, renamed, or from another KMS key)"
                        ))
                    } else {
                        classify("Decrypt", e)
                    }
                })?;
            let plaintext =
                Zeroizing::new(answer.plaintext.map(Blob::into_inner).unwrap_or_default());
            let mut key = Zeroizing::new([0u8; aead::KEY_LEN]);
            if plaintext.len() != aead::KEY_LEN {
                return Err(BackendError::Unavailable(format!(
                    "the KMS unwrapped {owned_id:?} to {} bytes, not an AES-256 key",
                    plaintext.len()
                )));
            }
            key.copy_from_slice(&plaintext);
            Ok(Arc::new(key))
        })
    }

    /// `id`'s AES key: from memory while it is fresh, else unwrapped by the KMS (and kept
    /// for `cache_secs`).
    fn key(&self, id: &str) -> Result<Key, BackendError> {
        let now = Instant::now();
        {
            let mut keys = lock(&self.keys);
            match keys.get(id) {
                Some(cached) if now < cached.until => return Ok(cached.key.clone()),
                Some(_) => {
                    keys.remove(id);
                }
                None => {}
            }
        }
        let key = self.unwrap_key(id)?;
        tracing::debug!(key = %id, "unwrapped a key with the KMS");
        if !self.config.cache.is_zero() {
            lock(&self.keys).insert(
                id.to_string(),
                CachedKey {
                    key: key.clone(),
                    until: Instant::now() + self.config.cache,
                },
            );
        }
        Ok(key)
    }

    /// Drops `id`'s key from memory, so the next use asks the KMS.
    fn forget(&self, id: &str) {
        lock(&self.keys).remove(id);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `keys_dir/<id>.key`.
pub fn key_path(keys_dir: &Path, id: &str) -> PathBuf {
    keys_dir.join(format!("{id}.{KEY_FILE_EXTENSION}"))
}

/// Drops expired keys every [`SWEEP_EVERY`] until the backend is gone.
async fn sweep(keys: Weak<Cache>) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    loop {
        tick.tick().await;
        let Some(keys) = keys.upgrade() else {
            return;
        };
        let now = Instant::now();
        lock(&keys).retain(|_, cached| now < cached.until);
    }
}

/// What an SDK failure means for the proxy: no answer (in time) is
/// [`BackendError::Unreachable`]; the KMS refusing the key or the proxy's credentials
/// [`BackendError::KeyUnusable`]; throttling [`BackendError::Throttled`]; anything else
/// [`BackendError::Unavailable`].
fn classify<E, R>(what: &str, error: SdkError<E, R>) -> BackendError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let kind: fn(String) -> BackendError = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => BackendError::Unreachable,
        SdkError::ServiceError(_) => match error.code().unwrap_or_default() {
            "DisabledException"
            | "KMSInvalidStateException"
            | "NotFoundException"
            | "AccessDeniedException"
            | "IncorrectKeyException"
            | "InvalidKeyUsageException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "InvalidClientTokenId"
            | "ExpiredTokenException" => BackendError::KeyUnusable,
            "ThrottlingException" | "LimitExceededException" | "TooManyRequestsException" => {
                BackendError::Throttled
            }
            "DependencyTimeoutException" | "KeyUnavailableException" => BackendError::Unreachable,
            _ => BackendError::Unavailable,
        },
        _ => BackendError::Unavailable,
    };
    kind(format!(
        "the KMS's {what} failed: {}",
        aws_sdk_kms::error::DisplayErrorContext(error)
    ))
}

/// Writes `bytes` as the new file `path` (mode 0600): under a temporary name in the same
/// directory, synced, then linked to `path`, which fails if `path` exists.
fn write_new_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(
        ".{name}.{}.tmp",
        hex_string(&kms_crypto::random_bytes(8))
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::hard_link(&temporary, path)
    })();
    let _ = std::fs::remove_file(&temporary);
    written?;
    std::fs::File::open(dir)?.sync_all()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl KeyBackend for KmsBackend {
    fn identity(&self) -> EkmIdentity {
        self.identity.clone()
    }

    /// A key exists while its key file does; it is enabled while the KMS key is usable.
    fn key_info(&self, id: &str) -> Result<Option<KeyInfo>, BackendError> {
        if !self.has_key_file(id)? {
            self.forget(id);
            return Ok(None);
        }
        let enabled = self.kms_key_usable()?;
        Ok(Some(KeyInfo {
            aes_256: true,
            can_encrypt: true,
            can_decrypt: true,
            enabled,
        }))
    }

    fn encrypt(&self, id: &str, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, BackendError> {
        let key = self.key(id)?;
        let (iv, sealed) = aead::seal_random_iv(key.as_slice(), aad, plaintext)
            .map_err(|e| BackendError::Unavailable(format!("AES-GCM: {e}")))?;
        Ok(Sealed {
            iv: iv.to_vec(),
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
        let key = self.key(id)?;
        aead::open(key.as_slice(), iv, aad, ciphertext, tag).map_err(|e| match e {
            kms_crypto::CryptoError::InvalidCiphertext => BackendError::DecryptFailed,
            other => BackendError::Unavailable(format!("AES-GCM: {other}")),
        })
    }

    fn health(&self) -> Result<(), BackendError> {
        if !self.describe()? {
            return Err(BackendError::KeyUnusable(format!(
                "the KMS key {} is not an enabled encryption key",
                self.config.key_id
            )));
        }
        let Some(health_key) = &self.config.health_key else {
            return Ok(());
        };
        let key = self.unwrap_key(health_key)?;
        let probe = Zeroizing::new(kms_crypto::random_bytes(32));
        let aad = b"trent-xks-proxy health check";
        let (iv, sealed) = aead::seal_random_iv(key.as_slice(), aad, &probe)
            .map_err(|e| BackendError::Unavailable(format!("AES-GCM: {e}")))?;
        let opened = aead::open(key.as_slice(), &iv, aad, &sealed.ciphertext, &sealed.tag)
            .map_err(|e| BackendError::Unavailable(format!("AES-GCM: {e}")))?;
        if opened.as_slice() != probe.as_slice() {
            return Err(BackendError::Unavailable(
                "the health check's decryption returned other bytes".to_string(),
            ));
        }
        Ok(())
    }

    /// GenerateDataKeyWithoutPlaintext under `key_id` with `id`'s context; the blob becomes
    /// the new key file (KeyExists if there is one).
    fn create_key(&self, id: &str) -> Result<(), BackendError> {
        let path = self.key_path(id);
        if path.exists() {
            return Err(BackendError::KeyExists(id.to_string()));
        }
        let client = self.client.clone();
        let key_id = self.config.key_id.clone();
        let context = Self::context(id);
        let blob = self.call("GenerateDataKeyWithoutPlaintext", async move {
            let answer = client
                .generate_data_key_without_plaintext()
                .key_id(&key_id)
                .key_spec(DataKeySpec::Aes256)
                .set_encryption_context(Some(context))
                .send()
                .await
                .map_err(|e| classify("GenerateDataKeyWithoutPlaintext", e))?;
            answer
                .ciphertext_blob
                .map(Blob::into_inner)
                .filter(|blob| !blob.is_empty())
                .ok_or_else(|| {
                    BackendError::Unavailable(
                        "GenerateDataKeyWithoutPlaintext answered without a CiphertextBlob"
                            .to_string(),
                    )
                })
        })?;
        write_new_file(&path, &blob).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                BackendError::KeyExists(id.to_string())
            } else {
                BackendError::Unavailable(format!("writing {}: {e}", path.display()))
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_written_once_whole_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(dir.path(), "key-1");
        assert_eq!(path, dir.path().join("key-1.key"));
        write_new_file(&path, b"blob one").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"blob one");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = write_new_file(&path, b"blob two").unwrap_err();
        assert_eq!(again.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"blob one");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("key-1.key")]);
    }

    #[test]
    fn credentials_files_hold_one_pair_and_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("kms.credentials");
        let config = |path: &Path| KmsConfig {
            endpoint: "http://127.0.0.1:1".to_string(),
            region: "us-east-1".to_string(),
            credentials_file: path.to_path_buf(),
            key_id: "alias/xks".to_string(),
            keys_dir: dir.path().join("keys"),
            cache: Duration::from_secs(60),
            health_key: None,
            timeout: Duration::from_millis(500),
        };
        let write = |text: &str, mode: u32| {
            std::fs::write(&file, text).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("AKIATRENT:secret/with+chars\n", 0o600);
        let pair = credentials(&config(&file)).unwrap();
        assert_eq!(pair.access_key_id(), "AKIATRENT");
        assert_eq!(pair.secret_access_key(), "secret/with+chars");
        write("AKIATRENT:secret\n", 0o640);
        let err = credentials(&config(&file)).unwrap_err().to_string();
        assert!(err.contains("mode 640"), "{err}");
        for text in ["no-colon", ":secret", "AKIATRENT:", "A:b\nc:d"] {
            write(text, 0o600);
            let err = credentials(&config(&file)).unwrap_err().to_string();
            assert!(
                err.contains("access_key_id:secret_access_key"),
                "{text:?}: {err}"
            );
        }
        // Opening makes keys_dir; without a health key it does not call the (absent) KMS.
        write("AKIATRENT:secret", 0o600);
        let backend = KmsBackend::open(&config(&file)).unwrap();
        assert!(dir.path().join("keys").is_dir());
        assert_eq!(backend.key_info("key-1").unwrap(), None);
        let err = backend.encrypt("key-1", b"aad", b"x").unwrap_err();
        assert_eq!(err, BackendError::KeyNotFound("key-1".to_string()));
        // A KMS that does not answer: Unreachable, for metadata, health and new keys alike.
        std::fs::write(backend.key_path("key-1"), b"blob").unwrap();
        for result in [
            backend.key_info("key-1").map(|_| ()),
            backend.health(),
            backend.create_key("key-2"),
            backend.encrypt("key-1", b"aad", b"x").map(|_| ()),
        ] {
            assert!(
                matches!(result, Err(BackendError::Unreachable(_))),
                "{result:?}"
            );
        }
    }
}
