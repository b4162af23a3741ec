//! [`Token`]: an access token kept fresh from one refresh token or one client secret.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::client::{Client, Issued};
use crate::clock::{from_unix, unix};
use crate::error::{Error, Result};
use crate::files;
use crate::jwt;
use crate::secret::{AccessToken, ClientSecret, IdToken, RefreshToken};

/// How long before its expiry an access token already counts as expired, so that a request sent now does not
/// arrive with a token that expired on the way.
pub const DEFAULT_EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// What a token file holds (TOML, mode 0600).
///
/// ```toml
/// refresh_token = "…"        # a device login's token, or:
/// client_secret = "…"        # a bot's secret (seed 001's secret.toml has only this line)
/// access_token = "…"         # cached, optional
/// expires_at = 1763900000    # Unix seconds, optional
/// username = "alice"         # who logged in, optional
/// issuer = "https://auth.example.org/realms/aiod"   # who issued it; written by the SDK
/// ```
///
/// A file that names an issuer is refused by a client configured for another one ([`Error::IssuerMismatch`]), so
/// a changed server URL (a stray `KEYPORT_SERVER_URL`, a `.env`) cannot make the SDK send the refresh token or
/// client secret to another server. A file without `issuer` (one written by hand, as seed 001's `secret.toml`, or
/// by an older SDK) is accepted and gets the issuer at its next write.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenFile {
    /// The refresh token of a device login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<RefreshToken>,
    /// The client secret of a bot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<ClientSecret>,
    /// The last access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<AccessToken>,
    /// When the access token expires, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Who the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The issuer the token (or secret) belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

impl TokenFile {
    /// Reads a token file; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<TokenFile>> {
        match files::read_optional(path)? {
            None => Ok(None),
            Some(text) => toml::from_str(&text).map(Some).map_err(|e| Error::BadFile {
                path: path.into(),
                kind: "token",
                message: e.to_string(),
            }),
        }
    }

    /// Writes the file atomically with mode 0600.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::Config(e.to_string()))?;
        files::write_private(path, text.as_bytes())
    }
}

#[derive(Clone)]
enum Grant {
    Refresh(RefreshToken),
    ClientSecret(ClientSecret),
    AccessOnly,
}

struct State {
    grant: Grant,
    access: Option<AccessToken>,
    expires_at: Option<SystemTime>,
    id_token: Option<IdToken>,
    username: Option<String>,
    file: Option<PathBuf>,
    generation: u64,
    margin: Duration,
}

struct Inner {
    client: Client,
    state: Mutex<State>,
    refresh_gate: tokio::sync::Mutex<()>,
}

/// An access token kept fresh from one refresh token (a person's login) or one client secret (a bot).
///
/// Clones share the same state, so a refresh through one clone is seen by all. A token with a file
/// ([`Token::from_file`], [`Token::to_file`]) writes every rotated refresh token and new access token back to it.
#[derive(Clone)]
pub struct Token {
    inner: Arc<Inner>,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state();
        let grant = match s.grant {
            Grant::Refresh(_) => "refresh_token",
            Grant::ClientSecret(_) => "client_secret",
            Grant::AccessOnly => "access_token only",
        };
        f.debug_struct("Token")
            .field("grant", &grant)
            .field("username", &s.username)
            .field("expires_at", &s.expires_at)
            .field("file", &s.file)
            .finish_non_exhaustive()
    }
}

