//! Minting access tokens, ID tokens and refresh tokens, and the token response.

use std::sync::Arc;

use keyport_proto::ErrorCode;
use keyport_proto::oauth::TokenResponse;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::{Result, claims, oauth, scope};
use crate::config::SigningAlg;
use crate::crypto::{random_uuid, refresh_token_key, refresh_token_secret};
use crate::state::{AppState, Realm};
use crate::store::{Client, RefreshToken, User};

/// Who a token is about: a user, or a client's service account. Borrowed: minting a token copies none of it.
#[derive(Clone, Copy)]
pub struct Subject<'a> {
    pub id: &'a str,
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub roles: &'a [String],
}

impl<'a> Subject<'a> {
    pub fn user(user: &'a User) -> Subject<'a> {
        Subject {
            id: &user.id,
            username: &user.username,
            email: user.email.as_deref(),
            name: user.name.as_deref(),
            roles: &user.roles,
        }
    }

    /// The service account of `client`, named `name` ([`service_account_name`]).
    pub fn service_account(client: &'a Client, name: &'a str) -> Subject<'a> {
        Subject {
            id: name,
            username: name,
            email: None,
            name: None,
            roles: &client.roles,
        }
    }
}

/// Keycloak names a client's service account `service-account-{client_id}`.
pub fn service_account_name(client: &Client) -> String {
    format!("service-account-{}", client.client_id)
}

/// A new refresh token: the secret for the client and the row (holding only its hash) for the store.
pub fn new_refresh_token(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    session_id: &str,
) -> (String, RefreshToken) {
    let secret = refresh_token_secret(app.store.one_process());
    let now = app.now();
    let row = RefreshToken {
        token_hash: refresh_token_key(&secret),
        session_id: session_id.to_owned(),
        realm: realm.name.clone(),
        client_id: client.client_id.clone(),
        created_at: now,
        expires_at: refresh_expiry(realm, now, now),
        used_at: None,
    };
    (secret, row)
}

/// Deletes expired rows and ended login sessions (run every ten minutes by the server's housekeeping). A session
/// with no usable refresh token left is kept until the longest access-token lifetime of any realm has passed since
/// it began, so that no live access token loses its session.
pub async fn purge(app: &AppState) -> Result<u64> {
    let now = app.now();
    let longest = app
        .realms
        .values()
        .map(|r| r.config.access_token_lifetime.as_secs() as i64)
        .max()
        .unwrap_or(0);
    Ok(app.store.purge_expired(now, now - longest).await?)
}

/// When a refresh token issued at `now` to a session begun at `session_start` expires: its lifetime, cut to the
/// session's idle timeout and to the session's end (`session_max_lifetime` after sign-in).
pub fn refresh_expiry(realm: &Realm, session_start: i64, now: i64) -> i64 {
    let c = &realm.config;
    (now + c.refresh_token_lifetime.as_secs() as i64)
        .min(now + c.session_idle_timeout.as_secs() as i64)
        .min(session_start + c.session_max_lifetime.as_secs() as i64)
}

/// The client as it acts for one token request: with RFC 8707 `resource`, its tokens are for that resource only,
/// which must be one of the client's `audiences` (else `invalid_target`).
pub fn for_resource(client: Arc<Client>, resource: Option<&str>) -> Result<Arc<Client>> {
    let Some(resource) = resource.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(client);
    };
    if !client.audiences.iter().any(|a| a == resource) {
        return Err(oauth(
            ErrorCode::InvalidTarget,
            format!(
                "client `{}` may not ask for tokens for resource `{resource}` (see its `audiences`)",
                client.client_id
            ),
        ));
    }
    let mut narrowed = Client::clone(&client);
    narrowed.audiences = vec![resource.to_owned()];
    Ok(Arc::new(narrowed))
}

/// Everything a token response is made of.
pub struct Grant<'a> {
    pub realm: &'a Realm,
    pub client: &'a Client,
    pub subject: Subject<'a>,
    pub session_id: Option<&'a str>,
    pub auth_time: i64,
    pub scope: String,
    /// The refresh token secret and its row, when one is issued.
    pub refresh: Option<(String, &'a RefreshToken)>,
    /// What the ID token says about the sign-in (browser flows).
    pub sign_in: SignInFacts<'a>,
}

