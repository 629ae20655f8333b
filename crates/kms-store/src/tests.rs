//! Tests: openraft's storage conformance suite, restart recovery, corrupt records and the codec.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kms_core::{Command, State};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{
    BasicNode, CommittedLeaderId, EntryPayload, Membership, RaftLogReader, RaftSnapshotBuilder,
    StorageIOError,
};
use serde::{Deserialize, Serialize};
use tempfile::TempDir;

use crate::codec::{decode, decode_v2, encode, encode_v2, FORMAT_BINCODE, FORMAT_JSON};
use crate::db::{self, cf, CF_LOGS, CF_SNAPSHOT};
use crate::log_store::log_key;
use crate::released_v2;
use crate::snapshot_file;
use crate::state_machine::{PersistedSnapshotMeta, SmData};
use crate::*;
use crate::{migrate, StoreError};
use std::path::Path;

/// Opens a fresh store in its own temporary directory; the `TempDir` guard keeps it alive.
struct TempStoreBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for TempStoreBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageIOError::write(&e))?;
        let (log, sm) = open(dir.path()).map_err(|e| StorageIOError::write(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::<TypeConfig, LogStore, StateMachineStore, TempStoreBuilder, TempDir>::test_all(
        TempStoreBuilder,
    )
    .unwrap();
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn blank(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Blank,
    }
}

fn noop(term: u64, index: u64) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Command::Noop),
    }
}

fn membership(term: u64, index: u64) -> Entry {
    let nodes = BTreeMap::from([
        (1, BasicNode::new("127.0.0.1:7001")),
        (2, BasicNode::new("127.0.0.1:7002")),
    ]);
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1, 2])], nodes)),
    }
}

/// The bytes of a snapshot's file, read from its start.
async fn snapshot_bytes(snapshot: &Snapshot) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = snapshot.snapshot.try_clone().await.unwrap();
    file.seek(std::io::SeekFrom::Start(0)).await.unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).await.unwrap();
    bytes
}

/// The complete snapshot files in the store at `dir`.
fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn restart_restores_vote_log_snapshot_and_state() {
    let dir = tempfile::tempdir().unwrap();
    let vote = Vote::new(2, 1);

    let (before_state, before_applied, before_log_state, snap_meta, snap_bytes) = {
        let (mut log, mut sm) = open(dir.path()).unwrap();
        log.save_vote(&vote).await.unwrap();

        let first = vec![blank(1, 1), membership(1, 2), noop(1, 3), noop(1, 4)];
        log.blocking_append(first.clone()).await.unwrap();
        let responses = sm.apply(first).await.unwrap();
        assert_eq!(responses.len(), 4);
        log.save_committed(Some(log_id(1, 4))).await.unwrap();

        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snap.meta.last_log_id, Some(log_id(1, 4)));
        assert_eq!(snap.meta.last_membership.log_id(), &Some(log_id(1, 2)));
        log.purge(log_id(1, 2)).await.unwrap();

        let second = vec![noop(1, 5), noop(1, 6), blank(2, 7), noop(2, 8)];
        log.blocking_append(second.clone()).await.unwrap();
        sm.apply(second).await.unwrap();
        assert_eq!(sm.reader().last_applied_index(), Some(8));

        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, snap.meta);
        assert_eq!(snapshot_bytes(&current).await, snapshot_bytes(&snap).await);
        assert_eq!(snapshot_files(dir.path()), vec!["1-4-1.snap".to_owned()]);

        (
            sm.reader().read(State::clone),
            sm.applied_state().await.unwrap(),
            log.get_log_state().await.unwrap(),
            snap.meta.clone(),
            snapshot_bytes(&snap).await,
        )
    };
    assert_eq!(before_applied.0, Some(log_id(2, 8)));
    assert_eq!(before_log_state.last_purged_log_id, Some(log_id(1, 2)));
    assert_eq!(before_log_state.last_log_id, Some(log_id(2, 8)));

    // Both stores were dropped: the database is closed. Reopen it.
    let (mut log, mut sm) = open(dir.path()).unwrap();
    assert_eq!(log.read_vote().await.unwrap(), Some(vote));
    assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 4)));
    assert_eq!(log.get_log_state().await.unwrap(), before_log_state);

    let current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, snap_meta);
    assert_eq!(snapshot_bytes(&current).await, snap_bytes);

    // The state machine restarts at the snapshot, not at the last applied entry.
    let (applied, membership_after) = sm.applied_state().await.unwrap();
    assert_eq!(applied, snap_meta.last_log_id);
    assert_eq!(membership_after, snap_meta.last_membership);
    assert_eq!(sm.reader().last_applied_index(), Some(4));

    // What openraft does at startup: re-apply the log after the snapshot.
    let rest = log.try_get_log_entries(5..).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.log_id).collect::<Vec<_>>(),
        vec![log_id(1, 5), log_id(1, 6), log_id(2, 7), log_id(2, 8)]
    );
    assert!(log.try_get_log_entries(0..3).await.unwrap().is_empty());
    assert_eq!(log.try_get_log_entries(3..5).await.unwrap().len(), 2);
    sm.apply(rest).await.unwrap();
    assert_eq!(sm.applied_state().await.unwrap(), before_applied);
    assert_eq!(sm.reader().read(State::clone), before_state);

    // A snapshot built after the restart gets a fresh id.
    let again = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_ne!(again.meta.snapshot_id, snap_meta.snapshot_id);
    assert_eq!(again.meta.last_log_id, Some(log_id(2, 8)));
    // The new snapshot's file replaced the old one.
    assert_eq!(
        snapshot_files(dir.path()),
        vec![format!("{}.snap", again.meta.snapshot_id)]
    );
}

