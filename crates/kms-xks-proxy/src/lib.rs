//! `trent xks-proxy`: a separate process serving the XKS Proxy API v1 (GetHealthStatus,
//! GetKeyMetadata, Encrypt, Decrypt) over TLS with SigV4 (service `kms-xks-proxy`), so that a
//! KMS (Trent, or AWS KMS itself) can use AES-256 keys that never leave a PKCS#11 token.
//! It is never linked into a KMS node's request path.
//!
//! One module per concern: [`config`] (the TOML file), [`auth`] (SigV4), [`policy`]
//! (secondary authorization by `awsPrincipalArn`), [`backend`] (where keys live),
//! [`handlers`] (the four operations and their checks), [`failure`] (their error answers), [`server`] (TLS listener, process).
//! The wire types are `kms_keystore::xks_api`'s, shared with the client KMS nodes use.
#![warn(missing_docs)]

pub mod auth;
pub mod backend;
pub mod config;
pub mod failure;
pub mod handlers;
pub mod policy;
pub mod server;

use std::path::Path;

pub use config::Config;
pub use server::{run, start, start_with, RunningProxy};

/// Why the proxy could not start or a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The config (or a file it names) is unusable.
    #[error("config: {0}")]
    Config(String),
    /// The key backend could not be opened or refused the command.
    #[error("key backend: {0}")]
    Backend(String),
    /// The TLS certificate or key is unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// Binding the address or installing signal handlers failed.
    #[error("{0}")]
    Io(String),
}

/// `trent xks-proxy create-key`: creates the AES-256 key `key_id` (sensitive, never
/// extractable, for encrypt and decrypt only) in the backend of the config at `config_path`.
/// Returns whether a store of the config serves that key id (if none does yet, add it to a
/// store's `keys`).
pub fn create_key(config_path: &Path, key_id: &str) -> Result<bool, ProxyError> {
    if !kms_keystore::xks_api::is_valid_external_key_id(key_id) {
        return Err(ProxyError::Config(format!(
            "{key_id:?} is not an external key id: 1 to 128 characters of A-Z a-z 0-9 . - _"
        )));
    }
    let config = Config::load(config_path)?;
    let backend = backend::open(&config.backend)?;
    backend
        .create_key(key_id)
        .map_err(|e| ProxyError::Backend(e.to_string()))?;
    Ok(config
        .stores
        .0
        .values()
        .any(|store| store.keys.contains_key(key_id)))
}
