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
use crate::store::{
    ApiToken, AuditQuery, StoreError, TokenKind, TokenQuery, User, UserQuery, UserType,
};

mod caller;
mod roles_clients;
#[cfg(test)]
mod tests;
mod tokens;

pub use caller::*;
pub use roles_clients::*;
pub use tokens::*;

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

/// Which users [`list_users`] shows: a part of the username or email (`search`, ignoring case), a kind, and
/// the page — `first`/`max` (offset, the admin API) or `after` (the last username of the previous page).
#[derive(Clone, Debug, Default)]
pub struct UserFilter {
    pub search: Option<String>,
    pub user_type: Option<UserType>,
    pub after: Option<String>,
    pub first: Option<i64>,
    pub max: Option<i64>,
}

pub async fn list_users(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    filter: UserFilter,
) -> Result<Vec<UserRepresentation>> {
    require_admin(app, realm, caller, "user.list").await?;
    let (first, max) = page(filter.first, filter.max)?;
    if filter
        .search
        .as_ref()
        .is_some_and(|s| s.chars().count() > 100)
    {
        return Err(invalid_request("`search` is at most 100 characters"));
    }
    Ok(app
        .store
        .search_users(&UserQuery {
            realm: realm.name.clone(),
            search: filter.search,
            user_type: filter.user_type,
            after: filter.after,
            first,
            max,
        })
        .await?
        .iter()
        .map(represent_user)
        .collect())
}

/// The usernames of those of `ids` that are users of the realm (for lists that hold user ids, such as the
/// audit log; a deleted user's id has none). Admins only.
pub async fn usernames(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    require_admin(app, realm, caller, "user.list").await?;
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    ids.truncate(MAX_PAGE as usize);
    Ok(app
        .store
        .usernames(&realm.name, &ids)
        .await?
        .into_iter()
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

/// The audit log of the realm, newest first. Admins only.
pub async fn audit_log(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    mut query: AuditQuery,
) -> Result<Vec<keyport_proto::admin::AuditEntry>> {
    require_admin(app, realm, caller, "audit.read").await?;
    query.realm = realm.name.clone();
    // A username is accepted for the actor too; an id of a deleted user is kept as it is.
    if let Some(actor) = &query.actor_user_id
        && app.store.user(&realm.name, actor).await?.is_none()
        && let Some(u) = app.store.user_by_username(&realm.name, actor).await?
    {
        query.actor_user_id = Some(u.id);
    }
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since > until
    {
        return Err(invalid_request("`since` is after `until`"));
    }
    audit::list(app, &query).await
}
