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
}

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

    /// Connects and runs the migrations. Fails fast (within `acquire_timeout`) when the database is unreachable.
    pub async fn connect(settings: &PgSettings) -> Result<PgStore> {
        let pool = Self::connect_pool(settings).await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Database(e.to_string()))?;
        Ok(PgStore { pool })
    }

    /// Connects without migrating (the schema must be current).
    pub async fn connect_pool(settings: &PgSettings) -> Result<PgPool> {
        let timeout_ms = settings.statement_timeout.as_millis().to_string();
        let options = PgConnectOptions::from_str(&settings.url)
            .map_err(|e| StoreError::Database(format!("invalid database URL: {e}")))?
            .options([("statement_timeout", timeout_ms.as_str())]);
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

sql_store!(PgStore, sqlx::postgres::PgRow, sqlx::Postgres);
super::tokens::token_store!(PgStore, sqlx::postgres::PgRow, sqlx::Postgres);
