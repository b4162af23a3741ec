//! **Clients**: the realm's clients (type, grants, roles, scopes, redirect URIs, where each comes from), creating
//! a confidential client (a bot) and rotating its secret — the secret shown once, in the answer to that POST and
//! nowhere else (never in a URL, never on a later page) — and deleting one. Through `admin::list_clients`,
//! `create_client`, `rotate_client_secret` and `delete_client`.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use keyport_proto::admin::{ClientRepresentation, CreateClient, CreatedClient};
use serde::Deserialize;

use super::{Admin, Head, PAGE, Pager};
use crate::domain::admin;
use crate::http::Form;
use crate::http::pages::account::Shell;
use crate::state::AppState;

/// The grants a client made here may have (authorization code clients are declared in the configuration file,
/// with their redirect URIs).
const GRANTS: [(&str, &str); 4] = [
    (
        "client_credentials",
        "Client credentials (a bot acting as itself)",
    ),
    ("password", "Password"),
    ("refresh_token", "Refresh token"),
    ("device_code", "Device code"),
];

pub fn router() -> Router<AppState> {
    let p = "/realms/{realm}/account/admin/clients";
    Router::new()
        .route(p, get(list).post(create))
        .route(&format!("{p}/{{id}}/secret"), post(rotate))
        .route(&format!("{p}/{{id}}/delete"), post(delete))
}

struct Grant {
    value: &'static str,
    label: &'static str,
    id: String,
}

#[derive(Template)]
#[template(path = "account/admin_clients.html")]
struct Clients {
    shell: Shell,
    head: Head,
    clients: Vec<Row>,
    pager: Pager,
    grants: Vec<Grant>,
    create: String,
}

struct Row {
    c: ClientRepresentation,
    rotate: String,
    delete: String,
}

#[derive(Deserialize)]
struct ListQuery {
    /// Offset: a realm has few clients, so plain offset paging is fine here.
    first: Option<i64>,
}

async fn list(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let a = Admin::open(&app, &realm, &headers, &uri).await?;
    let first = q.first.unwrap_or(0).max(0);
    let mut clients = admin::list_clients(&app, a.target, a.caller(), Some(first), Some(PAGE + 1))
        .await
        .map_err(|e| a.failed(e))?;
    let more = clients.len() as i64 > PAGE;
    clients.truncate(PAGE as usize);
    let next = (first + PAGE).to_string();
    let pager = Pager {
        first: (first > 0).then(|| a.href("/clients", &[])),
        next: more.then(|| a.href("/clients", &[("first", &next)])),
    };
    let clients = clients
        .into_iter()
        .map(|c| Row {
            rotate: a.href(&format!("/clients/{}/secret", c.client_id), &[]),
            delete: a.href(&format!("/clients/{}/delete", c.client_id), &[]),
            c,
        })
        .collect();
    let page = Clients {
        shell: a.shell("/clients", "Clients"),
        head: a.head("/clients"),
        clients,
        pager,
        grants: GRANTS
            .iter()
            .map(|&(value, label)| Grant {
                value,
                label,
                id: format!("grant-{}", value.replace('_', "-")),
            })
            .collect(),
        create: a.href("/clients", &[]),
    };
    Ok(a.render(&page))
}

#[derive(Template)]
#[template(path = "account/admin_client_secret.html")]
struct SecretShown {
    shell: Shell,
    head: Head,
    created: bool,
    client: CreatedClient,
    clients_href: String,
}

/// The one response that shows a client's secret (rendered in answer to the POST, with `no-store`).
fn show_secret(a: &Admin<'_>, client: CreatedClient, created: bool) -> Response {
    let page = SecretShown {
        shell: a.shell(
            "/clients",
            if created {
                "Client created"
            } else {
                "New client secret"
            },
        ),
        head: a.head("/clients"),
        created,
        client,
        clients_href: a.href("/clients", &[]),
    };
    a.render(&page)
}

async fn create(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    let grants: Vec<String> = GRANTS
        .iter()
        .filter(|(g, _)| form.get(&format!("grant_{g}")).is_some())
        .map(|(g, _)| (*g).to_owned())
        .collect();
    let req = CreateClient {
        client_id: form.get("client_id").unwrap_or("").trim().to_owned(),
        grants: Some(grants),
        roles: form
            .get("roles")
            .unwrap_or("")
            .split([' ', ','])
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let created = admin::create_client(&app, a.target, a.caller(), req)
        .await
        .map_err(|e| a.failed(e))?;
    Ok(show_secret(&a, created, true))
}

async fn rotate(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    let rotated = admin::rotate_client_secret(&app, a.target, a.caller(), &id)
        .await
        .map_err(|e| a.failed(e))?;
    Ok(show_secret(&a, rotated, false))
}

async fn delete(
    State(app): State<AppState>,
    Path((realm, id)): Path<(String, String)>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let a = Admin::submit(&app, &realm, &headers, &form).await?;
    admin::delete_client(&app, a.target, a.caller(), &id)
        .await
        .map_err(|e| a.failed(e))?;
    Ok(a.done("/clients", &[], "client-deleted"))
}
