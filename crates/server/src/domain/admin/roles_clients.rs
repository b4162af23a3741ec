//! Realm roles and bot clients of the admin API.

use super::*;

fn check_roles(roles: &[String]) -> Result<()> {
    for role in roles {
        crate::config::check_name("role", role)
            .map_err(|_| invalid_request(format!("invalid role name `{role}`")))?;
    }
    Ok(())
}

/// Every realm role in use (by users and clients), sorted; `admin` always. Admins only.
pub async fn list_roles(app: &AppState, realm: &Realm, caller: &Caller) -> Result<Vec<String>> {
    require_admin(app, realm, caller, "role.list").await?;
    let mut roles: Vec<String> = app
        .store
        .role_lists(&realm.name)
        .await?
        .into_iter()
        .flatten()
        .chain([ADMIN_ROLE.to_owned()])
        .collect();
    roles.sort();
    roles.dedup();
    Ok(roles)
}

/// Replaces a user's realm roles. Admins only; an admin cannot take `admin` away from themself. Users declared
/// in the configuration file get the file's roles back at the next start.
pub async fn set_user_roles(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    id_or_name: &str,
    mut roles: Vec<String>,
) -> Result<UserRepresentation> {
    require_admin(app, realm, caller, "user.roles").await?;
    check_roles(&roles)?;
    roles.sort();
    roles.dedup();
    let mut user = find_user(app, realm, id_or_name).await?;
    if user.id == caller.user_id && !roles.iter().any(|r| r == ADMIN_ROLE) {
        return Err(invalid_request("you cannot remove your own admin role"));
    }
    app.store
        .set_user_roles(&realm.name, &user.id, &roles)
        .await?;
    app.changed().await;
    audit::record(
        app,
        caller
            .entry(&realm.name, "user.roles")
            .target(&user.id)
            .detail(&format!("roles: {}", roles.join(" "))),
    )
    .await?;
    user.roles = roles;
    Ok(represent_user(&user))
}

fn from_config(realm: &Realm, client_id: &str) -> bool {
    realm
        .config
        .clients
        .iter()
        .any(|c| c.client_id == client_id)
}

fn represent_client(
    realm: &Realm,
    c: &crate::store::Client,
) -> keyport_proto::admin::ClientRepresentation {
    keyport_proto::admin::ClientRepresentation {
        client_id: c.client_id.clone(),
        public: c.public,
        grants: c.grants.iter().map(|g| g.as_str().to_owned()).collect(),
        roles: c.roles.clone(),
        scopes: c.scopes.clone(),
        redirect_uris: c.browser.redirect_uris.clone(),
        from_config: from_config(realm, &c.client_id),
    }
}

/// Creates a confidential client (a bot) with a generated secret, shown once. Admins only.
pub async fn create_client(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    req: keyport_proto::admin::CreateClient,
) -> Result<keyport_proto::admin::CreatedClient> {
    use crate::config::Grant;
    require_admin(app, realm, caller, "client.create").await?;
    crate::config::check_name("client_id", &req.client_id).map_err(|_| {
        invalid_request("invalid client_id: use 1-64 letters, digits, `-`, `_`, `.` or `@`")
    })?;
    check_roles(&req.roles)?;
    let names = req
        .grants
        .unwrap_or_else(|| vec![Grant::ClientCredentials.as_str().to_owned()]);
    let mut grants = Vec::new();
    for name in &names {
        match Grant::parse(name) {
            Some(g) if g != Grant::AuthorizationCode => grants.push(g),
            _ => {
                return Err(invalid_request(format!(
                    "unknown grant `{name}`: use client_credentials, password, refresh_token or device_code"
                )));
            }
        }
    }
    let secret = crate::crypto::random_token(32);
    let client = crate::store::Client {
        realm: realm.name.clone(),
        client_id: req.client_id,
        secret_hash: Some(crate::crypto::sha256_hex(&secret)),
        public: false,
        grants,
        roles: req.roles,
        rotation: crate::config::Rotation::Strict,
        access_token_alg: None,
        id_token_alg: None,
        browser: Default::default(),
        scopes: Vec::new(),
        audiences: Vec::new(),
    };
    match app.store.insert_client(&client).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Error::Conflict(format!(
                "a client `{}` exists already in realm `{}`",
                client.client_id, realm.name
            )));
        }
        Err(e) => return Err(e.into()),
    }
    audit::record(
        app,
        caller
            .entry(&realm.name, "client.create")
            .target(&client.client_id),
    )
    .await?;
    tracing::info!(realm = %realm.name, client_id = %client.client_id, "Client created by {}", caller.display());
    let shown = represent_client(realm, &client);
    Ok(keyport_proto::admin::CreatedClient {
        client_id: shown.client_id,
        secret: Secret::new(secret),
        grants: shown.grants,
        roles: shown.roles,
    })
}

