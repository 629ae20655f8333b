//! Properties: Allow-only policies never deny explicitly; an unconditional Deny always does.

use super::*;
use proptest::prelude::*;
use serde_json::json;

const ACTIONS: &[&str] = &[
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:ReEncryptFrom",
    "kms:GenerateDataKey",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:DescribeKey",
    "kms:Sign",
];
const PATTERNS: &[&str] = &[
    "kms:*",
    "*",
    "kms:Generate*",
    "kms:ReEncrypt*",
    "KMS:encrypt",
    "kms:?ecrypt",
    "kms:Put*",
];
const PRINCIPALS: &[&str] = &[
    "arn:aws:iam::111122223333:user/alice",
    "arn:aws:iam::111122223333:root",
    "arn:aws:iam::111122223333:role/Admin",
    "arn:aws:sts::111122223333:assumed-role/Admin/s",
    "arn:aws:iam::444455556666:user/eve",
    "arn:aws:iam::444455556666:root",
];

fn pick(list: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(list)
}

/// An Allow statement with random principal, actions, resource and (sometimes) a condition.
fn allow_statement() -> impl Strategy<Value = serde_json::Value> {
    (
        prop_oneof![
            Just(json!("*")),
            pick(PRINCIPALS).prop_map(|p| json!({ "AWS": p })),
            Just(json!({ "AWS": "111122223333" })),
        ],
        any::<bool>(),
        proptest::collection::vec(pick(PATTERNS), 1..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(principal, not_principal, actions, not_action, conditional)| {
                let mut s = json!({ "Effect": "Allow", "Resource": "*" });
                s[if not_principal {
                    "NotPrincipal"
                } else {
                    "Principal"
                }] = principal;
                s[if not_action { "NotAction" } else { "Action" }] = json!(actions);
                if conditional {
                    s["Condition"] =
                        json!({ "StringNotEquals": { "kms:EncryptionContext:dept": "hr" } });
                }
                s
            },
        )
}

fn policies() -> impl Strategy<Value = (serde_json::Value, Vec<serde_json::Value>)> {
    (
        proptest::collection::vec(allow_statement(), 1..4),
        proptest::collection::vec(pick(PATTERNS), 0..3),
    )
        .prop_map(|(key, identity)| {
            let identity = identity
                .into_iter()
                .map(|a| json!({ "Effect": "Allow", "Action": a, "Resource": "*" }))
                .collect();
            (
                json!({ "Version": "2012-10-17", "Statement": key }),
                identity,
            )
        })
}

fn parse_all(key: &serde_json::Value, identity: &[serde_json::Value]) -> (Policy, Vec<Policy>) {
    let key = Policy::parse_key_policy(&key.to_string()).unwrap();
    let identity = identity
        .iter()
        .map(|s| Policy::parse(&json!({ "Statement": s }).to_string()).unwrap())
        .collect();
    (key, identity)
}

proptest! {
    #[test]
    fn allow_only_policies_never_deny_explicitly(
        (key, identity) in policies(),
        principal in pick(PRINCIPALS),
        action in pick(ACTIONS),
        dept in proptest::option::of(pick(&["hr", "it"])),
    ) {
        let (key, identity) = parse_all(&key, &identity);
        let mut request = request(principal, action);
        if let Some(dept) = dept {
            request = request.with_context("kms:EncryptionContext:dept", [dept]);
        }
        let decision = evaluate(&request, &key, &identity);
        prop_assert!(!matches!(decision, Decision::ExplicitDeny { .. }), "{decision:?}");
    }

    #[test]
    fn an_unconditional_deny_always_wins(
        (mut key, mut identity) in policies(),
        principal in pick(PRINCIPALS),
        action in pick(ACTIONS),
        in_key_policy in any::<bool>(),
        lowercase in any::<bool>(),
    ) {
        let denied = if lowercase { action.to_lowercase() } else { action.to_owned() };
        if in_key_policy {
            let statements = key["Statement"].as_array_mut().unwrap();
            statements.push(json!({ "Sid": "D", "Effect": "Deny", "Principal": "*", "Action": denied, "Resource": "*" }));
        } else {
            identity.push(json!({ "Sid": "D", "Effect": "Deny", "Action": denied, "Resource": "*" }));
        }
        let (key, identity) = parse_all(&key, &identity);
        let decision = evaluate(&request(principal, action), &key, &identity);
        prop_assert_eq!(decision, Decision::ExplicitDeny { statement: Some("D".into()) });
    }
}
