//! Checking tokens that come back: userinfo, introspection (RFC 7662), revocation (RFC 7009) and logout.

use keyport_proto::ErrorCode;
use keyport_proto::oauth::{AccessTokenClaims, IntrospectionResponse, RealmAccess, UserInfo};

use super::api_tokens::Authenticated;
use super::{Result, invalid_grant, invalid_request, oauth};
use crate::cache::ApiTokenEntry;
use crate::crypto::refresh_token_key;
use crate::state::{AppState, Realm};
use crate::store::{Client, RefreshToken};

/// An introspection answer, as the endpoint writes it ([`Introspection::view`]). An API token's is read from
/// its cached token and user where they are, not copied into an [`IntrospectionResponse`]: ~10 strings a
/// request, allocated and freed (BENCHMARKS.md, nineteenth pass).
#[expect(
    clippy::large_enum_variant,
    reason = "made once a request and moved once; boxing the answer would cost the JWT path an allocation"
)]
pub enum Introspection<'a> {
    Answer(IntrospectionResponse),
    /// An active API token of the realm whose issuer is `issuer`; `scope`, its effective scopes.
    ApiToken {
        entry: Authenticated,
        scope: String,
        issuer: &'a str,
    },
}

/// An introspection answer's fields, borrowed: those of [`IntrospectionResponse`], in its order, with
/// `realm_access.roles` as `roles`.
#[derive(Debug, PartialEq)]
pub struct IntrospectionView<'v> {
    pub active: bool,
    pub scope: Option<&'v str>,
    pub client_id: Option<&'v str>,
    pub username: Option<&'v str>,
    pub token_type: Option<&'v str>,
    pub exp: Option<i64>,
    pub iat: Option<i64>,
    pub sub: Option<&'v str>,
    pub aud: Option<&'v [String]>,
    pub iss: Option<&'v str>,
    pub jti: Option<&'v str>,
    pub sid: Option<&'v str>,
    pub typ: Option<&'v str>,
    pub preferred_username: Option<&'v str>,
    pub email: Option<&'v str>,
    pub roles: Option<&'v [String]>,
}

impl<'v> From<&'v IntrospectionResponse> for IntrospectionView<'v> {
    fn from(r: &'v IntrospectionResponse) -> Self {
        // Every field is named: a field added to the response stops this from compiling until it is viewed.
        let IntrospectionResponse {
            active,
            scope,
            client_id,
            username,
            token_type,
            exp,
            iat,
            sub,
            aud,
            iss,
            jti,
            sid,
            typ,
            preferred_username,
            email,
            realm_access,
        } = r;
        IntrospectionView {
            active: *active,
            scope: scope.as_deref(),
            client_id: client_id.as_deref(),
            username: username.as_deref(),
            token_type: token_type.as_deref(),
            exp: *exp,
            iat: *iat,
            sub: sub.as_deref(),
            aud: aud.as_ref().map(|a| a.0.as_slice()),
            iss: iss.as_deref(),
            jti: jti.as_deref(),
            sid: sid.as_deref(),
            typ: typ.as_deref(),
            preferred_username: preferred_username.as_deref(),
            email: email.as_deref(),
            roles: realm_access.as_ref().map(|a| a.roles.as_slice()),
        }
    }
}

impl Introspection<'_> {
    pub fn view(&self) -> IntrospectionView<'_> {
        match self {
            Introspection::Answer(r) => r.into(),
            Introspection::ApiToken {
                entry,
                scope,
                issuer,
            } => api_token_view(entry, scope, issuer),
        }
    }
}

/// The introspection answer for an active API token `entry` of the realm whose issuer is `issuer`, with the
/// effective scopes `scope`.
fn api_token_view<'v>(
    entry: &'v Authenticated,
    scope: &'v str,
    issuer: &'v str,
) -> IntrospectionView<'v> {
    let ApiTokenEntry { token, user } = entry.as_ref();
    IntrospectionView {
        active: true,
        scope: Some(scope),
        client_id: None,
        username: Some(&user.username),
        token_type: Some("api_token"),
        exp: Some(token.expires_at),
        iat: Some(token.created_at),
        sub: Some(&user.id),
        aud: None,
        iss: Some(issuer),
        jti: Some(&token.id),
        sid: None,
        typ: Some("API-Token"),
        preferred_username: Some(&user.username),
        email: user.email.as_deref(),
        roles: Some(&user.roles),
    }
}

