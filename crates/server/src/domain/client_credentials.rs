//! The client credentials grant (RFC 6749 §4.4): a bot's access token, no refresh token.

use keyport_proto::oauth::TokenResponse;

use super::tokens::{self, Subject};
use super::{Result, client_auth, scope};
use crate::config::Grant;
use crate::state::{AppState, Realm};
use crate::store::Client;

pub fn grant(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    requested_scope: Option<&str>,
) -> Result<TokenResponse> {
    client_auth::require_grant(client, Grant::ClientCredentials)?;
    let mut scope = scope::resolve(realm, client, requested_scope)?;
    // As in Keycloak, a service account gets `openid` (and so an ID token) only when it asks for it: a bot has no
    // end-user sign-in to describe, and an RS256 ID token nobody reads would cost more than the access token.
    if !requested_scope.is_some_and(|s| scope::contains(s, "openid"))
        && scope::contains(&scope, "openid")
    {
        scope = scope::without(&scope, "openid");
    }
    let account = tokens::service_account_name(client);
    Ok(tokens::respond(
        app,
        tokens::Grant {
            realm,
            client,
            subject: Subject::service_account(client, &account),
            session_id: None,
            auth_time: app.now(),
            scope,
            refresh: None,
            sign_in: Default::default(),
        },
    ))
}
