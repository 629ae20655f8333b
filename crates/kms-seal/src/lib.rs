//! The root of trust of a node: how a region's root key rests on disk only sealed, and how a
//! node unseals it ([`SealConfig`]: Shamir shares typed in by operators, a key in an HSM
//! through PKCS#11, or a key in another AWS-KMS-compatible service); the sealed file
//! ([`SealedRootKey`]); bringing a root key under its seal, including one an earlier version
//! left in plaintext ([`ensure_sealed`], [`init_shamir`]); and the checks on the files that hold secrets ([`secret_file`]).
//!
//! Every wrap of the root key is bound to its region (`WrapContext::sealed_root_key`, the
//! AES-GCM AAD for the Shamir and PKCS#11 seals, the encryption context for the KMS seal).
//! The crypto of the Shamir seal is kms-crypto's; the PKCS#11 and KMS seals hand the root key's
//! bytes to the HSM or the remote KMS and keep only what they return.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
pub mod pkcs11;
mod prepare;
pub mod remote_kms;
mod sealed;
pub mod secret_file;

pub use config::{KmsSealConfig, Pkcs11Config, SealConfig, ShamirConfig};
pub use prepare::{destroy_plaintext, ensure_sealed, init_shamir, Prepared};
pub use sealed::{seal_auto, unseal_auto, SealedRootKey, ShamirParams};

/// Why a seal could not seal or unseal, or a secret file was refused: said for the operator.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SealError(pub String);

impl SealError {
    pub(crate) fn new(message: impl Into<String>) -> SealError {
        SealError(message.into())
    }
}
