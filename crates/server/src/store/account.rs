//! Storage behind the portal's pages for everyone (issue 12): a user's own login sessions (with their last
//! refresh), their signed-in browsers, and their links to upstream providers; ending them all at once.
//!
//! [`AccountStore`] is a narrow trait that [`Store`](super::Store) extends. Its SQL is written once in
//! [`account_store!`] and instantiated by each backend next to `sql_store!` (whose session mapping it reuses).

use async_trait::async_trait;

use super::{BrowserSession, Result, Session};

/// A live login session of a user, as the portal lists it.
#[derive(Clone, Debug)]
pub struct SessionSummary {
    pub session: Session,
    /// When its newest refresh token was issued (the sign-in itself, or the last refresh).
    pub last_refresh: Option<i64>,
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The user's login sessions that have not ended and still hold a refresh token valid at `now`, newest
    /// first, `max` from offset `first`.
    async fn user_sessions(
        &self,
        realm: &str,
        user_id: &str,
        now: i64,
        first: i64,
        max: i64,
    ) -> Result<Vec<SessionSummary>>;
    /// Ends every login session of the user (their refresh tokens and access tokens stop working at once).
    /// Returns how many were live.
    async fn end_user_sessions(&self, realm: &str, user_id: &str, now: i64) -> Result<u64>;
    /// The user's page sessions (signed-in browsers) alive at `now`, newest first (at most 100).
    async fn user_browser_sessions(
        &self,
        realm: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<BrowserSession>>;
    /// Deletes every page session of the user: every browser is signed out.
    async fn delete_user_browser_sessions(&self, realm: &str, user_id: &str) -> Result<u64>;
    /// The upstream providers (aliases) the user's account is linked to, with when the link was made.
    async fn user_links(&self, realm: &str, user_id: &str) -> Result<Vec<(String, i64)>>;
}

/// A user's sessions that are not ended and whose refresh token has not expired, newest first, with when that token
/// was issued (for a client without rotation, which extends its one token in place, the sign-in). Of a session's
/// refresh tokens only the newest is unused (a rotation marks its parent used in the statement that inserts the
/// successor), and a used one refreshes nothing, so both subqueries read that one token: the one SQLite's
/// `refresh_tokens_session` index holds (migrations/sqlite/0015_…). The refresh grant checks the session's limits
/// and its user on top.
pub(crate) const USER_SESSIONS: &str = "SELECT s.*, \
     (SELECT MAX(rt.created_at) FROM refresh_tokens rt WHERE rt.session_id = s.id AND rt.used_at IS NULL) \
     AS last_refresh FROM sessions s \
     WHERE s.realm = $1 AND s.user_id = $2 AND s.ended_at IS NULL \
     AND EXISTS (SELECT 1 FROM refresh_tokens rt WHERE rt.session_id = s.id AND rt.used_at IS NULL \
     AND rt.expires_at > $3) \
     ORDER BY s.created_at DESC, s.id DESC LIMIT $4 OFFSET $5";

/// Implements [`AccountStore`] for `$store` over database `$db` (invoked next to `sql_store!`).
macro_rules! account_store {
    ($store:ident, $row:ty, $db:ty) => {
        #[async_trait]
        impl $crate::store::AccountStore for $store {
            async fn user_sessions(
                &self,
                realm: &str,
                user_id: &str,
                now: i64,
                first: i64,
                max: i64,
            ) -> Result<Vec<$crate::store::SessionSummary>> {
                let rows = sqlx::query(
                    $crate::store::account::USER_SESSIONS,
                )
                .bind(realm)
                .bind(user_id)
                .bind(now)
                .bind(max)
                .bind(first)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(rows
                    .iter()
                    .map(|r| $crate::store::SessionSummary {
                        session: session_from_row(r),
                        last_refresh: r.get("last_refresh"),
                    })
                    .collect())
            }

            async fn end_user_sessions(&self, realm: &str, user_id: &str, now: i64) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE sessions SET ended_at = $1 WHERE realm = $2 AND user_id = $3 AND ended_at IS NULL",
                )
                .bind(now)
                .bind(realm)
                .bind(user_id)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected())
            }

            async fn user_browser_sessions(
                &self,
                realm: &str,
                user_id: &str,
                now: i64,
            ) -> Result<Vec<BrowserSession>> {
                let rows = sqlx::query(
                    "SELECT * FROM browser_sessions WHERE realm = $1 AND user_id = $2 AND expires_at > $3 \
                     ORDER BY created_at DESC, id_hash LIMIT 100",
                )
                .bind(realm)
                .bind(user_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(rows.iter().map(browser_session_from_row).collect())
            }

            async fn delete_user_browser_sessions(&self, realm: &str, user_id: &str) -> Result<u64> {
                let done =
                    sqlx::query("DELETE FROM browser_sessions WHERE realm = $1 AND user_id = $2")
                        .bind(realm)
                        .bind(user_id)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                Ok(done.rows_affected())
            }

            async fn user_links(&self, realm: &str, user_id: &str) -> Result<Vec<(String, i64)>> {
                let rows = sqlx::query(
                    "SELECT alias, created_at FROM federated_links WHERE realm = $1 AND user_id = $2 \
                     ORDER BY alias",
                )
                .bind(realm)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(rows
                    .iter()
                    .map(|r| (r.get("alias"), r.get("created_at")))
                    .collect())
            }
        }
    };
}

pub(crate) use account_store;
