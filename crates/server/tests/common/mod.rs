//! Shared helpers of the HTTP tests: one test configuration, form posts, and the device flow up to tokens; and
//! the PostgreSQL store of a fresh test database for the store-level race tests.
#![allow(dead_code)]

use keyport_testkit::{Browser, TestServer};
use serde_json::Value;

pub const CONFIG: &str = r#"
[[realms]]
name = "aiod"
access_token_lifetime = "5m"
refresh_token_lifetime = "30d"
device_code_lifetime = "10m"
device_poll_interval = "5s"
scopes = ["models:read"]

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token"]
scopes = ["models:read"]

[[realms.clients]]
client_id = "loose-sdk"
public = true
grants = ["device_code", "refresh_token"]
refresh_token_rotation = "off"

[[realms.clients]]
client_id = "pipeline-bot"
secret = "pipeline-bot-secret-0123456789-abcdef"
grants = ["client_credentials"]
roles = ["bot"]

[[realms.clients]]
client_id = "resource-server"
secret = "resource-server-secret-0123456789-abcdef"
grants = []

[[realms.clients]]
client_id = "rsa-bot"
secret = "rsa-bot-secret-0123456789-abcdef-0123"
grants = ["client_credentials"]
access_token_algorithm = "RS256"

[[realms.clients]]
client_id = "legacy-app"
secret = "legacy-app-secret-0123456789-abcdef-01"
grants = ["password", "refresh_token"]
scopes = ["admin"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
name = "Alice Example"
roles = ["user", "admin"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
roles = ["user"]

[[realms]]
name = "other"

[[realms.clients]]
client_id = "resource-server"
secret = "other-resource-secret-0123456789-abcdef"
grants = []
"#;

pub const BOT: (&str, &str) = ("pipeline-bot", "pipeline-bot-secret-0123456789-abcdef");
pub const RS: (&str, &str) = (
    "resource-server",
    "resource-server-secret-0123456789-abcdef",
);
pub const LEGACY: (&str, &str) = ("legacy-app", "legacy-app-secret-0123456789-abcdef-01");

pub async fn server() -> TestServer {
    TestServer::start(CONFIG).await
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A response reduced to what tests look at.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

impl Reply {
    pub async fn from(r: reqwest::Response) -> Reply {
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            json,
        }
    }

    /// Asserts an RFC 6749 §5.2 error with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.json["error"], code, "{self:?}");
        assert!(
            self.json["error_description"]
                .as_str()
                .is_some_and(|d| !d.is_empty()),
            "{self:?}"
        );
    }

    pub fn str(&self, key: &str) -> String {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("no `{key}` in {self:?}"))
            .to_owned()
    }
}

pub async fn post(url: &str, form: &[(&str, &str)]) -> Reply {
    Reply::from(http().post(url).form(form).send().await.unwrap()).await
}

pub async fn post_basic(url: &str, (id, secret): (&str, &str), form: &[(&str, &str)]) -> Reply {
    Reply::from(
        http()
            .post(url)
            .basic_auth(id, Some(secret))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

pub async fn get(url: &str) -> Reply {
    Reply::from(http().get(url).send().await.unwrap()).await
}

pub async fn get_bearer(url: &str, token: &str) -> Reply {
    Reply::from(http().get(url).bearer_auth(token).send().await.unwrap()).await
}

pub const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Starts a device flow for `client_id` in realm `aiod`.
pub async fn start_device(s: &TestServer, client_id: &str, scope: Option<&str>) -> Reply {
    let mut form = vec![("client_id", client_id)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let r = post(&s.endpoint("aiod", "auth/device"), &form).await;
    assert_eq!(r.status, 200, "{r:?}");
    r
}

pub async fn poll(s: &TestServer, client_id: &str, device_code: &str) -> Reply {
    post(
        &s.endpoint("aiod", "token"),
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", client_id),
            ("device_code", device_code),
        ],
    )
    .await
}

/// The whole device login of `username` through `client_id`: the token response.
pub async fn device_login(
    s: &TestServer,
    client_id: &str,
    username: &str,
    password: &str,
) -> Reply {
    let start = start_device(s, client_id, Some("openid profile email")).await;
    Browser::new(&s.realm_url("aiod"))
        .approve_device(&start.str("user_code"), username, password, true)
        .await;
    let tokens = poll(s, client_id, &start.str("device_code")).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    tokens
}

pub async fn refresh(s: &TestServer, client_id: &str, refresh_token: &str) -> Reply {
    post(
        &s.endpoint("aiod", "token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", client_id),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// Back-channel logout of the session `refresh_token` belongs to, by a public client (python-keycloak's form).
pub async fn logout(s: &TestServer, client_id: &str, refresh_token: &str) -> Reply {
    post(
        &s.endpoint("aiod", "logout"),
        &[("client_id", client_id), ("refresh_token", refresh_token)],
    )
    .await
}

pub async fn introspect(s: &TestServer, realm: &str, creds: (&str, &str), token: &str) -> Reply {
    post_basic(
        &s.endpoint(realm, "token/introspect"),
        creds,
        &[("token", token)],
    )
    .await
}

/// Verifies a JWT against the realm's published JWKS, as an outside resource server would.
pub async fn verify_with_jwks(s: &TestServer, realm: &str, jwt: &str) -> Value {
    let jwks: jsonwebtoken::jwk::JwkSet = http()
        .get(s.endpoint(realm, "certs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let kid = header.kid.expect("kid in header");
    let jwk = jwks.find(&kid).expect("kid is in the JWKS");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[s.issuer(realm)]);
    validation.validate_aud = false;
    jsonwebtoken::decode::<Value>(jwt, &key, &validation)
        .expect("verifies against the JWKS")
        .claims
}

/// A PostgreSQL store on `db` (migrated) with 4 connections, so that concurrent store calls of a race test run
/// on separate connections.
pub async fn pg_store(db: &keyport_testkit::TestDatabase) -> keyport_server::store::PgStore {
    keyport_server::store::PgStore::connect(&keyport_server::store::PgSettings {
        url: db.url.clone(),
        max_connections: 4,
        acquire_timeout: std::time::Duration::from_secs(10),
        statement_timeout: std::time::Duration::from_secs(10),
    })
    .await
    .unwrap()
}

/// A person of realm "r" with no password or roles, for store-level tests.
pub fn store_user(id: &str) -> keyport_server::store::User {
    keyport_server::store::User {
        id: id.into(),
        realm: "r".into(),
        username: id.into(),
        email: None,
        name: None,
        password_hash: None,
        roles: vec![],
        user_type: keyport_server::store::UserType::Person,
        enabled: true,
        created_at: 1,
    }
}

/// An active login session of `user_id` in realm "r" (client "c"), for store-level tests.
pub fn store_session(id: &str, user_id: &str, created_at: i64) -> keyport_server::store::Session {
    keyport_server::store::Session {
        id: id.into(),
        realm: "r".into(),
        user_id: user_id.into(),
        client_id: "c".into(),
        scope: "openid".into(),
        created_at,
        ended_at: None,
    }
}
