//! Who called: the [`Caller`] a verified request carries, and the two refusals ([`Rejected`] before the handler,
//! [`Forbidden`] from it), each rendered as an RFC 6750 error with its `WWW-Authenticate` challenge.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyport_proto::{ErrorBody, ErrorCode};

/// What kind of token the caller presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A JWT access token, verified against the JWKS.
    AccessToken,
    /// A keyport API token, introspected.
    ApiToken,
}

/// The authenticated caller, available to handlers as an extractor once [`VerifierLayer`](crate::VerifierLayer) ran.
#[derive(Clone, Debug)]
pub struct Caller {
    /// `sub`: the user's id (or `service-account-…` for a client).
    pub user_id: String,
    pub username: String,
    pub email: Option<String>,
    /// Realm roles (`realm_access.roles`).
    pub roles: Vec<String>,
    /// Granted scopes. For an unscoped (personal) API token keyport lists what its user's roles allow now.
    pub scopes: Vec<String>,
    /// The API token's id, or the access token's `jti`.
    pub token_id: Option<String>,
    pub kind: TokenKind,
}

impl Caller {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    /// `Err(Forbidden)` (403 `insufficient_scope`) unless the caller has `scope`.
    pub fn require_scope(&self, scope: &str) -> Result<(), Forbidden> {
        if self.has_scope(scope) {
            Ok(())
        } else {
            Err(Forbidden::scope(scope))
        }
    }

    /// The own-versus-all rule of seed 002: with `all_scope` (e.g. `read_all_session`) the caller may act on any
    /// resource; with `own_scope` (e.g. `read_user_session`) only on resources whose owner is the caller.
    pub fn may_access(&self, owner_id: &str, own_scope: &str, all_scope: &str) -> bool {
        self.has_scope(all_scope) || (self.has_scope(own_scope) && owner_id == self.user_id)
    }

    /// [`Caller::may_access`] as a `Result`. A caller lacking both scopes gets `insufficient_scope`; one with only
    /// the own scope, facing someone else's resource, gets a plain 403.
    pub fn require_access(
        &self,
        owner_id: &str,
        own_scope: &str,
        all_scope: &str,
    ) -> Result<(), Forbidden> {
        if self.may_access(owner_id, own_scope, all_scope) {
            Ok(())
        } else if self.has_scope(own_scope) {
            Err(Forbidden::not_owner(own_scope))
        } else {
            Err(Forbidden::scope(&format!("{own_scope} {all_scope}")))
        }
    }

    /// Like [`Caller::require_access`] for actions that exist only in an "own" variant (start, cancel, delete).
    pub fn require_own(&self, owner_id: &str, own_scope: &str) -> Result<(), Forbidden> {
        self.require_scope(own_scope)?;
        if owner_id == self.user_id {
            Ok(())
        } else {
            Err(Forbidden::not_owner(own_scope))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Rejected;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            tracing::error!("Caller extractor used on a route without VerifierLayer");
            Rejected::Unavailable("the route is not protected by VerifierLayer".into())
        })
    }
}

/// Why a request was refused before reaching the handler.
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    /// 401: no token, or not an active one.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// 503: keyport could not be asked.
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        match self {
            Rejected::InvalidToken(why) => {
                let challenge = format!(
                    r#"Bearer error="invalid_token", error_description="{}""#,
                    why.replace('"', "'")
                );
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(ErrorBody::new(ErrorCode::InvalidToken, why)),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&challenge) {
                    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
                r
            }
            Rejected::Unavailable(why) => {
                tracing::warn!(%why, "token verification unavailable");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    axum::Json(ErrorBody::new(
                        ErrorCode::TemporarilyUnavailable,
                        "token verification is unavailable; try again shortly",
                    )),
                )
                    .into_response()
            }
        }
    }
}

/// 403: the caller is known but may not do this.
#[derive(Debug)]
pub struct Forbidden {
    scope: String,
    description: String,
    insufficient_scope: bool,
}

impl Forbidden {
    /// The `scope` (space-separated alternatives) is needed.
    pub fn scope(scope: &str) -> Forbidden {
        Forbidden {
            scope: scope.to_owned(),
            description: format!("this call needs the scope `{scope}`"),
            insufficient_scope: true,
        }
    }

    /// The caller's `own_scope` covers only resources they created.
    pub fn not_owner(own_scope: &str) -> Forbidden {
        Forbidden {
            scope: own_scope.to_owned(),
            description: format!("`{own_scope}` covers only resources you created"),
            insufficient_scope: false,
        }
    }

    pub fn description(&self) -> &str {
        &self.description
    }
}

impl IntoResponse for Forbidden {
    fn into_response(self) -> Response {
        let code = if self.insufficient_scope {
            ErrorCode::InsufficientScope
        } else {
            ErrorCode::AccessDenied
        };
        let mut r = (
            StatusCode::FORBIDDEN,
            axum::Json(ErrorBody::new(code, self.description)),
        )
            .into_response();
        if self.insufficient_scope
            && let Ok(v) = HeaderValue::from_str(&format!(
                r#"Bearer error="insufficient_scope", scope="{}""#,
                self.scope
            ))
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(user_id: &str, scopes: &[&str]) -> Caller {
        Caller {
            user_id: user_id.into(),
            username: user_id.into(),
            email: None,
            roles: vec![],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            token_id: None,
            kind: TokenKind::ApiToken,
        }
    }

    /// Seed 002's rule: `read_user_session` reads only own sessions, `read_all_session` any.
    #[test]
    fn own_versus_all() {
        let check = |scopes: &[&str], owner: &str, want: bool| {
            let c = caller("me", scopes);
            assert_eq!(
                c.may_access(owner, "read_user_session", "read_all_session"),
                want,
                "{scopes:?} on {owner}'s"
            );
            assert_eq!(
                c.require_access(owner, "read_user_session", "read_all_session")
                    .is_ok(),
                want
            );
        };
        check(&["read_user_session"], "me", true);
        check(&["read_user_session"], "you", false);
        check(&["read_all_session"], "you", true);
        check(&["read_all_session"], "me", true);
        check(&["create_session"], "me", false);
        check(&[], "me", false);
    }

    #[test]
    fn own_only_actions_and_scope_errors() {
        let c = caller("me", &["cancel_user_session"]);
        assert!(c.require_own("me", "cancel_user_session").is_ok());
        let not_owner = c.require_own("you", "cancel_user_session").unwrap_err();
        assert!(!not_owner.insufficient_scope);
        let no_scope = c.require_own("me", "delete_user_session").unwrap_err();
        assert!(no_scope.insufficient_scope);
        let r = no_scope.into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(
            r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains(r#"scope="delete_user_session""#)
        );
    }
}
