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

use crate::codec::{decode, encode, FORMAT_BINCODE, FORMAT_JSON};
use crate::db::{self, cf, CF_LOGS, CF_SNAPSHOT};
use crate::log_store::log_key;
use crate::state_machine::{PersistedSnapshotMeta, SmData};
use crate::StoreError;
use crate::*;

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

fn snapshot_bytes(snapshot: &Snapshot) -> Vec<u8> {
    snapshot.snapshot.get_ref().clone()
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
        assert_eq!(snapshot_bytes(&current), snapshot_bytes(&snap));

        (
            sm.reader().read(State::clone),
            sm.applied_state().await.unwrap(),
            log.get_log_state().await.unwrap(),
            snap.meta.clone(),
            snapshot_bytes(&snap),
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
    assert_eq!(snapshot_bytes(&current), snap_bytes);

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

#[test]
fn corrupt_snapshot_fails_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (log, _sm) = open(dir.path()).unwrap();
        let snapshots = cf(&log.db, CF_SNAPSHOT).unwrap();
        let meta = PersistedSnapshotMeta {
            seq: 1,
            meta: SnapshotMeta {
                last_log_id: Some(log_id(1, 4)),
                last_membership: StoredMembership::default(),
                snapshot_id: "1-4-1".to_owned(),
            },
        };
        log.db
            .put_cf(snapshots, b"meta", encode(&meta).unwrap())
            .unwrap();
        log.db.put_cf(snapshots, b"data", b"\x01\xff\xff").unwrap();
    }
    match open(dir.path()) {
        Err(StoreError::Corrupt { record, .. }) => assert_eq!(record, "snapshot data"),
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("open accepted a corrupt snapshot"),
    }
}

/// Every record kind this crate writes uses bincode, i.e. openraft's types and the current
/// kms-core types round-trip through it.
#[test]
fn stored_records_round_trip_through_bincode() {
    fn check<T: Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(value: T) {
        let bytes = encode(&value).unwrap();
        assert_eq!(bytes[0], FORMAT_BINCODE, "{value:?} fell back to JSON");
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
    });
}

/// A type bincode cannot round-trip (serde skips a field when serializing) is stored as JSON.
#[test]
fn bincode_incompatible_values_fall_back_to_json() {
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Skipping {
        a: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b: Option<u32>,
        c: String,
    }
    let value = Skipping {
        a: 1,
        b: None,
        c: "x".to_owned(),
    };
    let bytes = encode(&value).unwrap();
    assert_eq!(bytes[0], FORMAT_JSON);
    assert_eq!(decode::<Skipping>(&bytes).unwrap(), value);

    // With the field present bincode works again.
    let value = Skipping {
        b: Some(2),
        ..value
    };
    assert_eq!(encode(&value).unwrap()[0], FORMAT_BINCODE);

    assert!(decode::<Skipping>(&[]).is_err());
    assert!(decode::<Skipping>(&[9, 1, 2]).is_err());
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

    // Data without a stamp: written before formats were versioned.
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
    assert!(error.to_string().contains("clean-data"), "{error}");

    // A different version.
    let other = tempfile::tempdir().unwrap();
    {
        let db = db::open(other.path()).unwrap();
        let meta = db.cf_handle(db::CF_META).unwrap();
        db.put_cf(meta, b"format_version", 1u32.to_be_bytes())
            .unwrap();
    }
    let error = open(other.path()).err().unwrap();
    assert!(
        matches!(error, StoreError::Format { found: Some(1), .. }),
        "{error}"
    );
}
