//! **Users**: the realm's people and machine users (search by a part of the name or email, paged by keyset),
//! creating a machine user, and one user's page: roles, enable/disable, their tokens, and delete behind a
//! confirmation page that spells out what goes with the user. Through `admin::list_users`, `create_user`,
//! `get_user`, `set_user_roles`, `set_user_enabled`, `list_tokens` and `delete_user`.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keyport_proto::admin::{CreateUser, UserRepresentation};
use serde::Deserialize;

use super::tokens::{Row as TokenRow, row as token_row};
use super::{Admin, Head, PAGE, Pager};
use crate::domain::admin::{self, TokenFilter, UserFilter};
use crate::http::Form;
use crate::http::pages::account::{Shell, when};
use crate::state::AppState;
use crate::store::UserType;

pub fn router() -> Router<AppState> {
    let p = "/realms/{realm}/account/admin/users";
    Router::new()
        .route(p, get(list).post(create))
        .route(&format!("{p}/{{id}}"), get(one))
        .route(&format!("{p}/{{id}}/roles"), post(roles))
        .route(&format!("{p}/{{id}}/enabled"), post(enabled))
        .route(
            &format!("{p}/{{id}}/delete"),
            get(confirm_delete).post(delete),
        )
}

struct Row {
    href: String,
    username: String,
    kind: &'static str,
    email: String,
    roles: String,
    enabled: bool,
    created: String,
}

fn kind_of(u: &UserRepresentation) -> &'static str {
    if u.user_type == "machine" {
        "machine"
    } else {
        "person"
    }
}

#[derive(Template)]
#[template(path = "account/admin_users.html")]
struct Users {
    shell: Shell,
    head: Head,
    search: String,
    kind: String,
    rows: Vec<Row>,
    pager: Pager,
    list_href: String,
    create: String,
}

#[derive(Deserialize)]
struct ListQuery {
    search: Option<String>,
    kind: Option<String>,
    after: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let a = Admin::open(&app, &realm, &headers, &uri).await?;
    let search = q.search.unwrap_or_default().trim().to_owned();
    let kind = q.kind.unwrap_or_default();
    let user_type = match kind.as_str() {
        "machine" => Some(UserType::Machine),
        "person" => Some(UserType::Person),
        _ => None,
    };
    let after = q.after.filter(|a| !a.is_empty());
    let filter = UserFilter {
        search: (!search.is_empty()).then(|| search.clone()),
        user_type,
        after: after.clone(),
        first: None,
        max: Some(PAGE + 1),
    };
    let mut users = admin::list_users(&app, a.target, a.caller(), filter)
        .await
        .map_err(|e| a.failed(e))?;
    let more = users.len() as i64 > PAGE;
    users.truncate(PAGE as usize);
    let params = [("search", search.as_str()), ("kind", kind.as_str())];
    let pager = Pager {
        first: after.is_some().then(|| a.href("/users", &params)),
        next: users.last().filter(|_| more).map(|u| {
            a.href(
                "/users",
                &[params[0], params[1], ("after", u.username.as_str())],
            )
        }),
    };
    let rows = users
        .into_iter()
        .map(|u| Row {
            href: a.href(&format!("/users/{}", u.id), &[]),
            kind: kind_of(&u),
            email: u.email.clone().unwrap_or_default(),
            roles: u.roles.join(" "),
            enabled: u.enabled,
            created: when(u.created_at),
            username: u.username,
        })
        .collect();
    let page = Users {
        shell: a.shell("/users", "Users"),
        head: a.head("/users"),
        search,
        kind,
        rows,
        pager,
        list_href: a.href("/users", &[]),
        create: a.href("/users", &[]),
    };
    Ok(a.render(&page))
}

/// Creates a machine user (no password; it acts through the scoped tokens an administrator makes for it).
async fn create(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    let req = CreateUser {
        username: form.get("username").unwrap_or("").trim().to_owned(),
        machine: true,
        roles: split_roles(form.get("roles").unwrap_or("")),
        ..Default::default()
    };
    let user = admin::create_user(&app, a.target, a.caller(), req)
        .await
        .map_err(|e| a.failed(e))?;
    Ok(a.done(&format!("/users/{}", user.id), &[], "user-created"))
}

