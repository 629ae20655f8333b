//! An XKS error answer ([`Failure`]): an error name (and so its HTTP status) with a message,
//! answered as the spec's JSON error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use kms_keystore::xks_api::{ErrorBody, ErrorName};

use crate::backend::BackendError;

/// An XKS error answer: its name (and so its status) and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The `errorName`.
    pub name: ErrorName,
    /// The `errorMessage` (KMS logs it to CloudWatch; never a secret or plaintext).
    pub message: String,
}

impl Failure {
    /// A failure named `name`.
    pub fn new(name: ErrorName, message: impl Into<String>) -> Failure {
        Failure {
            name,
            message: message.into(),
        }
    }

    /// The answer to a backend failure.
    pub fn from_backend(e: BackendError) -> Failure {
        match e {
            BackendError::KeyNotFound(id) => Failure::new(
                ErrorName::KeyNotFound,
                format!("the key manager holds no key {id:?}"),
            ),
            BackendError::DecryptFailed => Failure::new(
                ErrorName::InvalidCiphertext,
                "the ciphertext, initialization vector, AAD, metadata or tag is invalid",
            ),
            BackendError::InvalidInput(what) => Failure::new(ErrorName::Validation, what),
            BackendError::KeyUnusable(why) => Failure::new(
                ErrorName::InvalidState,
                format!("the key manager refuses the key: {why}"),
            ),
            BackendError::Unreachable(why) => {
                tracing::warn!(error = %why, "the key manager is unreachable");
                Failure::new(
                    ErrorName::DependencyTimeout,
                    format!("the key manager did not answer: {why}"),
                )
            }
            BackendError::Throttled(why) => Failure::new(
                ErrorName::Throttling,
                format!("the key manager throttles the proxy: {why}"),
            ),
            BackendError::KeyExists(_) | BackendError::Unavailable(_) => {
                tracing::error!(error = %e, "the key manager failed");
                Failure::new(ErrorName::Internal, format!("the key manager failed: {e}"))
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.name.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody::new(self.name, &self.message))).into_response()
    }
}
