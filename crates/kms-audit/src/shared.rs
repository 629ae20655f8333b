//! [`SharedAuditLog`]: one [`AuditLog`] behind a writer thread, for many concurrent callers.
//!
//! Design: callers put jobs on a bounded in-memory queue and get a [`Pending`] future; a
//! dedicated std thread owns the `AuditLog`, takes everything queued at once, writes it and,
//! for [`Durability::EveryEvent`], fsyncs once for the whole group before resolving the
//! futures (group commit: every acknowledged event is durable, and concurrent requests share
//! fsyncs). An async task therefore never performs file I/O or an fsync on the runtime: it
//! only takes a short mutex to enqueue and then waits on a waker. When the queue is full the
//! future waits (asynchronously) for room, which is the backpressure a slow disk exerts on
//! request handling. No tokio dependency is needed; [`Pending::wait`] serves synchronous
//! callers.
//!
//! Once a [`Pending`] has enqueued its job, dropping it does not cancel the job: the event is
//! still logged. The writer stops when [`SharedAuditLog::shutdown`] is called or the last
//! clone is dropped (which joins the thread, so it waits for the final fsync); queued jobs are
//! written first, later ones fail with [`AuditError::WriterStopped`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, JoinHandle, Thread};

use crate::error::{AuditError, Result};
use crate::event::AuditEvent;
use crate::log::{AuditLog, Durability};

/// A cloneable handle to an [`AuditLog`] owned by a writer thread. See the module docs.
#[derive(Clone, Debug)]
pub struct SharedAuditLog {
    shared: Arc<Shared>,
    handle: Arc<WriterHandle>,
}

impl SharedAuditLog {
    /// Starts a writer thread owning `log`, with room for `capacity` queued jobs (at least 1).
    /// The log's [`Durability`] decides when appends resolve: after the group's fsync
    /// (`EveryEvent`) or after the write (`Batched`; call [`SharedAuditLog::flush`]).
    pub fn spawn(log: AuditLog, capacity: usize) -> Result<SharedAuditLog> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                waiting_senders: Vec::new(),
                closed: false,
            }),
            work: Condvar::new(),
        });
        let writer_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("kms-audit-writer".into())
            .spawn(move || run_writer(&writer_shared, log))?;
        Ok(SharedAuditLog {
            handle: Arc::new(WriterHandle {
                shared: Arc::clone(&shared),
                thread: Mutex::new(Some(thread)),
            }),
            shared,
        })
    }

    /// Appends `event`; the future resolves to the event as written (with its hashes).
    pub fn append(&self, event: AuditEvent) -> Pending<AuditEvent> {
        let (responder, slot) = channel();
        Pending {
            shared: Arc::clone(&self.shared),
            job: Some(Job::Append(Box::new(event), responder)),
            slot,
        }
    }

    /// Fsyncs everything appended before it and updates the anchor.
    pub fn flush(&self) -> Pending<()> {
        let (responder, slot) = channel();
        Pending {
            shared: Arc::clone(&self.shared),
            job: Some(Job::Flush(responder)),
            slot,
        }
    }

    /// Stops the writer after it has written and flushed everything queued, and returns the
    /// final flush's result. Other clones' later appends fail with
    /// [`AuditError::WriterStopped`]. Blocks until the thread has exited.
    pub fn shutdown(self) -> Result<()> {
        self.handle.stop()
    }
}

/// A queued append or flush; resolves when the writer has done it. Also usable without an
/// async runtime through [`Pending::wait`].
#[must_use = "a Pending does nothing until polled or waited on"]
#[derive(Debug)]
pub struct Pending<T> {
    shared: Arc<Shared>,
    /// The job, until it is on the queue.
    job: Option<Job>,
    slot: Arc<Slot<T>>,
}

impl<T> Pending<T> {
    /// Whether the job is on the writer's queue (it is done even if this future is dropped);
    /// false until a poll found room for it.
    pub fn is_queued(&self) -> bool {
        self.job.is_none()
    }

    /// Blocks the current thread until the job is done. Not for use on an async runtime's
    /// threads; `.await` the `Pending` there.
    pub fn wait(mut self) -> Result<T> {
        let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            match Pin::new(&mut self).poll(&mut cx) {
                Poll::Ready(r) => return r,
                Poll::Pending => thread::park(),
            }
        }
    }
}

impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let this = self.get_mut();
        if let Some(job) = this.job.take() {
            let mut state = lock(&this.shared.state);
            if state.closed {
                return Poll::Ready(Err(AuditError::WriterStopped));
            }
            if state.queue.len() >= state.capacity {
                if !state
                    .waiting_senders
                    .iter()
                    .any(|w| w.will_wake(cx.waker()))
                {
                    state.waiting_senders.push(cx.waker().clone());
                }
                this.job = Some(job);
                return Poll::Pending;
            }
            state.queue.push_back(job);
            drop(state);
            this.shared.work.notify_one();
        }
        let mut slot = lock(&this.slot.state);
        match slot.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signals the writer that jobs arrived or the log is closing.
    work: Condvar,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Job>,
    capacity: usize,
    /// Futures waiting for room on the queue.
    waiting_senders: Vec<Waker>,
    closed: bool,
}

#[derive(Debug)]
enum Job {
    Append(Box<AuditEvent>, Responder<AuditEvent>),
    Flush(Responder<()>),
}

/// Where a job's result goes.
#[derive(Debug)]
struct Slot<T> {
    state: Mutex<SlotState<T>>,
}

#[derive(Debug)]
struct SlotState<T> {
    result: Option<Result<T>>,
    waker: Option<Waker>,
}

/// The writer's end of a [`Slot`]. Dropping it unanswered (the writer stopped or panicked)
/// answers [`AuditError::WriterStopped`], so no future waits forever.
#[derive(Debug)]
struct Responder<T> {
    slot: Option<Arc<Slot<T>>>,
}

fn channel<T>() -> (Responder<T>, Arc<Slot<T>>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotState {
            result: None,
            waker: None,
        }),
    });
    (
        Responder {
            slot: Some(Arc::clone(&slot)),
        },
        slot,
    )
}

impl<T> Responder<T> {
    fn send(mut self, result: Result<T>) {
        self.deliver(result);
    }

    fn deliver(&mut self, result: Result<T>) {
        if let Some(slot) = self.slot.take() {
            let waker = {
                let mut state = lock(&slot.state);
                state.result = Some(result);
                state.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> Drop for Responder<T> {
    fn drop(&mut self) {
        self.deliver(Err(AuditError::WriterStopped));
    }
}

/// Owns the writer thread; the last [`SharedAuditLog`] clone's drop stops and joins it.
#[derive(Debug)]
struct WriterHandle {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<Result<()>>>>,
}

impl WriterHandle {
    fn stop(&self) -> Result<()> {
        close(&self.shared);
        let thread = lock(&self.thread).take();
        match thread.map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_panic)) => Err(AuditError::WriterStopped),
        }
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

fn close(shared: &Shared) {
    lock(&shared.state).closed = true;
    shared.work.notify_all();
}

/// On the writer's exit, normal or by panic: refuse new jobs, fail queued ones, wake senders.
struct ExitGuard<'a>(&'a Shared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        let (queue, senders) = {
            let mut state = lock(&self.0.state);
            state.closed = true;
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.waiting_senders),
            )
        };
        drop(queue); // Each job's Responder answers WriterStopped.
        senders.into_iter().for_each(Waker::wake);
    }
}

fn run_writer(shared: &Shared, mut log: AuditLog) -> Result<()> {
    let _guard = ExitGuard(shared);
    let group_commit = log.durability() == Durability::EveryEvent;
    loop {
        let (batch, senders) = {
            let mut state = lock(&shared.state);
            while state.queue.is_empty() && !state.closed {
                state = shared
                    .work
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if state.queue.is_empty() {
                break; // Closed and drained.
            }
            (
                std::mem::take(&mut state.queue),
                std::mem::take(&mut state.waiting_senders),
            )
        };
        senders.into_iter().for_each(Waker::wake);

        // Appends written but not yet fsynced, answered after the group's fsync.
        let mut unsynced: Vec<(Responder<AuditEvent>, AuditEvent)> = Vec::new();
        for job in batch {
            match job {
                Job::Append(event, responder) => match log.write_event(*event) {
                    Ok(written) if group_commit => unsynced.push((responder, written)),
                    result => responder.send(result),
                },
                Job::Flush(responder) => {
                    let result = log.flush();
                    settle(&mut unsynced, &result);
                    responder.send(result);
                }
            }
        }
        if !unsynced.is_empty() {
            let result = log.flush();
            settle(&mut unsynced, &result);
        }
    }
    log.flush()
}

fn settle(unsynced: &mut Vec<(Responder<AuditEvent>, AuditEvent)>, flushed: &Result<()>) {
    for (responder, event) in unsynced.drain(..) {
        responder.send(match flushed {
            Ok(()) => Ok(event),
            Err(e) => Err(e.duplicate()),
        });
    }
}

/// Locks, ignoring poisoning: no code panics while holding these locks, and the protected
/// state stays consistent at every await-free step anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}
