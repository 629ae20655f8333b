//! [`Clock`]: the one source of wall-clock time of a node, injected so tests can move it.

use std::sync::Arc;

/// Milliseconds since the Unix epoch, as the node reads them. Every reader of time (SigV4's
/// date check, authorization's `aws:CurrentTime`, STS expiry, new key and grant timestamps, the
/// leader's deletion and rotation tasks) takes the node's one `Clock`.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> i64 + Send + Sync>);

impl Clock {
    /// A clock reading `now_ms`.
    pub fn new(now_ms: impl Fn() -> i64 + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now_ms))
    }

    /// The system clock.
    pub fn system() -> Clock {
        Clock::new(system_now_ms)
    }

    /// A clock that always reads `ms` (tests).
    pub fn fixed(ms: i64) -> Clock {
        Clock::new(move || ms)
    }

    /// The time now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({} ms)", self.now_ms())
    }
}

/// The system's time in milliseconds since the Unix epoch (0 before 1970).
pub fn system_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
