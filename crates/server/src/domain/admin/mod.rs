//! The admin API's logic: who is calling ([`Caller`]), what they may do, and the operations on users, API
//! tokens and the audit log. Knows nothing of HTTP.
//!
//! Authorisation:
//! - an **admin** is the caller of an unscoped (personal) API token, or of an access token (JWT), whose user has
//!   the realm role `admin`; admins of realm `master` administer every realm;
//! - any person signed in (access token) or holding an unscoped token may create, list and revoke their **own**
//!   personal tokens;
//! - a **scoped** token may only revoke tokens its user created or owns, and only with `revoke_user_token`;
//!   `token_info` is open to admins and to the owner of the inspected token.
//!
//! Every decision, allowed or denied, is written to the audit log.

use keyport_proto::admin::{
    CreateToken, CreateUser, CreatedToken, TokenRepresentation, UserRepresentation,
};
use keyport_proto::oauth::AccessTokenClaims;
use keyport_proto::{ErrorCode, Secret};

use super::api_tokens;
use super::audit::{self, Entry};
use super::inspect::active_access_token;
use super::{Error, Result, invalid_request, oauth};
use crate::crypto::{hash_password, random_from_alphabet, random_id};
use crate::setup::MASTER;
use crate::state::{AppState, Realm};
use crate::store::{ApiToken, AuditQuery, StoreError, User, UserType};

mod roles_clients;
#[cfg(test)]
mod tests;

pub use roles_clients::*;

/// The role that makes a user an administrator of their realm.
pub const ADMIN_ROLE: &str = "admin";
/// The scope that lets a scoped token revoke tokens.
pub const REVOKE_SCOPE: &str = "revoke_user_token";
/// Largest page of any list.
pub const MAX_PAGE: i64 = 1000;
/// Page size when `max` is not given.
pub const DEFAULT_PAGE: i64 = 100;

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Credential {
    ApiToken {
        token_id: String,
        unscoped: bool,
        scopes: Vec<String>,
    },
    AccessToken,
}

/// The authenticated caller of an admin request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The realm the credential belongs to (the path's realm, or `master`).
    pub realm: String,
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    pub roles: Vec<String>,
    /// `None` for a client's service account (client credentials), which is not a user.
    pub user_type: Option<UserType>,
    pub credential: Credential,
}

impl Caller {
    pub fn token_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::ApiToken { token_id, .. } => Some(token_id),
            Credential::AccessToken => None,
        }
    }

    /// Carries the full rights of its user (an access token or an unscoped API token).
    pub fn full_rights(&self) -> bool {
        !matches!(
            self.credential,
            Credential::ApiToken {
                unscoped: false,
                ..
            }
        )
    }

    pub fn is_admin(&self) -> bool {
        self.full_rights() && self.roles.iter().any(|r| r == ADMIN_ROLE)
    }

    fn has_scope(&self, scope: &str) -> bool {
        match &self.credential {
            Credential::ApiToken {
                unscoped: false,
                scopes,
                ..
            } => scopes.iter().any(|s| s == scope),
            _ => true,
        }
    }

    /// An audit entry with this caller as the actor.
    fn entry(&self, realm: &str, action: &str) -> Entry {
        Entry::new(realm, action)
            .actor(&self.user_id)
            .maybe_token(self.token_id())
    }

    /// Who, for log lines: the email when there is one, else the username.
    fn display(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.username)
    }
}