/// Verifies an access token of `realm`: signature, issuer, expiry, not revoked, its login session still active.
/// `None` means inactive, whatever the reason (the reason is not the caller's business).
pub async fn active_access_token(
    app: &AppState,
    realm: &Realm,
    token: &str,
) -> Result<Option<AccessTokenClaims>> {
    let Ok(claims) = app
        .keys
        .verify_or_reload::<AccessTokenClaims>(app.store.as_ref(), token, &realm.issuer, app.now())
        .await
    else {
        return Ok(None);
    };
    if claims.typ != "Bearer" {
        return Ok(None);
    }
    let live = app
        .store
        .access_token_liveness(&claims.jti, claims.sid.as_deref())
        .await?;
    let session_ok = match &claims.sid {
        Some(_) => live.active_session_realm.as_deref() == Some(realm.name.as_str()),
        None => true,
    };
    Ok((!live.revoked && session_ok).then_some(claims))
}

/// A refresh token of `realm` that can still be used.
async fn active_refresh_token(
    app: &AppState,
    realm: &Realm,
    token: &str,
) -> Result<Option<RefreshToken>> {
    let now = app.now();
    let Some(rt) = app
        .store
        .refresh_token(&refresh_token_key(token))
        .await?
        .filter(|t| t.realm == realm.name)
    else {
        return Ok(None);
    };
    if rt.expires_at <= now || rt.used_at.is_some() {
        return Ok(None);
    }
    let session_active = app
        .store
        .session(&rt.session_id)
        .await?
        .is_some_and(|s| s.ended_at.is_none());
    Ok(session_active.then_some(rt))
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// RFC 7662 for any token of the realm: JWT access tokens, refresh tokens and API tokens.
/// `from` is the asking client's address (`client_ip::rate_key`), for the count of failed API tokens.
pub async fn introspect<'a>(
    app: &AppState,
    realm: &'a Realm,
    token: &str,
    from: &str,
) -> Result<Introspection<'a>> {
    if super::api_tokens::is_api_token(token) {
        return Ok(
            match super::api_tokens::introspect(app, realm, token, from).await? {
                Some((entry, scope)) => Introspection::ApiToken {
                    entry,
                    scope,
                    issuer: &realm.issuer,
                },
                None => Introspection::Answer(IntrospectionResponse::inactive()),
            },
        );
    }
    introspect_other(app, realm, token)
        .await
        .map(Introspection::Answer)
}

/// [`introspect`] for a JWT access token or a refresh token.
async fn introspect_other(
    app: &AppState,
    realm: &Realm,
    token: &str,
) -> Result<IntrospectionResponse> {
    if looks_like_jwt(token) {
        return Ok(match active_access_token(app, realm, token).await? {
            Some(c) => IntrospectionResponse {
                active: true,
                scope: Some(c.scope),
                client_id: Some(c.azp),
                username: Some(c.preferred_username.clone()),
                token_type: Some("Bearer".into()),
                exp: Some(c.exp),
                iat: Some(c.iat),
                sub: Some(c.sub),
                aud: Some(c.aud),
                iss: Some(c.iss),
                jti: Some(c.jti),
                sid: c.sid,
                typ: Some(c.typ),
                preferred_username: Some(c.preferred_username),
                email: c.email,
                realm_access: Some(c.realm_access),
            },
            None => IntrospectionResponse::inactive(),
        });
    }
    let Some(rt) = active_refresh_token(app, realm, token).await? else {
        return Ok(IntrospectionResponse::inactive());
    };
    let Some(session) = app.store.session(&rt.session_id).await? else {
        return Ok(IntrospectionResponse::inactive());
    };
    let user = app.store.user(&realm.name, &session.user_id).await?;
    Ok(IntrospectionResponse {
        active: true,
        scope: Some(session.scope),
        client_id: Some(rt.client_id),
        username: user.as_ref().map(|u| u.username.clone()),
        token_type: Some("Refresh".into()),
        exp: Some(rt.expires_at),
        iat: Some(rt.created_at),
        sub: Some(session.user_id),
        iss: Some(realm.issuer.clone()),
        sid: Some(session.id),
        typ: Some("Refresh".into()),
        preferred_username: user.as_ref().map(|u| u.username.clone()),
        email: user.as_ref().and_then(|u| u.email.clone()),
        realm_access: user.map(|u| RealmAccess { roles: u.roles }),
        ..Default::default()
    })
}

