//! The authorization endpoint (`…/protocol/openid-connect/auth`, GET or POST) and its consent page: the browser
//! side of the authorization code flow. Unknown clients and unregistered redirect URIs get an error page; every
//! other answer goes back to the client's redirect URI by query, fragment or an auto-posting form, with `iss`
//! (RFC 9207), `state` and, on success, `code` and `session_state`.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use super::{Ctx, Page};
use crate::domain::Error;
use crate::domain::authorization_code::{
    self as code, Authorize, Next, Request, ResponseMode, Target,
};
use crate::domain::browser::Browser;
use crate::http::{ApiError, Form};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/realms/{realm}/protocol/openid-connect/auth",
            get(authorize_get).post(authorize_post),
        )
        .route("/realms/{realm}/login-actions/consent", post(consent))
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    realm: &'a str,
    action: String,
    csrf: String,
    client_id: &'a str,
    username: &'a str,
    scopes: Vec<&'a str>,
    params: &'a [(&'static str, String)],
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPost<'a> {
    realm: &'a str,
    action: &'a str,
    fields: &'a [(&'static str, String)],
    script: &'static str,
}

/// Submits the form_post page's form as soon as it loads (allowed by hash in the page's CSP).
const AUTO_SUBMIT: &str = "document.forms[0].submit();";

async fn authorize_get(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    match Form::parse(query.unwrap_or_default().as_bytes()) {
        Ok(form) => authorize(&ctx, &headers, &form).await,
        Err(e) => Ok(error_page(&ctx, e.description()).into_response()),
    }
}

async fn authorize_post(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    authorize(&ctx, &headers, &form).await
}

/// The answer when the client cannot be answered (never a redirect).
fn error_page(ctx: &Ctx<'_>, message: &str) -> Page {
    Page::message(
        ctx.realm,
        StatusCode::BAD_REQUEST,
        "This sign-in request cannot be served",
        message,
        false,
    )
}

/// The request of a form or query, with its checked target; or the error page.
async fn request(
    ctx: &Ctx<'_>,
    form: &Form,
) -> Result<Result<(Request, Target), Response>, ApiError> {
    let req = Request::new(|k| form.get(k).map(str::to_owned));
    Ok(match code::target(ctx.app, ctx.realm, &req).await? {
        Ok(target) => Ok((req, target)),
        Err(message) => Err(error_page(ctx, &message).into_response()),
    })
}

async fn authorize(ctx: &Ctx<'_>, headers: &HeaderMap, form: &Form) -> Result<Response, ApiError> {
    let (req, target) = match request(ctx, form).await? {
        Ok(pair) => pair,
        Err(page) => return Ok(page),
    };
    let a = match code::check(ctx.realm, target.clone(), &req) {
        Ok(a) => a,
        Err(e) => return answer_error(ctx, &target, e),
    };
    let browser = ctx.browser(headers).await?;
    match code::next(ctx.app, ctx.realm, &a, &browser).await {
        Ok(Next::SignIn) => {
            let back = if a.prompt.login {
                req.without_prompt("login")
            } else {
                req
            };
            Ok(sign_in(ctx, &back, a.login_hint.as_deref()).into_response())
        }
        Ok(Next::Consent) => Ok(consent_page(ctx, &browser, &a, &req).into_response()),
        Ok(Next::Issue) => issue(ctx, &a, &browser).await,
        Err(e) => answer_error(ctx, &target, e),
    }
}

/// Through the sign-in page, then back to the authorization endpoint with the same request.
fn sign_in(ctx: &Ctx<'_>, req: &Request, login_hint: Option<&str>) -> Page {
    let query = serde_urlencoded::to_string(req.params()).unwrap_or_default();
    let back = format!("{}?{query}", ctx.path("/protocol/openid-connect/auth"));
    let mut url = ctx.sign_in_url(&back);
    if let Some(hint) = login_hint {
        url.push('&');
        url.push_str(&serde_urlencoded::to_string([("login_hint", hint)]).unwrap_or_default());
    }
    Page::redirect(url)
}