/// Authenticates the bearer credential of an admin request to `realm`: an API token of this realm (or of
/// `master`) or an access token issued by this realm (or by `master`). `invalid_token` otherwise.
pub async fn authenticate(app: &AppState, realm: &Realm, bearer: Option<&str>) -> Result<Caller> {
    let token = bearer.filter(|t| !t.is_empty()).ok_or_else(|| {
        oauth(
            ErrorCode::InvalidToken,
            "send an API token or an access token as `Authorization: Bearer`",
        )
    })?;
    if api_tokens::is_api_token(token) {
        let realms = [realm.name.as_str(), MASTER];
        let a = match api_tokens::authenticate(app, &realms, token).await {
            Ok(a) => a,
            Err(e) => {
                if matches!(e, Error::OAuth { .. }) && api_tokens::check_format(token).is_ok() {
                    // A well-formed token that is unknown, expired or revoked: worth an audit entry (ids only).
                    audit::record(
                        app,
                        Entry::new(&realm.name, "token.use")
                            .outcome("failure")
                            .detail("unknown, expired or revoked API token"),
                    )
                    .await?;
                }
                return Err(e);
            }
        };
        // The admin action's own audit entry names the token; this moves its `last_used_at`.
        app.usage.touch(&a.token.id, app.now());
        if a.token.realm != realm.name && !a.user.roles.iter().any(|r| r == ADMIN_ROLE) {
            return Err(Error::Forbidden(
                "only administrators of realm master may act on other realms".into(),
            ));
        }
        return Ok(Caller {
            realm: a.token.realm.clone(),
            user_id: a.user.id.clone(),
            username: a.user.username.clone(),
            email: a.user.email.clone(),
            roles: a.user.roles.clone(),
            user_type: Some(a.user.user_type),
            credential: Credential::ApiToken {
                token_id: a.token.id.clone(),
                unscoped: a.token.unscoped,
                scopes: a.token.scopes.clone(),
            },
        });
    }
    let mut claims: Option<(String, AccessTokenClaims)> = active_access_token(app, realm, token)
        .await?
        .map(|c| (realm.name.clone(), c));
    if claims.is_none()
        && realm.name != MASTER
        && let Some(master) = app.realm(MASTER)
    {
        claims = active_access_token(app, master, token)
            .await?
            .filter(|c| c.realm_access.roles.iter().any(|r| r == ADMIN_ROLE))
            .map(|c| (MASTER.to_owned(), c));
    }
    let (token_realm, claims) = claims.ok_or_else(|| {
        oauth(
            ErrorCode::InvalidToken,
            "the access token is invalid, expired or revoked",
        )
    })?;
    // The user's current roles and type count, not the ones frozen in the token (a deleted user is gone).
    let user = app.store.user(&token_realm, &claims.sub).await?;
    let (roles, user_type) = match &user {
        Some(u) if u.enabled => (u.roles.clone(), Some(u.user_type)),
        Some(_) => {
            return Err(oauth(ErrorCode::InvalidToken, "the user is disabled"));
        }
        None if claims.sid.is_some() => {
            return Err(oauth(ErrorCode::InvalidToken, "the user no longer exists"));
        }
        None => (claims.realm_access.roles.clone(), None),
    };
    Ok(Caller {
        realm: token_realm,
        user_id: claims.sub,
        username: claims.preferred_username,
        email: claims.email,
        roles,
        user_type,
        credential: Credential::AccessToken,
    })
}

/// Refuses (and audits) unless the caller is an admin.
pub async fn require_admin(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    action: &str,
) -> Result<()> {
    if caller.is_admin() {
        return Ok(());
    }
    deny(
        app,
        realm,
        caller,
        action,
        "administrator rights are required",
    )
    .await
}

async fn deny<T>(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    action: &str,
    why: &str,
) -> Result<T> {
    audit::record(
        app,
        caller
            .entry(&realm.name, action)
            .outcome("denied")
            .detail(why),
    )
    .await?;
    Err(Error::Forbidden(format!("{why} ({action})")))
}

/// Clamps Keycloak-style `first`/`max` pagination.
pub fn page(first: Option<i64>, max: Option<i64>) -> Result<(i64, i64)> {
    let first = first.unwrap_or(0);
    let max = max.unwrap_or(DEFAULT_PAGE);
    if first < 0 {
        return Err(invalid_request("`first` must be 0 or more"));
    }
    if !(1..=MAX_PAGE).contains(&max) {
        return Err(invalid_request(format!(
            "`max` must be between 1 and {MAX_PAGE}"
        )));
    }
    Ok((first, max))
}

fn check_username(name: &str) -> Result<()> {
    crate::config::check_name("username", name).map_err(|_| {
        invalid_request(format!(
            "invalid username `{}`: use 1-64 letters, digits, `-`, `_`, `.` or `@`",
            name.chars().take(80).collect::<String>()
        ))
    })
}

fn represent_user(u: &User) -> UserRepresentation {
    UserRepresentation {
        id: u.id.clone(),
        username: u.username.clone(),
        email: u.email.clone(),
        user_type: u.user_type.as_str().into(),
        roles: u.roles.clone(),
        enabled: u.enabled,
        created_at: u.created_at,
    }
}

