//! How unseal shares reach a node, against real `trent` processes (the security issue "Trusted
//! with real keys"):
//!
//! - a Shamir-sealed node whose API port serves TLS (`[api_tls]`) is unsealed with `trent
//!   operator unseal --addr https://… --ca ca.pem`, one share per call, and then serves KMS
//!   calls over TLS; `trent operator status` reads its seal over TLS too; without the CA, or
//!   with plain HTTP to the TLS port, the CLI fails and says what to use;
//! - the CLI refuses to send a share over plain HTTP to a non-loopback address, before it reads
//!   the share or connects (192.0.2.1, TEST-NET-1, is never contacted);
//! - the node takes at most 20 unseal submissions a minute (`kms_server::seal_state::
//!   UNSEAL_LIMIT`): the 21st answers 429 with the seal status, the reason and when to retry,
//!   and the node logs it, never a share. Full sets of wrong shares count as submissions, are
//!   refused (fail closed), counted in the status and logged. That the limit lifts once the
//!   window passes is the limiter's unit test (`seal_state::tests`), which moves time itself.
#![allow(clippy::unwrap_used)]

use kms_seal::{SealConfig, SealedRootKey, ShamirConfig};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use trent_tests::{
    plan_addrs, poll, trent_binary, Cluster, ClusterOptions, ACCESS_KEY, REGION, SECRET_KEY,
};

/// `kms_server::seal_state::UNSEAL_LIMIT` (this crate does not link the server).
const UNSEAL_LIMIT: usize = 20;

/// A one-node region sealed under Shamir shares (`threshold` of 3) by `trent operator init`,
/// not started; returns it with the shares.
fn shamir_sealed_node(api_tls: bool, threshold: u8) -> (Cluster, Vec<String>) {
    let options = ClusterOptions {
        nodes: 1,
        api_tls,
        ..ClusterOptions::default()
    };
    let cluster = Cluster::prepare(&options, &plan_addrs(1));
    let path = cluster.config_path(0);
    let mut config = kms_config::NodeConfig::load(path).unwrap();
    config.seal = Some(SealConfig::Shamir(ShamirConfig {
        sealed_root_key: cluster.dir().join("root.sealed"),
    }));
    std::fs::write(path, config.to_toml(&[]).unwrap()).unwrap();
    let out = Command::new(trent_binary())
        .args(["operator", "init", "--shares", "3", "--threshold"])
        .arg(threshold.to_string())
        .arg("--config")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let shares: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": trent-share-").map(|(_, s)| s))
        .map(|s| format!("trent-share-{s}"))
        .collect();
    assert_eq!(shares.len(), 3);
    assert!(!cluster.dir().join("root.key").exists());
    (cluster, shares)
}

/// `trent operator ARGS…` with `stdin` written to its standard input (if any).
fn operator(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(trent_binary())
        .arg("operator")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        writeln!(input, "{text}").unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("no JSON answer: {out:?}"))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `aws kms ARGS…` against `endpoint`, trusting `ca`.
