//! Log, chain, verification, query and shared-writer tests.

use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{json, Map, Value};
use time::macros::datetime;
use time::OffsetDateTime;

use crate::*;

const ACCOUNT: &str = "111122223333";
const KEY_A: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const KEY_B: &str = "0987dcba-09fe-87dc-65ba-ab0987654321";
const ALICE: &str = "arn:aws:iam::111122223333:user/alice";
const BOB: &str = "arn:aws:iam::111122223333:user/bob";

fn key_arn(id: &str) -> String {
    format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/{id}")
}

fn identity(arn: &str) -> UserIdentity {
    UserIdentity {
        identity_type: IdentityType::IamUser,
        principal_id: "AIDAEXAMPLE".into(),
        arn: arn.into(),
        account_id: ACCOUNT.into(),
        access_key_id: Some("AKIAEXAMPLE".into()),
    }
}

/// Event `i`: alternating keys and principals, every third one denied, one minute apart.
fn event(i: u32) -> AuditEvent {
    let (key, who) = if i.is_multiple_of(2) {
        (KEY_A, ALICE)
    } else {
        (KEY_B, BOB)
    };
    let op = ["Encrypt", "Decrypt", "GenerateDataKey"][i as usize % 3];
    let time = datetime!(2025-01-02 03:00:00 UTC) + time::Duration::minutes(i64::from(i));
    let mut e = AuditEvent::new(op, "us-east-1", ACCOUNT)
        .with_time(time)
        .with_identity(identity(who))
        .with_source("192.0.2.7", "aws-cli/2.15")
        .with_request(&json!({
            "KeyId": key,
            "EncryptionContext": {"app": "billing", "n": i.to_string()},
            "Plaintext": "c2VjcmV0",
            "NumberOfBytes": 32,
        }))
        .with_key(key_arn(key), ACCOUNT);
    if i % 3 == 2 {
        e = e.with_error("AccessDeniedException", "not allowed");
    } else {
        e = e.with_response(&json!({"KeyId": key_arn(key), "CiphertextBlob": "AQID"}));
    }
    e
}

fn new_log(n: u32) -> (tempfile::TempDir, PathBuf, Vec<AuditEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    let written = (0..n).map(|i| log.append(event(i)).unwrap()).collect();
    (dir, path, written)
}

fn read_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(path: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    fs::write(path, text).unwrap();
}

fn failure(report: &VerifyReport) -> (u64, FailureKind) {
    let f = report.failure.clone().expect("verify should fail");
    (f.line, f.kind)
}

#[test]
fn round_trip_and_cloudtrail_shape() {
    let (_dir, path, written) = new_log(3);
    assert_eq!(query(&path, &Filter::new()).unwrap(), written);
    assert_eq!(written[0].prev_hash, GENESIS_HASH);
    assert_eq!(written[1].prev_hash, written[0].hash);

    let lines = read_lines(&path);
    assert_eq!(lines.len(), 3);
    let v: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["eventVersion"], "1.08");
    assert_eq!(v["eventTime"], "2025-01-02T03:00:00Z");
    assert_eq!(v["eventSource"], "kms.amazonaws.com");
    assert_eq!(v["eventName"], "Encrypt");
    assert_eq!(v["awsRegion"], "us-east-1");
    assert_eq!(v["sourceIPAddress"], "192.0.2.7");
    assert_eq!(v["userAgent"], "aws-cli/2.15");
    assert!(v["requestID"].is_string());
    assert!(uuid::Uuid::parse_str(v["eventID"].as_str().unwrap()).is_ok());
    assert_eq!(v["readOnly"], true);
    assert_eq!(v["eventType"], "AwsApiCall");
    assert_eq!(v["managementEvent"], true);
    assert_eq!(v["eventCategory"], "Management");
    assert_eq!(v["recipientAccountId"], ACCOUNT);
    assert_eq!(v["userIdentity"]["type"], "IAMUser");
    assert_eq!(v["userIdentity"]["arn"], ALICE);
    assert_eq!(v["userIdentity"]["accessKeyId"], "AKIAEXAMPLE");
    assert_eq!(v["resources"][0]["ARN"], key_arn(KEY_A));
    assert_eq!(v["resources"][0]["type"], "AWS::KMS::Key");
    assert_eq!(v["resources"][0]["accountId"], ACCOUNT);
    assert_eq!(v["requestParameters"]["KeyId"], KEY_A);
    assert!(v["requestParameters"].get("Plaintext").is_none());
    assert!(v["responseElements"].get("CiphertextBlob").is_none());
    assert!(v.get("errorCode").is_none());
    assert_eq!(v["hash"], written[0].hash.as_str());
    // Lines are written canonically.
    assert_eq!(lines[0], canonical_json(&v));

    let denied: Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(denied["errorCode"], "AccessDeniedException");
    assert_eq!(denied["responseElements"], Value::Null);

    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 3);
    assert_eq!(report.head_hash, written[2].hash);
    assert_eq!(report.anchor, AnchorStatus::Matched);
}