#[tokio::test]
async fn corrupt_log_values_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _sm) = open(dir.path()).unwrap();
    log.blocking_append(vec![blank(1, 1), noop(1, 2), noop(1, 3)])
        .await
        .unwrap();
    let db = Arc::clone(&log.db);
    let logs = cf(&db, CF_LOGS).unwrap();

    // Garbage with an unknown format tag.
    db.put_cf(logs, log_key(2), b"\xffgarbage").unwrap();
    assert!(log.try_get_log_entries(0..10).await.is_err());
    assert!(log.try_get_log_entries(2..3).await.is_err());
    assert_eq!(log.try_get_log_entries(1..2).await.unwrap().len(), 1);

    // A bincode record whose string length prefix claims 1 TiB: must be refused by the decode
    // limit instead of being allocated.
    let mut huge = vec![FORMAT_BINCODE, 1, 1, 3, 2, 0, 1, 1, 253];
    huge.extend_from_slice(&(1u64 << 40).to_le_bytes());
    db.put_cf(logs, log_key(3), &huge).unwrap();
    assert!(log.try_get_log_entries(3..4).await.is_err());
    // The last entry is unreadable, so the log state is too.
    assert!(log.get_log_state().await.is_err());

    // A valid record cut short.
    let mut cut = encode(&membership(1, 3)).unwrap();
    cut.truncate(cut.len() - 3);
    db.put_cf(logs, log_key(3), &cut).unwrap();
    assert!(log.try_get_log_entries(3..4).await.is_err());

    // A valid record stored under the wrong index.
    db.put_cf(logs, log_key(3), encode(&noop(1, 9)).unwrap())
        .unwrap();
    assert!(log.try_get_log_entries(3..4).await.is_err());

    // A key that is not an 8-byte index.
    db.put_cf(logs, b"bad", encode(&noop(1, 9)).unwrap())
        .unwrap();
    assert!(log.get_log_state().await.is_err());
}

/// Builds a store in `dir` whose snapshot covers entries 1..=4, and returns the snapshot's file.
async fn store_with_snapshot(dir: &Path) -> std::path::PathBuf {
    let (mut log, mut sm) = open(dir).unwrap();
    let entries = vec![
        blank(1, 1),
        membership(1, 2),
        create_key(1, 3, "k1"),
        noop(1, 4),
    ];
    log.blocking_append(entries.clone()).await.unwrap();
    sm.apply(entries).await.unwrap();
    let snap = sm
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    dir.join("snapshots")
        .join(format!("{}.snap", snap.meta.snapshot_id))
}

