//! The session token STS hands out, and the keys that seal and open it. Each region seals the
//! sessions it makes with keys of its own (`kms_crypto::session_keys`): one for itself, derived
//! from its root key, and one shared with each linked peer region. A token carries the session
//! sealed once per region that may check it, so credentials made in one region sign requests in
//! its peers (as AWS's regional STS credentials do) without any region holding a key that
//! lets it speak for another: a region can only open, and so only make, the entries addressed
//! to itself.
//!
//! Token (base64 of):
//! ```text
//! 0x02 | issuer_len (u8) | issuer | count (u8) | count × (verifier_len (u8) | verifier | sealed_len (u16 BE) | sealed)
//! ```
//! `sealed` is the session's JSON wrapped ([`RootKey::wrap`]) with the key of the pair
//! (issuer, verifier), bound to [`WrapContext::sts_session`]`(issuer, verifier)`.

use std::collections::BTreeMap;

use base64::Engine;
use kms_crypto::{KeyMaterial, RootKey, WrapContext};

const TOKEN_VERSION: u8 = 2;

/// A region's session-token keys: its own, and the one it shares with each peer region whose
/// transport key it has learned.
pub struct SessionKeys {
    region: String,
    own: RootKey,
    peers: BTreeMap<String, RootKey>,
}

impl SessionKeys {
    /// The keys of `region`, with its own key `own` (`RootKey::sts_session_key`) and no peers
    /// yet.
    pub fn new(region: &str, own: RootKey) -> SessionKeys {
        SessionKeys {
            region: region.to_string(),
            own,
            peers: BTreeMap::new(),
        }
    }

    /// Adds (or replaces) the key shared with `peer`.
    pub fn add_peer(&mut self, peer: &str, key: RootKey) {
        if peer != self.region {
            self.peers.insert(peer.to_string(), key);
        }
    }

    /// The peer regions whose shared key is known.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        self.peers.keys().map(String::as_str)
    }

    /// A token holding `session` for this region and every known peer.
    pub fn seal(&self, session: &[u8]) -> String {
        let mut out = vec![TOKEN_VERSION];
        push_short(&mut out, self.region.as_bytes());
        let verifiers: Vec<(&str, &RootKey)> = std::iter::once((self.region.as_str(), &self.own))
            .chain(self.peers.iter().map(|(r, k)| (r.as_str(), k)))
            .collect();
        out.push(u8::try_from(verifiers.len()).unwrap_or(u8::MAX));
        for (verifier, key) in verifiers.into_iter().take(usize::from(u8::MAX)) {
            let sealed = key.wrap(
                &KeyMaterial::from_bytes(session.to_vec()),
                &WrapContext::sts_session(&self.region, verifier),
            );
            push_short(&mut out, verifier.as_bytes());
            let len = u16::try_from(sealed.len()).unwrap_or(u16::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&sealed[..usize::from(len)]);
        }
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    /// The session in `token`, if the token holds an entry for this region that opens with the
    /// key of its issuer: this region's own, or a peer's shared key. `None` for anything else
    /// (another format, an unknown issuer, a tampered or truncated token).
    pub fn open(&self, token: &str) -> Option<KeyMaterial> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        let (&version, rest) = bytes.split_first()?;
        if version != TOKEN_VERSION {
            return None;
        }
        let (issuer, rest) = short(rest)?;
        let issuer = std::str::from_utf8(issuer).ok()?;
        let key = if issuer == self.region {
            &self.own
        } else {
            self.peers.get(issuer)?
        };
        // The whole token is read first: a truncated or padded one is refused, whichever entry
        // is this region's.
        let (&count, mut rest) = rest.split_first()?;
        let mut mine = None;
        for _ in 0..count {
            let (verifier, after) = short(rest)?;
            let (len, after) = after.split_first_chunk::<2>()?;
            let (sealed, after) = after.split_at_checked(usize::from(u16::from_be_bytes(*len)))?;
            if verifier == self.region.as_bytes() {
                mine = Some(sealed);
            }
            rest = after;
        }
        if !rest.is_empty() {
            return None;
        }
        key.unwrap(mine?, &WrapContext::sts_session(issuer, &self.region))
            .ok()
    }
}

