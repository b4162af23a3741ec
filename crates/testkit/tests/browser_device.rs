//! The device flow with the verification pages in real headless Chromium: a device (reqwest) starts a device
//! authorization, a person opens the verification page, types the code, signs in and approves or denies, and
//! the device redeems its device code (or is told `access_denied`).

use keyport_testkit::TestServer;
use keyport_testkit::chromium::Chromium;
use serde_json::Value;

const CONFIG: &str = r#"
[[realms]]
name = "aiod"
device_poll_interval = "5s"

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user"]
"#;

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A device authorization for `aiod-sdk`: (device_code, user_code, verification_uri).
async fn start_device(s: &TestServer) -> (String, String, String) {
    let r: Value = reqwest::Client::new()
        .post(s.endpoint("aiod", "auth/device"))
        .form(&[("client_id", "aiod-sdk"), ("scope", "openid profile")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let field = |k: &str| {
        r[k].as_str()
            .unwrap_or_else(|| panic!("{k} in {r}"))
            .to_owned()
    };
    (
        field("device_code"),
        field("user_code"),
        field("verification_uri"),
    )
}

/// The device's poll: (status, body).
async fn redeem(s: &TestServer, device_code: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("client_id", "aiod-sdk"),
            ("device_code", device_code),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Opens the verification page, types the code, signs in when asked: the consent page is shown.
async fn enter_code_and_sign_in(browser: &Chromium, verification_uri: &str, user_code: &str) {
    browser.goto(verification_uri).await;
    browser.fill("Code", user_code).await;
    browser.click("Continue").await;
    if !browser.has_button("Approve").await {
        browser.sign_in("alice", "alice-password-1").await;
    }
    let text = browser.text().await;
    assert!(
        text.contains("aiod-sdk") && text.contains("alice"),
        "the consent page names the client and the user:\n{text}"
    );
}

#[tokio::test]
async fn device_approved_in_chromium_then_redeemed() {
    let s = TestServer::start(CONFIG).await;
    let browser = Chromium::start().await;
    let (device_code, user_code, verification_uri) = start_device(&s).await;
    assert_eq!(
        redeem(&s, &device_code).await.1["error"],
        "authorization_pending"
    );
    s.clock.advance(5);

    // A wrong password first: the sign-in page says so and nothing is approved.
    browser.goto(&verification_uri).await;
    browser.fill("Code", &user_code).await;
    browser.click("Continue").await;
    browser.sign_in("alice", "not-her-password").await;
    assert!(
        browser
            .alerts()
            .await
            .contains("Invalid username or password."),
        "{}",
        browser.text().await
    );
    assert_eq!(
        redeem(&s, &device_code).await.1["error"],
        "authorization_pending"
    );
    s.clock.advance(5);

    enter_code_and_sign_in(&browser, &verification_uri, &user_code).await;
    browser.click("Approve").await;
    let result = browser.text_of("result").await;
    assert!(result.contains("connected"), "{result}");

    let (status, tokens) = redeem(&s, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string() && tokens["id_token"].is_string());
    // Redeemed once only.
    s.clock.advance(5);
    let (status, again) = redeem(&s, &device_code).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn device_denied_in_chromium() {
    let s = TestServer::start(CONFIG).await;
    let browser = Chromium::start().await;
    let (device_code, user_code, verification_uri) = start_device(&s).await;

    enter_code_and_sign_in(&browser, &verification_uri, &user_code).await;
    // The harness's screenshots (the portal's tests put theirs in docs/screenshots/), phone-sized here.
    browser.set_window_size(360, 800).await;
    let shots = tempfile::tempdir().unwrap();
    let shot = shots.path().join("phone/device-consent.png");
    browser.screenshot(&shot).await;
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000,
        "a PNG"
    );
    browser.click("Deny").await;
    let result = browser.text_of("result").await;
    assert!(result.contains("denied"), "{result}");

    s.clock.advance(5);
    let (status, body) = redeem(&s, &device_code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
}
