//! [`RootKey`], the region root key: AES-256 loaded from a file of exactly 32 raw bytes, used to
//! wrap key material for storage.
//!
//! The key file must not be readable or writable by group or other (`mode & 0o077 == 0`);
//! [`RootKey::create_file`] creates it with mode `0600` and fsyncs it and its directory.
//!
//! Wrapped material format (persistent, version 1):
//!
//! ```text
//! 0x01 | nonce (12 bytes, random) | AES-256-GCM(material) | tag (16 bytes)
//! ```
//!
//! with AAD = `b"trent-wrap-v1" || context`, so material wrapped for one [`WrapContext`] (e.g. a
//! key id and material id) cannot be swapped in for another.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use zeroize::Zeroizing;

use crate::primitives::fill_random;
use crate::{CryptoError, KeyMaterial, WrapContext};

const ROOT_KEY_LEN: usize = 32;
const WRAP_VERSION: u8 = 1;
const WRAP_AAD_PREFIX: &[u8] = b"trent-wrap-v1";
/// The version byte of material wrapped by a later root-key generation ([`crate::keyring`]).
pub(crate) const WRAP_VERSION_GENERATION: u8 = 2;
const GENERATION_AAD_PREFIX: &[u8] = b"trent-wrap-v2";
const TAG_LEN: usize = 16;

/// The region root key (AES-256). `Debug` prints `RootKey(redacted)`.
pub struct RootKey {
    bytes: Zeroizing<[u8; ROOT_KEY_LEN]>,
    key: LessSafeKey,
}

impl RootKey {
    /// A fresh random root key (not persisted; for tests and tools).
    pub fn generate() -> RootKey {
        let mut bytes = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        fill_random(bytes.as_mut());
        RootKey::from_array(bytes)
    }

