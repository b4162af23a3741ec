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

mod caller;
mod layer;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyport_proto::Secret;
use keyport_proto::oauth::IntrospectionResponse;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, RwLock};

pub use caller::{Caller, Forbidden, Rejected, TokenKind};
pub use layer::{VerifierLayer, VerifierService};

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
