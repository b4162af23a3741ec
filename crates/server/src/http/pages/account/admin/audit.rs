//! **Audit**: the realm's audit log, newest first, filtered by user (username or id), token id, action and time
//! range, paged by keyset (`before=`: the time and id of the last entry shown); every entry links to its user and
//! its token. Through `admin::audit_log` (and `admin::usernames` for the names).

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::{Admin, Head, PAGE, Pager, cursor, parse_cursor, parse_time, time_field};
use crate::domain::admin;
use crate::http::pages::account::{Shell, when};
use crate::state::AppState;
use crate::store::AuditQuery;

/// The actions the filter offers (any other can still be typed into the URL).
const ACTIONS: &[&str] = &[
    "token.use",
    "token.create",
    "token.revoke",
    "token.info",
    "token.introspect",
    "user.create",
    "user.delete",
    "user.roles",
    "user.enable",
    "user.disable",
    "client.create",
    "client.secret",
    "client.delete",
    "admin_api",
];

pub fn router() -> Router<AppState> {
    Router::new().route("/realms/{realm}/account/admin/audit", get(list))
}

struct Row {
    time: String,
    actor: Option<(String, String)>,
    token: Option<(String, String)>,
    action: String,
    target: Option<(String, Option<String>)>,
    outcome: String,
    detail: String,
}

struct ActionChoice {
    name: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "account/admin_audit.html")]
struct Audit {
    shell: Shell,
    head: Head,
    user: String,
    token: String,
    action: String,
    actions: Vec<ActionChoice>,
    since: String,
    until: String,
    rows: Vec<Row>,
    pager: Pager,
    list_href: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
struct ListQuery {
    user: Option<String>,
    token: Option<String>,
    action: Option<String>,
    since: Option<String>,
    until: Option<String>,
    before: Option<String>,
}

async fn list(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let a = Admin::open(&app, &realm, &headers, &uri).await?;
    let text = |v: Option<String>| v.unwrap_or_default().trim().to_owned();
    let (user, token, action) = (text(q.user), text(q.token), text(q.action));
    let (since_text, until_text) = (text(q.since), text(q.until));
    let (since, until) = (parse_time(&since_text), parse_time(&until_text));
    let mut error = None;
    if (!since_text.is_empty() && since.is_none()) || (!until_text.is_empty() && until.is_none()) {
        error = Some("A time is not understood: use the date and time fields (UTC).");
    }
    let before =
        parse_cursor(q.before.as_deref()).and_then(|(at, id)| Some((at, id.parse().ok()?)));
    let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let query = AuditQuery {
        actor_user_id: some(&user),
        token_id: some(&token),
        action: some(&action),
        since,
        until,
        before,
        first: 0,
        max: PAGE + 1,
        ..Default::default()
    };
    let mut entries = match admin::audit_log(&app, a.target, a.caller(), query).await {
        Ok(entries) => entries,
        Err(crate::domain::Error::OAuth { .. }) => {
            error = Some("“From” is after “Until”.");
            Vec::new()
        }
        Err(e) => return Err(a.failed(e)),
    };
    let more = entries.len() as i64 > PAGE;
    entries.truncate(PAGE as usize);
    let ids: Vec<String> = entries
        .iter()
        .filter_map(|e| e.actor_user_id.clone())
        .collect();
    let names = admin::usernames(&app, a.target, a.caller(), &ids)
        .await
        .map_err(|e| a.failed(e))?;
    let (since_field, until_field) = (
        since.map(time_field).unwrap_or(since_text),
        until.map(time_field).unwrap_or(until_text),
    );
    let params = [
        ("user", user.as_str()),
        ("token", token.as_str()),
        ("action", action.as_str()),
        ("since", since_field.as_str()),
        ("until", until_field.as_str()),
    ];
    let pager = Pager {
        first: before.is_some().then(|| a.href("/audit", &params)),
        next: entries.last().filter(|_| more).map(|e| {
            let c = cursor(e.time, &e.id);
            let mut p = params.to_vec();
            p.push(("before", &c));
            a.href("/audit", &p)
        }),
    };
    let rows = entries
        .into_iter()
        .map(|e| {
            let user_link = |id: &str| a.href(&format!("/users/{id}"), &[]);
            let token_link = |id: &str| a.href(&format!("/tokens/{id}"), &[]);
            Row {
                time: when(e.time),
                actor: e.actor_user_id.as_ref().map(|id| {
                    let label = names.get(id).cloned().unwrap_or_else(|| id.clone());
                    (label, user_link(id))
                }),
                token: e.token_id.as_ref().map(|id| (id.clone(), token_link(id))),
                target: e.target.as_ref().map(|t| {
                    let href = if e.action.starts_with("user.") {
                        Some(user_link(t))
                    } else if e.action.starts_with("token.") && e.action != "token.introspect" {
                        Some(token_link(t))
                    } else {
                        None
                    };
                    (t.clone(), href)
                }),
                action: e.action,
                outcome: e.outcome,
                detail: e.detail.unwrap_or_default(),
            }
        })
        .collect();
    let page = Audit {
        shell: a.shell("/audit", "Audit"),
        head: a.head("/audit"),
        actions: ACTIONS
            .iter()
            .map(|&name| ActionChoice {
                name,
                selected: name == action,
            })
            .collect(),
        user,
        token,
        action,
        since: since_field,
        until: until_field,
        rows,
        pager,
        list_href: a.href("/audit", &[]),
        error,
    };
    Ok(a.render(&page))
}
