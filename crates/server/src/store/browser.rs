//! Storage of browser sign-in: authorization codes (authorization code + PKCE) and the consents users gave to
//! third-party clients.
//!
//! [`BrowserStore`] is a narrow trait that [`Store`](super::Store) extends. Its SQL is written once in
//! [`browser_store!`] and instantiated by each backend next to `sql_store!` (whose session and refresh-token
//! inserts it reuses). Codes appear only as SHA-256 hashes.

use async_trait::async_trait;

use super::{BrowserSession, RefreshToken, Result, Session, SessionStart};

/// An authorization code row: what the code was issued for, bound to a client, a redirect URI and a PKCE
/// challenge.
#[derive(Clone, Debug)]
pub struct AuthorizationCode {
    /// SHA-256 (hex) of the code.
    pub code_hash: String,
    pub realm: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    /// `BASE64URL(SHA256(code_verifier))` (S256 only), when the request carried one.
    pub code_challenge: Option<String>,
    pub user_id: String,
    /// When the user signed in (OpenID Connect `auth_time`).
    pub auth_time: i64,
    /// How the user signed in (`pwd`, `fed:{alias}`).
    pub amr: String,
    /// The login session the code's tokens belong to; created when the code is redeemed.
    pub session_id: String,
    /// SHA-256 of the page session that signed in: signing out there ends the login session too.
    pub browser_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when the code was redeemed; a second redemption ends the session of the first.
    pub used_at: Option<i64>,
}

/// What a user allowed a third-party client.
#[derive(Clone, Debug)]
pub struct Consent {
    pub client_id: String,
    /// Space-separated scopes.
    pub scope: String,
    pub granted_at: i64,
}

#[async_trait]
pub trait BrowserStore: Send + Sync + 'static {
    /// Page sessions (the sign-in cookie's server side, stored as the cookie's hash).
    async fn insert_browser_session(&self, session: &BrowserSession) -> Result<()>;
    async fn browser_session(&self, id_hash: &str, now: i64) -> Result<Option<BrowserSession>>;
    async fn delete_browser_session(&self, id_hash: &str) -> Result<()>;
    async fn insert_authorization_code(&self, code: &AuthorizationCode) -> Result<()>;
    async fn authorization_code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>>;
    /// Marks an unused code used and creates its session (and first refresh token), remembering which page
    /// session started it, in one transaction. Writes nothing when the code was used already (another request
    /// won: [`SessionStart::AlreadyUsed`]) or its user was deleted meanwhile ([`SessionStart::UserGone`]).
    async fn redeem_authorization_code(
        &self,
        code: &AuthorizationCode,
        now: i64,
        session: &Session,
        refresh: Option<&RefreshToken>,
    ) -> Result<SessionStart>;
    /// Ends every login session a page session started (its sign-out). Returns how many were still active.
    async fn end_browser_logins(&self, browser_hash: &str, now: i64) -> Result<u64>;

    /// The consent a user gave a client, if any.
    async fn consent(&self, realm: &str, user_id: &str, client_id: &str)
    -> Result<Option<Consent>>;
    /// Records (or replaces) the scopes a user allowed a client.
    async fn grant_consent(&self, realm: &str, user_id: &str, consent: &Consent) -> Result<()>;
    /// Forgets a consent. Returns false when there was none.
    async fn revoke_consent(&self, realm: &str, user_id: &str, client_id: &str) -> Result<bool>;
    /// Every client a user gave consent to.
    async fn consents(&self, realm: &str, user_id: &str) -> Result<Vec<Consent>>;

    /// Counts a password attempt against an account *before* the password is checked, in one atomic statement
    /// (so that parallel guesses cannot all pass): unless the account is locked at `rule.now`, its failures grow
    /// by one (starting again at one when the last was before `rule.reset_before`), and the attempt that reaches
    /// `rule.factor` locks the account for the others while it is checked. `None` when the account is locked.
    async fn count_password_attempt(
        &self,
        realm: &str,
        username: &str,
        rule: &LockoutRule,
    ) -> Result<Option<i64>>;
    /// Locks an account until `until` (a permanent lockout: `i64::MAX`).
    async fn lock_account(&self, realm: &str, username: &str, until: i64) -> Result<()>;
    /// A correct password: the account's failures and lock are forgotten.
    async fn clear_password_failures(&self, realm: &str, username: &str) -> Result<()>;
}

