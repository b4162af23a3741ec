//! **Your sessions and devices**: the signed-in user's login sessions (client, started, last refresh) and
//! signed-in browsers; sign out one, or everywhere; and the portal's own **Sign out**.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Pager, Portal, Section, Shell, paging, when};
use crate::crypto::sha256_hex;
use crate::domain::{account, end_session};
use crate::http::Form;
use crate::http::pages::{Ctx, Page};
use crate::state::AppState;

/// Rows per page.
const PAGE: i64 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/account/sessions", get(list))
        .route("/realms/{realm}/account/sessions/end", post(end_one))
        .route("/realms/{realm}/account/sessions/end-all", post(end_all))
        .route("/realms/{realm}/account/browsers/end", post(end_browser))
        .route("/realms/{realm}/account/sign-out", post(sign_out))
}

struct SessionRow {
    id: String,
    client_id: String,
    started: String,
    last_refresh: String,
    scope: String,
}

struct BrowserRow {
    handle: String,
    signed_in: String,
    how: String,
    address: String,
    this_one: bool,
}

#[derive(Template)]
#[template(path = "account/sessions.html")]
struct Sessions {
    shell: Shell,
    sessions: Vec<SessionRow>,
    browsers: Vec<BrowserRow>,
    pager: Pager,
    end_one: String,
    end_all: String,
    end_browser: String,
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u32>,
}

/// `pwd` / `fed:{alias}` in words.
fn how(amr: Option<&str>) -> String {
    match amr {
        Some(a) if a.starts_with("fed:") => format!("with {}", &a[4..]),
        _ => "with a password".into(),
    }
}

async fn list(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let p = Portal::open(&app, &realm, &headers, &uri).await?;
    let (first, max) = paging(q.page, PAGE);
    let mut sessions = account::sessions(&app, p.ctx.realm, &p.user, first, max + 1)
        .await
        .map_err(|e| p.failed(e))?;
    let more = sessions.len() as i64 > max;
    sessions.truncate(max as usize);
    let browsers = account::browsers(&app, p.ctx.realm, &p.user)
        .await
        .map_err(|e| p.failed(e))?;
    let mine = account::handle_of(&sha256_hex(&p.browser.cookie));
    let page = Sessions {
        shell: p.shell(Section::Sessions, "Your sessions and devices"),
        sessions: sessions
            .into_iter()
            .map(|s| SessionRow {
                id: s.session.id,
                client_id: s.session.client_id,
                started: when(s.session.created_at),
                last_refresh: s.last_refresh.map(when).unwrap_or_else(|| "—".into()),
                scope: s.session.scope,
            })
            .collect(),
        browsers: browsers
            .into_iter()
            .map(|b| BrowserRow {
                this_one: b.handle == mine,
                signed_in: when(b.session.auth_time.unwrap_or(b.session.created_at)),
                how: how(b.session.amr.as_deref()),
                address: b.session.address.clone().unwrap_or_else(|| "—".into()),
                handle: b.handle,
            })
            .collect(),
        pager: Pager::new(&p.path("/sessions"), q.page, more),
        end_one: p.path("/sessions/end"),
        end_all: p.path("/sessions/end-all"),
        end_browser: p.path("/browsers/end"),
    };
    Ok(p.render(StatusCode::OK, &page))
}

async fn end_one(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let p = Portal::submit(&app, &realm, &headers, &form).await?;
    account::end_session(
        &app,
        p.ctx.realm,
        &p.user,
        form.get("session_id").unwrap_or(""),
    )
    .await
    .map_err(|e| p.failed(e))?;
    Ok(p.done("/sessions", "session-ended"))
}

async fn end_browser(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let p = Portal::submit(&app, &realm, &headers, &form).await?;
    account::end_browser(
        &app,
        p.ctx.realm,
        &p.user,
        form.get("browser").unwrap_or(""),
    )
    .await
    .map_err(|e| p.failed(e))?;
    Ok(p.done("/sessions", "browser-ended"))
}

/// The "signed out" page: the session is gone, so it is a plain page of the realm, not a portal page.
fn signed_out(ctx: &Ctx<'_>, message: &str) -> Response {
    Page::message(ctx.realm, StatusCode::OK, "Signed out", message, true).into_response()
}

async fn end_all(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let p = Portal::submit(&app, &realm, &headers, &form).await?;
    account::end_everything(&app, p.ctx.realm, &p.user)
        .await
        .map_err(|e| p.failed(e))?;
    Ok(signed_out(
        &p.ctx,
        "You are signed out everywhere: every session and device of yours has to sign in again.",
    ))
}

async fn sign_out(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let p = Portal::submit(&app, &realm, &headers, &form).await?;
    end_session::sign_out(&app, p.ctx.realm, &p.browser, None)
        .await
        .map_err(|e| p.failed(e))?;
    Ok(signed_out(
        &p.ctx,
        "You are signed out of the portal. You can close this window.",
    ))
}
