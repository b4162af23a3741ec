//! Server-rendered pages: plain HTML forms that work without JavaScript, each with a CSRF token. One sign-in page
//! (`login`) serves every browser flow: the device pages, the authorization endpoint and whatever comes next send
//! the browser there with a `return_to` and get it back signed in.

mod account;
mod authorize;
mod broker;
mod device;
mod login;
mod logout;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::domain::browser::{self, Browser};
use crate::http::cookies::SessionCookie;
use crate::state::{AppState, Realm};

pub use logout::rp_initiated as rp_initiated_logout;

pub fn router() -> Router<AppState> {
    device::router()
        .merge(account::router())
        .merge(login::router())
        .merge(authorize::router())
        .merge(logout::router())
        .merge(broker::router())
}

const CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'";

/// A rendered page (or a redirect), with the session cookie to set (if any) and strict security headers.
pub struct Page {
    status: StatusCode,
    html: String,
    set_cookie: Option<String>,
    location: Option<String>,
    csp: String,
}

impl Page {
    pub fn render(status: StatusCode, template: &impl Template) -> Page {
        let html = template.render().unwrap_or_else(|e| {
            tracing::error!(error = %e, "template rendering failed");
            "<!doctype html><title>Error</title><p>Internal error.</p>".into()
        });
        Page {
            status,
            html,
            set_cookie: None,
            location: None,
            csp: CSP.into(),
        }
    }

    /// `303 See Other` to `location` (after a POST, so that a reload does not resubmit).
    pub fn redirect(location: String) -> Page {
        Page {
            status: StatusCode::SEE_OTHER,
            html: String::new(),
            set_cookie: None,
            location: Some(location),
            csp: CSP.into(),
        }
    }

    /// A heading and a message (results and errors); `success` shows it as good news.
    pub fn message(
        realm: &Realm,
        status: StatusCode,
        heading: &str,
        message: &str,
        success: bool,
    ) -> Page {
        Page::render(
            status,
            &Message {
                realm: &realm.name,
                heading,
                message,
                success,
            },
        )
    }

    pub fn with_cookie(mut self, cookie: String) -> Page {
        self.set_cookie = Some(cookie);
        self
    }

    /// Lets this page's forms lead to `origin` too (Chromium applies `form-action` to the redirects that follow
    /// a form submission, and a sign-in ends at the client's redirect URI).
    pub fn allow_form_target(mut self, uri: &str) -> Page {
        if let Some(origin) = origin_of(uri) {
            self.csp = self.csp.replace(
                "form-action 'self'",
                &format!("form-action 'self' {origin}"),
            );
        }
        self
    }

    /// Replaces the Content-Security-Policy.
    pub fn with_csp(mut self, csp: String) -> Page {
        self.csp = csp;
        self
    }
}

/// `scheme://host[:port]` of an absolute URL, for a CSP source list.
fn origin_of(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    url.host()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let mut response = (self.status, Html(self.html)).into_response();
        let h = response.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        if let Ok(csp) = HeaderValue::from_str(&self.csp) {
            h.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            h.insert(header::LOCATION, location);
        }
        if let Some(cookie) = self.set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::SET_COOKIE, cookie);
        }
        response
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct Message<'a> {
    realm: &'a str,
    heading: &'a str,
    message: &'a str,
    success: bool,
}

/// Paths and cookies of one realm's pages.
pub struct Ctx<'a> {
    pub app: &'a AppState,
    pub realm: &'a Realm,
}

impl<'a> Ctx<'a> {
    pub fn new(app: &'a AppState, name: &str) -> Result<Ctx<'a>, crate::http::ApiError> {
        Ok(Ctx {
            app,
            realm: crate::http::realm(app, name)?,
        })
    }

    /// `{base}/realms/{realm}{suffix}`: a path of this realm on this server.
    pub fn path(&self, suffix: &str) -> String {
        format!(
            "{}/realms/{}{suffix}",
            self.app.settings.base_path, self.realm.name
        )
    }

    /// The browser of a request (signed in or anonymous; see [`browser::current`]).
    pub async fn browser(&self, headers: &HeaderMap) -> Result<Browser, crate::http::ApiError> {
        Ok(browser::current(self.app, self.realm, self.cookie_value(headers)).await?)
    }

    /// This realm's session cookie (`__Host-` prefixed and `Secure` when the public URL is https).
    pub fn session_cookie(&self) -> SessionCookie {
        SessionCookie::new(&self.realm.name, &self.path("/"), self.app.secure_cookies())
    }

    /// The session cookie's value in the request, if it was sent.
    pub fn cookie_value<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        self.session_cookie().value(headers)
    }

    /// `Set-Cookie` for the browser's session.
    pub fn cookie(&self, browser: &Browser) -> String {
        self.session_cookie()
            .set(&browser.cookie, browser::SESSION_LIFETIME)
    }

    /// `return_to` if it is a path of this realm on this server (never another site: no open redirect).
    pub fn safe_return_to(&self, return_to: Option<&str>) -> Option<String> {
        let r = return_to?;
        let ok = r.starts_with(&self.path("/"))
            && r.len() <= 4096
            && !r.contains(['\\', '\r', '\n'])
            && !r.contains("/../")
            && !r.contains("/./");
        ok.then(|| r.to_owned())
    }

    /// The sign-in page, coming back to `return_to` (a path of this realm) afterwards.
    pub fn sign_in_url(&self, return_to: &str) -> String {
        let query = serde_urlencoded::to_string([("return_to", return_to)]).unwrap_or_default();
        format!("{}?{query}", self.path("/login"))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_of_absolute_urls_only() {
        assert_eq!(
            super::origin_of("https://app.example.org:8443/cb?x=1").as_deref(),
            Some("https://app.example.org:8443")
        );
        assert_eq!(
            super::origin_of("http://127.0.0.1:5000/cb").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(super::origin_of("com.example.app:/cb"), None);
        assert_eq!(super::origin_of("/relative"), None);
    }
}
