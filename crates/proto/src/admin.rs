//! Wire types of the admin REST API under `{base_path}/admin/realms/{realm}/`: users (people and machine users),
//! API tokens (personal/unscoped and scoped), `token_info`, the API-token scope catalogue and the audit log.
//!
//! The field names are a contract other tools rely on: add fields, never rename them. With the `utoipa` feature
//! every type also describes itself for the server's OpenAPI document.

use serde::{Deserialize, Serialize};

use crate::Secret;

/// `POST users`: a machine user (`"machine": true`, no password) or a person.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateUser {
    /// 1–64 letters, digits, `-`, `_`, `.` or `@`; unique in the realm.
    pub username: String,
    /// A machine user: gets a generated email and signs in only with API tokens.
    #[serde(default)]
    pub machine: bool,
    /// Default for machine users: `<random>@<realm>.keyport` (or the realm's `machine_user_email_domain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Realm roles of the new user.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// A person's password (stored as argon2id). Machine users have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "utoipa", schema(value_type = Option<String>))]
    pub password: Option<Secret>,
}

/// A user as the admin API shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UserRepresentation {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// `machine` (made through the admin API or SDK) or `person`.
    pub user_type: String,
    #[serde(default)]
    pub roles: Vec<String>,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// `POST tokens`. Without `user_id`: a personal (unscoped) token of the caller, carrying the caller's full
/// rights. With `user_id` (an id or a username) and `scopes`: a scoped token for that user (admins only).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateToken {
    /// A label to recognise the token by later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user a scoped token is for: id or username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Scopes from the realm's catalogue (`GET scopes`); required for scoped tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Default 30; never more than the realm's maximum (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifespan_days: Option<u32>,
}

/// The answer to `POST tokens`: the only time the token itself is shown.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    /// `kp_…`: shown exactly once, stored only as a SHA-256 hash.
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    pub token: Secret,
    pub token_id: String,
    /// The id of the user the token acts as.
    pub user_id: String,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Empty for a personal (unscoped) token.
    pub scopes: Vec<String>,
    /// `true` for a personal token carrying its owner's full rights.
    pub unscoped: bool,
    #[serde(default)]
    pub name: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// An API token as lists show it: never the secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TokenRepresentation {
    pub token_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub user_id: String,
    pub username: String,
    pub scopes: Vec<String>,
    pub unscoped: bool,
    /// The id of the user who created it.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    #[serde(default)]
    pub last_used_at: Option<i64>,
    #[serde(default)]
    pub revoked_at: Option<i64>,
    /// Neither expired nor revoked.
    pub active: bool,
}

/// `POST tokens/info`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TokenInfoRequest {
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    pub token: Secret,
}

/// `token_info`: the fields of seed 002 plus `exp`, `sub` and `username`. An unknown, revoked or expired token
/// is `{"active": false}` and nothing else (as RFC 7662 does).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    pub active: bool,
    /// The deployment's customer name (`[server] customer`, default the realm name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// `admin` when the user has the realm's `admin` role, else `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// `[server] environment` (default `prod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The realm's issuer URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// API tokens cannot be renewed: make a new one and revoke the old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewable: Option<bool>,
    /// Space-separated scopes; for a personal token, the whole catalogue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// As in seed 002: the user's name (`demo-user`). The user's id is `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The user's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// `generated` (a machine user made through the API) or `person`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// `true` for a personal token carrying its owner's full rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unscoped: Option<bool>,
}

/// One scope of the realm's API-token catalogue.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ScopeRepresentation {
    pub name: String,
    pub description: String,
}

/// One entry of the audit log. Never contains a secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: String,
    /// Unix seconds.
    pub time: i64,
    pub realm: String,
    /// The user (or service account) acting; absent when unknown (e.g. an unknown token was presented).
    #[serde(default)]
    pub actor_user_id: Option<String>,
    /// The API token used, when one was.
    #[serde(default)]
    pub token_id: Option<String>,
    /// e.g. `user.create`, `user.delete`, `token.create`, `token.revoke`, `token.info`, `token.use`,
    /// `token.introspect`, `admin.denied`.
    pub action: String,
    /// What the action was about (a user id, a token id, an endpoint).
    #[serde(default)]
    pub target: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    /// A short, secret-free explanation.
    #[serde(default)]
    pub detail: Option<String>,
}

/// The error body of the admin API: RFC 6749 §5.2's shape (`error`, `error_description`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct AdminError {
    pub error: String,
    #[serde(default)]
    pub error_description: Option<String>,
}

/// `PUT users/{id}/roles`: the user's new realm roles (replacing the old ones).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SetRoles {
    pub roles: Vec<String>,
}

/// `POST clients`: a confidential client (a bot) whose secret keyport generates and shows once.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateClient {
    pub client_id: String,
    /// Default `["client_credentials"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grants: Option<Vec<String>>,
    /// Realm roles of the client's service account.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A client as the admin API shows it: never its secret.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ClientRepresentation {
    pub client_id: String,
    pub public: bool,
    pub grants: Vec<String>,
    pub roles: Vec<String>,
    /// Realm scopes it may ask for besides OpenID's standard ones.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Where the authorization endpoint may send the browser back (authorization code clients).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Declared in the configuration file: changes made here are undone at the next start.
    #[serde(default)]
    pub from_config: bool,
}

/// `PUT users/{id}/enabled`: enable or disable a user. A disabled user cannot sign in, refresh a token or use an
/// API token; nothing of theirs is deleted.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct SetEnabled {
    pub enabled: bool,
}

/// The answer to `POST clients`: the only time the secret is shown (≥ 256 bits, stored as SHA-256).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreatedClient {
    pub client_id: String,
    #[cfg_attr(feature = "utoipa", schema(value_type = String))]
    pub secret: Secret,
    pub grants: Vec<String>,
    pub roles: Vec<String>,
}
