//! [`AuditLog`]: the single writer of one JSON-Lines audit file and its `.head` anchor.
//!
//! Opening takes an exclusive advisory lock on the file (a second writer would fork the
//! chain), removes a torn last line left by a crash (reporting it in [`OpenReport`]), checks
//! the last event's hash and the anchor, and recovers the head hash. Appends are single
//! `write` calls of one complete line; a failed write is rolled back by truncating to the last
//! complete line, and a failed fsync poisons the log (after a failed fsync the kernel may have
//! dropped the dirty pages, so what is on disk is unknown until the file is reopened).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{canonical_json, chain_hash, decode_hash, find_float, GENESIS_HASH};
use crate::error::{AuditError, Result};
use crate::event::AuditEvent;

/// When appended events are fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every [`AuditLog::append`] fsyncs the log and replaces the anchor before returning.
    #[default]
    EveryEvent,
    /// Appends only `write` (the line survives a process crash, not an OS crash);
    /// [`AuditLog::flush`] fsyncs and replaces the anchor.
    Batched,
}

/// The `.head` anchor: how many events the log had at its last fsync, and the last one's hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    /// Number of events.
    pub count: u64,
    /// `hash` of event number `count` ([`GENESIS_HASH`] when `count` is 0).
    pub hash: String,
}

/// What [`AuditLog::open`] found and repaired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// The file did not exist and was created.
    pub created: bool,
    /// Complete events in the log after opening.
    pub events: u64,
    /// The head hash new events chain from.
    pub head_hash: String,
    /// Bytes of a torn (newline-less) last line that were truncated away; 0 if none. A torn
    /// line is a write interrupted by a crash and was never acknowledged as durable.
    pub truncated_bytes: u64,
    /// The anchor found next to the log, if any. `None` with `events > 0` means the anchor was
    /// missing (deleted?) and has been recreated from the log: worth a warning.
    pub anchor: Option<Anchor>,
}

/// The anchor file for the log at `path`: `path` with `.head` appended to its file name.
pub fn anchor_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".head");
    PathBuf::from(name)
}

/// An open audit log: the only writer of its file.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: File,
    /// Bytes of complete lines.
    len: u64,
    events: u64,
    head: String,
    durability: Durability,
    /// Lines written since the last fsync.
    unsynced: bool,
    poisoned: bool,
    report: OpenReport,
}

impl AuditLog {
    /// Opens (or creates, mode `0600`) the log at `path` with [`Durability::EveryEvent`].
    ///
    /// Fails with [`AuditError::Locked`] if another `AuditLog` has it open,
    /// [`AuditError::Corrupt`] if the last complete line is not a valid event with a correct
    /// hash, and [`AuditError::AnchorMismatch`] if the `.head` anchor names more events than
    /// the log holds or a different hash (run [`verify`](crate::verify) to investigate).
    pub fn open(path: impl AsRef<Path>) -> Result<AuditLog> {
        AuditLog::open_with(path, Durability::EveryEvent)
    }

