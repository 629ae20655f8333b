//! The checked-in topology `cluster/us-east-1/` under `trent up --cluster-dir cluster`, as a
//! user runs it from the repository root (here: a copy of `cluster/` in a temporary directory,
//! its ports rewritten to free ones):
//!
//! - the configs carry the PKCS#11 seal on a SoftHSM2 token under `data/hsm`, and `trent up`
//!   sets up the token, its 0600 PIN file, the wrapping key and the sealed root key itself;
//!   the region serves CreateKey, Encrypt and Decrypt; every node reports itself unsealed by
//!   the PKCS#11 seal; no `root.key` exists, and no file under the data dir holds the root
//!   key (raw, hex or base64; the test opens the sealed file through the token to know it);
//! - a second `trent up` unseals every node unattended, and the first one's ciphertexts
//!   decrypt through each node;
//! - with the seal's module missing, `trent up` refuses to start and says to run `make deps`;
//! - the configs' seal, data dirs and ports are those `make run` writes for us-east-1.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use kms_config::NodeConfig;
use kms_seal::{Pkcs11Config, SealConfig, SealedRootKey};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use trent_tests::{client_for, eventually, poll, trent_binary};

/// The repository's `cluster/` directory.
fn checked_in_cluster() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("cluster")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// Copies `cluster/` under `root` with node N's fixed ports (127.0.0.1:810N API, :820N Raft)
/// replaced by free ones; returns the three API addresses.
fn copy_cluster(root: &Path) -> Vec<String> {
    let cluster = root.join("cluster");
    copy_dir(&checked_in_cluster(), &cluster);
    let addrs = kms_config::free_loopback_addrs(3).unwrap();
    for n in 1..=3 {
        let path = cluster.join(format!("us-east-1/node{n}.toml"));
        let mut text = std::fs::read_to_string(&path).unwrap();
        // Its own API address, and every node's Raft address (the members).
        let own_api = format!("127.0.0.1:{}", 8100 + n);
        assert!(
            text.contains(&own_api),
            "{} names {own_api}",
            path.display()
        );
        text = text.replace(&own_api, &addrs[n - 1].api);
        for (m, addr) in addrs.iter().enumerate() {
            let raft = format!("127.0.0.1:{}", 8201 + m);
            assert!(text.contains(&raft), "{} names {raft}", path.display());
            text = text.replace(&raft, &addr.raft);
        }
        std::fs::write(&path, text).unwrap();
    }
    addrs.into_iter().map(|a| a.api).collect()
}

/// `trent up --cluster-dir cluster`, run in `root` as from the repository root (data in
/// `root/data`); its output is appended to `root/up.out`.
fn up(root: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("up.out"))
        .unwrap();
    Command::new(trent_binary())
        .current_dir(root)
        .args(["up", "--cluster-dir", "cluster"])
        .env_remove("TRENT_CREDENTIALS")
        .env_remove("TRENT_ACCOUNT_ID")
        .env_remove("TRENT_SEED")
        .env_remove("TRENT_ALLOW_RESET")
        .env_remove("TRENT_SOFTHSM2_MODULE")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap()
}

/// Waits until `trent up` has seen every node serve (it writes `cluster.json` then).
async fn wait_up(root: &Path, up: &mut Child) {
    let described = root.join("data/cluster.json");
    eventually(Duration::from_secs(180), "trent up is ready", || {
        let ready = described.exists();
        async move { ready }
    })
    .await;
    assert!(
        up.try_wait().unwrap().is_none(),
        "trent up exited: {}",
        std::fs::read_to_string(root.join("up.out")).unwrap_or_default()
    );
}

async fn stop_up(mut up: Child) {
    let pid = up.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = poll(Duration::from_secs(30), || {
        let exited = up.try_wait().unwrap();
        async move { exited }
    })
    .await;
    match status {
        Some(status) => assert!(status.success(), "trent up ended with {status}"),
        None => {
            let _ = up.kill();
            panic!("trent up did not stop within 30 s of SIGINT");
        }
    }
}

