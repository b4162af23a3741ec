//! Helpers of the portal's administrator-page tests (`portal_admin.rs`, `portal_admin_objects.rs`): the realm
//! configuration, a signed-in browser, the admin API as alice, introspection, and readers of a page's links and
//! table rows.
#![allow(dead_code)]

use keyport_server::store::Store;
use keyport_testkit::{Browser, Page, TestServer, unescape};
use serde_json::Value;

pub const CONFIG: &str = r#"
[[realms]]
name = "aiod"
scopes = ["models:read", "sessions:write"]

[[realms.clients]]
client_id = "resource-server"
secret = "resource-server-secret-0123456789-abcd"
grants = []

[[realms.clients]]
client_id = "admin-cli"
secret = "admin-cli-secret-0123456789-abcdef-0123"
grants = ["password"]
scopes = ["admin"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user", "admin"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
roles = ["user"]

[[realms]]
name = "other"

[[realms.users]]
username = "carol"
password = "carol-password-1"
roles = ["user", "admin"]
"#;

pub const RS: (&str, &str) = ("resource-server", "resource-server-secret-0123456789-abcd");
pub const ADMIN_CLI: (&str, &str) = ("admin-cli", "admin-cli-secret-0123456789-abcdef-0123");

/// A browser signed in to `realm`'s portal as `user` (through the sign-in detour).
pub async fn signed_in(s: &TestServer, realm: &str, user: &str, password: &str) -> (Browser, Page) {
    let b = Browser::new(&s.issuer(realm));
    let login = b.follow(b.get("/account/").await).await;
    let home = b.sign_in_as(&login, user, password).await;
    assert_eq!(home.status, 200, "{}", home.html);
    (b, home)
}

pub fn store(s: &TestServer) -> std::sync::Arc<dyn Store> {
    s.running.state.store.clone()
}

/// The admin API with an access token of alice that carries `admin`.
pub async fn api(
    s: &TestServer,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Value {
    let http = reqwest::Client::new();
    let t: Value = http
        .post(s.endpoint("aiod", "token"))
        .basic_auth(ADMIN_CLI.0, Some(ADMIN_CLI.1))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
            ("scope", "openid admin"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut req = http
        .request(method, format!("{}/admin/realms/aiod/{path}", s.url))
        .bearer_auth(t["access_token"].as_str().unwrap());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body} ");
    body
}

pub async fn introspect(s: &TestServer, token: &str) -> Value {
    reqwest::Client::new()
        .post(s.endpoint("aiod", "token/introspect"))
        .basic_auth(RS.0, Some(RS.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every `href` of the page (entities decoded).
pub fn links(page: &Page) -> Vec<String> {
    let re = regex::Regex::new(r#"href="([^"]*)""#).unwrap();
    re.captures_iter(&page.html)
        .map(|c| unescape(&c[1]))
        .collect()
}

pub fn next_link(page: &Page) -> Option<String> {
    let re = regex::Regex::new(r#"<a href="([^"]*)" rel="next">"#).unwrap();
    re.captures(&page.html).map(|c| unescape(&c[1]))
}

/// The rows of the page's table body.
pub fn rows(page: &Page) -> Vec<String> {
    let Some(body) = page.html.split("<tbody>").nth(1) else {
        return Vec::new();
    };
    let body = body.split("</tbody>").next().unwrap();
    body.split("<tr>").skip(1).map(str::to_owned).collect()
}

pub const ADMIN_PAGES: [&str; 6] = [
    "/account/admin/tokens",
    "/account/admin/tokens/scoped",
    "/account/admin/users",
    "/account/admin/clients",
    "/account/admin/audit",
    "/account/admin",
];
