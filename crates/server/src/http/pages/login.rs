//! The one sign-in page of a realm: local username and password (unless the realm turned them off) and a
//! "Sign in with …" link per upstream identity provider. Every browser flow sends people here with a
//! `return_to` (a path of the realm) and gets them back signed in.

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::net::SocketAddr;

use super::{Ctx, Page};
use crate::domain::browser::{self, Browser, SignIn};
use crate::http::{ApiError, Form};

pub fn router() -> Router<crate::state::AppState> {
    Router::new().route("/realms/{realm}/login", get(show).post(submit))
}

/// A "Sign in with …" link.
struct Provider {
    display_name: String,
    href: String,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginForm<'a> {
    realm: &'a str,
    action: String,
    csrf: String,
    return_to: &'a str,
    username: &'a str,
    purpose: Option<&'a str>,
    signed_in_as: Option<&'a str>,
    error: Option<&'a str>,
    local_passwords: bool,
    providers: Vec<Provider>,
}

/// What the sign-in page shows besides the form.
#[derive(Default)]
pub struct Notes<'a> {
    pub username: &'a str,
    pub error: Option<&'a str>,
}

impl Ctx<'_> {
    /// Where to go after signing in when nobody said: a page saying who is signed in.
    fn default_return(&self) -> String {
        self.path("/login")
    }

    /// The sign-in page for `browser`, returning to `return_to` afterwards.
    pub fn login_form(
        &self,
        status: StatusCode,
        browser: &Browser,
        return_to: &str,
        notes: Notes<'_>,
    ) -> Page {
        let query = serde_urlencoded::to_string([("return_to", return_to)]).unwrap_or_default();
        let providers = self
            .realm
            .config
            .identity_providers
            .iter()
            .map(|p| Provider {
                display_name: p.display_name.clone().unwrap_or_else(|| p.alias.clone()),
                href: format!(
                    "{}?{query}",
                    self.path(&format!("/broker/{}/login", p.alias))
                ),
            })
            .collect();
        let purpose = return_to
            .starts_with(&self.path("/device"))
            .then_some("Sign in to connect your device.");
        let page = LoginForm {
            realm: &self.realm.name,
            action: self.path("/login"),
            csrf: browser.csrf(),
            return_to,
            username: notes.username,
            purpose,
            signed_in_as: browser.user.as_ref().map(|u| u.username.as_str()),
            error: notes.error,
            local_passwords: self.realm.config.local_passwords,
            providers,
        };
        let mut page = Page::render(status, &page).with_cookie(self.cookie(browser));
        // The sign-in of an authorization request ends at the client's redirect URI.
        if let Some(redirect_uri) = return_to
            .split_once('?')
            .and_then(|(_, q)| Form::parse(q.as_bytes()).ok())
            .and_then(|f| f.get("redirect_uri").map(str::to_owned))
        {
            page = page.allow_form_target(&redirect_uri);
        }
        page
    }
}

#[derive(Deserialize)]
struct ShowQuery {
    return_to: Option<String>,
    login_hint: Option<String>,
    error: Option<String>,
}

async fn show(
    State(app): State<crate::state::AppState>,
    Path(name): Path<String>,
    Query(query): Query<ShowQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let browser = ctx.browser(&headers).await?;
    let return_to = ctx
        .safe_return_to(query.return_to.as_deref())
        .unwrap_or_else(|| ctx.default_return());
    // A return to this very page with someone signed in: say who.
    if return_to == ctx.default_return()
        && let Some(user) = &browser.user
        && query.error.is_none()
    {
        let message = format!("You are signed in as {}.", user.username);
        return Ok(
            Page::message(ctx.realm, StatusCode::OK, "Signed in", &message, true).into_response(),
        );
    }
    // Errors the upstream sign-in sends back here (`?error=`) are fixed phrases of ours, never upstream text.
    let error = query.error.as_deref().map(|_| {
        "Signing in with that provider did not work. Try again, or choose another way to sign in."
    });
    let notes = Notes {
        username: query.login_hint.as_deref().unwrap_or(""),
        error,
    };
    Ok(ctx
        .login_form(StatusCode::OK, &browser, &return_to, notes)
        .into_response())
}

async fn submit(
    State(app): State<crate::state::AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let return_to = ctx
        .safe_return_to(form.get("return_to"))
        .unwrap_or_else(|| ctx.default_return());
    let username = form.get("username").unwrap_or("").trim();
    let cookie = ctx.cookie_value(&headers);
    let browser = ctx.browser(&headers).await?;
    if cookie.is_none() || !browser.check_csrf(form.get("csrf").unwrap_or("")) {
        let error = "This form has expired or did not come from this site. Sign in again.";
        let notes = Notes {
            username,
            error: Some(error),
        };
        return Ok(ctx
            .login_form(StatusCode::FORBIDDEN, &browser, &return_to, notes)
            .into_response());
    }
    if !ctx.realm.config.local_passwords {
        let notes = Notes {
            username,
            error: Some("This realm does not use passwords: sign in with a provider below."),
        };
        return Ok(ctx
            .login_form(StatusCode::BAD_REQUEST, &browser, &return_to, notes)
            .into_response());
    }
    let password = form.get("password").unwrap_or("");
    let ip = crate::http::client_ip::rate_key(crate::http::client_ip::client_ip(
        peer,
        &headers,
        &app.settings.trusted_proxies,
    ));
    let (status, error) =
        match browser::sign_in(&app, ctx.realm, cookie, &ip, username, password).await? {
            SignIn::Ok(fresh) => {
                let cookie = ctx.cookie(&fresh);
                return Ok(Page::redirect(return_to)
                    .with_cookie(cookie)
                    .into_response());
            }
            SignIn::WrongCredentials => (StatusCode::UNAUTHORIZED, "Invalid username or password."),
            SignIn::TooManyAttempts => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed sign-ins. Wait a minute, then try again.",
            ),
        };
    let notes = Notes {
        username,
        error: Some(error),
    };
    Ok(ctx
        .login_form(status, &browser, &return_to, notes)
        .into_response())
}
