//! [`Member`]: a read-only view of a request shape's members by name, which every shape
//! declared with the `request!` macro implements ([`Members`]); authorization's condition keys
//! and the audit trail's request parameters read requests through it.

use super::{
    EncryptionContext, GrantConstraints, RecipientInfo, SecretText, Tag,
    XksProxyAuthenticationCredential,
};
use crate::Blob;

/// One member of a request, as it was sent.
#[derive(Debug, Clone, Copy)]
pub enum Member<'a> {
    /// A string.
    Text(&'a str),
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A number (timestamps: seconds since the epoch).
    Number(f64),
    /// Binary data (plaintexts, ciphertexts, messages, signatures, MACs, public keys).
    Blob(&'a Blob),
    /// A string-to-string map (an encryption context).
    Map(&'a EncryptionContext),
    /// A list of strings.
    List(&'a [String]),
    /// A list of tags.
    Tags(&'a [Tag]),
    /// A grant's constraints.
    Constraints(&'a GrantConstraints),
    /// A Nitro enclave recipient (its attestation document).
    Recipient(&'a RecipientInfo),
}

/// A request member's value as a [`Member`], if it was sent.
pub trait AsMember {
    /// The member, if present.
    fn as_member(&self) -> Option<Member<'_>>;
}

impl AsMember for Option<String> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.as_deref().map(Member::Text)
    }
}
impl AsMember for Option<bool> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.map(Member::Bool)
    }
}
impl AsMember for Option<i64> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.map(Member::Int)
    }
}
impl AsMember for Option<f64> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.map(Member::Number)
    }
}
impl AsMember for Option<Blob> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.as_ref().map(Member::Blob)
    }
}
impl AsMember for Option<EncryptionContext> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.as_ref().map(Member::Map)
    }
}
impl AsMember for Option<Vec<String>> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.as_deref().map(Member::List)
    }
}
impl AsMember for Option<Vec<Tag>> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.as_deref().map(Member::Tags)
    }
}
impl AsMember for Option<RecipientInfo> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.as_ref().map(Member::Recipient)
    }
}

// Secrets are never members: not in condition keys, not in the audit trail.
impl AsMember for Option<SecretText> {
    fn as_member(&self) -> Option<Member<'_>> {
        None
    }
}
impl AsMember for Option<XksProxyAuthenticationCredential> {
    fn as_member(&self) -> Option<Member<'_>> {
        None
    }
}

impl AsMember for Option<GrantConstraints> {
    fn as_member(&self) -> Option<Member<'_>> {
        self.as_ref().map(Member::Constraints)
    }
}

/// The members of a request shape, by field name (snake_case: `key_id`; the JSON name is its
/// PascalCase form, see [`crate::request::json_name`]).
pub trait Members {
    /// Calls `visit` with each member that was sent.
    fn visit_members(&self, visit: &mut dyn FnMut(&'static str, Member<'_>));
}
