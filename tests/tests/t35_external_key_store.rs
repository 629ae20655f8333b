//! An external key store (CustomKeyStoreType EXTERNAL_KEY_STORE): a real 3-node region whose
//! XKS proxy is `trent xks-proxy`, a separate process holding its AES-256 keys in a SoftHSM2
//! token, over TLS from a local CA, driven through `aws-sdk-kms`. AWS's checks at create, the
//! connect, double encryption (KMS material, then the external key), a killed proxy (the store
//! FAILED with XKS_PROXY_NOT_REACHABLE, its keys Unavailable), a restarted one (ciphertexts
//! decrypt again), and an external key deleted in the HSM (Decrypt refused).
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ConnectionErrorCodeType, ConnectionStateType, CustomKeyStoreType, KeyState, OriginType,
    XksProxyAuthenticationCredentialType, XksProxyConnectivityType,
};
use trent_tests::{plan_addrs, poll, trent_binary, wait_key_store_state, Cluster, ClusterOptions};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "t35-xks";
const PIN: &str = "t35-user-pin";
const PATH: &str = "/t35/kms/xks/v1";
const ACCESS_KEY_ID: &str = "T35XKSPROXYACCESSKEY";
const SECRET: &str = "dGhpcyBpcyB0aGUgdDM1IHByb3h5IHNlY3JldCBrZXkgISE=";

fn run(program: &str, args: &[&str], dir: &Path, env: &[(&str, &Path)]) -> String {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn secret_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The proxy's directory: a SoftHSM2 token, a local CA and the proxy's certificate for
/// 127.0.0.1, its secrets, and its config listening on `port`. Returns the config's path.
fn proxy_dir(dir: &Path, port: u16) -> PathBuf {
    std::fs::create_dir_all(dir.join("tokens")).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.join("tokens").display()
        ),
    )
    .unwrap();
    run(
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--so-pin",
            "t35-so-pin",
            "--pin",
            PIN,
        ],
        dir,
        &[("SOFTHSM2_CONF", &conf)],
    );
    let openssl = |args: &[&str]| run("openssl", args, dir, &[]);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=t35 local CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "proxy.key",
        "-out",
        "proxy.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "proxy.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "proxy.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    std::fs::set_permissions(
        dir.join("proxy.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    secret_file(&dir.join("user.pin"), PIN);
    secret_file(&dir.join("store.secret"), SECRET);
    let config = dir.join("proxy.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ntls_cert = \"proxy.pem\"\ntls_key = \"proxy.key\"\n\n\
             [backend]\ntype = \"pkcs11\"\nmodule = \"{MODULE}\"\nsofthsm2_conf = \"{}\"\n\
             token_label = \"{TOKEN}\"\npin_file = \"user.pin\"\n\n\
             [[stores]]\nuri_path = \"{PATH}\"\nkeys = [\"ext-key-1\", \"ext-key-2\"]\n\n\
             [[stores.credentials]]\naccess_key_id = \"{ACCESS_KEY_ID}\"\nsecret_file = \"store.secret\"\n\n\
             [[stores.allow]]\nprincipals = [\"*\"]\n",
            conf.display()
        ),
    )
    .unwrap();
    for key in ["ext-key-1", "ext-key-2"] {
        let config = config.to_str().unwrap();
        run(
            trent_binary().to_str().unwrap(),
            &[
                "xks-proxy",
                "create-key",
                "--config",
                config,
                "--key-id",
                key,
            ],
            dir,
            &[],
        );
    }
    config
}

