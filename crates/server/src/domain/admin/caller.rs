//! Who is calling the admin API ([`Caller`]) and the rule that makes them an administrator: the realm role
//! `admin` **and** the scope `admin` in the credential (issue 11, item 4). An access token has `admin` only when
//! its client may ask for it (`scopes = ["admin"]`, as the bootstrap `keyport-cli` has) and the person consented;
//! a personal API token has it when its user's roles do through the realm's `role_scopes`; a scoped API token
//! never is an administrator.

use keyport_proto::ErrorCode;
use keyport_proto::oauth::AccessTokenClaims;

use super::super::audit::{self, Entry};
use super::super::inspect::active_access_token;
use super::super::{Error, Result, api_tokens, oauth, scope};
use super::ADMIN_ROLE;
use crate::config::ADMIN_SCOPE;
use crate::setup::MASTER;
use crate::state::{AppState, Realm};
use crate::store::UserType;

/// How the caller proved who they are.
#[derive(Clone, Debug)]
pub enum Credential {
    ApiToken {
        token_id: String,
        unscoped: bool,
        /// What the token carries now: its own scopes, or (personal) what its user's roles allow.
        scopes: Vec<String>,
        /// When the token expires: tokens it creates expire no later.
        expires_at: i64,
    },
    AccessToken {
        /// The token's `scope` claim.
        scopes: Vec<String>,
    },
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
            Credential::AccessToken { .. } => None,
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

    /// The `admin` role and the `admin` scope, in a credential with its user's full rights.
    pub fn is_admin(&self) -> bool {
        self.full_rights()
            && self.roles.iter().any(|r| r == ADMIN_ROLE)
            && self.has_scope(ADMIN_SCOPE)
    }

    pub(super) fn has_scope(&self, scope: &str) -> bool {
        match &self.credential {
            Credential::ApiToken { scopes, .. } | Credential::AccessToken { scopes } => {
                scopes.iter().any(|s| s == scope)
            }
        }
    }

    /// Whether this caller may act on `realm` at all: a caller of the realm itself, or an administrator of
    /// `master` (who administers every realm). The admin API checks this when it authenticates; the portal,
    /// whose caller comes from a page session of one realm, checks it before acting on another.
    pub fn may_act_on(&self, realm: &Realm) -> bool {
        self.realm == realm.name || (self.realm == MASTER && self.is_admin())
    }

    /// An audit entry with this caller as the actor.
    pub(super) fn entry(&self, realm: &str, action: &str) -> Entry {
        Entry::new(realm, action)
            .actor(&self.user_id)
            .maybe_token(self.token_id())
    }

    /// Who, for log lines: the email when there is one, else the username.
    pub(super) fn display(&self) -> &str {
        self.email.as_deref().unwrap_or(&self.username)
    }
}

/// Authenticates the bearer credential of an admin request to `realm`: an API token of this realm (or of
/// `master`) or an access token issued by this realm (or by `master`) that carries the `admin` scope (without it
/// the admin API is closed to the token: 403). `invalid_token` otherwise. `from` is the client address
/// (`client_ip::rate_key`): failed API tokens are counted by it.
pub async fn authenticate(
    app: &AppState,
    realm: &Realm,
    bearer: Option<&str>,
    from: &str,
) -> Result<Caller> {
    let token = bearer.filter(|t| !t.is_empty()).ok_or_else(|| {
        oauth(
            ErrorCode::InvalidToken,
            "send an API token or an access token as `Authorization: Bearer`",
        )
    })?;
    if api_tokens::is_api_token(token) {
        let realms = [realm.name.as_str(), MASTER];
        // A token that fails is counted in memory, not audited one row per try (issue 11, item 3).
        let a = api_tokens::authenticate_presented(app, &realm.name, &realms, token, from).await?;
        // The admin action's own audit entry names the token; this moves its `last_used_at`.
        app.usage.touch(&a.token.id, app.now());
        if a.token.realm != realm.name && !a.user.roles.iter().any(|r| r == ADMIN_ROLE) {
            return Err(Error::Forbidden(
                "only administrators of realm master may act on other realms".into(),
            ));
        }
        let token_realm = app.realm(&a.token.realm).unwrap_or(realm);
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
                scopes: api_tokens::effective_scopes(token_realm, &a.token, &a.user),
                expires_at: a.token.expires_at,
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
            .filter(|c| scope::contains(&c.scope, ADMIN_SCOPE))
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
    let caller = Caller {
        realm: token_realm,
        user_id: claims.sub,
        username: claims.preferred_username,
        email: claims.email,
        roles,
        user_type,
        credential: Credential::AccessToken {
            scopes: claims
                .scope
                .split_ascii_whitespace()
                .map(str::to_owned)
                .collect(),
        },
    };
    if !caller.has_scope(ADMIN_SCOPE) {
        // A token a client got for its own use (a notebook, an SDK, a phished device code) cannot reach the admin
        // API, not even to mint a personal token that would carry the user's administrator rights.
        return deny(
            app,
            realm,
            &caller,
            "admin_api",
            "the access token lacks the `admin` scope: sign in with a client that may ask for it \
             (e.g. `keyport login --scope \"openid admin\"` with keyport-cli)",
        )
        .await;
    }
    Ok(caller)
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
    let why = if caller.full_rights() && caller.roles.iter().any(|r| r == ADMIN_ROLE) {
        "administrator rights need the `admin` scope in the token"
    } else {
        "administrator rights are required"
    };
    deny(app, realm, caller, action, why).await
}

pub(super) async fn deny<T>(
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
