//! **Token Management**: **Personal Tokens** (`/admin/tokens`) and **User Scoped Tokens**
//! (`/admin/tokens/scoped`) of the realm — user, scopes, created, last used, expires — filtered by user, paged
//! by keyset, each with Revoke; and one token's page (`/admin/tokens/{id}`), where audit entries link. Through
//! `admin::list_tokens`, `admin::get_token` and `admin::revoke_token`.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Admin, Head, PAGE, Pager, cursor, parse_cursor};
use crate::domain::admin::{self, TokenFilter};
use crate::http::Form;
use crate::http::pages::account::{Shell, when};
use crate::state::AppState;
use crate::store::TokenKind;
use keyport_proto::admin::TokenRepresentation;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/account/admin/tokens", get(personal))
        .route("/realms/{realm}/account/admin/tokens/scoped", get(scoped))
        .route("/realms/{realm}/account/admin/tokens/revoke", post(revoke))
        .route("/realms/{realm}/account/admin/tokens/{id}", get(one))
}

pub struct Row {
    pub token_id: String,
    pub token_href: String,
    pub name: String,
    pub username: String,
    pub user_href: String,
    pub scopes: String,
    pub created: String,
    pub last_used: String,
    pub expires: String,
    pub status: &'static str,
    pub active: bool,
}

/// A token as the lists show it.
pub fn row(a: &Admin<'_>, t: TokenRepresentation) -> Row {
    Row {
        status: status(&t),
        active: t.active,
        token_href: a.href(&format!("/tokens/{}", t.token_id), &[]),
        user_href: a.href(&format!("/users/{}", t.user_id), &[]),
        username: if t.username.is_empty() {
            format!("(deleted user {})", t.user_id)
        } else {
            t.username
        },
        name: t.name.unwrap_or_default(),
        scopes: if t.unscoped {
            "what the user's roles allow".into()
        } else {
            t.scopes.join(" ")
        },
        created: when(t.created_at),
        last_used: t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
        expires: when(t.expires_at),
        token_id: t.token_id,
    }
}

fn status(t: &TokenRepresentation) -> &'static str {
    match (t.revoked_at, t.active) {
        (Some(_), _) => "revoked",
        (None, true) => "active",
        (None, false) => "expired",
    }
}

#[derive(Template)]
#[template(path = "account/admin_tokens.html")]
struct Tokens {
    shell: Shell,
    head: Head,
    scoped: bool,
    personal_href: String,
    scoped_href: String,
    user: String,
    rows: Vec<Row>,
    pager: Pager,
    revoke: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct ListQuery {
    user: Option<String>,
    after: Option<String>,
}

async fn personal(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    list(&app, &realm, q, &headers, &uri, TokenKind::Personal).await
}

async fn scoped(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    list(&app, &realm, q, &headers, &uri, TokenKind::Scoped).await
}

async fn list(
    app: &AppState,
    realm: &str,
    q: ListQuery,
    headers: &HeaderMap,
    uri: &OriginalUri,
    kind: TokenKind,
) -> Result<Response, Response> {
    let a = Admin::open(app, realm, headers, uri).await?;
    let user = q.user.unwrap_or_default().trim().to_owned();
    let here = if kind == TokenKind::Scoped {
        "/tokens/scoped"
    } else {
        "/tokens"
    };
    let after = parse_cursor(q.after.as_deref());
    let filter = TokenFilter {
        user: (!user.is_empty()).then(|| user.clone()),
        kind: Some(kind),
        after: after.clone(),
        first: None,
        max: Some(PAGE + 1),
    };
    let (mut tokens, error) = match admin::list_tokens(app, a.target, a.caller(), filter).await {
        Ok(t) => (t, None),
        // An unknown user is a message on the page, not an error page: the filter stays editable.
        Err(crate::domain::Error::NotFound(m)) => (Vec::new(), Some(m)),
        Err(e) => return Err(a.failed(e)),
    };
    let more = tokens.len() as i64 > PAGE;
    tokens.truncate(PAGE as usize);
    let next = tokens.last().filter(|_| more).map(|t| {
        a.href(
            here,
            &[
                ("user", &user),
                ("after", &cursor(t.created_at, &t.token_id)),
            ],
        )
    });
    let pager = Pager {
        first: after.is_some().then(|| a.href(here, &[("user", &user)])),
        next,
    };
    let rows = tokens.into_iter().map(|t| row(&a, t)).collect();
    let scoped = kind == TokenKind::Scoped;
    let page = Tokens {
        shell: a.shell(
            "/tokens",
            if scoped {
                "User Scoped Tokens"
            } else {
                "Personal Tokens"
            },
        ),
        head: a.head(here),
        scoped,
        personal_href: a.href("/tokens", &[]),
        scoped_href: a.href("/tokens/scoped", &[]),
        user,
        rows,
        pager,
        revoke: a.href("/tokens/revoke", &[]),
        error,
    };
    Ok(a.render(&page))
}

#[derive(Template)]
#[template(path = "account/admin_token.html")]
struct One {
    shell: Shell,
    head: Head,
    t: Row,
    kind: &'static str,
    created_by: String,
    audit_href: String,
    revoke: String,
}

async fn one(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let a = Admin::open(&app, &realm, &headers, &uri).await?;
    let t = admin::get_token(&app, a.target, a.caller(), &id)
        .await
        .map_err(|e| a.failed(e))?;
    let kind = if t.unscoped { "personal" } else { "scoped" };
    let created_by = t.created_by.clone();
    let page = One {
        shell: a.shell("/tokens", "Token"),
        head: a.head(&format!("/tokens/{id}")),
        kind,
        created_by,
        audit_href: a.href("/audit", &[("token", &t.token_id)]),
        revoke: a.href("/tokens/revoke", &[]),
        t: row(&a, t),
    };
    Ok(a.render(&page))
}

/// Revoke, then back to the list it was pressed on (`back`: `scoped`, `personal` or `token`), keeping its filter.
async fn revoke(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    let token_id = form.get("token_id").unwrap_or("");
    admin::revoke_token(&app, a.target, a.caller(), token_id)
        .await
        .map_err(|e| a.failed(e))?;
    let user = form.get("user").unwrap_or("");
    let back = match form.get("back") {
        Some("personal") => "/tokens".to_owned(),
        Some("token") => format!("/tokens/{token_id}"),
        _ => "/tokens/scoped".to_owned(),
    };
    Ok(a.done(&back, &[("user", user)], "token-revoked"))
}
