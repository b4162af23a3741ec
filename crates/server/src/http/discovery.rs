//! Discovery documents: OpenID configuration, Keycloak's realm document and the JWKS.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use keyport_proto::oauth::{Jwks, ProviderMetadata, RealmInfo};

use super::{ApiError, realm};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}", get(realm_info))
        .route(
            "/realms/{realm}/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/realms/{realm}/protocol/openid-connect/certs", get(certs))
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn openid_configuration(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ProviderMetadata>, ApiError> {
    let realm = realm(&app, &name)?;
    let auth_methods = strings(&["client_secret_basic", "client_secret_post"]);
    let mut scopes: Vec<String> = realm.allowed_scopes.iter().cloned().collect();
    scopes.sort();
    Ok(Json(ProviderMetadata {
        issuer: realm.issuer.clone(),
        authorization_endpoint: realm.endpoint("auth"),
        token_endpoint: realm.endpoint("token"),
        introspection_endpoint: realm.endpoint("token/introspect"),
        userinfo_endpoint: realm.endpoint("userinfo"),
        end_session_endpoint: realm.endpoint("logout"),
        jwks_uri: realm.endpoint("certs"),
        device_authorization_endpoint: realm.endpoint("auth/device"),
        revocation_endpoint: realm.endpoint("revoke"),
        grant_types_supported: strings(&[
            "urn:ietf:params:oauth:grant-type:device_code",
            "refresh_token",
            "client_credentials",
            "password",
            "authorization_code",
        ]),
        response_types_supported: strings(&["code"]),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: strings(&["RS256", "ES256", "EdDSA"]),
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        introspection_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint_auth_methods_supported: auth_methods,
        scopes_supported: scopes,
        claims_supported: strings(&[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "azp",
            "sid",
            "preferred_username",
            "email",
            "name",
            "realm_access",
            "nonce",
            "at_hash",
            "acr",
            "amr",
        ]),
        code_challenge_methods_supported: strings(&["S256"]),
        response_modes_supported: strings(&["query", "fragment", "form_post"]),
        prompt_values_supported: strings(&["none", "login", "consent"]),
        authorization_response_iss_parameter_supported: true,
        claims_parameter_supported: false,
        request_parameter_supported: false,
        request_uri_parameter_supported: false,
    }))
}

async fn realm_info(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RealmInfo>, ApiError> {
    let realm = realm(&app, &name)?;
    Ok(Json(RealmInfo {
        realm: realm.name.clone(),
        public_key: app.keys.rsa_public_key_b64().to_owned(),
        token_service: format!("{}/protocol/openid-connect", realm.issuer),
        account_service: format!("{}/account", realm.issuer),
        tokens_not_before: 0,
    }))
}

async fn certs(
    State(app): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Jwks>, ApiError> {
    realm(&app, &name)?;
    Ok(Json(app.keys.jwks()))
}
