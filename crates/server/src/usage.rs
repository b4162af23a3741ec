//! API-token uses, recorded off the request path.
//!
//! Every use of an API token leaves an audit row and moves the token's `last_used_at`. Written on the request
//! path, those were two store round trips per use, most of an introspection's cost. Instead a use is appended to
//! an in-memory buffer, and [`UsageLog::run`] writes the buffer in one transaction every [`FLUSH_INTERVAL`] (or
//! as soon as [`FLUSH_AT`] uses are waiting): the audit rows in a few multi-row INSERTs (a COPY on PostgreSQL) and
//! one UPDATE per token.
//!
//! Bounds, stated as an invariant in ARCHITECTURE.md:
//! - a use is in the store within [`FLUSH_INTERVAL`] (plus the write itself);
//! - anything that reads or writes the audit log through this replica flushes first, so the audit API, token
//!   lists and the order of entries reflect every use this replica has served;
//! - a graceful shutdown flushes; a crash loses at most the uses of the last interval; a request that flushes and
//!   is cancelled midway (its client disconnected) loses nothing: the write runs in a task of its own;
//! - if the store fails, the batch is kept and retried; beyond [`MAX_BUFFERED`] waiting uses the oldest are
//!   dropped, with a warning, so an outage cannot exhaust memory.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::cache::ApiTokenEntry;
use crate::store::{AuditRow, Result, Store, StoreError};

/// How long a use may wait in memory before it is written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(200);
/// A batch this large is written at once, without waiting for the interval.
pub const FLUSH_AT: usize = 2_000;
/// The most uses kept while the store is failing.
pub const MAX_BUFFERED: usize = 200_000;

/// A use of an API token, waiting to be written. It holds the cached token and user it was authenticated with, so
/// recording a use copies no string: its audit row ([`Use::row`]) borrows from them when it is written. Uses of
/// one cache entry share it; an entry stays in memory while a use of it waits, even after the cache dropped it
/// (it is never read for authentication again), so [`MAX_BUFFERED`] bounds the entries held as well as the uses.
pub struct Use {
    pub at: i64,
    pub token: Arc<ApiTokenEntry>,
    /// The audit action, e.g. `token.introspect`.
    pub action: &'static str,
    pub detail: Option<&'static str>,
}

impl Use {
    /// The audit row: the token's realm, its user as the actor, the token as both the token and the target.
    pub fn row(&self) -> AuditRow<'_> {
        let ApiTokenEntry { token, user } = self.token.as_ref();
        AuditRow {
            at: self.at,
            realm: &token.realm,
            actor_user_id: Some(&user.id),
            token_id: Some(&token.id),
            action: self.action,
            target: Some(&token.id),
            outcome: "success",
            detail: self.detail,
        }
    }
}

#[derive(Default)]
struct Pending {
    /// Oldest first; a deque, so that dropping the oldest at the bound moves nothing.
    audit: VecDeque<Use>,
    /// Token id → the latest use.
    last_used: HashMap<String, i64>,
    /// Uses dropped at the bound since the last write began (logged by it once, not at every use).
    dropped: usize,
}

#[derive(Default)]
pub struct UsageLog {
    pending: Mutex<Pending>,
    /// Held while a batch is being written, so that a flush returns only once every earlier use is stored.
    writing: tokio::sync::Mutex<()>,
    wake: tokio::sync::Notify,
    /// Set by [`UsageLog::stop`]: [`UsageLog::run`] returns between two writes.
    stop: tokio::sync::Notify,
}

impl UsageLog {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a use of token `token_id` at `at` whose audit entry is written elsewhere (an admin action's).
    pub fn touch(&self, token_id: &str, at: i64) {
        Self::touch_locked(&mut self.pending(), token_id, at);
    }

    fn touch_locked(p: &mut Pending, token_id: &str, at: i64) {
        match p.last_used.get_mut(token_id) {
            Some(t) => *t = (*t).max(at),
            None => {
                p.last_used.insert(token_id.to_owned(), at);
            }
        }
    }

    /// Records a use: its audit entry, and the token's `last_used_at`.
    pub fn record(&self, used: Use) {
        let mut p = self.pending();
        Self::touch_locked(&mut p, &used.token.token.id, used.at);
        p.audit.push_back(used);
        Self::bound(&mut p);
        if p.audit.len() == FLUSH_AT {
            self.wake.notify_one();
        }
    }

    /// Drops the oldest waiting uses beyond [`MAX_BUFFERED`] (the next write says how many).
    fn bound(p: &mut Pending) {
        if p.audit.len() > MAX_BUFFERED {
            let excess = p.audit.len() - MAX_BUFFERED;
            p.audit.drain(..excess);
            p.dropped += excess;
        }
    }

    /// Writes every use recorded so far, in a task of its own, and waits for it: a caller that goes away midway (a
    /// request whose client disconnected) cannot cancel the write and lose the batch it took from the buffer. On
    /// failure the uses stay buffered for the next flush.
    pub async fn flush(self: &Arc<Self>, store: &Arc<dyn Store>) -> Result<()> {
        let (log, store) = (Arc::clone(self), Arc::clone(store));
        match tokio::spawn(async move { log.write(store.as_ref()).await }).await {
            Ok(written) => written,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Database(
                "API-token uses not written: the runtime is shutting down".into(),
            )),
        }
    }

