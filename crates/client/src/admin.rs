//! The admin client of seed 002: manage machine users and their API tokens with an unscoped (personal) API token
//! of an administrator, or with an administrator's access token.
//!
//! ```no_run
//! use keyport_client::admin::{Scope, connect_to_auth_client};
//! # async fn demo() -> keyport_client::Result<()> {
//! let iai_token = std::env::var("KEYPORT_TOKEN").expect("set KEYPORT_TOKEN");
//! let auth_client = connect_to_auth_client("https://auth.example.org", "aiod", iai_token)?;
//! let user = auth_client.create_user("demo-user").await?;
//! let token = auth_client
//!     .create_token("demo-user", &[Scope::CreateSession, Scope::ReadUserSession], None)
//!     .await?;
//! println!("give this to {}: {}", user.email.unwrap_or_default(), token.token.expose());
//! let info = auth_client.token_info(token.token.expose()).await?;
//! assert!(info.active);
//! auth_client.revoke_token(&token.token_id).await?;
//! auth_client.delete_user("demo-user").await?;
//! # Ok(()) }
//! ```
//!
//! Every call goes to keyport's admin REST API (`{server}/admin/realms/{realm}/…`); a refusal is
//! [`Error::Server`] with the HTTP status and the server's `error`/`error_description` (403 `access_denied` for a
//! caller who is not an administrator, 400 `invalid_scope` for a scope outside the realm's catalogue, …).

use keyport_proto::Secret;
use keyport_proto::admin::{
    AuditEntry, CreateToken, CreateUser, CreatedToken, ScopeRepresentation, TokenInfo,
    TokenInfoRequest, TokenRepresentation, UserRepresentation,
};
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Config, Error, Result};

/// The scopes of seed 002 (keyport's default catalogue). Realms may declare others: pass them as strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Create a training session.
    CreateSession,
    /// Start a training session one created.
    StartSession,
    /// Upload and use a custom model.
    CustomModel,
    /// Download a trained model.
    ModelDownload,
    /// Cancel a session one created (no one else's).
    CancelUserSession,
    /// Delete a session one created (no one else's).
    DeleteUserSession,
    /// Read a session one created (no one else's).
    ReadUserSession,
    /// Read a session created by any user.
    ReadAllSession,
    /// List versions and install the SDK and docker images through the CLI.
    Cli,
    /// Revoke a token one created.
    RevokeUserToken,
}

impl Scope {
    /// The scope's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CreateSession => "create_session",
            Scope::StartSession => "start_session",
            Scope::CustomModel => "custom_model",
            Scope::ModelDownload => "model_download",
            Scope::CancelUserSession => "cancel_user_session",
            Scope::DeleteUserSession => "delete_user_session",
            Scope::ReadUserSession => "read_user_session",
            Scope::ReadAllSession => "read_all_session",
            Scope::Cli => "cli",
            Scope::RevokeUserToken => "revoke_user_token",
        }
    }
}

impl AsRef<str> for Scope {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A connection to the admin API of one realm, authenticated with one token.
pub struct AuthClient {
    http: reqwest::Client,
    /// `{server}/admin/realms/{realm}`.
    base: String,
    token: Secret,
}

impl std::fmt::Debug for AuthClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Connects to the admin API of `realm` on the keyport server at `server_url` (what comes before `/realms/…`,
/// including any base path such as `/auth`), with an administrator's unscoped API token (`kp_…`) or access token.
pub fn connect_to_auth_client(
    server_url: &str,
    realm: &str,
    token: impl Into<String>,
) -> Result<AuthClient> {
    let token = token.into();
    if token.trim().is_empty() {
        return Err(Error::Config(
            "the admin token is empty: create a personal API token and pass it (e.g. from KEYPORT_TOKEN)".into(),
        ));
    }
    let server = server_url.trim_end_matches('/');
    url::Url::parse(server)
        .map_err(|e| Error::Config(format!("server URL `{server}` is not a URL: {e}")))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| Error::http(server, e))?;
    Ok(AuthClient {
        http,
        base: format!("{server}/admin/realms/{realm}"),
        token: Secret::new(token),
    })
}

impl AuthClient {
    /// Like [`connect_to_auth_client`], taking the server and realm from an SDK [`Config`] (a Keycloak-style
    /// issuer `{server}/realms/{realm}`).
    pub fn from_config(config: &Config, token: impl Into<String>) -> Result<AuthClient> {
        let issuer = config.issuer_url()?;
        let text = issuer.as_str().trim_end_matches('/');
        let (server, realm) = text.rsplit_once("/realms/").ok_or_else(|| {
            Error::Config(format!(
                "the issuer {text} is not a keyport realm URL ({{server}}/realms/{{realm}})"
            ))
        })?;
        connect_to_auth_client(server, realm, token)
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Option<T>> {
        let url = format!("{}/{path}", self.base);
        let mut req = self
            .http
            .request(method, &url)
            .bearer_auth(self.token.expose());
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.map_err(|e| Error::http(&url, e))?;
        let status = r.status();
        let text = r.text().await.map_err(|e| Error::http(&url, e))?;
        if !status.is_success() {
            let parsed: Option<keyport_proto::ErrorBody> = serde_json::from_str(&text).ok();
            return Err(Error::Server {
                url,
                status: status.as_u16(),
                error: parsed.as_ref().map(|b| b.error.clone()),
                description: parsed.and_then(|b| b.error_description),
            });
        }
        if status == reqwest::StatusCode::NO_CONTENT || text.is_empty() {
            return Ok(None);
        }
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| Error::Server {
                url,
                status: status.as_u16(),
                error: None,
                description: Some(format!("unreadable answer: {e}")),
            })
    }

