//! # keyport-client
//!
//! (manual below)

#![warn(missing_docs)]

pub mod auth;
mod client;
mod clock;
mod config;
mod device;
mod error;
mod files;
mod global;
pub mod handlers;
mod http;
pub mod jwt;
mod secret;
mod token;
mod user;

pub use client::{Client, Endpoints};
pub use clock::{Clock, FakeClock, SystemClock};
pub use config::{Config, Profiles};
pub use device::{DEFAULT_LOGIN_TIMEOUT, LoginOptions, PendingLogin};
pub use error::{AuthError, AuthenticationError, Error, Result};
pub use files::{cache_dir, current_profile, keyport_home, token_path, write_private};
pub use global::{
    TokenSource, clear_token, client, configure, create_token, current_user, default_token_path,
    get_current_user, get_current_user_from, get_token, invalidate_token, logout_token, set_token,
};
pub use http::{AuthorizedClient, Credentials};
pub use secret::{AccessToken, ApiKey, ClientSecret, IdToken, Password, RefreshToken};
pub use token::{DEFAULT_EXPIRY_MARGIN, Token, TokenFile};
pub use user::User;
