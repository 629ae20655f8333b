//! What the proxy's integration tests share: a SoftHSM2 token in a tempdir (its own
//! softhsm2.conf), a test CA and a `localhost` server certificate it issued, the secret files
//! and a proxy config serving one store from that token.
//!
//! SoftHSM2 is initialised once per process with one config, so each test binary calls
//! [`setup`] once.
#![allow(dead_code, clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kms_keystore::hsm;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

pub const TOKEN: &str = "xks-e2e";
pub const PIN: &str = "e2e-user-pin-4711";
/// The store's `XksProxyUriPath`.
pub const URI_PATH: &str = "/example/prefix/kms/xks/v1";
/// The store's SigV4 credential (the spec's example configuration file's).
pub const AKID: &str = "AKIAI2SFODNN7EXAMPLE";
pub const SECRET: &str = "FYtE5EFA5FT0mCc3DrGUe2sti527BitkQ0Zr9MO9fvE";
/// The external key ids the store serves (none exists in the token until a test creates it).
pub const KEYS: [&str; 3] = ["key-1", "key-2", "key-a.b_C"];
/// The SigV4 regions the store accepts.
pub const REGIONS: [&str; 2] = ["us-east-1", "us-east-2"];

pub fn softhsm2_module() -> PathBuf {
    if let Some(path) = std::env::var_os("TRENT_SOFTHSM2_MODULE") {
        return PathBuf::from(path);
    }
    [
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib64/pkcs11/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
    .expect("SoftHSM2 is installed (make deps), or TRENT_SOFTHSM2_MODULE names it")
}

pub fn secret_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A CA, and a server certificate for `localhost` it issued: (CA PEM, cert PEM, key PEM).
pub fn certificates() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "xks e2e test CA");
    let ca_pem = ca_params.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    (ca_pem, cert.pem(), key.serialize_pem())
}

pub struct Setup {
    pub dir: tempfile::TempDir,
    /// The proxy's config file.
    pub config: PathBuf,
    pub ca_pem: String,
    pub ca_file: PathBuf,
    pub module: Arc<hsm::HsmModule>,
}

/// The token (initialised, empty), the certificates and secrets, and a config listening on
/// 127.0.0.1 (any port) with one store at [`URI_PATH`]: [`KEYS`], [`AKID`]/[`SECRET`],
/// [`REGIONS`], and one allow rule letting account 123456789012's IAM users use `key-*` for
/// every operation.
pub fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let tokens = root.join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = root.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    let module_path = softhsm2_module();
    let module = hsm::module(&module_path, Some(&conf)).unwrap();
    module.init_token(TOKEN, "e2e-so-pin-0815", PIN).unwrap();

    let (ca_pem, cert_pem, key_pem) = certificates();
    let ca_file = root.join("ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    std::fs::write(root.join("cert.pem"), cert_pem).unwrap();
    secret_file(&root.join("key.pem"), &key_pem);
    secret_file(&root.join("user.pin"), PIN);
    secret_file(&root.join("store.secret"), &format!("{SECRET}\n"));

    let config = root.join("xks-proxy.toml");
    std::fs::write(
        &config,
        format!(
            r#"
listen = "127.0.0.1:0"
tls_cert = "cert.pem"
tls_key = "key.pem"

[backend]
type = "pkcs11"
module = "{module}"
softhsm2_conf = "softhsm2.conf"
token_label = "{TOKEN}"
pin_file = "user.pin"

[[stores]]
uri_path = "{URI_PATH}"
regions = {regions:?}
keys = {keys:?}

[[stores.credentials]]
access_key_id = "{AKID}"
secret_file = "store.secret"

[[stores.allow]]
principals = ["arn:aws:iam::123456789012:user/*"]
keys = ["key-*"]
operations = ["metadata", "encrypt", "decrypt"]
"#,
            module = module_path.display(),
            regions = REGIONS,
            keys = KEYS,
        ),
    )
    .unwrap();
    Setup {
        dir,
        config,
        ca_pem,
        ca_file,
        module,
    }
}

/// How long [`eventually`] waits.
#[allow(dead_code)] // not every test binary polls
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Polls `probe` every 50 ms until it yields a value; after [`PATIENCE`] fails the test with
/// `what` and the probe's last answer.
#[allow(dead_code)] // not every test binary polls
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut ticks = tokio::time::interval(std::time::Duration::from_millis(50));
    loop {
        ticks.tick().await;
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(
                std::time::Instant::now() < deadline,
                "never {what}; last: {last}"
            ),
        }
    }
}
