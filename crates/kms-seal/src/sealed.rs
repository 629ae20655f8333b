//! The sealed root key file and the two ways through a seal: [`seal_auto`]/[`unseal_auto`]
//! for the seals a node opens by itself (PKCS#11, another KMS), and
//! [`SealedRootKey::shamir`]/[`SealedRootKey::open_with_shares`] for Shamir shares.
//!
//! The file is JSON (persistent, version 1):
//!
//! ```text
//! {"format":"trent-sealed-root-key-v1","region":R,"seal":"shamir"|"pkcs11"|"kms",
//!  "blob":BASE64,"shamir":{"shares":N,"threshold":T}}   (shamir only)
//! ```
//!
//! `blob` is, for Shamir, `RootKey::seal_under` with the shares' key; for PKCS#11,
//! `nonce (12) | AES-256-GCM ciphertext and tag` made inside the HSM with the AAD
//! `WrapContext::sealed_root_key(R)`; for KMS, the remote service's `CiphertextBlob`.

use std::path::Path;

use kms_crypto::{shamir, RootKey};
use serde::{Deserialize, Serialize};

use crate::{pkcs11, remote_kms, SealConfig, SealError};

const FORMAT: &str = "trent-sealed-root-key-v1";

/// How many shares were dealt and how many unseal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShamirParams {
    /// Shares dealt.
    pub shares: u8,
    /// Shares needed.
    pub threshold: u8,
}

/// A region's root key as it rests on disk: only wrapped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedRootKey {
    format: String,
    /// The region whose root key this is.
    pub region: String,
    /// The seal's kind (`SealConfig::kind`).
    pub seal: String,
    #[serde(with = "b64")]
    blob: Vec<u8>,
    /// For the Shamir seal: its share counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shamir: Option<ShamirParams>,
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}

impl SealedRootKey {
    /// Seals `root` for `region` under a fresh Shamir split; returns the file and the shares.
    pub fn shamir(
        region: &str,
        root: &RootKey,
        shares: u8,
        threshold: u8,
    ) -> Result<(SealedRootKey, Vec<String>), SealError> {
        let (kek, dealt) =
            shamir::split_key(shares, threshold).map_err(|e| SealError::new(e.to_string()))?;
        let sealed = SealedRootKey {
            format: FORMAT.to_string(),
            region: region.to_string(),
            seal: "shamir".to_string(),
            blob: root.seal_under(&kek, region),
            shamir: Some(ShamirParams { shares, threshold }),
        };
        Ok((sealed, dealt))
    }

    /// Opens a Shamir-sealed root key with `shares` (at least the threshold, distinct).
    pub fn open_with_shares(&self, shares: &[String]) -> Result<RootKey, SealError> {
        let params = self
            .shamir
            .ok_or_else(|| SealError::new("this root key is not sealed with Shamir shares"))?;
        let kek = shamir::combine_shares(shares, params.threshold)
            .map_err(|e| SealError::new(e.to_string()))?;
        RootKey::unseal_under(&self.blob, &kek, &self.region).map_err(|_| {
            SealError::new("the shares do not open this root key (a wrong or mistyped share)")
        })
    }

    /// Reads the sealed file at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<SealedRootKey>, SealError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(SealError::new(format!("reading {}: {e}", path.display()))),
        };
        let sealed: SealedRootKey = serde_json::from_str(&text)
            .map_err(|e| SealError::new(format!("parsing {}: {e}", path.display())))?;
        if sealed.format != FORMAT {
            return Err(SealError::new(format!(
                "{} is not a sealed root key ({FORMAT})",
                path.display()
            )));
        }
        Ok(Some(sealed))
    }

    /// Writes the file at `path` unless one exists (then returns false and leaves it): the new
    /// file is written and synced beside it, then hard-linked into place, so a reader never
    /// sees half a file and two writers cannot replace each other's.
    pub fn write_new(&self, path: &Path) -> Result<bool, SealError> {
        let text = serde_json::to_vec_pretty(self)
            .map_err(|e| SealError::new(format!("encoding the sealed root key: {e}")))?;
        let tmp = path.with_extension(format!("tmp-{}", hex::encode(kms_crypto::random_bytes(6))));
        crate::secret_file::create(&tmp, &text)?;
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {
                sync_dir(path);
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(SealError::new(format!("writing {}: {e}", path.display()))),
        }
    }

    /// True when this file was made by the seal `config` for `region`.
    pub fn check_matches(&self, config: &SealConfig, region: &str) -> Result<(), SealError> {
        if self.region != region || self.seal != config.kind() {
            return Err(SealError::new(format!(
                "the sealed root key is {}'s under the {} seal, but this node is in {region} \
                 with the {} seal",
                self.region,
                self.seal,
                config.kind()
            )));
        }
        Ok(())
    }
}

fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        if let Ok(handle) = std::fs::File::open(dir) {
            let _ = handle.sync_all();
        }
    }
}

/// Seals `root` for `region` with an auto-unsealing seal (PKCS#11 or KMS).
pub async fn seal_auto(
    config: &SealConfig,
    region: &str,
    root: &RootKey,
) -> Result<SealedRootKey, SealError> {
    let blob = match config {
        SealConfig::Shamir(_) => {
            return Err(SealError::new(
                "the Shamir seal is initialised by `trent operator init`",
            ))
        }
        SealConfig::Pkcs11(c) => {
            let c = c.clone();
            let region = region.to_string();
            let secret = root.export_secret();
            blocking(move || pkcs11::wrap(&c, &region, &secret)).await?
        }
        SealConfig::Kms(c) => remote_kms::encrypt(c, region, &root.export_secret()).await?,
    };
    Ok(SealedRootKey {
        format: FORMAT.to_string(),
        region: region.to_string(),
        seal: config.kind().to_string(),
        blob,
        shamir: None,
    })
}

/// Opens `sealed` with an auto-unsealing seal (PKCS#11 or KMS).
pub async fn unseal_auto(
    config: &SealConfig,
    sealed: &SealedRootKey,
) -> Result<RootKey, SealError> {
    sealed.check_matches(config, &sealed.region)?;
    let secret = match config {
        SealConfig::Shamir(_) => {
            return Err(SealError::new(
                "a Shamir-sealed node is unsealed with `trent operator unseal`",
            ))
        }
        SealConfig::Pkcs11(c) => {
            let c = c.clone();
            let region = sealed.region.clone();
            let blob = sealed.blob.clone();
            blocking(move || pkcs11::unwrap(&c, &region, &blob)).await?
        }
        SealConfig::Kms(c) => remote_kms::decrypt(c, &sealed.region, &sealed.blob).await?,
    };
    RootKey::from_secret(&secret).map_err(|e| SealError::new(e.to_string()))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SealError> + Send + 'static,
) -> Result<T, SealError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(SealError::new(format!("the PKCS#11 call failed: {e}"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shamir_file_round_trips_and_opens_only_with_enough_right_shares() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("root.sealed");
        let root = RootKey::generate();
        let (sealed, shares) = SealedRootKey::shamir("us-east-1", &root, 3, 2).unwrap();
        assert!(sealed.write_new(&path).unwrap());
        assert!(
            !sealed.write_new(&path).unwrap(),
            "an existing file is kept"
        );
        let text = std::fs::read(&path).unwrap();
        let secret = root.export_secret();
        assert!(!text.windows(32).any(|w| w == secret.as_slice()));
        let read = SealedRootKey::read(&path).unwrap().unwrap();
        let opened = read.open_with_shares(&shares[1..]).unwrap();
        assert_eq!(opened.export_secret(), secret);
        assert!(read.open_with_shares(&shares[..1]).is_err());
        let (_, other) = SealedRootKey::shamir("us-east-1", &root, 3, 2).unwrap();
        assert!(read.open_with_shares(&other[..2]).is_err());
        assert!(SealedRootKey::read(&dir.path().join("none"))
            .unwrap()
            .is_none());
    }
}