    /// Writes every use recorded so far. Cancelled midway, the batch it took is lost: callers other than
    /// [`UsageLog::run`] (which is never cancelled, see [`UsageLog::stop`]) go through [`UsageLog::flush`].
    async fn write(&self, store: &dyn Store) -> Result<()> {
        let _writing = self.writing.lock().await;
        let batch = std::mem::take(&mut *self.pending());
        if batch.dropped > 0 {
            tracing::warn!(
                dropped = batch.dropped,
                "audit entries of API-token uses dropped: the store has been failing"
            );
        }
        if batch.audit.is_empty() && batch.last_used.is_empty() {
            return Ok(());
        }
        let last_used: Vec<(String, i64)> = batch.last_used.into_iter().collect();
        let rows: Vec<AuditRow<'_>> = batch.audit.iter().map(Use::row).collect();
        let written = store.record_usage(&rows, &last_used).await;
        drop(rows);
        match written {
            Ok(()) => Ok(()),
            Err(e) => {
                let mut p = self.pending();
                let newer = std::mem::replace(&mut p.audit, batch.audit);
                p.audit.extend(newer);
                // The uses recorded while the write ran, with the batch back before them, may pass the bound.
                // No early wake follows even when a batch is full again: a failing store is retried every
                // `FLUSH_INTERVAL`, not at once.
                Self::bound(&mut p);
                for (id, at) in last_used {
                    let t = p.last_used.entry(id).or_insert(at);
                    *t = (*t).max(at);
                }
                Err(e)
            }
        }
    }

