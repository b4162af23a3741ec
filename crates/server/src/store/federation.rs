//! Storage of sign-in through upstream OpenID Connect providers: the links from an upstream identity (provider,
//! `sub`) to a local account, and the sign-ins sent to a provider that have not come back yet.
//!
//! [`FederationStore`] is a narrow trait that [`Store`](super::Store) extends. Its SQL is written once in
//! [`federation_store!`] and instantiated by each backend next to `sql_store!` (whose user mapping it reuses).
//! `state` and `nonce` appear only as SHA-256 hashes; the PKCE verifier is kept as it is (the code exchange sends
//! it), for at most the ten minutes a pending sign-in lives, and is deleted when the browser comes back.

use async_trait::async_trait;

use super::{Result, User};

/// A sign-in sent to an upstream provider, waiting for the browser to come back.
#[derive(Clone)]
pub struct PendingSignIn {
    /// SHA-256 (hex) of the `state` parameter.
    pub state_hash: String,
    pub realm: String,
    pub alias: String,
    /// SHA-256 (hex) of the `nonce` the ID token must carry.
    pub nonce_hash: String,
    /// The PKCE `code_verifier` (a secret: never logged).
    pub code_verifier: String,
    /// SHA-256 (hex) of the page-session cookie of the browser that started the sign-in.
    pub browser_hash: String,
    /// Where the browser goes once signed in (a path of the realm).
    pub return_to: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl std::fmt::Debug for PendingSignIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingSignIn")
            .field("realm", &self.realm)
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait FederationStore: Send + Sync + 'static {
    async fn insert_pending_sign_in(&self, pending: &PendingSignIn) -> Result<()>;
    /// Takes (deletes and returns) the pending sign-in with this state hash: a state is used at most once, even
    /// by two requests racing on two replicas.
    async fn take_pending_sign_in(&self, state_hash: &str) -> Result<Option<PendingSignIn>>;
    /// The local account linked to an upstream identity.
    async fn linked_user(&self, realm: &str, alias: &str, subject: &str) -> Result<Option<User>>;
    /// Creates `user` linked to (alias, subject), in one transaction. A username taken meanwhile, or a link
    /// another request created first, is a [`StoreError::Conflict`](super::StoreError::Conflict) writing nothing.
    async fn create_linked_user(&self, user: &User, alias: &str, subject: &str) -> Result<()>;
}

/// Implements [`FederationStore`] for `$store` over database `$db` (invoked next to `sql_store!`).
macro_rules! federation_store {
    ($store:ident, $row:ty, $db:ty) => {
        fn pending_from_row(r: &$row) -> $crate::store::PendingSignIn {
            $crate::store::PendingSignIn {
                state_hash: r.get("state_hash"),
                realm: r.get("realm"),
                alias: r.get("alias"),
                nonce_hash: r.get("nonce_hash"),
                code_verifier: r.get("code_verifier"),
                browser_hash: r.get("browser_hash"),
                return_to: r.get("return_to"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
            }
        }

        #[async_trait]
        impl $crate::store::FederationStore for $store {
            async fn insert_pending_sign_in(&self, p: &$crate::store::PendingSignIn) -> Result<()> {
                sqlx::query(
                    "INSERT INTO federated_sign_ins (state_hash, realm, alias, nonce_hash, code_verifier, \
                     browser_hash, return_to, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&p.state_hash)
                .bind(&p.realm)
                .bind(&p.alias)
                .bind(&p.nonce_hash)
                .bind(&p.code_verifier)
                .bind(&p.browser_hash)
                .bind(&p.return_to)
                .bind(p.created_at)
                .bind(p.expires_at)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
                Ok(())
            }

            async fn take_pending_sign_in(
                &self,
                state_hash: &str,
            ) -> Result<Option<$crate::store::PendingSignIn>> {
                let row = sqlx::query("DELETE FROM federated_sign_ins WHERE state_hash = $1 RETURNING *")
                    .bind(state_hash)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(db_err)?;
                Ok(row.as_ref().map(pending_from_row))
            }

            async fn linked_user(&self, realm: &str, alias: &str, subject: &str) -> Result<Option<User>> {
                let row = sqlx::query(
                    "SELECT u.* FROM federated_links l JOIN users u ON u.id = l.user_id AND u.realm = l.realm \
                     WHERE l.realm = $1 AND l.alias = $2 AND l.subject = $3",
                )
                .bind(realm)
                .bind(alias)
                .bind(subject)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                row.as_ref().map(user_from_row).transpose()
            }

            async fn create_linked_user(&self, u: &User, alias: &str, subject: &str) -> Result<()> {
                let mut tx = self.pool.begin().await.map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO federated_links (realm, alias, subject, user_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&u.realm)
                .bind(alias)
                .bind(subject)
                .bind(&u.id)
                .bind(u.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                sqlx::query(
                    "INSERT INTO users (id, realm, username, email, name, password_hash, roles, user_type, enabled, created_at) \
                     VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $8, $9)",
                )
                .bind(&u.id)
                .bind(&u.realm)
                .bind(&u.username)
                .bind(&u.email)
                .bind(&u.name)
                .bind(json_list(&u.roles))
                .bind(u.user_type.as_str())
                .bind(u.enabled)
                .bind(u.created_at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                tx.commit().await.map_err(db_err)?;
                Ok(())
            }
        }
    };
}

pub(crate) use federation_store;
