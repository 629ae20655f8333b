//! Where runs are stored: `store/<workload>-<nemesis kinds joined by +>/<UTC timestamp>/`, with
//! a `latest` symlink next to the timestamped dirs.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};

/// The store dir name of a run: `<workload>-<nemesis kinds joined by '+'>` (`none` without
/// faults); `workload_arg` is `--workload` as given, `faults` the CLI names of the faults.
pub fn test_name(workload_arg: &str, faults: &[&str]) -> String {
    let nemesis = if faults.is_empty() {
        "none".to_string()
    } else {
        faults.join("+")
    };
    format!("{workload_arg}-{nemesis}")
}

/// Creates a fresh `<UTC timestamp>` dir under `parent` and points `parent/latest` at it.
pub fn timestamp_dir(parent: &Path) -> anyhow::Result<PathBuf> {
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    let stamp = time::OffsetDateTime::now_utc().format(&format)?;
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    for n in 0..100 {
        let name = if n == 0 {
            stamp.clone()
        } else {
            format!("{stamp}-{n}")
        };
        let dir = parent.join(&name);
        if std::fs::create_dir(&dir).is_ok() {
            let latest = parent.join("latest");
            let _ = std::fs::remove_file(&latest);
            let _ = std::os::unix::fs::symlink(&name, &latest);
            return Ok(dir);
        }
    }
    bail!(
        "could not create a run directory under {}",
        parent.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_get_fresh_dirs_and_a_latest_link() {
        let store = tempfile::tempdir().unwrap();
        let parent = store
            .path()
            .join(test_name("key-state", &["kill", "pause"]));
        assert!(parent.ends_with("key-state-kill+pause"));
        let first = timestamp_dir(&parent).unwrap();
        let second = timestamp_dir(&parent).unwrap();
        assert_ne!(first, second);
        let latest = std::fs::read_link(parent.join("latest")).unwrap();
        assert_eq!(parent.join(latest), second);
        assert_eq!(test_name("all", &[]), "all-none");
    }
}
