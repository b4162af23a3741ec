//! Client authentication at the token, device, introspection, revocation and logout endpoints.

use std::sync::Arc;

use keyport_proto::{ErrorCode, Secret, constant_time_eq};

use super::{Result, invalid_request, oauth};
use crate::config::Grant;
use crate::crypto::sha256_digits;
use crate::state::{AppState, Realm};
use crate::store::Client;

/// How the client presented itself, as parsed from the request by the HTTP layer.
#[derive(Debug, Default)]
pub struct Presented {
    /// From `Authorization: Basic` (client_secret_basic).
    pub basic: Option<(String, Secret)>,
    /// `client_id` form parameter.
    pub client_id: Option<String>,
    /// `client_secret` form parameter (client_secret_post).
    pub client_secret: Option<Secret>,
}

/// Keycloak's words for every client-authentication failure: unknown client, missing secret, wrong secret.
const UNKNOWN_OR_BAD: &str = "Invalid client or Invalid client credentials";

fn invalid_client(description: &str) -> super::Error {
    oauth(ErrorCode::InvalidClient, description)
}

/// A client of the realm by id, through the per-replica cache (shared with it: no copy per request).
pub async fn find(app: &AppState, realm: &Realm, client_id: &str) -> Result<Option<Arc<Client>>> {
    if let Some(c) = app.caches.client(&realm.name, client_id) {
        return Ok(Some(c));
    }
    let generation = app.caches.generation();
    let client = app
        .store
        .client(&realm.name, client_id)
        .await?
        .map(Arc::new);
    if let Some(client) = &client {
        app.caches.put_client(generation, client);
    }
    Ok(client)
}

/// Authenticates a client: confidential clients must prove their secret, public clients name themselves.
pub async fn authenticate(
    app: &AppState,
    realm: &Realm,
    presented: Presented,
) -> Result<Arc<Client>> {
    let (client_id, secret) = match (presented.basic, presented.client_secret) {
        (Some(_), Some(_)) => {
            return Err(invalid_request(
                "use one client authentication method, not both Basic and client_secret",
            ));
        }
        (Some((id, secret)), None) => {
            if let Some(form_id) = &presented.client_id
                && form_id != &id
            {
                return Err(invalid_request(
                    "client_id does not match the Authorization header",
                ));
            }
            (id, Some(secret))
        }
        (None, secret) => {
            let id = presented
                .client_id
                .ok_or_else(|| invalid_client("client_id is missing"))?;
            (id, secret)
        }
    };
    let client = find(app, realm, &client_id)
        .await?
        .ok_or_else(|| invalid_client(UNKNOWN_OR_BAD))?;
    if client.public {
        return Ok(client);
    }
    // The same words as for an unknown client: an anonymous caller must not learn which client ids exist
    // and are confidential.
    let secret = secret.ok_or_else(|| invalid_client(UNKNOWN_OR_BAD))?;
    let expected = client.secret_hash.as_deref().unwrap_or("");
    if !constant_time_eq(
        sha256_digits(secret.expose()).as_str().as_bytes(),
        expected.as_bytes(),
    ) {
        return Err(invalid_client(UNKNOWN_OR_BAD));
    }
    Ok(client)
}

/// `unauthorized_client` unless the client may use `grant`.
pub fn require_grant(client: &Client, grant: Grant) -> Result<()> {
    if client.grants.contains(&grant) {
        Ok(())
    } else {
        Err(oauth(
            ErrorCode::UnauthorizedClient,
            format!(
                "client `{}` is not allowed to use the {} grant",
                client.client_id,
                grant.as_str()
            ),
        ))
    }
}

/// Introspection is for confidential clients (resource servers), as in Keycloak.
pub fn require_confidential(client: &Client) -> Result<()> {
    if client.public {
        Err(oauth(
            ErrorCode::InvalidClient,
            "public clients may not introspect tokens",
        ))
    } else {
        Ok(())
    }
}
