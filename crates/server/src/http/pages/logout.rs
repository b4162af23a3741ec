//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) on `…/protocol/openid-connect/logout`: GET, or a
//! POST without `refresh_token` (a POST with one is the back-channel form of `http/protocol.rs`). A request whose
//! `id_token_hint` names the signed-in user is carried out at once; any other asks first on a confirmation page.

use askama::Template;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Ctx, Page};
use crate::domain::end_session;
use crate::http::{ApiError, Form};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/realms/{realm}/protocol/openid-connect/logout",
        get(logout_get),
    )
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
struct Confirm<'a> {
    realm: &'a str,
    action: String,
    csrf: String,
    username: Option<&'a str>,
    params: Vec<(&'static str, String)>,
}

/// The parameters carried through the confirmation page.
const PARAMS: [&str; 4] = [
    "id_token_hint",
    "client_id",
    "post_logout_redirect_uri",
    "state",
];

async fn logout_get(
    State(app): State<AppState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let form = match Form::parse(query.unwrap_or_default().as_bytes()) {
        Ok(form) => form,
        Err(e) => {
            let ctx = Ctx::new(&app, &name)?;
            return Ok(error(&ctx, e.description()).into_response());
        }
    };
    rp_initiated(&app, &name, &headers, &form).await
}

fn error(ctx: &Ctx<'_>, message: &str) -> Page {
    Page::message(
        ctx.realm,
        StatusCode::BAD_REQUEST,
        "This sign-out request cannot be served",
        message,
        false,
    )
}

/// An RP-initiated logout request (GET query or POST form).
pub async fn rp_initiated(
    app: &AppState,
    name: &str,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Response, ApiError> {
    let ctx = Ctx::new(app, name)?;
    let hint = match form.get("id_token_hint") {
        None => None,
        Some(token) => match end_session::hint(app, ctx.realm, token).await {
            Some(hint) => Some(hint),
            None => {
                let message = "The id_token_hint is not an ID token of this realm.";
                return Ok(error(&ctx, message).into_response());
            }
        },
    };
    let target = match end_session::target(
        app,
        ctx.realm,
        hint.as_ref(),
        form.get("client_id"),
        form.get("post_logout_redirect_uri"),
    )
    .await?
    {
        Ok(target) => target,
        Err(message) => return Ok(error(&ctx, &message).into_response()),
    };
    let browser = ctx.browser(headers).await?;
    let confirmed = form.get("confirm") == Some("yes")
        && ctx.cookie_value(headers).is_some()
        && browser.check_csrf(form.get("csrf").unwrap_or(""));
    if !confirmed && !end_session::may_skip_confirmation(&browser, hint.as_ref()) {
        let params = PARAMS
            .iter()
            .filter_map(|&k| form.get(k).map(|v| (k, v.to_owned())))
            .collect();
        let page = Confirm {
            realm: &ctx.realm.name,
            action: ctx.path("/protocol/openid-connect/logout"),
            csrf: browser.csrf(),
            username: browser.user.as_ref().map(|u| u.username.as_str()),
            params,
        };
        let mut page = Page::render(StatusCode::OK, &page).with_cookie(ctx.cookie(&browser));
        if let Some((_, uri)) = &target {
            page = page.allow_form_target(uri);
        }
        return Ok(page.into_response());
    }
    end_session::sign_out(app, ctx.realm, &browser, hint.as_ref()).await?;
    let Some((_, uri)) = target else {
        let message = "You are signed out. You can close this window.";
        return Ok(
            Page::message(ctx.realm, StatusCode::OK, "Signed out", message, true).into_response(),
        );
    };
    let mut url = match url::Url::parse(&uri) {
        Ok(url) => url,
        Err(_) => {
            return Ok(
                error(&ctx, "The post-logout redirect URI is not a valid URL.").into_response(),
            );
        }
    };
    if let Some(state) = form.get("state") {
        url.query_pairs_mut().append_pair("state", state);
    }
    Ok(Page::redirect(url.to_string()).into_response())
}
