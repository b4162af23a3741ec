//! What an operator sees of each request: a request id (kept from a trusted proxy's `X-Request-Id`, else new) in
//! the response's `X-Request-Id` and on every log line written while the request runs (a `request` span), the
//! request counters and latency histogram of `/metrics`, and `GET /metrics` itself.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keyport_proto::ErrorCode;
use tower::{Layer, Service};
use tracing::Instrument;
use tracing::instrument::Instrumented;

use crate::metrics::Metrics;
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// Marks an error response with its OAuth code, for the failed-authentication counter.
#[derive(Clone, Copy)]
pub(super) struct Refused(pub ErrorCode);

/// Marks a response that failed because the database did.
#[derive(Clone, Copy)]
pub(super) struct StoreFailed;

/// A request id from a proxy is kept only when it is short and plain: it goes into logs and a response header.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':' | b'/' | b'+' | b'=')
        })
}

fn trusted(app: &AppState, peer: Option<IpAddr>) -> bool {
    peer.is_some_and(|ip| {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        app.trusted_proxies.iter().any(|net| net.contains(&ip))
    })
}

/// The request id of a request: the incoming `X-Request-Id` when the peer is a trusted proxy and the value is
/// plain, else a new random one.
fn request_id(app: &AppState, req: &Request) -> String {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let incoming = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id));
    match incoming {
        Some(id) if trusted(app, peer) => id.to_owned(),
        _ => crate::crypto::random_uuid().simple().to_string(),
    }
}

/// The outermost middleware of every route, as a tower [`Layer`]: [`axum::middleware::from_fn`] would box its
/// future, the rest of the stack and a clone of it on every request; this one's future is a plain struct.
#[derive(Clone)]
pub struct Observe {
    app: AppState,
}

impl Observe {
    pub fn new(app: AppState) -> Observe {
        Observe { app }
    }
}

impl<S> Layer<S> for Observe {
    type Service = Observed<S>;

    fn layer(&self, inner: S) -> Observed<S> {
        Observed {
            inner,
            app: self.app.clone(),
        }
    }
}

/// A route with [`Observe`] around it.
#[derive(Clone)]
pub struct Observed<S> {
    inner: S,
    app: AppState,
}

impl<S> Service<Request> for Observed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Finishing<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = Instant::now();
        let id = request_id(&self.app, &req);
        let route = req.extensions().get::<MatchedPath>().cloned();
        let method = req.method().clone();
        let value = HeaderValue::from_str(&id).expect("request ids are plain ASCII");
        req.headers_mut().insert(REQUEST_ID, value.clone());
        // The path only: a query string may carry codes.
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %method,
            path = %req.uri().path()
        );
        let inner = span.in_scope(|| self.inner.call(req)).instrument(span);
        Finishing {
            inner,
            started,
            route,
            method,
            request_id: value,
            app: self.app.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`Observed`]: the route's, then the counters, the log line and the request id.
    pub struct Finishing<F> {
        #[pin]
        inner: Instrumented<F>,
        started: Instant,
        route: Option<MatchedPath>,
        method: Method,
        request_id: HeaderValue,
        app: AppState,
    }
}

impl<F> Future for Finishing<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.as_mut().poll(cx));
        let elapsed = this.started.elapsed();
        let status = response.status();
        let route = this.route.as_ref().map_or("unmatched", |p| p.as_str());
        let m = &this.app.metrics;
        m.requests
            .with_label_values(&[route, this.method.as_str(), status.as_str()])
            .inc();
        m.request_seconds
            .with_label_values(&[route])
            .observe(elapsed.as_secs_f64());
        if let Some(Refused(code)) = response.extensions().get::<Refused>()
            && is_authentication_failure(*code)
        {
            m.auth_failures.with_label_values(&[code.as_str()]).inc();
        }
        if response.extensions().get::<StoreFailed>().is_some() {
            m.database_errors.inc();
        }
        this.inner.span().in_scope(|| {
            tracing::debug!(
                status = status.as_u16(),
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "finished"
            );
        });
        // The future completes once: its copy of the id moves into the response.
        let id = std::mem::replace(this.request_id, HeaderValue::from_static(""));
        response.headers_mut().insert(REQUEST_ID, id);
        Poll::Ready(Ok(response))
    }
}

/// Error codes that mean "the credential presented was refused".
fn is_authentication_failure(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::InvalidClient
            | ErrorCode::InvalidGrant
            | ErrorCode::InvalidToken
            | ErrorCode::UnauthorizedClient
            | ErrorCode::AccessDenied
    )
}

/// `GET /metrics`.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        Metrics::render(&app).await,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_plain_request_ids_are_kept() {
        for ok in ["abc", "0f8e-11", "trace:1/2", &"a".repeat(128)] {
            assert!(super::acceptable(ok), "{ok}");
        }
        for bad in ["", "a b", "a\nb", "<script>", &"a".repeat(129), "ü"] {
            assert!(!super::acceptable(bad), "{bad}");
        }
    }
}
