//! The one error type every Trent crate returns to a KMS caller: one variant per AWS error code.
//!
//! The HTTP status and the `__type` each variant maps to live here, in one exhaustive `match`, so
//! the API layer never invents a code of its own. Messages are the caller-visible `message`.

use serde::{Deserialize, Serialize};

/// An AWS KMS error: the exception name AWS uses (`__type`) and its message.
///
/// Crypto failures carry no detail (`InvalidCiphertext` says nothing about why), so a caller
/// cannot use them as an oracle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[allow(missing_docs)] // each variant is the AWS exception of the same name
pub enum KmsError {
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    DependencyTimeout(String),
    #[error("{0}")]
    Disabled(String),
    #[error("{0}")]
    IncorrectKey(String),
    #[error("{0}")]
    InvalidAliasName(String),
    #[error("{0}")]
    InvalidArn(String),
    /// Opaque on purpose: a tampered, truncated or foreign ciphertext all look the same.
    #[error("")]
    InvalidCiphertext,
    #[error("{0}")]
    InvalidGrantToken(String),
    #[error("{0}")]
    InvalidKeyUsage(String),
    #[error("{0}")]
    InvalidMarker(String),
    #[error("{0}")]
    KmsInternal(String),
    #[error("{0}")]
    KmsInvalidState(String),
    #[error("{0}")]
    KeyUnavailable(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    MalformedPolicyDocument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Tag(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    Validation(String),
    #[error("{0}")]
    AccessDenied(String),
    // Protocol and authentication errors, raised before an operation runs.
    #[error("{0}")]
    UnknownOperation(String),
    #[error("{0}")]
    Serialization(String),
    #[error("{0}")]
    MissingAuthenticationToken(String),
    #[error("{0}")]
    IncompleteSignature(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("{0}")]
    UnrecognizedClient(String),
    /// Temporary credentials (an STS session token) past their expiry.
    #[error("{0}")]
    ExpiredToken(String),
    #[error("{0}")]
    Throttling(String),
    #[error("{0}")]
    RequestEntityTooLarge(String),
    #[error("{0}")]
    DryRunOperation(String),
    /// A CustomKeyStoreId that names no custom key store.
    #[error("{0}")]
    CustomKeyStoreNotFound(String),
    /// AWS's answer to creating an alias under the reserved `alias/aws/` prefix.
    #[error("{0}")]
    NotAuthorized(String),
    #[error("{0}")]
    Conflict(String),
    /// Opaque on purpose, like `InvalidCiphertext`.
    #[error("")]
    KmsInvalidSignature,
    /// Opaque on purpose, like `InvalidCiphertext`.
    #[error("")]
    KmsInvalidMac,
    #[error("{0}")]
    IncorrectKeyMaterial(String),
    #[error("{0}")]
    ExpiredImportToken(String),
    #[error("{0}")]
    InvalidImportToken(String),
    /// One of the custom key store exceptions (all HTTP 400), by [`KeyStoreError`].
    #[error("{1}")]
    KeyStore(KeyStoreError, String),
}

/// The custom key store exceptions: the stores' states and names, their CloudHSM clusters
/// and trust anchors, external keys and external key store proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // each variant is the AWS exception of the same name
pub enum KeyStoreError {
    CustomKeyStoreInvalidState,
    CustomKeyStoreNameInUse,
    CustomKeyStoreHasCmks,
    CloudHsmClusterInUse,
    CloudHsmClusterNotFound,
    CloudHsmClusterNotActive,
    CloudHsmClusterInvalidConfiguration,
    CloudHsmClusterNotRelated,
    IncorrectTrustAnchor,
    XksKeyAlreadyInUse,
    XksKeyInvalidConfiguration,
    XksKeyNotFound,
    XksProxyIncorrectAuthenticationCredential,
    XksProxyInvalidConfiguration,
    XksProxyInvalidResponse,
    XksProxyUriEndpointInUse,
    XksProxyUriInUse,
    XksProxyUriUnreachable,
    XksProxyVpcEndpointServiceInUse,
    XksProxyVpcEndpointServiceInvalidConfiguration,
    XksProxyVpcEndpointServiceNotFound,
}

impl KeyStoreError {
    /// The exception name AWS puts in `__type`.
    pub fn aws_code(&self) -> &'static str {
        use KeyStoreError::*;
        match self {
            CustomKeyStoreInvalidState => "CustomKeyStoreInvalidStateException",
            CustomKeyStoreNameInUse => "CustomKeyStoreNameInUseException",
            CustomKeyStoreHasCmks => "CustomKeyStoreHasCMKsException",
            CloudHsmClusterInUse => "CloudHsmClusterInUseException",
            CloudHsmClusterNotFound => "CloudHsmClusterNotFoundException",
            CloudHsmClusterNotActive => "CloudHsmClusterNotActiveException",
            CloudHsmClusterInvalidConfiguration => "CloudHsmClusterInvalidConfigurationException",
            CloudHsmClusterNotRelated => "CloudHsmClusterNotRelatedException",
            IncorrectTrustAnchor => "IncorrectTrustAnchorException",
            XksKeyAlreadyInUse => "XksKeyAlreadyInUseException",
            XksKeyInvalidConfiguration => "XksKeyInvalidConfigurationException",
            XksKeyNotFound => "XksKeyNotFoundException",
            XksProxyIncorrectAuthenticationCredential => {
                "XksProxyIncorrectAuthenticationCredentialException"
            }
            XksProxyInvalidConfiguration => "XksProxyInvalidConfigurationException",
            XksProxyInvalidResponse => "XksProxyInvalidResponseException",
            XksProxyUriEndpointInUse => "XksProxyUriEndpointInUseException",
            XksProxyUriInUse => "XksProxyUriInUseException",
            XksProxyUriUnreachable => "XksProxyUriUnreachableException",
            XksProxyVpcEndpointServiceInUse => "XksProxyVpcEndpointServiceInUseException",
            XksProxyVpcEndpointServiceInvalidConfiguration => {
                "XksProxyVpcEndpointServiceInvalidConfigurationException"
            }
            XksProxyVpcEndpointServiceNotFound => "XksProxyVpcEndpointServiceNotFoundException",
        }
    }
}

impl KmsError {
    /// The exception name AWS puts in `__type`.
    pub fn aws_code(&self) -> &'static str {
        match self {
            KmsError::AlreadyExists(_) => "AlreadyExistsException",
            KmsError::DependencyTimeout(_) => "DependencyTimeoutException",
            KmsError::Disabled(_) => "DisabledException",
            KmsError::IncorrectKey(_) => "IncorrectKeyException",
            KmsError::InvalidAliasName(_) => "InvalidAliasNameException",
            KmsError::InvalidArn(_) => "InvalidArnException",
            KmsError::InvalidCiphertext => "InvalidCiphertextException",
            KmsError::InvalidGrantToken(_) => "InvalidGrantTokenException",
            KmsError::InvalidKeyUsage(_) => "InvalidKeyUsageException",
            KmsError::InvalidMarker(_) => "InvalidMarkerException",
            KmsError::KmsInternal(_) => "KMSInternalException",
            KmsError::KmsInvalidState(_) => "KMSInvalidStateException",
            KmsError::KeyUnavailable(_) => "KeyUnavailableException",
            KmsError::LimitExceeded(_) => "LimitExceededException",
            KmsError::MalformedPolicyDocument(_) => "MalformedPolicyDocumentException",
            KmsError::NotFound(_) => "NotFoundException",
            KmsError::Tag(_) => "TagException",
            KmsError::UnsupportedOperation(_) => "UnsupportedOperationException",
            KmsError::Validation(_) => "ValidationException",
            KmsError::AccessDenied(_) => "AccessDeniedException",
            KmsError::UnknownOperation(_) => "UnknownOperationException",
            KmsError::Serialization(_) => "SerializationException",
            KmsError::MissingAuthenticationToken(_) => "MissingAuthenticationTokenException",
            KmsError::IncompleteSignature(_) => "IncompleteSignatureException",
            KmsError::InvalidSignature(_) => "InvalidSignatureException",
            KmsError::UnrecognizedClient(_) => "UnrecognizedClientException",
            KmsError::ExpiredToken(_) => "ExpiredTokenException",
            KmsError::Throttling(_) => "ThrottlingException",
            KmsError::RequestEntityTooLarge(_) => "RequestEntityTooLargeException",
            KmsError::DryRunOperation(_) => "DryRunOperationException",
            KmsError::NotAuthorized(_) => "NotAuthorizedException",
            KmsError::CustomKeyStoreNotFound(_) => "CustomKeyStoreNotFoundException",
            KmsError::Conflict(_) => "ConflictException",
            KmsError::KmsInvalidSignature => "KMSInvalidSignatureException",
            KmsError::KmsInvalidMac => "KMSInvalidMacException",
            KmsError::IncorrectKeyMaterial(_) => "IncorrectKeyMaterialException",
            KmsError::ExpiredImportToken(_) => "ExpiredImportTokenException",
            KmsError::InvalidImportToken(_) => "InvalidImportTokenException",
            KmsError::KeyStore(which, _) => which.aws_code(),
        }
    }

