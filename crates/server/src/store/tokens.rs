//! Storage of issue 4: machine users, API tokens (personal/unscoped and scoped) and the audit log.
//!
//! [`TokenStore`] is a narrow trait that [`Store`](super::Store) extends, so domain code calls these methods on
//! `app.store` like any other. The SQL is written once in [`token_store!`], with `$1` placeholders both SQLite and
//! PostgreSQL accept, and instantiated by each backend next to its `sql_store!`. Tokens appear only as SHA-256
//! hashes; audit entries never hold a secret.

use async_trait::async_trait;

use super::{AuditQuery, Client, Result, TokenQuery, User, UserQuery};

/// A usage flush's move of one token's `last_used_at` to a later use (never back): `$1` the time, `$2` the token
/// id. Both backends' `record_usage` run it; SQLite reads `$n` as the n-th parameter too.
pub(super) const TOUCH_LAST_USED: &str = "UPDATE api_tokens SET last_used_at = $1 \
     WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)";

/// An API token row. `token_hash` is the SHA-256 (hex) of the whole `kp_…` string.
#[derive(Clone, Debug)]
pub struct ApiToken {
    pub id: String,
    pub realm: String,
    pub token_hash: String,
    /// The user the token acts as.
    pub user_id: String,
    pub name: Option<String>,
    /// Empty for an unscoped token.
    pub scopes: Vec<String>,
    /// A personal token carrying all of its owner's rights.
    pub unscoped: bool,
    /// The user who created it.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl ApiToken {
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// One audit-log entry as stored. `id` is assigned by the store (0 when inserting).
#[derive(Clone, Debug, Default)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    pub realm: String,
    pub actor_user_id: Option<String>,
    pub token_id: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
}

impl AuditRecord {
    /// Entries as rows to write (`TokenStore::record_usage`).
    pub fn rows(entries: &[AuditRecord]) -> Vec<AuditRow<'_>> {
        entries.iter().map(AuditRecord::row).collect()
    }

    /// The entry as a row to write.
    pub fn row(&self) -> AuditRow<'_> {
        AuditRow {
            at: self.at,
            realm: &self.realm,
            actor_user_id: self.actor_user_id.as_deref(),
            token_id: self.token_id.as_deref(),
            action: &self.action,
            target: self.target.as_deref(),
            outcome: &self.outcome,
            detail: self.detail.as_deref(),
        }
    }
}

/// An audit-log entry to write, borrowed from whatever holds its fields: a token use waiting in
/// [`crate::usage`] makes one from the cached token and user, with no copy of its own.
#[derive(Clone, Copy, Debug)]
pub struct AuditRow<'a> {
    pub at: i64,
    pub realm: &'a str,
    pub actor_user_id: Option<&'a str>,
    pub token_id: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub outcome: &'a str,
    pub detail: Option<&'a str>,
}

