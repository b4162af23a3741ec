//! The Dashboard (the portal's start page) and **Generate Access Token** (seed 002): a personal `kp_` token made
//! through the admin API's own `create_token`, shown exactly once — in the answer to the POST that made it, with
//! `Cache-Control: no-store`, never in a URL or a redirect.

use askama::Template;
use axum::Router;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keyport_proto::admin::CreateToken;

use super::{Ctx, Portal, Section, Shell, when};
use crate::domain::{admin, scope};
use crate::http::Form;
use crate::http::pages::Page;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/realms/{realm}/account", get(to_dashboard))
        .route("/realms/{realm}/account/", get(show))
        .route("/realms/{realm}/account/tokens/new", post(generate))
}

#[derive(Template)]
#[template(path = "account/dashboard.html")]
struct Dashboard<'a> {
    shell: Shell,
    action: String,
    name: &'a str,
    lifespan_days: u64,
    max_days: u64,
    error: Option<String>,
    tokens_href: String,
    sessions_href: String,
    profile_href: String,
}

/// The one response that shows a new token.
#[derive(Template)]
#[template(path = "account/token_created.html")]
struct Created {
    shell: Shell,
    token: String,
    token_id: String,
    name: Option<String>,
    expires: String,
    scopes: Vec<String>,
    dashboard_href: String,
    tokens_href: String,
}

impl Portal<'_> {
    fn dashboard(
        &self,
        status: StatusCode,
        name: &str,
        days: Option<u64>,
        error: Option<String>,
    ) -> Response {
        let c = &self.ctx.realm.config;
        let max_days = (c.personal_token_max_lifespan.as_secs() / 86400).max(1);
        let default_days = (c
            .api_token_default_lifespan
            .min(c.personal_token_max_lifespan)
            .as_secs()
            / 86400)
            .max(1);
        let page = Dashboard {
            shell: self.shell(Section::Dashboard, "Dashboard"),
            action: self.path("/tokens/new"),
            name,
            lifespan_days: days.unwrap_or(default_days).clamp(1, max_days),
            max_days,
            error,
            tokens_href: self.path("/tokens"),
            sessions_href: self.path("/sessions"),
            profile_href: self.path("/profile"),
        };
        self.render(status, &page)
    }
}

async fn to_dashboard(State(app): State<AppState>, Path(realm): Path<String>) -> Response {
    match Ctx::new(&app, &realm) {
        Ok(ctx) => Page::redirect(ctx.path("/account/")).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn show(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let p = Portal::open(&app, &realm, &headers, &uri).await?;
    Ok(p.dashboard(StatusCode::OK, "", None, None))
}

async fn generate(
    State(app): State<AppState>,
    Path(realm): Path<String>,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, Response> {
    let p = Portal::submit(&app, &realm, &headers, &form).await?;
    let name = form.get("name").unwrap_or("").trim();
    let days_text = form.get("lifespan_days").unwrap_or("").trim();
    let days = match days_text.parse::<u32>() {
        Ok(d) => d,
        Err(_) => {
            let error = "Enter the lifespan as a whole number of days.".to_owned();
            return Ok(p.dashboard(StatusCode::BAD_REQUEST, name, None, Some(error)));
        }
    };
    let request = CreateToken {
        name: (!name.is_empty()).then(|| name.to_owned()),
        user_id: None,
        scopes: None,
        lifespan_days: Some(days),
    };
    let created = match admin::create_token(&app, p.ctx.realm, &p.caller, request).await {
        Ok(created) => created,
        Err(crate::domain::Error::OAuth { description, .. }) => {
            // Bad input (name, lifespan): the form again, with what was typed and the domain's words.
            return Ok(p.dashboard(
                StatusCode::BAD_REQUEST,
                name,
                Some(days as u64),
                Some(description),
            ));
        }
        Err(e) => return Err(p.failed(e)),
    };
    let page = Created {
        shell: p.shell(Section::Dashboard, "Your new access token"),
        token: created.token.expose().to_owned(),
        token_id: created.token_id,
        name: created.name,
        expires: when(created.expires_at),
        scopes: scope::for_roles(p.ctx.realm, &p.user.roles),
        dashboard_href: p.path("/"),
        tokens_href: p.path("/tokens"),
    };
    Ok(p.render(StatusCode::OK, &page))
}
