//! [`Client`]: one configured OAuth client of one server, and every request the SDK makes to it.
//!
//! Token requests go through the `oauth2` crate (device authorization and polling, refresh, client credentials,
//! password, revocation), driven by our own `reqwest` client with redirects turned off. Discovery, userinfo and
//! Keycloak's logout endpoint are plain `reqwest` calls, because `oauth2` does not cover them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    EndpointMaybeSet, EndpointNotSet, EndpointSet, ExtraTokenFields, RequestTokenError,
    StandardRevocableToken, StandardTokenResponse, TokenResponse as _,
};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::{Error, Flow, Result, map_error_body, map_oauth_error};
use crate::secret::{AccessToken, ClientSecret, IdToken, Password, RefreshToken};

pub use crate::endpoints::Endpoints;

/// Token response fields beyond RFC 6749's that the SDK reads.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct ExtraFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_expires_in: Option<u64>,
}
impl ExtraTokenFields for ExtraFields {}

pub(crate) type TokenResponse = StandardTokenResponse<ExtraFields, BasicTokenType>;
pub(crate) type OAuthClient<D = EndpointMaybeSet> = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    D,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What a successful token request gave.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub access_token: AccessToken,
    pub expires_at: Option<SystemTime>,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<IdToken>,
}

/// The HTTP client handed to `oauth2`: ours (redirects off), remembering the last status and error code.
pub(crate) struct OAuthHttp {
    http: reqwest::Client,
    pub(crate) last: Mutex<LastAnswer>,
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = reqwest::Error;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, reqwest::Error>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let request = reqwest::Request::try_from(request)?;
            let resp = self.http.execute(request).await?;
            let status = resp.status();
            let mut builder = oauth2::http::Response::builder().status(status);
            for (k, v) in resp.headers() {
                builder = builder.header(k, v);
            }
            let body = resp.bytes().await?.to_vec();
            let error = if status.is_success() {
                None
            } else {
                serde_json::from_slice::<keyport_proto::ErrorBody>(&body)
                    .ok()
                    .map(|b| b.error)
            };
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = LastAnswer {
                status: Some(status.as_u16()),
                error,
            };
            Ok(builder
                .body(body)
                .expect("a response rebuilt from a valid response is valid"))
        })
    }
}

/// A configured OAuth client of one server: the configuration, an HTTP client, the clock and the discovered
/// endpoints. Cheap to clone; clones share the discovery result.
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    endpoints: OnceCell<Endpoints>,
}

/// The last HTTP answer seen by an `oauth2` request, which `oauth2` does not keep.
#[derive(Default)]
pub(crate) struct LastAnswer {
    status: Option<u16>,
    error: Option<String>,
}

impl Client {
    /// A client for `config`, with the system clock. Nothing is requested until the first call.
    pub fn new(config: Config) -> Result<Self> {
        Client::with_clock(config, Arc::new(SystemClock))
    }

