//! The rule for files that hold secrets (config files with credentials, PINs, key files): a
//! regular file, mode 0600 or stricter, owned by the user the node runs as. Anything else is
//! refused with the reason, so the node does not start.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::SealError;

/// Refuses `path` unless it is a regular file that only its owner can read or write and the
/// owner is this process's user; `what` names it in the message.
pub fn check(path: &Path, what: &str) -> Result<(), SealError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| SealError::new(format!("{what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(SealError::new(format!(
            "{what} {} is not a regular file",
            path.display()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SealError::new(format!(
            "{what} {} has mode {mode:o}: a file holding secrets must not be accessible by \
             group or other (chmod 600 it)",
            path.display()
        )));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(SealError::new(format!(
            "{what} {} is owned by uid {}, not by uid {me} the node runs as (chown it)",
            path.display(),
            meta.uid()
        )));
    }
    Ok(())
}

/// Reads a secret file after [`check`]; the text is zeroized on drop.
pub fn read(path: &Path, what: &str) -> Result<zeroize::Zeroizing<String>, SealError> {
    check(path, what)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| SealError::new(format!("reading {what} {}: {e}", path.display())))?;
    Ok(zeroize::Zeroizing::new(text))
}

/// Writes a new secret file with mode 0600 (fails if it exists).
pub fn create(path: &Path, contents: &[u8]) -> Result<(), SealError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| SealError::new(format!("writing {}: {e}", path.display()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(contents).map_err(fail)?;
    file.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_owner_only_files_pass() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        create(&path, b"1234").unwrap();
        check(&path, "PIN file").unwrap();
        assert_eq!(&*read(&path, "PIN file").unwrap(), "1234");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = check(&path, "PIN file").unwrap_err().to_string();
        assert!(refused.contains("mode 644"), "{refused}");
        assert!(check(dir.path(), "PIN file").is_err());
        assert!(create(&path, b"again").is_err());
    }
}
