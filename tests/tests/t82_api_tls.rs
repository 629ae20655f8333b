//! The KMS API over TLS, as a CLI user with `--ca-bundle` reaches it: the certificate chains to
//! the cluster's CA, a client that does not trust the CA is refused, plain HTTP to the TLS port
//! gets nothing, and key policies see `aws:SecureTransport = true`.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use trent_tests::{
    eventually, plan_addrs, Cluster, ClusterOptions, ACCESS_KEY, ACCOUNT, REGION, SECRET_KEY,
};

fn aws(endpoint: &str, ca: Option<&Path>, args: &[&str]) -> Result<serde_json::Value, String> {
    let mut command = Command::new("aws");
    command
        .args([
            "kms",
            "--endpoint-url",
            endpoint,
            "--region",
            REGION,
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_PAGER", "")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_CA_BUNDLE");
    if let Some(ca) = ca {
        command.arg("--ca-bundle").arg(ca);
    }
    let output = command.output().expect("the aws CLI is installed");
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).to_string());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    if stdout.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_str(&stdout).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_speaks_tls_with_the_cluster_certificate() {
    let options = ClusterOptions {
        nodes: 1,
        api_tls: true,
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::prepare(&options, &plan_addrs(1));
    cluster.spawn_all();
    let ca = cluster.ca_path();
    let endpoint = format!("https://{}", cluster.nodes[0].api_addr);
    let e = endpoint.as_str();
    eventually(
        Duration::from_secs(60),
        "the TLS endpoint serves",
        || async { aws(e, Some(&ca), &["list-keys"]).is_ok() },
    )
    .await;

    // A policy that allows only requests over TLS.
    let policy = format!(
        r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*","Condition":{{"Bool":{{"aws:SecureTransport":"true"}}}}}}]}}"#
    );
    let created = aws(
        e,
        Some(&ca),
        &[
            "create-key",
            "--policy",
            &policy,
            "--bypass-policy-lockout-safety-check",
        ],
    )
    .unwrap();
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let files = tempfile::tempdir().unwrap();
    let plain = files.path().join("plain");
    std::fs::write(&plain, b"over tls").unwrap();
    let encrypted = aws(
        e,
        Some(&ca),
        &[
            "encrypt",
            "--key-id",
            &key_id,
            "--plaintext",
            &format!("fileb://{}", plain.display()),
        ],
    )
    .unwrap();
    assert!(encrypted["CiphertextBlob"].as_str().is_some());

    // The console over TLS: sign-in sets a Secure cookie, and the keys list shows the key with
    // its state, so the console's own DescribeKey went over TLS (the policy allows no other).
    let curl = |args: &[&str]| {
        let out = Command::new("curl")
            .args(["-s", "-i", "--cacert", ca.to_str().unwrap()])
            .args(args)
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let signed_in = curl(&[
        "-d",
        &format!("access_key_id={ACCESS_KEY}&secret={SECRET_KEY}&region={REGION}"),
        &format!("{endpoint}/console/sign-in"),
    ]);
    let cookie = signed_in
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .unwrap_or_else(|| panic!("no session cookie: {signed_in}"));
    assert!(cookie.contains("; Secure"), "{cookie}");
    let session = cookie.split(';').next().unwrap();
    let page = curl(&[
        "-H",
        &format!("Cookie: {session}"),
        &format!("{endpoint}/console/"),
    ]);
    let row = page
        .split("<tr>")
        .find(|r| r.contains(&key_id))
        .unwrap_or_else(|| panic!("the key is not listed: {page}"));
    assert!(row.contains("Enabled"), "{row}");

    // Not trusting the CA: refused before any request is made.
    let untrusted = aws(e, None, &["list-keys"]).unwrap_err();
    assert!(
        untrusted.contains("SSL") || untrusted.contains("certificate"),
        "{untrusted}"
    );
    // Plain HTTP to the TLS port: no KMS answer.
    let plain_http = format!("http://{}", cluster.nodes[0].api_addr);
    assert!(aws(&plain_http, None, &["list-keys"]).is_err());
    cluster.kill(0);
}

/// Mutual TLS between a region's nodes: the nodes that hold the region's certificate form the
/// region and serve; a node whose certificate comes from another CA (same region name) never
/// joins: it gets no Raft traffic in and cannot forward out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raft_peers_need_the_regions_certificate() {
    let options = ClusterOptions {
        nodes: 3,
        raft_tls: true,
        ..ClusterOptions::default()
    };
    let mut cluster = Cluster::prepare(&options, &plan_addrs(3));
    // Node 3 gets a certificate for the same region name from a different CA.
    let impostor = tempfile::tempdir().unwrap();
    let made = Command::new(trent_tests::trent_binary())
        .args(["pki", "--dir"])
        .arg(impostor.path())
        .args(["--regions", REGION])
        .output()
        .unwrap();
    assert!(made.status.success());
    let config = std::fs::read_to_string(cluster.config_path(2)).unwrap();
    let pki = cluster.pki_dir();
    let swapped = config.replace(pki.to_str().unwrap(), impostor.path().to_str().unwrap());
    assert_ne!(config, swapped);
    std::fs::write(cluster.config_path(2), swapped).unwrap();
    cluster.spawn_all();

    let good = cluster.client(0);
    eventually(Duration::from_secs(60), "nodes 1 and 2 serve", || async {
        good.list_keys().send().await.is_ok()
    })
    .await;
    let key = trent_tests::new_key(&cluster.client(1)).await;
    assert!(good.describe_key().key_id(&key).send().await.is_ok());
    // The impostor never learns the key, however long it waits.
    let impostor_client = cluster.client(2);
    let learned = trent_tests::poll(Duration::from_secs(3), || async {
        impostor_client
            .describe_key()
            .key_id(&key)
            .send()
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    assert_eq!(learned, None, "the impostor node served the key");
    let log = cluster.log(2);
    assert!(!log.contains("panicked"), "{log}");
    for index in 0..3 {
        cluster.kill(index);
    }
}
