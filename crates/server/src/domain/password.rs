//! Password checks (argon2id, off the async runtime) and the resource owner password grant, which only clients
//! that list `password` may use.

use keyport_proto::oauth::TokenResponse;

use super::tokens::{self, Subject};
use super::{Error, Result, client_auth, invalid_grant, invalid_request, scope};
use crate::config::Grant;
use crate::crypto::{dummy_password_hash, random_id, verify_password};
use crate::state::{AppState, Realm};
use crate::store::{Client, Session, User};

/// The user, when the password is right and the user enabled. Unknown users cost as much as wrong passwords.
pub async fn check(
    app: &AppState,
    realm: &Realm,
    username: &str,
    password: &str,
) -> Result<Option<User>> {
    let user = app.store.user_by_username(&realm.name, username).await?;
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_password_hash().to_owned());
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
        .await
        .map_err(|e| Error::Internal(format!("password check task failed: {e}")))?;
    Ok(user.filter(|u| ok && u.enabled && u.password_hash.is_some()))
}

pub async fn grant(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    username: Option<&str>,
    password: Option<&str>,
    requested_scope: Option<&str>,
) -> Result<TokenResponse> {
    client_auth::require_grant(client, Grant::Password)?;
    if !realm.config.local_passwords {
        return Err(super::oauth(
            keyport_proto::ErrorCode::UnauthorizedClient,
            "this realm signs people in through identity providers only: the password grant is off",
        ));
    }
    let username = username.ok_or_else(|| invalid_request("username is missing"))?;
    let password = password.ok_or_else(|| invalid_request("password is missing"))?;
    let scope = scope::resolve(realm, requested_scope)?;
    let user = check(app, realm, username, password)
        .await?
        .ok_or_else(|| invalid_grant("Invalid user credentials"))?;
    let now = app.now();
    let session = Session {
        id: random_id(),
        realm: realm.name.clone(),
        user_id: user.id.clone(),
        client_id: client.client_id.clone(),
        scope: scope.clone(),
        created_at: now,
        ended_at: None,
    };
    let refresh = client
        .grants
        .contains(&Grant::RefreshToken)
        .then(|| tokens::new_refresh_token(app, realm, client, &session.id));
    app.store
        .create_session(&session, refresh.as_ref().map(|(_, row)| row))
        .await?;
    Ok(tokens::respond(
        app,
        tokens::Grant {
            realm,
            client,
            subject: Subject::user(&user),
            session_id: Some(&session.id),
            auth_time: now,
            scope,
            refresh: refresh.as_ref().map(|(secret, row)| (secret.clone(), row)),
            sign_in: Default::default(),
        },
    ))
}
