//! Who may call Trent, and what they may do.
//!
//! - [`identities`]: the access keys of the node config (the account's root user), IAM users
//!   and roles from the reloadable identities file, and STS session tokens.
//! - [`sts`]: AssumeRole and GetCallerIdentity.
//! - [`session_token`]: the session token's format and the region's keys that seal it.
//! - [`caller`]: the [`Caller`] of one request (principal, action, condition keys), built once
//!   per request and passed down explicitly.
//! - [`condition_keys`]: the condition keys a request supplies.
//! - [`authorizer`]: evaluation against key policy, identity policies and grants; the lockout
//!   check.
//! - [`grant_tokens`]: the grant-token format.
//! - [`audit`]: the `RequestObserver` that writes the node's audit log.
//!
//! This crate decides; it does not commit anything. The grant *operations* (CreateGrant,
//! RetireGrant, ...) are KMS operations that commit through Raft and stay in the KMS service;
//! this crate evaluates the grants they stored.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod audit;
pub mod authorizer;
pub mod caller;
pub mod condition_keys;
pub mod grant_tokens;
pub mod identities;
pub mod session_token;
pub mod sts;

pub use authorizer::Authorizer;
pub use caller::{action_for, is_account_level, Caller};
pub use identities::{IdentityStore, PrincipalInfo, RootCredential, Signer};

/// Why identities or the audit trail could not be set up (a file that does not parse, a key
/// that does not open): the node refuses to start, or keeps the previous identities.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(String);

impl SetupError {
    /// An error with this explanation.
    pub fn new(why: impl Into<String>) -> SetupError {
        SetupError(why.into())
    }
}

/// `SetupError::new(format!(...))`.
macro_rules! setup_error {
    ($($arg:tt)*) => {
        $crate::SetupError::new(format!($($arg)*))
    };
}
pub(crate) use setup_error;

/// `return Err(setup_error!(...))`.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::setup_error!($($arg)*))
    };
}
pub(crate) use bail;
