//! Batched read barriers: many concurrent readers share one leadership confirmation.
//!
//! A caller enqueues itself and waits; one task takes every queued caller, runs a single
//! barrier (which starts after all of them arrived, so it is linearizable for each), and hands
//! all of them its result. This is etcd's read-index batching: at 64 concurrent readers one
//! heartbeat round serves the whole batch.

use kms_types::KmsError;
use std::future::Future;
use tokio::sync::{mpsc, oneshot};

type Waiter = oneshot::Sender<Result<(), KmsError>>;

/// Handle to the batching task.
#[derive(Clone)]
pub(crate) struct ReadBarrier {
    queue: mpsc::UnboundedSender<Waiter>,
}

impl ReadBarrier {
    /// Starts the batching task; `barrier` runs one read barrier.
    pub(crate) fn spawn<F, Fut>(barrier: F) -> ReadBarrier
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), KmsError>> + Send,
    {
        let (queue, mut receiver) = mpsc::unbounded_channel::<Waiter>();
        tokio::spawn(async move {
            while let Some(first) = receiver.recv().await {
                let mut batch = vec![first];
                while let Ok(next) = receiver.try_recv() {
                    batch.push(next);
                }
                let result = barrier().await;
                for waiter in batch {
                    let _ = waiter.send(result.clone());
                }
            }
        });
        ReadBarrier { queue }
    }

    /// Waits until a barrier that started after this call has completed.
    pub(crate) async fn wait(&self) -> Result<(), KmsError> {
        let (sender, receiver) = oneshot::channel();
        self.queue
            .send(sender)
            .map_err(|_| KmsError::KmsInternal("The node is shutting down.".into()))?;
        receiver
            .await
            .map_err(|_| KmsError::KmsInternal("The node is shutting down.".into()))?
    }
}
