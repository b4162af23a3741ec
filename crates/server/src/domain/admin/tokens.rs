//! API tokens through the admin API and the portal: create (personal or scoped), list, revoke, inspect.

use super::*;

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
pub(super) fn lifespan_secs(realm: &Realm, days: Option<u32>, personal: bool) -> Result<i64> {
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

/// Which API tokens [`list_tokens`] shows: of one user (id or username; admins), of one kind, and the page —
/// `first`/`max` (offset, the admin API) or `after` (the `created_at` and id of the last token of the previous
/// page: keyset, as fast at the 100,000th token as at the first).
#[derive(Clone, Debug, Default)]
pub struct TokenFilter {
    pub user: Option<String>,
    pub kind: Option<TokenKind>,
    pub after: Option<(i64, String)>,
    pub first: Option<i64>,
    pub max: Option<i64>,
}

/// Admins see every token of the realm (or of `filter.user`); everyone else only tokens they own. Newest first.
pub async fn list_tokens(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    filter: TokenFilter,
) -> Result<Vec<TokenRepresentation>> {
    let (first, max) = page(filter.first, filter.max)?;
    let user_filter = if caller.is_admin() {
        match filter.user.as_deref() {
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
    app.usage.flush(&app.store).await?;
    let tokens = app
        .store
        .list_api_tokens(&TokenQuery {
            realm: realm.name.clone(),
            user_id: user_filter,
            kind: filter.kind,
            after: filter.after,
            first,
            max,
        })
        .await?;
    let out = tokens
        .into_iter()
        .map(|(t, username)| represent_token(t, username, now))
        .collect();
    Ok(out)
}

fn represent_token(t: ApiToken, username: Option<String>, now: i64) -> TokenRepresentation {
    TokenRepresentation {
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
    }
}

/// One API token of the realm by id (never its secret), with its user's name. Admins only.
pub async fn get_token(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    token_id: &str,
) -> Result<TokenRepresentation> {
    require_admin(app, realm, caller, "token.read").await?;
    app.usage.flush(&app.store).await?;
    let Some(token) = app.store.api_token(&realm.name, token_id).await? else {
        return Err(Error::NotFound(format!(
            "no token `{token_id}` in realm `{}`",
            realm.name
        )));
    };
    let username = app
        .store
        .user(&realm.name, &token.user_id)
        .await?
        .map(|u| u.username);
    Ok(represent_token(token, username, app.now()))
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