#[tokio::test]
async fn a_damaged_or_missing_snapshot_file_fails_open() {
    // One flipped byte in the middle of the file: the SHA-256 recorded with it catches it.
    let dir = tempfile::tempdir().unwrap();
    let file = store_with_snapshot(dir.path()).await;
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&file, &bytes).unwrap();
    match open(dir.path()) {
        Err(StoreError::Corrupt { record, reason }) => {
            assert_eq!(record, "snapshot data");
            assert!(reason.contains("SHA-256"), "{reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("open accepted a damaged snapshot"),
    }

    // A truncated file.
    let dir = tempfile::tempdir().unwrap();
    let file = store_with_snapshot(dir.path()).await;
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 10]).unwrap();
    assert!(matches!(
        open(dir.path()),
        Err(StoreError::Corrupt {
            record: "snapshot data",
            ..
        })
    ));

    // A missing file.
    let dir = tempfile::tempdir().unwrap();
    let file = store_with_snapshot(dir.path()).await;
    std::fs::remove_file(&file).unwrap();
    assert!(matches!(
        open(dir.path()),
        Err(StoreError::Corrupt {
            record: "snapshot data",
            ..
        })
    ));
}

#[tokio::test]
async fn a_received_snapshot_is_streamed_to_a_file_and_survives_a_restart() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    store_with_snapshot(leader_dir.path()).await;
    let (_leader_log, mut leader) = open(leader_dir.path()).unwrap();
    let sent = leader.get_current_snapshot().await.unwrap().unwrap();
    {
        let (_log, mut follower) = open(follower_dir.path()).unwrap();
        // openraft writes the chunks it receives into the file it is handed.
        let mut incoming = follower.begin_receiving_snapshot().await.unwrap();
        let mut source = sent.snapshot.try_clone().await.unwrap();
        tokio::io::AsyncSeekExt::seek(&mut source, std::io::SeekFrom::Start(0))
            .await
            .unwrap();
        tokio::io::copy(&mut source, &mut *incoming).await.unwrap();
        follower
            .install_snapshot(&sent.meta, incoming)
            .await
            .unwrap();
        assert_eq!(
            follower.reader().read(State::clone),
            leader.reader().read(State::clone)
        );
        assert_eq!(
            snapshot_files(follower_dir.path()),
            vec![format!("{}.snap", sent.meta.snapshot_id)]
        );
    }
    let (_log, mut follower) = open(follower_dir.path()).unwrap();
    assert!(follower.reader().read(|s| s.key("k1").is_some()));
    let current = follower.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, sent.meta);
    assert_eq!(snapshot_bytes(&current).await, snapshot_bytes(&sent).await);
}

#[tokio::test]
async fn a_received_snapshot_that_contradicts_its_metadata_is_refused() {
    let leader_dir = tempfile::tempdir().unwrap();
    let follower_dir = tempfile::tempdir().unwrap();
    store_with_snapshot(leader_dir.path()).await;
    let (_leader_log, mut leader) = open(leader_dir.path()).unwrap();
    let sent = leader.get_current_snapshot().await.unwrap().unwrap();
    let (_log, mut follower) = open(follower_dir.path()).unwrap();
    let mut incoming = follower.begin_receiving_snapshot().await.unwrap();
    let mut source = sent.snapshot.try_clone().await.unwrap();
    tokio::io::copy(&mut source, &mut *incoming).await.unwrap();
    let mut claimed = sent.meta.clone();
    claimed.last_log_id = Some(log_id(1, 9));
    claimed.snapshot_id = "1-9-1".to_owned();
    assert!(follower.install_snapshot(&claimed, incoming).await.is_err());
    assert_eq!(follower.reader().read(State::clone), State::default());
    assert!(follower.get_current_snapshot().await.unwrap().is_none());
}

