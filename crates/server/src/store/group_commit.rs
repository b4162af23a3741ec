//! Grouping the refresh grant's store calls: group commit of rotations, grouped reads of refresh contexts.
//!
//! On SQLite most of a refresh's store cost is not the rows but the fixed cost of each call (the hand-off to
//! the driver's thread and back) and of each commit (WAL frames, checkpoints). Calls that arrive while one is
//! under way therefore wait in a queue, and the next call takes them all: one statement however many rows.
//! Under light load a batch is a single call and nothing waits; under heavy load the batches grow by
//! themselves. Each caller still gets its own answer, and outcomes are those of one statement per call: one
//! successor per token (PostgreSQL's unique index on `parent_hash`, SQLite's trigger), also between two
//! rotations of the same token in one batch, and a read sees every rotation whose answer was sent before it was
//! queued.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{RefreshContext, RefreshToken, Result, Rotated, Store, StoreError};

/// Rows per statement (at most 8 parameters each: far below either backend's limit).
const MAX_BATCH: usize = 256;

type Job<I, O> = (I, oneshot::Sender<Result<O>>);

/// A queue in front of one batched store call. Cloning shares it.
pub struct Grouped<I, O> {
    jobs: mpsc::UnboundedSender<Job<I, O>>,
}

impl<I, O> Clone for Grouped<I, O> {
    fn clone(&self) -> Self {
        Grouped {
            jobs: self.jobs.clone(),
        }
    }
}

impl<I: Send + 'static, O: Clone + Send + 'static> Grouped<I, O> {
    /// Starts the task that runs `call` on each batch (it ends when the last clone of the queue is dropped).
    /// `call` must answer each input, in order.
    fn start<F, Fut>(call: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<O>>> + Send,
    {
        let (jobs, mut rx) = mpsc::unbounded_channel::<Job<I, O>>();
        tokio::spawn(async move {
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let (inputs, answers): (Vec<I>, Vec<_>) = batch.drain(..).unzip();
                let n = inputs.len();
                let outcome = call(inputs).await.and_then(|out| {
                    if out.len() == n {
                        Ok(out)
                    } else {
                        Err(StoreError::Database(format!(
                            "a batched call answered {} of {n} inputs",
                            out.len()
                        )))
                    }
                });
                for (i, answer) in answers.into_iter().enumerate() {
                    // The caller may have gone away (its request was cancelled); the call stands regardless.
                    let _ = answer.send(match &outcome {
                        Ok(each) => Ok(each[i].clone()),
                        Err(e) => Err(e.clone()),
                    });
                }
            }
        });
        Grouped { jobs }
    }

    async fn call(&self, input: I) -> Result<O> {
        let (done, answer) = oneshot::channel();
        let gone = || StoreError::Database("the store's batching task has stopped".into());
        self.jobs.send((input, done)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The refresh grant's two store calls, grouped across concurrent requests.
#[derive(Clone)]
pub struct RefreshQueues {
    reads: Grouped<String, Option<RefreshContext>>,
    rotations: Grouped<(String, RefreshToken), Rotated>,
}

impl RefreshQueues {
    pub fn start(store: Arc<dyn Store>) -> RefreshQueues {
        let reader = store.clone();
        RefreshQueues {
            reads: Grouped::start(move |hashes: Vec<String>| {
                let store = reader.clone();
                async move { store.refresh_contexts(&hashes).await }
            }),
            rotations: Grouped::start(move |rows: Vec<(String, RefreshToken)>| {
                let store = store.clone();
                async move { store.rotate_refresh_tokens(&rows).await }
            }),
        }
    }

    /// [`Store::refresh_contexts`] for one token.
    pub async fn context(&self, token_hash: String) -> Result<Option<RefreshContext>> {
        self.reads.call(token_hash).await
    }

    /// Stores `new` as the one successor of `old_hash` and marks `old_hash` used, atomically; `AlreadyUsed`
    /// when the token had a successor already (a replay) or is gone (see [`Rotated::AlreadyUsed`]).
    pub async fn rotate(&self, old_hash: String, new: RefreshToken) -> Result<Rotated> {
        self.rotations.call((old_hash, new)).await
    }
}