    fn from_array(bytes: Zeroizing<[u8; ROOT_KEY_LEN]>) -> RootKey {
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes.as_ref()).expect("32 bytes is a valid AES-256 key");
        RootKey {
            bytes,
            key: LessSafeKey::new(unbound),
        }
    }

    /// Loads the root key from `path`: exactly 32 raw bytes in a regular file whose mode grants
    /// nothing to group or other.
    pub fn load(path: &Path) -> Result<RootKey, CryptoError> {
        let mut file = File::open(path).map_err(|e| io_err("cannot open", path, &e))?;
        // Check the opened file itself, not the path, so a swap between check and read is moot.
        let meta = file
            .metadata()
            .map_err(|e| io_err("cannot stat", path, &e))?;
        if !meta.is_file() {
            return Err(CryptoError::RootKey(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            return Err(CryptoError::RootKey(format!(
                "{} has mode {:o}; it must not be accessible by group or other (use chmod 600)",
                path.display(),
                mode & 0o7777
            )));
        }
        // Read one byte past the expected length to detect oversized files without trusting
        // the stat size.
        let mut buf = Zeroizing::new([0u8; ROOT_KEY_LEN + 1]);
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err("cannot read", path, &e)),
            }
        }
        if filled != ROOT_KEY_LEN {
            return Err(CryptoError::RootKey(format!(
                "{} must hold exactly {ROOT_KEY_LEN} bytes",
                path.display()
            )));
        }
        let mut bytes = Zeroizing::new([0u8; ROOT_KEY_LEN]);
        bytes.copy_from_slice(&buf[..ROOT_KEY_LEN]);
        Ok(RootKey::from_array(bytes))
    }

    /// Creates a new random root key at `path` (mode `0600`, fsynced, directory fsynced).
    /// Fails if the file already exists.
    pub fn create_file(path: &Path) -> Result<RootKey, CryptoError> {
        Self::create_file_io(path).map_err(|e| io_err("cannot create", path, &e))
    }

    fn create_file_io(path: &Path) -> io::Result<RootKey> {
        let key = RootKey::generate();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let written = file
            .write_all(key.bytes.as_ref())
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            drop(file);
            // Do not leave a short key file behind for the next start to trip over.
            let _ = fs::remove_file(path);
            return Err(e);
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
        Ok(key)
    }

    /// Loads the root key at `path`, creating it first if it does not exist.
    pub fn load_or_create(path: &Path) -> Result<RootKey, CryptoError> {
        match Self::create_file_io(path) {
            Ok(key) => Ok(key),
            // Exists already (or another process created it concurrently): load it.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => Err(io_err("cannot create", path, &e)),
        }
    }

    /// A root key from its 32 secret bytes, as a seal hands them back after unsealing.
    pub fn from_secret(bytes: &[u8]) -> Result<RootKey, CryptoError> {
        let array: [u8; ROOT_KEY_LEN] = bytes.try_into().map_err(|_| {
            CryptoError::RootKey(format!("a root key is exactly {ROOT_KEY_LEN} bytes"))
        })?;
        Ok(RootKey::from_array(Zeroizing::new(array)))
    }

    /// The 32 secret bytes, for a seal that wraps them outside this crate (an HSM through
    /// PKCS#11, another KMS). Zeroized when dropped; never write them anywhere in plaintext.
    pub fn export_secret(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.bytes.to_vec())
    }

    /// This root key wrapped by `kek` (a seal's key), bound to `region`
    /// ([`WrapContext::sealed_root_key`]); the wrapping format of the module doc.
    pub fn seal_under(&self, kek: &RootKey, region: &str) -> Vec<u8> {
        let material = KeyMaterial::from_bytes(self.bytes.to_vec());
        kek.wrap(&material, &WrapContext::sealed_root_key(region))
    }

    /// Opens a root key sealed by [`RootKey::seal_under`] with the same `kek` and `region`.
    pub fn unseal_under(
        sealed: &[u8],
        kek: &RootKey,
        region: &str,
    ) -> Result<RootKey, CryptoError> {
        let material = kek.unwrap(sealed, &WrapContext::sealed_root_key(region))?;
        RootKey::from_secret(material.as_bytes())
    }

    /// The raw key bytes, for derivations inside this crate (e.g. the transport key).
    pub(crate) fn secret_bytes(&self) -> &[u8] {
        self.bytes.as_ref()
    }

    /// Wraps `material` for storage, bound to `context` (see the module doc for the format).
    pub fn wrap(&self, material: &KeyMaterial, context: &WrapContext) -> Vec<u8> {
        self.seal_with(&[WRAP_VERSION], wrap_aad(context), material)
    }

    /// Unwraps material produced by [`RootKey::wrap`] with the same root key and `context`.
    ///
    /// Any mismatch (wrong root key, wrong context, corrupt or truncated bytes) is
    /// [`CryptoError::UnwrapFailed`].
    pub fn unwrap(
        &self,
        wrapped: &[u8],
        context: &WrapContext,
    ) -> Result<KeyMaterial, CryptoError> {
        let (version, rest) = wrapped.split_first().ok_or(CryptoError::UnwrapFailed)?;
        if *version != WRAP_VERSION {
            return Err(CryptoError::UnwrapFailed);
        }
        self.open_with(rest, wrap_aad(context))
    }

    /// Wraps `material` as root-key generation `generation` (format version 2, see
    /// [`crate::keyring`]); this key is that generation's.
    pub(crate) fn wrap_as_generation(
        &self,
        generation: u32,
        material: &KeyMaterial,
        context: &WrapContext,
    ) -> Vec<u8> {
        let mut header = vec![WRAP_VERSION_GENERATION];
        header.extend_from_slice(&generation.to_be_bytes());
        self.seal_with(&header, generation_aad(generation, context), material)
    }

    /// Opens what [`RootKey::wrap_as_generation`] wrapped, with the same generation's key.
    pub(crate) fn unwrap_as_generation(
        &self,
        generation: u32,
        wrapped: &[u8],
        context: &WrapContext,
    ) -> Result<KeyMaterial, CryptoError> {
        if wrapped.len() < 5 || wrapped[0] != WRAP_VERSION_GENERATION {
            return Err(CryptoError::UnwrapFailed);
        }
        if wrapped[1..5] != generation.to_be_bytes() {
            return Err(CryptoError::UnwrapFailed);
        }
        self.open_with(&wrapped[5..], generation_aad(generation, context))
    }

    /// `header | nonce | AES-256-GCM(material, aad) | tag`.
    fn seal_with(&self, header: &[u8], aad: Vec<u8>, material: &KeyMaterial) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let mut out = Vec::with_capacity(header.len() + NONCE_LEN + material.len() + TAG_LEN);
        out.extend_from_slice(header);
        out.extend_from_slice(&nonce);
        let mut in_out = Zeroizing::new(material.as_bytes().to_vec());
        in_out.reserve(TAG_LEN);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut *in_out,
            )
            .expect("AES-GCM seal of key material cannot fail");
        // After sealing the buffer holds ciphertext, which is not secret.
        out.extend_from_slice(&in_out);
        out
    }

    /// Opens `nonce | ciphertext | tag` (the part after the header) with `aad`.
    fn open_with(&self, rest: &[u8], aad: Vec<u8>) -> Result<KeyMaterial, CryptoError> {
        if rest.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError::UnwrapFailed);
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::UnwrapFailed)?;
        // Zeroizing so a failed open leaves nothing behind either.
        let mut buf = Zeroizing::new(sealed.to_vec());
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError::UnwrapFailed)?
            .len();
        buf.truncate(plain_len);
        Ok(KeyMaterial::from_bytes(std::mem::take(&mut *buf)))
    }
}

