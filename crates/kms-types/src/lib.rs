//! The vocabulary of Trent: identifiers, AWS enums, the KMS error type and the request and
//! response shapes of the AWS KMS JSON 1.1 protocol. No IO, no async, no crypto; time only
//! through the injected [`Clock`].
#![warn(missing_docs)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod blob;
mod clock;
mod enums;
mod error;
mod ids;
pub mod model;
mod operation;
pub mod request;
pub mod wire_version;

pub use blob::Blob;
pub use clock::{system_now_ms, Clock};
pub use enums::{
    parse_enum, AwsEnum, ConnectionErrorCode, ConnectionState, CustomKeyStoreType, DataKeyPairSpec,
    DataKeySpec, EncryptionAlgorithm, ExpirationModel, ImportState, ImportType, IncludeKeyMaterial,
    KeyAgreementAlgorithmSpec, KeyManager, KeyMaterialState, KeySpec, KeyState, KeyType, KeyUsage,
    MacAlgorithmSpec, MessageType, MultiRegionKeyType, Origin, RotationType, SigningAlgorithmSpec,
    WrappingAlgorithm, WrappingKeySpec, XksProxyConnectivityType,
};
pub use error::{KeyStoreError, KmsError, KmsResult};
pub use ids::{
    alias_arn, is_valid_key_id, key_arn, validate_alias_name_shape, validate_new_alias_name,
    KeyReference,
};
pub use model::members::Member;
pub use operation::Operation;
pub use request::KmsRequest;
