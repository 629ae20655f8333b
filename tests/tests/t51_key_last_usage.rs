//! GetKeyLastUsage through the SDK against a real region: a use is visible at once on the node
//! that served it and on every node after the coalescing period, failed and DryRun calls are
//! not uses, ReEncrypt uses both keys, aliases are refused, and the record survives a restart.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyLastUsageTrackingOperation as Tracked;
use std::time::Duration;
use trent_tests::Cluster;

/// The node period is 5 s; allow three of them.
const SPREAD: Duration = Duration::from_secs(15);

/// The last use `node` reports for `key`: operation and request id.
async fn last_use(kms: &aws_sdk_kms::Client, key: &str) -> Option<(Tracked, String)> {
    let out = kms.get_key_last_usage().key_id(key).send().await.unwrap();
    let used = out.key_last_usage()?;
    Some((
        used.operation().unwrap().clone(),
        used.kms_request_id().unwrap().to_string(),
    ))
}

async fn until_everywhere(cluster: &Cluster, key: &str, expected: &(Tracked, String)) {
    for node in 0..3 {
        let kms = cluster.client(node);
        let seen = trent_tests::poll(SPREAD, || async {
            last_use(&kms, key).await.filter(|used| used == expected)
        })
        .await;
        assert_eq!(seen.as_ref(), Some(expected), "node {node}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_use_of_a_key_is_reported_on_every_node() {
    let mut cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let key = trent_tests::new_key(&kms).await;

    let fresh = kms.get_key_last_usage().key_id(&key).send().await.unwrap();
    assert!(fresh.key_last_usage().is_none());
    let created = fresh.key_creation_date().unwrap().secs();
    assert!(fresh.tracking_start_date().unwrap().secs() >= created);
    assert!(fresh.key_id().unwrap().ends_with(&format!(":key/{key}")));

    // Encrypt on node 0: node 0 answers with it at once, the others after a flush.
    let sealed = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("used"))
        .send()
        .await
        .unwrap();
    let encrypted = (Tracked::Encrypt, sealed.request_id().unwrap().to_string());
    assert_eq!(last_use(&kms, &key).await.as_ref(), Some(&encrypted));
    until_everywhere(&cluster, &key, &encrypted).await;

    // A DryRun and a failed call are not uses.
    let dry = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .dry_run(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(dry.code(), Some("DryRunOperationException"));
    let bad = cluster
        .client(1)
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob.clone().unwrap())
        .encryption_context("not", "the context")
        .send()
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Some("InvalidCiphertextException"));
    assert_eq!(last_use(&cluster.client(1), &key).await, Some(encrypted));

    // ReEncrypt on node 1 uses both keys.
    let other = trent_tests::new_key(&kms).await;
    let moved = cluster
        .client(1)
        .re_encrypt()
        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
        .destination_key_id(&other)
        .send()
        .await
        .unwrap();
    let re_encrypted = (Tracked::ReEncrypt, moved.request_id().unwrap().to_string());
    until_everywhere(&cluster, &key, &re_encrypted).await;
    until_everywhere(&cluster, &other, &re_encrypted).await;

    // Key id or ARN only.
    kms.create_alias()
        .alias_name("alias/last-usage")
        .target_key_id(&key)
        .send()
        .await
        .unwrap();
    let by_alias = kms
        .get_key_last_usage()
        .key_id("alias/last-usage")
        .send()
        .await
        .unwrap_err();
    assert_eq!(by_alias.code(), Some("NotFoundException"));

    // Recorded uses are in the replicated state: a full restart keeps them.
    for node in 0..3 {
        cluster.kill(node);
    }
    cluster.restart_all(&[0, 1, 2]).await;
    for node in 0..3 {
        assert_eq!(
            last_use(&cluster.client(node), &other).await.as_ref(),
            Some(&re_encrypted),
            "node {node} after restart"
        );
    }
}
