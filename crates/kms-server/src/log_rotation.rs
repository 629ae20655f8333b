//! Size-bounded log files for the nodes `trent up` runs. A node's output (stdout and stderr,
//! line by line) goes to `<name>.log` until the next line would take it past the size limit;
//! then `<name>.log` becomes `<name>.log.1`, older files shift up (`.1` to `.2`, ...), the one
//! beyond the number kept is removed, and a new `<name>.log` starts. Lines are never split.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

/// The size at which a node's log is rotated, by default.
pub const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;
/// How many rotated files are kept besides the current one, by default.
pub const DEFAULT_KEEP: usize = 4;

/// One node's log file and its rotated predecessors.
pub struct RotatingLog {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    file: File,
    written: u64,
}

impl RotatingLog {
    /// Opens `path` for appending (what it holds counts towards the limit).
    pub fn open(path: &Path, max_bytes: u64, keep: usize) -> std::io::Result<RotatingLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingLog {
            path: path.to_path_buf(),
            max_bytes: max_bytes.max(1),
            keep,
            file,
            written,
        })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut name = self.path.as_os_str().to_os_string();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(self.rotated(self.keep));
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.written = 0;
        Ok(())
    }

    /// Appends one line (`line` includes its newline), rotating first if it would not fit.
    pub fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let len = line.len() as u64;
        if self.written > 0 && self.written + len > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.written += len;
        Ok(())
    }
}

/// Copies `output` into `log` line by line until it ends (the process exited).
pub async fn copy_lines(output: impl AsyncRead + Unpin, log: Arc<Mutex<RotatingLog>>) {
    let mut reader = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                if let Err(e) = log.write_line(&line) {
                    eprintln!("trent up: writing {}: {e}", log.path.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_at_the_limit_keep_so_many_and_never_split_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        let mut log = RotatingLog::open(&path, 100, 2).unwrap();
        let lines: Vec<String> = (0..12)
            .map(|i| format!("line {i:02} {}\n", "x".repeat(30)))
            .collect();
        for line in &lines {
            log.write_line(line.as_bytes()).unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        let current = read(&path);
        let one = read(&dir.path().join("node.log.1"));
        let two = read(&dir.path().join("node.log.2"));
        assert!(!dir.path().join("node.log.3").exists());
        for file in [&current, &one, &two] {
            assert!(file.len() <= 100, "{file}");
            assert!(file.lines().all(|l| l.len() == 38), "{file}");
        }
        // Newest last: .2 holds older lines than .1, which holds older lines than the current.
        assert!(current.ends_with(&lines[11]));
        assert_eq!(format!("{two}{one}{current}"), lines[6..].concat());
        // Reopening counts what is there.
        let mut again = RotatingLog::open(&path, 100, 2).unwrap();
        again.write_line(lines[0].as_bytes()).unwrap();
        assert_eq!(read(&dir.path().join("node.log.1")), current);
    }
}
