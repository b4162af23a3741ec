//! The device flow approved in real headless Chromium after signing in through an upstream provider (a second
//! keyport): a device (reqwest) starts a device authorization at the downstream keyport, a person opens the
//! verification page, types the code, clicks "Sign in with Campus SSO", signs in on the upstream's sign-in
//! page, approves on the downstream's consent page, and the device's tokens are for the federated account.

use keyport_testkit::TestServer;
use keyport_testkit::chromium::Chromium;
use serde_json::Value;

/// The upstream keyport: realm `campus`, where the downstream is the client `keyport-down` (loopback redirect
/// URI: any port).
const UPSTREAM: &str = r#"
[[realms]]
name = "campus"

[[realms.clients]]
client_id = "keyport-down"
secret = "downstream-secret-0123456789-abcdef-0123"
grants = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/realms/aiod/broker/campus/endpoint"]

[[realms.users]]
username = "bob"
password = "bob-campus-password"
email = "bob@campus.example"
"#;

/// The downstream keyport (realm `aiod`, a device client) trusting `issuer` as provider `campus`.
fn downstream(issuer: &str) -> String {
    format!(
        r#"
[[realms]]
name = "aiod"
device_poll_interval = "5s"

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token"]

[[realms.identity_providers]]
alias = "campus"
display_name = "Campus SSO"
issuer = "{issuer}"
client_id = "keyport-down"
client_secret = "downstream-secret-0123456789-abcdef-0123"
"#
    )
}

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[tokio::test]
async fn device_approved_after_signing_in_through_an_upstream() {
    let up = TestServer::start(UPSTREAM).await;
    let down = TestServer::start(&downstream(&up.issuer("campus"))).await;
    let http = reqwest::Client::new();

    let started: Value = http
        .post(down.endpoint("aiod", "auth/device"))
        .form(&[("client_id", "aiod-sdk"), ("scope", "openid profile")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let field = |k: &str| {
        started[k]
            .as_str()
            .unwrap_or_else(|| panic!("{k} in {started}"))
            .to_owned()
    };
    let (device_code, user_code, verification_uri) = (
        field("device_code"),
        field("user_code"),
        field("verification_uri"),
    );

    let browser = Chromium::start().await;
    browser.goto(&verification_uri).await;
    browser.fill("Code", &user_code).await;
    browser.click("Continue").await;
    // The downstream's sign-in page offers the provider; its link leads to the upstream's sign-in page.
    browser.click("Sign in with Campus SSO").await;
    let at = browser.url().await;
    assert!(
        at.as_str().starts_with(&up.issuer("campus")),
        "at the upstream: {at}"
    );
    browser.sign_in("bob", "bob-campus-password").await;
    // Back at the downstream: its consent page for the device, naming the client and the federated user.
    let at = browser.url().await;
    assert!(
        at.as_str().starts_with(&down.issuer("aiod")),
        "back at the downstream: {at}"
    );
    let text = browser.text().await;
    assert!(
        text.contains("aiod-sdk") && text.contains("bob"),
        "the consent page names the client and the user:\n{text}"
    );
    browser.click("Approve").await;
    let result = browser.text_of("result").await;
    assert!(result.contains("connected"), "{result}");

    let response = http
        .post(down.endpoint("aiod", "token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", "aiod-sdk"),
            ("device_code", &device_code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().expect("access token");
    assert!(tokens["id_token"].is_string(), "{tokens}");

    // The tokens are the federated account's: created at the downstream on this first sign-in, linked to the
    // upstream's bob, with no local password.
    let store = &down.running.state.store;
    let bob = store
        .user_by_username("aiod", "bob")
        .await
        .unwrap()
        .expect("the federated account was created");
    assert!(bob.password_hash.is_none());
    assert_eq!(bob.email.as_deref(), Some("bob@campus.example"));
    let upstream_bob = up
        .running
        .state
        .store
        .user_by_username("campus", "bob")
        .await
        .unwrap()
        .unwrap();
    let linked = store
        .linked_user("aiod", "campus", &upstream_bob.id)
        .await
        .unwrap()
        .expect("linked to the upstream account");
    assert_eq!(linked.id, bob.id);
    let info: Value = http
        .get(down.endpoint("aiod", "userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], bob.id.to_string(), "{info}");
    assert_eq!(info["preferred_username"], "bob", "{info}");
}
