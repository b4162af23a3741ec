//! The request limits of the token endpoint and the device authorization endpoint (issue 11, item 3;
//! `[realms.rate_limits]`). Per client address (before client authentication, so an anonymous flood is
//! refused before it costs a lookup) and per authenticated client, in this replica's memory
//! ([`crate::rate_limit`]); plus the per-client ceiling of device authorizations that all replicas share,
//! counted in the store ([`device_code::count_authorization`]).
//!
//! Answers over a limit (RFC 6585 §4, RFC 6749 §5.2, RFC 8628 §3.5):
//! - a device-code poll: 400 `slow_down`, as RFC 8628 prescribes (the device adds 5 s to its interval);
//! - any other token request and a device authorization: 429 Too Many Requests with `Retry-After` (seconds) and
//!   an RFC 6749 §5.2 body whose `error` is `slow_down` (the registered code for "too fast" at the token
//!   endpoint; RFC 6749 has none of its own).

use std::net::SocketAddr;

use axum::http::{HeaderMap, StatusCode};
use keyport_proto::ErrorCode;
use keyport_proto::oauth::grant_type;

use super::{ApiError, client_ip};
use crate::domain::device_code;
use crate::rate_limit::Kind;
use crate::state::{AppState, Realm};
use crate::store::Client;

/// The key a request's address is counted under (`client_ip::rate_key` behind `server.trusted_proxies`).
pub fn address(app: &AppState, peer: SocketAddr, headers: &HeaderMap) -> String {
    client_ip::rate_key(client_ip::client_ip(
        peer,
        headers,
        &app.settings.trusted_proxies,
    ))
}

fn too_many(retry_after: u64, description: &str) -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::SlowDown,
        format!("{description}; try again in {retry_after} s"),
    )
    .retry_after(retry_after)
}

/// The answer to a token request over a limit: `slow_down` for device-code polls, else 429.
fn token_refused(grant: &str, retry_after: u64, description: &str) -> ApiError {
    if grant == grant_type::DEVICE_CODE {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::SlowDown,
            format!("{description}; poll less often"),
        )
    } else {
        too_many(retry_after, description)
    }
}

/// A token request from `address`, before the client is authenticated.
pub fn token_by_address(
    app: &AppState,
    realm: &Realm,
    grant: &str,
    address: &str,
) -> Result<(), ApiError> {
    app.limits
        .check(&realm.name, Kind::TokenByAddress, address)
        .map_err(|wait| token_refused(grant, wait, "too many token requests from this address"))
}

/// A token request of an authenticated client.
pub fn token_by_client(
    app: &AppState,
    realm: &Realm,
    grant: &str,
    client: &Client,
) -> Result<(), ApiError> {
    let kind = Kind::TokenByClient {
        public: client.public,
    };
    app.limits
        .check(&realm.name, kind, &client.client_id)
        .map_err(|wait| token_refused(grant, wait, "too many token requests for this client"))
}

/// A device authorization from `address`, before the client is authenticated.
pub fn device_by_address(app: &AppState, realm: &Realm, address: &str) -> Result<(), ApiError> {
    app.limits
        .check(&realm.name, Kind::DeviceByAddress, address)
        .map_err(|wait| too_many(wait, "too many device authorizations from this address"))
}

/// A device authorization of an authenticated client: this replica's limiter first (so a flood reaches the
/// store at most at the configured rate per replica), then the ceiling all replicas share.
pub async fn device_by_client(
    app: &AppState,
    realm: &Realm,
    client: &Client,
) -> Result<(), ApiError> {
    let description = "too many device authorizations for this client";
    let kind = Kind::DeviceByClient {
        public: client.public,
    };
    app.limits
        .check(&realm.name, kind, &client.client_id)
        .map_err(|wait| too_many(wait, description))?;
    match device_code::count_authorization(app, realm, client).await? {
        Some(wait) => Err(too_many(wait, description)),
        None => Ok(()),
    }
}