    /// Flushes every [`FLUSH_INTERVAL`], or sooner when a batch fills. Runs until [`UsageLog::stop`].
    pub async fn run(&self, store: &dyn Store) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(FLUSH_INTERVAL) => {}
                _ = self.wake.notified() => {}
                _ = self.stop.notified() => return,
            }
            if let Err(e) = self.write(store).await {
                tracing::warn!(error = %e, "writing API-token uses failed; will retry");
            }
        }
    }

    /// Makes [`UsageLog::run`] return once the write under way, if any, is done (a stop asked for during a write
    /// is kept for the next round). Never abort `run`'s task instead: cancelled in the middle of a write, the
    /// batch it had taken from the buffer would be lost.
    pub fn stop(&self) {
        self.stop.notify_one();
    }

    /// How many uses are waiting (for tests and metrics).
    pub fn waiting(&self) -> usize {
        self.pending().audit.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token `id` of realm `r` and its user `u1`, as the cache holds them.
    fn token(id: &str) -> Arc<ApiTokenEntry> {
        Arc::new(ApiTokenEntry::sample(id))
    }

    fn used(token: &Arc<ApiTokenEntry>, at: i64) -> Use {
        Use {
            at,
            token: Arc::clone(token),
            action: "token.introspect",
            detail: None,
        }
    }

    #[test]
    fn uses_of_one_token_keep_every_audit_entry_and_the_latest_time() {
        let log = UsageLog::default();
        let t1 = token("t1");
        log.record(used(&t1, 10));
        log.record(used(&t1, 7));
        log.touch("t2", 5);
        log.record(used(&t1, 12));
        let p = log.pending();
        assert_eq!(p.audit.len(), 3);
        assert_eq!(p.last_used["t1"], 12);
        assert_eq!(p.last_used["t2"], 5);
    }

    #[test]
    fn a_use_is_written_as_its_token_s_audit_row() {
        let t1 = token("t1");
        let u = Use {
            detail: Some("userinfo"),
            ..used(&t1, 42)
        };
        let row = u.row();
        assert_eq!(
            (row.at, row.realm, row.action, row.outcome, row.detail),
            (42, "r", "token.introspect", "success", Some("userinfo"))
        );
        assert_eq!(
            (row.actor_user_id, row.token_id, row.target),
            (Some("u1"), Some("t1"), Some("t1"))
        );
    }

    /// Uses enough that writing them takes many statements in one transaction.
    const USES: usize = 20_000;

    fn record_uses(log: &UsageLog) {
        let t1 = token("t1");
        for n in 0..USES as i64 {
            log.record(used(&t1, n));
        }
    }

    /// Returns once a write has taken every waiting use from the buffer.
    async fn taken(log: &UsageLog) {
        while log.waiting() > 0 {
            tokio::task::yield_now().await;
        }
    }

    /// How many audit rows `store` holds.
    async fn stored(store: &dyn Store) -> usize {
        let query = crate::store::AuditQuery {
            realm: "r".into(),
            max: USES as i64 + 10,
            ..Default::default()
        };
        store.list_audit(&query).await.unwrap().len()
    }

    #[tokio::test]
    async fn stopping_the_writer_during_a_write_loses_nothing() {
        use crate::store::SqliteStore;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let log = Arc::new(UsageLog::default());
        let writer = tokio::spawn({
            let (log, store) = (log.clone(), store.clone());
            async move { log.run(store.as_ref()).await }
        });
        // The store's one connection is held here, so the writer, having taken the batch at its next round,
        // waits for it; the stop comes right then, in the middle of the write.
        let held = store.pool().acquire().await.unwrap();
        record_uses(&log);
        taken(&log).await;
        log.stop();
        drop(held);
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .expect("the writer returns after a stop")
            .unwrap();
        assert_eq!(stored(store.as_ref()).await, USES);
    }

    #[tokio::test]
    async fn a_flush_whose_caller_goes_away_still_writes_its_batch() {
        use crate::store::SqliteStore;
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let store: Arc<dyn Store> = sqlite.clone();
        let log = Arc::new(UsageLog::default());
        record_uses(&log);
        // The caller is dropped as soon as the batch has left the buffer, before it is written (a request whose
        // client disconnected while its flush ran): the store's one connection is held here meanwhile, so the
        // write cannot have begun.
        let held = sqlite.pool().acquire().await.unwrap();
        tokio::select! {
            biased;
            _ = log.flush(&store) => panic!("the write cannot end while its connection is held"),
            _ = taken(&log) => {}
        }
        drop(held);
        // A flush returns only once every earlier write is done.
        log.flush(&store).await.unwrap();
        assert_eq!(stored(store.as_ref()).await, USES);
    }

    #[tokio::test]
    async fn uses_a_failing_store_did_not_take_are_kept_in_order_and_written_later() {
        use crate::store::SqliteStore;
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        // The store fails to write while its audit table is away (renamed from a connection of the test's own).
        let mut side = crate::store::second_sqlite_connection(dir.path()).await;
        let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
        sqlx::query(&rename("audit_log", "audit_log_away"))
            .execute(&mut side)
            .await
            .unwrap();
        let log = Arc::new(UsageLog::default());
        let t1 = token("t1");
        for at in [1, 2, 3] {
            log.record(used(&t1, at));
        }
        assert!(log.flush(&store).await.is_err());
        assert_eq!(log.waiting(), 3, "the batch is back in the buffer");
        log.record(used(&t1, 4));
        sqlx::query(&rename("audit_log_away", "audit_log"))
            .execute(&mut side)
            .await
            .unwrap();
        log.flush(&store).await.unwrap();
        assert_eq!(log.waiting(), 0);
        let query = crate::store::AuditQuery {
            realm: "r".into(),
            max: 10,
            ..Default::default()
        };
        let written: Vec<i64> = store
            .list_audit(&query)
            .await
            .unwrap()
            .iter()
            .map(|e| e.at)
            .collect();
        assert_eq!(written, [4, 3, 2, 1], "every use once, newest first");
    }

    #[tokio::test]
    async fn a_failed_batch_put_back_keeps_the_buffer_within_its_bound() {
        use crate::store::SqliteStore;
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
        let store: Arc<dyn Store> = sqlite.clone();
        let mut side = crate::store::second_sqlite_connection(dir.path()).await;
        sqlx::query("ALTER TABLE audit_log RENAME TO audit_log_away")
            .execute(&mut side)
            .await
            .unwrap();
        let log = Arc::new(UsageLog::default());
        let t = token("t");
        for at in 0..10 {
            log.record(used(&t, at));
        }
        // The write takes the ten uses and waits for the connection held here; meanwhile the buffer fills to
        // its bound again. The write then fails and puts its ten back, before the newer ones.
        let held = sqlite.pool().acquire().await.unwrap();
        let flush = log.flush(&store);
        tokio::pin!(flush);
        tokio::select! {
            biased;
            _ = &mut flush => panic!("the write cannot end while its connection is held"),
            _ = taken(&log) => {}
        }
        for at in 10..(MAX_BUFFERED as i64 + 10) {
            log.record(used(&t, at));
        }
        assert_eq!(log.waiting(), MAX_BUFFERED);
        drop(held);
        assert!(flush.await.is_err(), "the audit table is away");
        assert_eq!(log.waiting(), MAX_BUFFERED, "the oldest went");
        assert_eq!(log.pending().audit[0].at, 10);
        assert_eq!(
            log.pending().dropped,
            10,
            "counted, for the next write to report"
        );
        assert_eq!(
            log.pending().audit[MAX_BUFFERED - 1].at,
            MAX_BUFFERED as i64 + 9
        );
    }

    #[test]
    fn a_failing_store_cannot_make_the_buffer_grow_without_bound() {
        let log = UsageLog::default();
        let t = token("t");
        for n in 0..(MAX_BUFFERED as i64 + 10) {
            log.record(used(&t, n));
        }
        assert_eq!(log.waiting(), MAX_BUFFERED);
        // The oldest went first.
        assert_eq!(log.pending().audit[0].at, 10);
        assert_eq!(log.pending().dropped, 10);
    }
}
