//! [`PolicyError`]: why a policy document was rejected, shared by the grammar ([`crate::parse`])
//! and the condition block ([`crate::condition`]).

/// Why a policy document was rejected; `Display` gives AWS's MalformedPolicyDocumentException
/// message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The document is not a well-formed policy; the detail says what is wrong.
    #[error("Policy document is malformed: {0}")]
    Malformed(String),
    /// A `Principal` or `NotPrincipal` element names something that is not a valid principal.
    #[error("Policy contains a statement with one or more invalid principals.")]
    InvalidPrincipal,
}

/// A [`PolicyError::Malformed`] saying what is wrong.
pub(crate) fn malformed(detail: impl Into<String>) -> PolicyError {
    PolicyError::Malformed(detail.into())
}