fn aws(endpoint: &str, ca: &Path, args: &[&str]) -> Result<Value, String> {
    let output = Command::new("aws")
        .args(["kms", "--endpoint-url", endpoint, "--region", REGION])
        .args(["--output", "json", "--ca-bundle"])
        .arg(ca)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_CA_BUNDLE")
        .output()
        .expect("the aws CLI is installed");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&output.stdout).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_node_is_unsealed_over_https_with_its_ca_and_then_serves() {
    let (mut cluster, shares) = shamir_sealed_node(true, 2);
    cluster.spawn_all();
    let ca = cluster.ca_path();
    let ca_arg = ca.to_str().unwrap();
    let api = cluster.nodes[0].api_addr.clone();
    let https = format!("https://{api}");

    // `status` over TLS: sealed, waiting for two shares.
    let status = poll(Duration::from_secs(60), || async {
        let out = operator(&["status", "--addr", &https, "--ca", ca_arg], None);
        out.status.success().then(|| stdout_json(&out))
    })
    .await
    .unwrap_or_else(|| panic!("status over TLS never answered:\n{}", cluster.log(0)));
    assert_eq!(status["sealed"], true, "{status}");
    assert_eq!(status["type"], "shamir");
    assert_eq!(status["threshold"], 2);
    assert_eq!(status["progress"], 0);

    // Not trusting the node's CA: the handshake fails before anything is sent, and the CLI
    // says what to check. Plain HTTP to the TLS port fails too, pointing at https://.
    let untrusted = operator(&["unseal", "--addr", &https], Some(&shares[0]));
    assert!(!untrusted.status.success());
    assert!(stderr(&untrusted).contains("--ca"), "{untrusted:?}");
    let plain = operator(&["unseal", "--addr", &api], Some(&shares[0]));
    assert!(!plain.status.success());
    assert!(stderr(&plain).contains("https://"), "{plain:?}");
    // --ca with a plain-HTTP address: the operator meant TLS; refused, nothing sent.
    let mixed = operator(
        &["unseal", "--addr", &api, "--ca", ca_arg],
        Some(&shares[0]),
    );
    assert!(!mixed.status.success());
    assert!(
        stderr(&mixed).contains(&format!("--addr https://{api}")),
        "{mixed:?}"
    );
    let status = stdout_json(&operator(
        &["status", "--addr", &https, "--ca", ca_arg],
        None,
    ));
    assert_eq!(
        status["progress"], 0,
        "none of those reached the node: {status}"
    );

    // The threshold of shares over TLS, one per call (from standard input).
    let first = operator(
        &["unseal", "--addr", &https, "--ca", ca_arg],
        Some(&shares[2]),
    );
    assert!(first.status.success(), "{first:?}");
    let answer = stdout_json(&first);
    assert_eq!(
        (answer["sealed"].clone(), answer["progress"].clone()),
        (Value::Bool(true), 1.into())
    );
    let second = operator(
        &["unseal", "--addr", &https, "--ca", ca_arg],
        Some(&shares[0]),
    );
    assert!(second.status.success(), "{second:?}");
    assert_eq!(stdout_json(&second)["sealed"], false, "{second:?}");

    // It serves over TLS: a key made, a plaintext encrypted and decrypted.
    let key_id = poll(Duration::from_secs(60), || async {
        let created = aws(&https, &ca, &["create-key"]).ok()?;
        created["KeyMetadata"]["KeyId"].as_str().map(str::to_string)
    })
    .await
    .unwrap_or_else(|| panic!("the unsealed node never served:\n{}", cluster.log(0)));
    let files = tempfile::tempdir().unwrap();
    let plain_file = files.path().join("plain");
    std::fs::write(&plain_file, b"unsealed over tls").unwrap();
    let encrypted = aws(
        &https,
        &ca,
        &[
            "encrypt",
            "--key-id",
            &key_id,
            "--plaintext",
            &format!("fileb://{}", plain_file.display()),
        ],
    )
    .unwrap();
    let blob = files.path().join("blob");
    std::fs::write(
        &blob,
        base64_decode(encrypted["CiphertextBlob"].as_str().unwrap()),
    )
    .unwrap();
    let decrypted = aws(
        &https,
        &ca,
        &[
            "decrypt",
            "--ciphertext-blob",
            &format!("fileb://{}", blob.display()),
        ],
    )
    .unwrap();
    assert_eq!(
        base64_decode(decrypted["Plaintext"].as_str().unwrap()),
        b"unsealed over tls"
    );
    let status = stdout_json(&operator(
        &["status", "--addr", &https, "--ca", ca_arg],
        None,
    ));
    assert_eq!(status["sealed"], false, "{status}");
    cluster.kill(0);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// Waits at most 5 s for `trent operator ARGS…` to exit, its standard input left open and
/// unwritten (a CLI that read the share would block on it; one that connected to TEST-NET-1
/// would wait for its connect timeout).
async fn refused_quickly(args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(trent_binary())
        .arg("operator")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdin = child.stdin.take();
    let output = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("trent operator {} did not refuse at once", args.join(" ")))
        .unwrap();
    let elapsed = started.elapsed();
    drop(stdin);
    (output, elapsed)
}

