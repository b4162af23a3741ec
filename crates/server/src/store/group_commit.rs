//! Group commit of refresh-token rotations.
//!
//! A strict rotation is one write (see [`Store::rotate_refresh_tokens`]); on SQLite most of its cost is the
//! commit itself (WAL frames, checkpoints) and the hand-off to the driver's thread, not the row. Rotations that
//! arrive while a write is under way therefore wait in a queue, and the next write takes them all: one
//! statement, one commit, however many rows. Under light load a batch is a single rotation and nothing waits;
//! under heavy load the batches grow by themselves. Each caller still gets its own answer, and the outcome is
//! the same as one statement per rotation: the unique index on `parent_hash` admits one successor per token,
//! also between two rotations of the same token in one batch.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{RefreshToken, Result, Rotated, Store, StoreError};

/// Rows per statement (8 parameters each: far below either backend's limit).
const MAX_BATCH: usize = 256;

struct Job {
    old_hash: String,
    new: RefreshToken,
    done: oneshot::Sender<Result<Rotated>>,
}

/// The queue of one replica. Cloning shares it.
#[derive(Clone)]
pub struct RotationQueue {
    jobs: mpsc::UnboundedSender<Job>,
}

impl RotationQueue {
    /// Starts the writer task (it ends when the last clone of the queue is dropped).
    pub fn start(store: Arc<dyn Store>) -> RotationQueue {
        let (jobs, rx) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(store, rx));
        RotationQueue { jobs }
    }

    /// Stores `new` as the one successor of `old_hash` and marks `old_hash` used, atomically; `AlreadyUsed`
    /// when the token had a successor already (a replay).
    pub async fn rotate(&self, old_hash: String, new: RefreshToken) -> Result<Rotated> {
        let (done, answer) = oneshot::channel();
        let gone = || StoreError::Database("the refresh-token writer has stopped".into());
        self.jobs
            .send(Job {
                old_hash,
                new,
                done,
            })
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

async fn write_batches(store: Arc<dyn Store>, mut rx: mpsc::UnboundedReceiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let rows: Vec<(String, RefreshToken)> = batch
            .iter()
            .map(|j| (j.old_hash.clone(), j.new.clone()))
            .collect();
        let outcome = store.rotate_refresh_tokens(&rows).await;
        for (i, job) in batch.drain(..).enumerate() {
            let answer = match &outcome {
                Ok(each) => Ok(each[i]),
                Err(e) => Err(e.clone()),
            };
            // The caller may have gone away (its request was cancelled); the rotation stands regardless.
            let _ = job.done.send(answer);
        }
    }
}
