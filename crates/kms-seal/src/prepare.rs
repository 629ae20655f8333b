//! Bringing a region's root key under its seal: [`ensure_sealed`] (an auto-unsealing seal:
//! keep the sealed file, or seal a plaintext root key an earlier version wrote and destroy the
//! plaintext, or, for a launcher making a fresh cluster, seal a new root key) and
//! [`init_shamir`] (`trent operator init`). A plaintext root key file is overwritten with
//! random bytes, synced and removed only after its sealed file is on disk.

use std::path::Path;

use kms_crypto::RootKey;

use crate::{seal_auto, unseal_auto, SealConfig, SealError, SealedRootKey, ShamirConfig};

/// What [`ensure_sealed`] or [`init_shamir`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prepared {
    /// The sealed file was already there.
    Existing,
    /// A plaintext root key was sealed and its file destroyed.
    Migrated,
    /// A new root key was made and sealed.
    Created,
}

/// Makes sure `config`'s sealed root key file exists for `region` (an auto-unsealing seal).
/// If it does not, a plaintext root key at `plaintext` (what versions before the seal wrote) is
/// sealed, and that file destroyed; if there is none either and `create` is set, a new root key
/// is sealed. The sealed file is then opened once to check it holds the key that was sealed.
pub async fn ensure_sealed(
    config: &SealConfig,
    region: &str,
    plaintext: &Path,
    create: bool,
) -> Result<Prepared, SealError> {
    let path = config.sealed_root_key();
    if let Some(existing) = SealedRootKey::read(path)? {
        existing.check_matches(config, region)?;
        if plaintext.exists() {
            // A previous migration stopped between writing the sealed file and destroying the
            // plaintext: destroy it only if the sealed file holds the same key.
            let plain = load_plaintext(plaintext)?;
            let sealed = unseal_auto(config, &existing).await?;
            if plain.export_secret() != sealed.export_secret() {
                return Err(SealError::new(format!(
                    "{} and the sealed root key {} hold different keys; move one away",
                    plaintext.display(),
                    path.display()
                )));
            }
            destroy_plaintext(plaintext)?;
            return Ok(Prepared::Migrated);
        }
        return Ok(Prepared::Existing);
    }
    if let SealConfig::Shamir(_) = config {
        return Err(SealError::new(format!(
            "no sealed root key at {}: initialise the Shamir seal with `trent operator init`",
            path.display()
        )));
    }
    let (root, outcome) = if plaintext.exists() {
        (load_plaintext(plaintext)?, Prepared::Migrated)
    } else if create {
        (RootKey::generate(), Prepared::Created)
    } else {
        return Err(SealError::new(format!(
            "no sealed root key at {} and no plaintext root key at {} to migrate",
            path.display(),
            plaintext.display()
        )));
    };
    let sealed = seal_auto(config, region, &root).await?;
    sealed.write_new(path)?;
    // Whoever wrote the file first (another node of the region migrating the same key), it
    // must open to the key sealed here before the plaintext goes.
    let written = SealedRootKey::read(path)?
        .ok_or_else(|| SealError::new(format!("{} vanished after writing", path.display())))?;
    let opened = unseal_auto(config, &written).await?;
    if opened.export_secret() != root.export_secret() {
        return Err(SealError::new(format!(
            "the sealed root key {} does not hold the key just sealed; nothing was removed",
            path.display()
        )));
    }
    if outcome == Prepared::Migrated {
        destroy_plaintext(plaintext)?;
    }
    Ok(outcome)
}

/// `trent operator init`: seals the region's root key (the plaintext one at `plaintext` if an
/// earlier version left one, else a new one) under a fresh Shamir split and writes the sealed
/// file; returns the shares. The shares' key exists only in memory, here.
pub fn init_shamir(
    config: &ShamirConfig,
    region: &str,
    plaintext: &Path,
    shares: u8,
    threshold: u8,
) -> Result<(Prepared, Vec<String>), SealError> {
    let path = &config.sealed_root_key;
    if SealedRootKey::read(path)?.is_some() {
        return Err(SealError::new(format!(
            "{} exists: this region's seal is initialised already",
            path.display()
        )));
    }
    let (root, outcome) = if plaintext.exists() {
        (load_plaintext(plaintext)?, Prepared::Migrated)
    } else {
        (RootKey::generate(), Prepared::Created)
    };
    let (sealed, dealt) = SealedRootKey::shamir(region, &root, shares, threshold)?;
    if !sealed.write_new(path)? {
        return Err(SealError::new(format!(
            "{} appeared while initialising; nothing was changed",
            path.display()
        )));
    }
    if outcome == Prepared::Migrated {
        destroy_plaintext(plaintext)?;
    }
    Ok((outcome, dealt))
}

fn load_plaintext(path: &Path) -> Result<RootKey, SealError> {
    RootKey::load(path).map_err(|e| {
        SealError::new(format!(
            "reading the plaintext root key {}: {e}",
            path.display()
        ))
    })
}

/// Overwrites a plaintext key file with random bytes (synced), then removes it.
pub fn destroy_plaintext(path: &Path) -> Result<(), SealError> {
    use std::io::Write;
    let fail = |e: std::io::Error| SealError::new(format!("destroying {}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(fail)?.len();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(fail)?;
    let noise = kms_crypto::random_bytes(usize::try_from(len).unwrap_or(32).max(32));
    file.write_all(&noise).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::remove_file(path).map_err(fail)?;
    if let Some(dir) = path.parent() {
        if let Ok(handle) = std::fs::File::open(dir) {
            let _ = handle.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_shamir_migrates_a_plaintext_root_key_and_destroys_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let plaintext = dir.path().join("root.key");
        let root = RootKey::create_file(&plaintext).unwrap();
        let config = ShamirConfig {
            sealed_root_key: dir.path().join("root.sealed"),
        };
        let (outcome, shares) = init_shamir(&config, "r1", &plaintext, 3, 2).unwrap();
        assert_eq!(outcome, Prepared::Migrated);
        assert!(!plaintext.exists());
        let sealed = SealedRootKey::read(&config.sealed_root_key)
            .unwrap()
            .unwrap();
        let opened = sealed.open_with_shares(&shares[..2]).unwrap();
        assert_eq!(opened.export_secret(), root.export_secret());
        assert!(init_shamir(&config, "r1", &plaintext, 3, 2).is_err());
    }
}
