//! Root-key rotation against real nodes (`trent operator rotate-root-key`): under a running
//! Encrypt/Decrypt/CreateKey load on every node, two rotations each add a generation, re-wrap
//! every key's material in the background and retire the old generation, with no request lost;
//! ciphertexts from before still decrypt, on every node and after every node restarts, and
//! signing and MAC keys keep their material.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::primitives::Blob;
use std::process::Output;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trent_tests::{encrypt, eventually, new_key, run_trent, Cluster, MaterialWitness, REGION};

fn operator(cluster: &Cluster, args: &[&str]) -> Output {
    let pki = cluster.pki_dir();
    let mut all = vec!["operator"];
    all.extend(args);
    all.extend(["--node", cluster.raft_addr(0), "--region", REGION]);
    all.extend(["--pki", pki.to_str().unwrap()]);
    run_trent(&all)
}

fn status(cluster: &Cluster) -> serde_json::Value {
    let output = operator(cluster, &["root-key-status"]);
    assert!(output.status.success());
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotations_under_load_rewrap_everything_lose_nothing_and_retire_the_old_generation() {
    let mut cluster = Cluster::start().await;
    let kms = cluster.client(0);
    let before = status(&cluster);
    assert_eq!(before["current"], 0);
    assert_eq!(before["rotating"], false);

    // Material from before any rotation: symmetric keys with ciphertexts, a signing key with a
    // signature, a MAC key with a MAC.
    let mut old = Vec::new();
    for i in 0..12 {
        let key = new_key(&kms).await;
        let plaintext = format!("before rotation {i}");
        old.push((encrypt(&kms, &key, &plaintext).await, plaintext));
    }
    let witness = MaterialWitness::make(&kms).await;

    // Load on every node: round trips on one key, and new keys, counting every answer.
    let shared_key = new_key(&kms).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for node in 0..3 {
        let kms = cluster.client(node);
        let (stop, done, failed) = (stop.clone(), done.clone(), failed.clone());
        let shared_key = shared_key.clone();
        workers.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let key = if i.is_multiple_of(5) {
                    match kms.create_key().send().await {
                        Ok(created) => created.key_metadata.unwrap().key_id,
                        Err(e) => {
                            eprintln!("CreateKey failed: {e:?}");
                            failed.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                } else {
                    shared_key.clone()
                };
                let plaintext = format!("node {node} op {i}");
                let round_trip = async {
                    let sealed = kms
                        .encrypt()
                        .key_id(&key)
                        .plaintext(Blob::new(plaintext.as_bytes()))
                        .send()
                        .await?;
                    let opened = kms
                        .decrypt()
                        .ciphertext_blob(sealed.ciphertext_blob.unwrap())
                        .send()
                        .await?;
                    Ok::<_, aws_sdk_kms::Error>(opened.plaintext.unwrap())
                };
                match round_trip.await {
                    Ok(back) if back.as_ref() == plaintext.as_bytes() => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    other => {
                        eprintln!("round trip failed: {other:?}");
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                i += 1;
            }
        }));
    }
    eventually(Duration::from_secs(30), "load running", || async {
        done.load(Ordering::Relaxed) >= 30
    })
    .await;

    for generation in [1u64, 2] {
        let rotated = operator(&cluster, &["rotate-root-key", "--wait"]);
        assert!(rotated.status.success());
        let now = status(&cluster);
        assert_eq!(now["current"], generation);
        assert_eq!(now["retired_below"], generation);
        assert_eq!(now["rotating"], false);
        assert_eq!(now["keys_to_rewrap"], 0);
        // Only the current generation's key is kept; the retired one is gone from the state.
        assert_eq!(now["generations"], serde_json::json!([generation]));
    }
    let during = done.load(Ordering::Relaxed);
    eventually(
        Duration::from_secs(30),
        "load after the rotations",
        || async { done.load(Ordering::Relaxed) > during + 20 },
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed during the rotations"
    );
    assert!(done.load(Ordering::Relaxed) > 50);

    // Without --wait the command returns at once and the leader finishes in the background.
    let third = operator(&cluster, &["rotate-root-key"]);
    assert!(third.status.success());
    eventually(
        Duration::from_secs(30),
        "the third rotation done",
        || async { status(&cluster)["retired_below"] == 3 },
    )
    .await;

    // Every node restarted: the generations come from the replicated state.
    let indices = [0, 1, 2];
    for index in indices {
        cluster.kill(index);
    }
    cluster.restart_all(&indices).await;
    for (i, (blob, plaintext)) in old.iter().enumerate() {
        let opened = cluster
            .client(i % 3)
            .decrypt()
            .ciphertext_blob(blob.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(opened.plaintext.unwrap().as_ref(), plaintext.as_bytes());
    }
    let kms = cluster.client(1);
    witness.check(&kms).await;
    // Rotation leaves no KMS-visible trace: the keys are the same keys.
    let listed = kms.list_keys().limit(1000).send().await.unwrap();
    assert!(listed.keys.unwrap().len() > old.len());
}