    /// [`AuditLog::open`] with a chosen [`Durability`].
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<AuditLog> {
        let path = path.as_ref().to_path_buf();
        let existed = path.try_exists()?;
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(AuditError::Locked),
            Err(TryLockError::Error(e)) => return Err(e.into()),
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        if !existed {
            sync_parent_dir(&path)?;
        }

        let anchor = read_anchor(&anchor_path(&path))
            .map_err(|e| AuditError::AnchorMismatch(format!("unreadable anchor: {e}")))?;

        // One pass over the file: count complete lines, keep the last one and the one the
        // anchor names, and find a torn tail.
        let mut lines = Lines::new(&file);
        let mut last: Option<Vec<u8>> = None;
        let mut anchored: Option<Vec<u8>> = None;
        let mut torn_at = None;
        while let Some(line) = lines.next_line()? {
            if !line.complete {
                torn_at = Some(line.offset);
                break;
            }
            if anchor.as_ref().is_some_and(|a| a.count == line.number) {
                anchored = Some(lines.buf.clone());
            }
            last = Some(std::mem::take(&mut lines.buf));
        }
        let events = lines.complete;
        let len = lines.offset;
        drop(lines);

        let head = match &last {
            None => GENESIS_HASH.to_owned(),
            Some(bytes) => {
                let (value, event) = parse_line(bytes).map_err(|reason| AuditError::Corrupt {
                    line: events,
                    reason,
                })?;
                check_hash(&value, &event).map_err(|reason| AuditError::Corrupt {
                    line: events,
                    reason,
                })?;
                event.hash
            }
        };

        if let Some(a) = &anchor {
            let anchored_hash = if a.count == 0 {
                Some(GENESIS_HASH.to_owned())
            } else if a.count == events {
                Some(head.clone())
            } else {
                anchored
                    .as_deref()
                    .and_then(|b| serde_json::from_slice::<Value>(b).ok())
                    .and_then(|v| v.get("hash")?.as_str().map(str::to_owned))
            };
            if a.count > events {
                return Err(AuditError::AnchorMismatch(format!(
                    "anchor says {} events, the log has {events} (events removed from the end?)",
                    a.count
                )));
            }
            if anchored_hash.as_deref() != Some(a.hash.as_str()) {
                return Err(AuditError::AnchorMismatch(format!(
                    "event {} does not have the anchored hash {}",
                    a.count, a.hash
                )));
            }
        }

        // Only now, with the rest checked, remove a torn tail: an error above leaves the file
        // untouched for investigation.
        let mut truncated_bytes = 0;
        if let Some(at) = torn_at {
            let total = file.metadata()?.len();
            file.set_len(at)?;
            file.sync_all()?;
            truncated_bytes = total - at;
        }

        let report = OpenReport {
            created: !existed,
            events,
            head_hash: head.clone(),
            truncated_bytes,
            anchor: anchor.clone(),
        };
        let log = AuditLog {
            path,
            file,
            len,
            events,
            head,
            durability,
            unsynced: false,
            poisoned: false,
            report,
        };
        if anchor.as_ref().map(|a| a.count) != Some(events) {
            // Bring the anchor up to the (now fsynced) log.
            log.file.sync_data()?;
            log.write_anchor().map_err(AuditError::Anchor)?;
        }
        Ok(log)
    }

    /// What opening found and repaired.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of events in the log.
    pub fn event_count(&self) -> u64 {
        self.events
    }

    /// The last event's `hash` ([`GENESIS_HASH`] for an empty log).
    pub fn head_hash(&self) -> &str {
        &self.head
    }

    /// The current durability setting.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Changes the durability setting; switching to [`Durability::EveryEvent`] flushes.
    pub fn set_durability(&mut self, durability: Durability) -> Result<()> {
        self.durability = durability;
        if durability == Durability::EveryEvent {
            self.flush()?;
        }
        Ok(())
    }

    /// Chains `event` onto the log (filling `prevHash` and `hash`), writes it as one line and,
    /// with [`Durability::EveryEvent`], fsyncs it and updates the anchor. Returns the event as
    /// written.
    ///
    /// [`AuditError::InvalidEvent`] if the event holds a non-integer number.
    /// [`AuditError::Anchor`] means the event is durable but the anchor is behind.
    pub fn append(&mut self, event: AuditEvent) -> Result<AuditEvent> {
        let event = self.write_event(event)?;
        if self.durability == Durability::EveryEvent {
            self.flush()?;
        }
        Ok(event)
    }

    /// Fsyncs appended events and updates the anchor (a no-op if nothing is pending).
    pub fn flush(&mut self) -> Result<()> {
        if self.poisoned {
            return Err(AuditError::Poisoned);
        }
        if !self.unsynced {
            return Ok(());
        }
        if let Err(e) = self.file.sync_data() {
            self.poisoned = true;
            return Err(e.into());
        }
        self.unsynced = false;
        self.write_anchor().map_err(AuditError::Anchor)
    }

