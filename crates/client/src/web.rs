//! The browser login (RFC 8252, OAuth 2.0 for native apps): authorization code + PKCE (S256) through a loopback
//! redirect on `http://127.0.0.1:{random port}/callback`.
//!
//! [`Client::start_web_login`] binds the loopback listener and builds the authorization URL (PKCE challenge,
//! `state`, `nonce`, the configured scopes) with the `oauth2` crate; [`PendingWebLogin::wait`] answers the browser
//! when it comes back, checks `state` (an answer with another `state` is refused and the login keeps waiting),
//! RFC 9207's `iss`, the error the server sent, then exchanges the code and checks the ID token's `nonce`. The
//! code never leaves this module except in the token request.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY};
use hyper::{Method, Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::client::{Client, basic_code};
use crate::device::DEFAULT_LOGIN_TIMEOUT;
use crate::error::{Error, Flow, Result};
use crate::jwt;
use crate::token::Token;

/// The path of the loopback redirect URI: `http://127.0.0.1:{port}/callback`. Register
/// `http://127.0.0.1/callback` at the server: a loopback redirect URI matches any port (RFC 8252 §7.3).
pub const CALLBACK_PATH: &str = "/callback";

/// How long the browser's connection may take to receive the final page once the login has its answer.
const FLUSH_LIMIT: Duration = Duration::from_secs(2);

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

/// What the answer at the loopback must match.
struct Expected {
    state: String,
    nonce: String,
    issuer: String,
    /// The server promised `iss` in every authorization response (RFC 9207 §3).
    iss_required: bool,
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

/// One request to the callback path, waiting for the page to answer it with.
struct Answer {
    params: Vec<(String, String)>,
    reply: oneshot::Sender<Page>,
}

/// What a callback request turned out to be.
#[derive(Debug)]
enum Checked {
    /// Not this login's answer (no or another `state`): refused, the wait goes on.
    NotOurs,
    /// This login's answer: the code, or why there is none.
    Ours(Result<String>),
}

/// The single value of a query parameter; a repeated one counts as absent.
fn single<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
    match (values.next(), values.next()) {
        (Some(v), None) => Some(v.as_str()),
        _ => None,
    }
}

/// Judges the query of a callback request (RFC 6749 §4.1.2, RFC 9207 §2.4).
fn check(params: &[(String, String)], expected: &Expected) -> Checked {
    let ours = single(params, "state")
        .is_some_and(|s| keyport_proto::constant_time_eq(s.as_bytes(), expected.state.as_bytes()));
    if !ours {
        return Checked::NotOurs;
    }
    let verdict = match (
        single(params, "iss"),
        params.iter().any(|(k, _)| k == "iss"),
    ) {
        (Some(iss), _) if iss != expected.issuer => Err(Error::InvalidResponse(format!(
            "it names the issuer {iss:?}, not {:?}",
            expected.issuer
        ))),
        (None, true) => Err(Error::InvalidResponse("it names several issuers".into())),
        (None, false) if expected.iss_required => Err(Error::InvalidResponse(
            "it does not name its issuer although the server says it always does".into(),
        )),
        _ => Ok(()),
    }
    .and_then(|()| match single(params, "error") {
        Some("access_denied") => Err(Error::AccessDenied),
        Some(error) => Err(Error::Authorization {
            error: error.to_owned(),
            description: single(params, "error_description").map(str::to_owned),
        }),
        None => single(params, "code")
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Error::InvalidResponse("it carries no authorization code".into())),
    });
    Checked::Ours(verdict)
}

/// Serves one browser connection (no keep-alive). True when it carried the login's final page.
async fn serve(stream: TcpStream, to_waiter: mpsc::Sender<Answer>) -> bool {
    let delivered = Arc::new(AtomicBool::new(false));
    let flag = delivered.clone();
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let to_waiter = to_waiter.clone();
        let flag = flag.clone();
        async move {
            if req.method() != Method::GET || req.uri().path() != CALLBACK_PATH {
                return Ok::<_, Infallible>(Page::not_found().response());
            }
            let params = url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
            let (reply, page) = oneshot::channel();
            if to_waiter.send(Answer { params, reply }).await.is_err() {
                return Ok(Page::gone().response());
            }
            let page = page.await.unwrap_or_else(|_| Page::gone());
            if page.last {
                flag.store(true, Ordering::SeqCst);
            }
            Ok(page.response())
        }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
        .await;
    delivered.load(Ordering::SeqCst)
}

/// Lets the connection that carries the final page write it (the other connections are dropped).
async fn flush(connections: &mut JoinSet<bool>) {
    let _ = tokio::time::timeout(FLUSH_LIMIT, async {
        while let Some(done) = connections.join_next().await {
            if matches!(done, Ok(true)) {
                break;
            }
        }
    })
    .await;
}

/// A small HTML page for the browser.
struct Page {
    status: StatusCode,
    title: &'static str,
    message: String,
    /// The login's final answer (the wait ends with it).
    last: bool,
    /// The message is a failure (`role="alert"`) rather than good news (`role="status"`).
    alert: bool,
}

