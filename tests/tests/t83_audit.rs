//! The audit trail of a real node: every request, allowed or denied, is in the node's
//! hash-chained log with principal, operation, key, outcome and request id; no plaintext reaches
//! it; `trent audit verify` accepts the log and catches a changed line; `trent audit query`
//! finds the denied calls.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use std::process::Command;
use std::time::Duration;
use trent_tests::{client_for, eventually, trent_binary, Cluster, ClusterOptions, ACCOUNT};

const SECRET_TEXT: &[u8] = b"the plaintext that must never be logged";

fn trent_audit(args: &[&str]) -> (bool, String) {
    let output = Command::new(trent_binary())
        .arg("audit")
        .args(args)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_in_a_verifiable_audit_log() {
    let identities = format!(
        "[[users]]\naccount = \"{ACCOUNT}\"\nname = \"bob\"\naccess_keys = [{{ id = \"AKIABOB\", secret = \"bob-secret\" }}]\n"
    );
    let cluster = Cluster::start_with(ClusterOptions {
        nodes: 1,
        identities: Some(identities),
        ..ClusterOptions::default()
    })
    .await;
    let root = cluster.client(0);
    let bob = client_for(&cluster.nodes[0].api_addr, "AKIABOB", "bob-secret");
    let key = trent_tests::new_key(&root).await;
    let sealed = root
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(SECRET_TEXT.to_vec()))
        .send()
        .await
        .unwrap();
    root.decrypt()
        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
        .send()
        .await
        .unwrap();
    assert!(bob.describe_key().key_id(&key).send().await.is_err());

    let log = cluster.data_dir(0).join("audit.jsonl");
    let log_arg = log.to_str().unwrap().to_string();
    let bob_arn = format!("arn:aws:iam::{ACCOUNT}:user/bob");
    eventually(
        Duration::from_secs(10),
        "the denied call is in the log",
        || async {
            trent_audit(&["query", &log_arg, "--failed", "--principal", &bob_arn])
                .1
                .contains("AccessDeniedException")
        },
    )
    .await;
    let (_, decrypts) = trent_audit(&["query", &log_arg, "--event-name", "Decrypt"]);
    let decrypt: serde_json::Value =
        serde_json::from_str(decrypts.lines().next().unwrap()).unwrap();
    assert_eq!(decrypt["eventSource"], "kms.amazonaws.com");
    assert_eq!(
        decrypt["userIdentity"]["arn"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert!(decrypt["resources"][0]["ARN"]
        .as_str()
        .unwrap()
        .ends_with(&key));
    assert!(!decrypt["requestID"].as_str().unwrap().is_empty());
    let (_, by_key) = trent_audit(&["query", &log_arg, "--key", &key]);
    assert!(by_key.lines().count() >= 3, "{by_key}");

    // Nothing secret in the log.
    let bytes = std::fs::read(&log).unwrap();
    assert!(!bytes.windows(SECRET_TEXT.len()).any(|w| w == SECRET_TEXT));
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(SECRET_TEXT);
    assert!(!String::from_utf8_lossy(&bytes).contains(&encoded));

    // Verify, then change one line's content (as an intruder who edits a record would).
    let (ok, report) = trent_audit(&["verify", &log_arg]);
    assert!(ok, "{report}");
    let text = std::fs::read_to_string(&log).unwrap();
    let tampered = text.replacen("AccessDeniedException", "AccessDeniedExceptioN", 1);
    assert_ne!(text, tampered);
    std::fs::write(&log, tampered).unwrap();
    let (ok, report) = trent_audit(&["verify", &log_arg]);
    assert!(!ok, "a changed line verified: {report}");
    assert!(report.contains("TAMPERED"), "{report}");
}
