//! The browser login (RFC 8252, OAuth 2.0 for native apps): authorization code + PKCE (S256) through a loopback
//! redirect on `http://127.0.0.1:{random port}/callback`.
//!
//! [`Client::start_web_login`] binds the loopback listener and builds the authorization URL (PKCE challenge,
//! `state`, `nonce`, the configured scopes) with the `oauth2` crate; [`PendingWebLogin::wait`] answers the browser
//! when it comes back, checks `state` (an answer with another `state` is refused and the login keeps waiting),
//! RFC 9207's `iss`, the error the server sent, then exchanges the code and checks the ID token's `nonce`. The
//! code never leaves this module except in the token request. `callback` is the loopback side: the HTTP server,
//! the judgement of the answer and the page.

mod callback;

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::client::{Client, basic_code};
use crate::device::DEFAULT_LOGIN_TIMEOUT;
use crate::error::{Error, Flow, Result};
use crate::jwt;
use crate::token::Token;
use callback::{Answer, Checked, Expected, Page, check, flush, serve};

/// The path of the loopback redirect URI: `http://127.0.0.1:{port}/callback`. Register
/// `http://127.0.0.1/callback` at the server: a loopback redirect URI matches any port (RFC 8252 §7.3).
pub const CALLBACK_PATH: &str = "/callback";

/// How often the wait looks at the client's clock for the timeout.
const TICK: Duration = Duration::from_millis(200);

/// A started browser login: the loopback listener is bound and the authorization URL is ready.
///
/// Show or open [`authorize_url`](Self::authorize_url) (see [`instructions`](Self::instructions) and
/// [`open_in_browser`](Self::open_in_browser)), then [`wait`](Self::wait).
pub struct PendingWebLogin {
    client: Client,
    listener: TcpListener,
    authorize_url: String,
    redirect_uri: String,
    expected: Expected,
    verifier: oauth2::PkceCodeVerifier,
    started: SystemTime,
}

impl fmt::Debug for PendingWebLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingWebLogin")
            .field("redirect_uri", &self.redirect_uri)
            .field("issuer", &self.expected.issuer)
            .finish_non_exhaustive()
    }
}

impl PendingWebLogin {
    /// The URL to open in the browser: the server's authorization endpoint with `response_type=code`, the client
    /// id, the loopback `redirect_uri`, the scopes, `state`, `nonce` and the PKCE S256 challenge.
    pub fn authorize_url(&self) -> &str {
        &self.authorize_url
    }

    /// The loopback redirect URI, `http://127.0.0.1:{port}/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The issuer the answer must come from (the discovered one).
    pub fn issuer(&self) -> &str {
        &self.expected.issuer
    }

    /// When the login was started, by the client's clock.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// What to print for the person:
    ///
    /// ```text
    /// Open this URL in your browser to sign in:
    ///
    ///   https://auth.example.org/realms/aiod/protocol/openid-connect/auth?response_type=code&client_id=…
    ///
    /// This workflow will automatically abort after 300 seconds.
    /// ```
    pub fn instructions(&self, timeout: Duration) -> String {
        format!(
            "Open this URL in your browser to sign in:\n\n  {}\n\nThis workflow will automatically abort after {} seconds.\n",
            self.authorize_url,
            timeout.as_secs()
        )
    }

    /// Opens the authorization URL in the default browser, when a browser can be shown here (macOS, Windows, or a
    /// `DISPLAY` / `WAYLAND_DISPLAY`) and the URL is `http(s)`. True when a browser was started; otherwise
    /// the printed URL is the way in. Without the `browser` feature this is always false.
    pub fn open_in_browser(&self) -> bool {
        open_browser(&self.authorize_url)
    }

    /// Answers the browser when it comes back to the loopback redirect, until a valid answer arrives or `timeout`
    /// passes by the client's clock (it must be positive), then exchanges the code for tokens.
    ///
    /// An answer without this login's `state` is refused (HTTP 400 to that browser) and the wait goes on.
    /// Errors: [`Error::AccessDenied`] (Deny on the consent page), [`Error::Authorization`] (any other error the
    /// server sent back), [`Error::InvalidResponse`] (another issuer, a missing `iss` the server promised, no
    /// code, another `nonce`), [`Error::Timeout`], [`Error::InvalidTimeout`], and the token endpoint's errors
    /// ([`Error::Fetch`] for a refused code).
    pub async fn wait(self, timeout: Duration) -> Result<Token> {
        if timeout.is_zero() {
            return Err(Error::InvalidTimeout);
        }
        let deadline = self.client.now() + timeout;
        let (to_waiter, mut answers) = mpsc::channel::<Answer>(8);
        let mut connections = JoinSet::new();
        loop {
            let left = deadline
                .duration_since(self.client.now())
                .unwrap_or_default();
            if left.is_zero() {
                return Err(Error::Timeout {
                    seconds: timeout.as_secs(),
                });
            }
            let event = tokio::select! {
                accepted = self.listener.accept() => Event::Connection(accepted.map(|(s, _)| s)),
                Some(answer) = answers.recv() => Event::Answer(answer),
                _ = tokio::time::sleep(left.min(TICK)) => Event::Tick,
            };
            match event {
                Event::Connection(Ok(stream)) => {
                    connections.spawn(serve(stream, to_waiter.clone()));
                }
                // Out of file descriptors or the like: let it pass rather than spin.
                Event::Connection(Err(_)) => tokio::time::sleep(TICK).await,
                Event::Tick => {}
                Event::Answer(answer) => match check(&answer.params, &self.expected) {
                    Checked::NotOurs => {
                        let _ = answer.reply.send(Page::not_ours());
                    }
                    Checked::Ours(result) => {
                        let outcome = match result {
                            Ok(code) => self.exchange(code).await,
                            Err(e) => Err(e),
                        };
                        let _ = answer.reply.send(match &outcome {
                            Ok(_) => Page::signed_in(),
                            Err(e) => Page::failed(e),
                        });
                        flush(&mut connections).await;
                        return outcome;
                    }
                },
            }
        }
    }

