//! The device verification pages (RFC 8628 §3.3): enter the code, sign in (through the realm's one sign-in page),
//! approve or deny, see the result.

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::net::SocketAddr;

use super::{Ctx, Page};
use crate::domain::browser::{self, Browser};
use crate::domain::device_code::{self, PendingFlow};
use crate::domain::scope;
use crate::http::client_ip;
use crate::http::{ApiError, Form};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/device", get(show).post(enter_code))
        .route("/realms/{realm}/device/consent", get(consent))
        .route("/realms/{realm}/device/decision", post(decision))
}

#[derive(Template)]
#[template(path = "device_code.html")]
struct CodeForm<'a> {
    realm: &'a str,
    action: String,
    csrf: String,
    user_code: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_consent.html")]
struct Consent<'a> {
    realm: &'a str,
    action: String,
    csrf: String,
    user_code: &'a str,
    client_id: &'a str,
    username: &'a str,
    /// Each scope in words ([`scope::describe`]).
    scopes: Vec<String>,
}

impl Ctx<'_> {
    fn code_form(
        &self,
        status: StatusCode,
        browser: &Browser,
        user_code: &str,
        error: Option<&str>,
    ) -> Page {
        let page = CodeForm {
            realm: &self.realm.name,
            action: self.path("/device"),
            csrf: browser.csrf(),
            user_code,
            error,
        };
        Page::render(status, &page).with_cookie(self.cookie(browser))
    }

    /// The consent page when signed in; otherwise the sign-in page, coming back here.
    fn consent_or_sign_in(&self, browser: &Browser, flow: &PendingFlow) -> Page {
        let Some(user) = &browser.user else {
            let query =
                serde_urlencoded::to_string([("user_code", &flow.user_code)]).unwrap_or_default();
            let back = format!("{}?{query}", self.path("/device/consent"));
            return Page::redirect(self.sign_in_url(&back));
        };
        let page = Consent {
            realm: &self.realm.name,
            action: self.path("/device/decision"),
            csrf: browser.csrf(),
            user_code: &flow.user_code,
            client_id: &flow.client_id,
            username: &user.username,
            scopes: flow
                .scope
                .split_ascii_whitespace()
                .map(|s| scope::describe(self.realm, s))
                .collect(),
        };
        Page::render(StatusCode::OK, &page).with_cookie(self.cookie(browser))
    }

    /// The browser of a form submission, checked against its CSRF token; or the page to show instead.
    async fn submitted(
        &self,
        headers: &HeaderMap,
        form: &Form,
    ) -> Result<Result<Browser, Page>, ApiError> {
        let typed = form.get("user_code").unwrap_or("");
        let browser = self.browser(headers).await?;
        if self.cookie_value(headers).is_none() {
            let error = "Your session expired. Enter the code again.";
            return Ok(Err(self.code_form(
                StatusCode::BAD_REQUEST,
                &browser,
                typed,
                Some(error),
            )));
        }
        if !browser.check_csrf(form.get("csrf").unwrap_or("")) {
            let error =
                "This form has expired or did not come from this site. Enter the code again.";
            return Ok(Err(self.code_form(
                StatusCode::FORBIDDEN,
                &browser,
                typed,
                Some(error),
            )));
        }
        Ok(Ok(browser))
    }

    /// The pending flow a typed code names, within the guessing budget; or the page to show instead.
    async fn flow(
        &self,
        browser: &Browser,
        ip: &str,
        typed: &str,
    ) -> Result<Result<PendingFlow, Page>, ApiError> {
        if browser::user_code_budget_spent(self.app, self.realm, browser, ip).await? {
            let error = "Too many wrong codes. Wait a minute, then try again.";
            return Ok(Err(self.code_form(
                StatusCode::TOO_MANY_REQUESTS,
                browser,
                typed,
                Some(error),
            )));
        }
        match device_code::find_pending(self.app, self.realm, typed).await? {
            Some(flow) => Ok(Ok(flow)),
            None => {
                browser::record_wrong_user_code(self.app, self.realm, browser, ip).await?;
                let error = "That code is not valid or has expired. Check the code shown on your device and try again.";
                Ok(Err(self.code_form(
                    StatusCode::BAD_REQUEST,
                    browser,
                    typed,
                    Some(error),
                )))
            }
        }
    }
}

#[derive(Deserialize)]
struct CodeQuery {
    user_code: Option<String>,
}

fn prefill(query: CodeQuery) -> String {
    query
        .user_code
        .unwrap_or_default()
        .chars()
        .take(16)
        .collect()
}

async fn show(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<CodeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let browser = ctx.browser(&headers).await?;
    Ok(ctx
        .code_form(StatusCode::OK, &browser, &prefill(query), None)
        .into_response())
}

async fn enter_code(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let browser = match ctx.submitted(&headers, &form).await? {
        Ok(b) => b,
        Err(page) => return Ok(page.into_response()),
    };
    let ip = client_ip::rate_key(client_ip::client_ip(
        peer,
        &headers,
        &app.settings.trusted_proxies,
    ));
    let typed = form.get("user_code").unwrap_or("");
    Ok(match ctx.flow(&browser, &ip, typed).await? {
        Ok(flow) => ctx.consent_or_sign_in(&browser, &flow),
        Err(page) => page,
    }
    .into_response())
}

/// Where the sign-in page sends the browser back: the consent page of the code it entered.
async fn consent(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<CodeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let browser = ctx.browser(&headers).await?;
    let ip = client_ip::rate_key(client_ip::client_ip(
        peer,
        &headers,
        &app.settings.trusted_proxies,
    ));
    let typed = prefill(query);
    Ok(match ctx.flow(&browser, &ip, &typed).await? {
        Ok(flow) => ctx.consent_or_sign_in(&browser, &flow),
        Err(page) => page,
    }
    .into_response())
}

async fn decision(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let browser = match ctx.submitted(&headers, &form).await? {
        Ok(b) => b,
        Err(page) => return Ok(page.into_response()),
    };
    let ip = client_ip::rate_key(client_ip::client_ip(
        peer,
        &headers,
        &app.settings.trusted_proxies,
    ));
    let flow = match ctx
        .flow(&browser, &ip, form.get("user_code").unwrap_or(""))
        .await?
    {
        Ok(flow) => flow,
        Err(page) => return Ok(page.into_response()),
    };
    let Some(user) = &browser.user else {
        return Ok(ctx.consent_or_sign_in(&browser, &flow).into_response());
    };
    let approve = match form.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => return Ok(ctx.consent_or_sign_in(&browser, &flow).into_response()),
    };
    let page = if !device_code::decide(&app, &flow, &browser, approve).await? {
        Page::message(
            ctx.realm,
            StatusCode::CONFLICT,
            "Code already used",
            "This code was already used or has expired.",
            false,
        )
    } else if approve {
        tracing::info!(realm = %ctx.realm.name, user_id = %user.id, client_id = %flow.client_id, "device approved");
        let message = "Device connected. You can close this window and return to your device.";
        Page::message(ctx.realm, StatusCode::OK, "Device connected", message, true)
    } else {
        let message = "Access denied. The device was not connected.";
        Page::message(ctx.realm, StatusCode::OK, "Access denied", message, false)
    };
    Ok(page.into_response())
}