    /// A client with an injected clock (tests move a [`FakeClock`](crate::FakeClock) instead of sleeping).
    pub fn with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<Self> {
        crate::trust::check_transport(&config.issuer_url()?, config.allow_insecure_http)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.timeout())
            .user_agent(concat!("keyport-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                http,
                clock,
                endpoints: OnceCell::new(),
            }),
        })
    }

    /// Uses known endpoints instead of discovery (for servers without a discovery document, or whose endpoints
    /// are not on the issuer's origin, which discovery refuses). They are trusted as given.
    pub fn with_endpoints(self, endpoints: Endpoints) -> Self {
        let cell = OnceCell::new();
        let _ = cell.set(endpoints);
        let inner = &self.inner;
        Client {
            inner: Arc::new(Inner {
                config: inner.config.clone(),
                http: inner.http.clone(),
                clock: inner.clock.clone(),
                endpoints: cell,
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// The current time by the client's clock.
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// The underlying HTTP client (redirects off). Useful for calls of your own.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// The server's endpoints, discovered from `{issuer}/.well-known/openid-configuration` on first use.
    pub async fn endpoints(&self) -> Result<&Endpoints> {
        self.inner
            .endpoints
            .get_or_try_init(|| self.discover())
            .await
    }

    async fn discover(&self) -> Result<Endpoints> {
        crate::trust::discover(&self.inner.http, &self.inner.config.issuer_url()?).await
    }

    pub(crate) async fn oauth(
        &self,
        secret: Option<&ClientSecret>,
    ) -> Result<(OAuthClient, &Endpoints)> {
        let ep = self.endpoints().await?;
        let bad = |what: &str, url: &str| Error::Discovery {
            url: ep.issuer.clone(),
            message: format!("the {what} URL {url:?} is invalid"),
        };
        let mut client: OAuthClient =
            oauth2::Client::new(oauth2::ClientId::new(self.inner.config.client_id.clone()))
                .set_token_uri_option(Some(
                    oauth2::TokenUrl::new(ep.token_endpoint.clone())
                        .map_err(|_| bad("token", &ep.token_endpoint))?,
                ))
                .set_device_authorization_url_option(
                    ep.device_authorization_endpoint
                        .as_ref()
                        .and_then(|u| oauth2::DeviceAuthorizationUrl::new(u.clone()).ok()),
                )
                .set_revocation_url_option(
                    ep.revocation_endpoint
                        .as_ref()
                        .and_then(|u| oauth2::RevocationUrl::new(u.clone()).ok()),
                );
        if let Some(s) = secret {
            client = client.set_client_secret(oauth2::ClientSecret::new(s.secret().to_owned()));
        }
        Ok((client, ep))
    }

    pub(crate) fn oauth_http(&self) -> OAuthHttp {
        OAuthHttp {
            http: self.inner.http.clone(),
            last: Mutex::new(LastAnswer::default()),
        }
    }

    pub(crate) fn issued(&self, resp: TokenResponse) -> Issued {
        let now = self.now();
        Issued {
            access_token: AccessToken::new(resp.access_token().secret().clone()),
            expires_at: resp.expires_in().map(|d| now + d),
            refresh_token: resp
                .refresh_token()
                .map(|r| RefreshToken::new(r.secret().clone())),
            id_token: resp.extra_fields().id_token.clone().map(IdToken::new),
        }
    }

    pub(crate) fn map_request_error<T: oauth2::ErrorResponse + 'static>(
        flow: Flow,
        url: &str,
        last: &Mutex<LastAnswer>,
        err: RequestTokenError<reqwest::Error, T>,
        code_of: impl Fn(&T) -> (String, Option<String>),
    ) -> Error {
        let status = last.lock().unwrap_or_else(|e| e.into_inner()).status;
        match err {
            RequestTokenError::ServerResponse(body) => {
                let (code, description) = code_of(&body);
                map_oauth_error(flow, url, status, &code, description)
            }
            RequestTokenError::Request(e) => Error::http(url, e),
            RequestTokenError::Parse(e, _) => Error::Server {
                url: url.to_owned(),
                status: status.unwrap_or(0),
                error: None,
                description: Some(format!("unreadable token response: {e}")),
            },
            RequestTokenError::Other(message) => Error::Server {
                url: url.to_owned(),
                status: status.unwrap_or(0),
                error: None,
                description: Some(message),
            },
        }
    }

    /// Exchanges a refresh token for new tokens (the answer may carry a rotated refresh token).
    pub(crate) async fn refresh(
        &self,
        refresh_token: &RefreshToken,
        secret: Option<&ClientSecret>,
    ) -> Result<Issued> {
        let (oauth, ep) = self.oauth(secret).await?;
        let rt = oauth2::RefreshToken::new(refresh_token.secret().to_owned());
        let http = self.oauth_http();
        let resp = oauth
            .exchange_refresh_token(&rt)
            .map_err(|e| Error::Config(e.to_string()))?
            .request_async(&http)
            .await
            .map_err(|e| {
                Self::map_request_error(
                    Flow::Refresh,
                    &ep.token_endpoint,
                    &http.last,
                    e,
                    basic_code,
                )
            })?;
        Ok(self.issued(resp))
    }

    /// The client credentials grant (bot flow).
    pub(crate) async fn client_credentials(&self, secret: &ClientSecret) -> Result<Issued> {
        let (oauth, ep) = self.oauth(Some(secret)).await?;
        let http = self.oauth_http();
        let mut req = oauth
            .exchange_client_credentials()
            .map_err(|e| Error::Config(e.to_string()))?;
        for s in self
            .inner
            .config
            .scope
            .split_whitespace()
            .filter(|s| *s != "offline_access")
        {
            req = req.add_scope(oauth2::Scope::new(s.to_owned()));
        }
        if let Some(aud) = &self.inner.config.audience {
            req = req.add_extra_param("audience", aud.clone());
        }
        let resp = req.request_async(&http).await.map_err(|e| {
            Self::map_request_error(Flow::Fetch, &ep.token_endpoint, &http.last, e, basic_code)
        })?;
        Ok(self.issued(resp))
    }

    /// The resource owner password grant (`user_password` fetcher).
    pub(crate) async fn password(&self, username: &str, password: &Password) -> Result<Issued> {
        let (oauth, ep) = self.oauth(None).await?;
        let http = self.oauth_http();
        let user = oauth2::ResourceOwnerUsername::new(username.to_owned());
        let pass = oauth2::ResourceOwnerPassword::new(password.secret().to_owned());
        let mut req = oauth
            .exchange_password(&user, &pass)
            .map_err(|e| Error::Config(e.to_string()))?;
        for s in self.inner.config.scope.split_whitespace() {
            req = req.add_scope(oauth2::Scope::new(s.to_owned()));
        }
        if let Some(aud) = &self.inner.config.audience {
            req = req.add_extra_param("audience", aud.clone());
        }
        let resp = req.request_async(&http).await.map_err(|e| {
            Self::map_request_error(Flow::Fetch, &ep.token_endpoint, &http.last, e, basic_code)
        })?;
        Ok(self.issued(resp))
    }

    /// Starts a device login (RFC 8628 §3.1): the server hands out a user code and where to enter it.
    pub async fn start_device_login(&self) -> Result<crate::device::PendingLogin> {
        let (oauth, ep) = self.oauth(None).await?;
        let Some(device_url) = ep.device_authorization_endpoint.clone() else {
            return Err(Error::Discovery {
                url: ep.issuer.clone(),
                message: "the server does not offer the device authorization grant".into(),
            });
        };
        let oauth: OAuthClient<EndpointSet> = oauth.set_device_authorization_url(
            oauth2::DeviceAuthorizationUrl::new(device_url.clone()).map_err(|e| {
                Error::Discovery {
                    url: ep.issuer.clone(),
                    message: e.to_string(),
                }
            })?,
        );
        let http = self.oauth_http();
        let mut req = oauth.exchange_device_code();
        for s in self.inner.config.scope.split_whitespace() {
            req = req.add_scope(oauth2::Scope::new(s.to_owned()));
        }
        if let Some(aud) = &self.inner.config.audience {
            req = req.add_extra_param("audience", aud.clone());
        }
        let details: oauth2::StandardDeviceAuthorizationResponse =
            req.request_async(&http).await.map_err(|e| {
                Self::map_request_error(Flow::DeviceStart, &device_url, &http.last, e, basic_code)
            })?;
        crate::trust::check_device_login(&details).map_err(|message| Error::Discovery {
            url: device_url.clone(),
            message,
        })?;
        Ok(crate::device::PendingLogin::new(
            self.clone(),
            details,
            self.now(),
        ))
    }

    /// Polls the token endpoint until the device login ends (RFC 8628 §3.4–3.5), for at most `timeout`.
    pub(crate) async fn poll_device(
        &self,
        details: &oauth2::StandardDeviceAuthorizationResponse,
        timeout: Duration,
    ) -> Result<Issued> {
        let (oauth, ep) = self.oauth(None).await?;
        let http = self.oauth_http();
        let clock = self.inner.clock.clone();
        let resp = oauth
            .exchange_device_access_token(details)
            .map_err(|e| Error::Config(e.to_string()))?
            .set_time_fn(move || chrono::DateTime::<chrono::Utc>::from(clock.now()))
            .request_async(&http, tokio::time::sleep, Some(timeout))
            .await;
        match resp {
            Ok(resp) => Ok(self.issued(resp)),
            Err(RequestTokenError::ServerResponse(body))
                if *body.error() == oauth2::DeviceCodeErrorResponseType::ExpiredToken
                    && http
                        .last
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .error
                        .as_deref()
                        != Some("expired_token") =>
            {
                // `oauth2` reports its own deadline as `expired_token`; the server did not say so.
                Err(Error::Timeout {
                    seconds: timeout.as_secs(),
                })
            }
            Err(e) => Err(Self::map_request_error(
                Flow::DevicePoll,
                &ep.token_endpoint,
                &http.last,
                e,
                |b| (b.error().to_string(), b.error_description().cloned()),
            )),
        }
    }

    /// Ends the login session a refresh token belongs to.
    ///
    /// Uses the server's `end_session_endpoint` the way Keycloak clients do (POST `client_id` + `refresh_token`),
    /// and falls back to RFC 7009 revocation of the refresh token when there is no such endpoint (Auth0).
    pub async fn logout(
        &self,
        refresh_token: &RefreshToken,
        secret: Option<&ClientSecret>,
    ) -> Result<()> {
        let ep = self.endpoints().await?;
        if let Some(url) = &ep.end_session_endpoint {
            let mut form = vec![
                ("client_id", self.inner.config.client_id.as_str()),
                ("refresh_token", refresh_token.secret()),
            ];
            if let Some(s) = secret {
                form.push(("client_secret", s.secret()));
            }
            let resp = self
                .inner
                .http
                .post(url)
                .form(&form)
                .send()
                .await
                .map_err(|e| Error::http(url, e))?;
            let status = resp.status();
            if status.is_success() {
                return Ok(());
            }
            let body = resp.bytes().await.unwrap_or_default();
            return Err(map_error_body(Flow::Refresh, url, status.as_u16(), &body));
        }
        self.revoke(refresh_token, secret).await
    }

    /// Revokes a refresh token (RFC 7009).
    ///
    /// Sent by hand rather than through `oauth2`, which refuses revocation endpoints that are not `https` (and so
    /// every development server).
    pub async fn revoke(
        &self,
        refresh_token: &RefreshToken,
        secret: Option<&ClientSecret>,
    ) -> Result<()> {
        let ep = self.endpoints().await?;
        let url = ep.revocation_endpoint.clone().ok_or_else(|| Error::Discovery {
            url: ep.issuer.clone(),
            message: "the server has neither an end-session nor a revocation endpoint, so it cannot log out".into(),
        })?;
        let client_id = self.inner.config.client_id.as_str();
        let mut form = vec![
            ("token", refresh_token.secret()),
            ("token_type_hint", "refresh_token"),
        ];
        let mut req = self.inner.http.post(&url);
        match secret {
            Some(s) => req = req.basic_auth(client_id, Some(s.secret())),
            None => form.push(("client_id", client_id)),
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| Error::http(&url, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp.bytes().await.unwrap_or_default();
        Err(map_error_body(Flow::Refresh, &url, status.as_u16(), &body))
    }

    /// The OpenID Connect userinfo of the person an access token belongs to, as raw JSON claims.
    pub async fn userinfo(&self, access_token: &AccessToken) -> Result<serde_json::Value> {
        let ep = self.endpoints().await?;
        let url = ep
            .userinfo_endpoint
            .clone()
            .ok_or_else(|| Error::Discovery {
                url: ep.issuer.clone(),
                message: "the server has no userinfo endpoint; name an API endpoint instead".into(),
            })?;
        self.get_json(&url, access_token).await
    }

    /// GETs `url` with the bearer token and decodes the JSON answer.
    pub(crate) async fn get_json(
        &self,
        url: &str,
        access_token: &AccessToken,
    ) -> Result<serde_json::Value> {
        let resp = self
            .inner
            .http
            .get(url)
            .bearer_auth(access_token.secret())
            .send()
            .await
            .map_err(|e| Error::http(url, e))?;
        let status = resp.status();
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(Error::Server {
                url: url.to_owned(),
                status: 401,
                error: Some("invalid_token".into()),
                description: Some("the access token was refused".into()),
            });
        }
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            return Err(map_error_body(Flow::Fetch, url, status.as_u16(), &body));
        }
        let body = resp.bytes().await.map_err(|e| Error::http(url, e))?;
        serde_json::from_slice(&body).map_err(|e| Error::Server {
            url: url.to_owned(),
            status: status.as_u16(),
            error: None,
            description: Some(format!("the answer is not JSON: {e}")),
        })
    }
}

pub(crate) fn basic_code(b: &BasicErrorResponse) -> (String, Option<String>) {
    (b.error().to_string(), b.error_description().cloned())
}