/// Every record kind this crate writes round-trips through format 3 (JSON).
#[test]
fn stored_records_round_trip() {
    fn check<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let bytes = encode(&value).unwrap();
        assert_eq!(bytes[0], FORMAT_JSON, "{value:?}");
        assert_eq!(decode::<T>(&bytes).unwrap(), value);
    }
    check(blank(3, 7));
    check(noop(3, 8));
    check(membership(3, 9));
    check(Vote::new(5, 2));
    check(Vote::new_committed(5, 2));
    check(log_id(5, u64::MAX));
    check(Some(log_id(5, 1)));
    let last_membership = StoredMembership::new(
        Some(log_id(1, 2)),
        Membership::new(vec![BTreeSet::from([1, 2])], None),
    );
    check(SmData {
        last_applied: Some(log_id(1, 4)),
        last_membership: last_membership.clone(),
        state: State::default(),
    });
    check(PersistedSnapshotMeta {
        seq: 3,
        meta: SnapshotMeta {
            last_log_id: Some(log_id(1, 4)),
            last_membership,
            snapshot_id: "1-4-3".to_owned(),
        },
        file: Some(snapshot_file::FileDigest {
            len: 1234,
            sha256: "ab".repeat(32),
        }),
    });
}

/// Format 3 is self-describing: a field added later with `#[serde(default)]` decodes from a
/// record written before it existed, with no migration.
#[test]
fn a_field_added_later_decodes_from_older_records() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Before {
        a: u32,
        c: String,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct After {
        a: u32,
        #[serde(default)]
        b: Option<u32>,
        c: String,
        #[serde(default)]
        d: Vec<u8>,
    }
    let old = encode(&Before {
        a: 1,
        c: "x".to_owned(),
    })
    .unwrap();
    assert_eq!(
        decode::<After>(&old).unwrap(),
        After {
            a: 1,
            b: None,
            c: "x".to_owned(),
            d: Vec::new(),
        }
    );
    assert!(decode::<After>(&[]).is_err());
    assert!(decode::<After>(&[9, 1, 2]).is_err());
    // A format-2 bincode record is not a format-3 record.
    assert!(decode::<Vote>(&encode_v2(&Vote::new(1, 1)).unwrap()).is_err());
}

#[tokio::test]
async fn truncate_and_purge_keep_the_log_contiguous() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _sm) = open(dir.path()).unwrap();
    log.blocking_append((1..=10).map(|i| noop(1, i)))
        .await
        .unwrap();
    log.truncate(log_id(1, 8)).await.unwrap();
    log.purge(log_id(1, 3)).await.unwrap();
    // Purging to an older id than already purged changes nothing.
    log.purge(log_id(1, 2)).await.unwrap();
    let entries = log.try_get_log_entries(..).await.unwrap();
    assert_eq!(
        entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
        vec![4, 5, 6, 7]
    );
    let state = log.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(1, 3)));
    assert_eq!(state.last_log_id, Some(log_id(1, 7)));
    // Appending after a truncation overwrites from there.
    log.blocking_append(vec![blank(2, 8)]).await.unwrap();
    assert_eq!(
        log.get_log_state().await.unwrap().last_log_id,
        Some(log_id(2, 8))
    );
}

#[tokio::test]
async fn reader_sees_applied_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm) = open(dir.path()).unwrap();
    let reader = sm.reader();
    assert_eq!(reader.last_applied_index(), None);
    let handle = reader.clone();
    let responses = sm
        .apply(vec![blank(1, 1), noop(1, 2), membership(1, 3)])
        .await
        .unwrap();
    assert!(responses
        .iter()
        .all(|r| *r == kms_core::Response::default()));
    assert_eq!(handle.last_applied_index(), Some(3));
    assert_eq!(handle.read(|state| state.clone()), State::default());
    let (_, membership) = sm.applied_state().await.unwrap();
    assert_eq!(membership.log_id(), &Some(log_id(1, 3)));
}

