//! A pooled connection that is closed, not returned to the pool, when the write using it is cancelled midway.

use sqlx::Database;
use sqlx::pool::PoolConnection;

/// Holds a connection for one write. Dropped before [`CloseIfCancelled::finished`] (the write's future was
/// cancelled), it closes the connection instead of returning it to the pool: a PostgreSQL `COPY` dropped between
/// its end and the server's answer leaves the connection one answer behind (sqlx-postgres 0.8.6's
/// `PgCopyIn::finish` does not count the answer it waits for), and every later query on it would read the answer
/// of the one before. A write that ends, with success or an error, gives the connection back as usual.
pub(crate) struct CloseIfCancelled<DB: Database>(Option<PoolConnection<DB>>);

impl<DB: Database> CloseIfCancelled<DB> {
    pub(crate) fn new(conn: PoolConnection<DB>) -> Self {
        CloseIfCancelled(Some(conn))
    }

    pub(crate) fn get(&mut self) -> &mut DB::Connection {
        self.0.as_mut().expect("held until finished")
    }

    /// The write ran to its end: the connection goes back to the pool.
    pub(crate) fn finished(mut self) {
        self.0.take();
    }
}

impl<DB: Database> Drop for CloseIfCancelled<DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::sqlite::SqlitePoolOptions;
    use std::time::Duration;

    #[tokio::test]
    async fn a_cancelled_write_closes_its_connection_and_a_finished_one_returns_it() {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let settled = |idle: usize, size: u32| {
            let pool = pool.clone();
            async move {
                for _ in 0..500 {
                    if pool.num_idle() == idle && pool.size() == size {
                        return true;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                false
            }
        };
        let finished = CloseIfCancelled::new(pool.acquire().await.unwrap());
        finished.finished();
        assert!(
            settled(1, 1).await,
            "a finished write's connection is idle in the pool"
        );
        let cancelled = CloseIfCancelled::new(pool.acquire().await.unwrap());
        drop(cancelled);
        assert!(
            settled(0, 0).await,
            "a cancelled write's connection is closed"
        );
    }
}