/// Starts `trent xks-proxy` and waits until it accepts connections on `port`.
async fn start_proxy(config: &Path, port: u16) -> Child {
    let log = std::fs::File::create(config.with_extension("log")).unwrap();
    let child = Command::new(trent_binary())
        .args(["xks-proxy", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let up = poll(Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert!(up.is_some(), "the proxy never listened on {port}");
    child
}

fn code<T, E: ProvideErrorMetadata>(result: Result<T, E>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => e.code().unwrap_or("?").to_string(),
    }
}

fn credential(secret: &str) -> XksProxyAuthenticationCredentialType {
    XksProxyAuthenticationCredentialType::builder()
        .access_key_id(ACCESS_KEY_ID)
        .raw_secret_access_key(secret)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_key_store_encrypts_twice_and_fails_closed_without_its_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let port = kms_config::free_port().unwrap();
    let config = proxy_dir(dir.path(), port);
    let mut proxy = start_proxy(&config, port).await;

    let mut cluster = Cluster::prepare(&ClusterOptions::default(), &plan_addrs(3));
    for index in 0..3 {
        let path = cluster.config_path(index).to_path_buf();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&format!(
            "\n[custom_key_stores]\nxks_ca_file = \"{}\"\nhealth_check_secs = 1\n",
            dir.path().join("ca.pem").display()
        ));
        std::fs::write(&path, text).unwrap();
    }
    cluster.spawn_all();
    cluster.wait_ready().await;
    let kms = cluster.client(0);
    let endpoint = format!("https://127.0.0.1:{port}");

    let create = |name: &str, endpoint: &str, path: &str, secret: &str, connectivity| {
        kms.create_custom_key_store()
            .custom_key_store_name(name)
            .custom_key_store_type(CustomKeyStoreType::ExternalKeyStore)
            .xks_proxy_uri_endpoint(endpoint)
            .xks_proxy_uri_path(path)
            .xks_proxy_authentication_credential(credential(secret))
            .xks_proxy_connectivity(connectivity)
            .send()
    };
    let public = || XksProxyConnectivityType::PublicEndpoint;
    // AWS probes a public proxy at create.
    let wrong_secret = "d3Jvbmcgc2VjcmV0IGZvciB0aGUgdDM1IHByb3h5IGtleSAhISE=";
    assert_eq!(
        code(create("x", &endpoint, PATH, wrong_secret, public()).await),
        "XksProxyIncorrectAuthenticationCredentialException"
    );
    assert_eq!(
        code(create("x", &endpoint, "/other/kms/xks/v1", SECRET, public()).await),
        "XksProxyInvalidConfigurationException"
    );
    assert_eq!(
        code(create("x", &endpoint, "/t35/not/the/suffix", SECRET, public()).await),
        "XksProxyInvalidConfigurationException"
    );
    let closed = format!("https://127.0.0.1:{}", kms_config::free_port().unwrap());
    assert_eq!(
        code(create("x", &closed, PATH, SECRET, public()).await),
        "XksProxyUriUnreachableException"
    );
    assert_eq!(
        code(
            create(
                "x",
                &endpoint,
                PATH,
                SECRET,
                XksProxyConnectivityType::VpcEndpointService
            )
            .await
        ),
        "XksProxyVpcEndpointServiceNotFoundException"
    );
    assert_eq!(
        code(create("x", "http://127.0.0.1", PATH, SECRET, public()).await),
        "ValidationException"
    );
    let store_id = create("xks", &endpoint, PATH, SECRET, public())
        .await
        .unwrap()
        .custom_key_store_id()
        .unwrap()
        .to_string();
    assert_eq!(
        code(create("xks-2", &endpoint, PATH, SECRET, public()).await),
        "XksProxyUriInUseException"
    );
    let listed = kms.describe_custom_key_stores().send().await.unwrap();
    let entry = &listed.custom_key_stores()[0];
    let proxy_config = entry.xks_proxy_configuration().unwrap();
    assert_eq!(proxy_config.access_key_id(), Some(ACCESS_KEY_ID));
    assert_eq!(proxy_config.uri_endpoint(), Some(endpoint.as_str()));
    assert_eq!(proxy_config.uri_path(), Some(PATH));
    assert!(!format!("{listed:?}").contains(SECRET));

    kms.connect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    wait_key_store_state(&kms, &store_id, ConnectionStateType::Connected).await;

    let create_key = |xks_key_id: &str| {
        kms.create_key()
            .origin(OriginType::ExternalKeyStore)
            .custom_key_store_id(&store_id)
            .xks_key_id(xks_key_id)
            .send()
    };
    assert_eq!(
        code(create_key("no-such-key").await),
        "XksKeyNotFoundException"
    );
    let metadata = create_key("ext-key-1")
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .clone();
    assert_eq!(
        code(create_key("ext-key-1").await),
        "XksKeyAlreadyInUseException"
    );
    assert_eq!(metadata.origin(), Some(&OriginType::ExternalKeyStore));
    assert_eq!(metadata.custom_key_store_id(), Some(store_id.as_str()));
    assert_eq!(
        metadata.xks_key_configuration().unwrap().id(),
        Some("ext-key-1")
    );
    let key_id = metadata.key_id().to_string();

    // Encrypted twice: the blob is the external key store format, and every node opens it.
    let plaintext = b"protected by two keys".to_vec();
    let sealed = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(plaintext.clone()))
        .encryption_context("purpose", "t35")
        .send()
        .await
        .unwrap();
    let blob = sealed.ciphertext_blob().unwrap().clone();
    assert_eq!(blob.as_ref()[0], 0x02);
    for index in 0..3 {
        let opened = cluster
            .client(index)
            .decrypt()
            .ciphertext_blob(blob.clone())
            .encryption_context("purpose", "t35")
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
    }
    assert_eq!(
        code(kms.decrypt().ciphertext_blob(blob.clone()).send().await),
        "InvalidCiphertextException"
    );
    // Into a key with KMS-held material and back.
    let plain_key = trent_tests::new_key(&kms).await;
    let moved = kms
        .re_encrypt()
        .ciphertext_blob(blob.clone())
        .source_encryption_context("purpose", "t35")
        .destination_key_id(&plain_key)
        .send()
        .await
        .unwrap();
    let back = kms
        .re_encrypt()
        .ciphertext_blob(moved.ciphertext_blob().unwrap().clone())
        .destination_key_id(&key_id)
        .send()
        .await
        .unwrap();
    let opened = kms
        .decrypt()
        .ciphertext_blob(back.ciphertext_blob().unwrap().clone())
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());
    let data_key = kms
        .generate_data_key()
        .key_id(&key_id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    assert_eq!(data_key.plaintext().unwrap().as_ref().len(), 32);
    assert_eq!(
        code(
            kms.generate_random()
                .number_of_bytes(8)
                .custom_key_store_id(&store_id)
                .send()
                .await
        ),
        "UnsupportedOperationException"
    );

    // The proxy dies: calls fail closed at once, and the health check marks the store FAILED.
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    assert_eq!(
        code(
            kms.decrypt()
                .ciphertext_blob(blob.clone())
                .encryption_context("purpose", "t35")
                .send()
                .await
        ),
        "KMSInvalidStateException"
    );
    let failure = wait_key_store_state(&kms, &store_id, ConnectionStateType::Failed).await;
    assert_eq!(failure, Some(ConnectionErrorCodeType::XksProxyNotReachable));
    let described = kms.describe_key().key_id(&key_id).send().await.unwrap();
    assert_eq!(
        described.key_metadata().unwrap().key_state(),
        Some(&KeyState::Unavailable)
    );
    assert_eq!(
        code(
            kms.encrypt()
                .key_id(&key_id)
                .plaintext(Blob::new(b"x".to_vec()))
                .send()
                .await
        ),
        "KMSInvalidStateException"
    );

    // Back again: disconnect the FAILED store, connect, and the old ciphertext decrypts.
    let mut proxy = start_proxy(&config, port).await;
    kms.disconnect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    kms.connect_custom_key_store()
        .custom_key_store_id(&store_id)
        .send()
        .await
        .unwrap();
    wait_key_store_state(&kms, &store_id, ConnectionStateType::Connected).await;
    let opened = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "t35")
        .send()
        .await
        .unwrap();
    assert_eq!(opened.plaintext().unwrap().as_ref(), plaintext.as_slice());

    // The external key deleted in the HSM: KMS's own material cannot open the blob alone.
    let conf = dir.path().join("softhsm2.conf");
    run(
        "pkcs11-tool",
        &[
            "--module",
            MODULE,
            "--token-label",
            TOKEN,
            "--login",
            "--pin",
            PIN,
            "--delete-object",
            "--type",
            "secrkey",
            "--label",
            "ext-key-1",
        ],
        dir.path(),
        &[("SOFTHSM2_CONF", &conf)],
    );
    assert_eq!(
        code(
            kms.decrypt()
                .ciphertext_blob(blob)
                .encryption_context("purpose", "t35")
                .send()
                .await
        ),
        "KMSInvalidStateException"
    );
    proxy.kill().unwrap();
    proxy.wait().unwrap();
}