impl Clone for RootKey {
    fn clone(&self) -> Self {
        RootKey::from_array(self.bytes.clone())
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(redacted)")
    }
}

fn wrap_aad(context: &WrapContext) -> Vec<u8> {
    let context = context.as_bytes();
    let mut aad = Vec::with_capacity(WRAP_AAD_PREFIX.len() + context.len());
    aad.extend_from_slice(WRAP_AAD_PREFIX);
    aad.extend_from_slice(context);
    aad
}

fn generation_aad(generation: u32, context: &WrapContext) -> Vec<u8> {
    let context = context.as_bytes();
    let mut aad = Vec::with_capacity(GENERATION_AAD_PREFIX.len() + 4 + context.len());
    aad.extend_from_slice(GENERATION_AAD_PREFIX);
    aad.extend_from_slice(&generation.to_be_bytes());
    aad.extend_from_slice(context);
    aad
}

fn io_err(what: &str, path: &Path, e: &io::Error) -> CryptoError {
    CryptoError::RootKey(format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> WrapContext {
        WrapContext::material("key-1", "mat-1")
    }

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().expect("tempdir")
    }

    #[test]
    fn wrap_unwrap_round_trip() {
        let root = RootKey::generate();
        let m = KeyMaterial::generate_symmetric();
        let w = root.wrap(&m, &ctx());
        assert_eq!(w.len(), 1 + 12 + 32 + 16);
        assert_eq!(w[0], 1);
        let back = root.unwrap(&w, &ctx()).expect("unwrap");
        assert_eq!(back.as_bytes(), m.as_bytes());
        // Wrapped bytes do not contain the material.
        assert!(!w.windows(32).any(|win| win == m.as_bytes()));
    }

    #[test]
    fn wrap_is_randomized() {
        let root = RootKey::generate();
        let m = KeyMaterial::generate_symmetric();
        assert_ne!(root.wrap(&m, &ctx()), root.wrap(&m, &ctx()));
    }

    #[test]
    fn unwrap_rejects_wrong_context() {
        let root = RootKey::generate();
        let m = KeyMaterial::generate_symmetric();
        let w = root.wrap(&m, &WrapContext::material("key-1", "mat-1"));
        for other in [
            WrapContext::material("key-2", "mat-1"),
            WrapContext::material("key-1", "mat-2"),
            WrapContext::identity_secret("key-1"),
            WrapContext::sts_session("key-1", "mat-1"),
        ] {
            assert_eq!(
                root.unwrap(&w, &other).unwrap_err(),
                CryptoError::UnwrapFailed
            );
        }
    }

    #[test]
    fn a_sealed_root_key_opens_only_with_its_kek_and_region() {
        let root = RootKey::generate();
        let kek = RootKey::generate();
        let sealed = root.seal_under(&kek, "us-east-1");
        assert!(!sealed
            .windows(ROOT_KEY_LEN)
            .any(|w| w == root.secret_bytes()));
        let opened = RootKey::unseal_under(&sealed, &kek, "us-east-1").unwrap();
        assert_eq!(opened.secret_bytes(), root.secret_bytes());
        assert!(RootKey::unseal_under(&sealed, &kek, "us-west-2").is_err());
        assert!(RootKey::unseal_under(&sealed, &RootKey::generate(), "us-east-1").is_err());
        assert!(RootKey::from_secret(&[0u8; 31]).is_err());
    }

    #[test]
    fn unwrap_rejects_wrong_root_key() {
        let m = KeyMaterial::generate_symmetric();
        let w = RootKey::generate().wrap(&m, &ctx());
        assert_eq!(
            RootKey::generate().unwrap(&w, &ctx()).unwrap_err(),
            CryptoError::UnwrapFailed
        );
    }

    #[test]
    fn unwrap_rejects_garbage_and_tampering() {
        let root = RootKey::generate();
        let m = KeyMaterial::generate_symmetric();
        let w = root.wrap(&m, &ctx());
        for bad in [&[][..], &[1u8][..], &w[..w.len() - 1], &w[..1 + 12 + 15]] {
            assert_eq!(
                root.unwrap(bad, &ctx()).unwrap_err(),
                CryptoError::UnwrapFailed
            );
        }
        for i in 0..w.len() {
            let mut t = w.clone();
            t[i] ^= 0x01;
            assert!(root.unwrap(&t, &ctx()).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn clone_wraps_compatibly() {
        let root = RootKey::generate();
        let m = KeyMaterial::generate_symmetric();
        let w = root.wrap(&m, &ctx());
        let back = root.clone().unwrap(&w, &ctx()).expect("unwrap with clone");
        assert_eq!(back.as_bytes(), m.as_bytes());
        assert_eq!(format!("{root:?}"), "RootKey(redacted)");
    }

    #[test]
    fn create_file_is_0600_and_loads_back() {
        let dir = tmp();
        let path = dir.path().join("root.key");
        let created = RootKey::create_file(&path).expect("create");
        let meta = fs::metadata(&path).expect("stat");
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let loaded = RootKey::load(&path).expect("load");
        let m = KeyMaterial::generate_symmetric();
        let back = loaded
            .unwrap(&created.wrap(&m, &ctx()), &ctx())
            .expect("unwrap");
        assert_eq!(back.as_bytes(), m.as_bytes());
    }

    #[test]
    fn create_file_fails_if_exists() {
        let dir = tmp();
        let path = dir.path().join("root.key");
        RootKey::create_file(&path).expect("create");
        let before = fs::read(&path).expect("read");
        assert!(matches!(
            RootKey::create_file(&path),
            Err(CryptoError::RootKey(_))
        ));
        assert_eq!(
            fs::read(&path).expect("read"),
            before,
            "existing key overwritten"
        );
    }

    #[test]
    fn load_rejects_group_or_other_access() {
        let dir = tmp();
        let path = dir.path().join("root.key");
        RootKey::create_file(&path).expect("create");
        for mode in [0o644, 0o640, 0o604, 0o610, 0o601] {
            fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
            match RootKey::load(&path) {
                Err(CryptoError::RootKey(msg)) => assert!(msg.contains("mode"), "{msg}"),
                other => panic!("mode {mode:o} accepted: {other:?}"),
            }
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).expect("chmod");
        RootKey::load(&path).expect("0400 is fine");
    }

    #[test]
    fn load_rejects_missing_and_wrong_length() {
        let dir = tmp();
        let missing = dir.path().join("missing.key");
        assert!(matches!(
            RootKey::load(&missing),
            Err(CryptoError::RootKey(_))
        ));
        for len in [0usize, 31, 33, 64] {
            let path = dir.path().join(format!("len{len}.key"));
            fs::write(&path, vec![7u8; len]).expect("write");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
            assert!(
                matches!(RootKey::load(&path), Err(CryptoError::RootKey(_))),
                "length {len} accepted"
            );
        }
        assert!(matches!(
            RootKey::load(dir.path()),
            Err(CryptoError::RootKey(_))
        ));
    }

    #[test]
    fn load_or_create_creates_then_loads_same_key() {
        let dir = tmp();
        let path = dir.path().join("root.key");
        let first = RootKey::load_or_create(&path).expect("create");
        let second = RootKey::load_or_create(&path).expect("load");
        let m = KeyMaterial::generate_symmetric();
        let back = second
            .unwrap(&first.wrap(&m, &ctx()), &ctx())
            .expect("same key");
        assert_eq!(back.as_bytes(), m.as_bytes());
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(RootKey::load_or_create(&path).is_err());
    }

    #[test]
    fn kms_error_mapping() {
        use kms_types::KmsError;
        assert_eq!(
            KmsError::from(CryptoError::InvalidCiphertext),
            KmsError::InvalidCiphertext
        );
        assert!(matches!(
            KmsError::from(CryptoError::UnwrapFailed),
            KmsError::KmsInternal(_)
        ));
    }
}
