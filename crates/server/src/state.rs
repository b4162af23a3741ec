//! [`AppState`]: everything a request needs, passed through axum's `State`. No globals, so a test can run
//! several servers in one process.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::cache::Caches;
use crate::clock::Clock;
use crate::config::{RealmConfig, ServerConfig};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::store::{RefreshQueues, Store};
use crate::usage::UsageLog;

pub use crate::config::STANDARD_SCOPES;

/// A realm at run time.
pub struct Realm {
    pub name: String,
    /// `{public_url}{base_path}/realms/{name}`.
    pub issuer: String,
    pub config: RealmConfig,
    /// Every scope a client of the realm may be allowed: the standard ones, the realm's, and `admin`.
    pub allowed_scopes: HashSet<String>,
}

impl Realm {
    pub fn new(config: RealmConfig, public_url: &str, base_path: &str) -> Realm {
        let issuer = format!("{public_url}{base_path}/realms/{}", config.name);
        let allowed_scopes = STANDARD_SCOPES
            .iter()
            .map(|s| s.to_string())
            .chain(config.scopes.iter().cloned())
            .chain(config.default_scopes.iter().cloned())
            .chain([crate::config::ADMIN_SCOPE.to_owned()])
            .collect();
        Realm {
            name: config.name.clone(),
            issuer,
            config,
            allowed_scopes,
        }
    }

    /// `{issuer}/protocol/openid-connect/{path}`.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}/protocol/openid-connect/{path}", self.issuer)
    }

    /// The device verification page.
    pub fn verification_uri(&self) -> String {
        format!("{}/device", self.issuer)
    }
}

pub struct Inner {
    pub settings: ServerConfig,
    /// Without a trailing slash.
    pub public_url: String,
    pub realms: HashMap<String, Realm>,
    pub store: Arc<dyn Store>,
    pub keys: KeyRing,
    pub clock: Arc<dyn Clock>,
    /// Clients and API tokens, with the staleness bound of [`crate::cache`].
    pub caches: Caches,
    /// API-token uses waiting to be written ([`crate::usage`]).
    pub usage: Arc<UsageLog>,
    /// The refresh grant's reads and rotations, grouped across requests ([`RefreshQueues`]).
    pub refresh: RefreshQueues,
    /// Upstream identity providers: configuration, client secrets, cached discovery and JWKS.
    pub federation: crate::domain::federation::Upstreams,
    /// Prometheus metrics of this server ([`crate::metrics`]).
    pub metrics: Metrics,
    /// Peers whose `X-Request-Id` is kept (`server.trusted_proxies`, parsed).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Per-address and per-client request limits of this replica ([`crate::rate_limit`]).
    pub limits: crate::rate_limit::Limiters,
    /// Device-code polls worked on at once, and those shed ([`crate::domain::device_code::PollGate`]).
    pub device_polls: crate::domain::device_code::PollGate,
    /// Failed API-token presentations, counted in memory and summarised ([`crate::domain::audit`]).
    pub failed_tokens: crate::domain::audit::FailedTokens,
}

#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn realm(&self, name: &str) -> Option<&Realm> {
        self.realms.get(name)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Call after committing a change to clients, users or API tokens: drops this replica's caches and tells
    /// the other replicas to drop theirs. A failure to tell them is logged, not returned: the change is made,
    /// and their caches expire within [`crate::cache::TTL`] anyway.
    pub async fn changed(&self) {
        self.caches.invalidate();
        if let Err(e) = self.store.publish_change().await {
            tracing::warn!(error = %e, "cannot notify other replicas of a change; their caches expire on their own");
        }
    }

    /// Cookies get the `Secure` flag when the public URL is HTTPS.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}
