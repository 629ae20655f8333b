//! The keys that seal STS session tokens. Each region has its own: a session token made in a
//! region opens there with [`RootKey::sts_session_key`], and in a linked peer region with the
//! key the two regions share, [`TransportKey::peer_session_key`]. No file holds either; both
//! exist only in an unsealed node's memory.
//!
//! ```text
//! own key   = HKDF-SHA256(salt = "", ikm = root key, info = "trent-sts-session-key-v1")
//! peer key  = HKDF-SHA256(salt = lower_public || higher_public,
//!                         ikm  = X25519(own transport private, peer transport public),
//!                         info = "trent-sts-peer-key-v1|" || lower_region || "|" || higher_region)
//! ```
//!
//! The peer key is static-static Diffie-Hellman between the two regions' transport keys (see
//! [`transport`](crate::transport)), so exactly those two regions can compute it: a third
//! region that knows both public keys cannot, and so cannot make a token that one of them
//! accepts as the other's. The pair is ordered (regions by name, public keys by bytes) so both
//! sides derive the same bytes.

use zeroize::Zeroizing;

use crate::transport::{hkdf_sha256, TransportKey};
use crate::{CryptoError, RootKey};

const OWN_INFO: &[u8] = b"trent-sts-session-key-v1";
const PEER_INFO: &[u8] = b"trent-sts-peer-key-v1|";

impl RootKey {
    /// The key that seals this region's session tokens for itself, derived from the root key
    /// (see the [`session_keys`](crate::session_keys) module doc).
    pub fn sts_session_key(&self) -> RootKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        hkdf_sha256(&[], self.secret_bytes(), &[OWN_INFO], bytes.as_mut())
            .expect("HKDF-SHA256 of 32 bytes cannot fail");
        RootKey::from_secret(bytes.as_ref()).expect("32 bytes make a key")
    }
}

impl TransportKey {
    /// The session-token key this region (`own_region`) shares with `peer_region`, whose
    /// transport public key is `peer_public` (raw 32-byte X25519).
    ///
    /// Errors: [`CryptoError::InvalidInput`] if `peer_public` is not a usable X25519 public key,
    /// or if the two regions have the same name.
    pub fn peer_session_key(
        &self,
        own_region: &str,
        peer_region: &str,
        peer_public: &[u8],
    ) -> Result<RootKey, CryptoError> {
        if own_region == peer_region {
            return Err(CryptoError::InvalidInput(
                "a peer session key needs two regions".to_owned(),
            ));
        }
        let own_public = self.public_key();
        let (low, high) = if own_public.as_slice() <= peer_public {
            (own_public.as_slice(), peer_public)
        } else {
            (peer_public, own_public.as_slice())
        };
        let salt = [low, high].concat();
        let (first, second) = if own_region < peer_region {
            (own_region, peer_region)
        } else {
            (peer_region, own_region)
        };
        let info = format!("{first}|{second}");
        let mut bytes = Zeroizing::new([0u8; 32]);
        self.agree_static(peer_public, |shared| {
            hkdf_sha256(&salt, shared, &[PEER_INFO, info.as_bytes()], bytes.as_mut())
                .map_err(|()| CryptoError::Internal("HKDF failed"))
        })?;
        RootKey::from_secret(bytes.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use crate::{KeyMaterial, RootKey, WrapContext};

    #[test]
    fn both_regions_derive_the_same_peer_key_and_a_third_cannot() {
        let (east, west, third) = (
            RootKey::generate().transport_key(),
            RootKey::generate().transport_key(),
            RootKey::generate().transport_key(),
        );
        let at_east = east
            .peer_session_key("us-east-1", "us-west-2", &west.public_key())
            .unwrap();
        let at_west = west
            .peer_session_key("us-west-2", "us-east-1", &east.public_key())
            .unwrap();
        let context = WrapContext::sts_session("us-east-1", "us-west-2");
        let sealed = at_east.wrap(&KeyMaterial::from_bytes(b"session".to_vec()), &context);
        assert_eq!(
            at_west.unwrap(&sealed, &context).unwrap().as_bytes(),
            b"session"
        );
        // A third region knows both public keys, but its key with either is another key.
        for guess in [
            third
                .peer_session_key("us-west-2", "us-east-1", &east.public_key())
                .unwrap(),
            third
                .peer_session_key("us-east-1", "us-west-2", &west.public_key())
                .unwrap(),
        ] {
            assert!(guess.unwrap(&sealed, &context).is_err());
        }
        // The region names are bound too.
        let renamed = west
            .peer_session_key("eu-west-1", "us-east-1", &east.public_key())
            .unwrap();
        assert!(renamed.unwrap(&sealed, &context).is_err());
    }

    #[test]
    fn the_own_key_is_stable_per_root_key_and_differs_between_regions() {
        let root = RootKey::generate();
        let context = WrapContext::sts_session("us-east-1", "us-east-1");
        let sealed = root
            .sts_session_key()
            .wrap(&KeyMaterial::from_bytes(b"s".to_vec()), &context);
        assert!(root.sts_session_key().unwrap(&sealed, &context).is_ok());
        assert!(RootKey::generate()
            .sts_session_key()
            .unwrap(&sealed, &context)
            .is_err());
        // Not the root key itself.
        assert!(root.unwrap(&sealed, &context).is_err());
    }

    #[test]
    fn a_bad_peer_public_key_or_the_same_region_is_refused() {
        let key = RootKey::generate().transport_key();
        let peer = RootKey::generate().transport_key().public_key();
        assert!(key.peer_session_key("a", "b", &[0u8; 32]).is_err());
        assert!(key.peer_session_key("a", "b", &peer[..31]).is_err());
        assert!(key.peer_session_key("a", "a", &peer).is_err());
    }
}
