//! Every condition operator, through evaluation of an Allow statement that carries it.

use super::*;

/// Whether `condition` (a `Condition` element) holds for a request with `context`.
fn holds(condition: &str, context: &[(&str, &[&str])]) -> bool {
    let policy = key_policy(&format!(
        r#"{{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{condition}}}"#
    ));
    let request = context
        .iter()
        .fold(request(ALICE, "kms:Encrypt"), |r, (k, v)| {
            r.with_context(k, v.iter().copied())
        });
    evaluate(&request, &policy, &[]) == Decision::Allow
}

const NONE: &[(&str, &[&str])] = &[];

#[test]
fn string_operators() {
    let dept = |v: &'static [&'static str]| [("kms:EncryptionContext:Dept", v)];
    let c = r#"{"StringEquals":{"kms:EncryptionContext:dept":["hr","finance"]}}"#;
    assert!(holds(c, &dept(&["hr"])));
    assert!(holds(c, &dept(&["finance"])));
    assert!(!holds(c, &dept(&["HR"])));
    assert!(!holds(c, NONE));
    let c = r#"{"StringNotEquals":{"kms:EncryptionContext:dept":["hr","finance"]}}"#;
    assert!(!holds(c, &dept(&["hr"])));
    assert!(holds(c, &dept(&["it"])));
    assert!(holds(c, NONE), "a negated operator matches a missing key");
    let c = r#"{"StringEqualsIgnoreCase":{"kms:EncryptionContext:dept":"HR"}}"#;
    assert!(holds(c, &dept(&["hr"])));
    assert!(!holds(c, &dept(&["hrx"])));
    let c = r#"{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:dept":"HR"}}"#;
    assert!(!holds(c, &dept(&["Hr"])));
    assert!(holds(c, &dept(&["it"])));
    let c = r#"{"StringLike":{"kms:EncryptionContext:dept":"fin*-?"}}"#;
    assert!(holds(c, &dept(&["finance-1"])));
    assert!(!holds(c, &dept(&["finance-10"])));
    let c = r#"{"StringNotLike":{"kms:EncryptionContext:dept":"fin*"}}"#;
    assert!(!holds(c, &dept(&["finance"])));
    assert!(holds(c, &dept(&["hr"])));
    assert!(holds(c, NONE));
}

#[test]
fn keys_are_case_insensitive_and_combine_with_and() {
    let c = r#"{"StringEquals":{"KMS:EncryptionContext:App":"web","aws:PrincipalTag/Team":"blue"},"Bool":{"aws:SecureTransport":"true"}}"#;
    let all: &[(&str, &[&str])] = &[
        ("kms:encryptioncontext:app", &["web"]),
        ("AWS:PrincipalTag/team", &["blue"]),
        ("aws:SecureTransport", &["true"]),
    ];
    assert!(holds(c, all));
    assert!(!holds(c, &all[..2]));
    assert!(!holds(
        c,
        &[all[0], ("aws:principaltag/team", &["red"]), all[2]]
    ));
}

