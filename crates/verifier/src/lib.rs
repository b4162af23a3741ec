//! # keyport-verifier: protect an axum API with keyport tokens
//!
//! A resource server (a platform API) adds [`VerifierLayer`] to its router. Every request must carry
//! `Authorization: Bearer <token>`, where the token is either
//!
//! - an **access token** (a JWT signed by the realm): verified locally against the realm's JWKS, which is fetched
//!   once, cached, and fetched again when a token names a key id (`kid`) the cache does not know (at most once per
//!   [`Config::jwks_refetch_interval`], so garbage tokens cannot make the verifier hammer the server); or
//! - an **API token** (`kp_…`, personal or scoped): sent to the realm's RFC 7662 introspection endpoint with the
//!   resource server's client credentials, and the answer cached for [`Config::introspection_cache`] (default one
//!   second, so a revoked token stops working within a second).
//!
//! Handlers then take a [`Caller`] (user id, name, roles, scopes, token id) as an extractor, and check what the
//! call needs with [`Caller::require_scope`] and the own-versus-all rule of [`Caller::may_access`]:
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use keyport_verifier::{Caller, Config, Forbidden, Verifier};
//!
//! async fn whoami(caller: Caller) -> Result<Json<serde_json::Value>, Forbidden> {
//!     caller.require_scope("cli")?;
//!     Ok(Json(serde_json::json!({ "name": caller.username, "roles": caller.roles })))
//! }
//!
//! # fn main() {
//! let verifier = Verifier::new(Config::new(
//!     "https://auth.example.org/realms/aiod",
//!     "my-api",
//!     std::env::var("MY_API_CLIENT_SECRET").unwrap(),
//! ));
//! let app: Router = Router::new().route("/whoami", get(whoami)).layer(verifier.layer());
//! # }
//! ```
//!
//! Failures answer like RFC 6750: 401 with `WWW-Authenticate: Bearer error="invalid_token"` when the token is
//! missing, malformed, expired or revoked; 403 with `error="insufficient_scope"` when a scope is missing; 503
//! when keyport cannot be reached.
//!
//! An access token must also be meant for this API: its `aud` must name one of [`Config::audiences`] (by
//! default the resource server's own client id; list it in the keyport client's `audiences`, or have the client
//! ask for it as RFC 8707 `resource`). Without that check any token of the realm, whoever it was issued to,
//! would be accepted here.
//!
//! Access tokens are verified offline, so revoking one (or ending its login session) is seen by introspection but
//! not by this layer until the token expires (minutes), unless [`Config::introspect_access_tokens`] is set; API
//! tokens, which live for days, are always introspected.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyport_proto::oauth::IntrospectionResponse;
use keyport_proto::{ErrorBody, ErrorCode, Secret};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};

/// The prefix of keyport API tokens.
pub const API_TOKEN_PREFIX: &str = "kp_";

/// Where the realm is and how the resource server authenticates to it.
#[derive(Clone, Debug)]
pub struct Config {
    /// The realm's issuer, e.g. `https://auth.example.org/realms/aiod`. Access tokens must carry it as `iss`.
    pub issuer: String,
    /// Default `{issuer}/protocol/openid-connect/certs`.
    pub jwks_url: String,
    /// Default `{issuer}/protocol/openid-connect/token/introspect`.
    pub introspection_url: String,
    /// A confidential client of the realm (any may introspect).
    pub client_id: String,
    pub client_secret: Secret,
    /// How long an introspection answer is reused. Default one second.
    pub introspection_cache: Duration,
    /// Least time between two JWKS fetches triggered by unknown key ids. Default ten seconds.
    pub jwks_refetch_interval: Duration,
    /// Timeout of each request to keyport. Default five seconds.
    pub timeout: Duration,
    /// Also introspect access tokens (after checking their signature locally), so that a revoked access token or
    /// an ended login is refused within [`Config::introspection_cache`] instead of at the token's expiry. Costs
    /// one request to keyport per token per cache period. Default off.
    pub introspect_access_tokens: bool,
    /// Access tokens (JWTs) must name one of these in `aud` (RFC 7519 §4.1.3; keyport puts a client's
    /// `audiences`, or the RFC 8707 `resource` it asked for, there). Default: `[client_id]`, this resource
    /// server's own client id. Empty: no audience check (only for a realm whose every token is meant for you).
    /// API tokens carry no audience: their scopes bound them.
    pub audiences: Vec<String>,
}

