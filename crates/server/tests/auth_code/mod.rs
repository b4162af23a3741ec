//! Shared by the authorization-code test files: one configuration (a confidential web app, a public CLI with a
//! loopback redirect URI, a third-party client with consent, a realm without local passwords) and the steps of
//! the flow as a client and a browser take them.
#![allow(dead_code)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyport_testkit::{Browser, Page, TestServer};
use sha2::{Digest, Sha256};

use crate::common::{Reply, post_basic};

pub const CONFIG: &str = r#"
[[realms]]
name = "web"
scopes = ["models:read"]

[[realms.clients]]
client_id = "web-app"
secret = "web-app-secret-0123456789-abcdef-0123"
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app.example.org/callback", "https://app.example.org/cb?tenant=1"]
post_logout_redirect_uris = ["https://app.example.org/bye"]

[[realms.clients]]
client_id = "cli"
public = true
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]

[[realms.clients]]
client_id = "partner"
secret = "partner-secret-0123456789-abcdef-0123456"
grants = ["authorization_code"]
redirect_uris = ["https://partner.example.com/cb"]
consent = true
scopes = ["models:read"]       # issue 11: a client asks only for the realm scopes it lists

[[realms.clients]]
client_id = "device-only"
public = true
grants = ["device_code"]
redirect_uris = ["https://device.example.org/cb"]

[[realms.clients]]
client_id = "resource-server"
secret = "resource-server-secret-0123456789-abcdef"

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user"]

[[realms]]
name = "sso-only"
local_passwords = false

[[realms.identity_providers]]
alias = "university"
display_name = "University SSO"
issuer = "http://127.0.0.1:9/realms/x"
client_id = "keyport"

[[realms.clients]]
client_id = "legacy"
secret = "legacy-secret-0123456789-abcdef-0123456"
grants = ["password"]
"#;

pub const WEB: (&str, &str) = ("web-app", "web-app-secret-0123456789-abcdef-0123");
pub const PARTNER: (&str, &str) = ("partner", "partner-secret-0123456789-abcdef-0123456");
pub const RS: (&str, &str) = (
    "resource-server",
    "resource-server-secret-0123456789-abcdef",
);
pub const CALLBACK: &str = "https://app.example.org/callback";

pub fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// An authorization request of `client_id` with these extra parameters (`redirect_uri`, `state`, … unless given).
pub fn auth_path(client_id: &str, redirect_uri: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    for (k, v) in extra {
        params.retain(|(p, _)| p != k);
        if !v.is_empty() {
            params.push((k, v));
        }
    }
    format!(
        "/protocol/openid-connect/auth?{}",
        serde_urlencoded::to_string(&params).unwrap()
    )
}

/// The query (or fragment) parameters of a redirect to the client.
pub fn params_of(location: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(location).unwrap();
    let raw = url.fragment().or(url.query()).unwrap_or("").to_owned();
    serde_urlencoded::from_str(&raw).unwrap()
}

pub fn param(location: &str, key: &str) -> Option<String> {
    params_of(location)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Asserts a redirect to the client (not to this server) and returns its location.
pub fn to_client(page: &Page, prefix: &str) -> String {
    assert!(
        (300..400).contains(&page.status),
        "expected a redirect, got {}: {}",
        page.status,
        page.html
    );
    let location = page.location.clone().expect("Location");
    assert!(location.starts_with(prefix), "{location}");
    location
}

/// Requests authorization and, when sent to the sign-in page, signs in as alice: the redirect to the client.
pub async fn authorize(browser: &Browser, path: &str) -> Page {
    let page = browser.follow(browser.get(path).await).await;
    if page.status == 200 && page.contains("name=\"password\"") {
        return browser.sign_in_as(&page, "alice", "alice-password-1").await;
    }
    page
}

pub async fn exchange(s: &TestServer, code: &str, verifier: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    post_basic(&s.endpoint("web", "token"), WEB, &form).await
}

pub async fn start() -> (TestServer, Browser) {
    let s = TestServer::start(CONFIG).await;
    let browser = Browser::new(&s.issuer("web"));
    (s, browser)
}

/// Refreshes a token of the confidential `web-app`.
pub async fn refresh_web(s: &TestServer, refresh_token: &str) -> Reply {
    post_basic(
        &s.endpoint("web", "token"),
        WEB,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}
