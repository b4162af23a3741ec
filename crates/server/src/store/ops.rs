//! What operators need from the database: the gauges of `/metrics` ([`OpsStore`], which [`Store`](super::Store)
//! extends), the online SQLite backup of `keyport backup`, and the read-only checks of `keyport doctor`
//! ([`inspect`]), which look at a database without migrating it.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Connection;

use super::{Result, StoreError, db_err};

/// A connection pool's state.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Open connections not lent to a request.
    pub idle: usize,
    /// The pool's limit.
    pub max: u32,
}

#[async_trait]
pub trait OpsStore {
    /// Device authorizations that wait for the user and have not expired at `now`.
    async fn pending_device_authorizations(&self, now: i64) -> Result<i64>;
    /// The pool's state, without a round trip.
    fn pool_stats(&self) -> PoolStats;
}

/// Implements [`OpsStore`] for `$store` (a struct with a `pool` field).
macro_rules! ops_store {
    ($store:ident) => {
        #[async_trait]
        impl super::ops::OpsStore for $store {
            async fn pending_device_authorizations(&self, now: i64) -> Result<i64> {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM device_grants WHERE status = 'pending' AND expires_at > $1",
                )
                .bind(now)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(n)
            }

            fn pool_stats(&self) -> super::ops::PoolStats {
                super::ops::PoolStats {
                    size: self.pool.size(),
                    idle: self.pool.num_idle(),
                    max: self.pool.options().get_max_connections(),
                }
            }
        }
    };
}
pub(crate) use ops_store;

/// Writes a consistent copy of the SQLite database of `data_dir` to `target` (which must not exist) while
/// servers keep using it: `VACUUM INTO` reads one snapshot and writes a compact, self-contained file. Restore by
/// stopping the server and putting the copy in place as `keyport.db` of an empty data directory.
pub async fn sqlite_backup(data_dir: &Path, target: &Path) -> Result<()> {
    let db = data_dir.join(super::sqlite::FILE);
    if !db.exists() {
        return Err(StoreError::Database(format!(
            "no keyport database at {}",
            db.display()
        )));
    }
    if target.exists() {
        return Err(StoreError::Database(format!(
            "{} exists already; choose a new file",
            target.display()
        )));
    }
    let target_text = target
        .to_str()
        .ok_or_else(|| StoreError::Database("the backup path is not UTF-8".into()))?;
    let mut conn = sqlite_connect(&db).await?;
    sqlx::query("VACUUM INTO $1")
        .bind(target_text)
        .execute(&mut conn)
        .await
        .map_err(db_err)?;
    conn.close().await.map_err(db_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The copy holds the private signing keys, like the original.
        std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| StoreError::Database(format!("cannot restrict the backup: {e}")))?;
    }
    Ok(())
}

async fn sqlite_connect(db: &Path) -> Result<sqlx::SqliteConnection> {
    let options =
        sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", db.display()))
            .map_err(db_err)?
            .busy_timeout(Duration::from_secs(5));
    sqlx::SqliteConnection::connect_with(&options)
        .await
        .map_err(db_err)
}

/// What `keyport doctor` learns from a database, read-only.
#[derive(Debug, Default)]
pub struct Inspection {
    /// Migrations this keyport has that the database has not applied (descriptions, in order).
    pub missing_migrations: Vec<String>,
    /// Migrations the database has applied that this keyport does not know (a newer keyport ran on it).
    pub unknown_migrations: Vec<i64>,
    /// The database's clock, in Unix seconds.
    pub now: i64,
}

/// Connects to the configured database without creating or migrating anything and reads what [`Inspection`]
/// holds. `Err` when the database cannot be reached (the message names the redacted URL or the file).
pub async fn inspect(
    database_url: Option<&str>,
    data_dir: &Path,
    timeout: Duration,
) -> Result<Inspection> {
    match database_url {
        Some(url) => {
            let options = sqlx::postgres::PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Database(format!("invalid database URL: {e}")))?;
            let redacted = super::postgres::redact_url(url);
            let mut conn =
                tokio::time::timeout(timeout, sqlx::PgConnection::connect_with(&options))
                    .await
                    .map_err(|_| {
                        StoreError::Database(format!(
                            "{redacted} did not answer within {timeout:?}"
                        ))
                    })?
                    .map_err(|e| {
                        StoreError::Database(format!("cannot connect to {redacted}: {e}"))
                    })?;
            let now: i64 = sqlx::query_scalar("SELECT CAST(EXTRACT(EPOCH FROM now()) AS BIGINT)")
                .fetch_one(&mut conn)
                .await
                .map_err(db_err)?;
            let table: Option<String> =
                sqlx::query_scalar("SELECT CAST(to_regclass('_sqlx_migrations') AS TEXT)")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(db_err)?;
            let applied = if table.is_some() {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(db_err)?
            } else {
                Vec::new()
            };
            let _ = conn.close().await;
            Ok(compare(
                &sqlx::migrate!("./migrations/postgres"),
                applied,
                now,
            ))
        }
        None => {
            let db = data_dir.join(super::sqlite::FILE);
            if !db.exists() {
                return Err(StoreError::Database(format!(
                    "no keyport database at {} (the server creates it at its first start)",
                    db.display()
                )));
            }
            let mut conn = sqlite_connect(&db).await?;
            let now: i64 = sqlx::query_scalar("SELECT CAST(strftime('%s', 'now') AS INTEGER)")
                .fetch_one(&mut conn)
                .await
                .map_err(db_err)?;
            let table: Option<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_optional(&mut conn)
            .await
            .map_err(db_err)?;
            let applied = if table.is_some() {
                sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                    .fetch_all(&mut conn)
                    .await
                    .map_err(db_err)?
            } else {
                Vec::new()
            };
            let _ = conn.close().await;
            Ok(compare(
                &sqlx::migrate!("./migrations/sqlite"),
                applied,
                now,
            ))
        }
    }
}

fn compare(migrator: &sqlx::migrate::Migrator, applied: Vec<i64>, now: i64) -> Inspection {
    let known: Vec<i64> = migrator.iter().map(|m| m.version).collect();
    Inspection {
        missing_migrations: migrator
            .iter()
            .filter(|m| !applied.contains(&m.version))
            .map(|m| format!("{:04} {}", m.version, m.description))
            .collect(),
        unknown_migrations: applied.into_iter().filter(|v| !known.contains(v)).collect(),
        now,
    }
}
