//! Parsing and validation.

use super::*;

fn err(document: &str) -> String {
    Policy::parse_key_policy(document).unwrap_err().to_string()
}

fn stmt_err(statement: &str) -> String {
    err(&format!(r#"{{"Statement":[{statement}]}}"#))
}

const INVALID_PRINCIPAL: &str = "Policy contains a statement with one or more invalid principals.";

/// AWS's default key policy, byte for byte as GetKeyPolicy prints it (the server returns this
/// text for a key created without a policy).
const AWS_DEFAULT_POLICY: &str = r#"{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::111122223333:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}"#;

#[test]
fn default_policy_text_and_shape() {
    let text = default_key_policy(ACCOUNT);
    assert_eq!(text, AWS_DEFAULT_POLICY);
    assert_eq!(
        default_key_policy("444455556666"),
        AWS_DEFAULT_POLICY.replace("111122223333", "444455556666")
    );
    assert!(text.starts_with("{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\","));
    assert!(text.contains("\"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },"));
    assert!(text.ends_with("\"Resource\" : \"*\"\n  } ]\n}"));
    let policy = Policy::parse_key_policy(&text).unwrap();
    assert_eq!(policy.version(), Some("2012-10-17"));
    assert_eq!(policy.id(), Some("key-default-1"));
    assert_eq!(policy.statements().len(), 1);
    assert_eq!(
        policy.statements()[0].sid(),
        Some("Enable IAM User Permissions")
    );
    assert_eq!(policy.statements()[0].effect(), Effect::Allow);
}

#[test]
fn accepted_forms() {
    // Single statement object, no Version, lists everywhere, both versions, every principal form.
    for document in [
        r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}"#,
        r#"{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"a b","Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/p/R"]},"NotAction":["kms:Decrypt","kms:Encrypt"],"NotResource":["arn:aws:kms:*:*:key/*"]}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com","Federated":["cognito-identity.amazonaws.com"]},"Action":"*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*","Condition":{"NumericLessThan":{"kms:X":[1,2.5]},"Bool":{"aws:SecureTransport":true},"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a*"]}}}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/R/s"},"Action":"kms:Encrypt"}]}"#,
    ] {
        assert!(Policy::parse_key_policy(document).is_ok(), "{document}");
    }
}

#[test]
fn document_errors() {
    assert!(err("not json").starts_with("Policy document is malformed: invalid JSON"));
    assert!(err("[]").contains("must be a JSON object"));
    assert!(err("{}").contains("Missing required field Statement"));
    assert!(err(r#"{"Statement":[]}"#).contains("non-empty"));
    assert!(err(r#"{"Statement":"x"}"#).contains("non-empty"));
    assert!(err(
        r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#
    )
    .contains("unsupported Version"));
    assert!(err(r#"{"Id":1,"Statement":[]}"#).contains("Id must be a string"));
    assert!(err(r#"{"Statements":[]}"#).contains("Unknown field Statements"));
    assert!(err(r#"{"Statement":[1]}"#).contains("must be a JSON object"));
}

#[test]
fn statement_errors() {
    let ok = r#""Principal":"*","Action":"kms:*","Resource":"*""#;
    assert!(stmt_err(&format!(r#"{{{ok}}}"#)).contains("Missing required field Effect"));
    assert!(stmt_err(&format!(r#"{{"Effect":"allow",{ok}}}"#)).contains("Invalid effect"));
    assert!(
        stmt_err(r#"{"Effect":"Allow","Principal":"*","Resource":"*"}"#)
            .contains("Missing required field Action")
    );
    assert!(stmt_err(r#"{"Effect":"Allow","Action":"kms:*"}"#)
        .contains("Missing required field Principal"));
    assert!(
        stmt_err(&format!(r#"{{"Effect":"Allow","Foo":1,{ok}}}"#)).contains("Unknown field Foo")
    );
    assert!(stmt_err(&format!(
        r#"{{"Effect":"Allow","NotAction":"kms:Sign",{ok}}}"#
    ))
    .contains("both Action and NotAction"));
    assert!(
        stmt_err(&format!(r#"{{"Effect":"Allow","NotResource":"*",{ok}}}"#))
            .contains("both Resource and NotResource")
    );
    assert!(
        stmt_err(&format!(r#"{{"Effect":"Allow","NotPrincipal":"*",{ok}}}"#))
            .contains("both Principal and NotPrincipal")
    );
    assert!(
        stmt_err(r#"{"Effect":"Allow","Principal":"*","Action":"Encrypt"}"#)
            .contains("must be prefaced by a vendor")
    );
    assert!(
        stmt_err(r#"{"Effect":"Allow","Principal":"*","Action":[]}"#)
            .contains("non-empty list of strings")
    );
    assert!(
        stmt_err(r#"{"Effect":"Allow","Principal":"*","Action":["kms:Encrypt",3]}"#)
            .contains("non-empty list of strings")
    );
    assert!(
        stmt_err(r#"{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"key/1"}"#)
            .contains("must be in ARN format")
    );
    assert!(
        stmt_err(&format!(r#"{{"Effect":"Allow","Sid":7,{ok}}}"#)).contains("Sid must be a string")
    );
    // Identity policies may omit the principal.
    assert!(
        Policy::parse(r#"{"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}}"#)
            .is_ok()
    );
}

#[test]
fn principal_errors() {
    for principal in [
        r#""arn:aws:iam::111122223333:root""#,
        r#""""#,
        r#"{}"#,
        r#"{"AWS":[]}"#,
        r#"{"AWS":""}"#,
        r#"{"AWS":"alice"}"#,
        r#"{"AWS":"1111"}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:user/*"}"#,
        r#"{"AWS":"arn:aws:iam::111122223333:group/g"}"#,
        r#"{"AWS":"arn:aws:s3:::bucket"}"#,
        r#"{"AWS":7}"#,
        r#"{"Service":""}"#,
        r#"{"Service":"a b"}"#,
        r#"{"CanonicalUser":"abc"}"#,
    ] {
        let statement = format!(r#"{{"Effect":"Allow","Principal":{principal},"Action":"kms:*"}}"#);
        assert_eq!(stmt_err(&statement), INVALID_PRINCIPAL, "{principal}");
    }
}

#[test]
fn condition_errors() {
    let with = |condition: &str| {
        stmt_err(&format!(
            r#"{{"Effect":"Allow","Principal":"*","Action":"kms:*","Condition":{condition}}}"#
        ))
    };
    assert!(
        with(r#"{"StringEqualz":{"kms:X":"a"}}"#).contains("Invalid Condition type : StringEqualz")
    );
    assert!(
        with(r#"{"ForSomeValues:StringEquals":{"kms:X":"a"}}"#).contains("Invalid Condition type")
    );
    assert!(with(r#"{"NullIfExists":{"kms:X":"true"}}"#).contains("Invalid Condition type"));
    assert!(with(r#"{"ForAnyValue:Null":{"kms:X":"true"}}"#).contains("Invalid Condition type"));
    assert!(with(r#"[]"#).contains("Condition must be a JSON object"));
    assert!(with(r#"{"StringEquals":"x"}"#).contains("must map condition keys"));
    assert!(with(r#"{"StringEquals":{"nokey":"a"}}"#).contains("prefaced by a vendor"));
    assert!(with(r#"{"StringEquals":{"kms:X":[]}}"#).contains("values must be"));
    assert!(with(r#"{"StringEquals":{"kms:X":null}}"#).contains("values must be"));
    assert!(with(r#"{"StringEquals":{"kms:X":{"a":1}}}"#).contains("values must be"));
    assert!(with(r#"{"NumericEquals":{"kms:X":"ten"}}"#).contains("invalid value"));
    assert!(with(r#"{"DateLessThan":{"aws:CurrentTime":"soon"}}"#).contains("invalid value"));
    assert!(with(r#"{"Bool":{"aws:SecureTransport":"yes"}}"#).contains("invalid value"));
    assert!(with(r#"{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}"#).contains("invalid value"));
    assert!(with(r#"{"Null":{"kms:X":"maybe"}}"#).contains("invalid value"));
}