    async fn expect<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let url = format!("{}/{path}", self.base);
        self.call(method, path, body).await?.ok_or(Error::Server {
            url,
            status: 204,
            error: None,
            description: Some("empty answer".into()),
        })
    }

    /// `create_user(name)`: a machine user with a generated id and email, activated.
    pub async fn create_user(&self, user_name: &str) -> Result<UserRepresentation> {
        let body = CreateUser {
            username: user_name.to_owned(),
            machine: true,
            ..Default::default()
        };
        self.expect(Method::POST, "users", Some(&body)).await
    }

    /// `delete_user(name)` (or id): every token and session of the user is revoked.
    pub async fn delete_user(&self, user: &str) -> Result<()> {
        self.call::<(), serde_json::Value>(
            Method::DELETE,
            &format!("users/{}", segment(user)),
            None,
        )
        .await?;
        Ok(())
    }

    /// One page of the realm's users (`first` offset, `max` page size ≤ 1000).
    pub async fn list_users(&self, first: u32, max: u32) -> Result<Vec<UserRepresentation>> {
        self.expect::<(), _>(Method::GET, &format!("users?first={first}&max={max}"), None)
            .await
    }

    /// `create_token(user_id, scopes, lifespan)`: a scoped token for a user (id or name). The answer holds the
    /// token itself — the only time it is shown — with its id, the user's id and email, and the scopes.
    /// `lifespan_days` defaults to 30 and may not exceed the realm's maximum.
    pub async fn create_token<S: AsRef<str>>(
        &self,
        user_id: &str,
        scopes: &[S],
        lifespan_days: Option<u32>,
    ) -> Result<CreatedToken> {
        let body = CreateToken {
            user_id: Some(user_id.to_owned()),
            scopes: Some(scopes.iter().map(|s| s.as_ref().to_owned()).collect()),
            lifespan_days,
            name: None,
        };
        self.expect(Method::POST, "tokens", Some(&body)).await
    }

    /// A personal (unscoped) token of the caller, carrying the caller's full rights.
    pub async fn create_personal_token(
        &self,
        name: &str,
        lifespan_days: Option<u32>,
    ) -> Result<CreatedToken> {
        let body = CreateToken {
            name: Some(name.to_owned()),
            lifespan_days,
            ..Default::default()
        };
        self.expect(Method::POST, "tokens", Some(&body)).await
    }

    /// `token_info(token)`: `active`, `token_id`, `user_id`, `email`, `scope`, `iat`, `exp`, … of a token.
    pub async fn token_info(&self, token: &str) -> Result<TokenInfo> {
        let body = TokenInfoRequest {
            token: Secret::new(token),
        };
        self.expect(Method::POST, "tokens/info", Some(&body)).await
    }

    /// `revoke_token(token_id)`.
    pub async fn revoke_token(&self, token_id: &str) -> Result<()> {
        self.call::<(), serde_json::Value>(
            Method::DELETE,
            &format!("tokens/{}", segment(token_id)),
            None,
        )
        .await?;
        Ok(())
    }

    /// One page of the realm's tokens (an administrator sees all, others their own); never the secrets.
    pub async fn list_tokens(&self, first: u32, max: u32) -> Result<Vec<TokenRepresentation>> {
        self.expect::<(), _>(
            Method::GET,
            &format!("tokens?first={first}&max={max}"),
            None,
        )
        .await
    }

    /// The realm's scope catalogue.
    pub async fn scopes(&self) -> Result<Vec<ScopeRepresentation>> {
        self.expect::<(), _>(Method::GET, "scopes", None).await
    }

    /// Audit entries, newest first; `query` is the query string (`user_id=…&token_id=…&action=…&since=…`).
    pub async fn audit(&self, query: &str) -> Result<Vec<AuditEntry>> {
        self.expect::<(), _>(Method::GET, &format!("audit?{query}"), None)
            .await
    }
}

/// A path segment, percent-encoded.
fn segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