/// What an ID token of a browser sign-in carries besides the user: the request's `nonce` and how the user
/// signed in (`pwd`, `fed:{alias}`).
#[derive(Clone, Copy, Default)]
pub struct SignInFacts<'a> {
    pub nonce: Option<&'a str>,
    pub amr: Option<&'a str>,
}

/// `at_hash`: the left half of the access token's hash with the ID token's algorithm's hash function,
/// base64url (OpenID Connect Core §3.1.3.6; SHA-512 for Ed25519).
pub fn at_hash(alg: SigningAlg, access_token: &str) -> String {
    use sha2::Digest;
    let digest = match alg {
        SigningAlg::EdDSA => sha2::Sha512::digest(access_token.as_bytes()).to_vec(),
        SigningAlg::ES256 | SigningAlg::RS256 => {
            sha2::Sha256::digest(access_token.as_bytes()).to_vec()
        }
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

/// Signs the access token (and an ID token when `openid` was asked) and builds the response.
pub fn respond(app: &AppState, g: Grant<'_>) -> TokenResponse {
    let now = app.now();
    let mut lifetime = g.realm.config.access_token_lifetime.as_secs() as i64;
    if g.session_id.is_some() {
        // A login session's tokens never outlive it: not its idle timeout, not its end (`auth_time` is when the
        // session began).
        let c = &g.realm.config;
        lifetime = lifetime
            .min(c.session_idle_timeout.as_secs() as i64)
            .min(g.auth_time + c.session_max_lifetime.as_secs() as i64 - now)
            .max(0);
    }
    let alg = g
        .client
        .access_token_alg
        .unwrap_or(g.realm.config.access_token_algorithm);
    let subject = g.subject;
    let mut jti = uuid::Uuid::encode_buffer();
    let claims = claims::Access {
        iss: &g.realm.issuer,
        sub: subject.id,
        aud: claims::AccessAudience(&g.client.audiences),
        azp: &g.client.client_id,
        exp: now + lifetime,
        iat: now,
        jti: random_uuid().hyphenated().encode_lower(&mut jti),
        sid: g.session_id,
        scope: &g.scope,
        typ: "Bearer",
        preferred_username: subject.username,
        email: subject.email,
        name: subject.name,
        realm_access: claims::Roles {
            roles: subject.roles,
        },
    };
    let access_token = app.keys.sign(alg, &claims);
    let id_token = scope::contains(&g.scope, "openid").then(|| {
        // RS256 unless the client or the realm says otherwise (the default every client must accept: OpenID
        // Connect Registration §2).
        let alg = g
            .client
            .id_token_alg
            .unwrap_or(g.realm.config.id_token_algorithm);
        let mut jti = uuid::Uuid::encode_buffer();
        let at_hash = at_hash(alg, &access_token);
        let id = claims::Id {
            iss: &g.realm.issuer,
            sub: subject.id,
            aud: &g.client.client_id,
            azp: &g.client.client_id,
            exp: now + lifetime,
            iat: now,
            auth_time: g.auth_time,
            jti: random_uuid().hyphenated().encode_lower(&mut jti),
            sid: g.session_id,
            typ: "ID",
            preferred_username: subject.username,
            email: subject.email,
            name: subject.name,
            nonce: g.sign_in.nonce,
            at_hash: Some(&at_hash),
            acr: g.sign_in.amr.map(|_| "1"),
            amr: g.sign_in.amr.map(|amr| {
                let method = if amr.starts_with("fed:") { "fed" } else { amr };
                [method]
            }),
        };
        keyport_proto::Secret::new(app.keys.sign(alg, &id))
    });
    let (refresh_token, refresh_expires_in) = match g.refresh {
        Some((secret, row)) => (
            Some(keyport_proto::Secret::new(secret)),
            (row.expires_at - now).max(0) as u64,
        ),
        None => (None, 0),
    };
    TokenResponse {
        access_token: access_token.into(),
        token_type: "Bearer".into(),
        expires_in: lifetime as u64,
        refresh_token,
        refresh_expires_in,
        scope: g.scope,
        id_token,
        session_state: g.session_id.map(str::to_owned),
        not_before_policy: 0,
    }
}
