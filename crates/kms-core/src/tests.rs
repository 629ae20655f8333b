//! Unit tests of apply: state transitions, AWS's key-state refusals and determinism.

use crate::*;
use kms_types::{KeyReference, KeySpec, KeyState, KeyUsage, KmsError, Origin, RotationType};
use proptest::prelude::*;

/// A symmetric key with one material version, for unit tests across the crate.
pub(crate) fn record(key_id: &str) -> KeyRecord {
    KeyRecord {
        key_id: key_id.to_string(),
        arn: format!("arn:aws:kms:us-east-1:111122223333:key/{key_id}"),
        account_id: "111122223333".into(),
        creation_ms: 1_000,
        description: String::new(),
        key_spec: KeySpec::SymmetricDefault,
        key_usage: KeyUsage::EncryptDecrypt,
        origin: Origin::AwsKms,
        key_state: KeyState::Enabled,
        deletion_ms: None,
        pending_window_days: None,
        multi_region: false,
        mrk: None,
        pending_rotation: None,
        key_store: None,
        policy: "{}".into(),
        tags: Default::default(),
        materials: vec![WrappedMaterial {
            material_id: "ab".repeat(32),
            wrapped: vec![1, 2, 3],
            created_ms: 1_000,
            public_key: None,
            import: None,
        }],
        rotation_period_days: None,
        next_rotation_ms: None,
        rotations: Vec::new(),
    }
}

const K1: &str = "11111111-2222-3333-4444-555555555555";
const K2: &str = "11111111-2222-3333-4444-666666666666";

fn state_with_keys() -> State {
    let mut state = State::default();
    for id in [K1, K2] {
        assert!(state
            .apply(&Command::CreateKey { record: record(id) })
            .0
            .is_ok());
    }
    state
}

/// `n` keys, each with an alias, for the restore tests.
pub(crate) fn state_with_keys_and_aliases(n: usize) -> State {
    let mut state = State::default();
    for i in 0..n {
        let key_id = format!("11111111-2222-3333-4444-{i:012}");
        assert!(state
            .apply(&Command::CreateKey {
                record: record(&key_id)
            })
            .0
            .is_ok());
        let alias = Command::CreateAlias {
            alias_name: format!("alias/restored-{i}"),
            target_key_id: key_id,
            now_ms: 1,
        };
        assert!(state.apply(&alias).0.is_ok());
    }
    state
}

#[test]
fn duplicate_key_id_is_rejected_without_change() {
    let mut state = state_with_keys();
    let before = state.clone();
    let response = state.apply(&Command::CreateKey { record: record(K1) });
    assert!(matches!(response.0, Err(KmsError::AlreadyExists(_))));
    assert_eq!(state, before);
}

#[test]
fn deletion_lifecycle_follows_aws() {
    let mut state = state_with_keys();
    let schedule = Command::ScheduleKeyDeletion {
        key_id: K1.into(),
        deletion_ms: 5_000,
        pending_window_days: 7,
    };
    assert!(state.apply(&schedule).0.is_ok());
    assert_eq!(state.key(K1).unwrap().key_state, KeyState::PendingDeletion);
    // Pending deletion refuses enable, tagging and a second schedule.
    let enable = Command::SetKeyEnabled {
        key_id: K1.into(),
        enabled: true,
    };
    assert!(matches!(
        state.apply(&enable).0,
        Err(KmsError::KmsInvalidState(_))
    ));
    assert!(matches!(
        state.apply(&schedule).0,
        Err(KmsError::KmsInvalidState(_))
    ));
    // Cancel returns the key Disabled, not Enabled.
    assert!(state
        .apply(&Command::CancelKeyDeletion { key_id: K1.into() })
        .0
        .is_ok());
    assert_eq!(state.key(K1).unwrap().key_state, KeyState::Disabled);
    assert!(matches!(
        state
            .apply(&Command::CancelKeyDeletion { key_id: K1.into() })
            .0,
        Err(KmsError::KmsInvalidState(_))
    ));
}

