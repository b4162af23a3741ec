//! RFC 6749 §5.2 error bodies and the error codes of every endpoint family.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An OAuth error code (RFC 6749 §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1, RFC 8628 §3.5, RFC 8707 §2), plus `not_found` for
/// requests naming a realm or resource that does not exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    /// RFC 8707 §2: a `resource` the client may not name.
    InvalidTarget,
    AuthorizationPending,
    SlowDown,
    AccessDenied,
    ExpiredToken,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    UnsupportedResponseType,
    ServerError,
    TemporarilyUnavailable,
    NotFound,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` and nobody is signed in.
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` and the user has not allowed the client.
    ConsentRequired,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ExpiredToken => "expired_token",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::NotFound => "not_found",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON error body of RFC 6749 §5.2.
///
/// `error` is kept as a string so that a client can read codes this crate does not know (servers invent their
/// own); [`ErrorBody::code`] parses it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        ErrorBody {
            error: code.as_str().to_owned(),
            error_description: Some(description.into()),
            error_uri: None,
        }
    }

    /// The error code, when it is one of the standard ones.
    pub fn code(&self) -> Option<ErrorCode> {
        serde_json::from_value(serde_json::Value::String(self.error.clone())).ok()
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.error_description {
            Some(d) => write!(f, "{}: {}", self.error, d),
            None => f.write_str(&self.error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_their_wire_names() {
        for code in [
            ErrorCode::SlowDown,
            ErrorCode::AuthorizationPending,
            ErrorCode::InvalidClient,
        ] {
            let body = ErrorBody::new(code, "x");
            let json = serde_json::to_string(&body).unwrap();
            assert!(json.contains(code.as_str()), "{json}");
            let back: ErrorBody = serde_json::from_str(&json).unwrap();
            assert_eq!(back.code(), Some(code));
        }
        let custom: ErrorBody = serde_json::from_str(r#"{"error":"made_up"}"#).unwrap();
        assert_eq!(custom.code(), None);
    }
}