async fn get(addr: &str, path: &str) -> Option<(u16, Value)> {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.ok()?;
    Some((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// Every node answers `/health` 200 and its seal status says unsealed by the PKCS#11 seal.
async fn assert_unsealed_by_pkcs11(apis: &[String]) {
    for api in apis {
        eventually(
            Duration::from_secs(60),
            "the node reports healthy",
            || async { matches!(get(api, "/health").await, Some((200, _))) },
        )
        .await;
        let (status, seal) = get(api, "/v1/sys/seal-status").await.unwrap();
        assert_eq!(status, 200, "{api}: {seal}");
        assert_eq!(seal["sealed"], Value::Bool(false), "{api}: {seal}");
        assert_eq!(seal["type"], "pkcs11", "{api}: {seal}");
        assert_eq!(seal["region"], "us-east-1", "{api}: {seal}");
    }
}

/// Every file under `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else {
            out.push(path);
        }
    }
    out
}

/// No file under `dir` is called `root.key`, and none holds `secret` raw, as hex (either case)
/// or as base64.
fn assert_no_plaintext_root_key(dir: &Path, secret: &[u8]) {
    assert_eq!(secret.len(), 32);
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let forms: Vec<Vec<u8>> = vec![
        secret.to_vec(),
        hex.clone().into_bytes(),
        hex.to_uppercase().into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
    ];
    let files = files_under(dir);
    assert!(
        files.len() > 10,
        "the scan found only {} files",
        files.len()
    );
    for path in &files {
        assert_ne!(
            path.file_name().unwrap(),
            "root.key",
            "a plaintext root key file: {}",
            path.display()
        );
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        for form in &forms {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                "{} holds the root key",
                path.display()
            );
        }
    }
}

/// Node 1's PKCS#11 seal as the nodes see it from `root` (the configs' paths are relative).
fn seal_from(root: &Path) -> Pkcs11Config {
    let config = NodeConfig::load(&root.join("cluster/us-east-1/node1.toml")).unwrap();
    let Some(SealConfig::Pkcs11(seal)) = config.seal else {
        panic!("cluster/us-east-1/node1.toml has no PKCS#11 seal");
    };
    let softhsm2_conf = seal.softhsm2_conf.as_ref().expect("a SoftHSM2 seal");
    assert!(
        softhsm2_conf.starts_with("data") && seal.pin_file.starts_with("data"),
        "the token lives under data/"
    );
    assert!(config.root_key_path.starts_with("data/us-east-1"));
    Pkcs11Config {
        sealed_root_key: root.join(&seal.sealed_root_key),
        pin_file: root.join(&seal.pin_file),
        softhsm2_conf: Some(root.join(softhsm2_conf)),
        module: seal.module,
        token_label: seal.token_label,
        key_label: seal.key_label,
    }
}