#[test]
fn hash_is_recomputable_from_the_line() {
    let (_dir, path, written) = new_log(2);
    for (line, event) in read_lines(&path).iter().zip(&written) {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(chain_hash(&v).unwrap(), event.hash);
    }
}

#[test]
fn reopen_continues_the_chain() {
    let (_dir, path, written) = new_log(2);
    let mut log = AuditLog::open(&path).unwrap();
    let report = log.open_report().clone();
    assert!(!report.created);
    assert_eq!(report.events, 2);
    assert_eq!(report.truncated_bytes, 0);
    assert_eq!(report.head_hash, written[1].hash);
    assert_eq!(
        report.anchor,
        Some(Anchor {
            count: 2,
            hash: written[1].hash.clone()
        })
    );
    let third = log.append(event(2)).unwrap();
    assert_eq!(third.prev_hash, written[1].hash);
    assert_eq!(log.event_count(), 3);
    assert_eq!(log.head_hash(), third.hash);
    drop(log);
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 3);
}

#[test]
fn new_log_reports_creation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let log = AuditLog::open(&path).unwrap();
    let r = log.open_report();
    assert!(r.created);
    assert_eq!((r.events, r.truncated_bytes), (0, 0));
    assert_eq!(r.head_hash, GENESIS_HASH);
    drop(log);
    let report = verify(&path).unwrap();
    assert!(report.is_ok());
    assert_eq!(report.anchor, AnchorStatus::Matched);
}

#[test]
fn torn_last_line_is_truncated_and_reported() {
    let (_dir, path, written) = new_log(2);
    let good_len = fs::metadata(&path).unwrap().len();
    let torn = br#"{"eventVersion":"1.08","eventTi"#;
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(torn);
    fs::write(&path, &bytes).unwrap();

    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 3);
    assert_eq!(
        kind,
        FailureKind::TornTail {
            bytes: torn.len() as u64
        }
    );
    assert_eq!(query(&path, &Filter::new()).unwrap().len(), 2);

    let mut log = AuditLog::open(&path).unwrap();
    assert_eq!(log.open_report().truncated_bytes, torn.len() as u64);
    assert_eq!(log.open_report().events, 2);
    assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
    let next = log.append(event(2)).unwrap();
    assert_eq!(next.prev_hash, written[1].hash);
    drop(log);
    assert!(verify(&path).unwrap().is_ok());
}

#[test]
fn a_complete_but_newline_less_last_line_is_also_torn() {
    let (_dir, path, _) = new_log(2);
    let mut text = fs::read_to_string(&path).unwrap();
    text.pop();
    fs::write(&path, &text).unwrap();
    // The anchor names event 2, which is now the torn line: reopening must refuse.
    assert!(matches!(
        AuditLog::open(&path),
        Err(AuditError::AnchorMismatch(_))
    ));
    // Without the anchor, the torn line is removed and reported.
    fs::remove_file(anchor_path(&path)).unwrap();
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.open_report().events, 1);
    assert!(log.open_report().truncated_bytes > 0);
    assert_eq!(log.open_report().anchor, None);
}

