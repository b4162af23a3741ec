//! The SDK's one error type. Every message says what to do next.

use std::path::PathBuf;

use keyport_proto::{ErrorBody, ErrorCode};

/// Result alias used throughout the SDK.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Seed 000 calls it `AuthenticationError`: any authentication failure.
pub type AuthenticationError = Error;
/// Seed 004 calls it `AuthError` (with an optional HTTP code: [`Error::http_status`]).
pub type AuthError = Error;

/// Everything that can go wrong in the SDK.
///
/// Variants map to the error classes of the platform SDKs keyport replaces:
/// [`Error::NotAuthenticated`] is AIoD's `NotAuthenticatedError`, [`Error::Fetch`] is Wallaroo's `TokenFetchError`,
/// [`Error::Refresh`] is Wallaroo's `TokenRefreshError`, and the whole enum is AIoD's `AuthenticationError` and
/// Wallaroo's `AuthError` ([`Error::http_status`] gives its optional HTTP code).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing is configured to authenticate with.
    #[error(
        "not authenticated: run `keyport login` (or call `create_token` / `set_token`) before making authenticated requests"
    )]
    NotAuthenticated,

    /// The person clicked *Deny* in the browser: on the device verification page (RFC 8628 `access_denied`) or on
    /// the consent page of a browser login (RFC 6749 §4.1.2.1 `access_denied`).
    #[error(
        "the sign-in was denied in the browser: start the login again and choose Approve (or Allow)"
    )]
    AccessDenied,

    /// The device code expired on the server before anyone approved it (RFC 8628 `expired_token`).
    #[error("the device code expired before the sign-in was approved: start the login again")]
    ExpiredToken,

    /// The caller's own time limit for the device login passed.
    #[error(
        "no sign-in was approved within {seconds} seconds: start the login again and finish it in the browser sooner"
    )]
    Timeout {
        /// The time limit that passed.
        seconds: u64,
    },

    /// A zero timeout was asked for.
    #[error("the login timeout must be a positive number of seconds, got 0")]
    InvalidTimeout,

    /// The server refused to refresh the token (Wallaroo's `TokenRefreshError`).
    #[error(
        "the server refused to refresh the token ({}): the login was ended, revoked or has expired; run `keyport login` again",
        describe(.error, .description)
    )]
    Refresh {
        /// HTTP status of the refusal.
        status: Option<u16>,
        /// The RFC 6749 error code, e.g. `invalid_grant`.
        error: String,
        /// The server's `error_description`.
        description: Option<String>,
    },

    /// The server refused to issue a token (Wallaroo's `TokenFetchError`).
    #[error(
        "the server refused to issue a token ({}): check the client id, the client secret or the user's credentials",
        describe(.error, .description)
    )]
    Fetch {
        /// HTTP status of the refusal.
        status: Option<u16>,
        /// The RFC 6749 error code, e.g. `invalid_client`.
        error: String,
        /// The server's `error_description`.
        description: Option<String>,
    },

    /// The server answered something the SDK did not expect.
    #[error(
        "unexpected answer from {url}: HTTP {status}{}; check that the server URL, realm and client id are right",
        .error.as_ref().map(|e| format!(" ({})", describe(e, .description))).unwrap_or_default()
    )]
    Server {
        /// The URL that answered.
        url: String,
        /// HTTP status.
        status: u16,
        /// The RFC 6749 error code, when the body had one.
        error: Option<String>,
        /// The server's `error_description`.
        description: Option<String>,
    },

    /// The server sent the browser back with an error other than `access_denied` (RFC 6749 §4.1.2.1), e.g.
    /// `invalid_scope`, `unauthorized_client` or `login_required`.
    #[error(
        "the server refused the browser sign-in ({}): check the client id, its redirect URIs (a loopback `http://127.0.0.1/callback` must be registered) and the scopes",
        describe(.error, .description)
    )]
    Authorization {
        /// The RFC 6749 error code.
        error: String,
        /// The server's `error_description`.
        description: Option<String>,
    },

    /// The answer the browser brought back cannot be trusted: it names another issuer (RFC 9207), lacks one the
    /// server promised, has no code, or its ID token carries another `nonce`.
    #[error(
        "the browser sign-in's answer was refused ({0}): start the login again; if it repeats, check the configured issuer"
    )]
    InvalidResponse(String),

    /// The browser login could not listen on the loopback interface for the browser's answer.
    #[error(
        "could not listen on 127.0.0.1 for the browser's answer: {0}; log in with the device flow instead (`keyport login` without --web)"
    )]
    Loopback(#[source] std::io::Error),

    /// The server could not be reached or the connection failed.
    #[error("could not reach {url}: {source}; check the server URL and your network")]
    Http {
        /// The URL being requested.
        url: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },

    /// The OpenID Connect discovery document could not be loaded.
    #[error(
        "could not load the OpenID configuration from {url}: {message}; check the server URL and realm (or set the issuer URL)"
    )]
    Discovery {
        /// The discovery URL.
        url: String,
        /// What went wrong.
        message: String,
    },

    /// The configuration is incomplete or invalid.
    #[error("invalid configuration: {0}")]
    Config(String),

    /// A file could not be read or written.
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A token, credentials or cache file has the wrong content.
    #[error("{} is not a valid {kind} file: {message}; fix or delete it", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// Which kind of file ("token", "credentials", …).
        kind: &'static str,
        /// What is wrong with it.
        message: String,
    },

    /// A stored token belongs to another user than the one asked for (seed 003's `AssertionError`).
    #[error(
        "the token stored in {} belongs to {found:?}, not {expected:?}: log in as {expected:?} or use another username",
        path.display()
    )]
    UsernameMismatch {
        /// The token file.
        path: PathBuf,
        /// The username asked for.
        expected: String,
        /// The username found.
        found: String,
    },

    /// A token file belongs to another issuer than the one the client is configured for.
    #[error(
        "the token in {} was issued by {found}, not by {expected}: run `keyport login` for {expected}, or use the profile of {found}",
        path.display()
    )]
    IssuerMismatch {
        /// The token file.
        path: PathBuf,
        /// The issuer the file names.
        found: String,
        /// The issuer the client is configured for.
        expected: String,
    },

    /// An externally managed token source failed.
    #[error("the external token source failed: {0}")]
    External(String),
}

