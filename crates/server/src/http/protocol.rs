//! The OpenID Connect protocol endpoints under `/realms/{realm}/protocol/openid-connect/`.

use axum::Router;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keyport_proto::oauth::grant_type;
use keyport_proto::{ErrorCode, Secret};
use std::net::SocketAddr;
use std::sync::Arc;

use super::form::WithHeaders;
use super::{ApiError, Form, no_store, no_store_introspection, no_store_token, rate_limit, realm};
use crate::domain::client_auth::{self, Presented};
use crate::domain::{
    authorization_code, client_credentials, device_code, inspect, password, refresh_token, tokens,
};
use crate::state::AppState;
use crate::store::Client;

pub fn router() -> Router<AppState> {
    let p = "/realms/{realm}/protocol/openid-connect";
    Router::new()
        .route(&format!("{p}/token"), post(token))
        .route(&format!("{p}/auth/device"), post(device_authorization))
        .route(&format!("{p}/token/introspect"), post(introspect))
        .route(&format!("{p}/revoke"), post(revoke))
        .route(&format!("{p}/logout"), post(logout))
        .route(
            &format!("{p}/userinfo"),
            get(userinfo_get).post(userinfo_post),
        )
}

fn bad(code: ErrorCode, description: &str) -> ApiError {
    ApiError::new(super::status_of(code), code, description)
}

/// Client credentials from `Authorization: Basic` (RFC 6749 §2.3.1: both parts form-urlencoded) and the form.
fn presented(headers: &HeaderMap, form: &Form) -> Result<Presented, ApiError> {
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        Some(value) if value.len() > 6 && value[..6].eq_ignore_ascii_case("basic ") => {
            let malformed = || bad(ErrorCode::InvalidClient, "malformed Basic credentials");
            let decoded = STANDARD
                .decode(value[6..].trim())
                .map_err(|_| malformed())?;
            let text = String::from_utf8(decoded).map_err(|_| malformed())?;
            let (id, secret) = text.split_once(':').ok_or_else(malformed)?;
            let unescape = |s: &str| {
                form_urlencoded_decode(s)
                    .ok_or_else(|| bad(ErrorCode::InvalidClient, "malformed Basic credentials"))
            };
            Some((unescape(id)?, Secret::new(unescape(secret)?)))
        }
        _ => None,
    };
    Ok(Presented {
        basic,
        client_id: form.get("client_id").map(str::to_owned),
        client_secret: form.get("client_secret").map(Secret::from),
    })
}

/// Form-decodes one value (`+` is a space, `%XX` a byte); a literal `&` or `=` stays as it is.
fn form_urlencoded_decode(s: &str) -> Option<String> {
    // Most client ids and secrets have nothing to decode: no parse, no allocation but the copy.
    if !s.contains(['%', '+']) {
        return Some(s.to_owned());
    }
    let escaped = s.replace('&', "%26").replace('=', "%3D");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&format!("v={escaped}")).ok()?;
    pairs.into_iter().next().map(|(_, v)| v)
}

const KNOWN_GRANTS: [&str; 5] = [
    grant_type::DEVICE_CODE,
    grant_type::REFRESH_TOKEN,
    grant_type::CLIENT_CREDENTIALS,
    grant_type::PASSWORD,
    grant_type::AUTHORIZATION_CODE,
];

async fn token(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    WithHeaders { headers, form }: WithHeaders,
) -> Result<Response, ApiError> {
    let realm = realm(&app, &name)?;
    let grant = form.required("grant_type")?;
    if !KNOWN_GRANTS.contains(&grant) {
        return Err(bad(
            ErrorCode::UnsupportedGrantType,
            &format!("grant type `{grant}` is not supported"),
        ));
    }
    let started = std::time::Instant::now();
    let address = rate_limit::address(&app, peer, &headers);
    let result = match rate_limit::token_by_address(&app, realm, grant, &address) {
        Ok(()) => grant_tokens(&app, realm, grant, &address, &headers, &form).await,
        Err(e) => Err(e),
    };
    let outcome = match &result {
        Ok((client, _)) => {
            app.metrics
                .tokens_issued
                .with_label_values(&[realm.name.as_str(), grant, client.client_id.as_str()])
                .inc();
            "success"
        }
        Err(e) => e.code_str(),
    };
    app.metrics
        .grant_seconds
        .with_label_values(&[grant, outcome])
        .observe(started.elapsed().as_secs_f64());
    result.map(|(_, response)| no_store_token(&response))
}

