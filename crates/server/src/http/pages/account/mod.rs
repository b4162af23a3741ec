//! The web portal at Keycloak's account-console path, `{base}/realms/{realm}/account/`: server-rendered pages
//! for everyone (Dashboard with **Generate Access Token**, their tokens, sessions and profile) and, for the
//! realm's administrators, the admin pages (`admin/`). A visit without a signed-in page session goes through the
//! realm's one sign-in page and comes back.
//!
//! Every page is built the same way (see `PORTAL-NOTES.md`): [`Portal::open`] (GET) or [`Portal::submit`] (POST,
//! CSRF checked) gives the signed-in user as a [`Caller`] of the admin API's domain functions, so each action is
//! authorised and audited exactly as through the admin API; [`Portal::render`] wraps a template that extends
//! `account/layout.html` (nav, skip link, sign-out form) and sets the security headers; a POST answers
//! [`Portal::done`] (303 to a page, with a fixed flash phrase, never a secret, in the query).

mod admin;
mod assets;
mod dashboard;
mod profile;
mod sessions;
mod tokens;

use askama::Template;
use axum::Router;
use axum::extract::OriginalUri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Ctx, Page};
use crate::domain::admin::{Caller, Credential};
use crate::domain::browser::Browser;
use crate::domain::{self, scope};
use crate::http::Form;
use crate::state::AppState;
use crate::store::User;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(assets::router())
        .merge(dashboard::router())
        .merge(tokens::router())
        .merge(sessions::router())
        .merge(profile::router())
        .merge(admin::router())
        .route(
            "/realms/{realm}/account/admin/{*rest}",
            axum::routing::get(admin_guard).post(admin_guard),
        )
}

/// Any admin URL no admin page claims: 403 for non-administrators (whatever they typed), 404 otherwise. The
/// admin pages' own routes are more specific and win.
async fn admin_guard(
    axum::extract::State(app): axum::extract::State<AppState>,
    axum::extract::Path((realm, _rest)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let p = Portal::open(&app, &realm, &headers, &uri).await?;
    p.require_admin()?;
    Ok(p.error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such administration page.",
    ))
}

/// The portal's Content-Security-Policy: our own stylesheet and script only, nothing inline.
const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A page of the portal, for the nav's `aria-current`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Section {
    Dashboard,
    Tokens,
    Sessions,
    Profile,
    /// An admin page: its path suffix in [`admin::NAV`] (e.g. `/users`).
    Admin(&'static str),
    /// A page outside the nav (errors).
    None,
}

/// One nav entry.
pub struct NavItem {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

/// What `account/layout.html` needs: every portal template has a field `shell: Shell`.
pub struct Shell {
    pub realm: String,
    pub title: String,
    pub username: String,
    pub nav: Vec<NavItem>,
    /// Admin entries (empty for non-administrators).
    pub admin_nav: Vec<NavItem>,
    /// `?flash=` of a redirect after a POST, as a fixed phrase.
    pub flash: Option<&'static str>,
    pub csrf: String,
    pub sign_out: String,
    pub css: String,
    pub js: String,
}

/// A signed-in visitor of the portal: the page context, the browser session, the user, and the same
/// [`Caller`] the admin API would build for them.
pub struct Portal<'a> {
    pub ctx: Ctx<'a>,
    pub browser: Browser,
    pub user: User,
    pub caller: Caller,
    /// The `?flash=` key of this request (already validated: [`flash`]).
    flash: Option<&'static str>,
    /// The realm the admin pages administer when it is not the session's (a master administrator's choice):
    /// the admin nav carries it as `?realm=`.
    pub admin_realm: Option<String>,
}

