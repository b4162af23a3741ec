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
use crate::secret::{AccessToken, RefreshToken};

mod fetchers;

pub use fetchers::{
    CachedTokenFetcher, DeviceLoginFetcher, OfflineTokenFetcher, PasswordFetcher, TokenFileFetcher,
    UserCredentials,
};

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
