//! The ONLY crate in Trent that names `aws_lc_rs`: key material, the region root key, the
//! symmetric ciphertext format, and the pure crypto of every other AWS KMS key spec
//! ([`KeyKind`]): key generation and public keys ([`generate`], [`public_key_der`]), signatures
//! ([`sign`], [`verify`]), RSA-OAEP ([`rsa_encrypt`], [`rsa_decrypt`]), SM2PKE
//! ([`sm2_encrypt`], [`sm2_decrypt`]), HMAC ([`hmac_generate`], [`hmac_verify`]) and ECDH
//! ([`derive_shared_secret`]); SM2 (the China Regions' key spec) with RustCrypto's `sm2`, which
//! AWS-LC lacks; sealing key
//! material to another region ([`transport`]: [`seal_material`], [`TransportKey`]); and raw
//! AES-256-GCM with a separate IV and tag for keys kept outside these formats ([`aead`]: the
//! XKS proxy's keys that a KMS unwraps for it). Every binding format (what a wrap or a seal
//! is bound to) is built here: [`WrapContext`], [`SealContext`]. It also supplies the rustls
//! provider of every TLS configuration ([`tls_provider`]), and the Shamir split of a seal key
//! ([`shamir`]). The keys of STS session tokens, one per region and one per pair of linked
//! regions, are [`session_keys`]. Imported key material (wrapping keys, unwrapping, AWS's checks) is
//! [`import`].
//!
//! The [`Keyring`] holds the root key and the later generations of the key that wraps material.
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

pub mod aead;
pub mod agreement;
pub mod asymmetric;
pub mod ciphertext;
mod context;
mod error;
pub mod import;
mod keyring;
mod kind;
pub mod mac;
mod material;
mod primitives;
mod root_key;
pub mod session_keys;
pub mod shamir;
pub mod store_ciphertext;
mod tls;
pub mod transport;

#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod test_keys;

pub use agreement::derive_shared_secret;
pub use asymmetric::{
    generate, public_key_der, rsa_decrypt, rsa_encrypt, sign, sm2_decrypt, sm2_encrypt, verify,
    GeneratedKey, MessageType, RsaEncryptionAlgorithm, SigningAlgorithm, SM2PKE_MAX_PLAINTEXT,
    SM2_DISTINGUISHING_ID,
};
pub use context::{SealContext, WrapContext};
pub use error::CryptoError;
pub use import::{
    check_imported_material, generate_wrapping_key, imported_material_id, unwrap_imported,
    ImportWrappingAlgorithm,
};
pub use keyring::{wrapped_generation, Keyring};
pub use kind::KeyKind;
pub use mac::{hmac_generate, hmac_verify};
pub use material::{KeyMaterial, MaterialId};
pub use primitives::{constant_time_eq, hmac_sha256, random_bytes, sha256};
pub use root_key::RootKey;
pub use tls::{install_tls_provider, tls_provider};
pub use transport::{seal_material, TransportKey};
