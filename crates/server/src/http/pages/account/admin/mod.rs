//! The administrator pages of the portal, under `{base}/realms/{realm}/account/admin`: **Token Management**
//! (Personal Tokens, User Scoped Tokens), **Users**, **Clients** and **Audit**. Shown only to administrators of
//! the realm (the admin role, whose scopes include `admin`); anyone else gets the 403 page, also when typing
//! the address.
//!
//! Every action calls the admin API's domain function (`domain::admin::*`) with the visitor's [`Portal::caller`],
//! so authorisation and the audit entries are those of the API. An administrator of realm `master` administers
//! any realm: the realm selector adds `?realm=B` to every link and a hidden `realm` field to every form; an
//! administrator of another realm asking for `?realm=B` gets the 403 page ([`Caller::may_act_on`]).
//!
//! Lists are paged by keyset (`after=`/`before=`: the sort key of the last row shown), so the 90,000th token or
//! the 900,000th audit entry costs what the first does (bench/micro `portal-pages`).

mod audit;
mod clients;
mod tokens;
mod users;

use axum::Router;
use axum::extract::OriginalUri;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Portal, Section, Shell};
use crate::domain::admin::Caller;
use crate::http::Form;
use crate::state::{AppState, Realm};

/// The admin entries of the portal's nav: label and path suffix after `/account/admin`.
pub const NAV: &[(&str, &str)] = &[
    ("Token Management", "/tokens"),
    ("Users", "/users"),
    ("Clients", "/clients"),
    ("Audit", "/audit"),
];

/// Rows per page of every admin list.
pub const PAGE: i64 = 50;

pub fn router() -> Router<AppState> {
    tokens::router()
        .merge(users::router())
        .merge(clients::router())
        .merge(audit::router())
        .route("/realms/{realm}/account/admin", axum::routing::get(start))
}

/// `…/account/admin`: Token Management of the realm administered.
async fn start(
    axum::extract::State(app): axum::extract::State<AppState>,
    axum::extract::Path(realm): axum::extract::Path<String>,
    headers: HeaderMap,
    uri: OriginalUri,
) -> Result<Response, Response> {
    let a = Admin::open(&app, &realm, &headers, &uri).await?;
    Ok(super::Page::redirect(a.href("/tokens", &[])).into_response())
}

/// An administrator on an admin page: the portal visitor and the realm they administer here.
pub struct Admin<'a> {
    pub p: Portal<'a>,
    pub target: &'a Realm,
}

/// A realm of the selector.
pub struct RealmChoice {
    pub name: String,
    pub selected: bool,
}

/// What every admin template shows above its content (`account/admin_head.html`).
pub struct Head {
    /// The realm administered.
    pub realm: String,
    /// The realm selector (administrators of `master` only; empty otherwise).
    pub realms: Vec<RealmChoice>,
    /// Where the selector's GET form goes (this page, without its query).
    pub here: String,
    /// The hidden `realm` field of forms (empty when it is the session's realm).
    pub realm_field: String,
}