fn consent_page(ctx: &Ctx<'_>, browser: &Browser, a: &Authorize, req: &Request) -> Page {
    let username = browser
        .user
        .as_ref()
        .map(|u| u.username.as_str())
        .unwrap_or("");
    let page = ConsentPage {
        realm: &ctx.realm.name,
        action: ctx.path("/login-actions/consent"),
        csrf: browser.csrf(),
        client_id: &a.target.client.client_id,
        username,
        scopes: a.scope.split_ascii_whitespace().collect(),
        params: req.params(),
    };
    Page::render(StatusCode::OK, &page)
        .with_cookie(ctx.cookie(browser))
        .allow_form_target(&a.target.redirect_uri)
}

/// The consent page's answer.
async fn consent(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(&app, &name)?;
    let (req, target) = match request(&ctx, &form).await? {
        Ok(pair) => pair,
        Err(page) => return Ok(page),
    };
    let a = match code::check(ctx.realm, target.clone(), &req) {
        Ok(a) => a,
        Err(e) => return answer_error(&ctx, &target, e),
    };
    let browser = ctx.browser(&headers).await?;
    if browser.user.is_none() {
        return Ok(sign_in(&ctx, &req, None).into_response());
    }
    if !browser.check_csrf(form.get("csrf").unwrap_or("")) {
        let message = "This form has expired or did not come from this site. Start the sign-in again from the application.";
        return Ok(Page::message(
            ctx.realm,
            StatusCode::FORBIDDEN,
            "Form expired",
            message,
            false,
        )
        .into_response());
    }
    let allow = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return Ok(consent_page(&ctx, &browser, &a, &req).into_response()),
    };
    match code::decide(&app, ctx.realm, &a, &browser, allow).await {
        Ok(()) => issue(&ctx, &a, &browser).await,
        Err(e) => answer_error(&ctx, &target, e),
    }
}

async fn issue(ctx: &Ctx<'_>, a: &Authorize, browser: &Browser) -> Result<Response, ApiError> {
    let issued = code::issue(ctx.app, ctx.realm, a, browser).await?;
    let mut params = vec![("code", issued.code)];
    if let Some(state) = &a.target.state {
        params.push(("state", state.clone()));
    }
    params.push(("session_state", issued.session_id));
    params.push(("iss", ctx.realm.issuer.clone()));
    Ok(answer(ctx, &a.target, &params).into_response())
}

/// An OAuth error goes back to the client; a store failure is a 503 like everywhere else.
fn answer_error(ctx: &Ctx<'_>, target: &Target, e: Error) -> Result<Response, ApiError> {
    let Error::OAuth { code, description } = e else {
        return Err(e.into());
    };
    let mut params = vec![
        ("error", code.as_str().to_owned()),
        ("error_description", description),
    ];
    if let Some(state) = &target.state {
        params.push(("state", state.clone()));
    }
    params.push(("iss", ctx.realm.issuer.clone()));
    Ok(answer(ctx, target, &params).into_response())
}

/// Sends `params` to the client's redirect URI the way the request asked.
fn answer(ctx: &Ctx<'_>, target: &Target, params: &[(&'static str, String)]) -> Page {
    match target.mode {
        ResponseMode::FormPost => {
            let page = FormPost {
                realm: &ctx.realm.name,
                action: &target.redirect_uri,
                fields: params,
                script: AUTO_SUBMIT,
            };
            let hash = STANDARD.encode(Sha256::digest(AUTO_SUBMIT.as_bytes()));
            let origin = super::origin_of(&target.redirect_uri).unwrap_or_default();
            let csp = format!(
                "default-src 'none'; script-src 'sha256-{hash}'; form-action {origin}; frame-ancestors 'none'"
            );
            Page::render(StatusCode::OK, &page).with_csp(csp)
        }
        mode => {
            let Ok(mut url) = url::Url::parse(&target.redirect_uri) else {
                // `target` only holds registered URIs, which parse.
                return error_page(ctx, "The redirect URI is not a valid URL.");
            };
            let encoded = serde_urlencoded::to_string(params).unwrap_or_default();
            if mode == ResponseMode::Fragment {
                url.set_fragment(Some(&encoded));
            } else {
                let query = match url.query() {
                    Some(q) if !q.is_empty() => format!("{q}&{encoded}"),
                    _ => encoded,
                };
                url.set_query(Some(&query));
            }
            Page::redirect(url.to_string())
        }
    }
}
