//! The embedded SQLite backend (WAL, one file in the data directory).

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use super::sql::sql_store;
use super::*;
use crate::config::{Grant, Rotation, SigningAlg};

/// The database file in the data directory.
pub const FILE: &str = "keyport.db";

/// WAL pages past which the connection that commits checkpoints the WAL itself, after its commit (SQLite's
/// default is 1,000 pages, 4 MB). The background checkpoints ([`checkpoints`]) do that work off the request path;
/// this is the bound on the WAL for when they fall behind (64 MB with 4 KiB pages).
const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_000;
/// How often the background connection checkpoints while the database is being written, and while it is not.
const CHECKPOINT_BUSY: Duration = Duration::from_millis(50);
const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);

pub struct SqliteStore {
    pool: SqlitePool,
    _checkpoints: Checkpoints,
}

/// The background checkpointing task; it stops when the store is dropped.
struct Checkpoints(tokio::task::JoinHandle<()>);

impl Drop for Checkpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Copies committed WAL pages into the database file from a connection of its own, so that a commit seldom
/// checkpoints inline: that checkpoint's page copies and two `fsync`s would stall the one connection every request
/// shares. PASSIVE never waits for the writer; while it runs, a checkpoint the writer starts itself is skipped
/// (busy) and tried again at a later commit. Measured (BENCHMARKS.md, sixth pass): refresh rotations +26-39% a
/// second, p99 at saturation 20-22 → 28-30 ms.
async fn checkpoints(options: SqliteConnectOptions) {
    use sqlx::ConnectOptions;
    let mut conn = None;
    // The answer of the previous checkpoint; unchanged means nothing was written since, and the next one can wait.
    let mut last = None;
    let mut failing = false;
    loop {
        let answer = match conn.as_mut() {
            Some(conn) => checkpoint(conn).await,
            None => options.connect().await.map(|c| {
                conn = Some(c);
                None
            }),
        };
        let wait = match answer {
            Ok(now) => {
                if failing {
                    tracing::info!("checkpointing the SQLite WAL works again");
                    failing = false;
                }
                let idle = now.is_some() && last == now;
                last = now.or(last);
                if idle {
                    CHECKPOINT_IDLE
                } else {
                    CHECKPOINT_BUSY
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "checkpointing the SQLite WAL failed; commits will checkpoint it themselves");
                    failing = true;
                }
                CHECKPOINT_IDLE
            }
        };
        tokio::time::sleep(wait).await;
    }
}

/// One PASSIVE checkpoint: SQLite's answer (busy, frames in the WAL, frames checkpointed).
async fn checkpoint(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<Option<(i64, i64, i64)>> {
    sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
        .fetch_one(conn)
        .await
        .map(Some)
}

impl SqliteStore {
    /// The connection pool (for tools such as [`super::copy`]).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Where a device poll's time is written: the one connection (its commits do not wait for an fsync in WAL
    /// mode with `synchronous = NORMAL` anyway).
    fn poll_writes(&self) -> &SqlitePool {
        &self.pool
    }

    /// Opens (creating if needed) `keyport.db` in `data_dir` and runs the migrations.
    pub async fn open(data_dir: &Path) -> Result<SqliteStore> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Database(format!(
                "cannot create data dir {}: {e}",
                data_dir.display()
            ))
        })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(0o700));
        }
        let url = format!("sqlite://{}", data_dir.join(FILE).display());
        let options = SqliteConnectOptions::from_str(&url)
            .map_err(db_err)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            // Temporary files in memory. A statement that writes several rows inside a transaction and may abort
            // keeps a statement journal so that it can undo that one statement; past 64 KiB SQLite spills it to
            // a temporary file (an open, writes, a truncate and an unlink per flush under load, seen with strace
            // while the usage flush's audit INSERTs kept one: they are `OR FAIL` now, `sqlite_usage`). In memory
            // it costs no system call; it holds the pages one statement changes. The sorts of the serving
            // queries without an index are of one user's rows or bounded by a LIMIT. Migrations, whose index
            // builds may sort a whole table, run on a connection of their own with files.
            .pragma("temp_store", "MEMORY")
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
            // A WAL that grew past the bound (behind a long reader: `keyport backup`, the copy to PostgreSQL)
            // is cut back to it when it is next reset.
            .pragma(
                "journal_size_limit",
                (WAL_AUTOCHECKPOINT_PAGES * 4096).to_string(),
            );
        // Migrations first, on a connection whose temporary files stay files (see temp_store above).
        let mut migrating =
            sqlx::ConnectOptions::connect(&options.clone().pragma("temp_store", "FILE"))
                .await
                .map_err(db_err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&mut migrating)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        sqlx::Connection::close(migrating).await.map_err(db_err)?;
        // One connection. SQLite has one writer anyway, and a connection's page cache is emptied whenever another
        // connection commits, so under a write-heavy load (every refresh writes) more connections mean more
        // page reads, not more throughput: measured, a refresh costs ~240 µs of CPU with 8 connections and
        // ~175 µs with one (BENCHMARKS.md). Nothing in the store holds a connection while asking for another.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(db_err)?;
        let _checkpoints = Checkpoints(tokio::spawn(checkpoints(options)));
        Ok(SqliteStore { pool, _checkpoints })
    }
}

