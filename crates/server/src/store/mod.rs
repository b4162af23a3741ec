//! Storage: the only module with SQL. Domain code talks to the [`Store`] trait; each backend implements it.
//!
//! Everything a flow needs between two requests lives here, so replicas share no memory. Secrets appear only as
//! hashes (refresh tokens, device codes, client secrets, browser-session ids) or argon2id strings (passwords).

mod account;
mod browser;
mod cancel;
pub mod copy;
mod federation;
mod group_commit;
pub mod ops;
mod postgres;
mod queries;
mod rows;
mod sql;
mod sqlite;
mod sqlite_raw;
mod sqlite_usage;
mod tokens;

pub use account::{AccountStore, SessionSummary};
pub use browser::{AuthorizationCode, BrowserStore, Consent, LockoutRule};
pub use federation::{FederationStore, PendingSignIn};
pub use group_commit::RefreshQueues;
pub use ops::{OpsStore, PoolStats};
pub use postgres::{PgSettings, PgStore};
pub use queries::{AuditQuery, TokenKind, TokenQuery, UserQuery};
#[cfg(test)]
pub(crate) use sqlite::second_connection as second_sqlite_connection;
pub use sqlite::{FILE as SQLITE_FILE, SqliteStore};
pub use tokens::{ApiToken, AuditRecord, AuditRow, TokenStore};

use async_trait::async_trait;

use crate::config::{Grant, Rotation, SigningAlg};
use crate::keys::StoredKey;

#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (e.g. a user code collision).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// What a write that starts a login session did. The session is inserted only while its user exists, with the
/// user row held to the commit, so no active session outlives its user's deletion (a concurrent `delete_user`
/// either ends it or makes the insert write nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStart {
    /// The session (and its first refresh token) was written.
    Started,
    /// The grant or code had been used already (another request won); nothing was written.
    AlreadyUsed,
    /// The user was deleted after the caller read them; nothing was written.
    UserGone,
}

/// Maps a driver error: unique-constraint violations become [`StoreError::Conflict`] (the one place that does).
pub(crate) fn db_err(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(d) = &e
        && d.is_unique_violation()
    {
        return StoreError::Conflict(d.message().to_owned());
    }
    StoreError::Database(e.to_string())
}

pub(crate) fn json_list<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("lists serialise")
}

pub(crate) fn parse_list<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("list `{text}`: {e}")))
}

#[derive(Clone, Debug)]
pub struct Client {
    pub realm: String,
    pub client_id: String,
    /// SHA-256 (hex) of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    pub public: bool,
    pub grants: Vec<Grant>,
    pub roles: Vec<String>,
    pub rotation: Rotation,
    pub access_token_alg: Option<SigningAlg>,
    pub id_token_alg: Option<SigningAlg>,
    /// Realm scopes the client may ask for besides the standard ones.
    pub scopes: Vec<String>,
    /// Audiences of its access tokens besides `account`, and the `resource`s it may name.
    pub audiences: Vec<String>,
    /// Where the authorization endpoint may send the browser back to, and after logout.
    pub browser: ClientBrowser,
}

/// A client's browser settings (authorization code flow and RP-initiated logout).
#[derive(Clone, Debug, Default)]
pub struct ClientBrowser {
    /// Exact match, except that a loopback URI matches any port (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    /// A third-party client: the user is asked before it gets their data.
    pub consent: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserType {
    Person,
    Machine,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::Person => "person",
            UserType::Machine => "machine",
        }
    }
}

#[derive(Clone)]
pub struct User {
    pub id: String,
    pub realm: String,
    pub username: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// argon2id PHC string.
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub user_type: UserType,
    pub enabled: bool,
    pub created_at: i64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
            DeviceStatus::Redeemed => "redeemed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => DeviceStatus::Pending,
            "approved" => DeviceStatus::Approved,
            "denied" => DeviceStatus::Denied,
            "redeemed" => DeviceStatus::Redeemed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "device grant status `{other}`"
                )));
            }
        })
    }
}

#[derive(Clone, Debug)]
pub struct DeviceGrant {
    pub device_code_hash: String,
    /// Normalised (no dash, upper case).
    pub user_code: String,
    pub realm: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub interval_secs: i64,
    pub last_poll_at: Option<i64>,
    pub status: DeviceStatus,
    pub user_id: Option<String>,
}

