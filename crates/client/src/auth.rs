//! Auth types and token fetchers (Wallaroo's shape).
//!
//! [`create`] turns an [`AuthType`] into an [`Auth`] that is put on every request: [`Auth::None`] leaves requests
//! alone, [`Auth::Platform`] adds `Authorization: Bearer …` with a token from a [`TokenFetcher`]:
//!
//! | auth type | fetcher | cached |
//! |---|---|---|
//! | `none` | none | |
//! | `sso` | [`DeviceLoginFetcher`]: device login in a browser | yes |
//! | `user_password` | [`PasswordFetcher`]: password grant, credentials from env or a JSON file | yes |
//! | `test_auth` | [`PasswordFetcher`] | no |
//! | `token` | [`TokenFileFetcher`]: a JSON file with `token`, `user_email`, `user_id` | no |
//! | `orch` | [`OfflineTokenFetcher`]: an offline refresh token from `KEYPORT_OFFLINE_TOKEN` | no |
//!
//! Cached fetchers keep their result in a JSON file (mode 0600) in [`cache_dir`](crate::cache_dir), so the next
//! start of the program does not log in again; [`logout`] deletes every such file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Issued};
use crate::clock::unix;
use crate::device::LoginOptions;
use crate::error::{Error, Result};
use crate::files;
use crate::http::Credentials;
use crate::jwt;
use crate::secret::{AccessToken, Password, RefreshToken};

/// The supported ways to authenticate; parsed from strings case-insensitively (`-` and `_` alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthType {
    /// No authentication.
    None,
    /// Single sign-on through a browser (device login).
    Sso,
    /// Username and password (password grant).
    UserPassword,
    /// Username and password, never cached (for tests).
    TestAuth,
    /// A token file managed by someone else.
    Token,
    /// An offline refresh token (orchestrations, CI).
    Orch,
}

impl AuthType {
    /// Every auth type.
    pub const ALL: [AuthType; 6] = [
        AuthType::None,
        AuthType::Sso,
        AuthType::UserPassword,
        AuthType::TestAuth,
        AuthType::Token,
        AuthType::Orch,
    ];

    /// The canonical name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::None => "none",
            AuthType::Sso => "sso",
            AuthType::UserPassword => "user_password",
            AuthType::TestAuth => "test_auth",
            AuthType::Token => "token",
            AuthType::Orch => "orch",
        }
    }
}

impl fmt::Display for AuthType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        AuthType::ALL.into_iter().find(|t| t.as_str() == wanted).ok_or_else(|| {
            Error::Config(format!(
                "unknown auth type {s:?}: use one of none, sso, user_password, test_auth, token, orch"
            ))
        })
    }
}

/// A token and whom it belongs to (Wallaroo's `TokenData`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenData {
    /// The access token.
    pub token: AccessToken,
    /// The user's email (empty when unknown).
    #[serde(default)]
    pub user_email: String,
    /// The user's id, the token's `sub` (empty when unknown).
    #[serde(default)]
    pub user_id: String,
}

impl TokenData {
    /// The fields as a map (Wallaroo's `to_dict`); contains the token itself, so handle with care.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("token".to_owned(), self.token.secret().to_owned()),
            ("user_email".to_owned(), self.user_email.clone()),
            ("user_id".to_owned(), self.user_id.clone()),
        ])
    }
}

/// What a fetcher obtained: the token data, plus what it needs to renew it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FetchedToken {
    /// The token and its owner.
    pub data: TokenData,
    /// A refresh token, when the grant gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// When the access token expires (Unix seconds), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl FetchedToken {
    fn from_issued(issued: Issued) -> FetchedToken {
        let claims = jwt::unverified_claims(issued.access_token.secret()).unwrap_or_default();
        let s = |k: &str| {
            claims
                .get(k)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        FetchedToken {
            data: TokenData {
                user_email: s("email"),
                user_id: s("sub"),
                token: issued.access_token,
            },
            refresh_token: issued.refresh_token,
            expires_at: issued.expires_at.map(unix),
        }
    }

    /// Whether the access token has expired at `now`, with the SDK's safety margin.
    pub fn has_expired(&self, now: std::time::SystemTime) -> bool {
        self.expires_at
            .is_some_and(|exp| unix(now + crate::DEFAULT_EXPIRY_MARGIN) >= exp)
    }
}

