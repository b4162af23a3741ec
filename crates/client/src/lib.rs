//! # keyport-client: the keyport SDK
//!
//! Log people and bots in against a keyport server — or any standard OAuth 2.0 / OpenID Connect server found by
//! discovery (Keycloak, Auth0, …) — and keep their tokens fresh for your HTTP requests.
//!
//! Everything is async (tokio + reqwest). Errors are one [`Error`] enum whose messages say what to do next.
//! Secrets ([`RefreshToken`], [`ClientSecret`], …) are newtypes whose `Debug` is redacted, and every file the SDK
//! writes holding one is written atomically with mode 0600.
//!
//! ## Contents
//!
//! 1. [Configuration](#1-configuration)
//! 2. [Logging a person in: the device flow](#2-logging-a-person-in-the-device-flow) (and
//!    [in the browser](#in-the-browser-authorization-code--pkce))
//! 3. [Tokens](#3-tokens)
//! 4. [Bots: client id and secret](#4-bots-client-id-and-secret)
//! 5. [Process-wide helpers](#5-process-wide-helpers)
//! 6. [Authenticated requests](#6-authenticated-requests)
//! 7. [Authentication handlers](#7-authentication-handlers)
//! 8. [Auth types and token fetchers](#8-auth-types-and-token-fetchers)
//! 9. [Files and environment variables](#9-files-and-environment-variables)
//! 10. [Testing your code](#10-testing-your-code)
//!
//! ## 1. Configuration
//!
//! A [`Config`] names the server and the client. Never put keys into scripts: configure from the environment or
//! a `.env` file, or let `keyport login` save a profile that [`Config::load`] picks up.
//!
//! ```no_run
//! use keyport_client::{Client, Config};
//! # fn main() -> keyport_client::Result<()> {
//! // In code: a Keycloak-style server (issuer = {server}/realms/{realm}) …
//! let config = Config::new("https://auth.example.org", "aiod", "aiod-sdk");
//! // … or any OpenID Connect issuer, with Auth0's audience:
//! let auth0 = Config::for_issuer("https://tenant.eu.auth0.com/", "8iCJ33Kp6hc9")
//!     .with_audience("https://hub.example.org/api");
//! // From a TOML file with the same field names:
//! let from_file = Config::from_file("keyport-client.toml")?;
//! // Defaults < ~/.keyport profile < $KEYPORT_CLIENT_CONFIG < ./.env < KEYPORT_* variables:
//! let loaded = Config::load()?;
//! let client = Client::new(loaded)?; // discovery happens on first use
//! # let _ = (config, auth0, from_file, client); Ok(()) }
//! ```
//!
//! ## 2. Logging a person in: the device flow
//!
//! [`Client::device_login`] starts an RFC 8628 device login, prints the two ways to authenticate and how long the
//! flow lasts, polls at the server's interval (slowing down when told), and returns a [`Token`]:
//!
//! ```text
//! Please authenticate using one of two methods:
//!
//!   1. Navigate to https://auth.example.org/realms/aiod/device?user_code=BCDF-GHJK
//!   2. Navigate to https://auth.example.org/realms/aiod/device and enter code BCDF-GHJK
//!
//! This workflow will automatically abort after 300 seconds.
//! ```
//!
//! ```no_run
//! use keyport_client::{Client, Config, Error, LoginOptions};
//! # async fn demo() -> keyport_client::Result<()> {
//! let client = Client::new(Config::load()?)?;
//! let options = LoginOptions::default().timeout_seconds(300).write_to_file(keyport_client::default_token_path()?);
//! match client.device_login(&options).await {
//!     Ok(token) => println!("logged in as {:?}", token.username()),
//!     Err(Error::AccessDenied) => eprintln!("you clicked Deny"),
//!     Err(Error::ExpiredToken | Error::Timeout { .. }) => eprintln!("too slow, try again"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! To show the instructions your own way (a GUI, a QR code), call [`Client::start_device_login`], show the
//! [`PendingLogin`]'s `verification_uri_complete`, `verification_uri` and `user_code`, then
//! [`PendingLogin::wait`]. Or pass a callback with [`LoginOptions::on_instructions`].
//!
//! ### In the browser: authorization code + PKCE
//!
//! Where a browser runs on the same machine, [`Client::web_login`] signs the person in through the server's own
//! sign-in page (RFC 8252): it listens on `127.0.0.1` on a random port, prints the authorization URL, opens the
//! browser when one can be shown, and waits for the browser to come back to `http://127.0.0.1:{port}/callback`.
//! The client must accept the loopback redirect URI `http://127.0.0.1/callback` (any port matches) and the
//! `authorization_code` grant. PKCE (S256), `state`, `nonce` and RFC 9207's `iss` are checked for you; an answer
//! with another `state` is refused and the login keeps waiting.
//!
//! ```no_run
//! use keyport_client::{Client, Config, Error, WebLoginOptions};
//! # async fn demo() -> keyport_client::Result<()> {
//! let client = Client::new(Config::load()?.with_client_id("aiod-sdk"))?;
//! let options = WebLoginOptions::default()
//!     .timeout_seconds(300)
//!     .write_to_file(keyport_client::default_token_path()?)
//!     .on_instructions(|login| eprintln!("or open {}", login.authorize_url()));
//! match client.web_login(&options).await {
//!     Ok(token) => println!("logged in as {:?}", token.username()),
//!     Err(Error::AccessDenied) => eprintln!("you clicked Deny"),
//!     Err(Error::Timeout { .. }) => eprintln!("too slow, try again"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! [`Client::start_web_login`] and [`PendingWebLogin::wait`] split it for a GUI; [`create_token_in_browser`] is
//! the process-wide form. Without the default `browser` feature the URL is only printed and handed to the
//! callback.
//!
//! ## 3. Tokens
//!
//! A [`Token`] keeps an access token fresh from one refresh token (a person) or one client secret (a bot).
//! [`Token::has_expired`] judges from local data, with a safety margin ([`DEFAULT_EXPIRY_MARGIN`]);
//! [`Token::headers`] refreshes when needed and gives `Authorization: Bearer …`. A token read with
//! [`Token::from_file`] or saved with [`Token::to_file`] writes every rotated refresh token back to its file
//! (TOML, see [`TokenFile`]), so servers that rotate refresh tokens never lock you out.
//!
//! ```no_run
//! use keyport_client::{Client, Config, Token};
//! # async fn demo() -> keyport_client::Result<()> {
//! let client = Client::new(Config::load()?)?;
//! let token = Token::from_file(&client, keyport_client::default_token_path()?)?;
//! let resp = reqwest::Client::new()
//!     .post("https://api.example.org/v1/datasets")
//!     .headers(token.headers().await?)
//!     .json(&serde_json::json!({"name": "demo"}))
//!     .send()
//!     .await;
//! # let _ = resp; Ok(()) }
//! ```
//!
//! Clones of a `Token` share state: one refresh serves them all, even when many requests notice expiry at once.
//!
//! ## 4. Bots: client id and secret
//!
//! A confidential client uses the client credentials grant. Keep the secret in a file (`secret.toml` holding
//! `client_secret = "…"`) or the environment, never in the script:
//!
//! ```no_run
//! use keyport_client::{Client, Config, Token};
//! # async fn demo() -> keyport_client::Result<()> {
//! let client = Client::new(Config::load()?.with_client_id("pipeline-bot"))?;
//! let token = Token::from_file(&client, "secret.toml")?;
//! let header = token.headers().await?;
//! # let _ = header; Ok(()) }
//! ```
//!
//! ## 5. Process-wide helpers
//!
//! For scripts, one login per process with the names of AIoD's SDK: [`create_token`], [`get_token`],
//! [`set_token`], [`get_current_user`], [`invalidate_token`], plus [`configure`] and [`client`]. Without
//! [`configure`], the process-wide client comes from [`Config::load`], and [`get_token`] falls back to the token
//! file `keyport login` writes; with nothing there it is [`Error::NotAuthenticated`].
//!
//! ```no_run
//! # async fn demo() -> keyport_client::Result<()> {
//! use keyport_client::LoginOptions;
//! keyport_client::create_token(LoginOptions::default().write_to_file(keyport_client::default_token_path()?)).await?;
//! let user = keyport_client::get_current_user().await?; // User { name, roles, .. }
//! println!("{} {:?}", user.name, user.roles);
//! keyport_client::invalidate_token(None, false).await?; // ends the session on the server
//! # Ok(()) }
//! ```
//!
//! ## 6. Authenticated requests
//!
//! [`AuthorizedClient`] wraps a `reqwest::Client`: it attaches the credentials to every request and, when the
//! server answers 401, renews them once and retries. It takes anything implementing [`Credentials`]: a
//! [`Token`], an [`auth::Auth`], or a handler through [`handlers::HandlerCredentials`].
//!
//! ```no_run
//! # async fn demo() -> keyport_client::Result<()> {
//! let api = keyport_client::AuthorizedClient::new(keyport_client::get_token()?);
//! let resp = api.send(api.get("https://api.example.org/v1/me")).await?;
//! # let _ = resp; Ok(()) }
//! ```
//!
//! ## 7. Authentication handlers
//!
//! [`handlers`] has Bitfount's shape: a trait [`handlers::AuthenticationHandler`] (`authenticate`,
//! `authenticated`, `username`, per-service `request_headers`, gRPC-style `metadata`) with API keys, a device
//! flow keeping one token file per username, and an externally managed JWT renewed through a callback.
//!
//! ```no_run
//! use keyport_client::handlers::{AuthenticationHandler, DeviceCodeFlowHandler, Service};
//! # async fn demo() -> keyport_client::Result<()> {
//! let handler = DeviceCodeFlowHandler::new(keyport_client::Config::load()?, "alice")?;
//! handler.authenticate().await?; // device login the first time, the stored token afterwards
//! let headers = handler.request_headers(Service::Hub).await?;
//! # let _ = headers; Ok(()) }
//! ```
//!
//! ## 8. Auth types and token fetchers
//!
//! [`auth`] has Wallaroo's shape: [`auth::AuthType`] (`none`, `sso`, `user_password`, `test_auth`, `token`,
//! `orch`, parsed case-insensitively), [`auth::create`] returning an [`auth::Auth`] to put on requests, token
//! fetchers per source, a caching fetcher keeping results in the user cache directory, and [`auth::logout`].
//!
//! ```no_run
//! use keyport_client::auth::{self, AuthType};
//! # async fn demo() -> keyport_client::Result<()> {
//! let client = keyport_client::client()?;
//! let auth = auth::create(&client, "sso".parse::<AuthType>()?)?;
//! let request = auth.apply(reqwest::Client::new().get("https://api.example.org/v1/models")).await?;
//! auth::logout()?; // forget every cached credential
//! # let _ = request; Ok(()) }
//! ```
//!
//! ## 9. Files and environment variables
//!
//! | path / variable | what |
//! |---|---|
//! | `$KEYPORT_HOME` (default `~/.keyport`) | the CLI's and SDK's home |
//! | `<home>/config.toml` | profiles: `[profiles.<name>]` with the [`Config`] fields ([`Profiles`]) |
//! | `<home>/tokens/<profile>.toml` | the token of a profile (0600) |
//! | `<home>/handlers/<username>.toml` | [`handlers::DeviceCodeFlowHandler`] tokens (0600) |
//! | `$KEYPORT_CACHE_DIR` (default: user cache dir + `/keyport`) | [`auth::CachedTokenFetcher`] files (0600) |
//! | `KEYPORT_PROFILE` | the profile used when none is named (default `default`) |
//! | `KEYPORT_SERVER_URL`, `KEYPORT_REALM`, `KEYPORT_ISSUER`, `KEYPORT_CLIENT_ID`, `KEYPORT_SCOPE`, `KEYPORT_AUDIENCE`, `KEYPORT_TIMEOUT` | [`Config`] fields |
//! | `KEYPORT_CLIENT_CONFIG` | a [`Config`] TOML file |
//! | `KEYPORT_USERNAME`, `KEYPORT_PASSWORD`, `KEYPORT_CREDENTIALS_FILE` | `user_password` / `test_auth` credentials |
//! | `KEYPORT_TOKEN_FILE` | the `token` auth type's JSON file |
//! | `KEYPORT_OFFLINE_TOKEN` | the `orch` auth type's refresh token |
//!
//! ## 10. Testing your code
//!
//! Inject a [`FakeClock`] with [`Client::with_clock`] to test expiry without sleeping:
//!
//! ```
//! use std::{sync::Arc, time::{Duration, SystemTime}};
//! use keyport_client::{Client, Config, FakeClock, Token};
//! let clock = FakeClock::new(SystemTime::now());
//! let client = Client::with_clock(Config::new("http://127.0.0.1:8080", "master", "keyport-cli"), Arc::new(clock.clone())).unwrap();
//! let token = Token::from_access_token(&client, "eyJ…", Some(SystemTime::now() + Duration::from_secs(300)));
//! assert!(!token.has_expired());
//! clock.advance(Duration::from_secs(295)); // inside the 10 s safety margin
//! assert!(token.has_expired());
//! ```
//!
//! ## How it is built
//!
//! Token requests (device authorization and polling with `slow_down`, the browser login's authorization URL and
//! code exchange with PKCE, refresh, client credentials, password) go through the `oauth2` crate, driven by this
//! crate's own `reqwest` client with redirects turned off. Discovery, userinfo, Keycloak's logout endpoint and
//! RFC 7009 revocation are plain `reqwest` calls: `oauth2` has none of the first three and refuses revocation
//! endpoints that are not `https` (every development server), and `openidconnect`'s strict discovery and ID-token
//! validation would add a second crypto stack for something the SDK never needs (it does not verify tokens; the
//! server it sends them to does). The browser login's loopback listener is a tokio `TcpListener` served by
//! `hyper` (HTTP/1, one request per connection).