    async fn exchange(&self, code: String) -> Result<Token> {
        let (oauth, ep) = self.client.oauth(None).await?;
        let redirect = oauth2::RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| Error::Config(format!("the loopback redirect URI is invalid: {e}")))?;
        let verifier = oauth2::PkceCodeVerifier::new(self.verifier.secret().clone());
        let http = self.client.oauth_http();
        let resp = oauth
            .exchange_code(oauth2::AuthorizationCode::new(code))
            .map_err(|e| Error::Config(e.to_string()))?
            .set_pkce_verifier(verifier)
            .set_redirect_uri(Cow::Owned(redirect))
            .request_async(&http)
            .await
            .map_err(|e| {
                Client::map_request_error(
                    Flow::Fetch,
                    &ep.token_endpoint,
                    &http.last,
                    e,
                    basic_code,
                )
            })?;
        let issued = self.client.issued(resp);
        if let Some(id_token) = &issued.id_token {
            let nonce = jwt::unverified_claims(id_token.secret())
                .and_then(|c| c.get("nonce").and_then(|n| n.as_str()).map(str::to_owned));
            if nonce.as_deref() != Some(self.expected.nonce.as_str()) {
                return Err(Error::InvalidResponse(
                    "the ID token does not carry this login's nonce".into(),
                ));
            }
        }
        Ok(Token::from_issued(self.client.clone(), issued))
    }
}

enum Event {
    Connection(std::io::Result<TcpStream>),
    Answer(Answer),
    Tick,
}

/// Whether `url` is one the SDK may hand to a browser: `http` or `https` only (never `file:`, `javascript:`, …,
/// which a tampered discovery document could name).
pub(crate) fn is_web_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// Whether a browser can be shown on this machine.
fn graphical() -> bool {
    cfg!(any(target_os = "macos", target_os = "windows"))
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

fn open_browser(url: &str) -> bool {
    #[cfg(feature = "browser")]
    {
        is_web_url(url) && graphical() && webbrowser::open(url).is_ok()
    }
    #[cfg(not(feature = "browser"))]
    {
        let _ = (url, graphical);
        false
    }
}

/// A callback that shows a started browser login to the person (see [`WebLoginOptions::on_instructions`]).
pub type WebInstructionsCallback = Arc<dyn Fn(&PendingWebLogin) + Send + Sync>;

/// Options of a browser login, in the shape of the device login's [`LoginOptions`](crate::LoginOptions).
#[derive(Clone)]
pub struct WebLoginOptions {
    /// How long to wait for the browser to come back (must be positive). Default 300 seconds.
    pub timeout: Duration,
    /// Save the token to this file (TOML, mode 0600), and keep it there when it rotates.
    pub write_to_file: Option<PathBuf>,
    /// Make the token the process-wide one used by [`get_token`](crate::get_token). Default true.
    pub use_in_requests: bool,
    /// Print the URL and the time limit to stdout (the fallback when no browser opens). Default true.
    pub print_instructions: bool,
    /// Open the URL in the default browser when one can be shown (see [`PendingWebLogin::open_in_browser`]).
    /// Default true.
    pub open_browser: bool,
    /// Called with the started login, after the instructions are printed and the browser opened (to show the
    /// URL in a GUI or a notebook, or to drive a browser from a test).
    pub on_instructions: Option<WebInstructionsCallback>,
}

impl fmt::Debug for WebLoginOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebLoginOptions")
            .field("timeout", &self.timeout)
            .field("write_to_file", &self.write_to_file)
            .field("use_in_requests", &self.use_in_requests)
            .field("print_instructions", &self.print_instructions)
            .field("open_browser", &self.open_browser)
            .field("on_instructions", &self.on_instructions.is_some())
            .finish()
    }
}