/// Knows how to obtain a token from one source.
#[async_trait]
pub trait TokenFetcher: Send + Sync {
    /// Obtains a token, interacting with a person if needed.
    async fn fetch(&self) -> Result<FetchedToken>;

    /// Renews an expired token (without a person when possible). Errors are [`Error::Refresh`].
    async fn refresh(&self, previous: &FetchedToken) -> Result<FetchedToken>;
}

async fn refresh_or_fetch(
    client: &Client,
    fetcher: &dyn TokenFetcher,
    previous: &FetchedToken,
) -> Result<FetchedToken> {
    match &previous.refresh_token {
        Some(rt) => {
            let mut fresh = FetchedToken::from_issued(client.refresh(rt, None).await?);
            if fresh.refresh_token.is_none() {
                fresh.refresh_token = Some(rt.clone());
            }
            Ok(fresh)
        }
        None => fetcher.fetch().await,
    }
}

/// `sso`: a device login in a browser (Wallaroo's `KeycloakTokenFetcher`).
#[derive(Debug)]
pub struct DeviceLoginFetcher {
    client: Client,
    options: LoginOptions,
}

impl DeviceLoginFetcher {
    /// A fetcher that logs in with `options` (the token is not made process-wide).
    pub fn new(client: &Client, options: LoginOptions) -> Self {
        DeviceLoginFetcher {
            client: client.clone(),
            options: options.use_in_requests(false),
        }
    }
}

#[async_trait]
impl TokenFetcher for DeviceLoginFetcher {
    async fn fetch(&self) -> Result<FetchedToken> {
        let token = self.client.device_login(&self.options).await?;
        Ok(FetchedToken::from_issued(Issued {
            access_token: token.cached_access_token().ok_or(Error::NotAuthenticated)?,
            expires_at: token.expires_at(),
            refresh_token: token.refresh_token(),
            id_token: token.id_token(),
        }))
    }

    async fn refresh(&self, previous: &FetchedToken) -> Result<FetchedToken> {
        refresh_or_fetch(&self.client, self, previous).await
    }
}

/// Username and password for the password grant.
#[derive(Clone, Debug, Deserialize)]
pub struct UserCredentials {
    /// The username.
    pub username: String,
    /// The password.
    pub password: Password,
}

impl UserCredentials {
    /// `KEYPORT_USERNAME` and `KEYPORT_PASSWORD`, else the JSON file named by `KEYPORT_CREDENTIALS_FILE`
    /// (`{"username": "…", "password": "…"}`).
    pub fn from_env() -> Result<Self> {
        if let (Ok(username), Ok(password)) = (
            std::env::var("KEYPORT_USERNAME"),
            std::env::var("KEYPORT_PASSWORD"),
        ) {
            return Ok(UserCredentials {
                username,
                password: Password::new(password),
            });
        }
        match std::env::var_os("KEYPORT_CREDENTIALS_FILE") {
            Some(path) => UserCredentials::from_json_file(PathBuf::from(path)),
            None => Err(Error::Config(
                "no credentials: set KEYPORT_USERNAME and KEYPORT_PASSWORD, or KEYPORT_CREDENTIALS_FILE to a JSON file with username and password"
                    .into(),
            )),
        }
    }

    /// Reads `{"username": "…", "password": "…"}`.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::BadFile {
            path: path.into(),
            kind: "credentials",
            message: e.to_string(),
        })
    }
}

/// `user_password` and `test_auth`: the resource owner password grant (the client must allow it).
#[derive(Debug)]
pub struct PasswordFetcher {
    client: Client,
    credentials: UserCredentials,
}

impl PasswordFetcher {
    /// A fetcher for these credentials.
    pub fn new(client: &Client, credentials: UserCredentials) -> Self {
        PasswordFetcher {
            client: client.clone(),
            credentials,
        }
    }
}

#[async_trait]
impl TokenFetcher for PasswordFetcher {
    async fn fetch(&self) -> Result<FetchedToken> {
        let issued = self
            .client
            .password(&self.credentials.username, &self.credentials.password)
            .await?;
        Ok(FetchedToken::from_issued(issued))
    }

    async fn refresh(&self, previous: &FetchedToken) -> Result<FetchedToken> {
        refresh_or_fetch(&self.client, self, previous).await
    }
}

