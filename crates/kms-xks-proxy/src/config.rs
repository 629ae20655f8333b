//! The proxy's TOML config (see `cluster/xks-proxy.example.toml`): where it listens and with
//! which certificate, the key backend (`[backend] type = "pkcs11"`: a PKCS#11 token, or
//! `type = "kms"`: key files whose AES keys a KMS unwraps), and one `[[stores]]` per
//! `XksProxyUriPath`, each with its SigV4 credentials (one or two pairs, for rotation; every
//! secret in its own file of mode 0600 owned by the proxy's user), the external key ids it
//! serves and who may use them.
//!
//! Relative paths are relative to the config file's directory. [`Config::load`] checks
//! everything it can without touching the backend: names and lengths as AWS KMS accepts them,
//! no prefix or access key id twice, each secret file's mode and owner.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kms_keystore::xks_api;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::policy::{Operation, Pattern, Policy, Rule};
use crate::ProxyError;

/// The default label of the key the deep health check encrypts and decrypts with.
pub const DEFAULT_HEALTH_KEY: &str = "trent-xks-health";

/// The default of `backend.cache_secs`: how long the KMS backend keeps an unwrapped key.
pub const DEFAULT_CACHE_SECS: u64 = 60;

/// The largest `backend.cache_secs` accepted (a day).
pub const MAX_CACHE_SECS: u64 = 86_400;

/// A loaded, checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` to listen on.
    pub listen: String,
    /// The server certificate chain (PEM).
    pub tls_cert: PathBuf,
    /// Its private key (PEM).
    pub tls_key: PathBuf,
    /// `xksProxyFleetSize` in health answers: how many proxies serve this endpoint.
    pub fleet_size: u32,
    /// The key backend.
    pub backend: BackendConfig,
    /// The logical key stores, by URI path.
    pub stores: Stores,
}

/// The key backend: where the external keys live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// A PKCS#11 token; an external key id is the CKA_LABEL of an AES-256 key in it.
    Pkcs11(Pkcs11Config),
    /// An AWS-KMS-compatible KMS (a Trent region, AWS KMS); an external key id names a key
    /// file in `keys_dir` holding an AES-256 key the KMS generated, wrapped under its key.
    Kms(KmsConfig),
}

impl BackendConfig {
    /// How long one call into the backend may take before the request fails with
    /// DependencyTimeoutException.
    pub fn timeout(&self) -> Duration {
        match self {
            BackendConfig::Pkcs11(p) => p.timeout,
            BackendConfig::Kms(k) => k.timeout,
        }
    }

    /// The id of the key the deep health check uses, if any (never served by a store).
    pub fn health_key(&self) -> Option<&str> {
        match self {
            BackendConfig::Pkcs11(p) => p.health_key.as_deref(),
            BackendConfig::Kms(k) => k.health_key.as_deref(),
        }
    }
}

/// A PKCS#11 token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// The module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// SoftHSM2 only: its config file (set as `SOFTHSM2_CONF`).
    pub softhsm2_conf: Option<PathBuf>,
    /// The token's label.
    pub token_label: String,
    /// The user PIN, in a file of mode 0600.
    pub pin_file: PathBuf,
    /// The label of the key the deep health check uses (created at start if missing);
    /// `None` (`health_key = ""`): the check only proves the login is alive.
    pub health_key: Option<String>,
    /// How long one call into the token may take before the request fails with
    /// DependencyTimeoutException.
    pub timeout: Duration,
}

/// Keys held by an AWS-KMS-compatible KMS: each external key is an AES-256 key the KMS
/// generated (GenerateDataKeyWithoutPlaintext under `key_id`), of which the proxy keeps only
/// the wrapped form, in `keys_dir/<external key id>.key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsConfig {
    /// The KMS API's URL, e.g. `https://kms.us-east-1.amazonaws.com` or a Trent node's
    /// `http://127.0.0.1:4566`.
    pub endpoint: String,
    /// The region the requests are signed for.
    pub region: String,
    /// `access_key_id:secret_access_key` (one line), in a file of mode 0600.
    pub credentials_file: PathBuf,
    /// The KMS key (id, ARN, alias name or alias ARN) that wraps the proxy's keys.
    pub key_id: String,
    /// The directory of the key files.
    pub keys_dir: PathBuf,
    /// How long an unwrapped key (and the KMS key's state) stays in memory; zero: every
    /// operation asks the KMS.
    pub cache: Duration,
    /// The id of the key the deep health check unwraps and uses (created at start if its file
    /// is missing); `None` (`health_key = ""`): the check is only DescribeKey.
    pub health_key: Option<String>,
    /// How long one call into the backend (one or more KMS calls) may take before the request
    /// fails with DependencyTimeoutException.
    pub timeout: Duration,
}

