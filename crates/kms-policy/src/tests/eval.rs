//! Evaluation: deny precedence, account-root delegation, direct grants, cross-account access,
//! principal/action/resource matching and the lockout check.

use super::*;

fn deny(sid: Option<&str>) -> Decision {
    Decision::ExplicitDeny {
        statement: sid.map(str::to_owned),
    }
}

#[test]
fn default_policy_delegates_to_iam() {
    let policy = Policy::parse_key_policy(&default_key_policy(ACCOUNT)).unwrap();
    let encrypt = request(ALICE, "kms:Encrypt");
    assert_eq!(evaluate(&encrypt, &policy, &[]), Decision::ImplicitDeny);
    assert_eq!(
        evaluate(&encrypt, &policy, &[allow_all_identity()]),
        Decision::Allow
    );
    let only_decrypt = identity(r#"{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}"#);
    assert_eq!(
        evaluate(&encrypt, &policy, &[only_decrypt]),
        Decision::ImplicitDeny
    );
    // The account root user needs no identity policy.
    let root = request("arn:aws:iam::111122223333:root", "kms:ScheduleKeyDeletion");
    assert_eq!(evaluate(&root, &policy, &[]), Decision::Allow);
    // An identity policy naming another key does not help.
    let other_key = identity(
        r#"{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:us-east-1:111122223333:key/other"}"#,
    );
    assert_eq!(
        evaluate(&encrypt, &policy, &[other_key]),
        Decision::ImplicitDeny
    );
    let wildcard_key = identity(
        r#"{"Effect":"Allow","Action":"kms:*","Resource":"arn:aws:kms:*:111122223333:key/*"}"#,
    );
    assert_eq!(
        evaluate(&encrypt, &policy, &[wildcard_key]),
        Decision::Allow
    );
}

#[test]
fn direct_grant_needs_no_identity_policy() {
    let policy = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}"#,
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:Encrypt"), &policy, &[]),
        Decision::Allow
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:Sign"), &policy, &[]),
        Decision::ImplicitDeny
    );
    let bob = "arn:aws:iam::111122223333:user/bob";
    assert_eq!(
        evaluate(
            &request(bob, "kms:Encrypt"),
            &policy,
            &[allow_all_identity()]
        ),
        Decision::ImplicitDeny
    );
    let everyone =
        key_policy(r#"{"Effect":"Allow","Principal":"*","Action":"kms:Encrypt","Resource":"*"}"#);
    assert_eq!(
        evaluate(&request(bob, "kms:Encrypt"), &everyone, &[]),
        Decision::Allow
    );
}

#[test]
fn explicit_deny_wins() {
    let policy = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
           {"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":"kms:ScheduleKeyDeletion","Resource":"*"}"#,
    );
    let all = [allow_all_identity()];
    assert_eq!(
        evaluate(&request(ALICE, "kms:ScheduleKeyDeletion"), &policy, &all),
        deny(Some("NoDelete"))
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:Encrypt"), &policy, &all),
        Decision::Allow
    );
    // A Deny in an identity policy wins over the key policy's direct Allow.
    let direct = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}"#,
    );
    let no_encrypt = identity(r#"{"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}"#);
    assert_eq!(
        evaluate(
            &request(ALICE, "kms:Encrypt"),
            &direct,
            &[allow_all_identity(), no_encrypt]
        ),
        deny(None)
    );
    // A Deny naming the account applies to every principal in it.
    let deny_account = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
           {"Sid":"D","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:Decrypt","Resource":"*"}"#,
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:Decrypt"), &deny_account, &[]),
        deny(Some("D"))
    );
    let outsider = "arn:aws:iam::444455556666:user/eve";
    assert_eq!(
        evaluate(&request(outsider, "kms:Decrypt"), &deny_account, &all),
        Decision::Allow
    );
}