/// Authenticates the client and runs a known grant: the client id and the token response.
async fn grant_tokens(
    app: &AppState,
    realm: &crate::state::Realm,
    grant: &str,
    address: &str,
    headers: &HeaderMap,
    form: &Form,
) -> Result<(Arc<Client>, keyport_proto::oauth::TokenResponse), ApiError> {
    let client = client_auth::authenticate(app, realm, presented(headers, form)?).await?;
    rate_limit::token_by_client(app, realm, grant, &client)?;
    // RFC 8707: the access token is for the named resource only (one of the client's audiences).
    let client = tokens::for_resource(client, form.get("resource"))?;
    let scope = form.get("scope");
    let response = match grant {
        grant_type::DEVICE_CODE => {
            device_code::poll(app, realm, &client, form.required("device_code")?).await?
        }
        grant_type::REFRESH_TOKEN => {
            refresh_token::refresh(app, realm, &client, form.required("refresh_token")?, scope)
                .await?
        }
        grant_type::CLIENT_CREDENTIALS => client_credentials::grant(app, realm, &client, scope)?,
        grant_type::PASSWORD => {
            password::grant(
                app,
                realm,
                &client,
                form.get("username"),
                form.get("password"),
                scope,
                address,
            )
            .await?
        }
        _ => {
            authorization_code::redeem(
                app,
                realm,
                &client,
                form.required("code")?,
                form.get("redirect_uri"),
                form.get("code_verifier"),
            )
            .await?
        }
    };
    Ok((client, response))
}

async fn device_authorization(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    WithHeaders { headers, form }: WithHeaders,
) -> Result<Response, ApiError> {
    let realm = realm(&app, &name)?;
    rate_limit::device_by_address(&app, realm, &rate_limit::address(&app, peer, &headers))?;
    let client = client_auth::authenticate(&app, realm, presented(&headers, &form)?).await?;
    rate_limit::device_by_client(&app, realm, &client).await?;
    let response = device_code::authorize(&app, realm, &client, form.get("scope")).await?;
    Ok(no_store(response))
}

async fn introspect(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    WithHeaders { headers, form }: WithHeaders,
) -> Result<Response, ApiError> {
    let realm = realm(&app, &name)?;
    let client = client_auth::authenticate(&app, realm, presented(&headers, &form)?).await?;
    client_auth::require_confidential(&client)?;
    let from = rate_limit::address(&app, peer, &headers);
    let response = inspect::introspect(&app, realm, form.required("token")?, &from).await?;
    Ok(no_store_introspection(&response.view()))
}

async fn revoke(
    State(app): State<AppState>,
    Path(name): Path<String>,
    WithHeaders { headers, form }: WithHeaders,
) -> Result<Response, ApiError> {
    let realm = realm(&app, &name)?;
    let client = client_auth::authenticate(&app, realm, presented(&headers, &form)?).await?;
    inspect::revoke(&app, realm, &client, form.required("token")?).await?;
    Ok(StatusCode::OK.into_response())
}

/// POST logout: with a `refresh_token`, the back-channel form python-keycloak sends (client authentication,
/// 204); without one, RP-initiated logout from a browser (`pages`).
async fn logout(
    State(app): State<AppState>,
    Path(name): Path<String>,
    WithHeaders { headers, form }: WithHeaders,
) -> Result<Response, ApiError> {
    if form.get("refresh_token").is_none() {
        return super::pages::rp_initiated_logout(&app, &name, &headers, &form).await;
    }
    let realm = realm(&app, &name)?;
    let client = client_auth::authenticate(&app, realm, presented(&headers, &form)?).await?;
    inspect::logout(&app, realm, &client, form.get("refresh_token")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    (value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ")).then(|| value[7..].trim())
}

async fn userinfo(
    app: &AppState,
    name: &str,
    token: Option<&str>,
    from: &str,
) -> Result<Response, ApiError> {
    let realm = realm(app, name)?;
    let token = token.ok_or_else(|| {
        bad(
            ErrorCode::InvalidToken,
            "send the access token as `Authorization: Bearer`",
        )
    })?;
    Ok(no_store(inspect::userinfo(app, realm, token, from).await?))
}

async fn userinfo_get(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let from = rate_limit::address(&app, peer, &headers);
    userinfo(&app, &name, bearer(&headers), &from).await
}

async fn userinfo_post(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // RFC 6750 §2.2 also allows the token as a form parameter of a POST.
    let form_token = Form::parse(&body)
        .ok()
        .and_then(|f| f.get("access_token").map(str::to_owned));
    let token = bearer(&headers).map(str::to_owned).or(form_token);
    let from = rate_limit::address(&app, peer, &headers);
    userinfo(&app, &name, token.as_deref(), &from).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn basic_credentials_are_form_decoded() {
        for (raw, decoded) in [
            ("abc", "abc"),
            ("a%3Ab", "a:b"),
            ("a+b", "a b"),
            ("a&b=c", "a&b=c"),
            ("x%26y", "x&y"),
            ("a=b", "a=b"),
            ("%E2%82%AC", "€"),
            ("", ""),
        ] {
            assert_eq!(
                super::form_urlencoded_decode(raw).as_deref(),
                Some(decoded),
                "{raw}"
            );
        }
        assert_eq!(
            super::form_urlencoded_decode("%FF"),
            Some("\u{FFFD}".into())
        );
    }
}
