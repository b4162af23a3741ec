//! Authenticated requests with `reqwest`: [`AuthorizedClient`] attaches the credentials and, when the server
//! answers 401, refreshes once and retries.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::error::{Error, Result};
use crate::token::Token;

/// Anything that can authenticate an HTTP request: a [`Token`], a seed 004 [`Auth`](crate::auth::Auth), or a
/// seed 003 [`AuthenticationHandler`](crate::handlers::AuthenticationHandler) through
/// [`HandlerCredentials`](crate::handlers::HandlerCredentials).
#[async_trait]
pub trait Credentials: Send + Sync {
    /// The headers to put on a request, refreshing first when needed. Empty means "send as is".
    async fn headers(&self) -> Result<HeaderMap>;

    /// A counter that changes whenever the credentials are renewed (used to refresh once for many 401s).
    fn generation(&self) -> u64 {
        0
    }

    /// Called after the server refused headers obtained at `generation` with 401. Renew the credentials and
    /// return `true` to have the request retried once, or `false` to hand the 401 to the caller.
    async fn renew(&self, generation: u64) -> Result<bool>;
}

#[async_trait]
impl Credentials for Token {
    async fn headers(&self) -> Result<HeaderMap> {
        Token::headers(self).await
    }

    fn generation(&self) -> u64 {
        Token::generation(self)
    }

    async fn renew(&self, generation: u64) -> Result<bool> {
        self.refresh_after(generation).await?;
        Ok(true)
    }
}

/// A `reqwest` client that authenticates every request, and on a 401 renews the credentials once and retries.
///
/// ```no_run
/// # async fn demo() -> keyport_client::Result<()> {
/// let api = keyport_client::AuthorizedClient::new(keyport_client::get_token()?);
/// let resp = api.send(api.get("https://api.example.org/v1/datasets")).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AuthorizedClient {
    http: reqwest::Client,
    credentials: Arc<dyn Credentials>,
}

impl std::fmt::Debug for AuthorizedClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizedClient").finish_non_exhaustive()
    }
}

impl AuthorizedClient {
    /// A client with a default `reqwest::Client`.
    pub fn new(credentials: impl Credentials + 'static) -> Self {
        AuthorizedClient::with_http(reqwest::Client::new(), credentials)
    }

    /// A client around your own `reqwest::Client`.
    pub fn with_http(http: reqwest::Client, credentials: impl Credentials + 'static) -> Self {
        AuthorizedClient {
            http,
            credentials: Arc::new(credentials),
        }
    }

    /// A client sharing credentials already behind an `Arc`.
    pub fn from_shared(http: reqwest::Client, credentials: Arc<dyn Credentials>) -> Self {
        AuthorizedClient { http, credentials }
    }

    /// Starts a request (send it with [`AuthorizedClient::send`]).
    pub fn request(&self, method: Method, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.http.request(method, url)
    }

    /// Starts a GET.
    pub fn get(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.http.get(url)
    }

    /// Starts a POST.
    pub fn post(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.http.post(url)
    }

    /// Starts a PUT.
    pub fn put(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.http.put(url)
    }

    /// Starts a DELETE.
    pub fn delete(&self, url: impl reqwest::IntoUrl) -> RequestBuilder {
        self.http.delete(url)
    }

    /// Sends a request with the credentials. On 401 the credentials are renewed once and the request is sent
    /// again (when its body can be replayed; streaming bodies are sent once). Other statuses, including a second
    /// 401, are returned as they are.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let request = request.build().map_err(|e| Error::http("(request)", e))?;
        let retry = request.try_clone();
        let generation = self.credentials.generation();
        let response = self.execute(request).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(retry) = retry else {
            return Ok(response);
        };
        if !self.credentials.renew(generation).await? {
            return Ok(response);
        }
        drop(response);
        self.execute(retry).await
    }

    async fn execute(&self, mut request: reqwest::Request) -> Result<Response> {
        let url = request.url().to_string();
        for (name, value) in self.credentials.headers().await?.iter() {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        self.http
            .execute(request)
            .await
            .map_err(|e| Error::http(url, e))
    }
}
