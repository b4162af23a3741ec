//! `[realms.rate_limits]`: how many requests the token endpoint and the device authorization endpoint accept
//! (issue 11, item 3). Every value is a number per minute; the defaults suit a realm serving people (device
//! logins, refreshes) and services (client credentials) from behind a trusted proxy, and
//! `bench/keyport.toml` raises them for the load test. Public clients get the tighter defaults: anyone can
//! claim to be one.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Per client address (an IPv4 address or an IPv6 /64, behind `server.trusted_proxies`) and per client, each a
/// number per minute. The per-address and per-client token limits are counted by each replica in memory; the
/// per-client device-authorization ceiling is counted in the store, so it holds for all replicas together.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Requests to the token endpoint from one client address, per replica, counted before the client is
    /// authenticated. Over it: 429 with `Retry-After` (`slow_down` with 400 for device-code polls, RFC 8628
    /// §3.5).
    pub token_requests_per_address: u32,
    /// Token requests of one public client, per replica, after client authentication.
    pub public_client_token_requests: u32,
    /// Token requests of one confidential client, per replica, after client authentication.
    pub confidential_client_token_requests: u32,
    /// Device authorizations started from one client address, per replica, before client authentication.
    pub device_authorizations_per_address: u32,
    /// Device authorizations one public client may start, all replicas together (counted in the store).
    pub public_client_device_authorizations: u32,
    /// Device authorizations one confidential client may start, all replicas together (counted in the store).
    pub confidential_client_device_authorizations: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            token_requests_per_address: 1200,
            public_client_token_requests: 3000,
            confidential_client_token_requests: 30_000,
            device_authorizations_per_address: 30,
            public_client_device_authorizations: 300,
            confidential_client_device_authorizations: 3000,
        }
    }
}

impl RateLimitConfig {
    /// Every limit is at least 1 a minute.
    pub(super) fn validate(&self, key: &str) -> Result<(), ConfigError> {
        for (field, value) in [
            (
                "token_requests_per_address",
                self.token_requests_per_address,
            ),
            (
                "public_client_token_requests",
                self.public_client_token_requests,
            ),
            (
                "confidential_client_token_requests",
                self.confidential_client_token_requests,
            ),
            (
                "device_authorizations_per_address",
                self.device_authorizations_per_address,
            ),
            (
                "public_client_device_authorizations",
                self.public_client_device_authorizations,
            ),
            (
                "confidential_client_device_authorizations",
                self.confidential_client_device_authorizations,
            ),
        ] {
            if value == 0 {
                return Err(invalid(
                    format!("{key}.rate_limits.{field}"),
                    "must be at least 1 (a number of requests per minute)",
                ));
            }
        }
        Ok(())
    }
}
