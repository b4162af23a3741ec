//! The device verification pages (RFC 8628 §3.3): enter the code, sign in, approve or deny, see the result.

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::net::SocketAddr;

use super::Page;
use crate::domain::browser::{self, Browser, SignIn};
use crate::domain::device_code::{self, PendingFlow};
use crate::http::cookies::{self, SESSION_COOKIE};
use crate::http::{ApiError, Form, realm};
use crate::state::{AppState, Realm};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/device", get(show).post(enter_code))
        .route("/realms/{realm}/device/login", post(login))
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
#[template(path = "device_login.html")]
struct LoginForm<'a> {
    realm: &'a str,
    action: String,
    csrf: String,
    user_code: &'a str,
    username: &'a str,
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
    scopes: Vec<&'a str>,
}

#[derive(Template)]
#[template(path = "device_result.html")]
struct Outcome<'a> {
    realm: &'a str,
    heading: &'a str,
    message: &'a str,
    success: bool,
}

/// Paths and cookies of one realm's pages.
struct Ctx<'a> {
    app: &'a AppState,
    realm: &'a Realm,
}

impl<'a> Ctx<'a> {
    fn path(&self, suffix: &str) -> String {
        format!(
            "{}/realms/{}/device{suffix}",
            self.app.settings.base_path, self.realm.name
        )
    }

    fn cookie(&self, browser: &Browser) -> String {
        let path = format!(
            "{}/realms/{}/",
            self.app.settings.base_path, self.realm.name
        );
        cookies::session(
            &browser.cookie,
            &path,
            self.app.secure_cookies(),
            browser::SESSION_LIFETIME,
        )
    }

    fn code_form(
        &self,
        status: StatusCode,
        browser: &Browser,
        user_code: &str,
        error: Option<&str>,
    ) -> Page {
        let page = CodeForm {
            realm: &self.realm.name,
            action: self.path(""),
            csrf: browser.csrf(),
            user_code,
            error,
        };
        Page::render(status, &page).with_cookie(self.cookie(browser))
    }

    fn login_form(
        &self,
        status: StatusCode,
        b: &Browser,
        flow: &PendingFlow,
        user: &str,
        error: Option<&str>,
    ) -> Page {
        let page = LoginForm {
            realm: &self.realm.name,
            action: self.path("/login"),
            csrf: b.csrf(),
            user_code: &flow.user_code,
            username: user,
            error,
        };
        Page::render(status, &page).with_cookie(self.cookie(b))
    }

    fn consent(&self, browser: &Browser, flow: &PendingFlow) -> Page {
        let username = browser
            .user
            .as_ref()
            .map(|u| u.username.as_str())
            .unwrap_or("");
        let page = Consent {
            realm: &self.realm.name,
            action: self.path("/decision"),
            csrf: browser.csrf(),
            user_code: &flow.user_code,
            client_id: &flow.client_id,
            username,
            scopes: flow.scope.split_ascii_whitespace().collect(),
        };
        Page::render(StatusCode::OK, &page).with_cookie(self.cookie(browser))
    }

    fn outcome(&self, status: StatusCode, heading: &str, message: &str, success: bool) -> Page {
        Page::render(
            status,
            &Outcome {
                realm: &self.realm.name,
                heading,
                message,
                success,
            },
        )
    }