async fn decrypts_through(api: &str, ciphertext: &[u8], plaintext: &[u8]) {
    let kms = client_for(api, "test", "test");
    let opened = poll(Duration::from_secs(60), || {
        let kms = kms.clone();
        let blob = Blob::new(ciphertext.to_vec());
        async move {
            kms.decrypt()
                .ciphertext_blob(blob)
                .send()
                .await
                .ok()?
                .plaintext
        }
    })
    .await
    .unwrap_or_else(|| panic!("{api} does not decrypt the old ciphertext"));
    assert_eq!(opened.as_ref(), plaintext);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checked_in_cluster_seals_its_root_key_in_softhsm2_and_restarts_unattended() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let apis = copy_cluster(root);
    let data = root.join("data");
    let seal = seal_from(root);

    let mut running = up(root);
    wait_up(root, &mut running).await;
    let kms = client_for(&apis[0], "test", "test");
    let key_id = poll(Duration::from_secs(90), || {
        let kms = kms.clone();
        async move { Some(kms.create_key().send().await.ok()?.key_metadata?.key_id) }
    })
    .await
    .expect("the region serves CreateKey");
    let ciphertext = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"under cluster/".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();
    decrypts_through(&apis[1], &ciphertext, b"under cluster/").await;
    assert_unsealed_by_pkcs11(&apis).await;

    // trent up made the token, its PIN file (0600) and the sealed root key; no plaintext one.
    assert!(data.join("hsm/softhsm2.conf").is_file());
    assert!(data.join("hsm/tokens").is_dir());
    let pin_mode = std::fs::metadata(&seal.pin_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(pin_mode & 0o777, 0o600);
    assert!(!data.join("us-east-1/root.key").exists());
    let sealed = SealedRootKey::read(&seal.sealed_root_key)
        .unwrap()
        .expect("data/us-east-1/root.sealed exists");
    let seal = SealConfig::Pkcs11(seal);
    sealed.check_matches(&seal, "us-east-1").unwrap();
    let root_key = kms_seal::unseal_auto(&seal, &sealed).await.unwrap();
    assert_no_plaintext_root_key(&data, &root_key.export_secret());
    assert_no_plaintext_root_key(root, &root_key.export_secret());
    stop_up(running).await;

    // The second start unseals every node through the token by itself; old ciphertexts decrypt.
    std::fs::remove_file(data.join("cluster.json")).unwrap();
    let mut running = up(root);
    wait_up(root, &mut running).await;
    assert_unsealed_by_pkcs11(&apis).await;
    for api in &apis {
        decrypts_through(api, &ciphertext, b"under cluster/").await;
    }
    let again = SealedRootKey::read(seal.sealed_root_key())
        .unwrap()
        .unwrap();
    let reopened = kms_seal::unseal_auto(&seal, &again).await.unwrap();
    assert_eq!(reopened.export_secret(), root_key.export_secret());
    assert_no_plaintext_root_key(&data, &root_key.export_secret());
    stop_up(running).await;
    let out = std::fs::read_to_string(root.join("up.out")).unwrap();
    assert!(out.contains("Skipping cluster/production"), "{out}");
}

/// The checked-in configs' seal is the one `make run` (`trent up --data-dir data`) writes for
/// us-east-1: the two share `data/` without one sealing a root key the other cannot open.
#[test]
fn the_checked_in_seal_is_the_one_make_run_writes() {
    let plan = kms_config::RegionPlan::new(
        "us-east-1",
        (1..=3)
            .map(|n| kms_config::NodeAddrs::fixed(0, n))
            .collect(),
    );
    let credential = kms_config::Credential {
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        account_id: None,
    };
    let mut make_run = kms_config::Topology::new(Path::new("data"), vec![plan], credential);
    make_run.softhsm_module = Some(kms_seal::pkcs11::SOFTHSM2_MODULE.into());
    for n in 1..=3 {
        let path = checked_in_cluster().join(format!("us-east-1/node{n}.toml"));
        let config = NodeConfig::load(&path).unwrap();
        let generated = make_run.node_config(0, n - 1);
        assert_eq!(config.seal, generated.seal, "{}", path.display());
        assert_eq!(config.data_dir, generated.data_dir, "{}", path.display());
        assert_eq!(config.root_key_path, generated.root_key_path);
        assert_eq!(config.api_addr, generated.api_addr);
        assert_eq!(config.members, generated.members);
    }
}

#[test]
fn without_softhsm2_trent_up_says_to_run_make_deps() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    copy_cluster(root);
    for n in 1..=3 {
        let path = root.join(format!("cluster/us-east-1/node{n}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let module = "module = \"/usr/lib/softhsm/libsofthsm2.so\"";
        assert!(text.contains(module), "{}", path.display());
        let missing = "module = \"/nonexistent/softhsm/libsofthsm2.so\"";
        std::fs::write(&path, text.replace(module, missing)).unwrap();
    }
    let out = Command::new(trent_binary())
        .current_dir(root)
        .args(["up", "--cluster-dir", "cluster"])
        .env("TRENT_SOFTHSM2_MODULE", root.join("no-such-module.so"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SoftHSM2 is not installed") && stderr.contains("run `make deps`"),
        "{stderr}"
    );
    assert!(stderr.contains("cluster/us-east-1/node1.toml"), "{stderr}");
    assert!(!root.join("data/us-east-1/root.key").exists());
    assert!(!root.join("data/us-east-1/root.sealed").exists());
    assert!(!root.join("data/hsm/user.pin").exists());
}
