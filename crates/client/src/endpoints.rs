//! [`Endpoints`]: what a server's OpenID Connect discovery document says the SDK needs.

use serde::{Deserialize, Serialize};

/// The endpoints of a server, from its OpenID Connect discovery document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Endpoints {
    /// The issuer URL.
    pub issuer: String,
    /// The token endpoint (every grant).
    pub token_endpoint: String,
    /// The authorization endpoint (the browser login: authorization code + PKCE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// RFC 8628 device authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_authorization_endpoint: Option<String>,
    /// OpenID Connect userinfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// Keycloak's logout endpoint (POST `client_id` + `refresh_token` ends the session).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// The JWKS URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// RFC 9207: the server names itself (`iss`) in every authorization response, so the browser login
    /// refuses an answer without one.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}
