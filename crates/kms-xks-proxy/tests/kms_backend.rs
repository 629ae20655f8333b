//! The proxy's KMS backend against a real Trent region: one `trent serve` node (the binary
//! built beside this test, `target/debug/trent`; its config and root key written with
//! `kms_config::Topology` as every Trent test fixture writes them) holds the KMS key that
//! wraps the proxy's keys. Through `aws-sdk-kms` the test makes that key; `create_key` (what
//! `trent xks-proxy create-key` runs) makes two external keys with it; the proxy serves them
//! over TLS to a KMS node's client (`kms_keystore::xks_client::XksClient`). Shown: the key
//! files hold only the KMS's wrapped key (the test unwraps it and finds the AES key nowhere
//! in the file, and the proxy's ciphertexts open under it), metadata, the round trip, a
//! tampered tag, unknown keys, the KMS key disabled (InvalidStateException once the cache
//! expires, health UNAVAILABLE, metadata DISABLED) and enabled again, and the KMS gone
//! (DependencyTimeoutException).
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::primitives::Blob;
use common::{certificates, eventually, secret_file, AKID, SECRET, URI_PATH};
use kms_keystore::xks_api::{self, EkmHealthStatus, KeyStatus, RequestMetadata};
use kms_keystore::xks_client::{XksCiphertext, XksClient, XksEndpoint, XksError, XksTrust};
use kms_xks_proxy::backend::kms::KEY_ID_CONTEXT;
use zeroize::Zeroizing;

const REGION: &str = "us-east-1";
/// The access key the Trent node accepts and the proxy's credentials file holds.
const TRENT_ACCESS_KEY: &str = "AKIATRENTXKSTEST0001";
const TRENT_SECRET_KEY: &str = "trent-xks-kms-backend-secret";
const ALICE: &str = "arn:aws:iam::123456789012:user/Alice";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
/// Generous for a loaded test machine; AWS KMS allows 250 ms.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a condition may take to show (the proxy's cache is 1 s).
/// The external keys the store serves: two made by the test, one never made.
const KEYS: [&str; 3] = ["key-1", "key-2", "key-no-file"];

/// The `trent` binary: `TRENT_BINARY`, else the one built beside this test binary.
fn trent_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TRENT_BINARY") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap();
    let binary = exe.parent().and_then(Path::parent).unwrap().join("trent");
    assert!(
        binary.exists(),
        "{} is missing: `cargo build -p kms-server --bin trent` (or make build) first",
        binary.display()
    );
    binary
}

/// One `trent serve` node, killed on drop.
struct TrentNode {
    child: Child,
    api_addr: String,
    log: PathBuf,
}

