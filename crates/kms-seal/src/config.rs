//! The `[seal]` section of a node config: which seal guards the root key and where its sealed
//! file is.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The seal of a node's root key, chosen by `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SealConfig {
    /// Shamir shares: `trent operator init` prints them, operators unseal each node with
    /// `trent operator unseal`; the node starts sealed every time.
    Shamir(ShamirConfig),
    /// A key in an HSM through PKCS#11 (auto-unseal at start).
    Pkcs11(Pkcs11Config),
    /// A key in another AWS-KMS-compatible service, AWS KMS or another Trent (auto-unseal).
    Kms(KmsSealConfig),
}

/// The Shamir seal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShamirConfig {
    /// The sealed root key file (written by `trent operator init`).
    pub sealed_root_key: PathBuf,
}

/// The PKCS#11 seal: an AES-256 key in a token wraps the root key with AES-GCM inside the HSM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pkcs11Config {
    /// The sealed root key file.
    pub sealed_root_key: PathBuf,
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The label of the AES key in the token.
    pub key_label: String,
    /// A file holding the user PIN (mode 0600, owned by the node's user).
    pub pin_file: PathBuf,
    /// SoftHSM2 only: its config file (the process's `SOFTHSM2_CONF`).
    #[serde(default)]
    pub softhsm2_conf: Option<PathBuf>,
}

/// The seal by another KMS: the root key is the plaintext of an Encrypt under `key_id`, with
/// the encryption context `{"trent:purpose": "root-key", "trent:region": REGION}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsSealConfig {
    /// The sealed root key file.
    pub sealed_root_key: PathBuf,
    /// The endpoint URL (`https://kms.eu-west-1.amazonaws.com`, or another Trent's API).
    pub endpoint: String,
    /// The region the requests are signed for.
    pub region: String,
    /// The key id or ARN of the wrapping key there.
    pub key_id: String,
    /// A file holding `access_key_id:secret_access_key` (mode 0600, owned by the node's user).
    pub credentials_file: PathBuf,
}

impl SealConfig {
    /// The sealed root key file.
    pub fn sealed_root_key(&self) -> &Path {
        match self {
            SealConfig::Shamir(c) => &c.sealed_root_key,
            SealConfig::Pkcs11(c) => &c.sealed_root_key,
            SealConfig::Kms(c) => &c.sealed_root_key,
        }
    }

    /// The seal's name in the sealed file and in messages.
    pub fn kind(&self) -> &'static str {
        match self {
            SealConfig::Shamir(_) => "shamir",
            SealConfig::Pkcs11(_) => "pkcs11",
            SealConfig::Kms(_) => "kms",
        }
    }

    /// True for the seals a node opens by itself at start.
    pub fn auto_unseals(&self) -> bool {
        !matches!(self, SealConfig::Shamir(_))
    }

    /// The files of this seal that hold secrets (they must be mode 0600 and the node's own).
    pub fn secret_files(&self) -> Vec<&Path> {
        match self {
            SealConfig::Shamir(_) => Vec::new(),
            SealConfig::Pkcs11(c) => vec![c.pin_file.as_path()],
            SealConfig::Kms(c) => vec![c.credentials_file.as_path()],
        }
    }
}
