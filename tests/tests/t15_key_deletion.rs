//! A key scheduled for deletion is really deleted at its DeletionDate, with its aliases, by the
//! leader's replicated task; and not before. Node clocks are moved with the `testing` hook.
#![allow(clippy::unwrap_used)]

use aws_sdk_kms::error::ProvideErrorMetadata;
use std::time::Duration;
use trent_tests::Cluster;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_deleted_at_their_deletion_date_with_their_aliases() {
    let mut cluster = Cluster::start_with_test_hooks().await;
    let kms = cluster.client(1);
    let doomed = trent_tests::new_key(&kms).await;
    let kept = trent_tests::new_key(&kms).await;
    kms.create_alias()
        .alias_name("alias/doomed")
        .target_key_id(&doomed)
        .send()
        .await
        .unwrap();
    kms.schedule_key_deletion()
        .key_id(&doomed)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    // Six days later nothing has happened.
    for index in 0..3 {
        cluster.set_clock_offset(index, 6 * DAY_MS);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    kms.describe_key().key_id(&doomed).send().await.unwrap();

    // The leader changes before the date passes: the new leader's task does the deletion.
    let leader = cluster.leader().await;
    cluster.kill(leader);
    for index in 0..3 {
        cluster.set_clock_offset(index, 7 * DAY_MS + 60_000);
    }
    let reader = cluster.client((leader + 1) % 3);
    let (client, key) = (&reader, &doomed);
    trent_tests::eventually(
        Duration::from_secs(30),
        "the key is deleted after its date",
        move || async move {
            let result = client.describe_key().key_id(key).send().await;
            matches!(result, Err(e) if e.code() == Some("NotFoundException"))
        },
    )
    .await;
    let aliases = reader.list_aliases().send().await.unwrap();
    assert!(
        aliases
            .aliases()
            .iter()
            .all(|a| a.alias_name() != Some("alias/doomed")),
        "alias survived its key"
    );
    reader.describe_key().key_id(&kept).send().await.unwrap();

    // The deletion is replicated: the restarted old leader does not have the key either.
    cluster.restart(leader).await;
    let err = cluster
        .client(leader)
        .describe_key()
        .key_id(&doomed)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("NotFoundException"));
}