#[tokio::test]
async fn a_share_is_never_sent_over_plain_http_to_another_host() {
    for addr in [
        "192.0.2.1:8101",
        "http://192.0.2.1:8101",
        "trent-1.invalid:8101",
    ] {
        let (out, elapsed) = refused_quickly(&["unseal", "--addr", addr]).await;
        assert!(!out.status.success(), "{addr}: {out:?}");
        let text = stderr(&out);
        assert!(
            text.contains("refusing to send an unseal share over plain HTTP")
                && text.contains(addr.trim_start_matches("http://"))
                && text.contains("--addr https://")
                && text.contains("--ca"),
            "{addr}: {text}"
        );
        assert!(elapsed < Duration::from_secs(3), "{addr}: took {elapsed:?}");
    }
    // A share given on the command line is refused the same way.
    let (out, _) = refused_quickly(&[
        "unseal",
        "--addr",
        "192.0.2.1:8101",
        "--share",
        "trent-share-v1-00",
    ])
    .await;
    assert!(stderr(&out).contains("refusing to send an unseal share over plain HTTP"));
}

async fn submit(addr: &str, body: Value) -> (u16, Option<String>, Value) {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/sys/unseal"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = response.bytes().await.unwrap();
    (status, retry_after, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unseal_submissions_beyond_the_limit_answer_429_and_wrong_sets_are_counted() {
    let (mut cluster, shares) = shamir_sealed_node(false, 2);
    cluster.spawn_all();
    let addr = cluster.nodes[0].api_addr.clone();
    poll(Duration::from_secs(60), || async {
        let out = operator(&["status", "--addr", &addr], None);
        out.status.success().then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("the node never answered:\n{}", cluster.log(0)));

    // A full set of wrong shares (another split's): refused, progress reset, counted.
    let sealed = SealedRootKey::read(&cluster.dir().join("root.sealed"))
        .unwrap()
        .unwrap();
    let root = sealed.open_with_shares(&shares[..2]).unwrap();
    let (_, foreign) = SealedRootKey::shamir(REGION, &root, 3, 2).unwrap();
    let mut sent = 0;
    for attempt in 1..=2u64 {
        let (status, _, body) = submit(&addr, serde_json::json!({ "key": foreign[0] })).await;
        assert_eq!(status, 200, "{body}");
        let (status, _, body) = submit(&addr, serde_json::json!({ "key": foreign[1] })).await;
        sent += 2;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["sealed"], true);
        assert_eq!(body["progress"], 0);
        assert_eq!(body["failed_attempts"], attempt, "{body}");
    }

    // Garbage up to the limit: each refused as malformed (400), then 429.
    let garbage = "trent-share-v1-0badc0ffee";
    while sent < UNSEAL_LIMIT {
        let (status, _, body) = submit(&addr, serde_json::json!({ "key": garbage })).await;
        assert_eq!(status, 400, "submission {}: {body}", sent + 1);
        sent += 1;
    }
    let (status, retry_after, body) = submit(&addr, serde_json::json!({ "key": garbage })).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["sealed"], true,
        "the refusal carries the seal status: {body}"
    );
    assert_eq!(body["failed_attempts"], 2);
    let reason = body["errors"][0].as_str().unwrap();
    assert!(
        reason.contains("too many unseal submissions") && reason.contains("retry in"),
        "{reason}"
    );
    let secs = body["retry_after_secs"].as_u64().unwrap();
    assert!((1..=60).contains(&secs), "{body}");
    assert_eq!(retry_after, Some(secs.to_string()));

    // A right share is refused too while limited (the CLI says why), and not counted.
    let out = operator(&["unseal", "--addr", &addr], Some(&shares[0]));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("too many unseal submissions"),
        "{out:?}"
    );
    let status = stdout_json(&operator(&["status", "--addr", &addr], None));
    assert_eq!(
        (status["sealed"].clone(), status["progress"].clone()),
        (Value::Bool(true), 0.into())
    );

    // The node logged the wrong sets and the limit, and no share.
    let log = cluster.log(0);
    assert!(log.contains("did not open the root key"), "{log}");
    assert!(log.contains("failed_attempts=2"), "{log}");
    assert!(log.contains("over the rate limit"), "{log}");
    for share in shares
        .iter()
        .chain(&foreign)
        .map(String::as_str)
        .chain([garbage])
    {
        assert!(!log.contains(share), "the log holds a share");
    }
    cluster.kill(0);
}
