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

pub struct SqliteStore {
    pool: SqlitePool,
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
            .foreign_keys(true);
        // One connection. SQLite has one writer anyway, and a connection's page cache is emptied whenever another
        // connection commits, so under a write-heavy load (every refresh writes) more connections mean more
        // page reads, not more throughput: measured, a refresh costs ~240 µs of CPU with 8 connections and
        // ~175 µs with one (BENCHMARKS.md). Nothing in the store holds a connection while asking for another.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(db_err)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(SqliteStore { pool })
    }
}

/// One process serves a SQLite file: the caches it invalidates itself are all there are.
impl ChangeFeed for SqliteStore {}

sql_store!(
    SqliteStore,
    sqlx::sqlite::SqliteRow,
    sqlx::Sqlite,
    lock_user = ""
);
super::tokens::token_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::Sqlite);
super::browser::browser_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::Sqlite);
super::federation::federation_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::Sqlite);
super::account::account_store!(SqliteStore, sqlx::sqlite::SqliteRow, sqlx::Sqlite);
super::ops::ops_store!(SqliteStore);