/// Appends a one-byte length and `bytes` (cut to 255 bytes; region names are short).
fn push_short(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u8::try_from(bytes.len()).unwrap_or(u8::MAX);
    out.push(len);
    out.extend_from_slice(&bytes[..usize::from(len)]);
}

/// Splits a one-byte length and that many bytes off the front of `bytes`.
fn short(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    rest.split_at_checked(usize::from(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three regions; east and west are linked, north is linked to neither.
    fn regions() -> (SessionKeys, SessionKeys, SessionKeys) {
        let roots: Vec<RootKey> = (0..3).map(|_| RootKey::generate()).collect();
        let transport: Vec<_> = roots.iter().map(RootKey::transport_key).collect();
        let mut east = SessionKeys::new("us-east-1", roots[0].sts_session_key());
        let mut west = SessionKeys::new("us-west-2", roots[1].sts_session_key());
        let north = SessionKeys::new("eu-north-1", roots[2].sts_session_key());
        east.add_peer(
            "us-west-2",
            transport[0]
                .peer_session_key("us-east-1", "us-west-2", &transport[1].public_key())
                .unwrap(),
        );
        west.add_peer(
            "us-east-1",
            transport[1]
                .peer_session_key("us-west-2", "us-east-1", &transport[0].public_key())
                .unwrap(),
        );
        (east, west, north)
    }

    #[test]
    fn a_token_opens_in_its_region_and_its_linked_peers_only() {
        let (east, west, north) = regions();
        let token = east.seal(b"session");
        assert_eq!(east.open(&token).unwrap().as_bytes(), b"session");
        assert_eq!(west.open(&token).unwrap().as_bytes(), b"session");
        assert!(north.open(&token).is_none());
        let back = west.seal(b"other");
        assert_eq!(east.open(&back).unwrap().as_bytes(), b"other");
    }

    #[test]
    fn a_region_cannot_make_a_token_that_its_peer_takes_as_another_regions() {
        let (east, west, north) = regions();
        // north names east as the issuer and addresses west: west opens it with its key for
        // east, which north does not have.
        let mut forged = SessionKeys::new("us-east-1", RootKey::generate().sts_session_key());
        forged.peers.insert("us-west-2".into(), RootKey::generate());
        assert!(west.open(&forged.seal(b"admin")).is_none());
        assert!(east.open(&forged.seal(b"admin")).is_none());
        // An entry moved under another issuer's name does not open either.
        let token = base64::engine::general_purpose::STANDARD
            .decode(east.seal(b"s"))
            .unwrap();
        let mut renamed = token.clone();
        renamed[2..11].copy_from_slice(b"us-west-2");
        let renamed = base64::engine::general_purpose::STANDARD.encode(renamed);
        assert!(west.open(&renamed).is_none());
        assert!(north.open(&renamed).is_none());
    }

    #[test]
    fn damaged_or_foreign_tokens_are_refused_without_panicking() {
        let (east, west, _) = regions();
        let token = base64::engine::general_purpose::STANDARD
            .decode(east.seal(b"session"))
            .unwrap();
        for cut in 0..token.len() {
            let short = base64::engine::general_purpose::STANDARD.encode(&token[..cut]);
            assert!(east.open(&short).is_none(), "cut at {cut}");
        }
        let mut padded = token.clone();
        padded.push(0);
        let padded = base64::engine::general_purpose::STANDARD.encode(padded);
        assert!(east.open(&padded).is_none());
        // A flipped byte in a region's entry: that region refuses it. East's entry comes first
        // (after version, issuer and count: 12 bytes, then its name and length: 12 more).
        for (at, region) in [(30, &east), (token.len() - 1, &west)] {
            let mut flipped = token.clone();
            flipped[at] ^= 1;
            let flipped = base64::engine::general_purpose::STANDARD.encode(flipped);
            assert!(region.open(&flipped).is_none(), "byte {at}");
        }
        assert!(east.open("not base64 !").is_none());
        assert!(east.open("").is_none());
        // A version-1 token (the sealed session alone) is not a version-2 token.
        let v1 = RootKey::generate().wrap(
            &KeyMaterial::from_bytes(b"s".to_vec()),
            &WrapContext::sts_session("x", "x"),
        );
        assert!(east
            .open(&base64::engine::general_purpose::STANDARD.encode(v1))
            .is_none());
    }
}
