//! "Sign in with …" an upstream provider: `GET …/broker/{alias}/login` sends the browser to the provider,
//! `GET …/broker/{alias}/endpoint` (Keycloak's redirect path) is where it comes back. Each failure is a page with
//! a fixed phrase of ours and a link back to the sign-in page, never the provider's words.

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::net::SocketAddr;

use super::{Ctx, Page};
use crate::domain::federation::{self, Callback, Failure};
use crate::http::{ApiError, client_ip};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/broker/{alias}/login", get(login))
        .route("/realms/{realm}/broker/{alias}/endpoint", get(endpoint))
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

async fn login(
    State(app): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    Query(query): Query<LoginQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let browser = ctx.browser(&headers).await?;
    let return_to = ctx
        .safe_return_to(query.return_to.as_deref())
        .unwrap_or_else(|| ctx.path("/login"));
    // The pending sign-in is bound to this browser's cookie (set here if it had none): the way back must come
    // to the same browser.
    let page = match federation::start(&app, ctx.realm, &alias, &browser.cookie, &return_to).await {
        Ok(url) => Page::redirect(url),
        Err(failure) => failure_page(&ctx, &alias, failure, &return_to),
    };
    Ok(page.with_cookie(ctx.cookie(&browser)).into_response())
}

#[derive(Deserialize)]
struct EndpointQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

async fn endpoint(
    State(app): State<AppState>,
    Path((name, alias)): Path<(String, String)>,
    Query(query): Query<EndpointQuery>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let address = client_ip::rate_key(client_ip::client_ip(
        peer,
        &headers,
        &app.settings.trusted_proxies,
    ));
    let callback = Callback {
        state: query.state.as_deref(),
        code: query.code.as_deref(),
        error: query.error.as_deref(),
    };
    let cookie = ctx.cookie_value(&headers);
    let page = match federation::finish(&app, ctx.realm, &alias, cookie, callback, &address).await {
        Ok((browser, return_to)) => Page::redirect(return_to).with_cookie(ctx.cookie(&browser)),
        Err(failure) => failure_page(&ctx, &alias, failure, &ctx.path("/login")),
    };
    Ok(page.into_response())
}

/// The error page of a failed sign-in through a provider, linking back to the sign-in page.
fn failure_page(ctx: &Ctx<'_>, alias: &str, failure: Failure, return_to: &str) -> Page {
    let status = match &failure {
        Failure::UnknownProvider => StatusCode::NOT_FOUND,
        Failure::UpstreamDown
        | Failure::UpstreamRefused
        | Failure::WrongIssuer
        | Failure::BadIdToken => StatusCode::BAD_GATEWAY,
        Failure::Denied | Failure::Disabled => StatusCode::FORBIDDEN,
        Failure::BadState => StatusCode::BAD_REQUEST,
        Failure::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    match &failure {
        Failure::Internal(e) => {
            tracing::error!(realm = %ctx.realm.name, alias, error = %e, "sign-in through provider failed")
        }
        f => {
            tracing::info!(realm = %ctx.realm.name, alias, failure = %f, "sign-in through provider failed")
        }
    }
    let (heading, message) = failure.message();
    let page = BrokerError {
        realm: &ctx.realm.name,
        heading,
        message,
        sign_in: ctx.sign_in_url(return_to),
    };
    Page::render(status, &page)
}

#[derive(Template)]
#[template(path = "broker_error.html")]
struct BrokerError<'a> {
    realm: &'a str,
    heading: &'a str,
    message: &'a str,
    sign_in: String,
}
