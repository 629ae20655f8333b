//! Group commit: concurrent writes are proposed together as one `Command::Batch` log entry, so
//! one fsync (and, on a follower, one forwarded request) serves many clients.
//!
//! The batching task takes whatever is queued (up to [`MAX_BATCH`]) whenever a proposal slot is
//! free; up to [`MAX_IN_FLIGHT`] batches are proposed at once. Every caller gets the result of
//! its own command. A batch is proposed with the time its oldest command was submitted, so time
//! spent queued for a slot counts against the caller's deadline.

use kms_core::{Command, CommandOutput};
use kms_types::KmsError;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Most commands in one log entry.
pub(crate) const MAX_BATCH: usize = 256;
/// Most batches being proposed at the same time.
pub(crate) const MAX_IN_FLIGHT: usize = 4;

type Reply = oneshot::Sender<Result<CommandOutput, KmsError>>;
/// A queued command: when it was submitted, and where its result goes.
type Queued = (Command, Instant, Reply);

/// Handle to the batching task.
#[derive(Clone)]
pub(crate) struct WriteBatcher {
    queue: mpsc::UnboundedSender<Queued>,
}

impl WriteBatcher {
    /// Starts the batching task; `propose` commits one command (single or batch) whose oldest
    /// part was submitted at the given time.
    pub(crate) fn spawn<F, Fut>(propose: F) -> WriteBatcher
    where
        F: Fn(Command, Instant) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<CommandOutput, KmsError>> + Send + 'static,
    {
        let (queue, mut receiver) = mpsc::unbounded_channel::<Queued>();
        let propose = Arc::new(propose);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            while let Some(first) = receiver.recv().await {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    return;
                };
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match receiver.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let propose = propose.clone();
                tokio::spawn(async move {
                    commit(batch, propose.as_ref()).await;
                    drop(permit);
                });
            }
        });
        WriteBatcher { queue }
    }

    /// Commits `command` (in some batch) and returns its own result.
    pub(crate) async fn submit(&self, command: Command) -> Result<CommandOutput, KmsError> {
        let (reply, result) = oneshot::channel();
        self.queue
            .send((command, Instant::now(), reply))
            .map_err(|_| KmsError::KmsInternal("The node is shutting down.".into()))?;
        result
            .await
            .map_err(|_| KmsError::KmsInternal("The node is shutting down.".into()))?
    }
}

async fn commit<F, Fut>(batch: Vec<Queued>, propose: &F)
where
    F: Fn(Command, Instant) -> Fut,
    Fut: Future<Output = Result<CommandOutput, KmsError>>,
{
    if batch.len() == 1 {
        for (command, submitted, reply) in batch {
            let _ = reply.send(propose(command, submitted).await);
        }
        return;
    }
    let oldest = batch
        .iter()
        .map(|(_, submitted, _)| *submitted)
        .min()
        .unwrap_or_else(Instant::now);
    let count = batch.len();
    let mut commands = Vec::with_capacity(count);
    let mut replies = Vec::with_capacity(count);
    for (command, _, reply) in batch {
        commands.push(command);
        replies.push(reply);
    }
    match propose(Command::Batch(commands), oldest).await {
        Ok(CommandOutput::Batch(results)) if results.len() == count => {
            for (reply, result) in replies.into_iter().zip(results) {
                let _ = reply.send(result);
            }
        }
        Ok(other) => {
            let error = KmsError::KmsInternal(format!("Unexpected answer to a batch: {other:?}"));
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
    }
}
