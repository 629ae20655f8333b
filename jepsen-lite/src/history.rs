//! The recorded history of a run: one JSON object per line (JSONL), written as events happen so
//! a crashed harness still leaves a readable prefix.
//!
//! Jepsen's model: a client `invoke`s an operation and later completes it with `ok` (it took
//! effect), `fail` (it definitely did not) or `info` (unknown: it may or may not have). A process
//! that got `info` never issues another operation (the harness gives the client a new process
//! number). The nemesis records its faults as `info` events with `process` = "nemesis".

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::Path;

/// How an event relates to its operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// The operation was sent.
    Invoke,
    /// It completed and took effect.
    Ok,
    /// It completed and definitely did not take effect.
    Fail,
    /// Its outcome is unknown (timeout, lost connection, 5xx on a mutation); or a nemesis event.
    Info,
}

/// Who issued an event: a client process number, or the nemesis.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Process {
    /// A client process.
    Client(u64),
    /// The fault injector (serialized as the string "nemesis").
    Nemesis(String),
}

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Position in the history, 0-based, strictly increasing.
    pub index: u64,
    /// Nanoseconds since the start of the run (one monotonic clock for the whole harness).
    pub time_ns: u64,
    /// invoke / ok / fail / info.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Who issued it.
    pub process: Process,
    /// The node the client talked to ("n1", ...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The operation: `create_key`, `describe_key`, `enable_key`, `disable_key`,
    /// `update_description`, `encrypt`, `decrypt`, `schedule_deletion`, `cancel_deletion`,
    /// `list_keys`; or a nemesis function (`kill`, `restart`, `pause`, `resume`, ...).
    pub f: String,
    /// The logical key the operation targets (workload name such as "k3"), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Operation input on `invoke`, observed output on `ok` (see each workload's model).
    #[serde(default)]
    pub value: serde_json::Value,
    /// The AWS error `__type` of a `fail` (or of an `info` caused by a 5xx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Event {
    /// An `info` event of the harness side (`process` is the nemesis or the harness itself):
    /// index and time are filled in by the recorder.
    pub fn harness_info(
        process: &str,
        node: Option<String>,
        f: impl Into<String>,
        value: serde_json::Value,
    ) -> Event {
        Event {
            index: 0,
            time_ns: 0,
            kind: EventType::Info,
            process: Process::Nemesis(process.into()),
            node,
            f: f.into(),
            key: None,
            value,
            error: None,
        }
    }
}

/// Appends events to `history.jsonl`, flushing each line.
pub struct HistoryWriter {
    file: std::io::BufWriter<std::fs::File>,
    next_index: u64,
}

impl HistoryWriter {
    /// Creates (truncates) the history file.
    pub fn create(path: &Path) -> std::io::Result<HistoryWriter> {
        Ok(HistoryWriter {
            file: std::io::BufWriter::new(std::fs::File::create(path)?),
            next_index: 0,
        })
    }

    /// Assigns the next index to `event`, writes it and flushes; returns the index.
    pub fn append(&mut self, mut event: Event) -> std::io::Result<u64> {
        event.index = self.next_index;
        self.next_index += 1;
        serde_json::to_writer(&mut self.file, &event)?;
        self.file.write_all(b"\n")?;
        self.file.flush()?;
        Ok(event.index)
    }
}

/// Reads a history file; a truncated last line (harness crash) is ignored.
pub fn read(path: &Path) -> std::io::Result<Vec<Event>> {
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let mut events = Vec::new();
    for line in file.lines() {
        let line = line?;
        match serde_json::from_str::<Event>(&line) {
            Ok(event) => events.push(event),
            Err(_) if line.trim().is_empty() => {}
            Err(_) => break,
        }
    }
    Ok(events)
}

/// A completed operation: its invocation paired with its completion (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// The invoke event.
    pub invoke: Event,
    /// The ok/fail/info completion; `None` if the history ended first (treated like `info`).
    pub completion: Option<Event>,
}

impl Operation {
    /// The completion type, `Info` if the operation never completed.
    pub fn outcome(&self) -> EventType {
        self.completion.as_ref().map_or(EventType::Info, |c| c.kind)
    }
}

/// Pairs each client invoke with the next completion of the same process, in invoke order.
/// Nemesis events are skipped.
pub fn pair(events: &[Event]) -> Vec<Operation> {
    let mut open: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut operations: Vec<Operation> = Vec::new();
    for event in events {
        let Process::Client(process) = event.process else {
            continue;
        };
        match event.kind {
            EventType::Invoke => {
                open.insert(process, operations.len());
                operations.push(Operation {
                    invoke: event.clone(),
                    completion: None,
                });
            }
            _ => {
                if let Some(at) = open.remove(&process) {
                    operations[at].completion = Some(event.clone());
                }
            }
        }
    }
    operations
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventType, process: u64, time_ns: u64) -> Event {
        Event {
            index: 0,
            time_ns,
            kind,
            process: Process::Client(process),
            node: Some("n1".into()),
            f: "enable_key".into(),
            key: Some("k1".into()),
            value: serde_json::Value::Null,
            error: None,
        }
    }

    #[test]
    fn histories_round_trip_and_pair_by_process() {
        let dir = std::env::temp_dir().join(format!("jl-history-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("history.jsonl");
        let mut writer = HistoryWriter::create(&path).expect("create");
        for e in [
            event(EventType::Invoke, 1, 1),
            event(EventType::Invoke, 2, 2),
            event(EventType::Ok, 2, 3),
            event(EventType::Fail, 1, 4),
        ] {
            writer.append(e).expect("append");
        }
        let mut nemesis = event(EventType::Info, 0, 5);
        nemesis.process = Process::Nemesis("nemesis".into());
        writer.append(nemesis).expect("append");
        drop(writer);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(b"{\"index\": 9, \"trunc"))
            .expect("append garbage");
        let events = read(&path).expect("read");
        assert_eq!(events.len(), 5);
        assert_eq!(
            events.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        let operations = pair(&events);
        assert_eq!(operations.len(), 2);
        assert_eq!(operations[0].outcome(), EventType::Fail);
        assert_eq!(operations[1].outcome(), EventType::Ok);
        std::fs::remove_dir_all(&dir).ok();
    }
}