impl<'a> Admin<'a> {
    /// For a GET: an administrator of the realm asked for (`?realm=`, default the session's), or the sign-in
    /// page / 403 / 404 page.
    pub async fn open(
        app: &'a AppState,
        realm: &str,
        headers: &HeaderMap,
        uri: &OriginalUri,
    ) -> Result<Admin<'a>, Response> {
        let p = Portal::open(app, realm, headers, uri).await?;
        let wanted = uri.query().and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "realm")
                .map(|(_, v)| v.into_owned())
        });
        Self::check(app, p, wanted.as_deref())
    }

    /// For a POST (CSRF checked by [`Portal::submit`]): the realm is the form's `realm` field.
    pub async fn submit(
        app: &'a AppState,
        realm: &str,
        headers: &HeaderMap,
        form: &Form,
    ) -> Result<Admin<'a>, Response> {
        let p = Portal::submit(app, realm, headers, form).await?;
        Self::check(app, p, form.get("realm"))
    }

    // The refusal is the page itself, as in `Portal::require_admin`.
    #[allow(clippy::result_large_err)]
    fn check(
        app: &'a AppState,
        mut p: Portal<'a>,
        wanted: Option<&str>,
    ) -> Result<Admin<'a>, Response> {
        p.require_admin()?;
        let refuse = |p: &Portal<'_>| {
            tracing::info!(realm = %p.ctx.realm.name, user_id = %p.user.id,
                "portal admin page of another realm refused");
            p.error_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "You administer only your own realm. Only administrators of realm master may switch realms.",
            )
        };
        let wanted = wanted.filter(|w| !w.is_empty() && *w != p.ctx.realm.name);
        let target = match wanted {
            None => p.ctx.realm,
            // Whether a realm exists is only told to those who may administer every realm.
            Some(_) if p.caller.realm != crate::setup::MASTER => return Err(refuse(&p)),
            Some(name) => match app.realm(name) {
                Some(r) => r,
                None => {
                    return Err(p.error_page(
                        StatusCode::NOT_FOUND,
                        "Not found",
                        "There is no such realm.",
                    ));
                }
            },
        };
        if !p.caller.may_act_on(target) {
            return Err(refuse(&p));
        }
        if target.name != p.ctx.realm.name {
            // The admin nav keeps the realm administered.
            p.admin_realm = Some(target.name.clone());
        }
        Ok(Admin { p, target })
    }

    pub fn caller(&self) -> &Caller {
        &self.p.caller
    }

    /// Whether the administered realm is not the session's (then links and forms carry `realm`).
    fn elsewhere(&self) -> bool {
        self.target.name != self.p.ctx.realm.name
    }

    /// `{base}/realms/{realm}/account/admin{suffix}` with `params` (empty values left out) and, when another
    /// realm is administered, `realm`.
    pub fn href(&self, suffix: &str, params: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = params
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .copied()
            .collect();
        if self.elsewhere() {
            pairs.push(("realm", &self.target.name));
        }
        let base = self.p.path(&format!("/admin{suffix}"));
        if pairs.is_empty() {
            base
        } else {
            format!(
                "{base}?{}",
                serde_urlencoded::to_string(&pairs).unwrap_or_default()
            )
        }
    }

    /// The layout's data (the admin nav keeps the administered realm: `Portal::admin_realm`).
    pub fn shell(&self, nav: &'static str, title: &str) -> Shell {
        self.p.shell(Section::Admin(nav), title)
    }

    /// The realm line and selector above every admin page; `here` is this page's suffix.
    pub fn head(&self, here: &str) -> Head {
        let realms = if self.p.caller.realm == crate::setup::MASTER {
            let mut names: Vec<&String> = self.p.ctx.app.realms.keys().collect();
            names.sort();
            names
                .into_iter()
                .map(|n| RealmChoice {
                    selected: *n == self.target.name,
                    name: n.clone(),
                })
                .collect()
        } else {
            Vec::new()
        };
        Head {
            realm: self.target.name.clone(),
            realms,
            here: self.p.path(&format!("/admin{here}")),
            realm_field: if self.elsewhere() {
                self.target.name.clone()
            } else {
                String::new()
            },
        }
    }

    /// After a POST: 303 to the admin page `suffix` (with `params` and the administered realm) and a flash.
    pub fn done(&self, suffix: &str, params: &[(&str, &str)], flash: &'static str) -> Response {
        let href = self.href(suffix, params);
        let rel = href
            .strip_prefix(&self.p.path(""))
            .unwrap_or(&href)
            .to_owned();
        self.p.done(&rel, flash)
    }

    pub fn failed(&self, e: crate::domain::Error) -> Response {
        self.p.failed(e)
    }

    pub fn render(&self, template: &impl askama::Template) -> Response {
        self.p.render(StatusCode::OK, template)
    }
}

/// A keyset pager: "Next page" continues after the last row shown; "First page" starts again.
pub struct Pager {
    pub first: Option<String>,
    pub next: Option<String>,
}

/// `{a}.{b}`: a keyset cursor in a URL.
pub fn cursor(a: i64, b: &str) -> String {
    format!("{a}.{b}")
}

/// Parses `{number}.{rest}`; anything else is no cursor (the first page).
pub fn parse_cursor(text: Option<&str>) -> Option<(i64, String)> {
    let (a, b) = text?.split_once('.')?;
    let a = a.parse().ok()?;
    (!b.is_empty()
        && b.len() <= 64
        && b.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
    .then(|| (a, b.to_owned()))
}

/// A time typed into a filter: `YYYY-MM-DDTHH:MM[:SS]` (an HTML `datetime-local`, read as UTC) or Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(n) = text.parse::<i64>() {
        return Some(n);
    }
    let (date, clock) = text.split_once(['T', ' '])?;
    let mut d = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, mo, da) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut c = clock.splitn(3, ':').map(str::parse::<i64>);
    let (h, mi) = (c.next()?.ok()?, c.next()?.ok()?);
    let s = c.next().map(|r| r.ok()).unwrap_or(Some(0))?;
    let month = time::Month::try_from(u8::try_from(mo).ok()?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(y).ok()?, month, u8::try_from(da).ok()?)
            .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(h).ok()?,
        u8::try_from(mi).ok()?,
        u8::try_from(s).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(date, t)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// A Unix time as a `datetime-local` value (UTC).
pub fn time_field(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        assert_eq!(
            parse_cursor(Some(&cursor(1700000000, "ab12"))),
            Some((1700000000, "ab12".into()))
        );
        for junk in ["", "12", "x.ab", "12.", "12.a b", "12.<script>"] {
            assert_eq!(parse_cursor(Some(junk)), None, "{junk}");
        }
    }

    #[test]
    fn times_from_datetime_local_or_unix_seconds() {
        assert_eq!(parse_time("2026-12-03T07:20"), Some(1_796_282_400));
        assert_eq!(parse_time("2026-12-03T07:20:30"), Some(1_796_282_430));
        assert_eq!(parse_time("1796282400"), Some(1_796_282_400));
        assert_eq!(time_field(1_796_282_400), "2026-12-03T07:20");
        for junk in ["", "yesterday", "2026-13-01T00:00", "2026-12-03T25:00"] {
            assert_eq!(parse_time(junk), None, "{junk}");
        }
    }
}