#[test]
fn verify_catches_a_modified_field() {
    let (_dir, path, written) = new_log(4);
    let mut lines = read_lines(&path);
    let mut v: Value = serde_json::from_str(&lines[1]).unwrap();
    v["eventName"] = json!("Decrypt2");
    lines[1] = canonical_json(&v);
    write_lines(&path, &lines);
    let report = verify(&path).unwrap();
    let (line, kind) = failure(&report);
    assert_eq!(line, 2);
    assert!(
        matches!(&kind, FailureKind::HashMismatch { found, .. } if *found == written[1].hash),
        "{kind:?}"
    );
    assert_eq!(report.events, 1);
    assert_eq!(report.anchor, AnchorStatus::NotChecked);
}

#[test]
fn verify_catches_an_edit_with_a_recomputed_hash() {
    let (_dir, path, _) = new_log(4);
    let mut lines = read_lines(&path);
    let mut v: Value = serde_json::from_str(&lines[1]).unwrap();
    v["errorCode"] = json!("Hidden");
    v["hash"] = json!(chain_hash(&v).unwrap());
    lines[1] = canonical_json(&v);
    write_lines(&path, &lines);
    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 3);
    assert!(
        matches!(kind, FailureKind::PrevHashMismatch { .. }),
        "{kind:?}"
    );
}

#[test]
fn verify_catches_a_deleted_line() {
    let (_dir, path, written) = new_log(4);
    let mut lines = read_lines(&path);
    lines.remove(1);
    write_lines(&path, &lines);
    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 2);
    assert_eq!(
        kind,
        FailureKind::PrevHashMismatch {
            expected: written[0].hash.clone(),
            found: written[1].hash.clone(),
        }
    );
}

#[test]
fn verify_catches_a_deleted_first_line() {
    let (_dir, path, written) = new_log(3);
    let mut lines = read_lines(&path);
    lines.remove(0);
    write_lines(&path, &lines);
    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 1);
    assert_eq!(
        kind,
        FailureKind::PrevHashMismatch {
            expected: GENESIS_HASH.into(),
            found: written[0].hash.clone(),
        }
    );
}

#[test]
fn verify_catches_an_inserted_line() {
    let (_dir, path, _) = new_log(4);
    let mut lines = read_lines(&path);
    let copy = lines[1].clone();
    lines.insert(2, copy);
    write_lines(&path, &lines);
    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 3);
    assert!(
        matches!(kind, FailureKind::PrevHashMismatch { .. }),
        "{kind:?}"
    );
}

#[test]
fn verify_catches_swapped_lines() {
    let (_dir, path, _) = new_log(4);
    let mut lines = read_lines(&path);
    lines.swap(1, 2);
    write_lines(&path, &lines);
    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 2);
    assert!(
        matches!(kind, FailureKind::PrevHashMismatch { .. }),
        "{kind:?}"
    );
}

#[test]
fn verify_catches_a_malformed_line() {
    let (_dir, path, _) = new_log(3);
    let mut lines = read_lines(&path);
    lines[1].insert(0, 'x');
    write_lines(&path, &lines);
    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 2);
    assert!(matches!(kind, FailureKind::Malformed(_)), "{kind:?}");
    assert!(matches!(
        query(&path, &Filter::new()),
        Err(AuditError::Corrupt { line: 2, .. })
    ));
}

#[test]
fn tail_truncation_needs_the_anchor() {
    let (_dir, path, _) = new_log(4);
    let mut lines = read_lines(&path);
    lines.pop();
    write_lines(&path, &lines);
    let report = verify(&path).unwrap();
    assert_eq!(
        failure(&report),
        (
            4,
            FailureKind::Truncated {
                anchor_count: 4,
                events: 3
            }
        )
    );
    assert_eq!(report.anchor, AnchorStatus::Mismatch);
    assert!(matches!(
        AuditLog::open(&path),
        Err(AuditError::AnchorMismatch(_))
    ));

    // The threat model's stated limit: without the anchor, a shortened chain is valid.
    fs::remove_file(anchor_path(&path)).unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_ok());
    assert_eq!(report.anchor, AnchorStatus::Absent);
}

