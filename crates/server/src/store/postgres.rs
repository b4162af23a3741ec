//! The PostgreSQL backend, for several stateless replicas sharing one database.

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Row};
use std::str::FromStr;
use std::time::Duration;

use super::sql::sql_store;
use super::*;
use crate::config::{Grant, Rotation, SigningAlg};

/// Connection settings.
#[derive(Clone, Debug)]
pub struct PgSettings {
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before failing (then the request gets a 503).
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` of every connection.
    pub statement_timeout: Duration,
}

pub struct PgStore {
    pool: PgPool,
    /// A few connections whose commits do not wait for the WAL flush (`synchronous_commit = off`), used only
    /// for the device poll's `last_poll_at` write: see [`PgStore::poll_writes`].
    poll_pool: PgPool,
}

/// Connections of the poll-write pool, at most (they count against PostgreSQL's `max_connections` like the
/// main pool's).
const POLL_POOL_MAX: u32 = 4;

/// The URL without its password, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "<unparsable database URL>".into(),
    }
}

impl PgStore {
    /// The connection pool (for tools such as [`super::copy`]).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Where a device poll's time is written. That write only feeds `slow_down` (RFC 8628 §3.5): a crash that
    /// loses the last fraction of a second of poll times lets a client poll once more without being told to
    /// slow down, and changes nothing else (the grant's status, approval and redemption are written through the
    /// main pool, durably). Waiting for the WAL flush on every poll was the whole database cost of polling
    /// (BENCHMARKS.md), so these connections are opened with `synchronous_commit = off`: one round trip, no
    /// transaction, and the commit is visible to every other connection at once as usual.
    fn poll_writes(&self) -> &PgPool {
        &self.poll_pool
    }

    /// Connects and runs the migrations. Fails fast (within `acquire_timeout`) when the database is unreachable.
    pub async fn connect(settings: &PgSettings) -> Result<PgStore> {
        let pool = Self::connect_pool(settings).await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        let poll_pool = PgPoolOptions::new()
            .max_connections(settings.max_connections.clamp(1, POLL_POOL_MAX))
            .acquire_timeout(settings.acquire_timeout)
            .connect_lazy_with(
                Self::connect_options(settings)?.options([("synchronous_commit", "off")]),
            );
        Ok(PgStore { pool, poll_pool })
    }

    fn connect_options(settings: &PgSettings) -> Result<PgConnectOptions> {
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        Ok(PgConnectOptions::from_str(&settings.url)
            .map_err(|e| StoreError::Database(format!("invalid database URL: {e}")))?
            .options([("statement_timeout", timeout_ms.as_str())]))
    }

    /// Connects without migrating (the schema must be current).
    pub async fn connect_pool(settings: &PgSettings) -> Result<PgPool> {
        let options = Self::connect_options(settings)?;
        PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(|e| {
                StoreError::Database(format!(
                    "cannot connect to {}: {e}",
                    redact_url(&settings.url)
                ))
            })
    }
}

/// The `LISTEN`/`NOTIFY` channel on which replicas announce changes to cached data.
const CHANGE_CHANNEL: &str = "keyport_invalidate";

#[async_trait]
impl ChangeFeed for PgStore {
    async fn publish_change(&self) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANGE_CHANNEL)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn watch_changes(&self, on_change: Box<dyn Fn() + Send + Sync>) {
        // Holds one connection of the pool while listening. Every way of possibly having missed a notification
        // (not yet listening, a dropped connection, an error) is answered by `on_change`, so the caller's caches
        // never outlive a change by more than their own TTL.
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for changes from other replicas; retrying");
                    on_change();
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Err(e) = listener.listen(CHANGE_CHANNEL).await {
                tracing::warn!(error = %e, "cannot listen for changes from other replicas; retrying");
                on_change();
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            on_change();
            loop {
                match listener.try_recv().await {
                    Ok(Some(_)) => on_change(),
                    // The connection dropped; the next call reconnects. Anything sent meanwhile is lost.
                    Ok(None) => on_change(),
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for changes from other replicas failed; reconnecting");
                        on_change();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        break;
                    }
                }
            }
        }
    }
}

sql_store!(
    PgStore,
    sqlx::postgres::PgRow,
    sqlx::Postgres,
    lock_user = " FOR KEY SHARE"
);
super::tokens::token_store!(
    PgStore,
    sqlx::postgres::PgRow,
    sqlx::Postgres,
    record_usage = record_usage
);
super::browser::browser_store!(PgStore, sqlx::postgres::PgRow, sqlx::Postgres);
super::federation::federation_store!(PgStore, sqlx::postgres::PgRow, sqlx::Postgres);
super::account::account_store!(PgStore, sqlx::postgres::PgRow, sqlx::Postgres);
super::ops::ops_store!(PgStore);

/// At most this many audit rows go in one `COPY`: a backlog kept through a store outage (up to
/// `usage::MAX_BUFFERED` rows) is written as several, each far inside `statement_timeout`.
const COPY_ROWS: usize = 10_000;

/// [`TokenStore::record_usage`] on PostgreSQL: the audit rows by COPY ([`insert_audit_rows`]) and one UPDATE of
/// `last_used_at` per token, in one transaction.
async fn record_usage(
    pool: &sqlx::PgPool,
    audit: &[AuditRow<'_>],
    last_used: &[(String, i64)],
) -> Result<()> {
    // Closed instead of reused if this write is cancelled midway (see `CloseIfCancelled`).
    let mut conn = super::cancel::CloseIfCancelled::new(pool.acquire().await.map_err(db_err)?);
    let written = async {
        let mut tx = sqlx::Connection::begin(conn.get()).await.map_err(db_err)?;
        insert_audit_rows(&mut tx, audit).await?;
        for (id, at) in last_used {
            sqlx::query(super::tokens::TOUCH_LAST_USED)
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }
    .await;
    conn.finished();
    written
}

/// A usage flush's audit rows through `COPY … FROM STDIN` (text format), in the batch's order, so that entries of
/// the same second keep the order of their ids. Measured against one INSERT over `UNNEST` of bound arrays: ~10-15%
/// less of PostgreSQL's CPU per row (BENCHMARKS.md, ninth pass), COPY filling heap pages in bulk.
async fn insert_audit_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    audit: &[AuditRow<'_>],
) -> Result<()> {
    use std::io::Write;
    for chunk in audit.chunks(COPY_ROWS) {
        let mut data = Vec::with_capacity(chunk.len() * 160);
        for e in chunk {
            let _ = write!(data, "{}", e.at); // writing to a Vec cannot fail
            for field in [
                Some(e.realm),
                e.actor_user_id,
                e.token_id,
                Some(e.action),
                e.target,
                Some(e.outcome),
                e.detail,
            ] {
                data.push(b'\t');
                copy_text_field(&mut data, field);
            }
            data.push(b'\n');
        }
        let mut copy = tx
            .copy_in_raw(
                "COPY audit_log (at, realm, actor_user_id, token_id, action, target, outcome, detail) \
                 FROM STDIN",
            )
            .await
            .map_err(db_err)?;
        copy.send(data).await.map_err(db_err)?;
        copy.finish().await.map_err(db_err)?;
    }
    Ok(())
}

/// One field of COPY's text format: `\N` for NULL; the backslash and the three characters that would end a field
/// or a row escaped; every other byte as it is.
fn copy_text_field(out: &mut Vec<u8>, field: Option<&str>) {
    let Some(text) = field else {
        out.extend_from_slice(b"\\N");
        return;
    };
    for &b in text.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}
