//! ARN handling: splitting into components, component-wise wildcard matching, and the principal
//! forms key policies name (account root, users, roles, role sessions).

use crate::wildcard;

/// The six `:`-separated components of an ARN (`arn:partition:service:region:account:resource`;
/// the resource may itself contain `:`).
pub(crate) fn parts(arn: &str) -> Option<[&str; 6]> {
    let mut it = arn.splitn(6, ':');
    let mut next = || it.next();
    let parts = [next()?, next()?, next()?, next()?, next()?, next()?];
    (parts[0] == "arn").then_some(parts)
}

/// The account component of an ARN, or `""`.
pub(crate) fn account(arn: &str) -> &str {
    parts(arn).map_or("", |p| p[4])
}

/// `ArnLike` matching: each component is matched separately, with `*` and `?` wildcards, case
/// sensitively. A pattern that does not start with `arn:` (such as `"*"`) is matched as a whole;
/// one that does but lacks components matches nothing.
pub(crate) fn like(pattern: &str, value: &str) -> bool {
    match (parts(pattern), parts(value)) {
        (Some(p), Some(v)) => p
            .iter()
            .zip(v.iter())
            .all(|(p, v)| wildcard::matches(p, v, false)),
        (None, _) if !pattern.starts_with("arn:") => wildcard::matches(pattern, value, false),
        _ => false,
    }
}

/// Whether `s` is a 12-digit AWS account id.
pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Whether `arn` is an IAM/STS principal ARN a policy may name: account root, user, role,
/// assumed-role session or federated user, in a 12-digit account, without wildcards.
pub(crate) fn is_principal(arn: &str) -> bool {
    let Some([_, partition, service, region, account, resource]) = parts(arn) else {
        return false;
    };
    let named = |prefix: &str| resource.strip_prefix(prefix).is_some_and(|n| !n.is_empty());
    !partition.is_empty()
        && region.is_empty()
        && is_account_id(account)
        && !arn.contains(['*', '?'])
        && match service {
            "iam" => resource == "root" || named("user/") || named("role/"),
            "sts" => named("assumed-role/") || named("federated-user/"),
            _ => false,
        }
}

/// Whether `arn` is the root principal (`arn:PARTITION:iam::ACCOUNT:root`) of `account`.
pub(crate) fn is_root_of(arn: &str, account: &str) -> bool {
    !account.is_empty()
        && parts(arn).is_some_and(|[_, _, service, _, acct, resource]| {
            service == "iam" && acct == account && resource == "root"
        })
}

/// Whether `session` (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`) is a session of the role
/// `role` (`arn:aws:iam::ACCT:role/PATH/NAME`; session ARNs do not carry the role's path).
pub(crate) fn is_session_of(session: &str, role: &str) -> bool {
    let (Some(s), Some(r)) = (parts(session), parts(role)) else {
        return false;
    };
    let session_role = s[5]
        .strip_prefix("assumed-role/")
        .and_then(|rest| rest.split('/').next());
    let role_name = r[5]
        .strip_prefix("role/")
        .and_then(|p| p.rsplit('/').next());
    s[2] == "sts"
        && r[2] == "iam"
        && s[1] == r[1]
        && s[4] == r[4]
        && session_role == role_name
        && role_name.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_forms() {
        assert_eq!(
            account("arn:aws:kms:us-east-1:111122223333:key/k"),
            "111122223333"
        );
        assert_eq!(account("kms.amazonaws.com"), "");
        assert!(like(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:eu-west-1:111122223333:key/abc"
        ));
        assert!(!like(
            "arn:aws:kms:*:111122223333:key/*",
            "arn:aws:kms:eu-west-1:444455556666:key/abc"
        ));
        assert!(
            !like("arn:aws:kms:us-*", "arn:aws:kms:us-east-1:1:key/k"),
            "wildcards stay in their component"
        );
        assert!(like("*", "arn:aws:kms:us-east-1:1:key/k"));
        assert!(is_principal("arn:aws:iam::111122223333:root"));
        assert!(is_principal("arn:aws:iam::111122223333:role/path/R"));
        assert!(is_principal("arn:aws:sts::111122223333:assumed-role/R/s"));
        assert!(!is_principal("arn:aws:iam::111122223333:user/*"));
        assert!(!is_principal("arn:aws:iam::1111:root"));
        assert!(!is_principal("arn:aws:s3:::bucket"));
        assert!(is_root_of("arn:aws:iam::111122223333:root", "111122223333"));
        assert!(!is_root_of(
            "arn:aws:iam::111122223333:user/root",
            "111122223333"
        ));
        assert!(is_session_of(
            "arn:aws:sts::111122223333:assumed-role/R/session",
            "arn:aws:iam::111122223333:role/team/R"
        ));
        assert!(!is_session_of(
            "arn:aws:sts::111122223333:assumed-role/R/session",
            "arn:aws:iam::444455556666:role/R"
        ));
        assert!(!is_session_of(
            "arn:aws:sts::111122223333:assumed-role/R2/session",
            "arn:aws:iam::111122223333:role/R"
        ));
    }
}
