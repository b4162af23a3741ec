//! keyport as a relying party: "Sign in with …" an upstream OpenID Connect provider.
//!
//! [`start`] sends the browser to the provider with authorization code + PKCE (S256) + `state` + `nonce`, keeping
//! what the way back needs in the store (state and nonce hashed; any replica can finish); [`finish`] takes that
//! row (single use), exchanges the code, verifies the ID token ([`upstream`]), finds the local account linked to
//! (provider, `sub`) or creates one, and signs the browser in through [`browser::establish`] with
//! `amr = "fed:{alias}"`. Accounts are found by the link only: never by username or email, so an upstream
//! identity is never merged with a local account.

pub mod upstream;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::browser::{self, Browser};
use crate::crypto::{random_id, random_token, sha256_hex};
use crate::state::{AppState, Realm};
use crate::store::{PendingSignIn, StoreError, User, UserType};

pub use upstream::{SecretError, Upstreams};

/// How long the browser has to come back from the provider.
pub const PENDING_LIFETIME: i64 = 600;
/// Usernames tried for a new account: `name`, `name-2`, … `name-{MAX_SUFFIX}`.
const MAX_SUFFIX: u32 = 100;

/// Why a sign-in through a provider failed. Each has a fixed phrase of ours ([`Failure::message`]); the
/// provider's own words never reach the browser.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("unknown identity provider")]
    UnknownProvider,
    #[error("the provider cannot be reached")]
    UpstreamDown,
    #[error("the user or the provider denied the sign-in")]
    Denied,
    #[error("the provider refused the sign-in")]
    UpstreamRefused,
    #[error("the provider is not the configured issuer")]
    WrongIssuer,
    #[error("the ID token is invalid")]
    BadIdToken,
    #[error("unknown, used or expired state")]
    BadState,
    #[error("the linked account is disabled")]
    Disabled,
    #[error(transparent)]
    Internal(#[from] super::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Internal(e.into())
    }
}

impl Failure {
    /// The heading and message shown to the person.
    pub fn message(&self) -> (&'static str, &'static str) {
        match self {
            Failure::UnknownProvider => (
                "Unknown sign-in provider",
                "This site does not offer that way of signing in.",
            ),
            Failure::UpstreamDown => (
                "The provider is not answering",
                "The sign-in provider cannot be reached right now. Try again later, or choose another way to sign in.",
            ),
            Failure::Denied => (
                "Sign-in cancelled",
                "The sign-in provider did not let you in (you may have cancelled). You are not signed in.",
            ),
            Failure::UpstreamRefused => (
                "Sign-in failed",
                "The sign-in provider did not complete the sign-in. Try again, or choose another way to sign in.",
            ),
            Failure::WrongIssuer => (
                "Sign-in failed",
                "The sign-in provider did not identify itself as the one this site trusts. You are not signed in.",
            ),
            Failure::BadIdToken => (
                "Sign-in failed",
                "The answer of the sign-in provider could not be verified. You are not signed in.",
            ),
            Failure::BadState => (
                "Sign-in expired",
                "This sign-in link was already used, has expired or was started in another browser. Start again.",
            ),
            Failure::Disabled => ("Account disabled", "This account is disabled."),
            Failure::Internal(_) => (
                "Sign-in failed",
                "Something went wrong on our side. Try again in a moment.",
            ),
        }
    }
}

/// `{issuer}/broker/{alias}/endpoint`: the redirect URI registered at the provider (Keycloak's path).
pub fn redirect_uri(realm: &Realm, alias: &str) -> String {
    format!("{}/broker/{alias}/endpoint", realm.issuer)
}

