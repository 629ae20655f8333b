//! The crate's error type.

use std::io;

/// Errors from writing, verifying or querying an audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// Reading or writing the log failed.
    #[error("audit log I/O: {0}")]
    Io(#[from] io::Error),
    /// The events are durably in the log, but replacing the `.head` anchor failed; the anchor
    /// is behind the log (which [`verify`](crate::verify) tolerates).
    #[error("audit log anchor not updated (events are durable): {0}")]
    Anchor(io::Error),
    /// Another [`AuditLog`](crate::AuditLog) holds the file's lock.
    #[error("audit log is locked by another writer")]
    Locked,
    /// A complete line of the log (1-based) is not a valid event. Run
    /// [`verify`](crate::verify) for a full diagnosis.
    #[error("audit log line {line} is corrupt: {reason}")]
    Corrupt {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The `.head` anchor does not match the log: events were removed or rewritten.
    #[error("audit log does not match its head anchor: {0}")]
    AnchorMismatch(String),
    /// The event cannot be logged as given.
    #[error("invalid audit event: {0}")]
    InvalidEvent(String),
    /// An earlier write or fsync failed in a way that may have left the file inconsistent;
    /// the log refuses further appends until reopened.
    #[error("audit log is unusable after an earlier write or fsync failure")]
    Poisoned,
    /// The [`SharedAuditLog`](crate::SharedAuditLog) writer thread has stopped.
    #[error("audit log writer has stopped")]
    WriterStopped,
}

/// Shorthand for `Result<T, AuditError>`.
pub type Result<T> = std::result::Result<T, AuditError>;

impl AuditError {
    /// A copy for handing the same failure to several waiters (`io::Error` is not `Clone`).
    pub(crate) fn duplicate(&self) -> AuditError {
        fn io_copy(e: &io::Error) -> io::Error {
            io::Error::new(e.kind(), e.to_string())
        }
        match self {
            AuditError::Io(e) => AuditError::Io(io_copy(e)),
            AuditError::Anchor(e) => AuditError::Anchor(io_copy(e)),
            AuditError::Locked => AuditError::Locked,
            AuditError::Corrupt { line, reason } => AuditError::Corrupt {
                line: *line,
                reason: reason.clone(),
            },
            AuditError::AnchorMismatch(s) => AuditError::AnchorMismatch(s.clone()),
            AuditError::InvalidEvent(s) => AuditError::InvalidEvent(s.clone()),
            AuditError::Poisoned => AuditError::Poisoned,
            AuditError::WriterStopped => AuditError::WriterStopped,
        }
    }
}