impl Token {
    fn with_state(client: Client, grant: Grant) -> Token {
        Token {
            inner: Arc::new(Inner {
                client,
                state: Mutex::new(State {
                    grant,
                    access: None,
                    expires_at: None,
                    id_token: None,
                    username: None,
                    file: None,
                    generation: 0,
                    margin: DEFAULT_EXPIRY_MARGIN,
                }),
                refresh_gate: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// A token that gets access tokens from a refresh token (not checked until first used).
    pub fn from_refresh_token(client: &Client, refresh_token: impl Into<RefreshToken>) -> Token {
        Token::with_state(client.clone(), Grant::Refresh(refresh_token.into()))
    }

    /// A bot's token: access tokens from the client credentials grant with the configured client id and `secret`.
    pub fn from_client_secret(client: &Client, secret: impl Into<ClientSecret>) -> Token {
        Token::with_state(client.clone(), Grant::ClientSecret(secret.into()))
    }

    /// A token that is only an access token (for example one handed over by another program); it cannot be
    /// refreshed.
    pub fn from_access_token(
        client: &Client,
        access_token: impl Into<AccessToken>,
        expires_at: Option<SystemTime>,
    ) -> Token {
        let token = Token::with_state(client.clone(), Grant::AccessOnly);
        {
            let mut s = token.state();
            let at = access_token.into();
            s.username = jwt::username(at.secret());
            s.access = Some(at);
            s.expires_at = expires_at;
        }
        token
    }

    pub(crate) fn from_issued(client: Client, issued: Issued) -> Token {
        let grant = match issued.refresh_token.clone() {
            Some(rt) => Grant::Refresh(rt),
            None => Grant::AccessOnly,
        };
        let token = Token::with_state(client, grant);
        token.state().apply(issued);
        token
    }

    /// Reads a token file (see [`TokenFile`]) and remembers it: rotated refresh tokens are saved back.
    pub fn from_file(client: &Client, path: impl AsRef<Path>) -> Result<Token> {
        let path = path.as_ref();
        let file = TokenFile::read(path)?.ok_or_else(|| {
            Error::io(
                "read",
                path,
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
            )
        })?;
        if let Some(found) = &file.issuer {
            let expected = client.config().issuer_url()?;
            if !crate::trust::same_issuer(found, expected.as_str()) {
                return Err(Error::IssuerMismatch {
                    path: path.into(),
                    found: found.clone(),
                    expected: expected.to_string(),
                });
            }
        }
        let token = Token::from_token_file(client, file).map_err(|message| Error::BadFile {
            path: path.into(),
            kind: "token",
            message,
        })?;
        token.state().file = Some(path.to_path_buf());
        Ok(token)
    }

    /// A token from the contents of a token file (refused when the file names another issuer than `client`'s).
    pub fn from_token_file(client: &Client, file: TokenFile) -> std::result::Result<Token, String> {
        if let (Some(found), Ok(expected)) = (&file.issuer, client.config().issuer_url())
            && !crate::trust::same_issuer(found, expected.as_str())
        {
            return Err(format!(
                "it was issued by {found}, not by {expected}, the server this client is configured for"
            ));
        }
        let grant = match (file.refresh_token, file.client_secret) {
            (Some(rt), _) => Grant::Refresh(rt),
            (None, Some(cs)) => Grant::ClientSecret(cs),
            (None, None) if file.access_token.is_some() => Grant::AccessOnly,
            (None, None) => return Err("it has neither `refresh_token` nor `client_secret`".into()),
        };
        let token = Token::with_state(client.clone(), grant);
        {
            let mut s = token.state();
            s.username = file.username.or_else(|| {
                file.access_token
                    .as_ref()
                    .and_then(|a| jwt::username(a.secret()))
            });
            s.access = file.access_token;
            s.expires_at = file.expires_at.map(from_unix);
        }
        Ok(token)
    }

    /// What [`Token::to_file`] writes.
    pub fn to_token_file(&self) -> TokenFile {
        let s = self.state();
        let (refresh_token, client_secret) = match &s.grant {
            Grant::Refresh(rt) => (Some(rt.clone()), None),
            Grant::ClientSecret(cs) => (None, Some(cs.clone())),
            Grant::AccessOnly => (None, None),
        };
        TokenFile {
            refresh_token,
            client_secret,
            access_token: s.access.clone(),
            expires_at: s.expires_at.map(unix),
            username: s.username.clone(),
            issuer: self
                .inner
                .client
                .config()
                .issuer_url()
                .ok()
                .map(|u| u.to_string()),
        }
    }

    /// Writes the token to `path` (TOML, atomically, mode 0600) and keeps it there from now on.
    pub fn to_file(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.to_token_file().write(path)?;
        self.state().file = Some(path.to_path_buf());
        Ok(())
    }

    /// Keeps the token in `path` from now on, without writing it now.
    pub(crate) fn keep_in(&self, path: &Path) {
        self.state().file = Some(path.to_path_buf());
    }

    /// Sets the safety margin of [`has_expired`](Token::has_expired) (default [`DEFAULT_EXPIRY_MARGIN`]).
    pub fn with_margin(self, margin: Duration) -> Token {
        self.state().margin = margin;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client this token refreshes with.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Whether the access token has expired (or will within the margin), judged from local data only.
    /// A token without an access token has expired; one whose expiry is unknown has not.
    pub fn has_expired(&self) -> bool {
        let now = self.inner.client.now();
        self.state().expired_at(now)
    }

    /// When the access token expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.state().expires_at
    }

    /// The refresh token, for a person's login.
    pub fn refresh_token(&self) -> Option<RefreshToken> {
        match &self.state().grant {
            Grant::Refresh(rt) => Some(rt.clone()),
            _ => None,
        }
    }

    /// The client secret, for a bot.
    pub fn client_secret(&self) -> Option<ClientSecret> {
        match &self.state().grant {
            Grant::ClientSecret(cs) => Some(cs.clone()),
            _ => None,
        }
    }

    /// The ID token of the last login or refresh, when the server sent one.
    pub fn id_token(&self) -> Option<IdToken> {
        self.state().id_token.clone()
    }

    /// Who the token belongs to (`preferred_username` of its tokens, read locally without verification).
    pub fn username(&self) -> Option<String> {
        self.state().username.clone()
    }

    /// The file this token is kept in.
    pub fn file(&self) -> Option<PathBuf> {
        self.state().file.clone()
    }

    /// The cached access token, fresh or not, without any request.
    pub fn cached_access_token(&self) -> Option<AccessToken> {
        self.state().access.clone()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.state().generation
    }

    /// A fresh access token, refreshing first when the cached one has expired.
    pub async fn access_token(&self) -> Result<AccessToken> {
        loop {
            let generation = {
                let now = self.inner.client.now();
                let s = self.state();
                if let (false, Some(at)) = (s.expired_at(now), &s.access) {
                    return Ok(at.clone());
                }
                s.generation
            };
            self.refresh_after(generation).await?;
            let s = self.state();
            if let Some(at) = &s.access {
                return Ok(at.clone());
            }
        }
    }

    /// The `Authorization: Bearer …` header with a fresh access token (AIoD's `token.headers`).
    pub async fn headers(&self) -> Result<HeaderMap> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.authorization().await?);
        Ok(headers)
    }

    /// The value of the `Authorization` header.
    pub async fn authorization(&self) -> Result<HeaderValue> {
        let at = self.access_token().await?;
        let mut value =
            HeaderValue::from_str(&format!("Bearer {}", at.secret())).map_err(|_| {
                Error::Config("the access token contains characters not allowed in a header".into())
            })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// Gets a new access token now, whatever the cached one's expiry.
    pub async fn refresh(&self) -> Result<()> {
        let generation = self.generation();
        self.refresh_after(generation).await
    }

    /// Refreshes unless someone else already did since `generation` was read (one refresh for many waiters).
    pub(crate) async fn refresh_after(&self, generation: u64) -> Result<()> {
        let _gate = self.inner.refresh_gate.lock().await;
        let grant = {
            let s = self.state();
            if s.generation != generation {
                return Ok(());
            }
            s.grant.clone()
        };
        let issued = match &grant {
            Grant::Refresh(rt) => self.inner.client.refresh(rt, None).await?,
            Grant::ClientSecret(cs) => self.inner.client.client_credentials(cs).await?,
            Grant::AccessOnly => return Err(Error::NotAuthenticated),
        };
        let file = {
            let mut s = self.state();
            s.apply(issued);
            s.file.clone()
        };
        if let Some(path) = file {
            self.to_token_file().write(&path)?;
        }
        Ok(())
    }
}

impl State {
    fn expired_at(&self, now: SystemTime) -> bool {
        match (&self.access, self.expires_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(_), Some(exp)) => now + self.margin >= exp,
        }
    }

    fn apply(&mut self, issued: Issued) {
        if let Some(user) = issued
            .id_token
            .as_ref()
            .and_then(|t| jwt::username(t.secret()))
            .or_else(|| jwt::username(issued.access_token.secret()))
        {
            self.username = Some(user);
        }
        self.access = Some(issued.access_token);
        self.expires_at = issued.expires_at;
        if issued.id_token.is_some() {
            self.id_token = issued.id_token;
        }
        if let (Grant::Refresh(_), Some(rt)) = (&self.grant, issued.refresh_token) {
            self.grant = Grant::Refresh(rt);
        }
        self.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::clock::FakeClock;
    use crate::config::Config;

    fn client(clock: &FakeClock) -> Client {
        Client::with_clock(
            Config::new("http://127.0.0.1:9", "r", "c"),
            Arc::new(clock.clone()),
        )
        .unwrap()
    }

    fn check_expired(lifetime: u64, margin: u64, advance: u64, expired: bool) {
        let clock = FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000));
        let expires = clock.now() + Duration::from_secs(lifetime);
        let token = Token::from_access_token(&client(&clock), "at", Some(expires))
            .with_margin(Duration::from_secs(margin));
        clock.advance(Duration::from_secs(advance));
        assert_eq!(
            token.has_expired(),
            expired,
            "lifetime {lifetime} margin {margin} after {advance}"
        );
    }

    #[test]
    fn has_expired_uses_the_margin_and_the_injected_clock() {
        check_expired(300, 10, 0, false);
        check_expired(300, 10, 289, false);
        check_expired(300, 10, 290, true);
        check_expired(300, 0, 299, false);
        check_expired(300, 0, 300, true);
        check_expired(5, 10, 0, true);
    }

    #[test]
    fn no_access_token_means_expired_and_unknown_expiry_means_fresh() {
        let clock = FakeClock::new(SystemTime::now());
        assert!(Token::from_refresh_token(&client(&clock), "rt").has_expired());
        assert!(!Token::from_access_token(&client(&clock), "at", None).has_expired());
    }

    #[test]
    fn token_files_round_trip_with_mode_0600() {
        let clock = FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token.toml");
        let token = Token::from_refresh_token(&client(&clock), "rt-1");
        token.to_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let back = Token::from_file(&client(&clock), &path).unwrap();
        assert_eq!(back.refresh_token().unwrap().secret(), "rt-1");
        assert_eq!(back.file().as_deref(), Some(path.as_path()));

        std::fs::write(
            &path,
            "client_secret = \"S2zo0zW6QMy8ffcqCozYbHkj0JajcWtQ\"\n",
        )
        .unwrap();
        let bot = Token::from_file(&client(&clock), &path).unwrap();
        assert!(bot.client_secret().is_some() && bot.refresh_token().is_none());

        std::fs::write(&path, "nothing = 1\n").unwrap();
        assert!(matches!(
            Token::from_file(&client(&clock), &path),
            Err(Error::BadFile { .. })
        ));
        assert!(matches!(
            Token::from_file(&client(&clock), dir.path().join("missing.toml")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let clock = FakeClock::new(SystemTime::now());
        let s = format!(
            "{:?}",
            Token::from_refresh_token(&client(&clock), "rt-very-secret")
        );
        assert!(!s.contains("very-secret"), "{s}");
    }
}