#[test]
fn due_keys_are_deleted_with_their_aliases_and_only_when_due() {
    let mut state = state_with_keys();
    let alias = Command::CreateAlias {
        alias_name: "alias/a".into(),
        target_key_id: K1.into(),
        now_ms: 1,
    };
    assert!(state.apply(&alias).0.is_ok());
    let schedule = Command::ScheduleKeyDeletion {
        key_id: K1.into(),
        deletion_ms: 5_000,
        pending_window_days: 7,
    };
    assert!(state.apply(&schedule).0.is_ok());
    assert_eq!(
        state.apply(&Command::DeleteDueKeys { now_ms: 4_999 }).0,
        Ok(CommandOutput::Deleted(0))
    );
    assert!(state.key(K1).is_some());
    assert_eq!(
        state.apply(&Command::DeleteDueKeys { now_ms: 5_000 }).0,
        Ok(CommandOutput::Deleted(1))
    );
    assert!(state.key(K1).is_none());
    assert!(state.alias("111122223333", "alias/a").is_none());
    assert!(state.key(K2).is_some());
}

#[test]
fn aliases_are_unique_and_resolve() {
    let mut state = state_with_keys();
    let create = Command::CreateAlias {
        alias_name: "alias/a".into(),
        target_key_id: K1.into(),
        now_ms: 1,
    };
    assert!(state.apply(&create).0.is_ok());
    assert!(matches!(
        state.apply(&create).0,
        Err(KmsError::AlreadyExists(_))
    ));
    let by_alias = state
        .resolve(
            &KeyReference::AliasName("alias/a".into()),
            "us-east-1",
            "111122223333",
            true,
        )
        .unwrap();
    assert_eq!(by_alias.key_id, K1);
    assert!(matches!(
        state.resolve(
            &KeyReference::AliasName("alias/a".into()),
            "us-east-1",
            "111122223333",
            false
        ),
        Err(KmsError::NotFound(_))
    ));
    let update = Command::UpdateAlias {
        alias_name: "alias/a".into(),
        target_key_id: K2.into(),
        now_ms: 2,
    };
    assert!(state.apply(&update).0.is_ok());
    assert_eq!(
        state
            .alias("111122223333", "alias/a")
            .unwrap()
            .target_key_id,
        K2
    );
    assert!(state
        .apply(&Command::DeleteAlias {
            alias_name: "alias/a".into(),
            account_id: "111122223333".into(),
        })
        .0
        .is_ok());
    assert!(matches!(
        state
            .apply(&Command::DeleteAlias {
                alias_name: "alias/a".into(),
                account_id: "111122223333".into(),
            })
            .0,
        Err(KmsError::NotFound(_))
    ));
}

#[test]
fn update_alias_needs_the_same_key_type_and_usage_not_the_same_spec() {
    let mut state = State::default();
    let key = |id: &str, spec: KeySpec, usage: KeyUsage| KeyRecord {
        key_spec: spec,
        key_usage: usage,
        ..record(id)
    };
    let k3 = "11111111-2222-3333-4444-777777777777";
    let k4 = "11111111-2222-3333-4444-888888888888";
    for record in [
        key(K1, KeySpec::Rsa2048, KeyUsage::SignVerify),
        key(K2, KeySpec::EccNistP384, KeyUsage::SignVerify),
        key(k3, KeySpec::Hmac256, KeyUsage::GenerateVerifyMac),
        key(k4, KeySpec::Rsa4096, KeyUsage::EncryptDecrypt),
    ] {
        assert!(state.apply(&Command::CreateKey { record }).0.is_ok());
    }
    let create = Command::CreateAlias {
        alias_name: "alias/signer".into(),
        target_key_id: K1.into(),
        now_ms: 1,
    };
    assert!(state.apply(&create).0.is_ok());
    let update = |target: &str| Command::UpdateAlias {
        alias_name: "alias/signer".into(),
        target_key_id: target.into(),
        now_ms: 2,
    };
    // RSA_2048 to ECC_NIST_P384: both asymmetric, both SIGN_VERIFY.
    assert!(state.apply(&update(K2)).0.is_ok());
    // An HMAC key is another type; an RSA key for encryption has another usage.
    for refused in [k3, k4] {
        let before = state.clone();
        assert!(matches!(
            state.apply(&update(refused)).0,
            Err(KmsError::Validation(_))
        ));
        assert_eq!(state, before);
    }
}

#[test]
fn resolve_checks_arn_region_and_account() {
    let state = state_with_keys();
    let arn = KeyReference::parse(&format!("arn:aws:kms:us-west-2:111122223333:key/{K1}")).unwrap();
    assert!(matches!(
        state.resolve(&arn, "us-east-1", "111122223333", true),
        Err(KmsError::NotFound(_))
    ));
    let arn = KeyReference::parse(&format!("arn:aws:kms:us-east-1:111122223333:key/{K1}")).unwrap();
    assert_eq!(
        state
            .resolve(&arn, "us-east-1", "111122223333", true)
            .unwrap()
            .key_id,
        K1
    );
}

