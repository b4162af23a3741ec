//! The SQL shared by every backend. Queries use `$1`-style placeholders, which both SQLite and PostgreSQL accept,
//! and column types both map to the same Rust types (TEXT ↔ String, INTEGER/BIGINT ↔ i64, BOOLEAN ↔ bool). The
//! [`sql_store!`] macro instantiates the one implementation for each backend's pool and row type, so the backends
//! cannot drift apart.

/// The purge's statements over sessions (`purge_expired`): the unused refresh token of each ended session, the
/// ended sessions without one (bound to now; a session ended between the two statements keeps its row until the
/// next purge has deleted its token), and the sessions begun before `quiet_since` without one. Each finds a
/// session's tokens through `used_at IS NULL`, the tokens SQLite's `refresh_tokens_session` index holds
/// (migrations/sqlite/0015_…). So a session is deleted only without an unused token; its used tokens go when they
/// expire, and on PostgreSQL the foreign key's cascade deletes them with the session.
pub(crate) const PURGE_SESSIONS: [&str; 3] = [
    "DELETE FROM refresh_tokens WHERE used_at IS NULL \
     AND session_id IN (SELECT id FROM sessions WHERE ended_at <= $1)",
    "DELETE FROM sessions WHERE ended_at <= $1 AND NOT EXISTS (SELECT 1 FROM refresh_tokens r \
     WHERE r.session_id = sessions.id AND r.used_at IS NULL)",
    "DELETE FROM sessions WHERE created_at < $1 AND NOT EXISTS (SELECT 1 FROM refresh_tokens r \
     WHERE r.session_id = sessions.id AND r.used_at IS NULL)",
];