#[test]
fn anchor_behind_is_tolerated_and_wrong_anchor_is_not() {
    let (_dir, path, written) = new_log(3);
    let behind = json!({"count": 2, "hash": written[1].hash});
    fs::write(anchor_path(&path), format!("{behind}\n")).unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.anchor, AnchorStatus::Behind { anchor_count: 2 });
    // Opening accepts it and brings the anchor up to date.
    drop(AuditLog::open(&path).unwrap());
    assert_eq!(verify(&path).unwrap().anchor, AnchorStatus::Matched);

    let wrong = json!({"count": 2, "hash": written[0].hash});
    fs::write(anchor_path(&path), format!("{wrong}\n")).unwrap();
    let (line, kind) = failure(&verify(&path).unwrap());
    assert_eq!(line, 2);
    assert!(
        matches!(kind, FailureKind::AnchorMismatch { .. }),
        "{kind:?}"
    );
    assert!(matches!(
        AuditLog::open(&path),
        Err(AuditError::AnchorMismatch(_))
    ));

    fs::write(anchor_path(&path), "garbage").unwrap();
    let (_, kind) = failure(&verify(&path).unwrap());
    assert!(matches!(kind, FailureKind::AnchorUnreadable(_)), "{kind:?}");
}

/// Writes `v` with every object's keys in reverse order and some whitespace.
fn reversed_json(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| b.0.cmp(a.0));
            let parts: Vec<String> = entries
                .into_iter()
                .map(|(k, v)| format!("{} : {}", Value::from(k.as_str()), reversed_json(v)))
                .collect();
            format!("{{ {} }}", parts.join(" , "))
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(reversed_json).collect();
            format!("[ {} ]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

#[test]
fn hashing_ignores_key_order_in_the_file() {
    let (_dir, path, _) = new_log(3);
    let mut lines = read_lines(&path);
    let v: Value = serde_json::from_str(&lines[1]).unwrap();
    let rewritten = reversed_json(&v);
    assert_ne!(rewritten, lines[1]);
    assert!(rewritten.starts_with(r#"{ "userIdentity""#), "{rewritten}");
    lines[1] = rewritten;
    write_lines(&path, &lines);
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    // The writer also accepts it as the last line on reopen.
    lines.truncate(2);
    write_lines(&path, &lines);
    fs::remove_file(anchor_path(&path)).unwrap();
    let mut log = AuditLog::open(&path).unwrap();
    log.append(event(9)).unwrap();
    drop(log);
    assert!(verify(&path).unwrap().is_ok());
}

#[test]
fn request_parameters_are_redacted() {
    let e = AuditEvent::new("Encrypt", "us-east-1", ACCOUNT).with_request(&json!({
        "KeyId": "alias/app",
        "EncryptionContext": {"purpose": "test"},
        "Plaintext": "c2VjcmV0",
        "CiphertextBlob": "AQID",
        "Message": "bXNn",
        "Mac": "bWFj",
        "Signature": "c2ln",
    }));
    assert_eq!(
        e.request_parameters,
        Some(json!({"KeyId": "alias/app", "EncryptionContext": {"purpose": "test"}}))
    );
    for op in [
        "Decrypt",
        "Sign",
        "Verify",
        "GenerateMac",
        "VerifyMac",
        "ReEncrypt",
    ] {
        let out = redact_request(
            op,
            &json!({"KeyId": "k", "Plaintext": "p", "CiphertextBlob": "c", "Message": "m",
                    "Mac": "x", "Signature": "s"}),
        );
        assert_eq!(out, json!({"KeyId": "k"}), "{op}");
    }
}

#[test]
fn floats_are_rejected_and_the_log_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    let mut bad = event(0);
    bad.request_parameters = Some(json!({"KeyId": "k", "X": 1.5}));
    assert!(matches!(log.append(bad), Err(AuditError::InvalidEvent(_))));
    assert_eq!(log.event_count(), 0);
    log.append(event(1)).unwrap();
    drop(log);
    assert_eq!(verify(&path).unwrap().events, 1);
}

#[test]
fn query_filters() {
    let (_dir, path, written) = new_log(9);
    let names = |f: &Filter| -> Vec<String> {
        query(&path, f)
            .unwrap()
            .into_iter()
            .map(|e| e.event_id.to_string())
            .collect()
    };
    let ids = |idx: &[usize]| -> Vec<String> {
        idx.iter()
            .map(|&i| written[i].event_id.to_string())
            .collect()
    };

    assert_eq!(names(&Filter::new()).len(), 9);
    assert_eq!(names(&Filter::new().event_name("Decrypt")), ids(&[1, 4, 7]));
    assert_eq!(names(&Filter::new().key(KEY_B)), ids(&[1, 3, 5, 7]));
    assert_eq!(
        names(&Filter::new().key(key_arn(KEY_A))),
        ids(&[0, 2, 4, 6, 8])
    );
    assert_eq!(names(&Filter::new().key("unknown")), ids(&[]));
    assert_eq!(names(&Filter::new().principal_arn(BOB)), ids(&[1, 3, 5, 7]));
    assert_eq!(
        names(&Filter::new().error(ErrorFilter::Failed)),
        ids(&[2, 5, 8])
    );
    assert_eq!(
        names(&Filter::new().error(ErrorFilter::Code("AccessDeniedException".into()))),
        ids(&[2, 5, 8])
    );
    assert_eq!(
        names(&Filter::new().error(ErrorFilter::Code("Other".into()))),
        ids(&[])
    );
    assert_eq!(names(&Filter::new().error(ErrorFilter::Succeeded)).len(), 6);
    let t0 = datetime!(2025-01-02 03:00:00 UTC);
    assert_eq!(
        names(
            &Filter::new()
                .since(t0 + time::Duration::minutes(3))
                .until(t0 + time::Duration::minutes(6))
        ),
        ids(&[3, 4, 5])
    );
    assert_eq!(
        names(
            &Filter::new()
                .principal_arn(ALICE)
                .error(ErrorFilter::Failed)
        ),
        ids(&[2, 8])
    );
    assert_eq!(names(&Filter::new().key(KEY_A).limit(2)), ids(&[0, 2]));
    assert_eq!(names(&Filter::new().limit(0)), ids(&[]));
}

#[test]
fn query_matches_request_key_id_without_resources() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let mut log = AuditLog::open(&path).unwrap();
    let e = log
        .append(
            AuditEvent::new("ReEncrypt", "us-east-1", ACCOUNT).with_request(
                &json!({"SourceKeyId": key_arn(KEY_A), "DestinationKeyId": "alias/x"}),
            ),
        )
        .unwrap();
    drop(log);
    assert_eq!(
        query(&path, &Filter::new().key(KEY_A)).unwrap(),
        vec![e.clone()]
    );
    assert_eq!(
        query(
            &path,
            &Filter::new().key(format!("arn:aws:kms:us-east-1:{ACCOUNT}:alias/x"))
        )
        .unwrap(),
        vec![e]
    );
}

#[test]
fn a_second_writer_is_locked_out() {
    let (_dir, path, _) = new_log(1);
    let _first = AuditLog::open(&path).unwrap();
    assert!(matches!(AuditLog::open(&path), Err(AuditError::Locked)));
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, path, _) = new_log(1);
    for p in [path.clone(), anchor_path(&path)] {
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
    }
}

