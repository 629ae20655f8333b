//! The grant-token format (CreateGrant returns a token; requests may carry tokens in
//! `GrantTokens`).
//!
//! A token is `base64url(version 1 ‖ len(key id) ‖ key id ‖ grant id (32 bytes) ‖ digest)`,
//! where the digest is the first 16 bytes of SHA-256 over a canonical encoding of every grant
//! parameter (key, id, name, creation time, grantee, retiring principal, issuing account,
//! operations, constraints). A token does **not** authorize by its own content: it only names
//! a grant, and the grant as stored in the replicated state decides. This needs no secret (a
//! forged token names at most a grant the caller could use anyway, and a token whose digest
//! does not match the stored grant is refused with InvalidGrantTokenException), and it cannot
//! make a token outlive its grant: once the grant is retired or revoked, its token allows
//! nothing.
//!
//! AWS needs tokens because its grants are eventually consistent. Trent's are not within a
//! region: CreateGrant answers only after its command is committed and applied, and every
//! request is authorized after a linearizable read (read index: the node waits until it has
//! applied the leader's commit index), so a request carrying a token that a client received
//! from CreateGrant, sent to any node of the region, always sees the grant. That read barrier
//! is the "wait until the grant is visible"; a token whose grant is absent after it names a
//! grant that was retired, revoked or never created, and is ignored. (An HMAC-authenticated
//! token that authorizes before its grant is visible would need a region-wide secret, which
//! `kms-crypto` does not derive, and buys nothing given the read barrier.)

use base64::Engine;
use kms_core::GrantRecord;
use kms_types::{is_valid_key_id, KmsError};

const TOKEN_VERSION: u8 = 1;
const TOKEN_DIGEST_LEN: usize = 16;

/// What a grant token names.
#[derive(Debug, Clone)]
pub struct GrantTokenRef {
    /// The grant's key id.
    pub key_id: String,
    /// The grant id.
    pub grant_id: String,
    digest: [u8; TOKEN_DIGEST_LEN],
}

impl GrantTokenRef {
    /// Whether this token was issued for `grant` as it is stored.
    pub fn matches(&self, grant: &GrantRecord) -> bool {
        grant.key_id == self.key_id
            && grant.grant_id == self.grant_id
            && kms_crypto::constant_time_eq(&token_digest(grant), &self.digest)
    }
}

fn token_digest(grant: &GrantRecord) -> [u8; TOKEN_DIGEST_LEN] {
    let mut canonical = b"trent grant token v1".to_vec();
    let mut field = |bytes: &[u8]| {
        canonical.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
        canonical.extend_from_slice(bytes);
    };
    field(grant.key_id.as_bytes());
    field(grant.grant_id.as_bytes());
    field(grant.name.as_deref().unwrap_or("").as_bytes());
    field(&[u8::from(grant.name.is_some())]);
    field(&grant.creation_ms.to_be_bytes());
    field(grant.grantee_principal.as_bytes());
    field(grant.retiring_principal.as_deref().unwrap_or("").as_bytes());
    field(&[u8::from(grant.retiring_principal.is_some())]);
    field(grant.issuing_account.as_bytes());
    field(&(grant.operations.len() as u64).to_be_bytes());
    for operation in &grant.operations {
        field(operation.as_bytes());
    }
    let constraints = grant.constraints.clone().unwrap_or_default();
    for map in [
        constraints.encryption_context_equals,
        constraints.encryption_context_subset,
    ] {
        field(&[u8::from(map.is_some())]);
        let map = map.unwrap_or_default();
        field(&(map.len() as u64).to_be_bytes());
        for (k, v) in &map {
            field(k.as_bytes());
            field(v.as_bytes());
        }
    }
    let digest = kms_crypto::sha256(&canonical);
    let mut out = [0u8; TOKEN_DIGEST_LEN];
    out.copy_from_slice(&digest[..TOKEN_DIGEST_LEN]);
    out
}

/// The grant token CreateGrant returns for `grant`.
pub fn grant_token(grant: &GrantRecord) -> String {
    let mut bytes = vec![TOKEN_VERSION, grant.key_id.len() as u8];
    bytes.extend_from_slice(grant.key_id.as_bytes());
    bytes.extend_from_slice(&hex::decode(&grant.grant_id).unwrap_or_default());
    bytes.extend_from_slice(&token_digest(grant));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// AWS's InvalidGrantTokenException.
pub fn invalid_token() -> KmsError {
    KmsError::InvalidGrantToken("The grant token is not valid.".into())
}

/// Decodes a grant token; anything Trent did not issue is InvalidGrantTokenException.
pub fn decode_grant_token(token: &str) -> Result<GrantTokenRef, KmsError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid_token())?;
    let (&version, rest) = bytes.split_first().ok_or_else(invalid_token)?;
    let (&key_len, rest) = rest.split_first().ok_or_else(invalid_token)?;
    let key_len = usize::from(key_len);
    if version != TOKEN_VERSION || rest.len() != key_len + 32 + TOKEN_DIGEST_LEN {
        return Err(invalid_token());
    }
    let key_id = std::str::from_utf8(&rest[..key_len]).map_err(|_| invalid_token())?;
    if !is_valid_key_id(key_id) {
        return Err(invalid_token());
    }
    let mut digest = [0u8; TOKEN_DIGEST_LEN];
    digest.copy_from_slice(&rest[key_len + 32..]);
    Ok(GrantTokenRef {
        key_id: key_id.to_string(),
        grant_id: hex::encode(&rest[key_len..key_len + 32]),
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant() -> GrantRecord {
        GrantRecord {
            key_id: "11111111-2222-3333-4444-555555555555".into(),
            grant_id: "ab".repeat(32),
            name: Some("n".into()),
            creation_ms: 5,
            grantee_principal: "arn:aws:iam::111122223333:user/bob".into(),
            retiring_principal: None,
            issuing_account: "arn:aws:iam::111122223333:root".into(),
            operations: vec!["Encrypt".into()],
            constraints: None,
        }
    }

    #[test]
    fn tokens_round_trip_and_bind_the_grant() {
        let token = grant_token(&grant());
        let decoded = decode_grant_token(&token).unwrap();
        assert_eq!(decoded.key_id, grant().key_id);
        assert_eq!(decoded.grant_id, grant().grant_id);
        assert!(decoded.matches(&grant()));
        let mut other = grant();
        other.operations.push("Decrypt".into());
        assert!(!decoded.matches(&other));
        for bad in ["", "not a token", &token[..token.len() - 2], "AQ"] {
            assert!(matches!(
                decode_grant_token(bad),
                Err(KmsError::InvalidGrantToken(_))
            ));
        }
    }
}