#[test]
fn a_store_from_another_format_is_refused_with_a_clear_error() {
    // A fresh store is stamped and reopens.
    let fresh = tempfile::tempdir().unwrap();
    drop(open(fresh.path()).unwrap());
    drop(open(fresh.path()).unwrap());

    // Data without a stamp: written before formats were versioned (pre-release).
    let unversioned = tempfile::tempdir().unwrap();
    {
        let db = db::open(unversioned.path()).unwrap();
        let logs = db.cf_handle(CF_LOGS).unwrap();
        db.put_cf(logs, 7u64.to_be_bytes(), b"old entry").unwrap();
    }
    let error = open(unversioned.path()).err().unwrap();
    assert!(
        matches!(error, StoreError::Format { found: None, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("no released Trent wrote"),
        "{error}"
    );

    for (version, newer) in [(1u32, false), (FORMAT_VERSION + 1, true), (u32::MAX, true)] {
        let other = tempfile::tempdir().unwrap();
        {
            let db = db::open(other.path()).unwrap();
            let meta = db.cf_handle(db::CF_META).unwrap();
            db.put_cf(meta, b"format_version", version.to_be_bytes())
                .unwrap();
        }
        let error = open(other.path()).err().unwrap();
        if newer {
            assert!(
                matches!(error, StoreError::NewerFormat { found, .. } if found == version),
                "{error}"
            );
            assert!(error.to_string().contains("newer Trent"), "{error}");
        } else {
            assert!(
                matches!(error, StoreError::Format { found: Some(1), .. }),
                "{error}"
            );
        }
    }
}

/// A record of a key, as a CreateKey command carries it.
fn key_record(key_id: &str) -> kms_core::KeyRecord {
    kms_core::KeyRecord {
        key_id: key_id.to_owned(),
        arn: format!("arn:aws:kms:us-east-1:111122223333:key/{key_id}"),
        account_id: "111122223333".to_owned(),
        creation_ms: 1_700_000_000_000,
        description: "migrated".to_owned(),
        key_spec: kms_types::KeySpec::SymmetricDefault,
        key_usage: kms_types::KeyUsage::EncryptDecrypt,
        origin: kms_types::Origin::AwsKms,
        key_state: kms_types::KeyState::Enabled,
        deletion_ms: None,
        pending_window_days: None,
        multi_region: false,
        policy: "{}".to_owned(),
        tags: BTreeMap::from([("team".to_owned(), "storage".to_owned())]),
        materials: vec![kms_core::WrappedMaterial {
            material_id: "ab".repeat(32),
            wrapped: vec![7; 60],
            created_ms: 1_700_000_000_000,
            public_key: None,
            import: None,
        }],
        pending_rotation: None,
        key_store: None,
        rotation_period_days: None,
        next_rotation_ms: None,
        rotations: Vec::new(),
        mrk: None,
    }
}

fn create_key(term: u64, index: u64, key_id: &str) -> Entry {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(Command::CreateKey {
            record: key_record(key_id),
        }),
    }
}

/// Writes a format-2 store as the released version left it: a snapshot covering entries 1-3
/// (membership, one key), entries 4-6 after it, vote and log pointers, stamp 2.
fn write_v2_store(dir: &Path) -> (SmData, Vec<Entry>) {
    let entries = [
        blank(1, 1),
        membership(1, 2),
        create_key(1, 3, "k1"),
        create_key(1, 4, "k2"),
        noop(1, 5),
        create_key(2, 6, "k3"),
    ];
    let mut state = State::default();
    state.apply(&Command::CreateKey {
        record: key_record("k1"),
    });
    let last_membership = match &entries[1].payload {
        EntryPayload::Membership(m) => StoredMembership::new(Some(log_id(1, 2)), m.clone()),
        _ => unreachable!(),
    };
    let data = SmData {
        last_applied: Some(log_id(1, 3)),
        last_membership: last_membership.clone(),
        state,
    };
    let meta = PersistedSnapshotMeta {
        seq: 4,
        meta: SnapshotMeta {
            last_log_id: Some(log_id(1, 3)),
            last_membership,
            snapshot_id: "1-3-4".to_owned(),
        },
        file: None,
    };
    let db = db::open(dir).unwrap();
    let logs = cf(&db, CF_LOGS).unwrap();
    let meta_cf = cf(&db, db::CF_META).unwrap();
    let snapshots = cf(&db, CF_SNAPSHOT).unwrap();
    // Purged up to 1: entry 1 is gone, as after a purge.
    for entry in &entries[1..] {
        let bytes = released_bytes::<_, released_v2::Entry>(entry);
        db.put_cf(logs, log_key(entry.log_id.index), bytes).unwrap();
    }
    db.put_cf(
        meta_cf,
        b"vote",
        encode_v2(&Vote::new_committed(2, 1)).unwrap(),
    )
    .unwrap();
    db.put_cf(meta_cf, b"committed", encode_v2(&log_id(2, 6)).unwrap())
        .unwrap();
    db.put_cf(meta_cf, b"last_purged", encode_v2(&log_id(1, 1)).unwrap())
        .unwrap();
    db.put_cf(
        snapshots,
        b"meta",
        released_bytes::<_, released_v2::PersistedSnapshotMeta>(&meta),
    )
    .unwrap();
    db.put_cf(
        snapshots,
        b"data",
        released_bytes::<_, released_v2::SmData>(&data),
    )
    .unwrap();
    db.put_cf(meta_cf, b"format_version", 2u32.to_be_bytes())
        .unwrap();
    (data, entries[1..].to_vec())
}

/// `value` as the released version wrote it: moved into its frozen format-2 shape `Old` (fields
/// added since are dropped) and bincode-encoded with the format-2 tag.
fn released_bytes<New: Serialize, Old: Serialize + serde::de::DeserializeOwned>(
    value: &New,
) -> Vec<u8> {
    let old: Old = released_v2::upgrade(value).unwrap();
    let mut out = vec![FORMAT_BINCODE];
    bincode::serde::encode_into_std_write(&old, &mut out, bincode::config::standard()).unwrap();
    out
}

fn stamp(dir: &Path) -> u32 {
    let db = db::open(dir).unwrap();
    let meta = cf(&db, db::CF_META).unwrap();
    let bytes = db.get_cf(meta, b"format_version").unwrap().unwrap();
    u32::from_be_bytes(bytes.as_slice().try_into().unwrap())
}

#[tokio::test]
async fn a_format_2_store_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (data, entries) = write_v2_store(dir.path());
    {
        let (mut log, mut sm) = open(dir.path()).unwrap();
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(Vote::new_committed(2, 1))
        );
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(2, 6)));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 1)));
        assert_eq!(state.last_log_id, Some(log_id(2, 6)));
        assert_eq!(log.try_get_log_entries(..).await.unwrap(), entries);
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 3)));
        assert_eq!(sm.reader().read(State::clone), data.state);
        // Every record is format 3 now.
        let db = Arc::clone(&log.db);
        for name in [CF_LOGS, db::CF_META, CF_SNAPSHOT] {
            for item in db.iterator_cf(cf(&db, name).unwrap(), rocksdb::IteratorMode::Start) {
                let (key, value) = item.unwrap();
                if &*key != b"format_version" {
                    assert_eq!(value[0], FORMAT_JSON, "{name} {key:?}");
                }
            }
        }
        // The snapshot's bytes moved to its file.
        assert!(db
            .get_cf(cf(&db, CF_SNAPSHOT).unwrap(), b"data")
            .unwrap()
            .is_none());
        assert_eq!(snapshot_files(dir.path()), vec!["1-3-4.snap".to_owned()]);
        // The state machine works on: the rest of the log applies.
        sm.apply(entries[2..].to_vec()).await.unwrap();
        assert!(sm
            .reader()
            .read(|s| ["k1", "k2", "k3"].iter().all(|k| s.key(k).is_some())));
    }
    assert_eq!(stamp(dir.path()), FORMAT_VERSION);
    // The store as it was before the migration is kept beside it, whole: format 2, every record.
    let backup = migrate::backup_dir(dir.path(), 2);
    assert_eq!(stamp(&backup), 2);
    {
        let old = db::open(&backup).unwrap();
        let kept = old
            .iterator_cf(cf(&old, CF_LOGS).unwrap(), rocksdb::IteratorMode::Start)
            .count();
        assert_eq!(kept, entries.len());
    }
    // A second open is a plain format-4 open, and backs up nothing more.
    let (log, _sm) = open(dir.path()).unwrap();
    assert_eq!(log.clone().try_get_log_entries(..).await.unwrap(), entries);
    let backups = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("pre-migration-")
        })
        .count();
    assert_eq!(backups, 1);
}