impl<'a> Portal<'a> {
    /// For a GET: the signed-in visitor, or a redirect through the sign-in page back to this very address.
    pub async fn open(
        app: &'a AppState,
        realm: &str,
        headers: &HeaderMap,
        uri: &OriginalUri,
    ) -> Result<Portal<'a>, Response> {
        let ctx = Ctx::new(app, realm).map_err(IntoResponse::into_response)?;
        let browser = ctx
            .browser(headers)
            .await
            .map_err(IntoResponse::into_response)?;
        let here = uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        let flash = uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "flash")
                .and_then(|(_, v)| flash(&v))
        });
        let Some(user) = browser.user.clone() else {
            let back = ctx
                .safe_return_to(Some(&here))
                .unwrap_or_else(|| ctx.path("/account/"));
            return Err(Page::redirect(ctx.sign_in_url(&back)).into_response());
        };
        let caller = caller_of(&ctx, &user);
        Ok(Portal {
            ctx,
            browser,
            user,
            caller,
            flash,
            admin_realm: None,
        })
    }

    /// For a POST: the signed-in visitor whose form carries this session's CSRF token. A form without the
    /// session cookie or with another session's token is refused (403 page); a visitor no longer signed in goes
    /// through the sign-in page back to the Dashboard (a form is never resubmitted on their behalf).
    pub async fn submit(
        app: &'a AppState,
        realm: &str,
        headers: &HeaderMap,
        form: &Form,
    ) -> Result<Portal<'a>, Response> {
        let ctx = Ctx::new(app, realm).map_err(IntoResponse::into_response)?;
        let browser = ctx
            .browser(headers)
            .await
            .map_err(IntoResponse::into_response)?;
        let csrf_ok = ctx.cookie_value(headers).is_some()
            && browser.check_csrf(form.get("csrf").unwrap_or(""));
        let Some(user) = browser.user.clone() else {
            return Err(Page::redirect(ctx.sign_in_url(&ctx.path("/account/"))).into_response());
        };
        if !csrf_ok {
            tracing::info!(realm = %ctx.realm.name, user_id = %user.id, "portal form refused: bad CSRF token");
            return Err(Page::message(
                ctx.realm,
                StatusCode::FORBIDDEN,
                "Form refused",
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
                false,
            )
            .into_response());
        }
        let caller = caller_of(&ctx, &user);
        Ok(Portal {
            ctx,
            browser,
            user,
            caller,
            flash: None,
            admin_realm: None,
        })
    }

    /// Whether the visitor administers this realm (the admin role, whose scopes include `admin`: the same rule
    /// as for their personal API token).
    pub fn is_admin(&self) -> bool {
        self.caller.is_admin()
    }

    /// For admin pages: `Err(403 page)` unless [`Portal::is_admin`].
    // The refusal is the page itself (handlers return `Result<Response, Response>` and use `?`); it is built once
    // per refused request, so boxing it would buy nothing.
    #[allow(clippy::result_large_err)]
    pub fn require_admin(&self) -> Result<(), Response> {
        if self.is_admin() {
            return Ok(());
        }
        tracing::info!(realm = %self.ctx.realm.name, user_id = %self.user.id, "portal admin page refused");
        Err(self.error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "This page is for administrators of this realm. Ask an administrator if you need access.",
        ))
    }

    /// `{base}/realms/{realm}/account{suffix}`.
    pub fn path(&self, suffix: &str) -> String {
        self.ctx.path(&format!("/account{suffix}"))
    }

    /// The layout's data for a page titled `title` in `section`.
    pub fn shell(&self, section: Section, title: &str) -> Shell {
        let entry = |label, suffix: &str, s: Section| NavItem {
            label,
            href: self.path(suffix),
            current: s == section,
        };
        let nav = vec![
            entry("Dashboard", "/", Section::Dashboard),
            entry("Tokens", "/tokens", Section::Tokens),
            entry("Sessions", "/sessions", Section::Sessions),
            entry("Profile", "/profile", Section::Profile),
        ];
        let admin_nav = if self.is_admin() {
            let query = self
                .admin_realm
                .as_ref()
                .map(|r| {
                    format!(
                        "?{}",
                        serde_urlencoded::to_string([("realm", r)]).unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            admin::NAV
                .iter()
                .map(|&(label, suffix)| NavItem {
                    label,
                    href: format!("{}{query}", self.path(&format!("/admin{suffix}"))),
                    current: section == Section::Admin(suffix),
                })
                .collect()
        } else {
            Vec::new()
        };
        Shell {
            realm: self.ctx.realm.name.clone(),
            title: title.to_owned(),
            username: self.user.username.clone(),
            nav,
            admin_nav,
            flash: self.flash,
            csrf: self.browser.csrf(),
            sign_out: self.path("/sign-out"),
            css: assets::href(&self.ctx, "portal.css"),
            js: assets::href(&self.ctx, "portal.js"),
        }
    }

    /// A rendered page with the portal's headers (strict CSP, no framing, `no-store`) and the refreshed
    /// session cookie.
    pub fn render(&self, status: StatusCode, template: &impl Template) -> Response {
        Page::render(status, template)
            .with_csp(CSP.into())
            .with_cookie(self.ctx.cookie(&self.browser))
            .into_response()
    }

    /// After a POST: `303 See Other` to the portal page `suffix` (e.g. `/tokens`), with `flash` (a key of
    /// [`flash`]) in the query. Never put anything else there: no secret ever goes into a URL.
    pub fn done(&self, suffix: &str, flash_key: &'static str) -> Response {
        debug_assert!(flash(flash_key).is_some(), "unknown flash key {flash_key}");
        let sep = if suffix.contains('?') { '&' } else { '?' };
        Page::redirect(format!("{}{sep}flash={flash_key}", self.path(suffix)))
            .with_csp(CSP.into())
            .into_response()
    }

    /// A portal page with a heading and a message (errors, 403, 404).
    pub fn error_page(&self, status: StatusCode, heading: &str, message: &str) -> Response {
        let page = ErrorPage {
            shell: self.shell(Section::None, heading),
            heading,
            message,
        };
        self.render(status, &page)
    }

    /// A domain error as a page: refusals (403), unknown things (404), bad input (400) with the domain's own
    /// words; storage failures as 503 without detail.
    pub fn failed(&self, e: domain::Error) -> Response {
        use domain::Error as E;
        match e {
            E::Forbidden(_) => self.error_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "You may not do this. Ask an administrator of this realm if you need to.",
            ),
            E::NotFound(m) => self.error_page(StatusCode::NOT_FOUND, "Not found", &m),
            E::Conflict(m) => self.error_page(StatusCode::CONFLICT, "Already exists", &m),
            E::OAuth { description, .. } => {
                self.error_page(StatusCode::BAD_REQUEST, "Please check", &description)
            }
            other => {
                tracing::error!(error = %other, "portal action failed");
                self.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again later",
                    "The server could not complete this. Try again in a moment.",
                )
            }
        }
    }
}