    /// Chains and writes `event` without fsyncing.
    pub(crate) fn write_event(&mut self, mut event: AuditEvent) -> Result<AuditEvent> {
        if self.poisoned {
            return Err(AuditError::Poisoned);
        }
        event.prev_hash = self.head.clone();
        event.hash = String::new();
        // `Some(null)` would read back as `None`; normalise so the returned event matches.
        if event.request_parameters == Some(Value::Null) {
            event.request_parameters = None;
        }
        if event.response_elements == Some(Value::Null) {
            event.response_elements = None;
        }
        let mut value =
            serde_json::to_value(&event).map_err(|e| AuditError::InvalidEvent(e.to_string()))?;
        if let Some(at) = find_float(&value) {
            return Err(AuditError::InvalidEvent(format!(
                "non-integer number at {at}; audit events may only hold integers"
            )));
        }
        let hash = chain_hash(&value)
            .ok_or_else(|| AuditError::InvalidEvent("head hash is not lowercase hex".into()))?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("hash".into(), Value::from(hash.as_str()));
        }
        let mut line = canonical_json(&value);
        line.push('\n');
        if let Err(e) = self.file.write_all(line.as_bytes()) {
            // Undo a partial line so the next append does not extend it.
            if self.file.set_len(self.len).is_err() {
                self.poisoned = true;
            }
            return Err(e.into());
        }
        self.len += line.len() as u64;
        self.events += 1;
        self.unsynced = true;
        self.head.clone_from(&hash);
        event.hash = hash;
        Ok(event)
    }

    /// Replaces the anchor atomically: write a temporary file, fsync it, rename it over.
    /// The directory is not fsynced: losing the rename in a crash leaves the anchor behind the
    /// log, which is tolerated.
    fn write_anchor(&self) -> io::Result<()> {
        let anchor = Anchor {
            count: self.events,
            hash: self.head.clone(),
        };
        let target = anchor_path(&self.path);
        let mut tmp_name = OsString::from(target.as_os_str());
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        let mut text = serde_json::to_string(&anchor).map_err(io::Error::other)?;
        text.push('\n');
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, &target)
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        // Best effort for `Batched` logs; errors cannot be reported from here.
        if self.unsynced && !self.poisoned {
            let _ = self.flush();
        }
    }
}

/// Reads the anchor next to a log: `Ok(None)` if there is none.
pub(crate) fn read_anchor(path: &Path) -> io::Result<Option<Anchor>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let anchor: Anchor = serde_json::from_str(text.trim_end_matches('\n'))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if decode_hash(&anchor.hash).is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "anchor hash is not 64 lowercase hex digits",
        ));
    }
    Ok(Some(anchor))
}

/// Parses one line (without its `\n`) into the raw value the hash covers and the typed
/// event, or says why it is not a valid event.
pub(crate) fn parse_line(bytes: &[u8]) -> std::result::Result<(Value, AuditEvent), String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    if let Some(at) = find_float(&value) {
        return Err(format!("non-integer number at {at}"));
    }
    let event: AuditEvent =
        serde_json::from_value(value.clone()).map_err(|e| format!("not an audit event: {e}"))?;
    if decode_hash(&event.prev_hash).is_none() {
        return Err("prevHash is not 64 lowercase hex digits".into());
    }
    if decode_hash(&event.hash).is_none() {
        return Err("hash is not 64 lowercase hex digits".into());
    }
    Ok((value, event))
}

/// Checks the event's `hash` against its content.
pub(crate) fn check_hash(value: &Value, event: &AuditEvent) -> std::result::Result<(), String> {
    match chain_hash(value) {
        Some(h) if h == event.hash => Ok(()),
        Some(h) => Err(format!(
            "hash {} does not match content (expected {h})",
            event.hash
        )),
        None => Err("prevHash is not 64 lowercase hex digits".into()),
    }
}

/// Fsyncs the directory holding `path`, so a newly created file's entry is durable.
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir)?.sync_all()?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// One line read by [`Lines`].
pub(crate) struct LineInfo {
    /// 1-based line number.
    pub number: u64,
    /// Byte offset of its first byte.
    pub offset: u64,
    /// Whether it ended with `\n` (the `\n` is not in the buffer).
    pub complete: bool,
}

/// Reads a log line by line into a reused buffer, tracking offsets.
pub(crate) struct Lines<R> {
    reader: BufReader<R>,
    /// The current line, without its `\n`.
    pub buf: Vec<u8>,
    /// Offset just past the last complete line read.
    pub offset: u64,
    /// Complete lines read so far.
    pub complete: u64,
}

impl<R: Read> Lines<R> {
    pub(crate) fn new(inner: R) -> Lines<R> {
        Lines {
            reader: BufReader::with_capacity(64 * 1024, inner),
            buf: Vec::new(),
            offset: 0,
            complete: 0,
        }
    }

    /// The next line, or `None` at the end of the file. After an incomplete line (a torn tail)
    /// the file has ended.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<LineInfo>> {
        self.buf.clear();
        let n = self.reader.read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        let offset = self.offset;
        let complete = self.buf.last() == Some(&b'\n');
        if complete {
            self.buf.pop();
            self.offset += n as u64;
            self.complete += 1;
        }
        Ok(Some(LineInfo {
            number: self.complete + u64::from(!complete),
            offset,
            complete,
        }))
    }
}
