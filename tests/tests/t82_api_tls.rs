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
    let mut cluster = Cluster::prepare(&options, REGION, &plan_addrs(1), None);
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