fn describe(error: &str, description: &Option<String>) -> String {
    match description {
        Some(d) if !d.is_empty() => format!("{error}: {d}"),
        _ => error.to_owned(),
    }
}

impl Error {
    /// The HTTP status the server answered with, when the error came from an HTTP answer.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Refresh { status, .. } | Error::Fetch { status, .. } => *status,
            Error::Server { status, .. } => Some(*status),
            Error::Http { source, .. } => source.status().map(|s| s.as_u16()),
            Error::AccessDenied | Error::ExpiredToken => Some(400),
            _ => None,
        }
    }

    /// The RFC 6749 error code, when the server sent one.
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            Error::Refresh { error, .. }
            | Error::Fetch { error, .. }
            | Error::Authorization { error, .. } => Some(error),
            Error::Server { error, .. } => error.as_deref(),
            Error::AccessDenied => Some("access_denied"),
            Error::ExpiredToken => Some("expired_token"),
            _ => None,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn http(url: impl Into<String>, source: reqwest::Error) -> Self {
        Error::Http {
            url: url.into(),
            source,
        }
    }
}

/// Which request an OAuth error answered; decides how the error is classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Polling the token endpoint during a device login.
    DevicePoll,
    /// Starting a device login.
    DeviceStart,
    /// A `refresh_token` grant.
    Refresh,
    /// A `client_credentials` or `password` grant.
    Fetch,
}

