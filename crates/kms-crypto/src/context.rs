//! What a wrap or a seal is bound to: [`WrapContext`] for the root-key wrapping format
//! ([`RootKey::wrap`](crate::RootKey::wrap)) and [`SealContext`] for material sealed to another
//! region ([`seal_material`](crate::seal_material)).
//!
//! Every binding format Trent writes is built here by a typed constructor, so no other crate
//! spells one by hand. The bytes are persistent (wrapped material sits in the Raft log, sealed
//! secrets in identities files, session tokens with clients) and must never change:
//!
//! | Constructor | Bytes |
//! | --- | --- |
//! | [`WrapContext::material`] | `{key_id}/{material_id}` |
//! | [`WrapContext::identity_secret`] | `trent-identity-secret-v1/{access_key_id}` |
//! | [`WrapContext::sts_session`] | `trent-sts-session-v2/{issuer}/{verifier}` |
//! | [`WrapContext::import_wrapping_key`] | `trent-import-wrapping-key-v1/{key_id}/{token_id}` |
//! | [`WrapContext::sealed_root_key`] | `trent-sealed-root-key-v1/{region}` |
//! | [`WrapContext::root_key_generation`] | `trent-root-key-generation-v1/{generation}` |
//! | [`WrapContext::key_store_secret`] | `trent-key-store-secret-v1/{store_id}` |
//! | [`SealContext::region_material`] | `trent-link-v1\|{from}\|{to}\|{key_id}/{material_id}` |
//!
//! The wrapping format adds its own prefix (`trent-wrap-v1`) in front of a [`WrapContext`].

/// What material wrapped with a root key (or a key derived like one) is bound to. Wrapping with one
/// context and unwrapping with another fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrapContext(Vec<u8>);

impl WrapContext {
    /// One version of a KMS key's material: its key id and material id (hex).
    pub fn material(key_id: &str, material_id: &str) -> WrapContext {
        WrapContext(format!("{key_id}/{material_id}").into_bytes())
    }

    /// An access key's secret sealed into the identities file (`secret_sealed`).
    pub fn identity_secret(access_key_id: &str) -> WrapContext {
        WrapContext(format!("trent-identity-secret-v1/{access_key_id}").into_bytes())
    }

    /// An STS session made in region `issuer`, sealed for region `verifier` (the issuer itself,
    /// or a linked peer) into the session token handed to the client.
    pub fn sts_session(issuer: &str, verifier: &str) -> WrapContext {
        WrapContext(format!("trent-sts-session-v2/{issuer}/{verifier}").into_bytes())
    }

    /// The private half of a GetParametersForImport wrapping key pair for KMS key `key_id`,
    /// named by its import token's id (hex).
    pub fn import_wrapping_key(key_id: &str, token_id: &str) -> WrapContext {
        WrapContext(format!("trent-import-wrapping-key-v1/{key_id}/{token_id}").into_bytes())
    }

    /// A region's root key wrapped by a seal's key (the Shamir seal's combined key), so a
    /// sealed root key of one region cannot be passed off as another's.
    pub fn sealed_root_key(region: &str) -> WrapContext {
        WrapContext(format!("trent-sealed-root-key-v1/{region}").into_bytes())
    }

    /// Root-key generation `generation` (≥ 1) of a keyring, wrapped by the root key
    /// ([`crate::Keyring`]).
    pub fn root_key_generation(generation: u32) -> WrapContext {
        WrapContext(format!("trent-root-key-generation-v1/{generation}").into_bytes())
    }

    /// A custom key store's secret (an HSM store's password, an external key store proxy's
    /// secret access key), for store `store_id`.
    pub fn key_store_secret(store_id: &str) -> WrapContext {
        WrapContext(format!("trent-key-store-secret-v1/{store_id}").into_bytes())
    }

    /// The context bytes, as the wrapping format authenticates them (and, for a seal held
    /// outside this crate, the AAD it binds).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// What material sealed to another region's transport key is bound to. Sealing with one
/// context and opening with another fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealContext(Vec<u8>);

impl SealContext {
    /// One version of a key's material sent by region `from` to region `to` over the link.
    pub fn region_material(from: &str, to: &str, key_id: &str, material_id: &str) -> SealContext {
        SealContext(format!("trent-link-v1|{from}|{to}|{key_id}/{material_id}").into_bytes())
    }

    /// The context bytes: the AAD of the seal.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    //! The bytes of every context, pinned, and known-answer vectors written independently of
    //! this crate (Python `cryptography`, from the formats in the `root_key` and `transport`
    //! module docs; `testdata/format_vectors.py`), so data written by earlier versions keeps opening.

    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::RootKey;

