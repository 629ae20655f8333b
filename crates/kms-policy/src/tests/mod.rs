//! Unit tests: parsing errors, evaluation, every condition operator, and properties.

mod conditions;
mod eval;
mod parse;
mod props;

use crate::*;

pub(crate) const ACCOUNT: &str = "111122223333";
pub(crate) const OTHER: &str = "444455556666";
pub(crate) const KEY: &str =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
pub(crate) const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

/// A key policy from statement JSON fragments.
pub(crate) fn key_policy(statements: &str) -> Policy {
    Policy::parse_key_policy(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
    ))
    .unwrap()
}

/// An identity policy from statement JSON fragments.
pub(crate) fn identity(statements: &str) -> Policy {
    Policy::parse(&format!(
        r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
    ))
    .unwrap()
}

pub(crate) fn request(principal: &str, action: &str) -> Request {
    Request::new(principal, action, KEY)
}

pub(crate) fn allow_all_identity() -> Policy {
    identity(r#"{"Effect":"Allow","Action":"*","Resource":"*"}"#)
}