/// A connection of its own to the store's file in `data_dir`, beside the store's (for tests that change the
/// database under a running store).
#[cfg(test)]
pub(crate) async fn second_connection(data_dir: &Path) -> sqlx::SqliteConnection {
    let options = SqliteConnectOptions::new().filename(data_dir.join(FILE));
    sqlx::ConnectOptions::connect(&options)
        .await
        .expect("a second connection to the store's file")
}

/// One process serves a SQLite file: the caches it invalidates itself are all there are.
impl ChangeFeed for SqliteStore {
    fn one_process(&self) -> bool {
        true
    }
}

sql_store!(
    SqliteStore,
    sqlx::sqlite::SqliteRow,
    sqlx::Sqlite,
    lock_user = ""
);
super::tokens::token_store!(
    SqliteStore,
    sqlx::sqlite::SqliteRow,
    sqlx::Sqlite,
    record_usage = super::sqlite_usage::record_usage
);
super::browser::browser_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::Sqlite);
super::federation::federation_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::Sqlite);
super::account::account_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::Sqlite);
super::ops::ops_store!(SqliteStore);

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the database file alone (a copy of it without its WAL) holds the row `jti`.
    async fn in_database_file(dir: &Path, jti: &str) -> bool {
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(dir.join(FILE), copy.path().join(FILE)).unwrap();
        let options = SqliteConnectOptions::new().filename(copy.path().join(FILE));
        let Ok(pool) = SqlitePool::connect_with(options).await else {
            return false; // copied while a page was being written: try again
        };
        let found = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&pool)
            .await
            .is_ok_and(|row| row.is_some());
        pool.close().await;
        found
    }

    #[tokio::test]
    async fn a_checkpoint_answers_what_it_did_and_the_same_again_when_nothing_was_written() {
        // A WAL database of its own (not a store, whose background task would checkpoint at the same time).
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join(FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .pragma("wal_autocheckpoint", "0");
        let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut conn)
            .await
            .unwrap();
        let (busy, frames, done) = checkpoint(&mut conn).await.unwrap().unwrap();
        assert_eq!((busy, done), (0, frames), "every frame checkpointed");
        assert!(frames > 0);
        // The background task waits longer when the answer repeats, i.e. nothing was written since.
        assert_eq!(
            checkpoint(&mut conn).await.unwrap(),
            Some((busy, frames, done))
        );
    }

    #[tokio::test]
    async fn a_commit_reaches_the_database_file_through_the_background_checkpoints() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        // The writer itself checkpoints only past WAL_AUTOCHECKPOINT_PAGES, far more than this test writes.
        let cap: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(cap, i64::from(WAL_AUTOCHECKPOINT_PAGES));
        // Temporary files (statement journals, sorts) stay in memory: 2 is MEMORY.
        let temp_store: i64 = sqlx::query_scalar("PRAGMA temp_store")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(temp_store, 2);
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, realm, expires_at) VALUES ('marker', 'r', 1)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        // Within the idle interval (plus slack), the row is in the database file, not only in the WAL.
        let deadline = std::time::Instant::now() + CHECKPOINT_IDLE * 10;
        while !in_database_file(dir.path(), "marker").await {
            assert!(
                std::time::Instant::now() < deadline,
                "the committed row never left the WAL: no background checkpoint ran"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Dropping the store stops the checkpointing task (it holds a connection of its own).
        let task = store._checkpoints.0.abort_handle();
        drop(store);
        for _ in 0..100 {
            if task.is_finished() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the checkpointing task outlived its store");
    }

    #[tokio::test]
    async fn what_looks_for_a_sessions_tokens_finds_them_through_the_index_of_unused_tokens() {
        // refresh_tokens_session holds only unused tokens (migration 0015): a statement that cannot use it reads
        // the whole table, once per listed or purged session.
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        for sql in [super::super::account::USER_SESSIONS]
            .into_iter()
            .chain(super::super::sql::PURGE_SESSIONS)
        {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let plan = sqlx::query(&explain);
            let params = (1..=5).filter(|n| sql.contains(&format!("${n}"))).count();
            let plan = (0..params).fold(plan, |q, _| q.bind(0_i64));
            let plan: Vec<String> = plan
                .fetch_all(store.pool())
                .await
                .unwrap()
                .iter()
                .map(|r| r.get("detail"))
                .collect();
            let of_tokens: Vec<&String> = plan
                .iter()
                .filter(|d| {
                    d.split_whitespace()
                        .any(|w| matches!(w, "refresh_tokens" | "rt" | "r"))
                })
                .collect();
            assert!(!of_tokens.is_empty(), "{sql}: {plan:?}");
            for step in of_tokens {
                assert!(
                    step.contains("USING INDEX refresh_tokens_session")
                        || step.contains("USING COVERING INDEX refresh_tokens_session"),
                    "{sql}: {step} ({plan:?})"
                );
            }
        }
    }

    #[tokio::test]
    async fn the_purge_deletes_an_ended_session_only_after_its_unused_token() {
        // Without a cascade (migration 0015), a session deleted while it still had an unused token would leave
        // that token behind: as when the session ends between the purge's first two statements.
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        sqlx::query(
            "INSERT INTO sessions (id, realm, user_id, client_id, scope, created_at, ended_at) \
             VALUES ('s', 'r', 'u', 'c', 'openid', 100, 150)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, realm, client_id, created_at, expires_at) \
             VALUES ('t', 's', 'r', 'c', 100, 1100)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let [tokens, sessions, _] = super::super::sql::PURGE_SESSIONS;
        let pool = store.pool();
        let run = |sql: &'static str| async move {
            sqlx::query(sql)
                .bind(200_i64)
                .execute(pool)
                .await
                .unwrap()
                .rows_affected()
        };
        assert_eq!(run(sessions).await, 0, "the session waits for its token");
        assert_eq!(run(tokens).await, 1);
        assert_eq!(run(sessions).await, 1);
    }

    #[tokio::test]
    async fn migration_0015_keeps_every_refresh_token_and_rotation_works_on_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        // The database as the previous version left it: migrations up to 0014, one session with a rotated chain.
        let all = sqlx::migrate!("./migrations/sqlite");
        let before = sqlx::migrate::Migrator {
            migrations: all
                .migrations
                .iter()
                .filter(|m| m.version < 15)
                .cloned()
                .collect::<Vec<_>>()
                .into(),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join(FILE))
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        before.run(&pool).await.unwrap();
        let shape = |pool: SqlitePool| async move {
            let columns: Vec<(String, String, i64, i64)> = sqlx::query_as(
                "SELECT name, type, \"notnull\", pk FROM pragma_table_info('refresh_tokens') ORDER BY cid",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            let indexes: Vec<(String, i64, String)> = sqlx::query_as(
                "SELECT i.name, i.\"unique\", group_concat(c.name) FROM pragma_index_list('refresh_tokens') i \
                 JOIN pragma_index_info(i.name) c GROUP BY i.name ORDER BY i.name",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            (columns, indexes)
        };
        let (columns, indexes) = shape(pool.clone()).await;
        sqlx::query(
            "INSERT INTO sessions (id, realm, user_id, client_id, scope, created_at) \
             VALUES ('s', 'r', 'u', 'c', 'openid', 100)",
        )
        .execute(&pool)
        .await
        .unwrap();
        for (hash, parent, created) in [("t1", None, 100), ("t2", Some("t1"), 200)] {
            sqlx::query(
                "INSERT INTO refresh_tokens \
                 (token_hash, session_id, realm, client_id, created_at, expires_at, parent_hash) \
                 VALUES ($1, 's', 'r', 'c', $2, $3, $4)",
            )
            .bind(hash)
            .bind(created)
            .bind(created + 1000)
            .bind(parent)
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;

        let store = SqliteStore::open(dir.path()).await.unwrap();
        // The same columns, key and indexes (the session index now partial, below).
        assert_eq!(shape(store.pool().clone()).await, (columns, indexes));
        let t1 = store.refresh_token("t1").await.unwrap().expect("t1 kept");
        assert_eq!((t1.session_id.as_str(), t1.used_at), ("s", Some(200)));
        let t2 = store.refresh_token("t2").await.unwrap().expect("t2 kept");
        assert_eq!(
            (t2.created_at, t2.expires_at, t2.used_at),
            (200, 1200, None)
        );
        let index: String = sqlx::query_scalar(
            "SELECT sql FROM sqlite_master WHERE name = 'refresh_tokens_session'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(index.ends_with("WHERE used_at IS NULL"), "{index}");
        let keys: Vec<String> =
            sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list('refresh_tokens')")
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert!(keys.is_empty(), "{keys:?}");
        // Both triggers came along: exactly one successor for the newest token, none for a used one.
        let next = |hash: &str| RefreshToken {
            token_hash: hash.to_owned(),
            session_id: "s".to_owned(),
            realm: "r".to_owned(),
            client_id: "c".to_owned(),
            created_at: 300,
            expires_at: 1300,
            used_at: None,
        };
        let rotated = store
            .rotate_refresh_tokens(&[
                ("t2".to_owned(), next("t3")),
                ("t2".to_owned(), next("t3b")),
            ])
            .await
            .unwrap();
        assert_eq!(rotated, [Rotated::Done, Rotated::AlreadyUsed]);
        let rotated = store
            .rotate_refresh_tokens(&[("t1".to_owned(), next("t4"))])
            .await
            .unwrap();
        assert_eq!(rotated, [Rotated::AlreadyUsed]);
        assert_eq!(
            store.refresh_token("t2").await.unwrap().unwrap().used_at,
            Some(300)
        );
        assert!(store.refresh_token("t3b").await.unwrap().is_none());
        assert!(store.refresh_token("t4").await.unwrap().is_none());
    }
}
