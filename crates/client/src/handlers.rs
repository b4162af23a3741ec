//! Authentication handlers (Bitfount's shape): one trait, three ways to authenticate.
//!
//! * [`ApiKeysHandler`]: a key id and key, valid from creation.
//! * [`DeviceCodeFlowHandler`]: a person logs in with the device flow once; the token is kept in one file per
//!   username and refreshed before a request when it has expired.
//! * [`ExternallyManagedJwtHandler`]: another program owns the token; a callback hands out a new one.
//!
//! Services may want the credentials in different places: [`AuthenticationHandler::request_headers`] takes the
//! target [`Service`], and [`AuthenticationHandler::metadata`] gives lowercase name/value pairs usable as gRPC
//! metadata.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};

use crate::client::Client;
use crate::config::Config;
use crate::device::LoginOptions;
use crate::error::{Error, Result};
use crate::files;
use crate::http::Credentials;
use crate::secret::{AccessToken, ApiKey};
use crate::token::{Token, TokenFile};

/// The service a request goes to, for handlers whose headers differ per service (Bitfount's hub and access
/// manager). Bearer-token handlers send the same header everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// The main API (Bitfount's hub).
    Hub,
    /// The authorization service (Bitfount's access manager).
    AccessManager,
}

/// A source of authentication for requests.
#[async_trait]
pub trait AuthenticationHandler: Send + Sync {
    /// Gets valid authentication material, interacting with a person or another program if needed.
    async fn authenticate(&self) -> Result<()>;

    /// Whether the handler holds authentication that is valid now (judged locally).
    fn authenticated(&self) -> bool;

    /// The authenticated user's username.
    fn username(&self) -> String;

    /// The headers a request to `service` needs, authenticating first when not [`authenticated`](Self::authenticated).
    async fn request_headers(&self, service: Service) -> Result<HeaderMap>;

    /// The credentials as lowercase (name, value) pairs, e.g. for gRPC metadata.
    async fn metadata(&self) -> Result<Vec<(String, String)>> {
        let headers = self.request_headers(Service::Hub).await?;
        Ok(headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_owned(), v.to_owned()))
            })
            .collect())
    }
}

fn bearer_headers(access_token: &AccessToken) -> Result<HeaderMap> {
    let mut value =
        HeaderValue::from_str(&format!("Bearer {}", access_token.secret())).map_err(|_| {
            Error::Config("the token contains characters not allowed in a header".into())
        })?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    Ok(headers)
}

/// Authenticates with an API key id and key.
///
/// Hub requests carry `X-API-Key-ID` and `X-API-Key`; access-manager requests carry
/// `Authorization: APIKey <id>:<key>`. Keys are valid from creation, so [`authenticate`](AuthenticationHandler::authenticate)
/// does nothing and the username is whatever the caller says.
#[derive(Debug)]
pub struct ApiKeysHandler {
    key_id: String,
    key: ApiKey,
    username: String,
}

impl ApiKeysHandler {
    /// A handler for one key.
    pub fn new(
        key_id: impl Into<String>,
        key: impl Into<ApiKey>,
        username: impl Into<String>,
    ) -> Self {
        ApiKeysHandler {
            key_id: key_id.into(),
            key: key.into(),
            username: username.into(),
        }
    }
}

#[async_trait]
impl AuthenticationHandler for ApiKeysHandler {
    async fn authenticate(&self) -> Result<()> {
        Ok(())
    }

    fn authenticated(&self) -> bool {
        true
    }

    fn username(&self) -> String {
        self.username.clone()
    }

    async fn request_headers(&self, service: Service) -> Result<HeaderMap> {
        let bad =
            || Error::Config("the API key contains characters not allowed in a header".into());
        let mut headers = HeaderMap::new();
        match service {
            Service::Hub => {
                headers.insert(
                    HeaderName::from_static("x-api-key-id"),
                    HeaderValue::from_str(&self.key_id).map_err(|_| bad())?,
                );
                let mut key = HeaderValue::from_str(self.key.secret()).map_err(|_| bad())?;
                key.set_sensitive(true);
                headers.insert(HeaderName::from_static("x-api-key"), key);
            }
            Service::AccessManager => {
                let mut value =
                    HeaderValue::from_str(&format!("APIKey {}:{}", self.key_id, self.key.secret()))
                        .map_err(|_| bad())?;
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
        }
        Ok(headers)
    }
}

/// The username meaning "whoever logs in".
pub const DEFAULT_USERNAME: &str = "_default";

/// Logs a person in with the device flow and keeps the token fresh; one token file per username.
///
/// The token lives in `<dir>/<username>.toml` (default dir `~/.keyport/handlers`). A stored token of another
/// username is refused ([`Error::UsernameMismatch`]), as is a fresh login by someone else than `username`
/// (unless it is [`DEFAULT_USERNAME`]). Scopes default to `profile openid offline_access`.
pub struct DeviceCodeFlowHandler {
    client: Client,
    username: String,
    token_dir: PathBuf,
    login: LoginOptions,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for DeviceCodeFlowHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceCodeFlowHandler")
            .field("issuer", &self.client.config().issuer_url().ok())
            .field("username", &self.username)
            .field("token_file", &self.token_file())
            .finish_non_exhaustive()
    }
}

