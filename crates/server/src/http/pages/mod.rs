//! Server-rendered pages: plain HTML forms that work without JavaScript, each with a CSRF token.

mod device;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    device::router()
}

/// A rendered page, with the session cookie to set (if any) and strict security headers.
pub struct Page {
    status: StatusCode,
    html: String,
    set_cookie: Option<String>,
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
        }
    }

    pub fn with_cookie(mut self, cookie: String) -> Page {
        self.set_cookie = Some(cookie);
        self
    }
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
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
        );
        if let Some(cookie) = self.set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::SET_COOKIE, cookie);
        }
        response
    }
}
