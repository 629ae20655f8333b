//! [`verify`]: recompute a log's chain and compare it with its `.head` anchor.
//!
//! See the crate documentation for what this does and does not detect. `verify` only reads;
//! it can run while a writer appends (it reads the anchor first, so a consistent writer can
//! only be ahead of it), though a line being written at that moment shows up as a torn tail.

use std::fs::File;
use std::path::Path;

use crate::canonical::GENESIS_HASH;
use crate::error::Result;
use crate::log::{anchor_path, check_hash, parse_line, read_anchor, Anchor, Lines};

/// The outcome of [`verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Events verified before the first failure (all of them if there is none).
    pub events: u64,
    /// `hash` of the last verified event ([`GENESIS_HASH`] if none). Compare with a copy kept
    /// elsewhere to detect a rewritten chain.
    pub head_hash: String,
    /// The anchor comparison.
    pub anchor: AnchorStatus,
    /// The first problem found, if any.
    pub failure: Option<VerifyFailure>,
}

impl VerifyReport {
    /// Whether the log verified without failure.
    pub fn is_ok(&self) -> bool {
        self.failure.is_none()
    }
}

/// How the log compared with its `.head` anchor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorStatus {
    /// There is no anchor file: tail truncation cannot be detected.
    Absent,
    /// The chain failed before the anchor could be compared, or the anchor is unreadable.
    NotChecked,
    /// The anchor names the last event.
    Matched,
    /// The anchor names an earlier event, with the right hash: normal after a crash between
    /// the log's fsync and the anchor's replacement, or while a writer is appending.
    Behind {
        /// The anchor's event count.
        anchor_count: u64,
    },
    /// The anchor contradicts the log (see the failure).
    Mismatch,
}

/// The first problem [`verify`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyFailure {
    /// 1-based line number the problem is at (for anchor problems, the anchored event; 0 for
    /// an unreadable anchor).
    pub line: u64,
    /// What is wrong.
    pub kind: FailureKind,
}

/// What [`verify`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// The line is not a valid event (not JSON, wrong shape, bad hash syntax, a float).
    Malformed(String),
    /// `prevHash` is not the previous event's `hash`: a line was deleted, inserted or moved.
    PrevHashMismatch {
        /// The previous event's hash.
        expected: String,
        /// The line's `prevHash`.
        found: String,
    },
    /// `hash` does not match the line's content: the line was edited.
    HashMismatch {
        /// The hash recomputed from the content.
        expected: String,
        /// The line's `hash`.
        found: String,
    },
    /// The file ends in a line without `\n` (an interrupted write, or a line cut short).
    TornTail {
        /// Length of the partial line.
        bytes: u64,
    },
    /// The anchor names more events than the log holds: events were removed from the end.
    Truncated {
        /// The anchor's event count.
        anchor_count: u64,
        /// Events in the log.
        events: u64,
    },
    /// The anchored event's hash differs from the anchor's.
    AnchorMismatch {
        /// The anchor's hash.
        anchored: String,
        /// The log's hash at that event.
        found: String,
    },
    /// The anchor file exists but cannot be read or parsed.
    AnchorUnreadable(String),
}

/// Recomputes every hash in the log at `path` and compares the result with `<path>.head` if
/// present. `Err` only for I/O errors opening or reading the log; every integrity problem is
/// reported in the [`VerifyReport`].
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport> {
    let path = path.as_ref();
    // The anchor first: a writer updates it only after the log, so the log read afterwards is
    // at least as long as the anchor says.
    let anchor = read_anchor(&anchor_path(path));
    let mut lines = Lines::new(File::open(path)?);
    let mut prev = GENESIS_HASH.to_owned();
    let mut anchored_hash = None;
    let wanted = anchor
        .as_ref()
        .ok()
        .and_then(|a| a.as_ref().map(|a| a.count));
    let mut failure = None;
    let mut events = 0u64;

    while let Some(line) = lines.next_line()? {
        if !line.complete {
            failure = Some(VerifyFailure {
                line: line.number,
                kind: FailureKind::TornTail {
                    bytes: lines.buf.len() as u64,
                },
            });
            break;
        }
        let fail = |kind| {
            Some(VerifyFailure {
                line: line.number,
                kind,
            })
        };
        let (value, event) = match parse_line(&lines.buf) {
            Ok(parsed) => parsed,
            Err(reason) => {
                failure = fail(FailureKind::Malformed(reason));
                break;
            }
        };
        if event.prev_hash != prev {
            failure = fail(FailureKind::PrevHashMismatch {
                expected: prev.clone(),
                found: event.prev_hash,
            });
            break;
        }
        if let Err(reason) = check_hash(&value, &event) {
            let expected = crate::canonical::chain_hash(&value).unwrap_or(reason);
            failure = fail(FailureKind::HashMismatch {
                expected,
                found: event.hash,
            });
            break;
        }
        if Some(line.number) == wanted {
            anchored_hash = Some(event.hash.clone());
        }
        prev = event.hash;
        events += 1;
    }

    let anchor_status = if failure.is_some() {
        AnchorStatus::NotChecked
    } else {
        match anchor {
            Err(e) => {
                failure = Some(VerifyFailure {
                    line: 0,
                    kind: FailureKind::AnchorUnreadable(e.to_string()),
                });
                AnchorStatus::NotChecked
            }
            Ok(None) => AnchorStatus::Absent,
            Ok(Some(Anchor { count, hash })) => {
                let found = if count == 0 {
                    Some(GENESIS_HASH.to_owned())
                } else {
                    anchored_hash
                };
                match found {
                    None => {
                        failure = Some(VerifyFailure {
                            line: count,
                            kind: FailureKind::Truncated {
                                anchor_count: count,
                                events,
                            },
                        });
                        AnchorStatus::Mismatch
                    }
                    Some(found) if found != hash => {
                        failure = Some(VerifyFailure {
                            line: count,
                            kind: FailureKind::AnchorMismatch {
                                anchored: hash,
                                found,
                            },
                        });
                        AnchorStatus::Mismatch
                    }
                    Some(_) if count < events => AnchorStatus::Behind {
                        anchor_count: count,
                    },
                    Some(_) => AnchorStatus::Matched,
                }
            }
        }
    };

    Ok(VerifyReport {
        events,
        head_hash: prev,
        anchor: anchor_status,
        failure,
    })
}