#[test]
fn cross_account_needs_both_sides() {
    let eve = "arn:aws:iam::444455556666:user/eve";
    let grants_account = key_policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{OTHER}:root"}},"Action":"kms:Decrypt","Resource":"*"}}"#
    ));
    let grants_eve = key_policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{eve}"}},"Action":"kms:Decrypt","Resource":"*"}}"#
    ));
    let decrypt = request(eve, "kms:Decrypt");
    assert_eq!(decrypt.principal_account, OTHER);
    assert_eq!(decrypt.resource_account, ACCOUNT);
    for policy in [&grants_account, &grants_eve] {
        assert_eq!(evaluate(&decrypt, policy, &[]), Decision::ImplicitDeny);
        assert_eq!(
            evaluate(&decrypt, policy, &[allow_all_identity()]),
            Decision::Allow
        );
    }
    // The identity side alone is not enough.
    let default = Policy::parse_key_policy(&default_key_policy(ACCOUNT)).unwrap();
    assert_eq!(
        evaluate(&decrypt, &default, &[allow_all_identity()]),
        Decision::ImplicitDeny
    );
    // Nor is a grant for a different external account.
    let third = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"999988887777"},"Action":"kms:*","Resource":"*"}"#,
    );
    assert_eq!(
        evaluate(&decrypt, &third, &[allow_all_identity()]),
        Decision::ImplicitDeny
    );
    // The external root user's implicit permissions count as the identity side.
    let other_root = request("arn:aws:iam::444455556666:root", "kms:Decrypt");
    assert_eq!(evaluate(&other_root, &grants_account, &[]), Decision::Allow);
}

#[test]
fn role_sessions_match_their_role() {
    let policy = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/team/Admin"},"Action":"kms:*","Resource":"*"}"#,
    );
    let session = "arn:aws:sts::111122223333:assumed-role/Admin/alice-session";
    assert_eq!(
        evaluate(&request(session, "kms:Encrypt"), &policy, &[]),
        Decision::Allow
    );
    let other = "arn:aws:sts::111122223333:assumed-role/Reader/alice-session";
    assert_eq!(
        evaluate(&request(other, "kms:Encrypt"), &policy, &[]),
        Decision::ImplicitDeny
    );
    let by_session = key_policy(&format!(
        r#"{{"Effect":"Allow","Principal":{{"AWS":"{session}"}},"Action":"kms:*","Resource":"*"}}"#
    ));
    assert_eq!(
        evaluate(&request(session, "kms:Encrypt"), &by_session, &[]),
        Decision::Allow
    );
}

#[test]
fn service_principals() {
    let policy = key_policy(
        r#"{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com"},"Action":"kms:Encrypt*","Resource":"*"}"#,
    );
    let logs = Request::new("logs.amazonaws.com", "kms:Encrypt", KEY);
    assert_eq!(
        evaluate(&logs, &policy, &[]),
        Decision::ImplicitDeny,
        "no account: treated as cross-account"
    );
    let mut logs = logs;
    logs.principal_account = ACCOUNT.into();
    assert_eq!(evaluate(&logs, &policy, &[]), Decision::Allow);
}

#[test]
fn wildcard_and_case_insensitive_actions() {
    let policy = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":["KMS:generate*","kms:ReEncrypt*","kms:?escribeKey"],"Resource":"*"}"#,
    );
    for action in [
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:DescribeKey",
        "kms:describekey",
    ] {
        assert_eq!(
            evaluate(&request(ALICE, action), &policy, &[]),
            Decision::Allow,
            "{action}"
        );
    }
    for action in [
        "kms:Encrypt",
        "kms:ReEncryp",
        "kms:XXDescribeKey",
        "kms2:GenerateMac",
    ] {
        assert_eq!(
            evaluate(&request(ALICE, action), &policy, &[]),
            Decision::ImplicitDeny,
            "{action}"
        );
    }
    let star = key_policy(r#"{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}"#);
    assert_eq!(
        evaluate(&request(ALICE, "kms:Anything"), &star, &[]),
        Decision::Allow
    );
}