#[test]
fn batched_durability_updates_the_anchor_on_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let mut log = AuditLog::open_with(&path, Durability::Batched).unwrap();
    for i in 0..3 {
        log.append(event(i)).unwrap();
    }
    assert_eq!(
        verify(&path).unwrap().anchor,
        AnchorStatus::Behind { anchor_count: 0 }
    );
    log.flush().unwrap();
    assert_eq!(verify(&path).unwrap().anchor, AnchorStatus::Matched);
    log.append(event(3)).unwrap();
    drop(log); // Drop flushes.
    let report = verify(&path).unwrap();
    assert_eq!((report.events, report.anchor), (4, AnchorStatus::Matched));
}

#[test]
fn identity_types_serialize_as_cloudtrail_spells_them() {
    for (t, s) in [
        (IdentityType::IamUser, "IAMUser"),
        (IdentityType::AssumedRole, "AssumedRole"),
        (IdentityType::Root, "Root"),
    ] {
        assert_eq!(serde_json::to_value(t).unwrap(), json!(s));
    }
    assert!(is_read_only("ListKeys") && is_read_only("Decrypt"));
    assert!(!is_read_only("CreateKey") && !is_read_only("ScheduleKeyDeletion"));
}

#[test]
fn event_time_is_written_in_utc() {
    let t = datetime!(2025-06-01 12:00:00.5 +02:00);
    let e = AuditEvent::new("Encrypt", "r", ACCOUNT).with_time(t);
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["eventTime"], "2025-06-01T10:00:00.5Z");
    let back: AuditEvent = serde_json::from_value(v).unwrap();
    assert_eq!(back.event_time, t);
    let now = AuditEvent::new("Encrypt", "r", ACCOUNT).event_time;
    assert_eq!(now.nanosecond(), 0);
    assert!((OffsetDateTime::now_utc() - now).whole_seconds() < 5);
}

