//! The upstream providers of every realm, as this replica knows them: configuration, the client secret (resolved
//! once at start), and the provider's discovery document and JWKS, cached with a TTL (read from the injected
//! clock) and refetched on an unknown `kid` at most once per [`JWKS_REFETCH_INTERVAL`].

use std::collections::HashMap;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use keyport_proto::Secret;
use serde::Deserialize;
use tokio::sync::RwLock;

use super::Failure;
use crate::config::{IdentityProviderConfig, RealmConfig};

/// How long a provider's discovery document and JWKS are used before they are fetched again.
pub const METADATA_TTL: i64 = 3600;
/// An ID token signed with a key the cached JWKS lacks makes the JWKS be fetched again, at most this often.
pub const JWKS_REFETCH_INTERVAL: i64 = 10;
/// Every call to a provider (discovery, JWKS, code exchange) gives up after this long.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);
/// Clock skew allowed on `exp` and `iat` of an upstream ID token.
const LEEWAY: i64 = 30;

/// A start-up error: a provider's client secret cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SecretError {
    pub key: String,
    pub message: String,
}

/// The parts of a provider's discovery document keyport uses.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
}

struct Cached {
    metadata: Metadata,
    jwks: JwkSet,
    fetched_at: i64,
    jwks_fetched_at: i64,
}

/// One configured provider.
pub struct Upstream {
    pub realm: String,
    pub config: IdentityProviderConfig,
    secret: Option<Secret>,
    cache: RwLock<Option<Cached>>,
}

/// Every realm's providers, by (realm, alias), and the HTTP client that calls them.
pub struct Upstreams {
    providers: HashMap<(String, String), Upstream>,
    http: reqwest::Client,
}

/// What a provider's token endpoint answers (only the ID token is used).
#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

