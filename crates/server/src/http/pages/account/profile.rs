//! **Your profile**: username, email, name, roles (and the API scopes they allow), linked upstream providers, and
//! the applications the user allowed on a consent page (withdrawn here).

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};

use super::{Portal, Section, Shell, when};
use crate::domain::{account, scope};
use crate::http::Form;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/account/profile", get(show))
        .route(
            "/realms/{realm}/account/consents/revoke",
            post(revoke_consent),
        )
}

struct Allowed {
    client_id: String,
    scope: String,
    since: String,
}

struct Link {
    display_name: String,
    since: String,
}

#[derive(Template)]
#[template(path = "account/profile.html")]
struct Profile {
    shell: Shell,
    username: String,
    email: Option<String>,
    name: Option<String>,
    kind: &'static str,
    roles: Vec<String>,
    scopes: Vec<String>,
    admin: bool,
    since: String,
    links: Vec<Link>,
    signed_in_with: String,
    allowed: Vec<Allowed>,
    revoke_consent: String,
}

async fn show(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let p = Portal::open(&app, &realm, &headers, &uri).await?;
    let links = app
        .store
        .user_links(&p.ctx.realm.name, &p.user.id)
        .await
        .map_err(|e| p.failed(e.into()))?;
    let allowed = account::consents(&app, p.ctx.realm, &p.user)
        .await
        .map_err(|e| p.failed(e))?
        .into_iter()
        .map(|c| Allowed {
            client_id: c.client_id,
            scope: c.scope,
            since: when(c.granted_at),
        })
        .collect();
    let display = |alias: &str| {
        p.ctx
            .realm
            .config
            .identity_providers
            .iter()
            .find(|i| i.alias == alias)
            .and_then(|i| i.display_name.clone())
            .unwrap_or_else(|| alias.to_owned())
    };
    let signed_in_with = match p.browser.amr.strip_prefix("fed:") {
        Some(alias) => display(alias),
        None => "your password".into(),
    };
    let u = &p.user;
    let page = Profile {
        shell: p.shell(Section::Profile, "Your profile"),
        username: u.username.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        kind: match u.user_type {
            crate::store::UserType::Machine => "machine user",
            crate::store::UserType::Person => "person",
        },
        roles: u.roles.clone(),
        scopes: scope::for_roles(p.ctx.realm, &u.roles),
        admin: p.is_admin(),
        since: when(u.created_at),
        links: links
            .iter()
            .map(|(alias, at)| Link {
                display_name: display(alias),
                since: when(*at),
            })
            .collect(),
        signed_in_with,
        allowed,
        revoke_consent: p.path("/consents/revoke"),
    };
    Ok(p.render(StatusCode::OK, &page))
}

async fn revoke_consent(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let p = Portal::submit(&app, &realm, &headers, &form).await?;
    account::revoke_consent(
        &app,
        p.ctx.realm,
        &p.user,
        form.get("client_id").unwrap_or(""),
    )
    .await
    .map_err(|e| p.failed(e))?;
    Ok(p.done("/profile", "consent-revoked"))
}
