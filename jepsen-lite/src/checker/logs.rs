//! `logs`: no node log contains "panicked", and no node exited without the harness killing it
//! (the exits are noticed by the nemesis and the runner, [`UnexpectedExit`]).

use super::{CheckResult, Verdict, MAX_LISTED};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A node that exited without the harness killing it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnexpectedExit {
    /// Node name.
    pub node: String,
    /// Its exit status.
    pub status: String,
    /// Seconds since the start of the run when it was noticed.
    pub at_s: f64,
}

/// `logs`: no node log contains "panicked", and no node exited without being killed.
pub fn check_logs(nodes_dir: &Path, exits: &[UnexpectedExit]) -> CheckResult {
    let mut panics = Vec::new();
    let mut error_lines: BTreeMap<String, u64> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut panic_count = 0usize;
    let mut logs: Vec<PathBuf> = std::fs::read_dir(nodes_dir)
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    for path in &logs {
        let node = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Ok(bytes) = std::fs::read(path) else {
            unreadable.push(node);
            continue;
        };
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            if line.contains("panicked") {
                panic_count += 1;
                if panics.len() < MAX_LISTED {
                    panics.push(json!({ "node": node, "line": line }));
                }
            }
            if line.contains(" ERROR ") {
                *error_lines.entry(node.clone()).or_default() += 1;
            }
        }
    }
    let verdict = if panic_count > 0 || !exits.is_empty() {
        Verdict::Invalid
    } else if !unreadable.is_empty() || logs.is_empty() {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    CheckResult::new(
        "logs",
        verdict,
        json!({
            "logs": logs.len(),
            "panics": panic_count,
            "first_panics": panics,
            "unexpected_exits": exits.iter().map(|e| json!({
                "node": e.node, "status": e.status, "at_s": e.at_s,
            })).collect::<Vec<_>>(),
            "error_lines": error_lines,
            "unreadable": unreadable,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_with_a_panic_or_an_exit_are_invalid() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("n1.log"), "INFO fine\n").unwrap();
        assert_eq!(check_logs(dir.path(), &[]).verdict, Verdict::Valid);
        let exit = UnexpectedExit {
            node: "n1".into(),
            status: "exit status: 1".into(),
            at_s: 1.0,
        };
        assert_eq!(check_logs(dir.path(), &[exit]).verdict, Verdict::Invalid);
        std::fs::write(
            dir.path().join("n2.log"),
            "thread 'main' panicked at src/x.rs:1:1\n",
        )
        .unwrap();
        let result = check_logs(dir.path(), &[]);
        assert_eq!(result.verdict, Verdict::Invalid);
        assert_eq!(result.details["panics"], 1);
    }
}
