//! HTTP: routes, extractors and the mapping of domain errors to status codes. Handlers are thin: extract, call a
//! domain function, map the result. Only this module knows status codes and headers.

pub mod admin;
pub mod client_ip;
mod cookies;
mod discovery;
mod form;
mod health;
mod json;
mod observe;
mod pages;
mod protocol;
mod rate_limit;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use keyport_proto::{ErrorBody, ErrorCode};

use crate::domain::Error;
use crate::state::{AppState, Realm};

pub use form::Form;

/// The whole application: health at the root, everything else under the base path (`/metrics` too, unless
/// `server.metrics_listen` moves it to a listener of its own).
pub fn router(app: AppState) -> Router {
    let metrics = if app.settings.metrics_listen.is_none() {
        observe::router()
    } else {
        Router::new()
    };
    let realms = Router::new()
        .merge(metrics)
        .merge(discovery::router())
        .merge(admin::router())
        .merge(protocol::router())
        .merge(pages::router())
        .merge(health::router())
        .fallback(not_found);
    let base = app.settings.base_path.clone();
    let routed = if base.is_empty() {
        realms
    } else {
        Router::new()
            .nest(&base, realms)
            .merge(health::router())
            .fallback(not_found)
    };
    // One layer of both (one boxed service a route, not two): the request id, counters and log span outermost.
    let layers = tower::ServiceBuilder::new()
        .layer(observe::Observe::new(app.clone()))
        .layer(DefaultBodyLimit::max(app.settings.max_body_bytes));
    routed.layer(layers).with_state(app)
}

/// `GET /metrics` alone, for `server.metrics_listen`.
pub fn metrics_router(app: AppState) -> Router {
    observe::router()
        .layer(observe::Observe::new(app.clone()))
        .with_state(app)
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "no such endpoint",
    )
}

/// Looks up the realm of a path, or answers 404.
pub fn realm<'a>(app: &'a AppState, name: &str) -> Result<&'a Realm, ApiError> {
    app.realm(name)
        .ok_or_else(|| Error::RealmNotFound(name.to_owned()).into())
}

/// An error response: an RFC 6749 §5.2 body with its status and, for 401s, `WWW-Authenticate`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// The database failed (counted in `/metrics`).
    store_failed: bool,
    /// `Retry-After`, in seconds (429 answers).
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody::new(code, description),
            store_failed: false,
            retry_after: None,
        }
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }

    /// The `error_description` (for pages that show the error to a person).
    pub fn description(&self) -> &str {
        self.body.error_description.as_deref().unwrap_or("")
    }

    /// The OAuth error code, as on the wire.
    pub(crate) fn code_str(&self) -> &'static str {
        self.body.code().map_or("error", ErrorCode::as_str)
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::OAuth { code, description } => ApiError::new(status_of(code), code, description),
            Error::RealmNotFound(name) => ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                format!("Realm `{name}` does not exist"),
            ),
            Error::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                ApiError {
                    store_failed: true,
                    ..ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorCode::TemporarilyUnavailable,
                        "the database is unavailable; try again shortly",
                    )
                }
            }
            Error::Forbidden(description) => {
                ApiError::new(StatusCode::FORBIDDEN, ErrorCode::AccessDenied, description)
            }
            Error::NotFound(description) => {
                ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, description)
            }
            Error::Conflict(description) => {
                ApiError::new(StatusCode::CONFLICT, ErrorCode::InvalidRequest, description)
            }
            Error::Internal(message) => {
                tracing::error!(%message, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ErrorCode::ServerError,
                    "internal server error",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.body.code();
        let store_failed = self.store_failed;
        let challenge = match code {
            Some(ErrorCode::InvalidClient) => Some(r#"Basic realm="keyport""#.to_owned()),
            Some(ErrorCode::InvalidToken) => Some(format!(
                r#"Bearer error="invalid_token", error_description="{}""#,
                self.body
                    .error_description
                    .as_deref()
                    .unwrap_or("")
                    .replace('"', "'")
            )),
            _ => None,
        };
        let mut response = (self.status, Json(self.body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(code) = code {
            response.extensions_mut().insert(observe::Refused(code));
        }
        if store_failed {
            response.extensions_mut().insert(observe::StoreFailed);
        }
        response
    }
}

/// A JSON answer that must not be cached (tokens, introspection). Serialised into one buffer sized for a token
/// response (axum's `Json` starts at 128 bytes and grows by copying).
pub fn no_store<T: serde::Serialize>(body: T) -> Response {
    let mut buf = Vec::with_capacity(1024);
    match serde_json::to_writer(&mut buf, &body) {
        Ok(()) => no_store_json(buf),
        // What `Json` answers when a body does not serialise (never for the types of this crate).
        Err(_) => no_store_headers(Json(body).into_response()),
    }
}

/// A token response (written by [`json::token_response`], without serde_json's escape pass over the tokens).
pub fn no_store_token(body: &keyport_proto::oauth::TokenResponse) -> Response {
    no_store_json(json::token_response(body))
}

/// An introspection answer (written by [`json::introspection`]).
pub fn no_store_introspection(body: &crate::domain::inspect::IntrospectionView<'_>) -> Response {
    no_store_json(json::introspection(body))
}

/// `body` (JSON) with the headers of [`no_store`].
fn no_store_json(body: Vec<u8>) -> Response {
    no_store_headers(
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
    )
}

fn no_store_headers(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