#![warn(missing_docs)]

pub mod admin;
pub mod auth;
mod client;
mod clock;
mod config;
mod device;
mod endpoints;
mod error;
mod files;
mod global;
pub mod handlers;
mod http;
pub mod jwt;
mod secret;
mod token;
mod trust;
mod user;
mod web;

pub use client::{Client, Endpoints};
pub use clock::{Clock, FakeClock, SystemClock};
pub use config::{Config, Profiles};
pub use device::{DEFAULT_LOGIN_TIMEOUT, InstructionsCallback, LoginOptions, PendingLogin};
pub use error::{AuthError, AuthenticationError, Error, Result};
pub use files::{cache_dir, current_profile, keyport_home, token_path, write_private};
pub use global::{
    TokenSource, clear_token, client, configure, create_token, create_token_in_browser,
    current_user, default_token_path, get_current_user, get_current_user_from, get_token,
    invalidate_token, logout_token, set_token,
};
pub use http::{AuthorizedClient, Credentials};
pub use secret::{AccessToken, ApiKey, ClientSecret, IdToken, Password, RefreshToken};
pub use token::{DEFAULT_EXPIRY_MARGIN, Token, TokenFile};
pub use trust::is_loopback;
pub use user::User;
pub use web::{CALLBACK_PATH, PendingWebLogin, WebInstructionsCallback, WebLoginOptions};

/// Internal checks the fuzz targets in `fuzz/` call directly (feature `fuzzing`; not a stable API).
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::trust::check_discovery;
}