#[test]
fn not_action_not_principal_not_resource() {
    let policy = key_policy(
        r#"{"Effect":"Allow","Principal":"*","NotAction":["kms:ScheduleKeyDeletion","kms:Put*"],"Resource":"*"}"#,
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:Encrypt"), &policy, &[]),
        Decision::Allow
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:PutKeyPolicy"), &policy, &[]),
        Decision::ImplicitDeny
    );

    let admin = "arn:aws:iam::111122223333:role/Admin";
    let guarded = key_policy(&format!(
        r#"{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}},
           {{"Sid":"OnlyAdmin","Effect":"Deny","NotPrincipal":{{"AWS":["{admin}"]}},"Action":"kms:Disable*","Resource":"*"}}"#
    ));
    assert_eq!(
        evaluate(&request(ALICE, "kms:DisableKey"), &guarded, &[]),
        deny(Some("OnlyAdmin"))
    );
    assert_eq!(
        evaluate(&request(admin, "kms:DisableKey"), &guarded, &[]),
        Decision::Allow
    );
    let admin_session = "arn:aws:sts::111122223333:assumed-role/Admin/s";
    assert_eq!(
        evaluate(&request(admin_session, "kms:DisableKey"), &guarded, &[]),
        Decision::Allow
    );

    let not_resource = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","NotResource":"arn:aws:kms:*:*:key/1234abcd-*"}"#,
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:Encrypt"), &not_resource, &[]),
        Decision::ImplicitDeny
    );
    let other_key = Request::new(
        ALICE,
        "kms:Encrypt",
        "arn:aws:kms:us-east-1:111122223333:key/ffff",
    );
    assert_eq!(evaluate(&other_key, &not_resource, &[]), Decision::Allow);

    let not_principal_allow = key_policy(
        r#"{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*"}"#,
    );
    assert_eq!(
        evaluate(&request(ALICE, "kms:Encrypt"), &not_principal_allow, &[]),
        Decision::ImplicitDeny
    );
    let bob = request("arn:aws:iam::111122223333:user/bob", "kms:Encrypt");
    assert_eq!(evaluate(&bob, &not_principal_allow, &[]), Decision::Allow);
}

#[test]
fn statements_without_resource_or_principal_are_ineffective() {
    let no_resource = key_policy(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*"}"#);
    assert_eq!(
        evaluate(&request(ALICE, "kms:Encrypt"), &no_resource, &[]),
        Decision::ImplicitDeny
    );
    let no_principal =
        Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#)
            .unwrap();
    assert_eq!(
        evaluate(
            &request(ALICE, "kms:Encrypt"),
            &no_principal,
            &[allow_all_identity()]
        ),
        Decision::ImplicitDeny
    );
    let key_resource = key_policy(&format!(
        r#"{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"{KEY}"}}"#
    ));
    assert_eq!(
        evaluate(&request(ALICE, "kms:Encrypt"), &key_resource, &[]),
        Decision::Allow
    );
}

#[test]
fn lockout_safety_check() {
    let default = Policy::parse_key_policy(&default_key_policy(ACCOUNT)).unwrap();
    assert!(allows_future_put_key_policy(&default, ALICE, ACCOUNT));
    assert!(!allows_future_put_key_policy(&default, ALICE, OTHER));
    let users_only = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":["kms:Encrypt","kms:Put*"],"Resource":"*"}"#,
    );
    assert!(!allows_future_put_key_policy(&users_only, ALICE, ACCOUNT));
    assert!(allows_future_put_key_policy(
        &users_only,
        "arn:aws:iam::111122223333:user/bob",
        ACCOUNT
    ));
    let no_put = key_policy(
        r#"{"Effect":"Allow","Principal":"*","NotAction":"kms:PutKeyPolicy","Resource":"*"}"#,
    );
    assert!(!allows_future_put_key_policy(&no_put, ALICE, ACCOUNT));
    let denied = key_policy(
        r#"{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"},
           {"Effect":"Deny","Principal":"*","Action":"kms:PutKeyPolicy","Resource":"*"}"#,
    );
    assert!(!allows_future_put_key_policy(&denied, ALICE, ACCOUNT));
    let conditional = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}}"#,
    );
    assert!(allows_future_put_key_policy(&conditional, ALICE, ACCOUNT));
    assert!(!allows_future_put_key_policy(
        &conditional,
        "arn:aws:iam::111122223333:user/bob",
        ACCOUNT
    ));
}