/// RFC 7009. Unknown or already invalid tokens succeed silently (§2.2); a token of another client is refused.
pub async fn revoke(app: &AppState, realm: &Realm, client: &Client, token: &str) -> Result<()> {
    let now = app.now();
    if looks_like_jwt(token) {
        if let Ok(claims) = app
            .keys
            .verify_or_reload::<AccessTokenClaims>(app.store.as_ref(), token, &realm.issuer, now)
            .await
        {
            if claims.azp != client.client_id {
                return Err(oauth(
                    ErrorCode::UnauthorizedClient,
                    "the token was issued to another client",
                ));
            }
            app.store
                .revoke_jti(&realm.name, &claims.jti, claims.exp)
                .await?;
        }
        return Ok(());
    }
    if let Some(rt) = app
        .store
        .refresh_token(&refresh_token_key(token))
        .await?
        .filter(|t| t.realm == realm.name)
    {
        if rt.client_id != client.client_id {
            return Err(oauth(
                ErrorCode::UnauthorizedClient,
                "the token was issued to another client",
            ));
        }
        app.store.end_session(&rt.session_id, now).await?;
    }
    Ok(())
}

/// Keycloak's back-channel logout: ends the login session of a refresh token.
pub async fn logout(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    refresh_token: Option<&str>,
) -> Result<()> {
    let token = refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid_request("refresh_token is missing"))?;
    let rt = active_refresh_token(app, realm, token)
        .await?
        .ok_or_else(|| invalid_grant("Invalid refresh token"))?;
    if rt.client_id != client.client_id {
        return Err(invalid_grant(
            "Invalid refresh token: it was issued to another client",
        ));
    }
    app.store.end_session(&rt.session_id, app.now()).await?;
    Ok(())
}

/// OpenID Connect userinfo for a bearer access token; `invalid_token` when it is not active. `from` is the
/// caller's address (`client_ip::rate_key`), for the count of failed API tokens.
pub async fn userinfo(app: &AppState, realm: &Realm, token: &str, from: &str) -> Result<UserInfo> {
    if super::api_tokens::is_api_token(token) {
        return super::api_tokens::userinfo(app, realm, token, from).await;
    }
    let claims = active_access_token(app, realm, token)
        .await?
        .ok_or_else(|| {
            oauth(
                ErrorCode::InvalidToken,
                "the access token is invalid, expired or revoked",
            )
        })?;
    let user = match claims.sid {
        Some(_) => app.store.user(&realm.name, &claims.sub).await?,
        None => None,
    };
    Ok(match user {
        Some(u) => UserInfo {
            sub: u.id,
            preferred_username: u.username,
            email_verified: u.email.as_ref().map(|_| false),
            email: u.email,
            name: u.name,
            realm_access: RealmAccess {
                roles: u.roles.clone(),
            },
            roles: u.roles,
        },
        None => UserInfo {
            sub: claims.sub,
            preferred_username: claims.preferred_username,
            email_verified: None,
            email: claims.email,
            name: claims.name,
            roles: claims.realm_access.roles.clone(),
            realm_access: claims.realm_access,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_token_s_introspection_is_its_token_and_user_as_they_are() {
        use std::sync::Arc;
        let mut sample = ApiTokenEntry::sample("t1");
        sample.token.scopes = vec!["models:read".into()];
        sample.token.unscoped = false;
        sample.token.created_at = 100;
        sample.token.expires_at = 200;
        sample.user.email = Some("alice@example.org".into());
        sample.user.roles = vec!["user".into(), "admin".into()];
        let entry: Authenticated = Arc::new(sample);
        let answer = IntrospectionResponse {
            active: true,
            scope: Some("models:read".into()),
            username: Some("alice".into()),
            token_type: Some("api_token".into()),
            exp: Some(200),
            iat: Some(100),
            sub: Some("u1".into()),
            iss: Some("https://id.example/realms/r".into()),
            jti: Some("t1".into()),
            typ: Some("API-Token".into()),
            preferred_username: Some("alice".into()),
            email: Some("alice@example.org".into()),
            realm_access: Some(RealmAccess {
                roles: vec!["user".into(), "admin".into()],
            }),
            ..Default::default()
        };
        assert_eq!(
            api_token_view(&entry, "models:read", "https://id.example/realms/r"),
            IntrospectionView::from(&answer)
        );
    }
}
