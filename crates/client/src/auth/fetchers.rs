//! The token fetchers behind the auth types: device login, password, token file, offline token, and the cache
//! that keeps a fetched token in a file between runs.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;

use crate::client::{Client, Issued};
use crate::device::LoginOptions;
use crate::error::{Error, Result};
use crate::files;
use crate::jwt;
use crate::secret::{AccessToken, Password, RefreshToken};

use super::{FetchedToken, TokenData, TokenFetcher};

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
