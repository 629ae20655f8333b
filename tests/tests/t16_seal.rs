//! The sealed root of trust (issue #14) against real `trent` processes:
//!
//! - a Shamir-sealed region (its plaintext root key sealed by `trent operator init`) refuses
//!   Encrypt with `KMSInternalException` and reports sealed on `/health` until a node gets the
//!   threshold of shares; T−1 shares leave it sealed, a wrong set fails closed and resets the
//!   progress; `trent operator unseal` reads a share from standard input;
//! - a region started with a plaintext root key and then configured with the PKCS#11 seal
//!   (SoftHSM2) seals the key on its first start, destroys the plaintext file, keeps serving
//!   the old ciphertexts, and restarts unattended; a node whose PIN file is refused stays up,
//!   sealed, says why, and unseals by itself once the file is fixed;
//! - `trent operator init` with a PKCS#11 config creates the token's wrapping key, seals the
//!   region's root key before any node starts and destroys the plaintext; it never makes a
//!   root key of its own;
//! - after `trent up` (make run), no file under the data dir holds the root key, in raw, hex
//!   or base64 form; the test gets the root key through the seal itself (the SoftHSM2 token,
//!   with kms-seal), and a second `trent up` decrypts the first one's ciphertexts.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::primitives::Blob;
use base64::Engine;
use kms_seal::{Pkcs11Config, SealConfig, SealedRootKey, ShamirConfig};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use trent_tests::{client_for, eventually, new_key, poll, trent_binary, Cluster, ClusterOptions};