#[test]
fn shared_log_appends_from_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let shared = SharedAuditLog::spawn(AuditLog::open(&path).unwrap(), 4).unwrap();
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                (0..25u32)
                    .map(|i| shared.append(event(t * 100 + i)).wait().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut written: Vec<AuditEvent> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    shared.shutdown().unwrap();
    let report = verify(&path).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.events, 200);
    assert_eq!(report.anchor, AnchorStatus::Matched);
    let mut logged = query(&path, &Filter::new()).unwrap();
    written.sort_by_key(|e| e.hash.clone());
    logged.sort_by_key(|e| e.hash.clone());
    assert_eq!(written, logged);
}

#[test]
fn shared_log_batched_flush_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let log = AuditLog::open_with(&path, Durability::Batched).unwrap();
    let shared = SharedAuditLog::spawn(log, 16).unwrap();
    let pending: Vec<_> = (0..5).map(|i| shared.append(event(i))).collect();
    for p in pending {
        p.wait().unwrap();
    }
    shared.flush().wait().unwrap();
    assert_eq!(verify(&path).unwrap().anchor, AnchorStatus::Matched);
    let other = shared.clone();
    shared.shutdown().unwrap();
    assert!(matches!(
        other.append(event(9)).wait(),
        Err(AuditError::WriterStopped)
    ));
    drop(other);
    // The file lock was released with the writer.
    let log = AuditLog::open(&path).unwrap();
    assert_eq!(log.event_count(), 5);
}

#[test]
fn shared_log_drop_writes_queued_events() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.jsonl");
    let shared = SharedAuditLog::spawn(AuditLog::open(&path).unwrap(), 8).unwrap();
    let mut p = shared.append(event(0));
    // Poll once to enqueue, then drop both the future and the last handle.
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let _ = std::pin::Pin::new(&mut p).poll(&mut cx);
    drop(p);
    drop(shared);
    assert_eq!(verify(&path).unwrap().events, 1);
}

use std::future::Future as _;

/// A valid log (no anchor) of a few events, as bytes.
fn valid_log_bytes() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let (_dir, path, _) = new_log(5);
        fs::read(&path).unwrap()
    })
}

proptest! {
    #[test]
    fn any_single_byte_change_fails_verification(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let original = valid_log_bytes();
        let mut bytes = original.to_vec();
        let i = pos.index(bytes.len());
        bytes[i] = bytes[i].wrapping_add(delta);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        fs::write(&path, &bytes).unwrap();
        let report = verify(&path).unwrap();
        prop_assert!(
            !report.is_ok(),
            "byte {} changed {:#04x} -> {:#04x} and the log still verifies",
            i, original[i], bytes[i]
        );
    }

    #[test]
    fn canonical_json_is_a_fixpoint(v in arb_json()) {
        let text = canonical_json(&v);
        let back: Value = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(canonical_json(&back), text);
    }
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}
