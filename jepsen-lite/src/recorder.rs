//! The history recorder: every event of a run goes through one [`Recorder`] (one
//! `history::HistoryWriter` behind a mutex, one `Instant` for all `time_ns`, so invoke and
//! completion times are comparable without clock sync). It keeps an in-memory copy tagged
//! with the workload that produced each event, so each checker can be given only its own
//! workload's events plus the untagged (nemesis and harness) ones.

use crate::generator::Workload;
use crate::history::{Event, HistoryWriter};
use anyhow::Context;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The shared history: one writer, one clock, and an in-memory copy tagged by workload.
pub struct Recorder {
    start: Instant,
    inner: Mutex<RecorderInner>,
}

struct RecorderInner {
    writer: HistoryWriter,
    events: Vec<(Option<Workload>, Event)>,
}

impl Recorder {
    /// Creates `path`; `time_ns` counts from now.
    pub fn create(path: &Path) -> anyhow::Result<Recorder> {
        Ok(Recorder {
            start: Instant::now(),
            inner: Mutex::new(RecorderInner {
                writer: HistoryWriter::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
                events: Vec::new(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderInner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Time since the recorder was created.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Stamps `event` with the time and next index, appends it to the file, and keeps a copy
    /// tagged with `workload` (`None` = belongs to every workload, e.g. nemesis events).
    pub fn record(&self, workload: Option<Workload>, mut event: Event) -> anyhow::Result<()> {
        let mut inner = self.lock();
        event.time_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        event.index = inner
            .writer
            .append(event.clone())
            .context("writing the history")?;
        inner.events.push((workload, event));
        Ok(())
    }

    /// The whole history so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().events.iter().map(|(_, e)| e.clone()).collect()
    }

    /// Every event except those of `workload`.
    pub fn events_except(&self, workload: Workload) -> Vec<Event> {
        self.lock()
            .events
            .iter()
            .filter(|(w, _)| *w != Some(workload))
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// The events of `workload` and the untagged (nemesis) events.
    pub fn events_for(&self, workload: Workload) -> Vec<Event> {
        self.lock()
            .events
            .iter()
            .filter(|(w, _)| w.is_none_or(|w| w == workload))
            .map(|(_, e)| e.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;
    use serde_json::json;

    fn nemesis_event(f: &str, status: &str) -> Event {
        Event::harness_info(
            "nemesis",
            None,
            f,
            json!({ "nodes": ["n1"], "status": status }),
        )
    }

    #[tokio::test]
    async fn recorder_stamps_indices_and_splits_by_workload() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::create(&dir.path().join("h.jsonl")).unwrap();
        let mut e = nemesis_event("start_kill", "installed");
        recorder.record(None, e.clone()).unwrap();
        e.process = Process::Client(1);
        e.f = "create_key".into();
        recorder
            .record(Some(Workload::CreateSet), e.clone())
            .unwrap();
        e.f = "encrypt".into();
        recorder.record(Some(Workload::Crypto), e).unwrap();
        let all = recorder.events();
        assert_eq!(
            all.iter().map(|e| e.index).collect::<Vec<_>>(),
            vec![0, 1, 2]
        );
        assert!(all.windows(2).all(|w| w[0].time_ns <= w[1].time_ns));
        let crypto = recorder.events_for(Workload::Crypto);
        assert_eq!(
            crypto.iter().map(|e| e.f.as_str()).collect::<Vec<_>>(),
            vec!["start_kill", "encrypt"]
        );
        let on_disk = crate::history::read(&dir.path().join("h.jsonl")).unwrap();
        assert_eq!(on_disk, all);
    }
}