/// Rewrites every node config of `cluster` with `seal`.
fn set_seal(cluster: &Cluster, seal: &SealConfig) {
    for index in 0..cluster.nodes.len() {
        let path = cluster.config_path(index);
        let mut config = kms_config::NodeConfig::load(path).unwrap();
        config.seal = Some(seal.clone());
        std::fs::write(path, config.to_toml(&[]).unwrap()).unwrap();
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

async fn submit_share(addr: &str, share: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/sys/unseal"))
        .header("content-type", "application/json")
        .body(serde_json::json!({ "key": share }).to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

/// Waits until node `addr` answers `/health` with 503 and a sealed status; returns the body.
async fn wait_sealed(addr: &str) -> Value {
    poll(Duration::from_secs(60), || async {
        let (status, body) = get(addr, "/health").await?;
        (status == 503 && body["sealed"] == Value::Bool(true)).then_some(body)
    })
    .await
    .unwrap_or_else(|| panic!("{addr} never reported sealed on /health"))
}

async fn wait_healthy(addr: &str) {
    eventually(
        Duration::from_secs(60),
        "the node reports healthy",
        || async { matches!(get(addr, "/health").await, Some((200, _))) },
    )
    .await;
}

/// The error code and message of an Encrypt under `key_id` through node `addr`.
async fn encrypt_refusal(cluster: &Cluster, index: usize, key_id: &str) -> (String, String) {
    let err = cluster
        .client(index)
        .encrypt()
        .key_id(key_id)
        .plaintext(Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect_err("a sealed node must refuse Encrypt");
    (
        err.code().unwrap_or("no code").to_string(),
        err.message().unwrap_or("").to_string(),
    )
}

async fn decrypts(cluster: &Cluster, index: usize, ciphertext: &[u8], plaintext: &[u8]) {
    let answer = cluster
        .client(index)
        .decrypt()
        .ciphertext_blob(Blob::new(ciphertext.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.plaintext().unwrap().as_ref(), plaintext);
}

/// A key and a ciphertext made by the region while its root key was a plaintext file.
async fn key_and_ciphertext(cluster: &Cluster) -> (String, Vec<u8>) {
    let kms = cluster.client(0);
    let key_id = new_key(&kms).await;
    let sealed = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"made before the seal".to_vec()))
        .send()
        .await
        .unwrap();
    (key_id, sealed.ciphertext_blob().unwrap().as_ref().to_vec())
}

fn stop_all(cluster: &mut Cluster) {
    for index in 0..cluster.nodes.len() {
        assert!(cluster.terminate(index).success());
    }
}

/// Every file under `dir` with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path, bytes));
        }
    }
    out
}

/// Fails if any file under `dir` holds `secret` raw, as hex (either case) or as base64.
fn assert_nowhere_under(dir: &Path, secret: &[u8]) {
    assert_eq!(secret.len(), 32);
    let forms: Vec<Vec<u8>> = vec![
        secret.to_vec(),
        hex_lower(secret).into_bytes(),
        hex_lower(secret).to_uppercase().into_bytes(),
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
    for (path, bytes) in &files {
        for form in &forms {
            assert!(
                !bytes.windows(form.len()).any(|w| w == form.as_slice()),
                "{} holds the root key",
                path.display()
            );
        }
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `trent operator init` on `config`; returns the shares it printed.
fn operator_init(config: &Path, shares: u8, threshold: u8) -> Vec<String> {
    let out = Command::new(trent_binary())
        .args(["operator", "init", "--config"])
        .arg(config)
        .args(["--shares", &shares.to_string()])
        .args(["--threshold", &threshold.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let dealt: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_once(": trent-share-").map(|(_, s)| s))
        .map(|s| format!("trent-share-{s}"))
        .collect();
    assert_eq!(dealt.len(), usize::from(shares), "{text}");
    dealt
}

/// `trent operator unseal --addr` with the share on standard input.
fn operator_unseal(addr: &str, share: &str) -> std::process::Output {
    let mut child = Command::new(trent_binary())
        .args(["operator", "unseal", "--addr", addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{share}").unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shamir_sealed_region_serves_only_after_the_threshold_of_shares() {
    let mut cluster = Cluster::start_with(ClusterOptions::default()).await;
    let (key_id, ciphertext) = key_and_ciphertext(&cluster).await;
    stop_all(&mut cluster);
    let plaintext_path = cluster.dir().join("root.key");
    let root = std::fs::read(&plaintext_path).unwrap();
    let sealed_path = cluster.dir().join("root.sealed");
    set_seal(
        &cluster,
        &SealConfig::Shamir(ShamirConfig {
            sealed_root_key: sealed_path.clone(),
        }),
    );
    let shares = operator_init(cluster.config_path(0), 5, 3);
    assert!(
        !plaintext_path.exists(),
        "init destroys the plaintext root key"
    );
    assert!(operator_init_refused_again(cluster.config_path(0)));

    cluster.spawn_all();
    let addrs: Vec<String> = cluster.nodes.iter().map(|n| n.api_addr.clone()).collect();
    for addr in &addrs {
        let health = wait_sealed(addr).await;
        assert_eq!(health["type"], "shamir");
        assert_eq!(health["threshold"], 3);
        assert_eq!(health["progress"], 0);
    }
    let (code, message) = encrypt_refusal(&cluster, 0, &key_id).await;
    assert_eq!(code, "KMSInternalException");
    assert!(
        message.contains("sealed") && message.contains("trent operator unseal"),
        "{message}"
    );

    // T−1 shares: still sealed, progress counted; a malformed share is refused, not counted.
    for (i, share) in shares[..2].iter().enumerate() {
        let (status, body) = submit_share(&addrs[0], share).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["sealed"], true);
        assert_eq!(body["progress"], i + 1);
    }
    let (status, body) = submit_share(&addrs[0], "trent-share-v1-zz").await;
    assert_eq!(
        (status, &body["progress"]),
        (400, &Value::from(2)),
        "{body}"
    );
    let (code, _) = encrypt_refusal(&cluster, 0, &key_id).await;
    assert_eq!(code, "KMSInternalException");

    // A full set with a share of another split fails closed and resets the progress.
    let (_, foreign) = SealedRootKey::shamir(
        "us-east-1",
        &SealedRootKey::read(&sealed_path)
            .unwrap()
            .unwrap()
            .open_with_shares(&shares[..3])
            .unwrap(),
        5,
        3,
    )
    .unwrap();
    let (status, body) = submit_share(&addrs[0], &foreign[0]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["sealed"], true);
    assert_eq!(body["progress"], 0, "{body}");
    assert!(
        body["errors"][0].as_str().unwrap().contains("reset"),
        "{body}"
    );

    // The threshold of right shares (any three) unseals node 0 only.
    for share in [&shares[4], &shares[2], &shares[0]] {
        submit_share(&addrs[0], share).await;
    }
    wait_healthy(&addrs[0]).await;
    assert_eq!(get(&addrs[1], "/health").await.unwrap().0, 503);
    decrypts(&cluster, 0, &ciphertext, b"made before the seal").await;

    // The CLI unseals the others, one share per call; it fails on a malformed share.
    let refused = operator_unseal(&addrs[1], "not a share");
    assert!(!refused.status.success(), "{refused:?}");
    for addr in &addrs[1..] {
        for share in &shares[1..4] {
            let out = operator_unseal(addr, share);
            assert!(out.status.success(), "{out:?}");
        }
        wait_healthy(addr).await;
    }
    cluster.wait_ready().await;
    for index in 0..3 {
        decrypts(&cluster, index, &ciphertext, b"made before the seal").await;
    }
    assert_nowhere_under(cluster.dir().parent().unwrap(), &root);

    // A restart is sealed again: nothing of the key was kept.
    cluster.kill(1);
    cluster.spawn_all();
    wait_sealed(&addrs[1]).await;
}

fn operator_init_refused_again(config: &Path) -> bool {
    let out = Command::new(trent_binary())
        .args(["operator", "init", "--config"])
        .arg(config)
        .output()
        .unwrap();
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("initialised already")
}

/// A SoftHSM2 token under `dir` with a wrapping key for `region`'s root key.
fn softhsm_seal(dir: &Path, region: &str) -> Pkcs11Config {
    let config = softhsm_token(dir, region);
    kms_seal::pkcs11::ensure_key(&config).unwrap();
    config
}

/// A SoftHSM2 token under `dir`, without the wrapping key the seal config names.
fn softhsm_token(dir: &Path, region: &str) -> Pkcs11Config {
    let module = kms_seal::pkcs11::find_softhsm2_module().unwrap();
    let token = kms_seal::pkcs11::init_softhsm_token(&module, &dir.join("hsm"), "t16").unwrap();
    let config = Pkcs11Config {
        sealed_root_key: dir.join(region).join("root.sealed"),
        module,
        token_label: "t16".into(),
        key_label: format!("trent-root-wrap-{region}"),
        pin_file: token.pin_file,
        softhsm2_conf: Some(token.conf),
    };
    config
}

/// `trent operator init --config CONFIG` for a PKCS#11 seal: its exit status and output.
fn operator_init_pkcs11(config: &Path) -> (bool, String) {
    let out = Command::new(trent_binary())
        .args(["operator", "init", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_init_makes_the_hsm_key_and_seals_the_region_root_key_before_the_first_start() {
    let mut cluster = Cluster::start_with(ClusterOptions::default()).await;
    let (_, ciphertext) = key_and_ciphertext(&cluster).await;
    stop_all(&mut cluster);
    let plaintext_path = cluster.dir().join("root.key");
    let root = std::fs::read(&plaintext_path).unwrap();
    let top = cluster.dir().parent().unwrap().to_path_buf();
    let pkcs11 = softhsm_token(&top, &cluster.region);
    set_seal(&cluster, &SealConfig::Pkcs11(pkcs11.clone()));

    // Without the region's root key at root_key_path, init makes none (the nodes must share
    // one) and leaves nothing sealed.
    let aside = top.join("root.key.aside");
    std::fs::rename(&plaintext_path, &aside).unwrap();
    let (ok, text) = operator_init_pkcs11(cluster.config_path(0));
    assert!(!ok && text.contains("no plaintext root key"), "{text}");
    assert!(!pkcs11.sealed_root_key.exists());
    std::fs::rename(&aside, &plaintext_path).unwrap();

    let (ok, text) = operator_init_pkcs11(cluster.config_path(0));
    assert!(ok && text.contains("is sealed"), "{text}");
    assert!(
        !plaintext_path.exists(),
        "the plaintext root key is destroyed"
    );
    let sealed = SealedRootKey::read(&pkcs11.sealed_root_key)
        .unwrap()
        .unwrap();
    let opened = kms_seal::unseal_auto(&SealConfig::Pkcs11(pkcs11.clone()), &sealed)
        .await
        .unwrap();
    assert_eq!(opened.export_secret().as_slice(), root.as_slice());
    let (ok, text) = operator_init_pkcs11(cluster.config_path(0));
    assert!(ok && text.contains("already sealed"), "{text}");

    cluster.spawn_all();
    cluster.wait_ready().await;
    for index in 0..3 {
        decrypts(&cluster, index, &ciphertext, b"made before the seal").await;
    }
    assert_nowhere_under(&top, &root);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plaintext_root_key_is_sealed_by_pkcs11_at_first_start_and_restarts_unattended() {
    let mut cluster = Cluster::start_with(ClusterOptions::default()).await;
    let (key_id, ciphertext) = key_and_ciphertext(&cluster).await;
    stop_all(&mut cluster);
    let plaintext_path = cluster.dir().join("root.key");
    let root = std::fs::read(&plaintext_path).unwrap();
    let top = cluster.dir().parent().unwrap().to_path_buf();
    let pkcs11 = softhsm_seal(&top, &cluster.region);
    set_seal(&cluster, &SealConfig::Pkcs11(pkcs11.clone()));

    // Every node migrates on its own at first start (they share the region's files).
    cluster.spawn_all();
    cluster.wait_ready().await;
    assert!(
        !plaintext_path.exists(),
        "the plaintext root key is destroyed"
    );
    let logs: String = (0..3).map(|i| cluster.log(i)).collect();
    assert!(
        logs.contains("sealed the plaintext root key"),
        "no node logged the migration"
    );
    for index in 0..3 {
        decrypts(&cluster, index, &ciphertext, b"made before the seal").await;
    }
    // The sealed file opens, through the token, to the key the region had.
    let sealed = SealedRootKey::read(&pkcs11.sealed_root_key)
        .unwrap()
        .unwrap();
    let opened = kms_seal::unseal_auto(&SealConfig::Pkcs11(pkcs11.clone()), &sealed)
        .await
        .unwrap();
    assert_eq!(opened.export_secret().as_slice(), root.as_slice());
    assert_nowhere_under(&top, &root);

    // SIGKILL everything; the region comes back by itself.
    for index in 0..3 {
        cluster.kill(index);
    }
    cluster.spawn_all();
    cluster.wait_ready().await;
    decrypts(&cluster, 1, &ciphertext, b"made before the seal").await;

    // A node whose PIN file is refused stays up and sealed, says why, and unseals once fixed.
    cluster.kill(2);
    std::fs::set_permissions(&pkcs11.pin_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    cluster.spawn_all();
    let addr = cluster.nodes[2].api_addr.clone();
    let health = wait_sealed(&addr).await;
    assert!(
        health["reason"].as_str().unwrap().contains("mode 644"),
        "{health}"
    );
    let (code, message) = encrypt_refusal(&cluster, 2, &key_id).await;
    assert_eq!(code, "KMSInternalException");
    assert!(message.contains("mode 644"), "{message}");
    // Through the seal's retries (1 s, then 2 s): it stays up and sealed all the while.
    let unsealed_or_down = poll(Duration::from_secs(3), || async {
        match get(&addr, "/health").await {
            Some((503, _)) => None,
            other => Some(other.map(|(status, _)| status)),
        }
    })
    .await;
    assert_eq!(unsealed_or_down, None, "still up, still sealed");
    std::fs::set_permissions(&pkcs11.pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    wait_healthy(&addr).await;
    decrypts(&cluster, 2, &ciphertext, b"made before the seal").await;
}

fn up(data: &Path) -> std::process::Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.with_extension("up.out"))
        .unwrap();
    Command::new(trent_binary())
        .args(["up", "--data-dir"])
        .arg(data)
        .env("TRENT_REGIONS", "us-east-1")
        .env("TRENT_NODES_PER_REGION", "3")
        .env_remove("TRENT_CREDENTIALS")
        .env_remove("TRENT_ACCOUNT_ID")
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .unwrap()
}

/// Waits until `trent up` on `data` has seen every node serve (it writes `cluster.json` then),
/// so a SIGINT reaches its supervisor rather than its start-up.
async fn wait_up(data: &Path) {
    let described = data.join("cluster.json");
    eventually(Duration::from_secs(120), "trent up is ready", || {
        let ready = described.exists();
        async move { ready }
    })
    .await;
}

fn stop_up(mut up: std::process::Child) {
    Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status()
        .unwrap();
    for _ in 0..300 {
        if up.try_wait().unwrap().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = up.kill();
    panic!("trent up did not stop");
}

/// `trent up` listens on its fixed local ports (127.0.0.1:8101-8103).
#[tokio::test(flavor = "multi_thread")]
async fn trent_up_leaves_no_root_key_bytes_under_its_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = up(&data);
    wait_up(&data).await;
    let kms = client_for("127.0.0.1:8101", "test", "test");
    let key_id = poll(Duration::from_secs(90), || {
        let kms = kms.clone();
        async move { Some(kms.create_key().send().await.ok()?.key_metadata?.key_id) }
    })
    .await
    .expect("trent up serves");
    let ciphertext = kms
        .encrypt()
        .key_id(&key_id)
        .plaintext(Blob::new(b"under make run".to_vec()))
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .as_ref()
        .to_vec();

    let config = kms_config::NodeConfig::load(&data.join("us-east-1/node1.toml")).unwrap();
    let seal = config.seal.clone().expect("trent up configures a seal");
    let SealConfig::Pkcs11(pkcs11) = &seal else {
        panic!("trent up uses the PKCS#11 seal, not {}", seal.kind());
    };
    assert!(!config.root_key_path.exists(), "no plaintext root key");
    assert_eq!(
        std::fs::metadata(&pkcs11.pin_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let sealed = SealedRootKey::read(seal.sealed_root_key())
        .unwrap()
        .unwrap();
    let root = kms_seal::unseal_auto(&seal, &sealed).await.unwrap();
    assert_nowhere_under(&data, &root.export_secret());
    stop_up(running);

    // Unattended restart: the second `trent up` unseals through the token by itself.
    std::fs::remove_file(data.join("cluster.json")).unwrap();
    let running = up(&data);
    wait_up(&data).await;
    let decrypted = poll(Duration::from_secs(90), || {
        let kms = kms.clone();
        let ciphertext = ciphertext.clone();
        async move {
            kms.decrypt()
                .ciphertext_blob(Blob::new(ciphertext))
                .send()
                .await
                .ok()?
                .plaintext
        }
    })
    .await
    .expect("the restarted cluster decrypts");
    assert_eq!(decrypted.as_ref(), b"under make run");
    assert_nowhere_under(&data, &root.export_secret());
    stop_up(running);
}

/// One Trent region's key seals another's root key: the second auto-unseals through the
/// first's KMS API, stays sealed (and up) while the first is down, and unseals by itself when
/// it is back.
#[tokio::test(flavor = "multi_thread")]
async fn another_trent_seals_the_root_key_and_auto_unseals_it() {
    let one_node = ClusterOptions {
        nodes: 1,
        ..ClusterOptions::default()
    };
    let mut sealer = Cluster::start_with(one_node.clone()).await;
    let wrapping_key = new_key(&sealer.client(0)).await;

    let mut sealed = Cluster::start_with(one_node).await;
    let (_, ciphertext) = key_and_ciphertext(&sealed).await;
    stop_all(&mut sealed);
    let root = std::fs::read(sealed.dir().join("root.key")).unwrap();
    let credentials = sealed.dir().join("seal-credentials");
    kms_seal::secret_file::create(
        &credentials,
        format!("{}:{}", trent_tests::ACCESS_KEY, trent_tests::SECRET_KEY).as_bytes(),
    )
    .unwrap();
    set_seal(
        &sealed,
        &SealConfig::Kms(kms_seal::KmsSealConfig {
            sealed_root_key: sealed.dir().join("root.sealed"),
            endpoint: format!("http://{}", sealer.nodes[0].api_addr),
            region: trent_tests::REGION.into(),
            key_id: wrapping_key.clone(),
            credentials_file: credentials,
        }),
    );
    sealed.spawn_all();
    sealed.wait_ready().await;
    assert!(!sealed.dir().join("root.key").exists());
    decrypts(&sealed, 0, &ciphertext, b"made before the seal").await;
    assert_nowhere_under(sealed.dir().parent().unwrap(), &root);
    let audit = sealer.data_dir(0).join("audit.jsonl");
    eventually(
        Duration::from_secs(10),
        "the sealing region's audit log shows the unseal's Decrypt",
        || {
            let text = std::fs::read_to_string(&audit).unwrap_or_default();
            async move { text.contains("\"eventName\":\"Decrypt\"") }
        },
    )
    .await;

    // The sealing region is down: a restarted node stays up and sealed, and says why.
    sealer.kill(0);
    sealed.kill(0);
    sealed.spawn_all();
    let addr = sealed.nodes[0].api_addr.clone();
    let health = wait_sealed(&addr).await;
    assert_eq!(health["type"], "kms");
    let failed = poll(Duration::from_secs(60), || async {
        let (status, body) = get(&addr, "/health").await?;
        let reason = body["reason"].as_str()?.to_string();
        (status == 503 && reason.contains("Decrypt")).then_some(reason)
    })
    .await;
    assert!(failed.is_some(), "the seal's failure is never reported");
    sealer.spawn_all();
    sealer.wait_ready().await;
    wait_healthy(&sealed.nodes[0].api_addr).await;
    decrypts(&sealed, 0, &ciphertext, b"made before the seal").await;
}