impl Page {
    fn signed_in() -> Page {
        Page {
            status: StatusCode::OK,
            title: "Signed in",
            message: "You are signed in; you can close this window.".into(),
            last: true,
            alert: false,
        }
    }

    fn failed(error: &Error) -> Page {
        Page {
            status: StatusCode::OK,
            title: "Sign-in failed",
            message: format!("{error}. You can close this window."),
            last: true,
            alert: true,
        }
    }

    fn not_ours() -> Page {
        Page {
            status: StatusCode::BAD_REQUEST,
            title: "Sign-in refused",
            message: "This answer does not belong to the sign-in in progress (its state does not match); it was ignored.".into(),
            last: false,
            alert: true,
        }
    }

    fn not_found() -> Page {
        Page {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            message: format!("Only {CALLBACK_PATH} is served here."),
            last: false,
            alert: true,
        }
    }

    fn gone() -> Page {
        Page {
            status: StatusCode::GONE,
            title: "Sign-in over",
            message: "This sign-in is no longer waiting; start it again.".into(),
            last: false,
            alert: true,
        }
    }

    fn html(&self) -> String {
        format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · keyport</title></head>\n<body><main><h1>{title}</h1><p role=\"{role}\">{message}</p></main></body></html>\n",
            title = self.title,
            role = if self.alert { "alert" } else { "status" },
            message = escape_html(&self.message),
        )
    }

    fn response(&self) -> Response<Full<Bytes>> {
        let mut resp = Response::new(Full::new(Bytes::from(self.html())));
        *resp.status_mut() = self.status;
        let headers = resp.headers_mut();
        for (name, value) in [
            (CONTENT_TYPE, "text/html; charset=utf-8"),
            (CACHE_CONTROL, "no-store"),
            (REFERRER_POLICY, "no-referrer"),
            (CONTENT_SECURITY_POLICY, "default-src 'none'"),
        ] {
            headers.insert(name, hyper::header::HeaderValue::from_static(value));
        }
        resp
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
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

    fn expected(iss_required: bool) -> Expected {
        Expected {
            state: "s-123".into(),
            nonce: "n".into(),
            issuer: "http://127.0.0.1:8080/realms/r".into(),
            iss_required,
        }
    }

    /// Runs `check` on a query string and hands the verdict to `expect`.
    fn check_query(query: &str, iss_required: bool, expect: impl Fn(&Checked) -> bool) {
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let verdict = check(&params, &expected(iss_required));
        assert!(expect(&verdict), "{query} gave {verdict:?}");
    }

    const ISS: &str = "iss=http%3A%2F%2F127.0.0.1%3A8080%2Frealms%2Fr";

    #[test]
    fn callback_queries_are_judged_by_state_then_issuer_then_error() {
        let code = |c: &Checked, want: &str| matches!(c, Checked::Ours(Ok(code)) if code == want);
        check_query(&format!("code=abc&state=s-123&{ISS}"), true, |c| {
            code(c, "abc")
        });
        check_query("code=abc&state=s-123", false, |c| code(c, "abc"));
        for foreign in [
            "code=abc",
            "code=abc&state=s-12",
            "code=abc&state=s-1234",
            "code=abc&state=s-123&state=s-123",
            "error=access_denied&state=other",
        ] {
            check_query(foreign, true, |c| matches!(c, Checked::NotOurs));
        }
        let refused = |c: &Checked| matches!(c, Checked::Ours(Err(Error::InvalidResponse(_))));
        check_query(
            "code=abc&state=s-123&iss=https%3A%2F%2Fevil",
            false,
            refused,
        );
        check_query("code=abc&state=s-123", true, refused);
        check_query(&format!("code=abc&state=s-123&{ISS}&{ISS}"), false, refused);
        check_query(&format!("state=s-123&{ISS}"), true, refused);
        check_query(&format!("code=&state=s-123&{ISS}"), true, refused);
        check_query(
            "error=access_denied&state=s-123&iss=https%3A%2F%2Fevil",
            false,
            refused,
        );
        check_query(
            &format!("error=access_denied&state=s-123&{ISS}"),
            true,
            |c| matches!(c, Checked::Ours(Err(Error::AccessDenied))),
        );
        check_query(
            &format!("error=login_required&error_description=no+session&state=s-123&{ISS}"),
            true,
            |c| {
                matches!(c, Checked::Ours(Err(Error::Authorization { error, description: Some(d) }))
                    if error == "login_required" && d == "no session")
            },
        );
    }

    #[test]
    fn pages_escape_what_the_query_brought() {
        let page = Page::failed(&Error::Authorization {
            error: "x".into(),
            description: Some("<script>alert(1)</script>".into()),
        });
        let html = page.html();
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("role=\"alert\""), "{html}");
        assert!(
            Page::signed_in()
                .html()
                .contains("You are signed in; you can close this window.")
        );
        let resp = page.response();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()[CONTENT_SECURITY_POLICY],
            "default-src 'none'"
        );
        let body = escape_html("<script>alert('1')</script> & \"");
        assert_eq!(
            body,
            "&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt; &amp; &quot;"
        );
    }

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
