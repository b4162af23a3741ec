//! The OAuth logic, one module per grant or operation. Knows nothing of HTTP: it takes parsed inputs and returns
//! wire types from `keyport_proto` or a [`Error`] carrying an RFC error code.

pub mod account;
pub mod admin;
pub mod api_tokens;
pub mod audit;
pub mod authorization_code;
pub mod browser;
pub(crate) mod claims;
pub mod client_auth;
pub mod client_credentials;
pub mod device_code;
pub mod end_session;
pub mod federation;
pub mod inspect;
pub mod password;
pub mod refresh_token;
pub mod scope;
pub mod tokens;

use keyport_proto::ErrorCode;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A protocol error: sent to the client as an RFC 6749 §5.2 body.
    #[error("{code}: {description}")]
    OAuth {
        code: ErrorCode,
        description: String,
    },
    #[error("realm `{0}` does not exist")]
    RealmNotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
    /// The caller is known but may not do this (admin API: 403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The named resource does not exist (admin API: 404).
    #[error("not found: {0}")]
    NotFound(String),
    /// The resource exists already (admin API: 409).
    #[error("conflict: {0}")]
    Conflict(String),
}

pub type Result<T> = std::result::Result<T, Error>;

pub fn oauth(code: ErrorCode, description: impl Into<String>) -> Error {
    Error::OAuth {
        code,
        description: description.into(),
    }
}

pub fn invalid_request(description: impl Into<String>) -> Error {
    oauth(ErrorCode::InvalidRequest, description)
}

pub fn invalid_grant(description: impl Into<String>) -> Error {
    oauth(ErrorCode::InvalidGrant, description)
}