    /// The page session of a form submission, checked against its CSRF token; or the page to show instead.
    async fn submitted(
        &self,
        headers: &HeaderMap,
        form: &Form,
    ) -> Result<Result<Browser, Page>, ApiError> {
        let typed = form.get("user_code").unwrap_or("");
        let Some(browser) =
            browser::find(self.app, self.realm, cookies::get(headers, SESSION_COOKIE)).await?
        else {
            let fresh = browser::find_or_create(self.app, self.realm, None).await?;
            let error = "Your session expired. Enter the code again.";
            return Ok(Err(self.code_form(
                StatusCode::BAD_REQUEST,
                &fresh,
                typed,
                Some(error),
            )));
        };
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

    /// A form submission of the flow pages: its checked session and the pending flow it names; or the page to
    /// show instead.
    async fn submission(
        &self,
        headers: &HeaderMap,
        form: &Form,
        ip: &str,
    ) -> Result<Result<(Browser, PendingFlow), Page>, ApiError> {
        let browser = match self.submitted(headers, form).await? {
            Ok(b) => b,
            Err(page) => return Ok(Err(page)),
        };
        let typed = form.get("user_code").unwrap_or("");
        Ok(self
            .flow(&browser, ip, typed)
            .await?
            .map(|flow| (browser, flow)))
    }

    /// The pending flow a typed code names, within the guessing budget; or the page to show instead.
    async fn flow(
        &self,
        browser: &Browser,
        ip: &str,
        typed: &str,
    ) -> Result<Result<PendingFlow, Page>, ApiError> {
        if browser::user_code_budget_spent(self.app, browser, ip).await? {
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
                browser::record_wrong_user_code(self.app, browser, ip).await?;
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
struct ShowQuery {
    user_code: Option<String>,
}

async fn show(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = Ctx {
        app: &app,
        realm: realm(&app, &name)?,
    };
    let browser =
        browser::find_or_create(&app, ctx.realm, cookies::get(&headers, SESSION_COOKIE)).await?;
    let prefill: String = query
        .user_code
        .unwrap_or_default()
        .chars()
        .take(16)
        .collect();
    Ok(ctx
        .code_form(StatusCode::OK, &browser, &prefill, None)
        .into_response())
}

async fn enter_code(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx {
        app: &app,
        realm: realm(&app, &name)?,
    };
    let ip = peer.ip().to_string();
    let (browser, flow) = match ctx.submission(&headers, &form, &ip).await? {
        Ok(pair) => pair,
        Err(page) => return Ok(page.into_response()),
    };
    Ok(match browser.user {
        Some(_) => ctx.consent(&browser, &flow),
        None => ctx.login_form(StatusCode::OK, &browser, &flow, "", None),
    }
    .into_response())
}

async fn login(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx {
        app: &app,
        realm: realm(&app, &name)?,
    };
    let ip = peer.ip().to_string();
    let (browser, flow) = match ctx.submission(&headers, &form, &ip).await? {
        Ok(pair) => pair,
        Err(page) => return Ok(page.into_response()),
    };
    let username = form.get("username").unwrap_or("").trim();
    let password = form.get("password").unwrap_or("");
    Ok(
        match browser::sign_in(&app, ctx.realm, &browser, &ip, username, password).await? {
            SignIn::Ok(fresh) => ctx.consent(&fresh, &flow),
            SignIn::WrongCredentials => {
                let error = "Invalid username or password.";
                ctx.login_form(
                    StatusCode::UNAUTHORIZED,
                    &browser,
                    &flow,
                    username,
                    Some(error),
                )
            }
            SignIn::TooManyAttempts => {
                let error = "Too many failed sign-ins. Wait a minute, then try again.";
                ctx.login_form(
                    StatusCode::TOO_MANY_REQUESTS,
                    &browser,
                    &flow,
                    username,
                    Some(error),
                )
            }
        }
        .into_response(),
    )
}

async fn decision(
    State(app): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx {
        app: &app,
        realm: realm(&app, &name)?,
    };
    let ip = peer.ip().to_string();
    let (browser, flow) = match ctx.submission(&headers, &form, &ip).await? {
        Ok(pair) => pair,
        Err(page) => return Ok(page.into_response()),
    };
    let Some(user) = &browser.user else {
        return Ok(ctx
            .login_form(StatusCode::OK, &browser, &flow, "", None)
            .into_response());
    };
    let approve = match form.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Ok(ctx.consent(&browser, &flow).into_response());
        }
    };
    let page = if !device_code::decide(&app, &flow, user, approve).await? {
        ctx.outcome(
            StatusCode::CONFLICT,
            "Code already used",
            "This code was already used or has expired.",
            false,
        )
    } else if approve {
        tracing::info!(realm = %ctx.realm.name, user_id = %user.id, client_id = %flow.client_id, "device approved");
        let message = "Device connected. You can close this window and return to your device.";
        ctx.outcome(StatusCode::OK, "Device connected", message, true)
    } else {
        let message = "Access denied. The device was not connected.";
        ctx.outcome(StatusCode::OK, "Access denied", message, false)
    };
    Ok(page.into_response())
}