/// A login session: one sign-in of a user through one client; its refresh tokens form one family.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: String,
    pub realm: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct RefreshToken {
    pub token_hash: String,
    pub session_id: String,
    pub realm: String,
    pub client_id: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// Set when the token was rotated (strict rotation); presenting it again is a replay.
    pub used_at: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct BrowserSession {
    pub id_hash: String,
    pub realm: String,
    pub user_id: Option<String>,
    /// When the user signed in (OpenID Connect `auth_time`); `None` while anonymous.
    pub auth_time: Option<i64>,
    /// How the user signed in: `pwd`, or `fed:{alias}` through an upstream identity provider.
    pub amr: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    /// The client address the user signed in from (`http::client_ip::rate_key`: IPv4, or the IPv6 /64).
    pub address: Option<String>,
}

/// What happened when a refresh token was exchanged for a new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rotated {
    /// The old token is now used and the new one stored.
    Done,
    /// The old token had been used already (a replay) or, on SQLite, was no longer stored (purged after the
    /// caller read it): the caller tells the two apart by reading the token again.
    AlreadyUsed,
}

/// How replicas tell each other that cached data changed (see [`crate::cache`]), and whether there are any. The
/// defaults suit a single-process store, except [`ChangeFeed::one_process`], which such a store must claim.
#[async_trait]
pub trait ChangeFeed {
    /// Tells the other replicas that clients, users or API tokens changed, so that they drop their caches
    /// ([`crate::cache`]). A single-process store has nobody to tell.
    async fn publish_change(&self) -> Result<()> {
        Ok(())
    }

    /// Calls `on_change` whenever another replica publishes a change, and whenever changes may have been missed
    /// (the listening connection dropped). Runs until its task is dropped; returns at once for a single-process
    /// store.
    async fn watch_changes(&self, on_change: Box<dyn Fn() + Send + Sync>) {
        let _ = on_change;
    }

    /// Whether one process serves the store (SQLite), so that nothing it writes is read by a replica of another
    /// keyport version. Data a previous version could not read (a refresh token stored under an ordered key,
    /// [`crate::crypto::refresh_token_key`]) is written only then: PostgreSQL replicas are upgraded one at a
    /// time, and an older one would refuse such a token or, asked to revoke it, do nothing (docs/operations.md).
    /// `false` unless a store says otherwise, the safe answer for a store replicas may share.
    fn one_process(&self) -> bool {
        false
    }
}

/// See [`Store::access_token_liveness`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Liveness {
    pub revoked: bool,
    /// The realm of the token's login session, when it has one and it has not ended.
    pub active_session_realm: Option<String>,
}

/// What the refresh grant reads: the token, its session, and the session's user (`None` once deleted).
#[derive(Clone, Debug)]
pub struct RefreshContext {
    pub token: RefreshToken,
    pub session: Session,
    pub user: Option<User>,
}