#[tokio::test]
async fn a_format_3_store_has_its_snapshot_moved_to_a_file_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = State::default();
    state.apply(&Command::CreateKey {
        record: key_record("k1"),
    });
    let data = SmData {
        last_applied: Some(log_id(1, 3)),
        last_membership: StoredMembership::default(),
        state,
    };
    let meta = PersistedSnapshotMeta {
        seq: 7,
        meta: SnapshotMeta {
            last_log_id: Some(log_id(1, 3)),
            last_membership: StoredMembership::default(),
            snapshot_id: "1-3-7".to_owned(),
        },
        file: None,
    };
    {
        // What format 3 wrote: the snapshot's bytes as the `data` value.
        let db = db::open(dir.path()).unwrap();
        let snapshots = cf(&db, CF_SNAPSHOT).unwrap();
        db.put_cf(snapshots, b"meta", encode(&meta).unwrap())
            .unwrap();
        db.put_cf(snapshots, b"data", encode(&data).unwrap())
            .unwrap();
        db.put_cf(
            cf(&db, db::CF_META).unwrap(),
            b"format_version",
            3u32.to_be_bytes(),
        )
        .unwrap();
    }
    let expected_bytes = encode(&data).unwrap();
    {
        let (log, mut sm) = open(dir.path()).unwrap();
        assert_eq!(sm.reader().read(State::clone), data.state);
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 3)));
        let snapshots = cf(&log.db, CF_SNAPSHOT).unwrap();
        assert!(log.db.get_cf(snapshots, b"data").unwrap().is_none());
        let current = sm.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(current.meta, meta.meta);
        // The file holds exactly the bytes format 3 kept in RocksDB.
        assert_eq!(snapshot_bytes(&current).await, expected_bytes);
        assert_eq!(snapshot_files(dir.path()), vec!["1-3-7.snap".to_owned()]);
    }
    assert_eq!(stamp(dir.path()), FORMAT_VERSION);
    let (_log, sm) = open(dir.path()).unwrap();
    assert_eq!(sm.reader().read(State::clone), data.state);
}

