//! Custom key store backends, as a KMS node reaches them: the XKS Proxy API v1 (`xks_api`,
//! its wire types; `xks_client`, SigV4-signed HTTPS calls to a proxy) and HSM tokens through
//! PKCS#11 (`hsm`: AES keys generated and used inside the token, never extractable).
//!
//! Nothing here knows Raft, key records or AWS's KMS errors: callers map [`xks_client::XksError`]
//! and [`hsm::HsmError`] to them.

pub mod hsm;
pub mod xks_api;
pub mod xks_client;