/// Starts a sign-in through provider `alias` for the browser with page-session cookie `cookie`: the URL of the
/// provider's authorization endpoint to send it to.
pub async fn start(
    app: &AppState,
    realm: &Realm,
    alias: &str,
    cookie: &str,
    return_to: &str,
) -> Result<String, Failure> {
    let up = app
        .federation
        .get(&realm.name, alias)
        .ok_or(Failure::UnknownProvider)?;
    let now = app.now();
    let metadata = app.federation.metadata(up, now).await?;
    let state = random_token(32);
    let nonce = random_token(32);
    let code_verifier = random_token(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
    app.store
        .insert_pending_sign_in(&PendingSignIn {
            state_hash: sha256_hex(&state),
            realm: realm.name.clone(),
            alias: alias.to_owned(),
            nonce_hash: sha256_hex(&nonce),
            code_verifier,
            browser_hash: sha256_hex(cookie),
            return_to: return_to.to_owned(),
            created_at: now,
            expires_at: now + PENDING_LIFETIME,
        })
        .await?;
    let scope = up.config.scopes.join(" ");
    let redirect = redirect_uri(realm, alias);
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", up.config.client_id.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("scope", scope.as_str()),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ])
    .map_err(|e| super::Error::Internal(e.to_string()))?;
    let sep = if metadata.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    tracing::info!(realm = %realm.name, alias, "sign-in sent to upstream provider");
    Ok(format!("{}{sep}{query}", metadata.authorization_endpoint))
}

/// What the provider sent the browser back with.
#[derive(Default)]
pub struct Callback<'a> {
    pub state: Option<&'a str>,
    pub code: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// Finishes a sign-in through provider `alias`: the signed-in browser (a fresh page session) and where to send
/// it.
pub async fn finish(
    app: &AppState,
    realm: &Realm,
    alias: &str,
    cookie: Option<&str>,
    callback: Callback<'_>,
    address: &str,
) -> Result<(Browser, String), Failure> {
    let up = app
        .federation
        .get(&realm.name, alias)
        .ok_or(Failure::UnknownProvider)?;
    let now = app.now();
    let state = callback.state.ok_or(Failure::BadState)?;
    let pending = app
        .store
        .take_pending_sign_in(&sha256_hex(state))
        .await?
        .ok_or(Failure::BadState)?;
    let same_browser = cookie.is_some_and(|c| {
        keyport_proto::constant_time_eq(sha256_hex(c).as_bytes(), pending.browser_hash.as_bytes())
    });
    if pending.expires_at < now
        || pending.realm != realm.name
        || pending.alias != alias
        || !same_browser
    {
        return Err(Failure::BadState);
    }
    if let Some(error) = callback.error {
        return Err(if error == "access_denied" {
            Failure::Denied
        } else {
            Failure::UpstreamRefused
        });
    }
    let code = callback.code.ok_or(Failure::UpstreamRefused)?;
    let metadata = app.federation.metadata(up, now).await?;
    let redirect = redirect_uri(realm, alias);
    let id_token = app
        .federation
        .exchange(up, &metadata, code, &redirect, &pending.code_verifier)
        .await?;
    let claims = app
        .federation
        .verify(up, &id_token, &pending.nonce_hash, now)
        .await?;
    let user = account(app, realm, up, &claims, now).await?;
    if !user.enabled {
        tracing::warn!(realm = %realm.name, alias, user_id = %user.id, "sign-in through provider to a disabled account");
        return Err(Failure::Disabled);
    }
    let amr = format!("fed:{alias}");
    let fresh = browser::establish(app, realm, cookie, user, &amr, address).await?;
    Ok((fresh, pending.return_to))
}

/// The account linked to (provider, `sub`), created at the first sign-in.
async fn account(
    app: &AppState,
    realm: &Realm,
    up: &upstream::Upstream,
    claims: &upstream::IdClaims,
    now: i64,
) -> Result<User, Failure> {
    let alias = up.config.alias.as_str();
    if let Some(user) = app
        .store
        .linked_user(&realm.name, alias, &claims.sub)
        .await?
    {
        return Ok(user);
    }
    let base = base_username(&up.config.username_claim, claims);
    for n in 1..=MAX_SUFFIX {
        let username = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        if app
            .store
            .user_by_username(&realm.name, &username)
            .await?
            .is_some()
        {
            continue;
        }
        let user = User {
            id: random_id(),
            realm: realm.name.clone(),
            username,
            email: claims.email.clone(),
            name: claims.name.clone(),
            password_hash: None,
            roles: up.config.default_roles.clone(),
            user_type: UserType::Person,
            enabled: true,
            created_at: now,
        };
        match app
            .store
            .create_linked_user(&user, alias, &claims.sub)
            .await
        {
            Ok(()) => {
                tracing::info!(realm = %realm.name, alias, user_id = %user.id, "account created through provider");
                app.changed().await;
                return Ok(user);
            }
            // Another request created the link (the same person, twice at once) or took the username.
            Err(StoreError::Conflict(_)) => {
                if let Some(user) = app
                    .store
                    .linked_user(&realm.name, alias, &claims.sub)
                    .await?
                {
                    return Ok(user);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(super::Error::Internal("no free username for a new account".into()).into())
}

/// The new account's username: the `username_claim`, else `email`, else `sub`, cut to what local usernames allow
/// (letters, digits, `-`, `_`, `.`, `@`; 1-64 characters, with room for a `-N` suffix).
fn base_username(claim: &str, claims: &upstream::IdClaims) -> String {
    let from_claim = claims
        .extra
        .get(claim)
        .and_then(|v| v.as_str())
        .or(match claim {
            "email" => claims.email.as_deref(),
            "sub" => Some(claims.sub.as_str()),
            "name" => claims.name.as_deref(),
            _ => None,
        });
    [
        from_claim,
        claims.email.as_deref(),
        Some(claims.sub.as_str()),
    ]
    .into_iter()
    .flatten()
    .map(clean_username)
    .find(|u| !u.is_empty())
    .unwrap_or_else(|| "user".into())
}

fn clean_username(raw: &str) -> String {
    raw.trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        .take(60)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::upstream::IdClaims;

    fn claims(json: serde_json::Value) -> IdClaims {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn usernames_come_from_the_claim_then_email_then_sub() {
        let check = |claim: &str, json: serde_json::Value, want: &str| {
            assert_eq!(super::base_username(claim, &claims(json)), want);
        };
        let all = serde_json::json!({"sub": "s-1", "exp": 1, "preferred_username": "Alice", "email": "a@x.org"});
        check("preferred_username", all.clone(), "alice");
        check("email", all.clone(), "a@x.org");
        check("nickname", all, "a@x.org");
        check(
            "preferred_username",
            serde_json::json!({"sub": "S 1", "exp": 1}),
            "s1",
        );
        check(
            "preferred_username",
            serde_json::json!({"sub": "s", "exp": 1, "preferred_username": "名前"}),
            "s",
        );
        let long = "x".repeat(100);
        let json = serde_json::json!({"sub": "s", "exp": 1, "preferred_username": long});
        assert_eq!(
            super::base_username("preferred_username", &claims(json)).len(),
            60
        );
    }
}