/// A user of `realm` by id or, failing that, by username.
async fn find_user(app: &AppState, realm: &Realm, id_or_name: &str) -> Result<User> {
    if let Some(u) = app.store.user(&realm.name, id_or_name).await? {
        return Ok(u);
    }
    app.store
        .user_by_username(&realm.name, id_or_name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no user `{id_or_name}` in realm `{}`", realm.name)))
}

/// `create_user`: a machine user (generated email, no password) or a person. Admins only.
pub async fn create_user(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    req: CreateUser,
) -> Result<UserRepresentation> {
    require_admin(app, realm, caller, "user.create").await?;
    check_username(&req.username)?;
    for role in &req.roles {
        crate::config::check_name("role", role)
            .map_err(|_| invalid_request(format!("invalid role name `{role}`")))?;
    }
    if req.machine && req.password.is_some() {
        return Err(invalid_request(
            "machine users have no password; they use API tokens",
        ));
    }
    let email = match (req.email, req.machine) {
        (Some(e), _) => {
            if e.len() > 254 || !e.contains('@') || e.chars().any(char::is_whitespace) {
                return Err(invalid_request(format!("`{e}` is not an email address")));
            }
            Some(e)
        }
        (None, true) => {
            let domain = realm
                .config
                .machine_user_email_domain
                .clone()
                .unwrap_or_else(|| format!("{}.keyport", realm.name));
            Some(format!(
                "{}@{domain}",
                random_from_alphabet(b"0123456789abcdef", 10)
            ))
        }
        (None, false) => None,
    };
    let password_hash = match req.password {
        Some(p) if p.expose().len() < 8 => {
            return Err(invalid_request(
                "the password must have at least 8 characters",
            ));
        }
        Some(p) => Some(
            tokio::task::spawn_blocking(move || hash_password(p.expose()))
                .await
                .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?,
        ),
        None => None,
    };
    let user = User {
        id: random_id(),
        realm: realm.name.clone(),
        username: req.username,
        email,
        name: None,
        password_hash,
        roles: req.roles,
        user_type: if req.machine {
            UserType::Machine
        } else {
            UserType::Person
        },
        enabled: true,
        created_at: app.now(),
    };
    match app.store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Error::Conflict(format!(
                "a user named `{}` exists already in realm `{}`",
                user.username, realm.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        app,
        caller.entry(&realm.name, "user.create").target(&user.id),
    )
    .await?;
    if user.user_type == UserType::Machine {
        tracing::info!(
            realm = %realm.name,
            user_id = %user.id,
            "Machine user {}({}) created by {}",
            user.username,
            user.email.as_deref().unwrap_or(&user.id),
            caller.display()
        );
        tracing::info!(realm = %realm.name, user_id = %user.id, "User activated.");
    } else {
        tracing::info!(realm = %realm.name, user_id = %user.id, "User {} created by {}", user.username, caller.display());
    }
    Ok(represent_user(&user))
}

pub async fn get_user(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    id_or_name: &str,
) -> Result<UserRepresentation> {
    require_admin(app, realm, caller, "user.read").await?;
    Ok(represent_user(&find_user(app, realm, id_or_name).await?))
}

pub async fn list_users(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    first: Option<i64>,
    max: Option<i64>,
) -> Result<Vec<UserRepresentation>> {
    require_admin(app, realm, caller, "user.list").await?;
    let (first, max) = page(first, max)?;
    Ok(app
        .store
        .list_users(&realm.name, first, max)
        .await?
        .iter()
        .map(represent_user)
        .collect())
}

/// `delete_user`: deletes the user; every API token and login session of theirs is revoked in the same
/// transaction.
pub async fn delete_user(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    id_or_name: &str,
) -> Result<()> {
    require_admin(app, realm, caller, "user.delete").await?;
    let user = find_user(app, realm, id_or_name).await?;
    if user.id == caller.user_id {
        return Err(invalid_request("you cannot delete yourself"));
    }
    app.store
        .delete_user(&realm.name, &user.id, app.now())
        .await?;
    app.changed().await;
    audit::record(
        app,
        caller.entry(&realm.name, "user.delete").target(&user.id),
    )
    .await?;
    tracing::info!(realm = %realm.name, user_id = %user.id, "User {} deleted by {}", user.username, caller.display());
    Ok(())
}

fn check_token_name(name: &Option<String>) -> Result<()> {
    if let Some(n) = name
        && (n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control))
    {
        return Err(invalid_request(
            "the token name must be 1-100 characters without control characters",
        ));
    }
    Ok(())
}

fn lifespan_secs(realm: &Realm, days: Option<u32>) -> Result<i64> {
    let max_days = realm.config.api_token_max_lifespan.as_secs() / 86400;
    match days {
        None => Ok(realm.config.api_token_default_lifespan.as_secs() as i64),
        Some(0) => Err(invalid_request("lifespan_days must be at least 1")),
        Some(d) if d as u64 > max_days => Err(invalid_request(format!(
            "lifespan_days {d} is above this realm's maximum of {max_days} days"
        ))),
        Some(d) => Ok(d as i64 * 86400),
    }
}

/// `create_token`: a personal (unscoped) token of the caller when `user_id` is absent, else a scoped token for
/// that user (admins only). The answer is the only place the token ever appears.
pub async fn create_token(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    req: CreateToken,
) -> Result<CreatedToken> {
    check_token_name(&req.name)?;
    let lifespan = lifespan_secs(realm, req.lifespan_days)?;
    let (user, scopes, unscoped) = match &req.user_id {
        None => {
            if req.scopes.is_some() {
                return Err(invalid_request(
                    "a scoped token needs `user_id`; leave out `scopes` for a personal token",
                ));
            }
            if !caller.full_rights() {
                return deny(
                    app,
                    realm,
                    caller,
                    "token.create",
                    "a scoped token cannot create tokens",
                )
                .await;
            }
            let user = match caller.user_type {
                Some(_) if caller.realm == realm.name => {
                    app.store.user(&realm.name, &caller.user_id).await?
                }
                _ => None,
            };
            let Some(user) = user else {
                return deny(
                    app,
                    realm,
                    caller,
                    "token.create",
                    "personal tokens are for users of this realm",
                )
                .await;
            };
            (user, Vec::new(), true)
        }
        Some(target) => {
            require_admin(app, realm, caller, "token.create").await?;
            let scopes = req.scopes.clone().unwrap_or_default();
            if scopes.is_empty() {
                return Err(oauth(
                    ErrorCode::InvalidScope,
                    "a scoped token needs at least one scope (see GET scopes)",
                ));
            }
            let unknown: Vec<&str> = scopes
                .iter()
                .filter(|s| !realm.config.api_token_scopes.iter().any(|c| &c.name == *s))
                .map(String::as_str)
                .collect();
            if !unknown.is_empty() {
                return Err(oauth(
                    ErrorCode::InvalidScope,
                    format!(
                        "unknown scope(s) {}; this realm knows: {}",
                        unknown.join(", "),
                        realm
                            .config
                            .api_token_scopes
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            let mut scopes = scopes;
            scopes.sort();
            scopes.dedup();
            (find_user(app, realm, target).await?, scopes, false)
        }
    };
    let (secret, hash) = api_tokens::generate();
    let now = app.now();
    let row = ApiToken {
        id: uuid::Uuid::new_v4().simple().to_string(),
        realm: realm.name.clone(),
        token_hash: hash,
        user_id: user.id.clone(),
        name: req.name,
        scopes,
        unscoped,
        created_by: caller.user_id.clone(),
        created_at: now,
        expires_at: now + lifespan,
        last_used_at: None,
        revoked_at: None,
    };
    app.store.insert_api_token(&row).await?;
    audit::record(
        app,
        caller
            .entry(&realm.name, "token.create")
            .target(&row.id)
            .detail(if unscoped { "personal" } else { "scoped" }),
    )
    .await?;
    tracing::info!(realm = %realm.name, token_id = %row.id, user_id = %user.id, "API token created by {}", caller.display());
    Ok(CreatedToken {
        token: secret,
        token_id: row.id,
        user_id: user.id,
        username: user.username,
        email: user.email,
        scopes: row.scopes,
        unscoped,
        name: row.name,
        created_at: row.created_at,
        expires_at: row.expires_at,
    })
}

/// Admins see every token of the realm (or of `user_id`); everyone else only tokens they own.
pub async fn list_tokens(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    user_id: Option<&str>,
    first: Option<i64>,
    max: Option<i64>,
) -> Result<Vec<TokenRepresentation>> {
    let (first, max) = page(first, max)?;
    let filter = if caller.is_admin() {
        match user_id {
            Some(u) => Some(find_user(app, realm, u).await?.id),
            None => None,
        }
    } else if caller.realm == realm.name {
        Some(caller.user_id.clone())
    } else {
        return deny(
            app,
            realm,
            caller,
            "token.list",
            "administrator rights are required",
        )
        .await;
    };
    let now = app.now();
    // Uses waiting in memory are written first, so `last_used_at` is current.
    app.usage.flush(app.store.as_ref()).await?;
    let tokens = app
        .store
        .list_api_tokens(&realm.name, filter.as_deref(), first, max)
        .await?;
    let out = tokens
        .into_iter()
        .map(|(t, username)| TokenRepresentation {
            active: t.is_active(now),
            token_id: t.id,
            name: t.name,
            user_id: t.user_id,
            username: username.unwrap_or_default(),
            scopes: t.scopes,
            unscoped: t.unscoped,
            created_by: t.created_by,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
        })
        .collect();
    Ok(out)
}

/// `revoke_token(token_id)`. Admins revoke any token of the realm; people with full rights their own; a
/// scoped token with `revoke_user_token` only tokens its user created or owns. Revoking twice succeeds.
pub async fn revoke_token(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    token_id: &str,
) -> Result<()> {
    let token = app.store.api_token(&realm.name, token_id).await?;
    let mine = token.as_ref().is_some_and(|t| {
        caller.realm == realm.name
            && (t.created_by == caller.user_id || t.user_id == caller.user_id)
    });
    let allowed = caller.is_admin()
        || (caller.full_rights() && mine)
        || (caller.has_scope(REVOKE_SCOPE) && mine);
    if !allowed {
        if !caller.is_admin() && caller.full_rights() {
            // Do not tell a non-admin whether someone else's token id exists: an unknown id and another
            // user's token get the same answer (the attempt on an existing one is still audited).
            if token.is_some() {
                audit::record(
                    app,
                    caller
                        .entry(&realm.name, "token.revoke")
                        .outcome("denied")
                        .detail("you may revoke only tokens you created"),
                )
                .await?;
            }
            return Err(Error::NotFound(format!("no token `{token_id}`")));
        }
        let why = if caller.full_rights() || caller.has_scope(REVOKE_SCOPE) {
            "you may revoke only tokens you created"
        } else {
            "revoking tokens needs the revoke_user_token scope"
        };
        return deny(app, realm, caller, "token.revoke", why).await;
    }
    let Some(token) = token else {
        return Err(Error::NotFound(format!(
            "no token `{token_id}` in realm `{}`",
            realm.name
        )));
    };
    app.store
        .revoke_api_token(&realm.name, &token.id, app.now())
        .await?;
    app.changed().await;
    audit::record(
        app,
        caller.entry(&realm.name, "token.revoke").target(&token.id),
    )
    .await?;
    tracing::info!(realm = %realm.name, token_id = %token.id, "API token revoked by {}", caller.display());
    Ok(())
}

/// `token_info(token)`: admins may inspect any token of the realm, others only their own.
pub async fn token_info(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    token: &str,
) -> Result<keyport_proto::admin::TokenInfo> {
    let (info, row) = api_tokens::info(app, realm, token).await?;
    if let Some(row) = &row
        && !caller.is_admin()
        && !(caller.realm == realm.name
            && (row.user_id == caller.user_id || row.created_by == caller.user_id))
    {
        return deny(
            app,
            realm,
            caller,
            "token.info",
            "you may inspect only your own tokens",
        )
        .await;
    }
    let mut entry = caller.entry(&realm.name, "token.info");
    if let Some(row) = &row {
        entry = entry.target(&row.id);
    } else {
        entry = entry.detail("inactive token");
    }
    audit::record(app, entry).await?;
    Ok(info)
}

/// The audit log of the realm, newest first. Admins only.
pub async fn audit_log(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    mut query: AuditQuery,
) -> Result<Vec<keyport_proto::admin::AuditEntry>> {
    require_admin(app, realm, caller, "audit.read").await?;
    query.realm = realm.name.clone();
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since > until
    {
        return Err(invalid_request("`since` is after `until`"));
    }
    audit::list(app, &query).await
}