#[tokio::test]
async fn a_crash_before_the_migration_is_written_migrates_again() {
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) = write_v2_store(dir.path());
    {
        // The migration is built but the process dies before its one write.
        let db = db::open(dir.path()).unwrap();
        let (batch, migrated) = migrate::batch(&db).unwrap();
        assert_eq!(migrated.entries, 5);
        assert_eq!(migrated.meta, 3);
        assert!(migrated.snapshot);
        drop(batch);
    }
    assert_eq!(stamp(dir.path()), 2);
    let (mut log, sm) = open(dir.path()).unwrap();
    assert_eq!(log.try_get_log_entries(..).await.unwrap(), entries);
    drop((log, sm));
    assert_eq!(stamp(dir.path()), FORMAT_VERSION);
}

#[test]
fn a_format_2_store_with_a_corrupt_record_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    write_v2_store(dir.path());
    {
        let db = db::open(dir.path()).unwrap();
        db.put_cf(cf(&db, CF_LOGS).unwrap(), log_key(4), b"\x01\xff\xff\xff")
            .unwrap();
    }
    let error = open(dir.path()).err().unwrap();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
    assert_eq!(stamp(dir.path()), 2);
}

/// Garbage never panics either decoder (the migration's or format 3's).
#[test]
fn garbage_never_panics_a_decoder() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let valid = released_bytes::<_, released_v2::Entry>(&create_key(1, 3, "k1"));
    for round in 0..5000 {
        let mut bytes = if round % 2 == 0 {
            valid.clone()
        } else {
            let len = (next() % 64) as usize;
            (0..len).map(|_| next() as u8).collect()
        };
        if !bytes.is_empty() {
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            bytes.truncate((next() as usize) % (bytes.len() + 1));
        }
        let _ = decode_v2::<released_v2::Entry>(&bytes);
        let _ = decode_v2::<SmData>(&bytes);
        let _ = decode::<Entry>(&bytes);
        let _ = decode::<SmData>(&bytes);
    }
}