impl DeviceCodeFlowHandler {
    /// The scopes asked for unless the configuration names others.
    pub const DEFAULT_SCOPES: &'static str = "profile openid offline_access";

    /// A handler for `config` (its `scope` is replaced by [`Self::DEFAULT_SCOPES`] when it is the SDK default;
    /// set `audience` there for Auth0).
    pub fn new(mut config: Config, username: impl Into<String>) -> Result<Self> {
        if config.scope == Config::default().scope {
            config.scope = Self::DEFAULT_SCOPES.to_owned();
        }
        Ok(DeviceCodeFlowHandler {
            client: Client::new(config)?,
            username: username.into(),
            token_dir: files::keyport_home()?.join("handlers"),
            login: LoginOptions::default().use_in_requests(false),
            token: Mutex::new(None),
        })
    }

    /// A handler using an existing client (its configuration is used as is).
    pub fn with_client(client: Client, username: impl Into<String>) -> Result<Self> {
        Ok(DeviceCodeFlowHandler {
            client,
            username: username.into(),
            token_dir: files::keyport_home()?.join("handlers"),
            login: LoginOptions::default().use_in_requests(false),
            token: Mutex::new(None),
        })
    }

    /// Keeps token files in `dir`.
    pub fn token_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.token_dir = dir.into();
        self
    }

    /// Sets the login options (timeout, printing of instructions).
    pub fn login_options(mut self, options: LoginOptions) -> Self {
        self.login = options;
        self
    }

    /// `<dir>/<username>.toml`.
    pub fn token_file(&self) -> PathBuf {
        self.token_dir.join(format!("{}.toml", self.username))
    }

    /// The current token, if any.
    pub fn token(&self) -> Option<Token> {
        self.token.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn check_username(&self, found: Option<String>) -> Result<()> {
        match found {
            Some(found) if self.username != DEFAULT_USERNAME && found != self.username => {
                Err(Error::UsernameMismatch {
                    path: self.token_file(),
                    expected: self.username.clone(),
                    found,
                })
            }
            _ => Ok(()),
        }
    }

    fn stored_token(&self) -> Result<Option<Token>> {
        let path = self.token_file();
        let Some(file) = TokenFile::read(&path)? else {
            return Ok(None);
        };
        self.check_username(file.username.clone())?;
        let token =
            Token::from_token_file(&self.client, file).map_err(|message| Error::BadFile {
                path: path.clone(),
                kind: "token",
                message,
            })?;
        token.keep_in(&path);
        Ok(Some(token))
    }

    async fn login(&self) -> Result<Token> {
        let token = self.client.device_login(&self.login).await?;
        self.check_username(token.username())?;
        token.to_file(self.token_file())?;
        Ok(token)
    }
}

#[async_trait]
impl AuthenticationHandler for DeviceCodeFlowHandler {
    /// Uses the stored token (refreshing it when expired); logs in with the device flow when there is none or
    /// the server refuses it.
    async fn authenticate(&self) -> Result<()> {
        let current = match self.token() {
            Some(t) => Some(t),
            None => self.stored_token()?,
        };
        let token = match current {
            Some(t) if !t.has_expired() => t,
            Some(t) => match t.refresh().await {
                Ok(()) => t,
                Err(Error::Refresh { .. } | Error::NotAuthenticated) => self.login().await?,
                Err(e) => return Err(e),
            },
            None => self.login().await?,
        };
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token);
        Ok(())
    }

    fn authenticated(&self) -> bool {
        self.token().is_some_and(|t| !t.has_expired())
    }

    fn username(&self) -> String {
        self.token()
            .and_then(|t| t.username())
            .unwrap_or_else(|| self.username.clone())
    }

    async fn request_headers(&self, _service: Service) -> Result<HeaderMap> {
        if !self.authenticated() {
            self.authenticate().await?;
        }
        let token = self.token().ok_or(Error::NotAuthenticated)?;
        token.headers().await
    }
}

/// A callback that returns a new JWT and its expiry.
pub type JwtSource = dyn Fn() -> Result<(String, SystemTime)> + Send + Sync;