#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Inserts a new user; [`StoreError::Conflict`](super::StoreError::Conflict) when the username is taken.
    async fn insert_user(&self, user: &User) -> Result<()>;
    /// Users of a realm ordered by username, `max` from offset `first`.
    async fn list_users(&self, realm: &str, first: i64, max: i64) -> Result<Vec<User>> {
        self.search_users(&UserQuery {
            realm: realm.to_owned(),
            first,
            max,
            ..Default::default()
        })
        .await
    }
    /// A page of users (see [`UserQuery`]).
    async fn search_users(&self, query: &UserQuery) -> Result<Vec<User>>;
    /// The usernames of those of `ids` that are users of the realm, as `(id, username)`.
    async fn usernames(&self, realm: &str, ids: &[String]) -> Result<Vec<(String, String)>>;
    /// Enables or disables a user (a disabled user cannot sign in, refresh or use an API token). Returns false
    /// when there is no such user.
    async fn set_user_enabled(&self, realm: &str, id: &str, enabled: bool) -> Result<bool>;
    /// Deletes a user and, in the same transaction, revokes every API token of theirs, ends every login session
    /// (their refresh tokens and access tokens stop working), drops their browser sessions and any approved but
    /// unredeemed device grant, and forgets their links to upstream identity providers. Returns false when there
    /// was no such user.
    async fn delete_user(&self, realm: &str, id: &str, now: i64) -> Result<bool>;

    /// Replaces a user's realm roles. Returns false when there is no such user.
    async fn set_user_roles(&self, realm: &str, id: &str, roles: &[String]) -> Result<bool>;
    /// Every realm role named by a user or a client of the realm (unsorted, with duplicates).
    async fn role_lists(&self, realm: &str) -> Result<Vec<Vec<String>>>;

    /// Inserts a new client; [`StoreError::Conflict`](super::StoreError::Conflict) when the id is taken.
    async fn insert_client(&self, client: &Client) -> Result<()>;
    /// Clients of a realm ordered by id, `max` from offset `first`.
    async fn list_clients(&self, realm: &str, first: i64, max: i64) -> Result<Vec<Client>>;
    /// Replaces a confidential client's secret (its SHA-256). Returns false when there is no such confidential
    /// client.
    async fn set_client_secret(
        &self,
        realm: &str,
        client_id: &str,
        secret_hash: &str,
    ) -> Result<bool>;
    /// Returns false when there was no such client.
    async fn delete_client(&self, realm: &str, client_id: &str) -> Result<bool>;

    async fn insert_api_token(&self, token: &ApiToken) -> Result<()>;
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>>;
    async fn api_token(&self, realm: &str, id: &str) -> Result<Option<ApiToken>>;
    /// A page of tokens (see [`TokenQuery`]), each with its user's name (`None` once the user is deleted).
    async fn list_api_tokens(&self, query: &TokenQuery) -> Result<Vec<(ApiToken, Option<String>)>>;
    /// Revokes an active token. Returns false when it did not exist or was revoked already.
    async fn revoke_api_token(&self, realm: &str, id: &str, now: i64) -> Result<bool>;

    async fn insert_audit(&self, entry: &AuditRecord) -> Result<()>;
    /// Writes a batch of API-token uses in one transaction: the audit rows, and each token's `last_used_at`
    /// moved forward to the given time (never back). Cancelled midway, it writes nothing and closes its connection
    /// rather than return it to the pool (`cancel::CloseIfCancelled`: PostgreSQL's COPY could leave it out of step).
    async fn record_usage(&self, audit: &[AuditRow<'_>], last_used: &[(String, i64)])
    -> Result<()>;
    /// Matching entries, newest first.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>>;
    /// Deletes entries older than `before`; returns how many.
    async fn purge_audit(&self, before: i64) -> Result<u64>;
}

/// Implements [`TokenStore`] for `$store` (a struct with a `pool` field) over database `$db`. Invoke it in the
/// backend's module, after `sql_store!` (it reuses that macro's `user_from_row` and `client_from_row`).
/// `record_usage` is the backend's [`TokenStore::record_usage`] (`async fn(&Pool<$db>, &[AuditRow],
/// &[(String, i64)]) -> Result<()>`): the fastest bulk write differs between the two (SQLite: multi-row INSERTs
/// bound through the connection's own handle; PostgreSQL: COPY).
macro_rules! token_store {
    ($store:ident, $row:ty, $db:ty, record_usage = $record_usage:path) => {
        fn api_token_from_row(row: &$row) -> Result<ApiToken> {
            Ok(ApiToken {
                id: row.get("id"),
                realm: row.get("realm"),
                token_hash: row.get("token_hash"),
                user_id: row.get("user_id"),
                name: row.get("name"),
                scopes: parse_list(row.get("scopes"))?,
                unscoped: row.get("unscoped"),
                created_by: row.get("created_by"),
                created_at: row.get("created_at"),
                expires_at: row.get("expires_at"),
                last_used_at: row.get("last_used_at"),
                revoked_at: row.get("revoked_at"),
            })
        }

        fn audit_from_row(row: &$row) -> AuditRecord {
            AuditRecord {
                id: row.get("id"),
                at: row.get("at"),
                realm: row.get("realm"),
                actor_user_id: row.get("actor_user_id"),
                token_id: row.get("token_id"),
                action: row.get("action"),
                target: row.get("target"),
                outcome: row.get("outcome"),
                detail: row.get("detail"),
            }
        }

        #[async_trait]
        impl $crate::store::TokenStore for $store {
            async fn insert_user(&self, u: &User) -> Result<()> {
                sqlx::query(
                    "INSERT INTO users (id, realm, username, email, name, password_hash, roles, user_type, enabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&u.id)
                .bind(&u.realm)
                .bind(&u.username)
                .bind(&u.email)
                .bind(&u.name)
                .bind(&u.password_hash)
                .bind(json_list(&u.roles))
                .bind(u.user_type.as_str())
                .bind(u.enabled)
                .bind(u.created_at)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn search_users(&self, q: &UserQuery) -> Result<Vec<User>> {
                let mut sql = sqlx::QueryBuilder::<$db>::new("SELECT * FROM users WHERE realm = ");
                sql.push_bind(&q.realm);
                if let Some(search) = q.search.as_deref().filter(|s| !s.is_empty()) {
                    let pattern = format!("%{}%", super::queries::like_escape(&search.to_ascii_lowercase()));
                    sql.push(" AND (LOWER(username) LIKE ")
                        .push_bind(pattern.clone())
                        .push(" ESCAPE '\\' OR LOWER(COALESCE(email, '')) LIKE ")
                        .push_bind(pattern)
                        .push(" ESCAPE '\\')");
                }
                if let Some(t) = q.user_type {
                    sql.push(" AND user_type = ").push_bind(t.as_str());
                }
                if let Some(after) = &q.after {
                    sql.push(" AND username > ").push_bind(after);
                }
                sql.push(" ORDER BY username LIMIT ")
                    .push_bind(q.max)
                    .push(" OFFSET ")
                    .push_bind(q.first);
                let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
                rows.iter().map(user_from_row).collect()
            }

            async fn usernames(&self, realm: &str, ids: &[String]) -> Result<Vec<(String, String)>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut sql =
                    sqlx::QueryBuilder::<$db>::new("SELECT id, username FROM users WHERE realm = ");
                sql.push_bind(realm).push(" AND id IN (");
                let mut list = sql.separated(", ");
                for id in ids {
                    list.push_bind(id);
                }
                sql.push(")");
                let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
                Ok(rows.iter().map(|r| (r.get("id"), r.get("username"))).collect())
            }

            async fn set_user_enabled(&self, realm: &str, id: &str, enabled: bool) -> Result<bool> {
                let done = sqlx::query("UPDATE users SET enabled = $1 WHERE realm = $2 AND id = $3")
                    .bind(enabled)
                    .bind(realm)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_user(&self, realm: &str, id: &str, now: i64) -> Result<bool> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                // The user row first: on PostgreSQL its lock waits for every session insert that holds the row
                // (`INSERT_SESSION`'s `FOR KEY SHARE`) to commit, so the sessions update below sees and ends
                // those sessions, and any insert after this one finds no user and writes nothing.
                let done = sqlx::query("DELETE FROM users WHERE realm = $1 AND id = $2")
                    .bind(realm)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 \
                     WHERE realm = $2 AND user_id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(realm)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query(
                    "UPDATE sessions SET ended_at = $1 WHERE realm = $2 AND user_id = $3 AND ended_at IS NULL",
                )
                .bind(now)
                .bind(realm)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query("DELETE FROM browser_sessions WHERE realm = $1 AND user_id = $2")
                    .bind(realm)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                sqlx::query(
                    "DELETE FROM device_grants WHERE realm = $1 AND user_id = $2 AND status = 'approved'",
                )
                .bind(realm)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query("DELETE FROM federated_links WHERE realm = $1 AND user_id = $2")
                    .bind(realm)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn set_user_roles(&self, realm: &str, id: &str, roles: &[String]) -> Result<bool> {
                let done = sqlx::query("UPDATE users SET roles = $1 WHERE realm = $2 AND id = $3")
                    .bind(json_list(roles))
                    .bind(realm)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn role_lists(&self, realm: &str) -> Result<Vec<Vec<String>>> {
                let rows = sqlx::query(
                    "SELECT roles FROM users WHERE realm = $1 UNION ALL SELECT roles FROM clients WHERE realm = $2",
                )
                .bind(realm)
                .bind(realm)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                rows.iter().map(|r| parse_list(r.get("roles"))).collect()
            }

            async fn insert_client(&self, c: &Client) -> Result<()> {
                sqlx::query(
                    "INSERT INTO clients (realm, client_id, secret_hash, public, grants, roles, rotation, access_token_alg, id_token_alg, scopes, audiences) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&c.realm)
                .bind(&c.client_id)
                .bind(&c.secret_hash)
                .bind(c.public)
                .bind(json_list(&c.grants))
                .bind(json_list(&c.roles))
                .bind(c.rotation.as_str())
                .bind(c.access_token_alg.map(|a| a.as_str()))
                .bind(c.id_token_alg.map(|a| a.as_str()))
                .bind(json_list(&c.scopes))
                .bind(json_list(&c.audiences))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn list_clients(&self, realm: &str, first: i64, max: i64) -> Result<Vec<Client>> {
                let rows = sqlx::query(
                    "SELECT * FROM clients WHERE realm = $1 ORDER BY client_id LIMIT $2 OFFSET $3",
                )
                .bind(realm)
                .bind(max)
                .bind(first)
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
                rows.iter().map(client_from_row).collect()
            }

            async fn set_client_secret(
                &self,
                realm: &str,
                client_id: &str,
                secret_hash: &str,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE clients SET secret_hash = $1 WHERE realm = $2 AND client_id = $3 AND public = $4",
                )
                .bind(secret_hash)
                .bind(realm)
                .bind(client_id)
                .bind(false)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn delete_client(&self, realm: &str, client_id: &str) -> Result<bool> {
                let done = sqlx::query("DELETE FROM clients WHERE realm = $1 AND client_id = $2")
                    .bind(realm)
                    .bind(client_id)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_api_token(&self, t: &ApiToken) -> Result<()> {
                sqlx::query(
                    "INSERT INTO api_tokens (id, realm, token_hash, user_id, name, scopes, unscoped, created_by, \
                     created_at, expires_at, last_used_at, revoked_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL)",
                )
                .bind(&t.id)
                .bind(&t.realm)
                .bind(&t.token_hash)
                .bind(&t.user_id)
                .bind(&t.name)
                .bind(json_list(&t.scopes))
                .bind(t.unscoped)
                .bind(&t.created_by)
                .bind(t.created_at)
                .bind(t.expires_at)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>> {
                let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.as_ref().map(api_token_from_row).transpose()
            }

            async fn api_token(&self, realm: &str, id: &str) -> Result<Option<ApiToken>> {
                let row = sqlx::query("SELECT * FROM api_tokens WHERE realm = $1 AND id = $2")
                    .bind(realm)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.as_ref().map(api_token_from_row).transpose()
            }

            async fn list_api_tokens(
                &self,
                q: &TokenQuery,
            ) -> Result<Vec<(ApiToken, Option<String>)>> {
                let mut sql = sqlx::QueryBuilder::<$db>::new(
                    "SELECT t.*, u.username AS owner_name FROM api_tokens t \
                     LEFT JOIN users u ON u.id = t.user_id AND u.realm = t.realm WHERE t.realm = ",
                );
                sql.push_bind(&q.realm);
                if let Some(user_id) = &q.user_id {
                    sql.push(" AND t.user_id = ").push_bind(user_id);
                }
                if let Some(kind) = q.kind {
                    sql.push(" AND t.unscoped = ").push_bind(kind == TokenKind::Personal);
                }
                if let Some((created_at, id)) = &q.after {
                    // A row-value comparison: both backends read it as one range of the index.
                    sql.push(" AND (t.created_at, t.id) < (")
                        .push_bind(*created_at)
                        .push(", ")
                        .push_bind(id)
                        .push(")");
                }
                sql.push(" ORDER BY t.created_at DESC, t.id DESC LIMIT ")
                    .push_bind(q.max)
                    .push(" OFFSET ")
                    .push_bind(q.first);
                let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
                rows.iter()
                    .map(|r| Ok((api_token_from_row(r)?, r.get("owner_name"))))
                    .collect()
            }

            async fn revoke_api_token(&self, realm: &str, id: &str, now: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE api_tokens SET revoked_at = $1 WHERE realm = $2 AND id = $3 AND revoked_at IS NULL",
                )
                .bind(now)
                .bind(realm)
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn insert_audit(&self, e: &AuditRecord) -> Result<()> {
                sqlx::query(
                    "INSERT INTO audit_log (at, realm, actor_user_id, token_id, action, target, outcome, detail) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(e.at)
                .bind(&e.realm)
                .bind(&e.actor_user_id)
                .bind(&e.token_id)
                .bind(&e.action)
                .bind(&e.target)
                .bind(&e.outcome)
                .bind(&e.detail)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn record_usage(
                &self,
                audit: &[AuditRow<'_>],
                last_used: &[(String, i64)],
            ) -> Result<()> {
                $record_usage(&self.pool, audit, last_used).await
            }

            async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>> {
                // Only the filters that are set become conditions; values are always bound, never spliced.
                let mut sql = sqlx::QueryBuilder::<$db>::new("SELECT * FROM audit_log WHERE realm = ");
                sql.push_bind(&q.realm);
                for (column, value) in [
                    (" AND actor_user_id = ", &q.actor_user_id),
                    (" AND token_id = ", &q.token_id),
                    (" AND action = ", &q.action),
                ] {
                    if let Some(v) = value {
                        sql.push(column).push_bind(v);
                    }
                }
                if let Some(since) = q.since {
                    sql.push(" AND at >= ").push_bind(since);
                }
                if let Some(until) = q.until {
                    sql.push(" AND at <= ").push_bind(until);
                }
                if let Some((at, id)) = q.before {
                    sql.push(" AND (at, id) < (")
                        .push_bind(at)
                        .push(", ")
                        .push_bind(id)
                        .push(")");
                }
                sql.push(" ORDER BY at DESC, id DESC LIMIT ")
                    .push_bind(q.max)
                    .push(" OFFSET ")
                    .push_bind(q.first);
                let rows = sql.build().fetch_all(&self.pool).await.map_err(db_err)?;
                Ok(rows.iter().map(audit_from_row).collect())
            }

            async fn purge_audit(&self, before: i64) -> Result<u64> {
                let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(done.rows_affected())
            }
        }
    };
}

pub(crate) use token_store;