    /// The HTTP status AWS KMS answers this error with (botocore's `httpStatusCode`).
    pub fn http_status(&self) -> u16 {
        match self {
            KmsError::Disabled(_) | KmsError::KmsInvalidState(_) | KmsError::Conflict(_) => 409,
            KmsError::KmsInternal(_) | KmsError::KeyUnavailable(_) => 500,
            KmsError::DependencyTimeout(_) => 503,
            KmsError::RequestEntityTooLarge(_) => 413,
            KmsError::MissingAuthenticationToken(_) => 403,
            KmsError::AlreadyExists(_)
            | KmsError::IncorrectKey(_)
            | KmsError::InvalidAliasName(_)
            | KmsError::InvalidArn(_)
            | KmsError::InvalidCiphertext
            | KmsError::KmsInvalidSignature
            | KmsError::KmsInvalidMac
            | KmsError::InvalidGrantToken(_)
            | KmsError::InvalidKeyUsage(_)
            | KmsError::InvalidMarker(_)
            | KmsError::LimitExceeded(_)
            | KmsError::MalformedPolicyDocument(_)
            | KmsError::NotFound(_)
            | KmsError::Tag(_)
            | KmsError::UnsupportedOperation(_)
            | KmsError::Validation(_)
            | KmsError::AccessDenied(_)
            | KmsError::UnknownOperation(_)
            | KmsError::Serialization(_)
            | KmsError::IncompleteSignature(_)
            | KmsError::InvalidSignature(_)
            | KmsError::UnrecognizedClient(_)
            | KmsError::ExpiredToken(_)
            | KmsError::Throttling(_)
            | KmsError::IncorrectKeyMaterial(_)
            | KmsError::ExpiredImportToken(_)
            | KmsError::InvalidImportToken(_)
            // The API reference lists 412, but AWS's recorded DryRun responses are 400.
            | KmsError::DryRunOperation(_)
            | KmsError::NotAuthorized(_)
            | KmsError::CustomKeyStoreNotFound(_)
            | KmsError::KeyStore(..) => 400,
        }
    }

    /// The caller-visible message (`message` in the JSON body).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// True for errors a client may retry unchanged (leader elections, timeouts).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KmsError::KmsInternal(_) | KmsError::DependencyTimeout(_) | KmsError::Throttling(_)
        )
    }
}

/// Result alias used across Trent's crates.
pub type KmsResult<T> = Result<T, KmsError>;