/// Authenticates with a JWT that another program manages; a callback hands out a new one when needed.
pub struct ExternallyManagedJwtHandler {
    current: Mutex<(AccessToken, SystemTime)>,
    get_token: Arc<JwtSource>,
    username: String,
    clock: Arc<dyn crate::Clock>,
    margin: Duration,
}

impl std::fmt::Debug for ExternallyManagedJwtHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternallyManagedJwtHandler")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl ExternallyManagedJwtHandler {
    /// A handler starting with `jwt` (valid until `expires`), renewing through `get_token`.
    pub fn new(
        jwt: impl Into<String>,
        expires: SystemTime,
        get_token: impl Fn() -> Result<(String, SystemTime)> + Send + Sync + 'static,
        username: impl Into<String>,
    ) -> Self {
        ExternallyManagedJwtHandler {
            current: Mutex::new((AccessToken::new(jwt), expires)),
            get_token: Arc::new(get_token),
            username: username.into(),
            clock: Arc::new(crate::SystemClock),
            margin: crate::DEFAULT_EXPIRY_MARGIN,
        }
    }

    /// Uses an injected clock.
    pub fn with_clock(mut self, clock: Arc<dyn crate::Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// When the current JWT expires.
    pub fn expires(&self) -> SystemTime {
        self.current.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

#[async_trait]
impl AuthenticationHandler for ExternallyManagedJwtHandler {
    /// Calls the hook for a new token.
    async fn authenticate(&self) -> Result<()> {
        let (jwt, expires) = (self.get_token)()?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = (AccessToken::new(jwt), expires);
        Ok(())
    }

    fn authenticated(&self) -> bool {
        self.clock.now() + self.margin < self.expires()
    }

    fn username(&self) -> String {
        self.username.clone()
    }

    async fn request_headers(&self, _service: Service) -> Result<HeaderMap> {
        if !self.authenticated() {
            self.authenticate().await?;
        }
        let jwt = self
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone();
        bearer_headers(&jwt)
    }
}

/// Lets an [`AuthorizedClient`](crate::AuthorizedClient) send requests with a handler's headers for one service;
/// on a 401 the handler authenticates again and the request is retried once.
pub struct HandlerCredentials {
    handler: Arc<dyn AuthenticationHandler>,
    service: Service,
}

impl HandlerCredentials {
    /// Credentials for requests to `service`.
    pub fn new(handler: Arc<dyn AuthenticationHandler>, service: Service) -> Self {
        HandlerCredentials { handler, service }
    }
}

#[async_trait]
impl Credentials for HandlerCredentials {
    async fn headers(&self) -> Result<HeaderMap> {
        self.handler.request_headers(self.service).await
    }

    async fn renew(&self, _generation: u64) -> Result<bool> {
        self.handler.authenticate().await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn api_keys_differ_per_service_and_never_print() {
        let h = ApiKeysHandler::new("kid-1", "key-very-secret", "alice");
        assert!(h.authenticated());
        let hub = h.request_headers(Service::Hub).await.unwrap();
        assert_eq!(hub["x-api-key-id"], "kid-1");
        assert_eq!(hub["x-api-key"], "key-very-secret");
        let am = h.request_headers(Service::AccessManager).await.unwrap();
        assert_eq!(am[AUTHORIZATION], "APIKey kid-1:key-very-secret");
        let md = h.metadata().await.unwrap();
        assert!(md.contains(&("x-api-key-id".to_owned(), "kid-1".to_owned())));
        assert!(!format!("{h:?}").contains("very-secret"));
    }

    #[tokio::test]
    async fn external_jwt_calls_the_hook_only_when_expired() {
        let clock = crate::FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let calls = Arc::new(AtomicUsize::new(0));
        let (c2, clock2) = (calls.clone(), clock.clone());
        let h = ExternallyManagedJwtHandler::new(
            "jwt-0",
            clock.now() + Duration::from_secs(60),
            move || {
                let n = c2.fetch_add(1, Ordering::SeqCst) + 1;
                Ok((format!("jwt-{n}"), clock2.now() + Duration::from_secs(60)))
            },
            "svc",
        )
        .with_clock(Arc::new(clock.clone()));
        assert_eq!(
            h.request_headers(Service::Hub).await.unwrap()[AUTHORIZATION],
            "Bearer jwt-0"
        );
        clock.advance(Duration::from_secs(55));
        assert!(!h.authenticated());
        assert_eq!(
            h.request_headers(Service::Hub).await.unwrap()[AUTHORIZATION],
            "Bearer jwt-1"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            h.metadata().await.unwrap(),
            vec![("authorization".to_owned(), "Bearer jwt-1".to_owned())]
        );
    }
}