pub async fn list_clients(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    first: Option<i64>,
    max: Option<i64>,
) -> Result<Vec<keyport_proto::admin::ClientRepresentation>> {
    require_admin(app, realm, caller, "client.list").await?;
    let (first, max) = page(first, max)?;
    Ok(app
        .store
        .list_clients(&realm.name, first, max)
        .await?
        .iter()
        .map(|c| represent_client(realm, c))
        .collect())
}

/// Replaces a confidential client's secret with a generated one, shown once (in the answer); the old secret
/// stops working at once. Admins only. A client declared in the configuration file is refused: its secret
/// comes from there, and a start would put the old one back.
pub async fn rotate_client_secret(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    client_id: &str,
) -> Result<keyport_proto::admin::CreatedClient> {
    require_admin(app, realm, caller, "client.secret").await?;
    let Some(client) = app.store.client(&realm.name, client_id).await? else {
        return Err(Error::NotFound(format!(
            "no client `{client_id}` in realm `{}`",
            realm.name
        )));
    };
    if client.public {
        return Err(invalid_request(format!(
            "`{client_id}` is a public client: it has no secret"
        )));
    }
    if from_config(realm, client_id) {
        return Err(invalid_request(format!(
            "`{client_id}` is declared in the configuration file: change its secret there"
        )));
    }
    let secret = crate::crypto::random_token(32);
    if !app
        .store
        .set_client_secret(&realm.name, client_id, &crate::crypto::sha256_hex(&secret))
        .await?
    {
        return Err(Error::NotFound(format!(
            "no client `{client_id}` in realm `{}`",
            realm.name
        )));
    }
    app.changed().await;
    audit::record(
        app,
        caller.entry(&realm.name, "client.secret").target(client_id),
    )
    .await?;
    tracing::info!(realm = %realm.name, client_id, "Client secret rotated by {}", caller.display());
    let shown = represent_client(realm, &client);
    Ok(keyport_proto::admin::CreatedClient {
        client_id: shown.client_id,
        secret: Secret::new(secret),
        grants: shown.grants,
        roles: shown.roles,
    })
}

/// Enables or disables a user. A disabled user cannot sign in, refresh or use an API token (their page
/// sessions stop at the next request); their tokens are kept, and work again once the user is enabled.
/// Admins only; an admin cannot disable themself. Users declared in the configuration file are enabled again at
/// the next start.
pub async fn set_user_enabled(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    id_or_name: &str,
    enabled: bool,
) -> Result<UserRepresentation> {
    let action = if enabled {
        "user.enable"
    } else {
        "user.disable"
    };
    require_admin(app, realm, caller, action).await?;
    let mut user = find_user(app, realm, id_or_name).await?;
    if user.id == caller.user_id && !enabled {
        return Err(invalid_request("you cannot disable yourself"));
    }
    app.store
        .set_user_enabled(&realm.name, &user.id, enabled)
        .await?;
    app.changed().await;
    audit::record(app, caller.entry(&realm.name, action).target(&user.id)).await?;
    tracing::info!(realm = %realm.name, user_id = %user.id, "User {} {} by {}", user.username,
        if enabled { "enabled" } else { "disabled" }, caller.display());
    user.enabled = enabled;
    Ok(represent_user(&user))
}

/// Deletes a client; tokens it already issued live out their (short) lives, its refresh tokens stop working.
/// Clients declared in the configuration file come back at the next start.
pub async fn delete_client(
    app: &AppState,
    realm: &Realm,
    caller: &Caller,
    client_id: &str,
) -> Result<()> {
    require_admin(app, realm, caller, "client.delete").await?;
    if !app.store.delete_client(&realm.name, client_id).await? {
        return Err(Error::NotFound(format!(
            "no client `{client_id}` in realm `{}`",
            realm.name
        )));
    }
    app.changed().await;
    audit::record(
        app,
        caller.entry(&realm.name, "client.delete").target(client_id),
    )
    .await?;
    Ok(())
}
