//! Who may sign requests, and as whom: the access keys of the node config (each the root user
//! of the account) plus an optional identities file of IAM users and roles with their access
//! keys and identity policies. The file is re-read when it changes (checked every second), so
//! users, keys and policies change without a restart; a file that does not parse is refused
//! and the previous identities stay in force.
//!
//! Identities file (TOML):
//! ```toml
//! [[users]]
//! account = "111122223333"
//! name = "alice"
//! policies = ['''{"Version": "2012-10-17", "Statement": [...]}''']
//! access_keys = [{ id = "AKIAALICE", secret = "..." }]
//! ```
//! Secrets are held as given (SigV4 needs the secret itself to verify a signature); keep the file
//! mode 0600. They are never logged, and `Debug` does not print them.

use crate::config::Credential;
use anyhow::{bail, Context};
use kms_api::CredentialStore;
use kms_policy::Policy;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// A principal requests run as.
#[derive(Debug)]
pub struct PrincipalInfo {
    /// The principal's ARN (`arn:aws:iam::ACCOUNT:root`, `...:user/NAME`).
    pub arn: String,
    /// Its account.
    pub account: String,
    /// Its identity policies (none for the root user, who needs none).
    pub policies: Vec<Policy>,
}

struct AccessKey {
    secret: String,
    principal: Arc<PrincipalInfo>,
}

/// One consistent set of access keys.
#[derive(Default)]
struct Identities {
    keys: HashMap<String, AccessKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentitiesFile {
    #[serde(default)]
    users: Vec<UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    account: String,
    name: String,
    #[serde(default)]
    policies: Vec<String>,
    #[serde(default)]
    access_keys: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    secret: String,
}

/// The identities a node authenticates and authorizes against.
pub struct IdentityStore {
    account: String,
    root_credentials: Vec<Credential>,
    path: Option<PathBuf>,
    current: RwLock<Arc<Identities>>,
    loaded_mtime: Mutex<Option<SystemTime>>,
}

impl std::fmt::Debug for IdentityStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityStore")
            .field("account", &self.account)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl IdentityStore {
    /// The node config's credentials (as the account's root user) and, if `path` is given, the
    /// identities file. Fails if the file exists but does not parse.
    pub fn new(
        account: &str,
        root_credentials: &[Credential],
        path: Option<&Path>,
    ) -> anyhow::Result<IdentityStore> {
        let store = IdentityStore {
            account: account.to_string(),
            root_credentials: root_credentials.to_vec(),
            path: path.map(Path::to_path_buf),
            current: RwLock::new(Arc::new(Identities::default())),
            loaded_mtime: Mutex::new(None),
        };
        store.reload()?;
        Ok(store)
    }

    /// Re-reads the identities file if its modification time changed. Returns whether it did.
    pub fn reload_if_changed(&self) -> anyhow::Result<bool> {
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let unchanged = self
            .loaded_mtime
            .lock()
            .map(|loaded| *loaded == mtime)
            .unwrap_or(false);
        if unchanged {
            return Ok(false);
        }
        self.reload()?;
        Ok(true)
    }

    fn reload(&self) -> anyhow::Result<()> {
        let mut identities = Identities::default();
        let root = Arc::new(PrincipalInfo {
            arn: format!("arn:aws:iam::{}:root", self.account),
            account: self.account.clone(),
            policies: Vec::new(),
        });
        for credential in &self.root_credentials {
            identities.keys.insert(
                credential.access_key_id.clone(),
                AccessKey {
                    secret: credential.secret_access_key.clone(),
                    principal: root.clone(),
                },
            );
        }
        let mut mtime = None;
        if let Some(path) = &self.path {
            mtime = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the identities file {}", path.display()))?;
            let file: IdentitiesFile = toml::from_str(&text)
                .with_context(|| format!("parsing the identities file {}", path.display()))?;
            for user in file.users {
                if user.account.len() != 12 || !user.account.bytes().all(|b| b.is_ascii_digit()) {
                    bail!("user {}: account must be 12 digits", user.name);
                }
                let policies = user
                    .policies
                    .iter()
                    .map(|p| Policy::parse(p))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| anyhow::anyhow!("user {}: {e}", user.name))?;
                let principal = Arc::new(PrincipalInfo {
                    arn: format!("arn:aws:iam::{}:user/{}", user.account, user.name),
                    account: user.account.clone(),
                    policies,
                });
                for key in user.access_keys {
                    if identities.keys.contains_key(&key.id) {
                        bail!("access key {} is listed twice", key.id);
                    }
                    identities.keys.insert(
                        key.id,
                        AccessKey {
                            secret: key.secret,
                            principal: principal.clone(),
                        },
                    );
                }
            }
        }
        if let Ok(mut current) = self.current.write() {
            *current = Arc::new(identities);
        }
        if let Ok(mut loaded) = self.loaded_mtime.lock() {
            *loaded = mtime;
        }
        Ok(())
    }