/// The admin API's caller for a signed-in person: their current roles, and the scopes those roles allow
/// (`role_scopes`, as a personal API token of theirs would carry), with full rights.
fn caller_of(ctx: &Ctx<'_>, user: &User) -> Caller {
    Caller {
        realm: ctx.realm.name.clone(),
        user_id: user.id.clone(),
        username: user.username.clone(),
        email: user.email.clone(),
        roles: user.roles.clone(),
        user_type: Some(user.user_type),
        credential: Credential::AccessToken {
            scopes: scope::for_roles(ctx.realm, &user.roles),
        },
    }
}

/// The fixed phrases a redirect may show (`?flash=key`). Unknown keys show nothing, so a link cannot make the
/// portal say anything else. Admin pages add their keys here too.
pub fn flash(key: &str) -> Option<&'static str> {
    Some(match key {
        "token-revoked" => "The token was revoked. It stops working at once.",
        "session-ended" => "The session was signed out. Its refresh tokens no longer work.",
        "browser-ended" => "That browser was signed out.",
        "consent-revoked" => "Consent withdrawn: that application has to ask you again.",
        // Admin pages (portal-admin) add theirs below.
        "user-created" => "The user was created.",
        "user-deleted" => "The user was deleted, with their tokens and sessions.",
        "user-updated" => "The user was updated.",
        "client-created" => "The client was created.",
        "client-deleted" => "The client was deleted.",
        _ => return None,
    })
}

/// A Unix time as people read it: `2026-12-03 07:15 UTC`.
pub fn when(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => "—".into(),
    }
}

/// `?page=N` (1-based) as `(first, max)` for a page of `size` rows.
pub fn paging(page: Option<u32>, size: i64) -> (i64, i64) {
    let page = page.unwrap_or(1).clamp(1, 100_000) as i64;
    ((page - 1) * size, size)
}

/// Previous and next links of a paged list.
pub struct Pager {
    pub page: u32,
    pub prev: Option<String>,
    pub next: Option<String>,
}

impl Pager {
    /// `base` is the list's path (with its filter query, if any); `more` whether a next page exists (fetch one
    /// row more than shown to know).
    pub fn new(base: &str, page: Option<u32>, more: bool) -> Pager {
        let page = page.unwrap_or(1).max(1);
        let sep = if base.contains('?') { '&' } else { '?' };
        let link = |n: u32| format!("{base}{sep}page={n}");
        Pager {
            page,
            prev: (page > 1).then(|| link(page - 1)),
            next: more.then(|| link(page + 1)),
        }
    }
}

#[derive(Template)]
#[template(path = "account/error.html")]
struct ErrorPage<'a> {
    shell: Shell,
    heading: &'a str,
    message: &'a str,
}

#[cfg(test)]
mod tests {
    #[test]
    fn flash_keys_are_fixed_phrases() {
        assert!(super::flash("token-revoked").is_some());
        assert_eq!(super::flash("<script>"), None);
    }

    #[test]
    fn paging_is_one_based_and_clamped() {
        assert_eq!(super::paging(None, 25), (0, 25));
        assert_eq!(super::paging(Some(3), 25), (50, 25));
        assert_eq!(super::paging(Some(0), 25), (0, 25));
        let p = super::Pager::new("/a?user=x", Some(2), true);
        assert_eq!(p.prev.as_deref(), Some("/a?user=x&page=1"));
        assert_eq!(p.next.as_deref(), Some("/a?user=x&page=3"));
    }

    #[test]
    fn times_read_as_utc() {
        assert_eq!(super::when(0), "1970-01-01 00:00 UTC");
    }
}