/// Every store, by URI path.
#[derive(Debug, Clone, Default)]
pub struct Stores(pub BTreeMap<String, Store>);

/// One logical key store: an `XksProxyUriPath` with its credentials, keys and policy.
#[derive(Clone)]
pub struct Store {
    /// The URI path, e.g. `/example/prefix/kms/xks/v1`.
    pub uri_path: String,
    /// The SigV4 regions accepted; `None`: any.
    pub regions: Option<Vec<String>>,
    /// Access key id to secret: one or two pairs.
    pub credentials: HashMap<String, Zeroizing<String>>,
    /// The external key ids served, each enabled (`true`) or disabled.
    pub keys: BTreeMap<String, bool>,
    /// Who may do what with which key.
    pub policy: Policy,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.credentials.keys().collect();
        ids.sort();
        f.debug_struct("Store")
            .field("uri_path", &self.uri_path)
            .field("regions", &self.regions)
            .field("access_key_ids", &ids)
            .field("keys", &self.keys)
            .field("policy", &self.policy)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    listen: String,
    tls_cert: PathBuf,
    tls_key: PathBuf,
    #[serde(default = "one")]
    fleet_size: u32,
    backend: BackendFile,
    #[serde(default)]
    stores: Vec<StoreFile>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum BackendFile {
    Pkcs11 {
        module: PathBuf,
        softhsm2_conf: Option<PathBuf>,
        token_label: String,
        pin_file: PathBuf,
        health_key: Option<String>,
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
    Kms {
        endpoint: String,
        region: String,
        credentials_file: PathBuf,
        key_id: String,
        keys_dir: PathBuf,
        #[serde(default = "default_cache_secs")]
        cache_secs: u64,
        health_key: Option<String>,
        #[serde(default = "default_timeout_ms")]
        timeout_ms: u64,
    },
}

fn default_cache_secs() -> u64 {
    DEFAULT_CACHE_SECS
}

/// `backend.health_key`: absent is the default key, `""` none.
fn parse_health_key(key: Option<String>) -> Result<Option<String>, String> {
    match key {
        None => Ok(Some(DEFAULT_HEALTH_KEY.to_string())),
        Some(k) if k.is_empty() => Ok(None),
        Some(k) if xks_api::is_valid_external_key_id(&k) => Ok(Some(k)),
        Some(k) => Err(format!("backend.health_key {k:?} is not a valid key id")),
    }
}

fn parse_timeout(timeout_ms: u64) -> Result<Duration, String> {
    if timeout_ms == 0 {
        return Err("backend.timeout_ms must be above 0".to_string());
    }
    Ok(Duration::from_millis(timeout_ms))
}

fn default_timeout_ms() -> u64 {
    2000
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreFile {
    uri_path: String,
    regions: Option<Vec<String>>,
    #[serde(default)]
    keys: Vec<String>,
    #[serde(default)]
    disabled_keys: Vec<String>,
    #[serde(default)]
    credentials: Vec<CredentialFile>,
    #[serde(default)]
    allow: Vec<RuleFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialFile {
    access_key_id: String,
    secret_file: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    principals: Vec<String>,
    #[serde(default = "any_key")]
    keys: Vec<String>,
    #[serde(default = "every_operation")]
    operations: Vec<Operation>,
}

fn any_key() -> Vec<String> {
    vec!["*".to_string()]
}

fn every_operation() -> Vec<Operation> {
    vec![Operation::Metadata, Operation::Encrypt, Operation::Decrypt]
}

impl Config {
    /// Reads and checks the config at `path`, and the secret files it names.
    pub fn load(path: &Path) -> Result<Config, ProxyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ProxyError::Config(format!("reading {}: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base)
            .map_err(|e| ProxyError::Config(format!("{}: {e}", path.display())))
    }

    /// [`Config::load`] for config text whose relative paths are relative to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, String> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        let backend = match file.backend {
            BackendFile::Pkcs11 {
                module,
                softhsm2_conf,
                token_label,
                pin_file,
                health_key,
                timeout_ms,
            } => {
                if token_label.is_empty() || token_label.len() > 32 {
                    return Err("backend.token_label has 1 to 32 bytes".to_string());
                }
                BackendConfig::Pkcs11(Pkcs11Config {
                    module: resolve(module),
                    softhsm2_conf: softhsm2_conf.map(resolve),
                    token_label,
                    pin_file: resolve(pin_file),
                    health_key: parse_health_key(health_key)?,
                    timeout: parse_timeout(timeout_ms)?,
                })
            }
            BackendFile::Kms {
                endpoint,
                region,
                credentials_file,
                key_id,
                keys_dir,
                cache_secs,
                health_key,
                timeout_ms,
            } => {
                let url = endpoint
                    .strip_prefix("https://")
                    .or_else(|| endpoint.strip_prefix("http://"));
                if url.is_none_or(|rest| rest.is_empty() || rest.contains(char::is_whitespace)) {
                    return Err(format!(
                        "backend.endpoint {endpoint:?} is not an http:// or https:// URL"
                    ));
                }
                if region.is_empty() || region.contains(char::is_whitespace) {
                    return Err("backend.region names a region, e.g. us-east-1".to_string());
                }
                if key_id.is_empty() || key_id.len() > 2048 {
                    return Err(
                        "backend.key_id names the KMS key: an id, ARN, alias name or alias ARN"
                            .to_string(),
                    );
                }
                if cache_secs > MAX_CACHE_SECS {
                    return Err(format!(
                        "backend.cache_secs is at most {MAX_CACHE_SECS} (a day)"
                    ));
                }
                BackendConfig::Kms(KmsConfig {
                    endpoint,
                    region,
                    credentials_file: resolve(credentials_file),
                    key_id,
                    keys_dir: resolve(keys_dir),
                    cache: Duration::from_secs(cache_secs),
                    health_key: parse_health_key(health_key)?,
                    timeout: parse_timeout(timeout_ms)?,
                })
            }
        };
        if file.fleet_size == 0 {
            return Err("fleet_size must be at least 1".to_string());
        }
        let health_key = backend.health_key().map(str::to_string);
        let mut stores = BTreeMap::new();
        for store in file.stores {
            let store = load_store(store, &resolve)?;
            if let Some(health) = &health_key {
                if store.keys.contains_key(health) {
                    return Err(format!(
                        "store {} serves the health check's key {health:?}",
                        store.uri_path
                    ));
                }
            }
            if stores.contains_key(&store.uri_path) {
                return Err(format!("two stores have the uri_path {}", store.uri_path));
            }
            stores.insert(store.uri_path.clone(), store);
        }
        if stores.is_empty() {
            return Err("no [[stores]]".to_string());
        }
        Ok(Config {
            listen: file.listen,
            tls_cert: resolve(file.tls_cert),
            tls_key: resolve(file.tls_key),
            fleet_size: file.fleet_size,
            backend,
            stores: Stores(stores),
        })
    }
}

fn load_store(file: StoreFile, resolve: &dyn Fn(PathBuf) -> PathBuf) -> Result<Store, String> {
    let path = file.uri_path;
    if !xks_api::is_valid_uri_path(&path) {
        return Err(format!(
            "uri_path {path:?}: 10 to 128 characters of A-Z a-z 0-9 / - _, starting with / and \
             ending in /kms/xks/v1"
        ));
    }
    let at = |what: String| format!("store {path}: {what}");
    if let Some(regions) = &file.regions {
        if regions.is_empty() || regions.iter().any(String::is_empty) {
            return Err(at("regions, when given, lists region names".to_string()));
        }
    }
    if !(1..=2).contains(&file.credentials.len()) {
        return Err(at(format!(
            "{} [[stores.credentials]]: one, or two while rotating",
            file.credentials.len()
        )));
    }
    let mut credentials = HashMap::new();
    for credential in file.credentials {
        let id = credential.access_key_id;
        if !valid_access_key_id(&id) {
            return Err(at(format!(
                "access key id {id:?}: 20 to 30 characters of A-Z and 2-7"
            )));
        }
        let secret = read_secret_file(&resolve(credential.secret_file))
            .map_err(|e| at(format!("access key {id}: {e}")))?;
        if credentials.insert(id.clone(), secret).is_some() {
            return Err(at(format!("access key id {id} is listed twice")));
        }
    }
    let mut keys = BTreeMap::new();
    for (list, enabled) in [(file.keys, true), (file.disabled_keys, false)] {
        for key in list {
            if !xks_api::is_valid_external_key_id(&key) {
                return Err(at(format!(
                    "key id {key:?}: 1 to 128 characters of A-Z a-z 0-9 . - _"
                )));
            }
            if keys.insert(key.clone(), enabled).is_some() {
                return Err(at(format!("key id {key} is listed twice")));
            }
        }
    }
    let mut rules = Vec::new();
    for (i, rule) in file.allow.into_iter().enumerate() {
        if rule.principals.is_empty() || rule.keys.is_empty() || rule.operations.is_empty() {
            return Err(at(format!(
                "allow rule {}: principals, keys and operations must not be empty",
                i + 1
            )));
        }
        let operations: BTreeSet<Operation> = rule.operations.into_iter().collect();
        rules.push(Rule {
            principals: rule.principals.iter().map(|p| Pattern::new(p)).collect(),
            keys: rule.keys.iter().map(|k| Pattern::new(k)).collect(),
            operations,
        });
    }
    Ok(Store {
        uri_path: path,
        regions: file.regions,
        credentials,
        keys,
        policy: Policy { rules },
    })
}

/// AWS's rule for an XKS access key id: 20 to 30 characters of `A-Z` and `2-7`.
fn valid_access_key_id(id: &str) -> bool {
    (20..=30).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
}

/// AWS's rule for an XKS secret: 43 to 64 characters of `A-Z a-z 0-9 + / =`.
fn valid_secret(secret: &str) -> bool {
    (43..=64).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// Reads a file holding a secret (surrounding whitespace dropped): a regular file of mode
/// 0600 or stricter, owned by the user the proxy runs as.
pub fn read_secret(path: &Path) -> Result<Zeroizing<String>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has mode {mode:o}: a file holding a secret must not be readable by group or \
             other (chmod 600 it)",
            path.display()
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "{} is owned by uid {}, not by uid {me} the proxy runs as",
            path.display(),
            meta.uid()
        ));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
    );
    Ok(Zeroizing::new(text.trim().to_string()))
}

fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, String> {
    let secret = read_secret(path)?;
    if !valid_secret(&secret) {
        return Err(format!(
            "the secret in {} is not 43 to 64 characters of A-Z a-z 0-9 + / = (e.g. `openssl \
             rand -base64 32`)",
            path.display()
        ));
    }
    Ok(secret)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const AKID: &str = "AKIAI2SFODNN7EXAMPLE";
    pub(crate) const SECRET: &str = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";

    pub(crate) fn secret_file(dir: &Path, name: &str, secret: &str, mode: u32) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    fn config_text(extra_store: &str) -> String {
        format!(
            r#"
listen = "127.0.0.1:0"
tls_cert = "cert.pem"
tls_key = "/abs/key.pem"

[backend]
type = "pkcs11"
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "xks"
pin_file = "pin"

[[stores]]
uri_path = "/example/prefix/kms/xks/v1"
keys = ["key-1", "key-2"]
disabled_keys = ["key-3"]
[[stores.credentials]]
access_key_id = "{AKID}"
secret_file = "s1"
[[stores.allow]]
principals = ["arn:aws:iam::123456789012:role/app-*"]
operations = ["encrypt", "decrypt"]
{extra_store}
"#
        )
    }

    #[test]
    fn a_config_loads_with_paths_resolved() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "s1", SECRET, 0o600);
        let config = Config::parse(&config_text(""), dir.path()).unwrap();
        assert_eq!(config.tls_cert, dir.path().join("cert.pem"));
        assert_eq!(config.tls_key, PathBuf::from("/abs/key.pem"));
        assert_eq!(config.fleet_size, 1);
        let BackendConfig::Pkcs11(p) = &config.backend else {
            panic!("a PKCS#11 backend: {:?}", config.backend)
        };
        assert_eq!(p.pin_file, dir.path().join("pin"));
        assert_eq!(p.health_key.as_deref(), Some(DEFAULT_HEALTH_KEY));
        assert_eq!(p.timeout, Duration::from_secs(2));
        let store = &config.stores.0["/example/prefix/kms/xks/v1"];
        assert_eq!(store.credentials[AKID].as_str(), SECRET);
        assert_eq!(store.keys.get("key-1"), Some(&true));
        assert_eq!(store.keys.get("key-3"), Some(&false));
        assert_eq!(store.regions, None);
        assert_eq!(store.policy.rules.len(), 1);
        let shown = format!("{config:?}");
        assert!(!shown.contains(SECRET), "{shown}");
    }

    #[test]
    fn the_example_config_loads() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "orders.secret", SECRET, 0o600);
        let example = include_str!("../../../cluster/xks-proxy.example.toml")
            .replace("/etc/trent/xks/", &format!("{}/", dir.path().display()));
        let config = Config::parse(&example, dir.path()).unwrap();
        let store = &config.stores.0["/example/prefix/kms/xks/v1"];
        assert_eq!(store.keys.get("orders-2024"), Some(&false));
        assert_eq!(store.policy.rules.len(), 3);
        let policy = &store.policy;
        let role = "arn:aws:iam::123456789012:role/orders-web";
        assert!(policy
            .allows(role, "orders-2025", Operation::Encrypt)
            .is_some());
        assert!(policy
            .allows(role, "payroll-2025", Operation::Encrypt)
            .is_none());
        assert!(policy
            .allows("AWS Internal", "payroll-2025", Operation::Decrypt)
            .is_some());
    }

    /// The example's commented-out KMS `[backend]` (from `# [backend]` to the first line not
    /// starting with `#`), uncommented.
    fn example_kms_backend(example: &str) -> String {
        let mut lines = example
            .lines()
            .skip_while(|line| *line != "# [backend]")
            .take_while(|line| line.starts_with('#'));
        let mut out = String::new();
        for line in lines.by_ref() {
            let line = line.strip_prefix('#').unwrap_or(line);
            let line = line.strip_prefix(' ').unwrap_or(line);
            out.push_str(line);
            out.push('\n');
        }
        assert!(out.contains("type = \"kms\""), "{out}");
        out
    }

    /// `text` with its `[backend]` table replaced by `backend`.
    fn with_backend(text: &str, backend: &str) -> String {
        let start = text.find("\n[backend]\n").unwrap() + 1;
        let end = start + text[start..].find("\n[[stores]]").unwrap();
        format!("{}{backend}{}", &text[..start], &text[end..])
    }

    #[test]
    fn the_example_kms_backend_loads() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "orders.secret", SECRET, 0o600);
        let example = include_str!("../../../cluster/xks-proxy.example.toml")
            .replace("/etc/trent/xks/", &format!("{}/", dir.path().display()));
        let text = with_backend(&example, &example_kms_backend(&example));
        let config = Config::parse(&text, dir.path()).unwrap();
        let BackendConfig::Kms(k) = &config.backend else {
            panic!("a KMS backend: {:?}", config.backend)
        };
        assert_eq!(k.region, "us-east-1");
        assert_eq!(k.credentials_file, dir.path().join("kms-credentials"));
        assert_eq!(k.cache, Duration::from_secs(DEFAULT_CACHE_SECS));
        assert_eq!(k.health_key.as_deref(), Some(DEFAULT_HEALTH_KEY));
        assert_eq!(config.backend.timeout(), Duration::from_secs(2));
    }

    #[test]
    fn a_kms_backend_loads_with_defaults_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "s1", SECRET, 0o600);
        let backend = |extra: &str| {
            with_backend(
                &config_text(""),
                &format!(
                    "[backend]\ntype = \"kms\"\nendpoint = \"http://127.0.0.1:4566\"\n\
                     region = \"us-east-1\"\ncredentials_file = \"kms.credentials\"\n\
                     key_id = \"alias/xks\"\nkeys_dir = \"keys\"\n{extra}\n"
                ),
            )
        };
        let config = Config::parse(&backend(""), dir.path()).unwrap();
        let BackendConfig::Kms(k) = &config.backend else {
            panic!("a KMS backend: {:?}", config.backend)
        };
        assert_eq!(k.endpoint, "http://127.0.0.1:4566");
        assert_eq!(k.key_id, "alias/xks");
        assert_eq!(k.keys_dir, dir.path().join("keys"));
        assert_eq!(k.cache, Duration::from_secs(60));
        assert_eq!(k.timeout, Duration::from_secs(2));
        assert_eq!(config.backend.health_key(), Some(DEFAULT_HEALTH_KEY));
        let config = Config::parse(
            &backend("cache_secs = 0\nhealth_key = \"\"\ntimeout_ms = 500"),
            dir.path(),
        )
        .unwrap();
        assert_eq!(config.backend.health_key(), None);
        assert_eq!(config.backend.timeout(), Duration::from_millis(500));
        let BackendConfig::Kms(k) = &config.backend else {
            panic!("a KMS backend")
        };
        assert_eq!(k.cache, Duration::ZERO);
        let cases = [
            (
                backend("").replace("http://127.0.0.1:4566", "127.0.0.1:4566"),
                "not an http:// or https:// URL",
            ),
            (
                backend("").replace("us-east-1\"\ncred", "\"\ncred"),
                "region",
            ),
            (backend("").replace("alias/xks", ""), "key_id"),
            (backend("cache_secs = 86401"), "at most"),
            (backend("timeout_ms = 0"), "above 0"),
            (backend("module = \"x\""), "unknown field"),
            (backend("").replace("keys_dir = \"keys\"\n", ""), "keys_dir"),
            (
                backend("").replace("\"key-2\"", &format!("\"{DEFAULT_HEALTH_KEY}\"")),
                "health check",
            ),
        ];
        for (text, expected) in cases {
            let err = Config::parse(&text, dir.path()).unwrap_err();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }

    #[test]
    fn bad_configs_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        secret_file(dir.path(), "s1", SECRET, 0o600);
        secret_file(dir.path(), "open", SECRET, 0o644);
        secret_file(dir.path(), "short", "abc", 0o600);
        let second = |body: &str| format!("[[stores]]\n{body}");
        let cases = [
            (config_text("").replace("s1\"", "open\""), "mode 644"),
            (config_text("").replace("s1\"", "short\""), "43 to 64"),
            (config_text("").replace(AKID, "akid"), "20 to 30"),
            (
                config_text("").replace("/example/prefix/kms/xks/v1", "/example/prefix"),
                "ending in /kms/xks/v1",
            ),
            (
                config_text(&second(&format!(
                    "uri_path = \"/example/prefix/kms/xks/v1\"\n[[stores.credentials]]\n\
                     access_key_id = \"{AKID}\"\nsecret_file = \"s1\"\n"
                ))),
                "two stores",
            ),
            (
                config_text("").replace("\"key-2\"", "\"key-1\""),
                "listed twice",
            ),
            (
                config_text("").replace("\"key-2\"", "\"bad/key\""),
                "key id",
            ),
            (
                config_text("").replace("\"key-2\"", &format!("\"{DEFAULT_HEALTH_KEY}\"")),
                "health check",
            ),
            (
                config_text("").replace(
                    "operations = [\"encrypt\", \"decrypt\"]",
                    "operations = [\"sign\"]",
                ),
                "unknown variant",
            ),
            (config_text("").replace("listen", "lisen"), "unknown field"),
        ];
        for (text, expected) in cases {
            let err = Config::parse(&text, dir.path()).unwrap_err();
            assert!(err.contains(expected), "{expected:?} not in {err:?}");
        }
    }
}
