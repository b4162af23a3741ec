//! The admin API's logic: who is calling ([`Caller`], in `caller.rs`), what they may do, and the operations on
//! users, API tokens and the audit log. Knows nothing of HTTP.
//!
//! Authorisation:
//! - an **admin** is the caller of a personal (unscoped) API token, or of an access token (JWT), whose user has
//!   the realm role `admin` and whose credential carries the scope `admin` (a JWT: its client listed `admin`
//!   and it was asked for; a personal token: through the realm's `role_scopes`); admins of realm `master`
//!   administer every realm;
//! - an access token without the `admin` scope cannot use the admin API at all;
//! - any person signed in (access token with `admin`) or holding a personal token may create, list and revoke
//!   their **own** personal tokens; creating tokens with an API token needs its `create_token` scope, and the
//!   new token expires no later than the one that made it;
//! - a scoped token lists only scopes its creator's roles allow;
//! - a **scoped** token may only revoke tokens its user created or owns, and only with `revoke_user_token`;
//!   `token_info` is open to admins and to the owner of the inspected token.
//!
//! Every decision, allowed or denied, is written to the audit log.

use keyport_proto::admin::{
    CreateToken, CreateUser, CreatedToken, TokenRepresentation, UserRepresentation,
};
use keyport_proto::{ErrorCode, Secret};

use super::api_tokens;
use super::audit;
use super::{Error, Result, invalid_request, oauth, scope};
use crate::config::CREATE_TOKEN_SCOPE;
use crate::crypto::{hash_password, random_from_alphabet, random_id};
use crate::state::{AppState, Realm};
use crate::store::{ApiToken, AuditQuery, StoreError, User, UserType};

mod caller;
mod roles_clients;
#[cfg(test)]
mod tests;

pub use caller::*;
pub use roles_clients::*;

/// The role that makes a user an administrator of their realm.
pub const ADMIN_ROLE: &str = "admin";
/// The scope that lets a scoped token revoke tokens.
pub const REVOKE_SCOPE: &str = "revoke_user_token";
/// Largest page of any list.
pub const MAX_PAGE: i64 = 1000;
/// Page size when `max` is not given.
pub const DEFAULT_PAGE: i64 = 100;

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

/// The lifespan asked for, within the realm's maximum for personal or scoped tokens.
fn lifespan_secs(realm: &Realm, days: Option<u32>, personal: bool) -> Result<i64> {
    let c = &realm.config;
    let max = if personal {
        c.personal_token_max_lifespan
    } else {
        c.api_token_max_lifespan
    };
    let max_days = max.as_secs() / 86400;
    match days {
        None => Ok(c.api_token_default_lifespan.min(max).as_secs() as i64),
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
    let lifespan = lifespan_secs(realm, req.lifespan_days, req.user_id.is_none())?;
    if let Credential::ApiToken { .. } = caller.credential
        && caller.full_rights()
        && !caller.has_scope(CREATE_TOKEN_SCOPE)
    {
        return deny(
            app,
            realm,
            caller,
            "token.create",
            "creating tokens with an API token needs its `create_token` scope",
        )
        .await;
    }
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
            let creators = scope::for_roles(realm, &caller.roles);
            if scopes.iter().any(|s| !creators.contains(s)) {
                return deny(
                    app,
                    realm,
                    caller,
                    "token.create",
                    "a scoped token may carry only scopes its creator's roles allow",
                )
                .await;
            }
            (find_user(app, realm, target).await?, scopes, false)
        }
    };
    let (secret, hash) = api_tokens::generate();
    let now = app.now();
    // A token made with a token never outlives it, so a leaked token cannot renew itself.
    let expires_at = match caller.credential {
        Credential::ApiToken { expires_at, .. } => expires_at.min(now + lifespan),
        Credential::AccessToken { .. } => now + lifespan,
    };
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
        expires_at,
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
