//! Row mapping shared by every backend: the `*_from_row` functions that turn a row into a store type, and the two
//! inserts (a session, a refresh token) that the session-starting and refresh paths reuse.
//! [`sql_rows!`] is expanded by [`sql_store!`](super::sql::sql_store) inside each backend's module, so the other
//! store macros (tokens, browser, account, federation) find these functions there too.

/// Defines the row mapping for rows of type `$row` and queries over database `$db`.
macro_rules! sql_rows {
    ($row:ty, $db:ty, $lock_user:literal) => {
        fn client_from_row(row: &$row) -> Result<Client> {
            let alg: Option<String> = row.get("access_token_alg");
            let rotation: String = row.get("rotation");
            Ok(Client {
                realm: row.get("realm"),
                client_id: row.get("client_id"),
                secret_hash: row.get("secret_hash"),
                public: row.get("public"),
                grants: parse_list::<Grant>(row.get("grants"))?,
                roles: parse_list(row.get("roles"))?,
                rotation: if rotation == "off" {
                    Rotation::Off
                } else {
                    Rotation::Strict
                },
                access_token_alg: alg.as_deref().and_then(SigningAlg::parse),
                id_token_alg: row
                    .get::<Option<String>, _>("id_token_alg")
                    .as_deref()
                    .and_then(SigningAlg::parse),
                scopes: parse_list(row.get("scopes"))?,
                audiences: parse_list(row.get("audiences"))?,
                browser: ClientBrowser {
                    redirect_uris: parse_list(row.get("redirect_uris"))?,
                    post_logout_redirect_uris: parse_list(row.get("post_logout_redirect_uris"))?,
                    consent: row.get("consent"),
                },
            })
        }

        fn user_from_row(row: &$row) -> Result<User> {
            let user_type: String = row.get("user_type");
            Ok(User {
                id: row.get("id"),
                realm: row.get("realm"),
                username: row.get("username"),
                email: row.get("email"),
                name: row.get("name"),
                password_hash: row.get("password_hash"),
                roles: parse_list(row.get("roles"))?,
                user_type: if user_type == "machine" {
                    UserType::Machine
                } else {
                    UserType::Person
                },
                enabled: row.get("enabled"),
                created_at: row.get("created_at"),
            })
        }

        fn device_from_row(row: &$row) -> Result<DeviceGrant> {
            Ok(DeviceGrant {
                device_code_hash: row.get("device_code_hash"),
                user_code: row.get("user_code"),
                realm: row.get("realm"),
                client_id: row.get("client_id"),
                scope: row.get("scope"),
                created_at: row.get("created_at"),
                expires_at: row.get("expires_at"),
                interval_secs: row.get("interval_secs"),
                last_poll_at: row.get("last_poll_at"),
                status: DeviceStatus::parse(row.get("status"))?,
                user_id: row.get("user_id"),
            })
        }

        fn session_from_row(row: &$row) -> Session {
            Session {
                id: row.get("id"),
                realm: row.get("realm"),
                user_id: row.get("user_id"),
                client_id: row.get("client_id"),
                scope: row.get("scope"),
                created_at: row.get("created_at"),
                ended_at: row.get("ended_at"),
            }
        }

        fn browser_session_from_row(r: &$row) -> BrowserSession {
            BrowserSession {
                id_hash: r.get("id_hash"),
                realm: r.get("realm"),
                user_id: r.get("user_id"),
                auth_time: r.get("auth_time"),
                amr: r.get("amr"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                address: r.get("address"),
            }
        }

        fn refresh_from_row(row: &$row) -> RefreshToken {
            RefreshToken {
                token_hash: row.get("token_hash"),
                session_id: row.get("session_id"),
                realm: row.get("realm"),
                client_id: row.get("client_id"),
                created_at: row.get("created_at"),
                expires_at: row.get("expires_at"),
                used_at: row.get("used_at"),
            }
        }

        /// Inserts the session only if its user still exists, holding that user row (`$lock_user`: PostgreSQL's
        /// `FOR KEY SHARE`; SQLite has one writer) until the commit, so a concurrent `delete_user` either ends the
        /// new session or makes this insert write nothing. Zero rows: the user is gone.
        const INSERT_SESSION: &str = concat!(
            "INSERT INTO sessions (id, realm, user_id, client_id, scope, created_at) \
             SELECT $1, $2, $3, $4, $5, $6 FROM users WHERE realm = $2 AND id = $3",
            $lock_user
        );
        const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens \
             (token_hash, session_id, realm, client_id, created_at, expires_at, used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)";

        /// Inserts the session in `tx` ([`INSERT_SESSION`]); false when its user is gone (nothing written).
        async fn insert_session(
            tx: &mut sqlx::Transaction<'_, $db>,
            s: &Session,
        ) -> Result<bool> {
            let done = sqlx::query(INSERT_SESSION)
                .bind(&s.id)
                .bind(&s.realm)
                .bind(&s.user_id)
                .bind(&s.client_id)
                .bind(&s.scope)
                .bind(s.created_at)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            Ok(done.rows_affected() == 1)
        }

        fn insert_refresh_query(
            r: &RefreshToken,
        ) -> sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments<'_>> {
            sqlx::query(INSERT_REFRESH)
                .bind(&r.token_hash)
                .bind(&r.session_id)
                .bind(&r.realm)
                .bind(&r.client_id)
                .bind(r.created_at)
                .bind(r.expires_at)
        }
    };
}

pub(crate) use sql_rows;