/// The ID-token claims keyport reads; `extra` holds the rest (for `username_claim`).
#[derive(Debug, Deserialize)]
pub struct IdClaims {
    pub sub: String,
    pub exp: i64,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Upstreams {
    /// The providers of `realms`, with their client secrets read from value, file or environment.
    pub fn new(realms: &[RealmConfig]) -> Result<Upstreams, SecretError> {
        let mut providers = HashMap::new();
        for realm in realms {
            for idp in &realm.identity_providers {
                let key = format!("realms.{}.identity_providers.{}", realm.name, idp.alias);
                let secret = client_secret(&key, idp)?;
                providers.insert(
                    (realm.name.clone(), idp.alias.clone()),
                    Upstream {
                        realm: realm.name.clone(),
                        config: idp.clone(),
                        secret,
                        cache: RwLock::new(None),
                    },
                );
            }
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(UPSTREAM_TIMEOUT)
            .connect_timeout(UPSTREAM_TIMEOUT)
            .build()
            .expect("the HTTP client builds");
        Ok(Upstreams { providers, http })
    }

    pub fn get(&self, realm: &str, alias: &str) -> Option<&Upstream> {
        self.providers.get(&(realm.to_owned(), alias.to_owned()))
    }

    /// The provider's discovery document (cached).
    pub async fn metadata(&self, up: &Upstream, now: i64) -> Result<Metadata, Failure> {
        if let Some(c) = up.cache.read().await.as_ref()
            && now - c.fetched_at < METADATA_TTL
        {
            return Ok(c.metadata.clone());
        }
        let mut cache = up.cache.write().await;
        if let Some(c) = cache.as_ref()
            && now - c.fetched_at < METADATA_TTL
        {
            return Ok(c.metadata.clone());
        }
        let fresh = self.fetch(up, now).await?;
        let metadata = fresh.metadata.clone();
        *cache = Some(fresh);
        Ok(metadata)
    }

    async fn fetch(&self, up: &Upstream, now: i64) -> Result<Cached, Failure> {
        let issuer = up.config.issuer.trim_end_matches('/');
        let url = format!("{issuer}/.well-known/openid-configuration");
        let metadata: Metadata = self.get_json(up, &url).await?;
        if metadata.issuer != up.config.issuer {
            tracing::warn!(realm = %up.realm, alias = %up.config.alias, "upstream discovery names another issuer");
            return Err(Failure::WrongIssuer);
        }
        let jwks: JwkSet = self.get_json(up, &metadata.jwks_uri).await?;
        Ok(Cached {
            metadata,
            jwks,
            fetched_at: now,
            jwks_fetched_at: now,
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        up: &Upstream,
        url: &str,
    ) -> Result<T, Failure> {
        let unreachable = |what: &str| {
            tracing::warn!(realm = %up.realm, alias = %up.config.alias, what, "upstream provider unavailable");
            Failure::UpstreamDown
        };
        let r = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|_| unreachable("no answer"))?;
        if !r.status().is_success() {
            return Err(unreachable("error status"));
        }
        r.json().await.map_err(|_| unreachable("unreadable answer"))
    }

    /// Exchanges `code` at the provider's token endpoint (client_secret_basic, or none for a public client):
    /// the ID token.
    pub async fn exchange(
        &self,
        up: &Upstream,
        metadata: &Metadata,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<String, Failure> {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
            ("client_id", up.config.client_id.as_str()),
        ];
        let mut request = self.http.post(&metadata.token_endpoint).form(&form);
        if let Some(secret) = &up.secret {
            // RFC 6749 §2.3.1: both parts form-encoded before Basic.
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.basic_auth(enc(&up.config.client_id), Some(enc(secret.expose())));
        }
        let fail = |what: &str| {
            tracing::warn!(realm = %up.realm, alias = %up.config.alias, what, "upstream code exchange failed");
            Failure::UpstreamRefused
        };
        let r = request.send().await.map_err(|_| {
            tracing::warn!(realm = %up.realm, alias = %up.config.alias, "upstream token endpoint unreachable");
            Failure::UpstreamDown
        })?;
        if !r.status().is_success() {
            return Err(fail("error status"));
        }
        let body: TokenResponse = r.json().await.map_err(|_| fail("unreadable answer"))?;
        body.id_token.ok_or_else(|| fail("no id_token"))
    }

    /// Verifies an upstream ID token: signature (by the provider's JWKS), `iss`, `aud` containing our client
    /// id, `exp` (against the injected clock) and the `nonce` whose hash the pending sign-in kept.
    pub async fn verify(
        &self,
        up: &Upstream,
        id_token: &str,
        nonce_hash: &str,
        now: i64,
    ) -> Result<IdClaims, Failure> {
        let bad = |what: &str| {
            tracing::warn!(realm = %up.realm, alias = %up.config.alias, what, "upstream ID token rejected");
            Failure::BadIdToken
        };
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| bad("malformed"))?;
        if !matches!(
            header.alg,
            Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512
                | Algorithm::ES256
                | Algorithm::ES384
                | Algorithm::EdDSA
        ) {
            return Err(bad("algorithm not accepted"));
        }
        let key = self.key(up, header.kid.as_deref(), now).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&up.config.issuer]);
        validation.set_audience(&[&up.config.client_id]);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp"]);
        // `exp` is checked below against the injected clock, not the wall clock.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => Failure::WrongIssuer,
                _ => bad("signature or claims"),
            }
        })?;
        let claims = data.claims;
        if claims.exp + LEEWAY < now {
            return Err(bad("expired"));
        }
        if claims.iat.is_some_and(|iat| iat > now + LEEWAY) {
            return Err(bad("issued in the future"));
        }
        let nonce_ok = claims.nonce.as_deref().is_some_and(|n| {
            keyport_proto::constant_time_eq(
                crate::crypto::sha256_hex(n).as_bytes(),
                nonce_hash.as_bytes(),
            )
        });
        if !nonce_ok {
            return Err(bad("nonce"));
        }
        Ok(claims)
    }

    /// The key that signed a token: from the cached JWKS, fetched again when it lacks `kid` (rate-limited).
    async fn key(
        &self,
        up: &Upstream,
        kid: Option<&str>,
        now: i64,
    ) -> Result<DecodingKey, Failure> {
        let find = |jwks: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(kid) => jwks.find(kid)?,
                // A token without `kid` is accepted only from a provider with a single key.
                None if jwks.keys.len() == 1 => &jwks.keys[0],
                None => return None,
            };
            DecodingKey::from_jwk(jwk).ok()
        };
        if let Some(c) = up.cache.read().await.as_ref()
            && let Some(key) = find(&c.jwks)
        {
            return Ok(key);
        }
        let mut cache = up.cache.write().await;
        let refetch = match cache.as_ref() {
            Some(c) => now - c.jwks_fetched_at >= JWKS_REFETCH_INTERVAL,
            None => true,
        };
        if refetch {
            let fresh = self.fetch(up, now).await?;
            *cache = Some(fresh);
        }
        cache
            .as_ref()
            .and_then(|c| find(&c.jwks))
            .ok_or_else(|| {
                tracing::warn!(realm = %up.realm, alias = %up.config.alias, "upstream ID token signed by an unknown key");
                Failure::BadIdToken
            })
    }
}

/// The provider's client secret from `client_secret`, `client_secret_file` or `client_secret_env`; `None` for a
/// public client.
fn client_secret(key: &str, idp: &IdentityProviderConfig) -> Result<Option<Secret>, SecretError> {
    let secret = if let Some(s) = &idp.client_secret {
        Some(s.expose().to_owned())
    } else if let Some(path) = &idp.client_secret_file {
        let text = std::fs::read_to_string(path).map_err(|e| SecretError {
            key: format!("{key}.client_secret_file"),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Some(text.trim().to_owned())
    } else if let Some(var) = &idp.client_secret_env {
        Some(std::env::var(var).map_err(|_| SecretError {
            key: format!("{key}.client_secret_env"),
            message: format!("environment variable {var} is not set"),
        })?)
    } else {
        None
    };
    if secret.as_deref() == Some("") {
        return Err(SecretError {
            key: key.to_owned(),
            message: "the client secret is empty".into(),
        });
    }
    Ok(secret.map(Secret::new))
}
