//! The tower layer that puts a [`Verifier`] in front of a router: a request without an active bearer token is
//! answered 401 (or 503) before the handler; an accepted one carries its [`Caller`] as an extension.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header;
use axum::response::{IntoResponse, Response};

#[cfg(doc)]
use crate::Caller;
use crate::{Rejected, Verifier};

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    (value.len() > 7 && value[..7].eq_ignore_ascii_case("bearer ")).then(|| value[7..].trim())
}

/// The tower layer of a [`Verifier`]: see the crate documentation.
#[derive(Clone)]
pub struct VerifierLayer(pub(crate) Verifier);

impl<S> tower::Layer<S> for VerifierLayer {
    type Service = VerifierService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifierService {
            verifier: self.0.clone(),
            inner,
        }
    }
}

/// The service [`VerifierLayer`] wraps around a router or handler.
#[derive(Clone)]
pub struct VerifierService<S> {
    verifier: Verifier,
    inner: S,
}

impl<S> tower::Service<Request> for VerifierService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let verifier = self.verifier.clone();
        // Take the service that was polled ready; leave a fresh clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let Some(token) = bearer(&req).map(str::to_owned) else {
                return Ok(Rejected::InvalidToken(
                    "send a token as `Authorization: Bearer`".into(),
                )
                .into_response());
            };
            match verifier.verify(&token).await {
                Ok(caller) => {
                    req.extensions_mut().insert(caller);
                    inner.call(req).await
                }
                Err(rejected) => Ok(rejected.into_response()),
            }
        })
    }
}