/// `token`: a JSON file with `token`, `user_email` and `user_id`, kept current by someone else.
#[derive(Debug)]
pub struct TokenFileFetcher {
    path: PathBuf,
}

impl TokenFileFetcher {
    /// Reads `path` on every fetch.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TokenFileFetcher { path: path.into() }
    }

    /// `KEYPORT_TOKEN_FILE`, else `~/.keyport/token.json`.
    pub fn from_env() -> Result<Self> {
        match std::env::var_os("KEYPORT_TOKEN_FILE") {
            Some(p) => Ok(TokenFileFetcher::new(PathBuf::from(p))),
            None => Ok(TokenFileFetcher::new(
                files::keyport_home()?.join("token.json"),
            )),
        }
    }
}

#[async_trait]
impl TokenFetcher for TokenFileFetcher {
    async fn fetch(&self) -> Result<FetchedToken> {
        let text = files::read_optional(&self.path)?.ok_or_else(|| Error::BadFile {
            path: self.path.clone(),
            kind: "token",
            message: "it does not exist".into(),
        })?;
        let data: TokenData = serde_json::from_str(&text).map_err(|e| Error::BadFile {
            path: self.path.clone(),
            kind: "token",
            message: e.to_string(),
        })?;
        let expires_at = jwt::unverified_claims(data.token.secret())
            .and_then(|c| c.get("exp").and_then(|e| e.as_i64()));
        Ok(FetchedToken {
            data,
            refresh_token: None,
            expires_at,
        })
    }

    async fn refresh(&self, _previous: &FetchedToken) -> Result<FetchedToken> {
        self.fetch().await
    }
}

/// `orch`: access tokens from an offline refresh token.
#[derive(Debug)]
pub struct OfflineTokenFetcher {
    client: Client,
    refresh_token: RefreshToken,
}

impl OfflineTokenFetcher {
    /// A fetcher for this refresh token.
    pub fn new(client: &Client, refresh_token: impl Into<RefreshToken>) -> Self {
        OfflineTokenFetcher {
            client: client.clone(),
            refresh_token: refresh_token.into(),
        }
    }

    /// The refresh token from `KEYPORT_OFFLINE_TOKEN`.
    pub fn from_env(client: &Client) -> Result<Self> {
        std::env::var("KEYPORT_OFFLINE_TOKEN")
            .map(|rt| OfflineTokenFetcher::new(client, rt))
            .map_err(|_| Error::Config("no offline token: set KEYPORT_OFFLINE_TOKEN".into()))
    }
}

#[async_trait]
impl TokenFetcher for OfflineTokenFetcher {
    async fn fetch(&self) -> Result<FetchedToken> {
        let previous = FetchedToken {
            data: TokenData {
                token: AccessToken::new(""),
                user_email: String::new(),
                user_id: String::new(),
            },
            refresh_token: Some(self.refresh_token.clone()),
            expires_at: None,
        };
        self.refresh(&previous).await
    }

    async fn refresh(&self, previous: &FetchedToken) -> Result<FetchedToken> {
        refresh_or_fetch(&self.client, self, previous).await
    }
}

/// Wraps another fetcher and keeps its result in a JSON file (mode 0600), so a new process reuses it; an
/// expired cached token is refreshed through the inner fetcher, and a refused one is fetched anew.
pub struct CachedTokenFetcher {
    inner: Arc<dyn TokenFetcher>,
    path: PathBuf,
    clock: Arc<dyn crate::Clock>,
}

impl fmt::Debug for CachedTokenFetcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedTokenFetcher")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl CachedTokenFetcher {
    /// Caches `inner`'s result in `path`.
    pub fn new(
        inner: Arc<dyn TokenFetcher>,
        path: impl Into<PathBuf>,
        clock: Arc<dyn crate::Clock>,
    ) -> Self {
        CachedTokenFetcher {
            inner,
            path: path.into(),
            clock,
        }
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Option<FetchedToken> {
        let text = files::read_optional(&self.path).ok()??;
        serde_json::from_str(&text).ok()
    }

    fn save(&self, token: &FetchedToken) -> Result<()> {
        let json = serde_json::to_vec_pretty(token).map_err(|e| Error::Config(e.to_string()))?;
        files::write_private(&self.path, &json)
    }
}