/// Implements [`Store`](super::Store) for `$store` (a struct with a `pool` field) over database `$db`.
macro_rules! sql_store {
    ($store:ident, $row:ty, $db:ty, lock_user = $lock_user:literal) => {
        crate::store::rows::sql_rows!($row, $db, $lock_user);

        #[async_trait]
        impl Store for $store {
            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn signing_keys(&self) -> Result<Vec<StoredKey>> {
                let rows = sqlx::query("SELECT kid, alg, private_pem, created_at FROM signing_keys")
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?;
                rows.iter()
                    .map(|r| {
                        let alg: String = r.get("alg");
                        Ok(StoredKey {
                            kid: r.get("kid"),
                            alg: SigningAlg::parse(&alg)
                                .ok_or_else(|| StoreError::Corrupt(format!("key algorithm {alg}")))?,
                            private_pem: r.get("private_pem"),
                            created_at: r.get("created_at"),
                        })
                    })
                    .collect()
            }

            async fn insert_signing_key(&self, key: &StoredKey) -> Result<()> {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, alg, private_pem, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&key.kid)
                .bind(key.alg.as_str())
                .bind(&key.private_pem)
                .bind(key.created_at)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn delete_signing_key(&self, kid: &str) -> Result<()> {
                sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                    .bind(kid)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn change_signing_keys(
                &self,
                add: &[StoredKey],
                replace: &[StoredKey],
                remove: &[String],
            ) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                for key in add {
                    sqlx::query(
                        "INSERT INTO signing_keys (kid, alg, private_pem, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&key.kid)
                    .bind(key.alg.as_str())
                    .bind(&key.private_pem)
                    .bind(key.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
                for key in replace {
                    sqlx::query("UPDATE signing_keys SET private_pem = $1 WHERE kid = $2")
                        .bind(&key.private_pem)
                        .bind(&key.kid)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                for kid in remove {
                    sqlx::query("DELETE FROM signing_keys WHERE kid = $1")
                        .bind(kid)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }

            async fn upsert_client(&self, c: &Client) -> Result<()> {
                sqlx::query(
                    "INSERT INTO clients (realm, client_id, secret_hash, public, grants, roles, rotation, access_token_alg, id_token_alg, \
                     redirect_uris, post_logout_redirect_uris, consent, scopes, audiences) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT (realm, client_id) DO UPDATE SET \
                     secret_hash = excluded.secret_hash, public = excluded.public, grants = excluded.grants, \
                     roles = excluded.roles, rotation = excluded.rotation, access_token_alg = excluded.access_token_alg, \
                     id_token_alg = excluded.id_token_alg, redirect_uris = excluded.redirect_uris, \
                     post_logout_redirect_uris = excluded.post_logout_redirect_uris, consent = excluded.consent, \
                     scopes = excluded.scopes, audiences = excluded.audiences",
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
                .bind(json_list(&c.browser.redirect_uris))
                .bind(json_list(&c.browser.post_logout_redirect_uris))
                .bind(c.browser.consent)
                .bind(json_list(&c.scopes))
                .bind(json_list(&c.audiences))
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn client(&self, realm: &str, client_id: &str) -> Result<Option<Client>> {
                let row = sqlx::query("SELECT * FROM clients WHERE realm = $1 AND client_id = $2")
                    .bind(realm)
                    .bind(client_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.as_ref().map(client_from_row).transpose()
            }

            async fn upsert_user(&self, u: &User) -> Result<User> {
                sqlx::query(
                    "INSERT INTO users (id, realm, username, email, name, password_hash, roles, user_type, enabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (realm, username) DO UPDATE SET \
                     email = excluded.email, name = excluded.name, roles = excluded.roles, enabled = excluded.enabled, \
                     password_hash = COALESCE(excluded.password_hash, users.password_hash)",
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
                self.user_by_username(&u.realm, &u.username)
                    .await?
                    .ok_or_else(|| StoreError::Database("upserted user vanished".into()))
            }

            async fn user(&self, realm: &str, id: &str) -> Result<Option<User>> {
                let row = sqlx::query("SELECT * FROM users WHERE realm = $1 AND id = $2")
                    .bind(realm)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.as_ref().map(user_from_row).transpose()
            }

            async fn user_by_username(&self, realm: &str, username: &str) -> Result<Option<User>> {
                let row = sqlx::query("SELECT * FROM users WHERE realm = $1 AND username = $2")
                    .bind(realm)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.as_ref().map(user_from_row).transpose()
            }

            async fn insert_device_grant(&self, g: &DeviceGrant) -> Result<()> {
                sqlx::query(
                    "INSERT INTO device_grants (device_code_hash, user_code, realm, client_id, scope, created_at, \
                     expires_at, interval_secs, last_poll_at, status, user_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(&g.device_code_hash)
                .bind(&g.user_code)
                .bind(&g.realm)
                .bind(&g.client_id)
                .bind(&g.scope)
                .bind(g.created_at)
                .bind(g.expires_at)
                .bind(g.interval_secs)
                .bind(g.last_poll_at)
                .bind(g.status.as_str())
                .bind(&g.user_id)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn device_grant(&self, device_code_hash: &str) -> Result<Option<DeviceGrant>> {
                let row = sqlx::query("SELECT * FROM device_grants WHERE device_code_hash = $1")
                    .bind(device_code_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.as_ref().map(device_from_row).transpose()
            }

            async fn device_grant_by_user_code(
                &self,
                realm: &str,
                user_code: &str,
            ) -> Result<Option<DeviceGrant>> {
                let row = sqlx::query("SELECT * FROM device_grants WHERE realm = $1 AND user_code = $2")
                    .bind(realm)
                    .bind(user_code)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                row.as_ref().map(device_from_row).transpose()
            }

            async fn record_device_poll(
                &self,
                device_code_hash: &str,
                now: i64,
                interval_secs: i64,
            ) -> Result<()> {
                sqlx::query("UPDATE device_grants SET last_poll_at = $1, interval_secs = $2 WHERE device_code_hash = $3")
                    .bind(now)
                    .bind(interval_secs)
                    .bind(device_code_hash)
                    .execute(self.poll_writes())
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn decide_device_grant(
                &self,
                device_code_hash: &str,
                status: DeviceStatus,
                user_id: &str,
                now: i64,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE device_grants SET status = $1, user_id = $2 \
                     WHERE device_code_hash = $3 AND status = 'pending' AND expires_at > $4",
                )
                .bind(status.as_str())
                .bind(user_id)
                .bind(device_code_hash)
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn redeem_device_grant(
                &self,
                device_code_hash: &str,
                session: &Session,
                refresh: &RefreshToken,
            ) -> Result<SessionStart> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                // The session (and its hold on the user row) before the grant: `delete_user` locks the user
                // row, then deletes the user's approved grants, so this order cannot deadlock with it. A
                // dropped transaction rolls the session back.
                if !insert_session(&mut tx, session).await? {
                    return Ok(SessionStart::UserGone);
                }
                let done = sqlx::query(
                    "UPDATE device_grants SET status = 'redeemed' WHERE device_code_hash = $1 AND status = 'approved'",
                )
                .bind(device_code_hash)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if done.rows_affected() != 1 {
                    return Ok(SessionStart::AlreadyUsed);
                }
                insert_refresh_query(refresh)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(SessionStart::Started)
            }

            async fn create_session(
                &self,
                session: &Session,
                refresh: Option<&RefreshToken>,
            ) -> Result<SessionStart> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                if !insert_session(&mut tx, session).await? {
                    return Ok(SessionStart::UserGone);
                }
                if let Some(r) = refresh {
                    insert_refresh_query(r)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
                tx.commit().await.map_err(db_err)?;
                Ok(SessionStart::Started)
            }

            async fn session(&self, id: &str) -> Result<Option<Session>> {
                let row = sqlx::query("SELECT * FROM sessions WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(row.as_ref().map(session_from_row))
            }

            async fn end_session(&self, id: &str, now: i64) -> Result<bool> {
                let done =
                    sqlx::query("UPDATE sessions SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
                        .bind(now)
                        .bind(id)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>> {
                let row = sqlx::query("SELECT * FROM refresh_tokens WHERE token_hash = $1")
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(row.as_ref().map(refresh_from_row))
            }

            async fn refresh_contexts(
                &self,
                token_hashes: &[String],
            ) -> Result<Vec<Option<RefreshContext>>> {
                let mut select = sqlx::QueryBuilder::<$db>::new(
                    "SELECT u.*, \
                     rt.token_hash AS rt_token_hash, rt.session_id AS rt_session_id, rt.realm AS rt_realm, \
                     rt.client_id AS rt_client_id, rt.created_at AS rt_created_at, \
                     rt.expires_at AS rt_expires_at, rt.used_at AS rt_used_at, \
                     s.realm AS s_realm, s.user_id AS s_user_id, s.client_id AS s_client_id, s.scope AS s_scope, \
                     s.created_at AS s_created_at, s.ended_at AS s_ended_at \
                     FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id \
                     LEFT JOIN users u ON u.realm = s.realm AND u.id = s.user_id \
                     WHERE rt.token_hash IN (",
                );
                let mut list = select.separated(", ");
                for hash in token_hashes {
                    list.push_bind(hash);
                }
                select.push(")");
                let rows = select.build().fetch_all(&self.pool).await.map_err(db_err)?;
                let mut found = std::collections::HashMap::with_capacity(rows.len());
                for row in &rows {
                    let token = RefreshToken {
                        token_hash: row.get("rt_token_hash"),
                        session_id: row.get("rt_session_id"),
                        realm: row.get("rt_realm"),
                        client_id: row.get("rt_client_id"),
                        created_at: row.get("rt_created_at"),
                        expires_at: row.get("rt_expires_at"),
                        used_at: row.get("rt_used_at"),
                    };
                    let session = Session {
                        id: token.session_id.clone(),
                        realm: row.get("s_realm"),
                        user_id: row.get("s_user_id"),
                        client_id: row.get("s_client_id"),
                        scope: row.get("s_scope"),
                        created_at: row.get("s_created_at"),
                        ended_at: row.get("s_ended_at"),
                    };
                    let user = match row.get::<Option<String>, _>("id") {
                        Some(_) => Some(user_from_row(row)?),
                        None => None,
                    };
                    found.insert(token.token_hash.clone(), RefreshContext { token, session, user });
                }
                Ok(token_hashes.iter().map(|h| found.get(h).cloned()).collect())
            }

            async fn rotate_refresh_tokens(
                &self,
                batch: &[(String, RefreshToken)],
            ) -> Result<Vec<Rotated>> {
                if batch.is_empty() {
                    return Ok(Vec::new());
                }
                // One statement admits one successor per token, also within this statement: on PostgreSQL the
                // unique index on parent_hash (a conflicting row is skipped), on SQLite a trigger that skips a row
                // whose parent is used or gone (migrations/sqlite/0013_…). The trigger of
                // migrations/*/0003_refresh_rotation.sql marks each parent used, and RETURNING names the rows
                // that went in.
                // Rows in parent order: concurrent batches (from other replicas on one PostgreSQL database) then
                // lock the parents they share in the same order and cannot deadlock. The sort is stable: of two
                // rotations of one token in a batch, the first to arrive still wins.
                let mut rows: Vec<&(String, RefreshToken)> = batch.iter().collect();
                rows.sort_by(|a, b| a.0.cmp(&b.0));
                let mut insert = sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO refresh_tokens \
                     (token_hash, session_id, realm, client_id, created_at, expires_at, parent_hash) ",
                );
                insert.push_values(rows, |mut row, (old_hash, new)| {
                    row.push_bind(&new.token_hash)
                        .push_bind(&new.session_id)
                        .push_bind(&new.realm)
                        .push_bind(&new.client_id)
                        .push_bind(new.created_at)
                        .push_bind(new.expires_at)
                        .push_bind(old_hash);
                });
                insert.push(" ON CONFLICT DO NOTHING RETURNING token_hash");
                let stored: std::collections::HashSet<String> = insert
                    .build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(db_err)?
                    .iter()
                    .map(|r| r.get("token_hash"))
                    .collect();
                Ok(batch
                    .iter()
                    .map(|(_, new)| {
                        if stored.contains(&new.token_hash) {
                            Rotated::Done
                        } else {
                            Rotated::AlreadyUsed
                        }
                    })
                    .collect())
            }

            async fn extend_refresh_token(&self, token_hash: &str, expires_at: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET expires_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
                )
                .bind(expires_at)
                .bind(token_hash)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_jti(&self, realm: &str, jti: &str, expires_at: i64) -> Result<()> {
                sqlx::query("INSERT INTO revoked_tokens (jti, realm, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
                    .bind(jti)
                    .bind(realm)
                    .bind(expires_at)
                    .execute(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(())
            }

            async fn access_token_liveness(&self, jti: &str, sid: Option<&str>) -> Result<Liveness> {
                let row = sqlx::query(
                    "SELECT (SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1) AS revoked, \
                     (SELECT realm FROM sessions WHERE id = $2 AND ended_at IS NULL) AS session_realm",
                )
                .bind(jti)
                .bind(sid)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(Liveness {
                    revoked: row.get::<i64, _>("revoked") > 0,
                    active_session_realm: row.get("session_realm"),
                })
            }

            async fn failed_attempts(&self, key: &str, record: bool, now: i64, since: i64) -> Result<u64> {
                if record {
                    sqlx::query("INSERT INTO failed_attempts (key, at) VALUES ($1, $2)")
                        .bind(key)
                        .bind(now)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?;
                }
                let n: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM failed_attempts WHERE key = $1 AND at > $2")
                        .bind(key)
                        .bind(since)
                        .fetch_one(&self.pool)
                        .await
                        .map_err(db_err)?;
                Ok(n as u64)
            }

            async fn count_request(&self, key: &str, window: i64) -> Result<u64> {
                let n: i64 = sqlx::query_scalar(
                    "INSERT INTO request_counts (key, window_start, count) VALUES ($1, $2, 1) \
                     ON CONFLICT (key, window_start) DO UPDATE SET count = request_counts.count + 1 \
                     RETURNING count",
                )
                .bind(key)
                .bind(window)
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(n as u64)
            }

            async fn purge_expired(&self, now: i64, quiet_since: i64) -> Result<u64> {
                let mut total = 0;
                for (sql, cutoff) in [
                    ("DELETE FROM device_grants WHERE expires_at < $1", now - 3600),
                    ("DELETE FROM refresh_tokens WHERE expires_at < $1", now),
                    ("DELETE FROM revoked_tokens WHERE expires_at < $1", now),
                    ("DELETE FROM browser_sessions WHERE expires_at < $1", now),
                    ("DELETE FROM authorization_codes WHERE expires_at < $1", now - 3600),
                    // Failures are forgotten after at most `brute_force.failure_reset` (12 h by default).
                    ("DELETE FROM account_lockouts WHERE updated_at < $1 AND locked_until < $1", now - 7 * 86400),
                    // A page session lives an hour (`browser::SESSION_LIFETIME`): after a day its logins can no
                    // longer be signed out through it.
                    ("DELETE FROM browser_logins WHERE created_at < $1", now - 86400),
                    // A day: the wrong user codes a pending device code has taken are counted from these rows.
                    ("DELETE FROM failed_attempts WHERE at < $1", now - 86400),
                    // Request counts of minutes past (`count_request`).
                    ("DELETE FROM request_counts WHERE window_start < $1", now - 3600),
                    ("DELETE FROM federated_sign_ins WHERE expires_at < $1", now),
                ] {
                    total += sqlx::query(sql)
                        .bind(cutoff)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?
                        .rows_affected();
                }
                // Ended sessions, and sessions begun before `quiet_since` with no usable refresh token left (idle or
                // past their maximum: their refresh tokens expired, and so did every access token they gave).
                let [ended_tokens, ended, quiet] = $crate::store::sql::PURGE_SESSIONS;
                for (sql, cutoff) in [(ended_tokens, now), (ended, now), (quiet, quiet_since)] {
                    total += sqlx::query(sql)
                        .bind(cutoff)
                        .execute(&self.pool)
                        .await
                        .map_err(db_err)?
                        .rows_affected();
                }
                Ok(total)
            }
        }
    };
}

pub(crate) use sql_store;