impl TrentNode {
    /// Writes a single-node region under `root` (plain HTTP on loopback) and starts it.
    fn start(root: &Path) -> TrentNode {
        let addrs = kms_config::free_loopback_addrs(1).unwrap();
        let credential = kms_config::Credential {
            access_key_id: TRENT_ACCESS_KEY.to_string(),
            secret_access_key: TRENT_SECRET_KEY.to_string(),
            account_id: None,
        };
        let mut topology = kms_config::Topology::new(
            root,
            vec![kms_config::RegionPlan::new(REGION, addrs)],
            credential,
        );
        topology.raft_tls = false;
        topology.raft = kms_config::RaftTuning {
            heartbeat_ms: 50,
            election_timeout_ms: 300,
            snapshot_after_entries: 5000,
        };
        let written = topology.write().unwrap();
        let node = &written[0];
        let log = root.join("trent.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(trent_binary())
            .arg("serve")
            .arg("--config")
            .arg(&node.path)
            .env("RUST_LOG", "info,openraft=warn")
            .env_remove("TRENT_CREDENTIALS")
            .env_remove("TRENT_ACCOUNT_ID")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        TrentNode {
            child,
            api_addr: node.config.api_addr.clone(),
            log,
        }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    fn client(&self) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                TRENT_ACCESS_KEY,
                TRENT_SECRET_KEY,
                None,
                None,
                "kms-backend-test",
            ))
            .endpoint_url(self.endpoint())
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// Waits until it answers a signed ListKeys (fails at once if the node exits).
    async fn wait_serving(&mut self) {
        let kms = self.client();
        eventually("trent served", || {
            let exited = self.child.try_wait().unwrap();
            let kms = kms.clone();
            let log = self.log_text();
            async move {
                if let Some(status) = exited {
                    panic!("trent exited ({status}):\n{log}");
                }
                kms.list_keys()
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}\n{log}"))
            }
        })
        .await;
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TrentNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls health until the key manager reports `status` (health asks the KMS every time; the
/// poll only covers the KMS applying a key state change).
async fn health_becomes(client: &XksClient, status: EkmHealthStatus) -> xks_api::HealthResponse {
    eventually(&format!("health {status:?}"), || async {
        match client.health(&health_meta()).await {
            Ok(h) if h.ekm_fleet_details[0].health_status == status => Ok(h),
            other => Err(format!("{other:?}")),
        }
    })
    .await
}

fn meta(operation: &str) -> RequestMetadata {
    RequestMetadata {
        aws_principal_arn: Some(ALICE.to_string()),
        kms_key_arn: Some(KEY_ARN.to_string()),
        kms_operation: operation.to_string(),
        kms_request_id: format!("kms-backend-{operation}"),
        ..RequestMetadata::default()
    }
}

fn health_meta() -> RequestMetadata {
    RequestMetadata {
        kms_operation: "KmsHealthCheck".to_string(),
        kms_request_id: "kms-backend-health".to_string(),
        ..RequestMetadata::default()
    }
}

fn error_name<T: std::fmt::Debug>(result: Result<T, XksError>) -> String {
    let err = result.expect_err("the call fails");
    err.error_name()
        .map(str::to_string)
        .unwrap_or_else(|| format!("no errorName: {err}"))
}

/// The proxy's config: TLS on 127.0.0.1 (any port) with a test CA's certificate, the KMS
/// backend on `trent`'s key `key_id` with a 1 s cache, and one store serving [`KEYS`].
fn write_proxy_config(dir: &Path, trent: &TrentNode, key_id: &str) -> (PathBuf, String) {
    let (ca_pem, cert_pem, key_pem) = certificates();
    std::fs::write(dir.join("cert.pem"), cert_pem).unwrap();
    secret_file(&dir.join("key.pem"), &key_pem);
    secret_file(&dir.join("store.secret"), &format!("{SECRET}\n"));
    secret_file(
        &dir.join("kms.credentials"),
        &format!("{TRENT_ACCESS_KEY}:{TRENT_SECRET_KEY}\n"),
    );
    let config = dir.join("xks-proxy.toml");
    std::fs::write(
        &config,
        format!(
            r#"
listen = "127.0.0.1:0"
tls_cert = "cert.pem"
tls_key = "key.pem"

[backend]
type = "kms"
endpoint = "{endpoint}"
region = "{REGION}"
credentials_file = "kms.credentials"
key_id = "{key_id}"
keys_dir = "keys"
cache_secs = 1
timeout_ms = 3000

[[stores]]
uri_path = "{URI_PATH}"
keys = {keys:?}

[[stores.credentials]]
access_key_id = "{AKID}"
secret_file = "store.secret"

[[stores.allow]]
principals = ["arn:aws:iam::123456789012:user/*"]
keys = ["key-*"]
"#,
            endpoint = trent.endpoint(),
            keys = KEYS,
        ),
    )
    .unwrap();
    (config, ca_pem)
}

/// The AES key in `key_id`'s key file, unwrapped by the KMS with the file's context.
async fn unwrap_key_file(
    kms: &aws_sdk_kms::Client,
    keys_dir: &Path,
    file_id: &str,
    context_id: &str,
) -> Result<Zeroizing<Vec<u8>>, String> {
    let blob = std::fs::read(keys_dir.join(format!("{file_id}.key"))).unwrap();
    let answer = kms
        .decrypt()
        .ciphertext_blob(Blob::new(blob))
        .set_encryption_context(Some(HashMap::from([(
            KEY_ID_CONTEXT.to_string(),
            context_id.to_string(),
        )])))
        .send()
        .await
        .map_err(|e| {
            use aws_sdk_kms::error::ProvideErrorMetadata;
            e.code().unwrap_or("no code").to_string()
        })?;
    Ok(Zeroizing::new(answer.plaintext.unwrap().into_inner()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kms_backend_serves_keys_a_trent_region_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut trent = TrentNode::start(&dir.path().join("trent"));
    trent.wait_serving().await;
    let kms = trent.client();
    let kms_key = kms
        .create_key()
        .description("wraps the XKS proxy's keys")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let proxy_dir = dir.path().join("proxy");
    std::fs::create_dir(&proxy_dir).unwrap();
    let (config_path, ca_pem) = write_proxy_config(&proxy_dir, &trent, &kms_key);
    let keys_dir = proxy_dir.join("keys");

    // `trent xks-proxy create-key`: a key file per external key, made once.
    assert!(kms_xks_proxy::create_key(&config_path, "key-1").unwrap());
    assert!(kms_xks_proxy::create_key(&config_path, "key-2").unwrap());
    assert!(!kms_xks_proxy::create_key(&config_path, "key-unlisted").unwrap());
    let again = kms_xks_proxy::create_key(&config_path, "key-1").unwrap_err();
    assert!(again.to_string().contains("exists"), "{again}");
    let bad = kms_xks_proxy::create_key(&config_path, "bad/id").unwrap_err();
    assert!(bad.to_string().contains("not an external key id"), "{bad}");

    // The key files hold the KMS's wrapped key, never the AES key; the wrap is bound to its
    // external key id.
    let mut aes_keys = HashMap::new();
    for id in ["key-1", "key-2", "trent-xks-health"] {
        let path = keys_dir.join(format!("{id}.key"));
        let file = std::fs::read(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{id}");
        let aes = unwrap_key_file(&kms, &keys_dir, id, id).await.unwrap();
        assert_eq!(aes.len(), 32, "{id}");
        assert!(
            !file.windows(32).any(|w| w == aes.as_slice()),
            "{id}: the AES key is in its file"
        );
        aes_keys.insert(id, aes);
    }
    assert_ne!(aes_keys["key-1"], aes_keys["key-2"]);
    assert_eq!(
        unwrap_key_file(&kms, &keys_dir, "key-1", "key-2").await,
        Err("InvalidCiphertextException".to_string()),
        "a key file does not open under another id's context"
    );

    let config = kms_xks_proxy::Config::load(&config_path).unwrap();
    let proxy = kms_xks_proxy::start(&config).await.unwrap();
    let client = XksClient::new(
        XksEndpoint {
            uri_endpoint: "https://localhost".to_string(),
            port: proxy.addr().port(),
            uri_path: URI_PATH.to_string(),
            access_key_id: AKID.to_string(),
            secret: Zeroizing::new(SECRET.to_string()),
            region: REGION.to_string(),
            trust: XksTrust::CaPem(ca_pem.into_bytes()),
        },
        CALL_TIMEOUT,
    )
    .unwrap();

    // Health: DescribeKey and the health key's round trip, ACTIVE.
    let health = client.health(&health_meta()).await.unwrap();
    assert_eq!(health.problem(), None);
    assert_eq!(health.ekm_fleet_details.len(), 1);
    assert_eq!(health.ekm_fleet_details[0].id, kms_key);
    assert_eq!(
        health.ekm_fleet_details[0].health_status,
        EkmHealthStatus::Active
    );

    // Metadata as CreateKey wants it.
    let mut create_key = meta("CreateKey");
    create_key.kms_key_arn = None;
    let metadata = client.key_metadata("key-1", &create_key).await.unwrap();
    assert_eq!(metadata.key_spec, "AES_256");
    assert_eq!(metadata.key_usage, vec!["ENCRYPT", "DECRYPT"]);
    assert_eq!(metadata.key_status, KeyStatus::Enabled);
    assert!(metadata.usable_by_kms());

    // The round trip; the ciphertext is AES-256-GCM under the KMS-generated key itself.
    let aad = b"kms blob header and encryption context";
    let plaintext = [0x5au8; 4300];
    let sealed = client
        .encrypt("key-1", &meta("Encrypt"), &plaintext, aad)
        .await
        .unwrap();
    assert_eq!(sealed.ciphertext.len(), plaintext.len());
    assert_ne!(sealed.ciphertext, plaintext.to_vec());
    let metadata_bytes = sealed.metadata.clone().unwrap();
    let opened_here = kms_crypto::aead::open(
        &aes_keys["key-1"],
        &sealed.iv,
        &xks_api::gcm_aad(aad, &metadata_bytes).unwrap(),
        &sealed.ciphertext,
        &sealed.tag,
    )
    .unwrap();
    assert_eq!(opened_here.as_slice(), plaintext.as_slice());
    let sealed = XksCiphertext::from_bytes(&sealed.to_bytes()).unwrap();
    let opened = client
        .decrypt("key-1", &meta("Decrypt"), &sealed, aad)
        .await
        .unwrap();
    assert_eq!(opened.as_slice(), plaintext.as_slice());
    let again = client
        .encrypt("key-1", &meta("Encrypt"), &plaintext, aad)
        .await
        .unwrap();
    assert_ne!(again.iv, sealed.iv, "a fresh IV per encryption");

    // A tampered tag, another key, other AAD: InvalidCiphertextException.
    let mut tampered = sealed.clone();
    tampered.tag[3] ^= 0x80;
    for (key, ciphertext, aad) in [
        ("key-1", &tampered, &aad[..]),
        ("key-2", &sealed, &aad[..]),
        ("key-1", &sealed, &b"other context"[..]),
    ] {
        assert_eq!(
            error_name(client.decrypt(key, &meta("Decrypt"), ciphertext, aad).await),
            "InvalidCiphertextException",
            "{key}"
        );
    }

    // Unknown keys: not served by the store, served but without a key file, its file gone.
    for key in ["key-9", "key-no-file"] {
        assert_eq!(
            error_name(client.key_metadata(key, &meta("DescribeKey")).await),
            "KeyNotFoundException",
            "{key}"
        );
        assert_eq!(
            error_name(client.encrypt(key, &meta("Encrypt"), b"x", aad).await),
            "KeyNotFoundException",
            "{key}"
        );
    }
    let key_2 = keys_dir.join("key-2.key");
    let key_2_file = std::fs::read(&key_2).unwrap();
    std::fs::remove_file(&key_2).unwrap();
    assert_eq!(
        error_name(client.encrypt("key-2", &meta("Encrypt"), b"x", aad).await),
        "KeyNotFoundException"
    );
    std::fs::write(&key_2, key_2_file).unwrap();
    client
        .encrypt("key-2", &meta("Encrypt"), b"x", aad)
        .await
        .unwrap();

    // The KMS key disabled: once the cache expires, InvalidStateException for encrypt and
    // decrypt, metadata DISABLED; health asks the KMS every time: UNAVAILABLE.
    kms.disable_key().key_id(&kms_key).send().await.unwrap();
    let health = health_becomes(&client, EkmHealthStatus::Unavailable).await;
    assert_eq!(
        health.connection_error_code(),
        Some("XKS_PROXY_NOT_REACHABLE")
    );
    eventually("InvalidStateException from encrypt", || async {
        match client.encrypt("key-1", &meta("Encrypt"), b"x", aad).await {
            Err(e) if e.error_name() == Some("InvalidStateException") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(
        error_name(
            client
                .decrypt("key-1", &meta("Decrypt"), &sealed, aad)
                .await
        ),
        "InvalidStateException"
    );
    let metadata = client
        .key_metadata("key-1", &meta("DescribeKey"))
        .await
        .unwrap();
    assert_eq!(metadata.key_status, KeyStatus::Disabled);

    // Enabled again: everything works, old ciphertexts open.
    kms.enable_key().key_id(&kms_key).send().await.unwrap();
    health_becomes(&client, EkmHealthStatus::Active).await;
    let opened = eventually("decrypt after EnableKey", || async {
        client
            .decrypt("key-1", &meta("Decrypt"), &sealed, aad)
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(opened.as_slice(), plaintext.as_slice());
    client
        .encrypt("key-1", &meta("Encrypt"), b"x", aad)
        .await
        .unwrap();
    let metadata = client
        .key_metadata("key-1", &meta("DescribeKey"))
        .await
        .unwrap();
    assert_eq!(metadata.key_status, KeyStatus::Enabled);

    // The KMS gone: once the cache expires, DependencyTimeoutException; health UNAVAILABLE.
    trent.kill();
    eventually("DependencyTimeoutException from encrypt", || async {
        match client.encrypt("key-1", &meta("Encrypt"), b"x", aad).await {
            Err(e) if e.error_name() == Some("DependencyTimeoutException") => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    health_becomes(&client, EkmHealthStatus::Unavailable).await;
    proxy.stop().await;
}