#[test]
fn tag_limit_is_enforced() {
    let mut state = state_with_keys();
    let tags: Vec<(String, String)> = (0..MAX_TAGS_PER_KEY)
        .map(|i| (format!("k{i}"), "v".into()))
        .collect();
    assert!(state
        .apply(&Command::TagResource {
            key_id: K1.into(),
            tags
        })
        .0
        .is_ok());
    let one_more = Command::TagResource {
        key_id: K1.into(),
        tags: vec![("extra".into(), "v".into())],
    };
    assert!(matches!(
        state.apply(&one_more).0,
        Err(KmsError::LimitExceeded(_))
    ));
    let overwrite = Command::TagResource {
        key_id: K1.into(),
        tags: vec![("k0".into(), "w".into())],
    };
    assert!(state.apply(&overwrite).0.is_ok());
}

fn arb_command() -> impl Strategy<Value = Command> {
    let key = prop_oneof![Just(K1.to_string()), Just(K2.to_string())];
    prop_oneof![
        (key.clone(), any::<bool>())
            .prop_map(|(key_id, enabled)| Command::SetKeyEnabled { key_id, enabled }),
        (key.clone(), 0i64..10).prop_map(|(key_id, d)| Command::ScheduleKeyDeletion {
            key_id,
            deletion_ms: d,
            pending_window_days: 7
        }),
        key.clone()
            .prop_map(|key_id| Command::CancelKeyDeletion { key_id }),
        (0i64..10).prop_map(|now_ms| Command::DeleteDueKeys { now_ms }),
        (key.clone(), "[ab]").prop_map(|(target_key_id, n)| Command::CreateAlias {
            alias_name: format!("alias/{n}"),
            target_key_id,
            now_ms: 0
        }),
        (key, ".{0,8}").prop_map(|(key_id, description)| Command::UpdateKeyDescription {
            key_id,
            description
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Two replicas applying the same log end in the same state with the same responses, and
    /// the state survives a serialization round trip (as in a snapshot).
    #[test]
    fn apply_is_deterministic(commands in proptest::collection::vec(arb_command(), 0..40)) {
        let mut a = state_with_keys();
        let mut b = state_with_keys();
        for command in &commands {
            prop_assert_eq!(a.apply(command), b.apply(command));
        }
        let json = serde_json::to_string(&a).unwrap();
        let restored: State = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(restored, b);
    }
}

#[test]
fn batches_apply_in_order_with_one_result_each() {
    let mut state = state_with_keys();
    let batch = Command::Batch(vec![
        Command::SetKeyEnabled {
            key_id: K1.into(),
            enabled: false,
        },
        Command::CreateKey { record: record(K1) },
        Command::Batch(vec![]),
        Command::UpdateKeyDescription {
            key_id: K2.into(),
            description: "d".into(),
        },
    ]);
    let Response(Ok(CommandOutput::Batch(results))) = state.apply(&batch) else {
        panic!("not a batch result")
    };
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(KmsError::AlreadyExists(_))));
    assert!(matches!(results[2], Err(KmsError::KmsInternal(_))));
    assert!(results[3].is_ok());
    assert_eq!(state.key(K1).unwrap().key_state, KeyState::Disabled);
    assert_eq!(state.key(K2).unwrap().description, "d");
}

#[test]
fn alias_limit_per_key_is_enforced() {
    let mut state = state_with_keys();
    for i in 0..MAX_ALIASES_PER_KEY {
        let create = Command::CreateAlias {
            alias_name: format!("alias/a{i}"),
            target_key_id: K1.into(),
            now_ms: 0,
        };
        assert!(state.apply(&create).0.is_ok());
    }
    let one_more = Command::CreateAlias {
        alias_name: "alias/extra".into(),
        target_key_id: K1.into(),
        now_ms: 0,
    };
    assert!(matches!(
        state.apply(&one_more).0,
        Err(KmsError::LimitExceeded(_))
    ));
    let elsewhere = Command::CreateAlias {
        alias_name: "alias/extra".into(),
        target_key_id: K2.into(),
        now_ms: 0,
    };
    assert!(state.apply(&elsewhere).0.is_ok());
}

fn material(id: char, created_ms: i64) -> WrappedMaterial {
    WrappedMaterial {
        material_id: id.to_string().repeat(64),
        wrapped: vec![9],
        created_ms,
        public_key: None,
        import: None,
    }
}

#[test]
fn rotation_happens_once_and_keeps_old_material() {
    let mut state = state_with_keys();
    let enable = Command::SetKeyRotation {
        key_id: K1.into(),
        period_days: Some(90),
        next_rotation_ms: Some(5_000),
    };
    assert!(state.apply(&enable).0.is_ok());
    assert_eq!(state.keys_due_for_rotation(4_999).count(), 0);
    assert_eq!(state.keys_due_for_rotation(5_000).count(), 1);
    let original = "ab".repeat(32);
    let rotate = |m: WrappedMaterial| Command::RotateKey {
        key_id: K1.into(),
        expected_current: original.clone(),
        material: m,
        rotation_type: RotationType::Automatic,
        next_rotation_ms: Some(10_000),
    };
    assert!(state.apply(&rotate(material('c', 5_000))).0.is_ok());
    // A second proposal based on the same view loses: rotation happens once.
    assert!(matches!(
        state.apply(&rotate(material('d', 5_001))).0,
        Err(KmsError::Conflict(_))
    ));
    let key = state.key(K1).unwrap();
    assert_eq!(key.materials.len(), 2);
    assert_eq!(key.current_material().unwrap().material_id, "c".repeat(64));
    assert!(key.material(&original).is_some());
    assert_eq!(key.next_rotation_ms, Some(10_000));
    assert_eq!(key.rotations.len(), 1);
    // Disabling rotation clears the schedule.
    let disable = Command::SetKeyRotation {
        key_id: K1.into(),
        period_days: None,
        next_rotation_ms: Some(1),
    };
    assert!(state.apply(&disable).0.is_ok());
    assert_eq!(state.key(K1).unwrap().next_rotation_ms, None);
}

#[test]
fn on_demand_rotations_are_limited_and_need_an_enabled_key() {
    let mut state = state_with_keys();
    let mut current = "ab".repeat(32);
    for i in 0..MAX_ON_DEMAND_ROTATIONS {
        let next = format!("{i:064x}");
        let command = Command::RotateKey {
            key_id: K2.into(),
            expected_current: current.clone(),
            material: WrappedMaterial {
                material_id: next.clone(),
                wrapped: vec![1],
                created_ms: i as i64,
                public_key: None,
                import: None,
            },
            rotation_type: RotationType::OnDemand,
            next_rotation_ms: None,
        };
        assert!(state.apply(&command).0.is_ok(), "rotation {i}");
        current = next;
    }
    let over = Command::RotateKey {
        key_id: K2.into(),
        expected_current: current,
        material: material('f', 99),
        rotation_type: RotationType::OnDemand,
        next_rotation_ms: None,
    };
    assert!(matches!(
        state.apply(&over).0,
        Err(KmsError::LimitExceeded(_))
    ));
    assert!(state
        .apply(&Command::SetKeyEnabled {
            key_id: K1.into(),
            enabled: false
        })
        .0
        .is_ok());
    let disabled = Command::SetKeyRotation {
        key_id: K1.into(),
        period_days: Some(365),
        next_rotation_ms: Some(1),
    };
    assert!(matches!(
        state.apply(&disabled).0,
        Err(KmsError::Disabled(_))
    ));
}

const OTHER: &str = "444455556666";
const K3: &str = "11111111-2222-3333-4444-777777777777";

/// K1 and K2 in account 111122223333, K3 in account OTHER.
fn state_with_two_accounts() -> State {
    let mut state = state_with_keys();
    let mut other = record(K3);
    other.account_id = OTHER.into();
    other.arn = format!("arn:aws:kms:us-east-1:{OTHER}:key/{K3}");
    assert!(state.apply(&Command::CreateKey { record: other }).0.is_ok());
    state
}

#[test]
fn accounts_have_their_own_keys_and_alias_names() {
    let mut state = state_with_two_accounts();
    for target in [K1, K3] {
        let create = Command::CreateAlias {
            alias_name: "alias/app".into(),
            target_key_id: target.into(),
            now_ms: 1,
        };
        assert!(state.apply(&create).0.is_ok(), "alias/app for {target}");
    }
    let listed: Vec<&str> = state
        .keys_after(OTHER, None)
        .map(|k| k.key_id.as_str())
        .collect();
    assert_eq!(listed, vec![K3]);
    assert_eq!(state.keys_after("111122223333", None).count(), 2);
    let by_alias = |account: &str| {
        state
            .resolve(
                &KeyReference::AliasName("alias/app".into()),
                "us-east-1",
                account,
                true,
            )
            .map(|k| k.key_id.clone())
    };
    assert_eq!(by_alias(OTHER).unwrap(), K3);
    assert_eq!(by_alias("111122223333").unwrap(), K1);
    // Another account's key: not found by bare id, found by ARN (the authorizer decides).
    let bare = state.resolve(
        &KeyReference::KeyId(K3.into()),
        "us-east-1",
        "111122223333",
        false,
    );
    assert!(
        matches!(&bare, Err(KmsError::NotFound(m)) if m.contains("111122223333")),
        "{bare:?}"
    );
    let arn = KeyReference::parse(&format!("arn:aws:kms:us-east-1:{OTHER}:key/{K3}")).unwrap();
    assert_eq!(
        state
            .resolve(&arn, "us-east-1", "111122223333", false)
            .unwrap()
            .key_id,
        K3
    );
    // An ARN whose account does not own the key finds nothing.
    let wrong = KeyReference::parse(&format!("arn:aws:kms:us-east-1:{OTHER}:key/{K1}")).unwrap();
    assert!(state.resolve(&wrong, "us-east-1", OTHER, false).is_err());
    // Deleting one account's alias leaves the other's.
    let delete = Command::DeleteAlias {
        alias_name: "alias/app".into(),
        account_id: OTHER.into(),
    };
    assert!(state.apply(&delete).0.is_ok());
    assert!(state.alias(OTHER, "alias/app").is_none());
    assert!(state.alias("111122223333", "alias/app").is_some());
}

#[test]
fn a_snapshot_from_before_tenants_gives_each_alias_to_its_keys_account() {
    let mut state = state_with_two_accounts();
    for (name, target) in [("alias/one", K1), ("alias/three", K3)] {
        let create = Command::CreateAlias {
            alias_name: name.into(),
            target_key_id: target.into(),
            now_ms: 1,
        };
        assert!(state.apply(&create).0.is_ok());
    }
    // The old layout: every alias in `aliases`, no `account_aliases`.
    let mut old = serde_json::to_value(&state).unwrap();
    let legacy = serde_json::json!({
        "alias/one": state.alias("111122223333", "alias/one").unwrap(),
        "alias/three": state.alias(OTHER, "alias/three").unwrap(),
    });
    old["aliases"] = legacy;
    old.as_object_mut().unwrap().remove("account_aliases");
    let loaded: State = serde_json::from_value(old).unwrap();
    assert_eq!(loaded, state);
    // A DeleteAlias logged before tenants (no account) removes the one alias of that name.
    let mut loaded = loaded;
    let legacy_delete: Command =
        serde_json::from_str(r#"{"DeleteAlias": {"alias_name": "alias/three"}}"#).unwrap();
    assert!(loaded.apply(&legacy_delete).0.is_ok());
    assert!(loaded.alias(OTHER, "alias/three").is_none());
}

#[test]
fn reset_wipes_keys_aliases_and_grants_but_keeps_outbox_counters() {
    let mut state = state_with_two_accounts();
    let create = Command::CreateAlias {
        alias_name: "alias/app".into(),
        target_key_id: K1.into(),
        now_ms: 1,
    };
    assert!(state.apply(&create).0.is_ok());
    state.next_outbox_seq = 7;
    assert!(state.apply(&Command::Reset).0.is_ok());
    assert_eq!(state.key_count(), 0);
    assert!(state.alias("111122223333", "alias/app").is_none());
    assert_eq!(state.next_outbox_seq, 7);
    // The same alias can be created again after a new key.
    assert!(state
        .apply(&Command::CreateKey { record: record(K1) })
        .0
        .is_ok());
    assert!(state.apply(&create).0.is_ok());
}

#[test]
fn key_uses_keep_the_latest_per_key_and_go_with_the_key() {
    let mut state = state_with_keys();
    let used = |operation, at_ms, request_id: &str| KeyUse {
        operation,
        at_ms,
        request_id: request_id.into(),
    };
    assert_eq!(state.key_use_tracking_start_ms(), None);
    let batch = |uses: Vec<(&str, KeyUse)>, now_ms| Command::RecordKeyUse {
        uses: uses.into_iter().map(|(k, u)| (k.to_string(), u)).collect(),
        now_ms,
    };
    // Two nodes' batches, applied in either order, give the same state.
    let a = batch(
        vec![
            (K1, used(kms_types::Operation::Encrypt, 10, "r1")),
            (
                "00000000-0000-0000-0000-000000000000",
                used(kms_types::Operation::Sign, 11, "gone"),
            ),
        ],
        100,
    );
    let b = batch(
        vec![(K1, used(kms_types::Operation::Decrypt, 20, "r2"))],
        200,
    );
    let mut other = state.clone();
    assert!(state.apply(&a).0.is_ok());
    assert!(state.apply(&b).0.is_ok());
    assert!(other.apply(&b).0.is_ok());
    assert!(other.apply(&a).0.is_ok());
    assert_eq!(state.last_use(K1), other.last_use(K1));
    assert_eq!(
        state.last_use(K1).unwrap().operation,
        kms_types::Operation::Decrypt
    );
    assert!(state
        .last_use("00000000-0000-0000-0000-000000000000")
        .is_none());
    assert!(state.last_use(K2).is_none());
    // Tracking starts with the first batch applied, once.
    assert_eq!(state.key_use_tracking_start_ms(), Some(100));
    assert_eq!(other.key_use_tracking_start_ms(), Some(200));
    // A deleted key takes its use with it.
    let schedule = Command::ScheduleKeyDeletion {
        key_id: K1.into(),
        deletion_ms: 5_000,
        pending_window_days: 7,
    };
    assert!(state.apply(&schedule).0.is_ok());
    assert!(state
        .apply(&Command::DeleteDueKeys { now_ms: 5_000 })
        .0
        .is_ok());
    assert!(state.last_use(K1).is_none());
}

#[test]
fn a_snapshot_from_before_key_use_tracking_loads_with_none_recorded() {
    let mut state = state_with_keys();
    let mut value = serde_json::to_value(&state).unwrap();
    let object = value.as_object_mut().unwrap();
    object.remove("key_uses");
    object.remove("key_use_tracking_start_ms");
    let loaded: State = serde_json::from_value(value).unwrap();
    assert_eq!(loaded, state);
    assert!(state
        .apply(&Command::RecordKeyUse {
            uses: vec![],
            now_ms: 7
        })
        .0
        .is_ok());
    assert_eq!(state.key_use_tracking_start_ms(), Some(7));
}

#[test]
fn pages_of_keys_and_aliases_start_after_their_marker() {
    let state = state_with_keys_and_aliases(25);
    let account = "111122223333";
    let ids = |after: Option<&str>| -> Vec<String> {
        state
            .keys_after(account, after)
            .map(|k| k.key_id.clone())
            .collect()
    };
    let all = ids(None);
    assert_eq!(all.len(), 25);
    assert!(all.windows(2).all(|w| w[0] < w[1]));
    // Paging by the last id of each page visits every key once, in order.
    let mut paged = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page: Vec<String> = ids(marker.as_deref()).into_iter().take(7).collect();
        if page.is_empty() {
            break;
        }
        marker = page.last().cloned();
        paged.extend(page);
    }
    assert_eq!(paged, all);
    // A marker between two ids, and one past the last.
    assert_eq!(
        ids(Some("11111111-2222-3333-4444-000000000009x")),
        all[10..].to_vec()
    );
    assert!(ids(Some("ffffffff-ffff-ffff-ffff-ffffffffffff")).is_empty());
    // Another account's keys are not in the pages.
    let two = state_with_two_accounts();
    assert_eq!(two.keys_after(OTHER, None).count(), 1);
    assert_eq!(two.keys_after(OTHER, Some(K3)).count(), 0);

    let names: Vec<String> = state
        .aliases_after(account, Some("alias/restored-19"))
        .map(|(name, _)| name.clone())
        .collect();
    // Name order: restored-2, restored-20 .. restored-24 follow restored-19.
    assert_eq!(
        names,
        ["2", "20", "21", "22", "23", "24", "3", "4", "5", "6", "7", "8", "9"]
            .iter()
            .map(|n| format!("alias/restored-{n}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(state.aliases_after(account, None).count(), 25);
    assert_eq!(state.aliases_after(OTHER, None).count(), 0);
}
