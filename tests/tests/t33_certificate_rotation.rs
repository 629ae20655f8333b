//! The "Rotate certificates" runbook of docs/operations.md against a running region: delete a
//! node's certificate and key, run `trent pki` again (it issues only what is missing, from the
//! same CA), and the node presents the new certificate on its Raft port within seconds, without
//! a restart, while the region keeps serving through it.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};
use std::time::Duration;
use trent_tests::{eventually, new_key, run_trent, Cluster, REGION};

/// The SHA-256 fingerprint of the certificate `openssl x509` reads from `pem`.
fn fingerprint_of_pem(pem: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(pem).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The fingerprint of the certificate the server at `addr` presents (its handshake asks for a
/// client certificate, which `s_client` does not send; the server's comes first).
fn served_fingerprint(addr: &str) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", addr, "-servername", REGION])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    fingerprint_of_pem(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reissued_node_certificate_is_served_without_a_restart() {
    let cluster = Cluster::start().await;
    let node3 = cluster.raft_addr(2).to_string();
    let before = served_fingerprint(&node3);
    assert!(
        before.contains("Fingerprint"),
        "no certificate served: {before:?}"
    );
    let pid = cluster.pid(2);

    let pki = cluster.pki_dir();
    let cert = pki.join(REGION).join("node3.pem");
    std::fs::remove_file(&cert).unwrap();
    std::fs::remove_file(pki.join(REGION).join("node3.key")).unwrap();
    let node1_cert = std::fs::read(pki.join(REGION).join("node1.pem")).unwrap();
    let issued = run_trent(&[
        "pki",
        "--dir",
        pki.to_str().unwrap(),
        "--regions",
        REGION,
        "--nodes",
        "3",
    ]);
    assert!(issued.status.success(), "{issued:?}");
    let new = fingerprint_of_pem(&std::fs::read(&cert).unwrap());
    assert_ne!(new, before, "trent pki issued the same certificate");
    assert_eq!(
        std::fs::read(pki.join(REGION).join("node1.pem")).unwrap(),
        node1_cert,
        "trent pki reissued a certificate that was there"
    );

    eventually(
        Duration::from_secs(20),
        "node 3 serves its new certificate",
        || {
            let served = served_fingerprint(&node3);
            let new = new.clone();
            async move { served == new }
        },
    )
    .await;
    assert_eq!(cluster.pid(2), pid, "node 3 was restarted");
    // The region serves through node 3 (writes forwarded to the leader) and the others.
    let key = new_key(&cluster.client(2)).await;
    cluster
        .client(0)
        .describe_key()
        .key_id(&key)
        .send()
        .await
        .unwrap();
}
