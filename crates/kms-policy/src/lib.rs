//! AWS IAM policy parsing and evaluation as KMS uses it, so Trent can enforce key policies.
//!
//! Pure code: no IO, no clock, no async. Parse a document once with [`Policy::parse_key_policy`]
//! (key policies: every statement names a principal) or [`Policy::parse`] (identity policies),
//! then [`evaluate`] any number of [`Request`]s against it:
//!
//! ```
//! use kms_policy::{default_key_policy, evaluate, Decision, Policy, Request};
//!
//! let key_policy = Policy::parse_key_policy(&default_key_policy("111122223333"))?;
//! let alice = Policy::parse(
//!     r#"{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "kms:Encrypt",
//!         "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:dept": "hr"}}}}"#,
//! )?;
//! let request = Request::new(
//!     "arn:aws:iam::111122223333:user/alice",
//!     "kms:Encrypt",
//!     "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
//! )
//! .with_context("kms:EncryptionContext:dept", ["hr"]);
//! // The default policy delegates to IAM: Alice's identity policy decides.
//! assert_eq!(evaluate(&request, &key_policy, &[alice]), Decision::Allow);
//! assert_eq!(evaluate(&request, &key_policy, &[]), Decision::ImplicitDeny);
//! # Ok::<(), kms_policy::PolicyError>(())
//! ```
//!
//! Covered: the policy grammar (`Version`, `Id`, `Statement`, `Sid`, `Effect`,
//! `Principal`/`NotPrincipal`, `Action`/`NotAction`, `Resource`/`NotResource`, `Condition`),
//! AWS's error texts ([`PolicyError`]), every IAM condition operator with `...IfExists` and the
//! `ForAnyValue:`/`ForAllValues:` qualifiers, KMS's key-policy/IAM combination including
//! account-root delegation and cross-account access ([`evaluate`]), the lockout safety check
//! ([`allows_future_put_key_policy`]) and the default key policy ([`default_key_policy`]).
//!
//! Not covered: policy variables (`${aws:username}`, `${aws:PrincipalTag/x}`, …) are not
//! substituted, so a value containing one is compared literally; grants, SCPs, permission
//! boundaries and session policies are outside this crate; `BinaryEquals` compares the base64
//! text, so request values must be canonical base64.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod arn;
mod condition;
mod error;
mod eval;
mod parse;
#[cfg(test)]
mod tests;
mod wildcard;

pub use error::PolicyError;
pub use eval::{allows_future_put_key_policy, evaluate, Decision, Request};
pub use parse::{Effect, Policy, Statement};

/// The key policy KMS gives a key created without one, exactly as AWS's GetKeyPolicy prints it:
/// it allows the account root, so the account's IAM policies decide access.
pub fn default_key_policy(account: &str) -> String {
    format!(
        "{{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {{\n    \
         \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n    \"Principal\" : {{\n      \
         \"AWS\" : \"arn:aws:iam::{account}:root\"\n    }},\n    \"Action\" : \"kms:*\",\n    \
         \"Resource\" : \"*\"\n  }} ]\n}}"
    )
}