#[async_trait]
impl TokenFetcher for CachedTokenFetcher {
    async fn fetch(&self) -> Result<FetchedToken> {
        if let Some(cached) = self.read() {
            if !cached.has_expired(self.clock.now()) {
                return Ok(cached);
            }
            if let Ok(fresh) = self.inner.refresh(&cached).await {
                self.save(&fresh)?;
                return Ok(fresh);
            }
            files::remove_if_exists(&self.path)?;
        }
        let fresh = self.inner.fetch().await?;
        self.save(&fresh)?;
        Ok(fresh)
    }

    async fn refresh(&self, previous: &FetchedToken) -> Result<FetchedToken> {
        match self.inner.refresh(previous).await {
            Ok(fresh) => {
                self.save(&fresh)?;
                Ok(fresh)
            }
            Err(e) => {
                files::remove_if_exists(&self.path)?;
                Err(e)
            }
        }
    }
}

/// Puts a fetched token on requests, fetching on first use and refreshing when it has expired.
pub struct PlatformAuth {
    fetcher: Arc<dyn TokenFetcher>,
    current: tokio::sync::Mutex<Option<FetchedToken>>,
    generation: AtomicU64,
    clock: Arc<dyn crate::Clock>,
}

impl fmt::Debug for PlatformAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformAuth").finish_non_exhaustive()
    }
}

impl PlatformAuth {
    /// Auth from a fetcher.
    pub fn new(fetcher: Arc<dyn TokenFetcher>, clock: Arc<dyn crate::Clock>) -> Self {
        PlatformAuth {
            fetcher,
            current: tokio::sync::Mutex::new(None),
            generation: AtomicU64::new(0),
            clock,
        }
    }

    /// The current token data, fetching or refreshing first when needed.
    pub async fn token(&self) -> Result<TokenData> {
        let mut current = self.current.lock().await;
        let fresh = match current.take() {
            None => self.fetcher.fetch().await?,
            Some(t) if t.has_expired(self.clock.now()) => self.fetcher.refresh(&t).await?,
            Some(t) => t,
        };
        let data = fresh.data.clone();
        *current = Some(fresh);
        Ok(data)
    }