fn split_roles(text: &str) -> Vec<String> {
    text.split([' ', ',', '\n', '\r', '\t'])
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

#[derive(Template)]
#[template(path = "account/admin_user.html")]
struct One {
    shell: Shell,
    head: Head,
    u: UserRepresentation,
    kind: &'static str,
    created: String,
    roles: String,
    is_self: bool,
    tokens: Vec<TokenRow>,
    more_tokens: bool,
    tokens_href: String,
    audit_href: String,
    roles_action: String,
    enabled_action: String,
    delete_href: String,
    revoke: String,
}

async fn one(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let a = Admin::open(&app, &realm, &headers, &uri).await?;
    let u = admin::get_user(&app, a.target, a.caller(), &id)
        .await
        .map_err(|e| a.failed(e))?;
    let filter = TokenFilter {
        user: Some(u.id.clone()),
        max: Some(11),
        ..Default::default()
    };
    let mut tokens = admin::list_tokens(&app, a.target, a.caller(), filter)
        .await
        .map_err(|e| a.failed(e))?;
    let more_tokens = tokens.len() > 10;
    tokens.truncate(10);
    let base = format!("/users/{}", u.id);
    let page = One {
        shell: a.shell("/users", &u.username),
        head: a.head(&base),
        kind: kind_of(&u),
        created: when(u.created_at),
        roles: u.roles.join(" "),
        is_self: u.id == a.caller().user_id && a.target.name == a.p.ctx.realm.name,
        tokens: tokens.into_iter().map(|t| token_row(&a, t)).collect(),
        more_tokens,
        tokens_href: a.href("/tokens/scoped", &[("user", &u.id)]),
        audit_href: a.href("/audit", &[("user", &u.id)]),
        roles_action: a.href(&format!("{base}/roles"), &[]),
        enabled_action: a.href(&format!("{base}/enabled"), &[]),
        delete_href: a.href(&format!("{base}/delete"), &[]),
        revoke: a.href("/tokens/revoke", &[]),
        u,
    };
    Ok(a.render(&page))
}

async fn roles(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    let roles = split_roles(form.get("roles").unwrap_or(""));
    let u = admin::set_user_roles(&app, a.target, a.caller(), &id, roles)
        .await
        .map_err(|e| a.failed(e))?;
    Ok(a.done(&format!("/users/{}", u.id), &[], "user-updated"))
}

async fn enabled(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    let enable = form.get("enabled") == Some("true");
    let u = admin::set_user_enabled(&app, a.target, a.caller(), &id, enable)
        .await
        .map_err(|e| a.failed(e))?;
    Ok(a.done(&format!("/users/{}", u.id), &[], "user-updated"))
}

#[derive(Template)]
#[template(path = "account/admin_user_delete.html")]
struct ConfirmDelete {
    shell: Shell,
    head: Head,
    u: UserRepresentation,
    active_tokens: usize,
    more: bool,
    action: String,
    cancel: String,
}

/// The confirmation page: what deleting the user takes with it.
async fn confirm_delete(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let a = Admin::open(&app, &realm, &headers, &uri).await?;
    let u = admin::get_user(&app, a.target, a.caller(), &id)
        .await
        .map_err(|e| a.failed(e))?;
    let filter = TokenFilter {
        user: Some(u.id.clone()),
        max: Some(admin::MAX_PAGE),
        ..Default::default()
    };
    let tokens = admin::list_tokens(&app, a.target, a.caller(), filter)
        .await
        .map_err(|e| a.failed(e))?;
    let page = ConfirmDelete {
        shell: a.shell("/users", "Delete user"),
        head: a.head(&format!("/users/{}/delete", u.id)),
        active_tokens: tokens.iter().filter(|t| t.active).count(),
        more: tokens.len() as i64 >= admin::MAX_PAGE,
        action: a.href(&format!("/users/{}/delete", u.id), &[]),
        cancel: a.href(&format!("/users/{}", u.id), &[]),
        u,
    };
    Ok(a.render(&page))
}

async fn delete(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    admin::delete_user(&app, a.target, a.caller(), &id)
        .await
        .map_err(|e| a.failed(e))?;
    Ok(a.done("/users", &[], "user-deleted"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn roles_split_on_spaces_commas_and_lines() {
        assert_eq!(
            super::split_roles(" bot, user\nadmin  "),
            ["bot", "user", "admin"]
        );
        assert!(super::split_roles(" , ").is_empty());
    }
}
