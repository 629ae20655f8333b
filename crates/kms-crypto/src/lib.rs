//! The ONLY crate in Trent that names `aws_lc_rs`: key material, the region root key, and the symmetric ciphertext format.
//!
//! Everything here is pure and synchronous; the only IO is reading and writing the root key file
//! ([`RootKey::load`], [`RootKey::create_file`]).
//!
//! Architecture invariant: key material plaintext never leaves this crate except as a
//! [`KeyMaterial`] (zeroized on drop, `Debug` prints `KeyMaterial(redacted)`). Material at rest is
//! wrapped by the [`RootKey`] into opaque bytes. The persistent formats (wrapped material and the
//! ciphertext blob, see [`ciphertext`]) are documented next to the code that writes them.
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod ciphertext;
mod error;
mod material;
mod primitives;
mod root_key;

pub use error::CryptoError;
pub use material::{KeyMaterial, MaterialId};
pub use primitives::{constant_time_eq, hmac_sha256, random_bytes, sha256};
pub use root_key::RootKey;