#[test]
fn numeric_operators() {
    let cases = [
        ("NumericEquals", "10", ["10", "10.0"], ["11", "x"]),
        ("NumericNotEquals", "10", ["11", "x"], ["10", "1e1"]),
        ("NumericLessThan", "10", ["9.5", "-3"], ["10", "11"]),
        ("NumericLessThanEquals", "10", ["10", "0"], ["10.1", "x"]),
        ("NumericGreaterThan", "10", ["11", "1e3"], ["10", "9"]),
        ("NumericGreaterThanEquals", "10", ["10", "12"], ["9.99", ""]),
    ];
    for (op, limit, yes, no) in cases {
        let c = format!(r#"{{"{op}":{{"kms:X":{limit}}}}}"#);
        for v in yes {
            assert!(holds(&c, &[("kms:X", &[v])]), "{op} {v}");
        }
        for v in no {
            assert!(!holds(&c, &[("kms:X", &[v])]), "{op} {v}");
        }
    }
    assert!(!holds(r#"{"NumericLessThan":{"kms:X":"10"}}"#, NONE));
    assert!(holds(r#"{"NumericNotEquals":{"kms:X":"10"}}"#, NONE));
}

#[test]
fn date_operators() {
    let at = |v: &'static [&'static str]| [("aws:CurrentTime", v)];
    let c = r#"{"DateLessThan":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#;
    assert!(holds(c, &at(&["2023-12-31T23:59:59Z"])));
    assert!(holds(c, &at(&["1700000000"])), "epoch seconds");
    assert!(!holds(c, &at(&["2024-01-01T00:00:00Z"])));
    assert!(
        holds(c, &at(&["2024-01-01T01:00:00+02:00"])),
        "offsets are honoured"
    );
    assert!(!holds(c, &at(&["not a date"])));
    let c = r#"{"DateLessThanEquals":{"aws:CurrentTime":"2024-01-01"}}"#;
    assert!(holds(c, &at(&["2024-01-01T00:00:00Z"])));
    let c = r#"{"DateGreaterThan":{"aws:CurrentTime":1704067200}}"#;
    assert!(holds(c, &at(&["2024-01-01T00:00:01Z"])));
    assert!(!holds(c, &at(&["2024-01-01T00:00:00Z"])));
    let c = r#"{"DateGreaterThanEquals":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#;
    assert!(holds(c, &at(&["2024-01-01T00:00:00Z"])));
    let c = r#"{"DateEquals":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#;
    assert!(holds(c, &at(&["1704067200"])));
    let c = r#"{"DateNotEquals":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#;
    assert!(!holds(c, &at(&["2024-01-01T00:00:00.000Z"])));
    assert!(holds(c, &at(&["2024-01-02T00:00:00Z"])));
}

#[test]
fn bool_binary_and_null() {
    let c = r#"{"Bool":{"kms:GrantIsForAWSResource":true}}"#;
    assert!(holds(c, &[("kms:GrantIsForAWSResource", &["true"])]));
    assert!(holds(c, &[("kms:GrantIsForAWSResource", &["TRUE"])]));
    assert!(!holds(c, &[("kms:GrantIsForAWSResource", &["false"])]));
    assert!(!holds(c, NONE));
    assert!(holds(
        r#"{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}"#,
        NONE
    ));

    let c = r#"{"BinaryEquals":{"kms:X":"QmluYXJ5"}}"#;
    assert!(holds(c, &[("kms:X", &["QmluYXJ5"])]));
    assert!(!holds(c, &[("kms:X", &["QmluYXJ6"])]));

    let absent = r#"{"Null":{"aws:TokenIssueTime":"true"}}"#;
    assert!(holds(absent, NONE));
    assert!(
        holds(absent, &[("aws:TokenIssueTime", &[])]),
        "an empty value list is absent"
    );
    assert!(!holds(
        absent,
        &[("aws:TokenIssueTime", &["2024-01-01T00:00:00Z"])]
    ));
    let present = r#"{"Null":{"aws:TokenIssueTime":false}}"#;
    assert!(!holds(present, NONE));
    assert!(holds(present, &[("aws:TokenIssueTime", &["x"])]));
}

#[test]
fn ip_addresses() {
    let c = r#"{"IpAddress":{"aws:SourceIp":["203.0.113.0/24","2001:db8::/32","198.51.100.7"]}}"#;
    for ip in ["203.0.113.9", "2001:db8::1", "198.51.100.7"] {
        assert!(holds(c, &[("aws:SourceIp", &[ip])]), "{ip}");
    }
    for ip in ["203.0.114.1", "2001:db9::1", "198.51.100.8", "garbage"] {
        assert!(!holds(c, &[("aws:SourceIp", &[ip])]), "{ip}");
    }
    assert!(!holds(c, NONE));
    let c = r#"{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#;
    assert!(holds(c, &[("aws:SourceIp", &["192.0.2.1"])]));
    assert!(!holds(c, &[("aws:SourceIp", &["10.1.2.3"])]));
    assert!(holds(c, NONE));
}

#[test]
fn arn_operators() {
    let src = |v: &'static [&'static str]| [("aws:SourceArn", v)];
    let c = r#"{"ArnLike":{"aws:SourceArn":"arn:aws:cloudtrail:*:111122223333:trail/*"}}"#;
    assert!(holds(
        c,
        &src(&["arn:aws:cloudtrail:us-east-1:111122223333:trail/t"])
    ));
    assert!(!holds(
        c,
        &src(&["arn:aws:cloudtrail:us-east-1:444455556666:trail/t"])
    ));
    assert!(!holds(c, &src(&["not-an-arn"])));
    let c = r#"{"ArnEquals":{"aws:SourceArn":"arn:aws:s3:::bucket"}}"#;
    assert!(holds(c, &src(&["arn:aws:s3:::bucket"])));
    assert!(!holds(c, &src(&["arn:aws:s3:::bucket2"])));
    let c = r#"{"ArnNotEquals":{"aws:SourceArn":"arn:aws:s3:::bucket"}}"#;
    assert!(holds(c, &src(&["arn:aws:s3:::bucket2"])));
    assert!(holds(c, NONE));
    let c = r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::b*"}}"#;
    assert!(!holds(c, &src(&["arn:aws:s3:::bucket"])));
    // aws:PrincipalArn and kms:CallerAccount come from the request itself.
    assert!(holds(
        r#"{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}"#,
        NONE
    ));
    assert!(holds(
        r#"{"StringEquals":{"kms:CallerAccount":"111122223333"}}"#,
        NONE
    ));
    assert!(!holds(
        r#"{"StringEquals":{"aws:PrincipalAccount":"444455556666"}}"#,
        NONE
    ));
}

#[test]
fn if_exists() {
    let c = r#"{"StringEqualsIfExists":{"kms:EncryptionContext:dept":"hr"}}"#;
    assert!(holds(c, NONE));
    assert!(holds(c, &[("kms:EncryptionContext:dept", &["hr"])]));
    assert!(!holds(c, &[("kms:EncryptionContext:dept", &["it"])]));
    let c = r#"{"StringNotEqualsIfExists":{"kms:EncryptionContext:dept":"hr"}}"#;
    assert!(holds(c, NONE));
    assert!(!holds(c, &[("kms:EncryptionContext:dept", &["hr"])]));
    assert!(holds(r#"{"NumericLessThanIfExists":{"kms:X":"3"}}"#, NONE));
    assert!(holds(
        r#"{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}"#,
        NONE
    ));
    assert!(holds(
        r#"{"DateGreaterThanIfExists":{"aws:CurrentTime":"2024-01-01T00:00:00Z"}}"#,
        NONE
    ));
    assert!(holds(
        r#"{"ArnLikeIfExists":{"aws:SourceArn":"arn:*:*:*:*:*"}}"#,
        NONE
    ));
}

#[test]
fn set_qualifiers() {
    let keys = |v: &'static [&'static str]| [("kms:EncryptionContextKeys", v)];
    let all = r#"{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept","app"]}}"#;
    assert!(holds(all, &keys(&["dept"])));
    assert!(holds(all, &keys(&["dept", "app"])));
    assert!(!holds(all, &keys(&["dept", "secret"])));
    assert!(holds(all, NONE), "ForAllValues holds for a missing key");
    assert!(
        holds(all, &keys(&[])),
        "ForAllValues holds for an empty key"
    );

    let any = r#"{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["dept","app"]}}"#;
    assert!(holds(any, &keys(&["secret", "app"])));
    assert!(!holds(any, &keys(&["secret"])));
    assert!(!holds(any, NONE), "ForAnyValue fails for a missing key");
    assert!(holds(
        r#"{"ForAnyValue:StringEqualsIfExists":{"kms:EncryptionContextKeys":"x"}}"#,
        NONE
    ));

    // Negated operators with set qualifiers test each request value against the whole list.
    let all_not = r#"{"ForAllValues:StringNotLike":{"kms:EncryptionContextKeys":"key1*"}}"#;
    assert!(!holds(all_not, &keys(&["key1:legal"])));
    assert!(!holds(all_not, &keys(&["key2", "key1:hr"])));
    assert!(holds(all_not, &keys(&["key2:audit"])));
    assert!(holds(all_not, NONE));
    let any_not = r#"{"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":["a","b"]}}"#;
    assert!(holds(any_not, &keys(&["a", "c"])));
    assert!(!holds(any_not, &keys(&["a", "b"])));
    assert!(!holds(any_not, NONE));

    // Without a qualifier, a multi-valued key matches when any value does; negation is NOR.
    let plain = r#"{"StringEquals":{"kms:EncryptionContextKeys":"a"}}"#;
    assert!(holds(plain, &keys(&["b", "a"])));
    let plain_not = r#"{"StringNotEquals":{"kms:EncryptionContextKeys":"a"}}"#;
    assert!(!holds(plain_not, &keys(&["b", "a"])));
    assert!(holds(plain_not, &keys(&["b", "c"])));
}

#[test]
fn conditions_on_deny_statements() {
    let policy = key_policy(
        r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
           {"Sid":"RequireContext","Effect":"Deny","Principal":"*","Action":"kms:Decrypt","Resource":"*",
            "Condition":{"Null":{"kms:EncryptionContext:dept":"true"}}},
           {"Sid":"OnlyCorp","Effect":"Deny","Principal":"*","Action":"*","Resource":"*",
            "Condition":{"NotIpAddress":{"aws:SourceIp":["10.0.0.0/8","fd00::/8"]}}}"#,
    );
    let decrypt = request(ALICE, "kms:Decrypt").with_context("aws:SourceIp", ["10.2.3.4"]);
    assert_eq!(
        evaluate(&decrypt, &policy, &[]),
        Decision::ExplicitDeny {
            statement: Some("RequireContext".into())
        }
    );
    let decrypt = decrypt.with_context("kms:EncryptionContext:dept", ["hr"]);
    assert_eq!(evaluate(&decrypt, &policy, &[]), Decision::Allow);
    let outside = decrypt.with_context("aws:SourceIp", ["2001:db8::1"]);
    assert_eq!(
        evaluate(&outside, &policy, &[]),
        Decision::ExplicitDeny {
            statement: Some("OnlyCorp".into())
        }
    );
}