/// Classifies an RFC 6749 §5.2 error answer.
pub(crate) fn map_oauth_error(
    flow: Flow,
    url: &str,
    status: Option<u16>,
    error: &str,
    description: Option<String>,
) -> Error {
    let code: Option<ErrorCode> = ErrorBody {
        error: error.to_owned(),
        error_description: None,
        error_uri: None,
    }
    .code();
    match (flow, code) {
        (Flow::DevicePoll, Some(ErrorCode::AccessDenied)) => Error::AccessDenied,
        (Flow::DevicePoll, Some(ErrorCode::ExpiredToken)) => Error::ExpiredToken,
        (
            Flow::Refresh,
            Some(ErrorCode::InvalidGrant | ErrorCode::InvalidToken | ErrorCode::InvalidClient),
        ) => Error::Refresh {
            status,
            error: error.to_owned(),
            description,
        },
        (
            Flow::Fetch,
            Some(
                ErrorCode::InvalidGrant | ErrorCode::InvalidClient | ErrorCode::UnauthorizedClient,
            ),
        ) => Error::Fetch {
            status,
            error: error.to_owned(),
            description,
        },
        _ => Error::Server {
            url: url.to_owned(),
            status: status.unwrap_or(400),
            error: Some(error.to_owned()),
            description,
        },
    }
}

/// Classifies a non-success HTTP answer whose body may be an RFC 6749 §5.2 JSON error.
pub(crate) fn map_error_body(flow: Flow, url: &str, status: u16, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => map_oauth_error(flow, url, Some(status), &b.error, b.error_description),
        Err(_) => Error::Server {
            url: url.to_owned(),
            status,
            error: None,
            description: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(flow: Flow, status: u16, body: &str, expect: impl Fn(&Error) -> bool) {
        let err = map_error_body(flow, "http://x/token", status, body.as_bytes());
        assert!(expect(&err), "{flow:?} {status} {body} gave {err:?}");
        assert!(!err.to_string().is_empty());
    }

    #[test]
    fn rfc6749_error_bodies_map_to_typed_errors() {
        check(Flow::DevicePoll, 400, r#"{"error":"access_denied"}"#, |e| {
            matches!(e, Error::AccessDenied)
        });
        check(
            Flow::DevicePoll,
            400,
            r#"{"error":"expired_token","error_description":"gone"}"#,
            |e| matches!(e, Error::ExpiredToken),
        );
        check(
            Flow::Refresh,
            400,
            r#"{"error":"invalid_grant","error_description":"Token is not active"}"#,
            |e| {
                matches!(e, Error::Refresh { status: Some(400), error, description: Some(d) }
                if error == "invalid_grant" && d == "Token is not active")
            },
        );
        check(Flow::Fetch, 401, r#"{"error":"invalid_client"}"#, |e| {
            matches!(
                e,
                Error::Fetch {
                    status: Some(401),
                    ..
                }
            ) && e.http_status() == Some(401)
        });
        check(
            Flow::DevicePoll,
            400,
            r#"{"error":"invalid_grant"}"#,
            |e| matches!(e, Error::Server { status: 400, error: Some(c), .. } if c == "invalid_grant"),
        );
        check(Flow::Fetch, 500, "<html>oops</html>", |e| {
            matches!(
                e,
                Error::Server {
                    status: 500,
                    error: None,
                    ..
                }
            )
        });
        check(Flow::DeviceStart, 400, r#"{"error":"made_up_code"}"#, |e| {
            e.oauth_error() == Some("made_up_code")
        });
    }

    #[test]
    fn messages_say_what_to_do_next() {
        assert!(
            Error::NotAuthenticated
                .to_string()
                .contains("keyport login")
        );
        assert!(
            Error::AccessDenied
                .to_string()
                .contains("start the login again")
        );
        assert!(
            Error::ExpiredToken
                .to_string()
                .contains("start the login again")
        );
        assert!(
            Error::Timeout { seconds: 3 }
                .to_string()
                .contains("3 seconds")
        );
        let refresh = Error::Refresh {
            status: Some(400),
            error: "invalid_grant".into(),
            description: None,
        };
        assert!(
            refresh.to_string().contains("run `keyport login` again"),
            "{refresh}"
        );
    }
}
