//! The refresh token grant (RFC 6749 §6) with per-client rotation and replay detection (RFC 9700 §4.14).

use keyport_proto::oauth::TokenResponse;

use super::tokens::{self, Subject};
use super::{Result, client_auth, invalid_grant, scope};
use crate::config::{Grant, Rotation};
use crate::crypto::refresh_token_key;
use crate::state::{AppState, Realm};
use crate::store::{Client, Rotated};

const REPLAY: &str =
    "Refresh token was already used; the login session has been ended for safety. Log in again";

pub async fn refresh(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    token: &str,
    requested_scope: Option<&str>,
) -> Result<TokenResponse> {
    client_auth::require_grant(client, Grant::RefreshToken)?;
    let hash = refresh_token_key(token);
    let now = app.now();
    // One read for the token, its session and its user; one statement for the rotation.
    let ctx = app
        .refresh
        .context(hash.clone())
        .await?
        .filter(|c| c.token.realm == realm.name)
        .ok_or_else(|| invalid_grant("Invalid refresh token"))?;
    let (old, session) = (&ctx.token, &ctx.session);
    if old.client_id != client.client_id {
        return Err(invalid_grant(
            "Invalid refresh token: it was issued to another client",
        ));
    }
    if session.ended_at.is_some() {
        return Err(invalid_grant("Session not active"));
    }
    if old.used_at.is_some() && client.rotation == Rotation::Strict {
        end_family(app, &session.id, now).await?;
        return Err(invalid_grant(REPLAY));
    }
    if old.expires_at <= now {
        return Err(invalid_grant("Refresh token expired"));
    }
    if session.created_at + realm.config.session_max_lifetime.as_secs() as i64 <= now {
        // Past `session_max_lifetime` (a shortened setting applies to sessions begun before it changed).
        return Err(invalid_grant("Session not active"));
    }
    let scope = scope::narrow(&session.scope, requested_scope)?;
    let user = ctx
        .user
        .as_ref()
        .filter(|u| u.enabled)
        .ok_or_else(|| invalid_grant("User not found or disabled"))?;
    let expires_at = tokens::refresh_expiry(realm, session.created_at, now);
    let (secret, row) = match client.rotation {
        Rotation::Strict => {
            let (secret, mut row) = tokens::new_refresh_token(app, realm, client, &session.id);
            row.expires_at = expires_at;
            if app.refresh.rotate(hash.clone(), row.clone()).await? == Rotated::AlreadyUsed {
                // Not a replay when the token is gone: purged as expired between the read above and the
                // rotation (SQLite admits no successor to a token it no longer holds). Rare; one read more.
                if app.store.refresh_token(&hash).await?.is_none() {
                    return Err(invalid_grant("Refresh token expired"));
                }
                end_family(app, &session.id, now).await?;
                return Err(invalid_grant(REPLAY));
            }
            (secret, row)
        }
        // One live refresh token per session: the one presented is answered again, its expiry moved forward (as
        // a Keycloak refresh token without rotation stays valid until it expires), instead of piling up rows.
        Rotation::Off => {
            if !app.store.extend_refresh_token(&hash, expires_at).await? {
                return Err(invalid_grant("Invalid refresh token"));
            }
            let mut row = old.clone();
            row.expires_at = expires_at;
            (token.to_owned(), row)
        }
    };
    Ok(tokens::respond(
        app,
        tokens::Grant {
            realm,
            client,
            subject: Subject::user(user),
            session_id: Some(&session.id),
            auth_time: session.created_at,
            scope,
            refresh: Some((secret, &row)),
            sign_in: Default::default(),
        },
    ))
}

async fn end_family(app: &AppState, session_id: &str, now: i64) -> Result<()> {
    if app.store.end_session(session_id, now).await? {
        tracing::warn!(
            session_id,
            "refresh token replay detected; login session ended"
        );
    }
    Ok(())
}