/// Every storage operation keyport needs. Implementations must make each method atomic.
#[async_trait]
pub trait Store:
    TokenStore
    + BrowserStore
    + FederationStore
    + AccountStore
    + ChangeFeed
    + OpsStore
    + Send
    + Sync
    + 'static
{
    /// Cheap round trip, for `/health/ready`.
    async fn ping(&self) -> Result<()>;

    async fn signing_keys(&self) -> Result<Vec<StoredKey>>;
    async fn insert_signing_key(&self, key: &StoredKey) -> Result<()>;
    async fn delete_signing_key(&self, kid: &str) -> Result<()>;
    /// One transaction: inserts `add`, rewrites the stored PEM of `replace` (same kid), deletes `remove`. Key
    /// rotation and encrypting the keys of an existing store are all-or-nothing.
    async fn change_signing_keys(
        &self,
        add: &[StoredKey],
        replace: &[StoredKey],
        remove: &[String],
    ) -> Result<()>;

    /// Inserts or replaces a client (declarative config).
    async fn upsert_client(&self, client: &Client) -> Result<()>;
    async fn client(&self, realm: &str, client_id: &str) -> Result<Option<Client>>;

    /// Inserts a user, or updates the one with the same realm and username (keeping its id). A `None`
    /// password hash keeps the stored one. Returns the stored user.
    async fn upsert_user(&self, user: &User) -> Result<User>;
    async fn user(&self, realm: &str, id: &str) -> Result<Option<User>>;
    async fn user_by_username(&self, realm: &str, username: &str) -> Result<Option<User>>;

    /// Fails with [`StoreError::Conflict`] when the user code is taken.
    async fn insert_device_grant(&self, grant: &DeviceGrant) -> Result<()>;
    async fn device_grant(&self, device_code_hash: &str) -> Result<Option<DeviceGrant>>;
    async fn device_grant_by_user_code(
        &self,
        realm: &str,
        user_code: &str,
    ) -> Result<Option<DeviceGrant>>;
    /// Records a poll and the (possibly increased) interval.
    async fn record_device_poll(
        &self,
        device_code_hash: &str,
        now: i64,
        interval_secs: i64,
    ) -> Result<()>;
    /// Approves or denies a pending, unexpired grant. Returns false when it was not pending any more.
    async fn decide_device_grant(
        &self,
        device_code_hash: &str,
        status: DeviceStatus,
        user_id: &str,
        now: i64,
    ) -> Result<bool>;
    /// Atomically marks an approved grant redeemed and creates the session and its first refresh token.
    /// Writes nothing when the grant was not in the approved state ([`SessionStart::AlreadyUsed`]) or its user
    /// was deleted meanwhile ([`SessionStart::UserGone`]).
    async fn redeem_device_grant(
        &self,
        device_code_hash: &str,
        session: &Session,
        refresh: &RefreshToken,
    ) -> Result<SessionStart>;

    /// Creates a session with its first refresh token, in one transaction; writes nothing and answers
    /// [`SessionStart::UserGone`] when the session's user was deleted after the caller read it.
    async fn create_session(
        &self,
        session: &Session,
        refresh: Option<&RefreshToken>,
    ) -> Result<SessionStart>;
    async fn session(&self, id: &str) -> Result<Option<Session>>;
    /// Ends a session; its refresh tokens stop working. Returns false if it had ended already.
    async fn end_session(&self, id: &str, now: i64) -> Result<bool>;

    async fn refresh_token(&self, token_hash: &str) -> Result<Option<RefreshToken>>;
    /// Refresh tokens with their sessions and the sessions' users, in one round trip (the refresh grant's
    /// read, grouped by [`RefreshQueues`]). One answer per hash, in order.
    async fn refresh_contexts(
        &self,
        token_hashes: &[String],
    ) -> Result<Vec<Option<RefreshContext>>>;
    /// Strict rotations, in one statement: each `(old_hash, new)` stores `new` as the one successor of
    /// `old_hash` and marks `old_hash` used (at `new.created_at`), atomically; a token that has a successor
    /// already (stored earlier, or earlier in this batch) gets `AlreadyUsed`, as does, on SQLite, a token that is
    /// no longer stored. One answer per row, in order.
    /// Called through [`RefreshQueues`], which groups concurrent rotations.
    async fn rotate_refresh_tokens(&self, batch: &[(String, RefreshToken)])
    -> Result<Vec<Rotated>>;
    /// Rotation off: moves the expiry of the session's refresh token (the one presented stays the one live
    /// token). False when it is unknown or was rotated.
    async fn extend_refresh_token(&self, token_hash: &str, expires_at: i64) -> Result<bool>;

    /// Marks an access token (by `jti`) revoked until it expires.
    async fn revoke_jti(&self, realm: &str, jti: &str, expires_at: i64) -> Result<()>;
    /// Whether an access token is still live, in one round trip: not revoked by `jti`, and (when it names a
    /// login session) that session not ended. Returns the session's realm when `sid` is given and active.
    async fn access_token_liveness(&self, jti: &str, sid: Option<&str>) -> Result<Liveness>;

    /// Counts failures of `key` since `since`, after recording one more at `now` when `record` is set.
    async fn failed_attempts(&self, key: &str, record: bool, now: i64, since: i64) -> Result<u64>;

    /// Counts one more request under `key` in the minute that starts at `window` and returns the count, in one
    /// atomic statement (one row per key and minute, whatever the number of requests): the ceilings replicas
    /// share (device authorizations per client, password attempts per address, user-code checks per realm).
    async fn count_request(&self, key: &str, window: i64) -> Result<u64>;

    /// Deletes expired rows (device grants, refresh tokens, revocations, browser sessions, attempts) and ended
    /// login sessions: ended ones, and those begun before `quiet_since` that have no unexpired, unused refresh
    /// token left (`quiet_since` is now minus the longest access-token lifetime, so that a session without a
    /// refresh token lives as long as its access token).
    async fn purge_expired(&self, now: i64, quiet_since: i64) -> Result<u64>;
}

#[cfg(test)]
mod tests {
    /// Both backends have the same migrations, by version number and name.
    #[test]
    fn migration_folders_match() {
        let list = |backend: &str| {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(backend);
            let mut names: Vec<String> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let (sqlite, postgres) = (list("sqlite"), list("postgres"));
        assert!(!sqlite.is_empty());
        assert_eq!(
            sqlite, postgres,
            "every migration needs its twin in the other backend"
        );
    }
}
