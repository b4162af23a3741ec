//! Shared by the federation test files: an upstream keyport and a downstream that signs people in through it,
//! and the browser steps across both.
#![allow(dead_code)]

use keyport_testkit::{Browser, Page, TestServer};

pub const APP_CALLBACK: &str = "https://app.example.org/callback";
pub const WEB_APP: (&str, &str) = ("web-app", "web-app-secret-0123456789-abcdef-0123");
pub const UP_SECRET: &str = "downstream-secret-0123456789-abcdef-0123";

/// The upstream keyport: realm `campus`, where keyport (downstream) is the client `keyport-down`.
pub const UPSTREAM: &str = r#"
[[realms]]
name = "campus"

[[realms.clients]]
client_id = "keyport-down"
secret = "downstream-secret-0123456789-abcdef-0123"
grants = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/realms/web/broker/campus/endpoint"]

[[realms.clients]]
client_id = "keyport-asks"
secret = "downstream-secret-0123456789-abcdef-0123"
grants = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/realms/web/broker/campus/endpoint"]
consent = true

[[realms.users]]
username = "bob"
password = "bob-campus-password"
email = "bob@campus.example"

[[realms.users]]
username = "alice"
password = "alice-campus-password"
email = "alice@campus.example"
"#;

/// The downstream keyport (realm `web`) trusting `issuer` as provider `campus` with client `client_id`; it has a
/// local `alice` of its own.
pub fn downstream(issuer: &str, client_id: &str, secret_line: &str) -> String {
    format!(
        r#"
[[realms]]
name = "web"

[[realms.clients]]
client_id = "web-app"
secret = "web-app-secret-0123456789-abcdef-0123"
grants = ["authorization_code"]
redirect_uris = ["{APP_CALLBACK}"]

[[realms.users]]
username = "alice"
password = "alice-local-password"
email = "alice@web.example"

[[realms.identity_providers]]
alias = "campus"
display_name = "Campus SSO"
issuer = "{issuer}"
client_id = "{client_id}"
{secret_line}
default_roles = ["student"]
"#
    )
}

pub async fn pair(client_id: &str) -> (TestServer, TestServer, Browser) {
    let up = TestServer::start(UPSTREAM).await;
    let config = downstream(
        &up.issuer("campus"),
        client_id,
        &format!("client_secret = \"{UP_SECRET}\""),
    );
    let down = TestServer::start(&config).await;
    let browser = Browser::new(&down.issuer("web"));
    (up, down, browser)
}

/// Follows redirects wherever they lead on 127.0.0.1 (both servers), stopping at a page or at a redirect to the
/// web app: the last URL and what it answered.
pub async fn walk(b: &Browser, mut url: String) -> (String, Page) {
    loop {
        let page = b.get_url(&url).await;
        match page.location.clone() {
            Some(loc) if (300..400).contains(&page.status) && !loc.starts_with(APP_CALLBACK) => {
                url = reqwest::Url::parse(&url)
                    .unwrap()
                    .join(&loc)
                    .unwrap()
                    .to_string();
            }
            _ => return (url, page),
        }
    }
}

/// Submits the sign-in form of the page at `url` (any server), then walks on.
pub async fn sign_in_at(
    b: &Browser,
    url: &str,
    page: &Page,
    user: &str,
    pw: &str,
) -> (String, Page) {
    assert!(
        page.contains("name=\"password\""),
        "a sign-in page: {}",
        page.html
    );
    let action = reqwest::Url::parse(url)
        .unwrap()
        .join(&page.form_action().unwrap())
        .unwrap();
    let return_to = page.field("return_to").unwrap_or_default();
    let posted = b
        .post_url(
            action.as_str(),
            &[
                ("csrf", &page.csrf()),
                ("return_to", &return_to),
                ("username", user),
                ("password", pw),
            ],
        )
        .await;
    assert_eq!(posted.status, 303, "sign-in at {url}: {}", posted.html);
    let next = action.join(&posted.location.unwrap()).unwrap();
    walk(b, next.to_string()).await
}

/// "Sign in with Campus SSO" from the downstream sign-in page, signing in upstream as `user`: where it ends.
pub async fn sign_in_upstream(
    down: &TestServer,
    b: &Browser,
    user: &str,
    pw: &str,
) -> (String, Page) {
    let start = format!(
        "{}/broker/campus/login?return_to=/realms/web/login",
        down.issuer("web")
    );
    let (url, login) = walk(b, start).await;
    assert!(
        !url.starts_with(&down.issuer("web")),
        "at the provider: {url}"
    );
    sign_in_at(b, &url, &login, user, pw).await
}

/// A query parameter of a URL.
pub fn param_of(url: &str, key: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

pub fn state_of(s: &TestServer) -> &keyport_server::state::AppState {
    &s.running.state
}
