//! The AWS JSON 1.1 front door: HTTP, X-Amz-Target dispatch, SigV4, body limits and error mapping.
//!
//! [`router`] turns an [`ApiConfig`] and a [`KmsService`] into an axum [`Router`](axum::Router)
//! answering `POST /` the way AWS KMS does. Every request is checked, in order, for: its body
//! size, its `X-Amz-Target`, its SigV4 signature ([`sigv4`]), its `Content-Type` and a JSON
//! object body; only then is it handed to [`KmsService::call`] as a [`RequestContext`], the
//! caller [`KmsService::resolve`] made of the signer, and the typed
//! [`KmsRequest`](kms_types::KmsRequest) parsed once from the body. Errors become `{"__type": ..., "message": ...}` with the status
//! [`KmsError::http_status`](kms_types::KmsError::http_status) gives.
//!
//! A request signed for another region than the service's [`KmsService::home_region`] is kept
//! as its caller signed it ([`SignedRequest`], in [`RequestContext::forward`]); the home region
//! runs the same checks on it again with [`serve_forwarded`] (see [`forwarded`]).
//!
//! Architecture invariant: this crate never names openraft or RocksDB types and knows nothing
//! of how operations are executed; it sees only [`KmsService`].
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
pub mod forwarded;
mod router;
pub mod sigv4;
pub mod sts;

pub use config::{
    ApiConfig, Clock, Identity, IdentityKind, RequestObserver, RequestRecord,
    DEFAULT_MAX_BODY_BYTES,
};
pub use forwarded::{ForwardedBy, SignedRequest};
pub use router::{
    router, serve_forwarded, Caller, KmsService, RequestContext, SecureTransport,
    JSON_CONTENT_TYPE, REQUEST_ID_HEADER, TARGET_PREFIX,
};
pub use sigv4::{CredentialStore, Principal};