impl Config {
    pub fn new(issuer: &str, client_id: &str, client_secret: impl Into<Secret>) -> Config {
        let issuer = issuer.trim_end_matches('/').to_owned();
        Config {
            jwks_url: format!("{issuer}/protocol/openid-connect/certs"),
            introspection_url: format!("{issuer}/protocol/openid-connect/token/introspect"),
            issuer,
            client_id: client_id.to_owned(),
            client_secret: client_secret.into(),
            introspection_cache: Duration::from_secs(1),
            jwks_refetch_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            introspect_access_tokens: false,
            audiences: vec![client_id.to_owned()],
        }
    }
}

/// What kind of token the caller presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT access token, verified against the JWKS.
    AccessToken,
    /// A keyport API token, introspected.
    ApiToken,
}

/// The authenticated caller, available to handlers as an extractor once [`VerifierLayer`] ran.
#[derive(Clone, Debug)]
pub struct Caller {
    /// `sub`: the user's id (or `service-account-…` for a client).
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    /// Realm roles (`realm_access.roles`).
    pub roles: Vec<String>,
    /// Granted scopes. For an unscoped (personal) API token keyport lists what its user's roles allow now.
    pub scopes: Vec<String>,
    /// The API token's id, or the access token's `jti`.
    pub token_id: Option<String>,
    pub kind: TokenKind,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `Err(Forbidden)` (403 `insufficient_scope`) unless the caller has `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), Forbidden> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Forbidden::scope(scope))
        }
    }

    /// The own-versus-all rule of seed 002: with `all_scope` (e.g. `read_all_session`) the caller may act on any
    /// resource; with `own_scope` (e.g. `read_user_session`) only on resources whose owner is the caller.
    pub fn may_access(&self, owner_id: &str, own_scope: &str, all_scope: &str) -> bool {
        self.has_scope(all_scope) || (self.has_scope(own_scope) && owner_id == self.user_id)
    }

    /// [`Caller::may_access`] as a `Result`. A caller lacking both scopes gets `insufficient_scope`; one with only
    /// the own scope, facing someone else's resource, gets a plain 403.
    pub fn require_access(
        &self,
        owner_id: &str,
        own_scope: &str,
        all_scope: &str,
    ) -> Result<(), Forbidden> {
        if self.may_access(owner_id, own_scope, all_scope) {
            Ok(())
        } else if self.has_scope(own_scope) {
            Err(Forbidden::not_owner(own_scope))
        } else {
            Err(Forbidden::scope(&format!("{own_scope} {all_scope}")))
        }
    }

    /// Like [`Caller::require_access`] for actions that exist only in an "own" variant (start, cancel, delete).
    pub fn require_own(&self, owner_id: &str, own_scope: &str) -> Result<(), Forbidden> {
        self.require_scope(own_scope)?;
        if owner_id == self.user_id {
            Ok(())
        } else {
            Err(Forbidden::not_owner(own_scope))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!("Caller extractor used on a route without VerifierLayer");
            Rejected::Unavailable("the route is not protected by VerifierLayer".into())
        })
    }
}

/// Why a request was refused before reaching the handler.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// 401: no token, or not an active one.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// 503: keyport could not be asked.
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        match self {
            Rejected::InvalidToken(why) => {
                let challenge = format!(
                    r#"Bearer error="invalid_token", error_description="{}""#,
                    why.replace('"', "'")
                );
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(ErrorBody::new(ErrorCode::InvalidToken, why)),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            Rejected::Unavailable(why) => {
                tracing::warn!(%why, "token verification unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(ErrorBody::new(
                        ErrorCode::TemporarilyUnavailable,
                        "token verification is unavailable; try again shortly",
                    )),
                )
                    .into_response()
            }
        }
    }
}

/// 403: the caller is known but may not do this.
#[derive(Debug)]
pub struct Forbidden {
    scope: String,
    description: String,
    insufficient_scope: bool,
}

impl Forbidden {
    /// The `scope` (space-separated alternatives) is needed.
    pub fn scope(scope: &str) -> Forbidden {
        Forbidden {
            scope: scope.to_owned(),
            description: format!("this call needs the scope `{scope}`"),
            insufficient_scope: true,
        }
    }

    /// The caller's `own_scope` covers only resources they created.
    pub fn not_owner(own_scope: &str) -> Forbidden {
        Forbidden {
            scope: own_scope.to_owned(),
            description: format!("`{own_scope}` covers only resources you created"),
            insufficient_scope: false,
        }
    }

    pub fn description(&self) -> &str {
        &self.description
    }
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        let code = if self.insufficient_scope {
            ErrorCode::InsufficientScope
        } else {
            ErrorCode::AccessDenied
        };
        let mut r = (
            StatusCode::FORBIDDEN,
            axum::Json(ErrorBody::new(code, self.description)),
        )
            .into_response();
        if self.insufficient_scope
            && let Ok(v) = HeaderValue::from_str(&format!(
                r#"Bearer error="insufficient_scope", scope="{}""#,
                self.scope
            ))
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }
}

struct JwksCache {
    set: Option<JwkSet>,
    fetched_at: Option<Instant>,
}

/// SHA-256 of a token → when keyport was asked, and its answer (`None`: inactive).
type IntrospectionCache = HashMap<[u8; 32], (Instant, Option<Caller>)>;

struct Inner {
    config: Config,
    http: reqwest::Client,
    jwks: RwLock<JwksCache>,
    /// Held by the one request fetching the JWKS (others with unknown `kid`s wait for its result). The cache
    /// lock is never held across the network: requests whose `kid` is known never wait for a fetch.
    jwks_fetch: Mutex<()>,
    /// SHA-256 of the token → (when it was asked, the answer). Never the token itself.
    introspections: Mutex<IntrospectionCache>,
    jwks_fetches: AtomicU64,
    introspection_calls: AtomicU64,
}

/// Verifies tokens of one realm. Cheap to clone (shared caches).
#[derive(Clone)]
pub struct Verifier(Arc<Inner>);

#[derive(Deserialize)]
struct AccessClaims {
    sub: String,
    #[serde(default)]
    preferred_username: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    jti: Option<String>,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    realm_access: Option<RealmAccess>,
}

#[derive(Deserialize)]
struct RealmAccess {
    #[serde(default)]
    roles: Vec<String>,
}

fn split_scopes(s: Option<&str>) -> Vec<String> {
    s.unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

impl Verifier {
    pub fn new(config: Config) -> Verifier {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("HTTP client");
        Verifier(Arc::new(Inner {
            config,
            http,
            jwks: RwLock::new(JwksCache {
                set: None,
                fetched_at: None,
            }),
            jwks_fetch: Mutex::new(()),
            introspections: Mutex::new(HashMap::new()),
            jwks_fetches: AtomicU64::new(0),
            introspection_calls: AtomicU64::new(0),
        }))
    }

    /// The tower layer that authenticates every request and puts the [`Caller`] in its extensions.
    pub fn layer(&self) -> VerifierLayer {
        VerifierLayer(self.clone())
    }

    /// How many times the JWKS was fetched (for tests and metrics).
    pub fn jwks_fetches(&self) -> u64 {
        self.0.jwks_fetches.load(Ordering::Relaxed)
    }

    /// How many introspection requests were sent (for tests and metrics).
    pub fn introspection_calls(&self) -> u64 {
        self.0.introspection_calls.load(Ordering::Relaxed)
    }

    /// Verifies a bearer token: a JWT locally, an API token by (cached) introspection.
    pub async fn verify(&self, token: &str) -> Result<Caller, Rejected> {
        if token.starts_with(API_TOKEN_PREFIX) {
            self.introspect(token, TokenKind::ApiToken).await
        } else if token.bytes().filter(|b| *b == b'.').count() == 2 {
            let caller = self.verify_jwt(token).await?;
            if self.0.config.introspect_access_tokens {
                return self.introspect(token, TokenKind::AccessToken).await;
            }
            Ok(caller)
        } else {
            Err(Rejected::InvalidToken(
                "expected an access token (JWT) or an API token (kp_…)".into(),
            ))
        }
    }

    async fn fetch_jwks(&self) -> Result<JwkSet, Rejected> {
        self.0.jwks_fetches.fetch_add(1, Ordering::Relaxed);
        let r = self
            .0
            .http
            .get(&self.0.config.jwks_url)
            .send()
            .await
            .map_err(|e| Rejected::Unavailable(format!("JWKS fetch failed: {e}")))?;
        if !r.status().is_success() {
            return Err(Rejected::Unavailable(format!(
                "JWKS fetch answered {}",
                r.status()
            )));
        }
        r.json::<JwkSet>()
            .await
            .map_err(|e| Rejected::Unavailable(format!("JWKS is unreadable: {e}")))
    }

    /// The decoding key for `kid`, fetching the JWKS when it is not cached yet or does not know `kid`.
    async fn key(&self, kid: &str) -> Result<DecodingKey, Rejected> {
        {
            let cache = self.0.jwks.read().await;
            if let Some(jwk) = cache.set.as_ref().and_then(|s| s.find(kid)) {
                return DecodingKey::from_jwk(jwk).map_err(|e| {
                    Rejected::Unavailable(format!("JWKS key {kid} is unusable: {e}"))
                });
            }
        }
        let _fetching = self.0.jwks_fetch.lock().await;
        let recently = {
            // Another request may have refreshed it while this one waited for the fetch gate.
            let cache = self.0.jwks.read().await;
            if let Some(jwk) = cache.set.as_ref().and_then(|s| s.find(kid)) {
                return DecodingKey::from_jwk(jwk).map_err(|e| {
                    Rejected::Unavailable(format!("JWKS key {kid} is unusable: {e}"))
                });
            }
            cache
                .fetched_at
                .is_some_and(|t| t.elapsed() < self.0.config.jwks_refetch_interval)
        };
        if recently {
            return Err(Rejected::InvalidToken(
                "the token is signed with an unknown key".into(),
            ));
        }
        let set = self.fetch_jwks().await?;
        let found = set.find(kid).map(DecodingKey::from_jwk);
        {
            let mut cache = self.0.jwks.write().await;
            cache.set = Some(set);
            cache.fetched_at = Some(Instant::now());
        }
        match found {
            Some(key) => {
                key.map_err(|e| Rejected::Unavailable(format!("JWKS key {kid} is unusable: {e}")))
            }
            None => Err(Rejected::InvalidToken(
                "the token is signed with an unknown key".into(),
            )),
        }
    }

    async fn verify_jwt(&self, token: &str) -> Result<Caller, Rejected> {
        let invalid = |why: &str| Rejected::InvalidToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed token"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
        ) {
            return Err(invalid("unsupported signing algorithm"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid("the token names no key id"))?;
        let key = self.key(&kid).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.0.config.issuer]);
        if self.0.config.audiences.is_empty() {
            validation.validate_aud = false;
        } else {
            validation.set_audience(&self.0.config.audiences);
        }
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
            .map_err(|_| invalid("the access token is invalid or expired"))?
            .claims;
        if claims.typ.as_deref() != Some("Bearer") {
            return Err(invalid("not an access token"));
        }
        Ok(Caller {
            username: claims
                .preferred_username
                .unwrap_or_else(|| claims.sub.clone()),
            user_id: claims.sub,
            email: claims.email,
            roles: claims.realm_access.map(|r| r.roles).unwrap_or_default(),
            scopes: split_scopes(claims.scope.as_deref()),
            token_id: claims.jti,
            kind: TokenKind::AccessToken,
        })
    }

    async fn introspect(&self, token: &str, kind: TokenKind) -> Result<Caller, Rejected> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let ttl = self.0.config.introspection_cache;
        {
            let cache = self.0.introspections.lock().await;
            if let Some((at, answer)) = cache.get(&key)
                && at.elapsed() < ttl
            {
                return answer.clone().ok_or_else(|| {
                    Rejected::InvalidToken("the token is unknown, expired or revoked".into())
                });
            }
        }
        self.0.introspection_calls.fetch_add(1, Ordering::Relaxed);
        let c = &self.0.config;
        let r = self
            .0
            .http
            .post(&c.introspection_url)
            .basic_auth(&c.client_id, Some(c.client_secret.expose()))
            .form(&[("token", token)])
            .send()
            .await
            .map_err(|e| Rejected::Unavailable(format!("introspection failed: {e}")))?;
        if !r.status().is_success() {
            return Err(Rejected::Unavailable(format!(
                "introspection answered {}",
                r.status()
            )));
        }
        let answer: IntrospectionResponse = r.json().await.map_err(|e| {
            Rejected::Unavailable(format!("introspection answer is unreadable: {e}"))
        })?;
        let caller = match answer {
            IntrospectionResponse {
                active: true,
                sub: Some(sub),
                ..
            } => Some(Caller {
                username: answer
                    .preferred_username
                    .or(answer.username)
                    .unwrap_or_else(|| sub.clone()),
                user_id: sub,
                email: answer.email,
                roles: answer.realm_access.map(|r| r.roles).unwrap_or_default(),
                scopes: split_scopes(answer.scope.as_deref()),
                token_id: answer.jti,
                kind,
            }),
            _ => None,
        };
        let mut cache = self.0.introspections.lock().await;
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
        }
        cache.insert(key, (Instant::now(), caller.clone()));
        caller.ok_or_else(|| {
            Rejected::InvalidToken("the token is unknown, expired or revoked".into())
        })
    }
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    (value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ")).then(|| value[7..].trim())
}

/// The tower layer of a [`Verifier`]: see the crate documentation.
#[derive(Clone)]
pub struct VerifierLayer(Verifier);

impl<S> tower::Layer<S> for VerifierLayer {
    type Service = VerifierService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifierService {
            verifier: self.0.clone(),
            inner,
        }
    }
}

/// The service [`VerifierLayer`] wraps around a router or handler.
#[derive(Clone)]
pub struct VerifierService<S> {
    verifier: Verifier,
    inner: S,
}

impl<S> tower::Service<Request> for VerifierService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let verifier = self.verifier.clone();
        // Take the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Some(token) = bearer(&req).map(str::to_owned) else {
                return Ok(Rejected::InvalidToken(
                    "send a token as `Authorization: Bearer`".into(),
                )
                .into_response());
            };
            match verifier.verify(&token).await {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(rejected) => Ok(rejected.into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user_id: &str, scopes: &[&str]) -> Caller {
        Caller {
            user_id: user_id.into(),
            username: user_id.into(),
            email: None,
            roles: vec![],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_id: None,
            kind: TokenKind::ApiToken,
        }
    }

    /// Seed 002's rule: `read_user_session` reads only own sessions, `read_all_session` any.
    #[test]
    fn own_versus_all() {
        let check = |scopes: &[&str], owner: &str, want: bool| {
            let c = caller("me", scopes);
            assert_eq!(
                c.may_access(owner, "read_user_session", "read_all_session"),
                want,
                "{scopes:?} on {owner}'s"
            );
            assert_eq!(
                c.require_access(owner, "read_user_session", "read_all_session")
                    .is_ok(),
                want
            );
        };
        check(&["read_user_session"], "me", true);
        check(&["read_user_session"], "you", false);
        check(&["read_all_session"], "you", true);
        check(&["read_all_session"], "me", true);
        check(&["create_session"], "me", false);
        check(&[], "me", false);
    }

    #[test]
    fn own_only_actions_and_scope_errors() {
        let c = caller("me", &["cancel_user_session"]);
        assert!(c.require_own("me", "cancel_user_session").is_ok());
        let not_owner = c.require_own("you", "cancel_user_session").unwrap_err();
        assert!(!not_owner.insufficient_scope);
        let no_scope = c.require_own("me", "delete_user_session").unwrap_err();
        assert!(no_scope.insufficient_scope);
        let r = no_scope.into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains(r#"scope="delete_user_session""#)
        );
    }
}