/// The parameters of [`BrowserStore::count_password_attempt`] (Keycloak's brute-force detection): after
/// `factor` failures the account is locked for `increment`, one more `increment` per further failure, at most
/// `max_wait` seconds.
#[derive(Clone, Copy, Debug)]
pub struct LockoutRule {
    pub now: i64,
    pub reset_before: i64,
    pub factor: i64,
    pub increment: i64,
    pub max_wait: i64,
}

/// Implements [`BrowserStore`] for `$store` over database `$db` (invoked next to `sql_store!`).
macro_rules! browser_store {
    ($store:ident, $row:ty, $db:ty) => {
        fn code_from_row(r: &$row) -> AuthorizationCode {
            AuthorizationCode {
                code_hash: r.get("code_hash"),
                realm: r.get("realm"),
                client_id: r.get("client_id"),
                redirect_uri: r.get("redirect_uri"),
                scope: r.get("scope"),
                nonce: r.get("nonce"),
                code_challenge: r.get("code_challenge"),
                user_id: r.get("user_id"),
                auth_time: r.get("auth_time"),
                amr: r.get("amr"),
                session_id: r.get("session_id"),
                browser_hash: r.get("browser_hash"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                used_at: r.get("used_at"),
            }
        }

        fn consent_from_row(r: &$row) -> Consent {
            Consent {
                client_id: r.get("client_id"),
                scope: r.get("scope"),
                granted_at: r.get("granted_at"),
            }
        }

        #[async_trait]
        impl BrowserStore for $store {
            async fn insert_browser_session(&self, s: &BrowserSession) -> Result<()> {
                sqlx::query(
                    "INSERT INTO browser_sessions (id_hash, realm, user_id, auth_time, amr, created_at, expires_at, \
                     address) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&s.id_hash)
                .bind(&s.realm)
                .bind(&s.user_id)
                .bind(s.auth_time)
                .bind(&s.amr)
                .bind(s.created_at)
                .bind(s.expires_at)
                .bind(&s.address)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn browser_session(&self, id_hash: &str, now: i64) -> Result<Option<BrowserSession>> {
                let row =
                    sqlx::query("SELECT * FROM browser_sessions WHERE id_hash = $1 AND expires_at > $2")
                        .bind(id_hash)
                        .bind(now)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(db_err)?;
                Ok(row.as_ref().map(browser_session_from_row))
            }

            async fn delete_browser_session(&self, id_hash: &str) -> Result<()> {
                sqlx::query("DELETE FROM browser_sessions WHERE id_hash = $1")
                    .bind(id_hash)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn insert_authorization_code(&self, c: &AuthorizationCode) -> Result<()> {
                sqlx::query(
                    "INSERT INTO authorization_codes (code_hash, realm, client_id, redirect_uri, scope, nonce, \
                     code_challenge, user_id, auth_time, amr, session_id, browser_hash, created_at, expires_at, used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL)",
                )
                .bind(&c.code_hash)
                .bind(&c.realm)
                .bind(&c.client_id)
                .bind(&c.redirect_uri)
                .bind(&c.scope)
                .bind(&c.nonce)
                .bind(&c.code_challenge)
                .bind(&c.user_id)
                .bind(c.auth_time)
                .bind(&c.amr)
                .bind(&c.session_id)
                .bind(&c.browser_hash)
                .bind(c.created_at)
                .bind(c.expires_at)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn authorization_code(&self, code_hash: &str) -> Result<Option<AuthorizationCode>> {
                let row = sqlx::query("SELECT * FROM authorization_codes WHERE code_hash = $1")
                    .bind(code_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(row.as_ref().map(code_from_row))
            }

            async fn redeem_authorization_code(
                &self,
                code: &AuthorizationCode,
                now: i64,
                session: &Session,
                refresh: Option<&RefreshToken>,
            ) -> Result<SessionStart> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                let done = sqlx::query(
                    "UPDATE authorization_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL",
                )
                .bind(now)
                .bind(&code.code_hash)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if done.rows_affected() != 1 {
                    return Ok(SessionStart::AlreadyUsed);
                }
                if !insert_session(&mut tx, session).await? {
                    return Ok(SessionStart::UserGone);
                }
                if let Some(refresh) = refresh {
                    insert_refresh_query(refresh)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                sqlx::query(
                    "INSERT INTO browser_logins (browser_hash, session_id, created_at) VALUES ($1, $2, $3)",
                )
                .bind(&code.browser_hash)
                .bind(&session.id)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(SessionStart::Started)
            }

            async fn end_browser_logins(&self, browser_hash: &str, now: i64) -> Result<u64> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                let ended = sqlx::query(
                    "UPDATE sessions SET ended_at = $1 WHERE ended_at IS NULL AND id IN \
                     (SELECT session_id FROM browser_logins WHERE browser_hash = $2)",
                )
                .bind(now)
                .bind(browser_hash)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?
                .rows_affected();
                sqlx::query("DELETE FROM browser_logins WHERE browser_hash = $1")
                    .bind(browser_hash)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(ended)
            }

            async fn consent(
                &self,
                realm: &str,
                user_id: &str,
                client_id: &str,
            ) -> Result<Option<Consent>> {
                let row = sqlx::query(
                    "SELECT * FROM consents WHERE realm = $1 AND user_id = $2 AND client_id = $3",
                )
                .bind(realm)
                .bind(user_id)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(row.as_ref().map(consent_from_row))
            }

            async fn grant_consent(&self, realm: &str, user_id: &str, c: &Consent) -> Result<()> {
                sqlx::query(
                    "INSERT INTO consents (realm, user_id, client_id, scope, granted_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (realm, user_id, client_id) DO UPDATE SET scope = excluded.scope, \
                     granted_at = excluded.granted_at",
                )
                .bind(realm)
                .bind(user_id)
                .bind(&c.client_id)
                .bind(&c.scope)
                .bind(c.granted_at)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn revoke_consent(&self, realm: &str, user_id: &str, client_id: &str) -> Result<bool> {
                let done = sqlx::query(
                    "DELETE FROM consents WHERE realm = $1 AND user_id = $2 AND client_id = $3",
                )
                .bind(realm)
                .bind(user_id)
                .bind(client_id)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn count_password_attempt(
                &self,
                realm: &str,
                username: &str,
                rule: &LockoutRule,
            ) -> Result<Option<i64>> {
                // One statement, so that nothing can run between counting and reading the count (a correct
                // sign-in of the same account deleting the row in between made a correct, concurrent sign-in
                // look locked). `n` is the failure count after this attempt (1 for a new row or one last
                // updated before `reset_before`); the attempt that brings it to the factor or past it locks the
                // account for `increment × (n − factor + 1)` seconds (at most `max_wait`). A locked row is
                // left as it is and nothing is returned.
                fn locked_until(n: &str) -> String {
                    format!(
                        "CASE WHEN {n} >= $4 THEN $5 + CASE WHEN $6 * ({n} - $4 + 1) > $7 THEN $7 \
                         ELSE $6 * ({n} - $4 + 1) END ELSE 0 END"
                    )
                }
                const N: &str = "(CASE WHEN account_lockouts.updated_at < $3 THEN 1 \
                                 ELSE account_lockouts.failures + 1 END)";
                let sql = format!(
                    "INSERT INTO account_lockouts (realm, username, failures, locked_until, updated_at) \
                     VALUES ($1, $2, 1, {first}, $5) ON CONFLICT (realm, username) DO UPDATE \
                     SET failures = {N}, locked_until = {next}, updated_at = $5 \
                     WHERE account_lockouts.locked_until <= $5 RETURNING failures",
                    first = locked_until("1"),
                    next = locked_until(N),
                );
                let row = sqlx::query(&sql)
                    .bind(realm)
                    .bind(username)
                    .bind(rule.reset_before)
                    .bind(rule.factor)
                    .bind(rule.now)
                    .bind(rule.increment)
                    .bind(rule.max_wait)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(row.map(|r| r.get::<i64, _>("failures")))
            }

            async fn lock_account(&self, realm: &str, username: &str, until: i64) -> Result<()> {
                sqlx::query(
                    "UPDATE account_lockouts SET locked_until = $3 WHERE realm = $1 AND username = $2",
                )
                .bind(realm)
                .bind(username)
                .bind(until)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn clear_password_failures(&self, realm: &str, username: &str) -> Result<()> {
                sqlx::query("DELETE FROM account_lockouts WHERE realm = $1 AND username = $2")
                    .bind(realm)
                    .bind(username)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn consents(&self, realm: &str, user_id: &str) -> Result<Vec<Consent>> {
                let rows = sqlx::query(
                    "SELECT * FROM consents WHERE realm = $1 AND user_id = $2 ORDER BY client_id",
                )
                .bind(realm)
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(rows.iter().map(consent_from_row).collect())
            }
        }
    };
}

pub(crate) use browser_store;