    fn snapshot(&self) -> Arc<Identities> {
        self.current.read().map(|c| c.clone()).unwrap_or_default()
    }

    /// The principal an access key belongs to.
    pub fn principal(&self, access_key_id: &str) -> Option<Arc<PrincipalInfo>> {
        self.snapshot()
            .keys
            .get(access_key_id)
            .map(|k| k.principal.clone())
    }
}

impl CredentialStore for IdentityStore {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.snapshot()
            .keys
            .get(access_key_id)
            .map(|k| k.secret.clone())
    }
}

/// Re-reads the identities file every second while the process runs.
pub async fn watch(store: Arc<IdentityStore>) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        ticker.tick().await;
        match store.reload_if_changed() {
            Ok(true) => tracing::info!("reloaded the identities file"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "keeping the previous identities"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Vec<Credential> {
        vec![Credential {
            access_key_id: "ROOT".into(),
            secret_access_key: "root-secret".into(),
        }]
    }

    #[test]
    fn root_credentials_and_users_resolve_and_the_file_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identities.toml");
        std::fs::write(
            &path,
            "[[users]]\naccount = \"111122223333\"\nname = \"alice\"\naccess_keys = [{ id = \"A1\", secret = \"s1\" }]\n",
        )
        .unwrap();
        let store = IdentityStore::new("111122223333", &root(), Some(&path)).unwrap();
        assert_eq!(
            store.principal("ROOT").unwrap().arn,
            "arn:aws:iam::111122223333:root"
        );
        assert_eq!(
            store.principal("A1").unwrap().arn,
            "arn:aws:iam::111122223333:user/alice"
        );
        assert_eq!(store.secret_for("A1").as_deref(), Some("s1"));
        assert!(store.principal("B1").is_none());

        // A new key appears without a restart; a broken file keeps the old set.
        std::fs::write(
            &path,
            "[[users]]\naccount = \"111122223333\"\nname = \"bob\"\naccess_keys = [{ id = \"B1\", secret = \"s2\" }]\n",
        )
        .unwrap();
        filetime_bump(&path);
        assert!(store.reload_if_changed().unwrap());
        assert!(store.principal("A1").is_none());
        assert!(store.principal("B1").is_some());
        std::fs::write(&path, "[[users]]\nnope = 1\n").unwrap();
        filetime_bump(&path);
        assert!(store.reload_if_changed().is_err());
        assert!(store.principal("B1").is_some());
    }

    #[test]
    fn malformed_policies_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("identities.toml");
        std::fs::write(
            &path,
            "[[users]]\naccount = \"111122223333\"\nname = \"eve\"\npolicies = ['{\"Statement\": 3}']\n",
        )
        .unwrap();
        assert!(IdentityStore::new("111122223333", &root(), Some(&path)).is_err());
    }

    /// Moves the file's mtime forward so a rewrite within the same clock tick is noticed.
    fn filetime_bump(path: &Path) {
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(later).unwrap();
    }
}
