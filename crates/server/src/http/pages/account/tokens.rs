//! **Your tokens**: the signed-in user's API tokens (name, created, last used, expires), paged, each with a
//! Revoke button. Listing and revoking go through the admin API's `list_tokens` and `revoke_token`, so the
//! rules and the audit entries are the same.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Pager, Portal, Section, Shell, paging, when};
use crate::domain::admin;
use crate::http::Form;
use crate::state::AppState;

/// Rows per page.
const PAGE: i64 = 25;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/account/tokens", get(list))
        .route("/realms/{realm}/account/tokens/revoke", post(revoke))
}

struct Row {
    token_id: String,
    name: String,
    kind: &'static str,
    created: String,
    last_used: String,
    expires: String,
    status: &'static str,
    active: bool,
}

#[derive(Template)]
#[template(path = "account/tokens.html")]
struct Tokens {
    shell: Shell,
    rows: Vec<Row>,
    pager: Pager,
    revoke: String,
    dashboard_href: String,
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<u32>,
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
    let filter = admin::TokenFilter {
        user: Some(p.user.id.clone()),
        first: Some(first),
        max: Some(max + 1),
        ..Default::default()
    };
    let mut tokens = admin::list_tokens(&app, p.ctx.realm, &p.caller, filter)
        .await
        .map_err(|e| p.failed(e))?;
    let more = tokens.len() as i64 > max;
    tokens.truncate(max as usize);
    let rows = tokens
        .into_iter()
        .map(|t| Row {
            status: match (t.revoked_at, t.active) {
                (Some(_), _) => "revoked",
                (None, true) => "active",
                (None, false) => "expired",
            },
            active: t.active,
            kind: if t.unscoped { "personal" } else { "scoped" },
            name: t.name.unwrap_or_default(),
            created: when(t.created_at),
            last_used: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
            expires: when(t.expires_at),
            token_id: t.token_id,
        })
        .collect();
    let page = Tokens {
        shell: p.shell(Section::Tokens, "Your tokens"),
        rows,
        pager: Pager::new(&p.path("/tokens"), q.page, more),
        revoke: p.path("/tokens/revoke"),
        dashboard_href: p.path("/"),
    };
    Ok(p.render(StatusCode::OK, &page))
}

async fn revoke(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let p = Portal::submit(&app, &realm, &headers, &form).await?;
    let token_id = form.get("token_id").unwrap_or("");
    admin::revoke_token(&app, p.ctx.realm, &p.caller, token_id)
        .await
        .map_err(|e| p.failed(e))?;
    Ok(p.done("/tokens", "token-revoked"))
}
