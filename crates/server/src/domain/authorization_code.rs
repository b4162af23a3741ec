//! The authorization code grant with PKCE (RFC 6749 §4.1, RFC 7636, OpenID Connect Core §3.1, RFC 9700 §2.1):
//! checking an authorization request, deciding what the browser still needs (sign-in, consent), issuing a code,
//! and redeeming it at the token endpoint. Knows nothing of HTTP: `http/pages/authorize.rs` turns the results into
//! redirects and pages.
//!
//! Errors come in two kinds, as OAuth requires: [`target`] fails with a message for an error *page* (unknown
//! client, unregistered redirect URI — never a redirect, so no open redirect); everything after it fails with an
//! OAuth error that goes back to the verified redirect URI.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyport_proto::oauth::TokenResponse;
use keyport_proto::{ErrorCode, constant_time_eq};
use sha2::{Digest, Sha256};

use super::browser::Browser;
use super::client_auth::require_grant;
use super::tokens::{self, SignInFacts, Subject};
use super::{Result, invalid_grant, invalid_request, oauth, scope};
use crate::config::Grant;
use crate::crypto::{random_id, random_token, sha256_hex};
use crate::state::{AppState, Realm};
use crate::store::{AuthorizationCode, Client, Consent, Session, SessionStart};

/// How long an authorization code may be redeemed (RFC 6749 §4.1.2 recommends at most ten minutes; we keep it
/// to one).
pub const CODE_LIFETIME: i64 = 60;

/// The parameters of an authorization request that keyport reads, in the order they are sent back.
pub const PARAMS: [&str; 12] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "response_mode",
];

/// Longest accepted value of any request parameter.
const MAX_PARAM_LEN: usize = 2048;