impl Default for WebLoginOptions {
    fn default() -> Self {
        WebLoginOptions {
            timeout: DEFAULT_LOGIN_TIMEOUT,
            write_to_file: None,
            use_in_requests: true,
            print_instructions: true,
            open_browser: true,
            on_instructions: None,
        }
    }
}

impl WebLoginOptions {
    /// Sets the timeout in seconds.
    pub fn timeout_seconds(mut self, seconds: u64) -> Self {
        self.timeout = Duration::from_secs(seconds);
        self
    }

    /// Saves the token to `path` (e.g. [`default_token_path`](crate::default_token_path)).
    pub fn write_to_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.write_to_file = Some(path.into());
        self
    }

    /// Whether to make the token the process-wide one.
    pub fn use_in_requests(mut self, yes: bool) -> Self {
        self.use_in_requests = yes;
        self
    }

    /// Whether to print the instructions.
    pub fn print_instructions(mut self, yes: bool) -> Self {
        self.print_instructions = yes;
        self
    }

    /// Whether to open the default browser.
    pub fn open_browser(mut self, yes: bool) -> Self {
        self.open_browser = yes;
        self
    }

    /// Calls `show` with the started login.
    pub fn on_instructions(
        mut self,
        show: impl Fn(&PendingWebLogin) + Send + Sync + 'static,
    ) -> Self {
        self.on_instructions = Some(Arc::new(show));
        self
    }
}

impl Client {
    /// Starts a browser login: binds `127.0.0.1` on a random port for the redirect and builds the authorization
    /// URL (authorization code + PKCE S256, `state`, `nonce`, the configured scopes and audience).
    ///
    /// Needs the server's `authorization_endpoint` (from discovery) and a client that accepts the loopback
    /// redirect URI `http://127.0.0.1/callback` on any port.
    pub async fn start_web_login(&self) -> Result<PendingWebLogin> {
        let (oauth, ep) = self.oauth(None).await?;
        let bad = |message: String| Error::Discovery {
            url: ep.issuer.clone(),
            message,
        };
        let auth_url = ep.authorization_endpoint.clone().ok_or_else(|| {
            bad("the server has no authorization endpoint, so it offers no browser login; use the device login".into())
        })?;
        if !is_web_url(&auth_url) {
            return Err(bad(format!(
                "the authorization endpoint {auth_url:?} is not an http(s) URL"
            )));
        }
        let auth_url = oauth2::AuthUrl::new(auth_url.clone())
            .map_err(|_| bad(format!("the authorization URL {auth_url:?} is invalid")))?;
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .await
            .map_err(Error::Loopback)?;
        let port = listener.local_addr().map_err(Error::Loopback)?.port();
        let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
        let redirect = oauth2::RedirectUrl::new(redirect_uri.clone())
            .map_err(|e| Error::Config(format!("the loopback redirect URI is invalid: {e}")))?;
        let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
        let nonce = oauth2::CsrfToken::new_random_len(24).secret().clone();
        let config = self.config();
        let oauth = oauth.set_auth_uri(auth_url);
        let mut req = oauth
            .authorize_url(|| oauth2::CsrfToken::new_random_len(24))
            .set_redirect_uri(Cow::Owned(redirect))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.clone());
        for s in config.scope.split_whitespace() {
            req = req.add_scope(oauth2::Scope::new(s.to_owned()));
        }
        if let Some(aud) = &config.audience {
            req = req.add_extra_param("audience", aud.clone());
        }
        let (url, state) = req.url();
        Ok(PendingWebLogin {
            client: self.clone(),
            listener,
            authorize_url: url.to_string(),
            redirect_uri,
            expected: Expected {
                state: state.secret().clone(),
                nonce,
                issuer: ep.issuer.clone(),
                iss_required: ep.authorization_response_iss_parameter_supported,
            },
            verifier,
            started: self.now(),
        })
    }

    /// Runs a whole browser login: start, print the URL, open the browser, wait for it to come back, and save the
    /// token if asked. (`use_in_requests` is honoured by the process-wide
    /// [`create_token_in_browser`](crate::create_token_in_browser).)
    pub async fn web_login(&self, options: &WebLoginOptions) -> Result<Token> {
        if options.timeout.is_zero() {
            return Err(Error::InvalidTimeout);
        }
        let pending = self.start_web_login().await?;
        if options.print_instructions {
            println!("{}", pending.instructions(options.timeout));
        }
        if options.open_browser {
            pending.open_in_browser();
        }
        if let Some(show) = &options.on_instructions {
            show(&pending);
        }
        let token = pending.wait(options.timeout).await?;
        if let Some(path) = &options.write_to_file {
            token.to_file(path)?;
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls_go_to_a_browser() {
        assert!(is_web_url(
            "https://auth.example.org/realms/r/protocol/openid-connect/auth?x=1"
        ));
        assert!(is_web_url("http://127.0.0.1:8080/auth"));
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ftp://x/",
            "not a url",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }
}
