//! Process-wide helpers with the names AIoD's SDK uses: [`create_token`], [`get_token`], [`set_token`],
//! [`get_current_user`], [`invalidate_token`].
//!
//! They are a thin layer over [`Client`] and [`Token`], for scripts that want one login per process. Libraries and
//! servers should hold a [`Client`] and [`Token`] of their own instead.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use crate::client::Client;
use crate::config::Config;
use crate::device::LoginOptions;
use crate::error::{Error, Result};
use crate::files;
use crate::secret::RefreshToken;
use crate::token::Token;
use crate::user::User;
use crate::web::WebLoginOptions;

struct Global {
    client: Option<Client>,
    token: Option<Token>,
}

static GLOBAL: Mutex<Global> = Mutex::new(Global {
    client: None,
    token: None,
});

fn global() -> MutexGuard<'static, Global> {
    GLOBAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Something that names a token: a [`Token`], or a refresh token string (AIoD's `str | Token`).
#[derive(Clone, Debug)]
pub enum TokenSource {
    /// A token.
    Token(Token),
    /// A refresh token, used with the process-wide client.
    RefreshToken(RefreshToken),
}

impl From<Token> for TokenSource {
    fn from(t: Token) -> Self {
        TokenSource::Token(t)
    }
}
impl From<&Token> for TokenSource {
    fn from(t: &Token) -> Self {
        TokenSource::Token(t.clone())
    }
}
impl From<RefreshToken> for TokenSource {
    fn from(t: RefreshToken) -> Self {
        TokenSource::RefreshToken(t)
    }
}
impl From<&str> for TokenSource {
    fn from(t: &str) -> Self {
        TokenSource::RefreshToken(RefreshToken::new(t))
    }
}
impl From<String> for TokenSource {
    fn from(t: String) -> Self {
        TokenSource::RefreshToken(RefreshToken::new(t))
    }
}

impl TokenSource {
    fn into_token(self, client: &Client) -> Token {
        match self {
            TokenSource::Token(t) => t,
            TokenSource::RefreshToken(rt) => Token::from_refresh_token(client, rt),
        }
    }
}

/// Sets the process-wide configuration (AIoD's `aiod.config.…`) and forgets the process-wide token.
pub fn configure(config: Config) -> Result<Client> {
    let client = Client::new(config)?;
    let mut g = global();
    g.client = Some(client.clone());
    g.token = None;
    Ok(client)
}

/// The process-wide client: the one [`configure`]d, else one from [`Config::load`].
pub fn client() -> Result<Client> {
    if let Some(c) = &global().client {
        return Ok(c.clone());
    }
    let client = Client::new(Config::load()?)?;
    Ok(global().client.get_or_insert(client).clone())
}

/// The token file of the current profile, `~/.keyport/tokens/<profile>.toml` (the one `keyport login` writes).
pub fn default_token_path() -> Result<PathBuf> {
    files::token_path(&files::current_profile())
}

/// Logs in with the device flow (AIoD's `create_token`), printing the two ways to authenticate and how long the
/// flow lasts, and blocking until it ends. With `use_in_requests` (the default) the token becomes the
/// process-wide one.
pub async fn create_token(options: LoginOptions) -> Result<Token> {
    let client = client()?;
    let token = client.device_login(&options).await?;
    if options.use_in_requests {
        global().token = Some(token.clone());
    }
    Ok(token)
}

/// Logs in through the browser (authorization code + PKCE with a loopback redirect, see
/// [`Client::web_login`]): prints the URL, opens the browser when one can be shown, and blocks until the browser
/// comes back. With `use_in_requests` (the default) the token becomes the process-wide one.
pub async fn create_token_in_browser(options: WebLoginOptions) -> Result<Token> {
    let client = client()?;
    let token = client.web_login(&options).await?;
    if options.use_in_requests {
        global().token = Some(token.clone());
    }
    Ok(token)
}

/// The token used for authenticated requests: the one set or created in this process, else the one in
/// [`default_token_path`] (so a `keyport login` carries over), else [`Error::NotAuthenticated`].
pub fn get_token() -> Result<Token> {
    if let Some(t) = &global().token {
        return Ok(t.clone());
    }
    let client = client()?;
    let path = default_token_path()?;
    if !path.exists() {
        return Err(Error::NotAuthenticated);
    }
    let token = Token::from_file(&client, &path)?;
    Ok(global().token.get_or_insert(token).clone())
}

/// Sets the token used for authenticated requests: a [`Token`], or a refresh token string. Not validated: a
/// bad token makes later requests fail.
pub fn set_token(token: impl Into<TokenSource>) -> Result<()> {
    let source = token.into();
    let token = match source {
        TokenSource::Token(t) => t,
        other => other.into_token(&client()?),
    };
    global().token = Some(token);
    Ok(())
}

/// Forgets the process-wide token (without ending its session).
pub fn clear_token() {
    global().token = None;
}

/// The name and roles of whoever the process-wide token belongs to, from the server's userinfo endpoint.
pub async fn get_current_user() -> Result<User> {
    current_user(&get_token()?, None).await
}

/// Like [`get_current_user`], but asks an API endpoint of yours that answers userinfo-style JSON
/// (`preferred_username` or `name`, and `roles`).
pub async fn get_current_user_from(url: &str) -> Result<User> {
    current_user(&get_token()?, Some(url)).await
}

/// The user a token belongs to, from userinfo (or `url`); refreshes once if the access token is refused.
pub async fn current_user(token: &Token, url: Option<&str>) -> Result<User> {
    for attempt in 0..2 {
        let generation = token.generation();
        let at = token.access_token().await?;
        let answer = match url {
            Some(url) => token.client().get_json(url, &at).await,
            None => token.client().userinfo(&at).await,
        };
        match answer {
            Err(Error::Server { status: 401, .. }) if attempt == 0 => {
                token.refresh_after(generation).await?
            }
            Err(e) => return Err(e),
            Ok(claims) => return Ok(User::from_claims(&claims)),
        }
    }
    Err(Error::NotAuthenticated)
}

/// Ends the login session of a token (AIoD's `invalidate_token`): the server logs it out, which invalidates every
/// token of that login, and its token file is deleted. `None` means the process-wide token. With
/// `ignore_errors`, a failed logout is not an error.
pub async fn invalidate_token(token: Option<TokenSource>, ignore_errors: bool) -> Result<()> {
    let token = match token {
        Some(source) => source.into_token(&client()?),
        None => match get_token() {
            Ok(t) => t,
            Err(_) if ignore_errors => return Ok(()),
            Err(e) => return Err(e),
        },
    };
    let result = logout_token(&token).await;
    {
        let mut g = global();
        let same = g.token.as_ref().is_some_and(|cur| {
            cur.refresh_token().map(|r| r.secret().to_owned())
                == token.refresh_token().map(|r| r.secret().to_owned())
        });
        if same {
            g.token = None;
        }
    }
    match result {
        Err(_) if ignore_errors => Ok(()),
        other => other,
    }
}

/// Ends a token's session on the server and deletes its file.
pub async fn logout_token(token: &Token) -> Result<()> {
    let result = match token.refresh_token() {
        Some(rt) => token.client().logout(&rt, None).await,
        None => Ok(()),
    };
    if let Some(path) = token.file() {
        files::remove_if_exists(&path)?;
    }
    result
}