    const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const MATERIAL_ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn context_bytes_are_pinned() {
        assert_eq!(
            WrapContext::material(KEY_ID, MATERIAL_ID).as_bytes(),
            b"1234abcd-12ab-34cd-56ef-1234567890ab/\
              00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        );
        assert_eq!(
            WrapContext::identity_secret("AKIAEXAMPLE").as_bytes(),
            b"trent-identity-secret-v1/AKIAEXAMPLE"
        );
        assert_eq!(
            WrapContext::sts_session("us-east-1", "us-west-2").as_bytes(),
            b"trent-sts-session-v2/us-east-1/us-west-2"
        );
        assert_eq!(
            WrapContext::import_wrapping_key("k", "t").as_bytes(),
            b"trent-import-wrapping-key-v1/k/t"
        );
        assert_eq!(
            WrapContext::key_store_secret("cks-1").as_bytes(),
            b"trent-key-store-secret-v1/cks-1"
        );
        assert_eq!(
            SealContext::region_material("us-east-1", "eu-west-1", KEY_ID, MATERIAL_ID).as_bytes(),
            b"trent-link-v1|us-east-1|eu-west-1|1234abcd-12ab-34cd-56ef-1234567890ab/\
              00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
        );
    }

    #[test]
    fn contexts_of_different_kinds_differ() {
        let all = [
            WrapContext::material("a", "b").as_bytes().to_vec(),
            WrapContext::material("a", "c").as_bytes().to_vec(),
            WrapContext::material("b", "b").as_bytes().to_vec(),
            WrapContext::identity_secret("a").as_bytes().to_vec(),
            WrapContext::identity_secret("b").as_bytes().to_vec(),
            WrapContext::sts_session("a", "b").as_bytes().to_vec(),
            WrapContext::sts_session("b", "a").as_bytes().to_vec(),
            WrapContext::key_store_secret("a").as_bytes().to_vec(),
            WrapContext::import_wrapping_key("a", "b")
                .as_bytes()
                .to_vec(),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(
            SealContext::region_material("a", "b", "k", "m"),
            SealContext::region_material("b", "a", "k", "m")
        );
    }

    /// The root key `00 01 .. 1f`, loaded the way a node loads its key file.
    fn fixed_root_key() -> RootKey {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.key");
        std::fs::write(&path, (0u8..32).collect::<Vec<u8>>()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        RootKey::load(&path).unwrap()
    }

    /// The material of every vector: `a0 a1 .. bf`.
    fn fixed_material() -> Vec<u8> {
        (0xa0u8..0xc0).collect()
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn wrapped_vectors_unwrap_with_each_context() {
        let root = fixed_root_key();
        // 0x01 | nonce 000102..0b | AES-256-GCM(material, aad = "trent-wrap-v1" || context).
        let vectors = [
            (
                WrapContext::material(KEY_ID, MATERIAL_ID),
                "01000102030405060708090a0be7a374b8614064bc25e83d201d44d6c233673587\
                 44cee9cb80de5f3ea1d4be0d7c79edd22795bf0b118da81da78de6d2",
            ),
            (
                WrapContext::identity_secret("AKIAEXAMPLE"),
                "01000102030405060708090a0be7a374b8614064bc25e83d201d44d6c233673587\
                 44cee9cb80de5f3ea1d4be0dfdb33f0e0469d2ebe27db46c97234a8b",
            ),
            (
                WrapContext::sts_session("us-east-1", "us-east-1"),
                "01000102030405060708090a0be7a374b8614064bc25e83d201d44d6c233673587\
                 44cee9cb80de5f3ea1d4be0da95b957316d82cdc32ed4647e6534025",
            ),
        ];
        for (context, wrapped) in &vectors {
            let back = root
                .unwrap(&unhex(wrapped), context)
                .unwrap_or_else(|e| panic!("{context:?}: {e}"));
            assert_eq!(back.as_bytes(), fixed_material().as_slice(), "{context:?}");
        }
        // Each vector opens only with its own context.
        for (i, (_, wrapped)) in vectors.iter().enumerate() {
            for (j, (context, _)) in vectors.iter().enumerate() {
                assert_eq!(root.unwrap(&unhex(wrapped), context).is_ok(), i == j);
            }
        }
    }

    #[test]
    fn sealed_vector_opens_with_its_context() {
        // Sealed to the transport key of the fixed root key, with the ephemeral X25519 private
        // key 40 41 .. 5f and the nonce 60 61 .. 6b.
        let sealed = unhex(SEALED_VECTOR);
        let recipient = fixed_root_key().transport_key();
        assert_eq!(
            hex::encode(recipient.public_key()),
            "b817ee3be072c3928022e52183487531d527e9aabfaa053e4cef80fc40bdf92e"
        );
        let context = SealContext::region_material("us-east-1", "eu-west-1", KEY_ID, MATERIAL_ID);
        let back = recipient.open_material(&sealed, &context).unwrap();
        assert_eq!(back.as_bytes(), fixed_material().as_slice());
        let reversed = SealContext::region_material("eu-west-1", "us-east-1", KEY_ID, MATERIAL_ID);
        assert!(recipient.open_material(&sealed, &reversed).is_err());
    }

    const SEALED_VECTOR: &str =
        "0179a631eede1bf9c98f12032cdeadd0e7a079398fc786b88cc846ec89af85a51a\
        606162636465666768696a6b5df33769299626d9f59363ee0133ae45b5746dc24baa6769b5\
        cca51b7109baa0aee40e6e4aec066a3f68b86b90ea8e50";
}