/// An authorization request as received (query or form), limited to [`PARAMS`].
#[derive(Clone, Debug, Default)]
pub struct Request {
    params: Vec<(&'static str, String)>,
}

impl Request {
    /// Reads the known parameters through `get` (empty values count as absent).
    pub fn new(get: impl Fn(&str) -> Option<String>) -> Request {
        let params = PARAMS
            .iter()
            .filter_map(|&k| get(k).filter(|v| !v.is_empty()).map(|v| (k, v)))
            .collect();
        Request { params }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters, to put back into a URL or hidden form fields.
    pub fn params(&self) -> &[(&'static str, String)] {
        &self.params
    }

    /// The same request with `value` taken out of `prompt` (after the sign-in `prompt=login` asked for).
    pub fn without_prompt(&self, value: &str) -> Request {
        let mut params = self.params.clone();
        params.retain_mut(|(k, v)| {
            if *k != "prompt" {
                return true;
            }
            *v = v
                .split_ascii_whitespace()
                .filter(|p| *p != value)
                .collect::<Vec<_>>()
                .join(" ");
            !v.is_empty()
        });
        Request { params }
    }
}

/// How the response travels back to the client (OAuth 2.0 Multiple Response Types, Form Post Response Mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    FormPost,
}

/// Where the answer goes: a known client and one of its registered redirect URIs, with the request's `state`.
#[derive(Clone, Debug)]
pub struct Target {
    pub client: std::sync::Arc<Client>,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub mode: ResponseMode,
}

/// Whether `given` is one of the `registered` redirect URIs: exact string match, except that for a loopback
/// address (`127.0.0.1`, `[::1]`, `localhost`) over http the port may differ (RFC 8252 §7.3).
pub fn redirect_uri_allowed(registered: &[String], given: &str) -> bool {
    if registered.iter().any(|r| r == given) {
        return true;
    }
    let Some(given) = loopback_without_port(given) else {
        return false;
    };
    registered
        .iter()
        .filter_map(|r| loopback_without_port(r))
        .any(|r| r == given)
}

fn loopback_without_port(uri: &str) -> Option<String> {
    let mut url = url::Url::parse(uri).ok()?;
    let loopback = match url.host()? {
        url::Host::Domain(d) => d == "localhost",
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    if url.scheme() != "http" || !loopback {
        return None;
    }
    url.set_port(None).ok()?;
    Some(url.to_string())
}

/// The client and redirect URI of a request; `Err(message)` for an error page (never a redirect).
pub async fn target(
    app: &AppState,
    realm: &Realm,
    req: &Request,
) -> Result<std::result::Result<Target, String>> {
    let Some(client_id) = req.get("client_id") else {
        return Ok(Err(
            "The request names no client (client_id is missing).".into()
        ));
    };
    let Some(client) = super::client_auth::find(app, realm, client_id).await? else {
        return Ok(Err(format!(
            "Client `{client_id}` is not known in realm `{}`.",
            realm.name
        )));
    };
    let Some(redirect_uri) = req.get("redirect_uri") else {
        return Ok(Err("The request has no redirect_uri.".into()));
    };
    if !redirect_uri_allowed(&client.browser.redirect_uris, redirect_uri) {
        return Ok(Err(format!(
            "The redirect URI is not registered for client `{client_id}`."
        )));
    }
    let mode = match req.get("response_mode") {
        None | Some("query") => ResponseMode::Query,
        Some("fragment") => ResponseMode::Fragment,
        Some("form_post") => ResponseMode::FormPost,
        // An unknown mode is an error sent back the default way (query).
        Some(_) => ResponseMode::Query,
    };
    Ok(Ok(Target {
        redirect_uri: redirect_uri.to_owned(),
        state: req.get("state").map(str::to_owned),
        mode,
        client,
    }))
}

/// `prompt`, parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Clone, Debug)]
pub struct Authorize {
    pub target: Target,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

/// Checks the rest of a request whose [`Target`] is known; errors go back to the redirect URI.
pub fn check(realm: &Realm, target: Target, req: &Request) -> Result<Authorize> {
    if req.params().iter().any(|(_, v)| v.len() > MAX_PARAM_LEN) {
        return Err(invalid_request(format!(
            "request parameters are limited to {MAX_PARAM_LEN} characters"
        )));
    }
    if let Some(mode) = req.get("response_mode")
        && !matches!(mode, "query" | "fragment" | "form_post")
    {
        return Err(invalid_request(format!(
            "response_mode `{mode}` is not supported (query, fragment, form_post)"
        )));
    }
    match req.get("response_type") {
        Some("code") => {}
        None => return Err(invalid_request("response_type is missing")),
        Some(other) => {
            return Err(oauth(
                ErrorCode::UnsupportedResponseType,
                format!("response_type `{other}` is not supported; use `code`"),
            ));
        }
    }
    require_grant(&target.client, Grant::AuthorizationCode)?;
    let scope = scope::resolve(realm, &target.client, req.get("scope"))?;
    let code_challenge = match (req.get("code_challenge"), req.get("code_challenge_method")) {
        (None, None) if target.client.public => {
            return Err(invalid_request(
                "PKCE is required for public clients: send code_challenge with code_challenge_method=S256",
            ));
        }
        (None, None) => None,
        (None, Some(_)) => return Err(invalid_request("code_challenge is missing")),
        (Some(_), Some(m)) if m != "S256" => {
            return Err(invalid_request(
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        // RFC 7636 §4.3: the method defaults to plain, which is not accepted.
        (Some(_), None) => {
            return Err(invalid_request(
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        (Some(c), Some(_)) => {
            let ok = c.len() == 43
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(invalid_request(
                    "code_challenge must be BASE64URL(SHA256(code_verifier)): 43 characters",
                ));
            }
            Some(c.to_owned())
        }
    };
    let mut prompt = Prompt::default();
    for p in req.get("prompt").unwrap_or("").split_ascii_whitespace() {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            other => {
                return Err(invalid_request(format!(
                    "prompt `{other}` is not supported (none, login, consent)"
                )));
            }
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(invalid_request(
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match req.get("max_age") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid_request("max_age must be a number of seconds"))?,
        ),
    };
    Ok(Authorize {
        target,
        scope,
        nonce: req.get("nonce").map(str::to_owned),
        code_challenge,
        prompt,
        max_age,
        login_hint: req.get("login_hint").map(str::to_owned),
    })
}

/// What the browser needs before a code can be issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Through the sign-in page first.
    SignIn,
    /// The user must allow the client these scopes.
    Consent,
    /// A code can be issued.
    Issue,
}

/// Decides the next step for `browser` (`login_required` / `consent_required` when `prompt=none` forbids one).
pub async fn next(app: &AppState, realm: &Realm, a: &Authorize, browser: &Browser) -> Result<Next> {
    let Some(user) = &browser.user else {
        return prompt_none_or(a, ErrorCode::LoginRequired, Next::SignIn);
    };
    let too_old = a
        .max_age
        .is_some_and(|max| app.now() - browser.auth_time > max);
    if a.prompt.login || too_old {
        return prompt_none_or(a, ErrorCode::LoginRequired, Next::SignIn);
    }
    if a.target.client.browser.consent || a.prompt.consent {
        let given = app
            .store
            .consent(&realm.name, &user.id, &a.target.client.client_id)
            .await?;
        let covered = given.is_some_and(|c| {
            a.scope
                .split_ascii_whitespace()
                .all(|s| scope::contains(&c.scope, s))
        });
        if a.prompt.consent || !covered {
            return prompt_none_or(a, ErrorCode::ConsentRequired, Next::Consent);
        }
    }
    Ok(Next::Issue)
}

fn prompt_none_or(a: &Authorize, error: ErrorCode, next: Next) -> Result<Next> {
    if a.prompt.none {
        let description = match error {
            ErrorCode::LoginRequired => "the user must sign in (prompt=none)",
            _ => "the user has not allowed this client (prompt=none)",
        };
        Err(oauth(error, description))
    } else {
        Ok(next)
    }
}

/// The user's answer on the consent page: allowing records the scopes (remembered until revoked); denying is
/// `access_denied`.
pub async fn decide(
    app: &AppState,
    realm: &Realm,
    a: &Authorize,
    browser: &Browser,
    allow: bool,
) -> Result<()> {
    let user = browser
        .user
        .as_ref()
        .ok_or_else(|| super::Error::Internal("consent without a signed-in user".into()))?;
    if !allow {
        tracing::info!(realm = %realm.name, user_id = %user.id, client_id = %a.target.client.client_id, "consent denied");
        return Err(oauth(
            ErrorCode::AccessDenied,
            "the user did not allow this client",
        ));
    }
    let consent = Consent {
        client_id: a.target.client.client_id.clone(),
        scope: a.scope.clone(),
        granted_at: app.now(),
    };
    app.store
        .grant_consent(&realm.name, &user.id, &consent)
        .await?;
    tracing::info!(realm = %realm.name, user_id = %user.id, client_id = %consent.client_id, "consent given");
    Ok(())
}

/// A code issued to the browser: the secret and the login session its tokens will belong to
/// (`session_state`).
pub struct Issued {
    pub code: String,
    pub session_id: String,
}

/// Issues a code for the signed-in user of `browser`.
pub async fn issue(
    app: &AppState,
    realm: &Realm,
    a: &Authorize,
    browser: &Browser,
) -> Result<Issued> {
    let user = browser
        .user
        .as_ref()
        .ok_or_else(|| super::Error::Internal("a code without a signed-in user".into()))?;
    let code = random_token(32);
    let now = app.now();
    let session_id = random_id();
    app.store
        .insert_authorization_code(&AuthorizationCode {
            code_hash: sha256_hex(&code),
            realm: realm.name.clone(),
            client_id: a.target.client.client_id.clone(),
            redirect_uri: a.target.redirect_uri.clone(),
            scope: a.scope.clone(),
            nonce: a.nonce.clone(),
            code_challenge: a.code_challenge.clone(),
            user_id: user.id.clone(),
            auth_time: browser.auth_time,
            amr: browser.amr.clone(),
            session_id: session_id.clone(),
            browser_hash: sha256_hex(&browser.cookie),
            created_at: now,
            expires_at: now + CODE_LIFETIME,
            used_at: None,
        })
        .await?;
    Ok(Issued { code, session_id })
}

/// `BASE64URL(SHA256(verifier))`, RFC 7636 §4.2.
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn user_gone() -> super::Error {
    invalid_grant("User not found or disabled")
}

/// The token endpoint's `authorization_code` grant: the code must be unused, unexpired, issued to this client
/// for this redirect URI, and match the PKCE verifier. A second use of a code ends the login session of the
/// first (its refresh and access tokens stop working, RFC 6749 §4.1.2).
pub async fn redeem(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    code: &str,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
) -> Result<TokenResponse> {
    require_grant(client, Grant::AuthorizationCode)?;
    let now = app.now();
    let not_valid = || invalid_grant("Code not valid");
    let row = app
        .store
        .authorization_code(&sha256_hex(code))
        .await?
        .filter(|c| c.realm == realm.name)
        .ok_or_else(not_valid)?;
    if row.used_at.is_some() {
        replayed(app, &row).await?;
        return Err(not_valid());
    }
    if row.expires_at <= now || row.client_id != client.client_id {
        return Err(not_valid());
    }
    if redirect_uri != Some(row.redirect_uri.as_str()) {
        return Err(invalid_grant("Incorrect redirect_uri"));
    }
    match (&row.code_challenge, verifier) {
        (Some(challenge), Some(v)) => {
            let well_formed = (43..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed || !constant_time_eq(s256(v).as_bytes(), challenge.as_bytes()) {
                return Err(invalid_grant("PKCE verification failed: code mismatch"));
            }
        }
        (Some(_), None) => {
            return Err(invalid_grant(
                "PKCE verification failed: code_verifier is missing",
            ));
        }
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(invalid_grant(
                "PKCE verification failed: the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let user = app
        .store
        .user(&realm.name, &row.user_id)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(user_gone)?;
    let session = Session {
        id: row.session_id.clone(),
        realm: realm.name.clone(),
        user_id: user.id.clone(),
        client_id: client.client_id.clone(),
        scope: row.scope.clone(),
        created_at: now,
        ended_at: None,
    };
    let refresh = client
        .grants
        .contains(&Grant::RefreshToken)
        .then(|| tokens::new_refresh_token(app, realm, client, &session.id));
    let stored = app
        .store
        .redeem_authorization_code(&row, now, &session, refresh.as_ref().map(|(_, r)| r))
        .await?;
    match stored {
        SessionStart::Started => {}
        SessionStart::AlreadyUsed => {
            // Another request redeemed it first: this is a second use.
            replayed(app, &row).await?;
            return Err(not_valid());
        }
        // Deleted after the read above: nothing was written, the code stays unused and useless.
        SessionStart::UserGone => return Err(user_gone()),
    }
    tracing::info!(realm = %realm.name, user_id = %user.id, client_id = %client.client_id, session_id = %session.id, "authorization code redeemed");
    Ok(tokens::respond(
        app,
        tokens::Grant {
            realm,
            client,
            subject: Subject::user(&user),
            session_id: Some(&session.id),
            auth_time: row.auth_time,
            scope: row.scope.clone(),
            refresh: refresh.as_ref().map(|(secret, r)| (secret.clone(), r)),
            sign_in: SignInFacts {
                nonce: row.nonce.as_deref(),
                amr: Some(&row.amr),
            },
        },
    ))
}

/// A used code presented again: whoever holds it may have stolen it, so what it issued ends.
async fn replayed(app: &AppState, row: &AuthorizationCode) -> Result<()> {
    let ended = app.store.end_session(&row.session_id, app.now()).await?;
    tracing::warn!(realm = %row.realm, client_id = %row.client_id, session_id = %row.session_id, ended, "authorization code used twice: its login session is ended");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_match_exactly_or_by_loopback_port() {
        let registered = vec![
            "https://app.example.org/cb".to_owned(),
            "http://127.0.0.1/callback".to_owned(),
            "http://[::1]:8000/cb".to_owned(),
        ];
        for (given, ok) in [
            ("https://app.example.org/cb", true),
            ("https://app.example.org/cb/", false),
            ("https://app.example.org/cb?x=1", false),
            ("https://app.example.org:444/cb", false),
            ("http://app.example.org/cb", false),
            ("http://127.0.0.1:53123/callback", true),
            ("http://127.0.0.1/callback", true),
            ("http://127.0.0.1:53123/other", false),
            ("http://[::1]:9/cb", true),
            ("https://127.0.0.1:53123/callback", false),
            ("http://localhost:53123/callback", false),
            ("not a url", false),
        ] {
            assert_eq!(redirect_uri_allowed(&registered, given), ok, "{given}");
        }
    }

    #[test]
    fn s256_is_base64url_of_sha256_without_padding() {
        // Computed independently: base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b'=').
        assert_eq!(
            s256("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"),
            "g0tuZ6q412zO9IRkeAUs8HN6MQeXPsGce37J3Rsc8wQ"
        );
    }

    #[test]
    fn prompt_login_is_taken_out_after_the_sign_in() {
        let req = Request::new(|k| match k {
            "prompt" => Some("login consent".into()),
            "client_id" => Some("app".into()),
            _ => None,
        });
        let after = req.without_prompt("login");
        assert_eq!(after.get("prompt"), Some("consent"));
        assert_eq!(after.get("client_id"), Some("app"));
        let only = Request::new(|k| (k == "prompt").then(|| "login".into()));
        assert_eq!(only.without_prompt("login").get("prompt"), None);
    }
}