    async fn renew(&self, generation: u64) -> Result<()> {
        let mut current = self.current.lock().await;
        if self.generation.load(Ordering::SeqCst) != generation {
            return Ok(());
        }
        let fresh = match current.take() {
            Some(t) => self.fetcher.refresh(&t).await?,
            None => self.fetcher.fetch().await?,
        };
        *current = Some(fresh);
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// What [`create`] returns: put it on requests with [`Auth::headers`] or an
/// [`AuthorizedClient`](crate::AuthorizedClient).
#[derive(Debug)]
pub enum Auth {
    /// Does not modify requests.
    None,
    /// Adds `Authorization: Bearer …`.
    Platform(PlatformAuth),
}

impl Auth {
    /// The headers for a request (none for [`Auth::None`]).
    pub async fn headers(&self) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        if let Auth::Platform(p) = self {
            let data = p.token().await?;
            let mut value = HeaderValue::from_str(&format!("Bearer {}", data.token.secret()))
                .map_err(|_| {
                    Error::Config("the token contains characters not allowed in a header".into())
                })?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        Ok(headers)
    }

    /// Adds the headers to a `reqwest` request.
    pub async fn apply(&self, request: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder> {
        Ok(request.headers(self.headers().await?))
    }
}

#[async_trait]
impl Credentials for Auth {
    async fn headers(&self) -> Result<HeaderMap> {
        Auth::headers(self).await
    }

    fn generation(&self) -> u64 {
        match self {
            Auth::None => 0,
            Auth::Platform(p) => p.generation.load(Ordering::SeqCst),
        }
    }

    async fn renew(&self, generation: u64) -> Result<bool> {
        match self {
            Auth::None => Ok(false),
            Auth::Platform(p) => p.renew(generation).await.map(|()| true),
        }
    }
}

/// The cache file of a cached fetcher: `<dir>/auth-<type>-<issuer and client>.json`.
pub fn cache_file(dir: &Path, client: &Client, auth_type: AuthType) -> PathBuf {
    let key: String = format!(
        "{}-{}",
        client
            .config()
            .issuer_url()
            .map(|u| u.to_string())
            .unwrap_or_default(),
        client.config().client_id
    )
    .chars()
    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
    .collect();
    dir.join(format!("auth-{auth_type}-{key}.json"))
}

/// Returns the auth object of `auth_type` for `client` (Wallaroo's `create`), caching in
/// [`cache_dir`](crate::cache_dir). Credentials come from the environment (see the table in the module docs).
pub fn create(client: &Client, auth_type: AuthType) -> Result<Auth> {
    create_in(client, auth_type, &files::cache_dir()?)
}

/// Like [`create`], caching in `cache_dir`.
pub fn create_in(client: &Client, auth_type: AuthType, cache_dir: &Path) -> Result<Auth> {
    let cached = |inner: Arc<dyn TokenFetcher>| -> Arc<dyn TokenFetcher> {
        Arc::new(CachedTokenFetcher::new(
            inner,
            cache_file(cache_dir, client, auth_type),
            client.clock().clone(),
        ))
    };
    let fetcher: Arc<dyn TokenFetcher> = match auth_type {
        AuthType::None => return Ok(Auth::None),
        AuthType::Sso => cached(Arc::new(DeviceLoginFetcher::new(
            client,
            LoginOptions::default(),
        ))),
        AuthType::UserPassword => cached(Arc::new(PasswordFetcher::new(
            client,
            UserCredentials::from_env()?,
        ))),
        AuthType::TestAuth => Arc::new(PasswordFetcher::new(client, UserCredentials::from_env()?)),
        AuthType::Token => Arc::new(TokenFileFetcher::from_env()?),
        AuthType::Orch => Arc::new(OfflineTokenFetcher::from_env(client)?),
    };
    Ok(Auth::Platform(PlatformAuth::new(
        fetcher,
        client.clock().clone(),
    )))
}

/// Auth from any fetcher (for credentials that do not come from the environment).
pub fn from_fetcher(client: &Client, fetcher: Arc<dyn TokenFetcher>) -> Auth {
    Auth::Platform(PlatformAuth::new(fetcher, client.clock().clone()))
}

/// Removes every cached credential in [`cache_dir`](crate::cache_dir) (Wallaroo's `logout`). Auth objects already
/// created keep the token they hold.
pub fn logout() -> Result<()> {
    logout_in(&files::cache_dir()?)
}

/// Like [`logout`], for a cache in `dir`.
pub fn logout_in(dir: &Path) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", dir, e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("auth-") && name.ends_with(".json") {
            files::remove_if_exists(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_types_parse_case_insensitively() {
        for (s, t) in [
            ("none", AuthType::None),
            ("SSO", AuthType::Sso),
            ("User_Password", AuthType::UserPassword),
            ("user-password", AuthType::UserPassword),
            ("TEST_AUTH", AuthType::TestAuth),
            (" token ", AuthType::Token),
            ("Orch", AuthType::Orch),
        ] {
            assert_eq!(s.parse::<AuthType>().unwrap(), t, "{s}");
            assert_eq!(t.to_string().parse::<AuthType>().unwrap(), t);
        }
        let err = "kerberos".parse::<AuthType>().unwrap_err().to_string();
        assert!(err.contains("use one of none, sso"), "{err}");
    }

    #[tokio::test]
    async fn none_adds_no_header_and_token_files_are_read() {
        assert!(Auth::None.headers().await.unwrap().is_empty());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.json");
        std::fs::write(
            &path,
            r#"{"token":"abc","user_email":"a@example.org","user_id":"u1"}"#,
        )
        .unwrap();
        let clock: Arc<dyn crate::Clock> = Arc::new(crate::SystemClock);
        let auth = Auth::Platform(PlatformAuth::new(
            Arc::new(TokenFileFetcher::new(&path)),
            clock,
        ));
        assert_eq!(auth.headers().await.unwrap()[AUTHORIZATION], "Bearer abc");
        let data = match &auth {
            Auth::Platform(p) => p.token().await.unwrap(),
            Auth::None => unreachable!(),
        };
        assert_eq!(data.to_map()["user_email"], "a@example.org");
    }

    #[test]
    fn logout_removes_only_cached_credentials() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("auth-sso-x.json"), "{}").unwrap();
        std::fs::write(dir.path().join("other.json"), "{}").unwrap();
        logout_in(dir.path()).unwrap();
        assert!(!dir.path().join("auth-sso-x.json").exists());
        assert!(dir.path().join("other.json").exists());
        logout_in(&dir.path().join("missing")).unwrap();
    }
}
