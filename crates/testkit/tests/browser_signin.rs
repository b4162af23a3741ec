//! Browser sign-in (issue 10) in real headless Chromium: a web app (the test RP in `common/rp.rs`) signs people in
//! through keyport with authorization code + PKCE and verifies their ID token; the same with a third-party client
//! that needs consent; `prompt=none` with and without a session; RP-initiated logout.

mod common;

use common::rp::{Registration, RpListener, TestRp};
use keyport_server::clock::Clock;
use keyport_testkit::TestServer;
use keyport_testkit::chromium::Chromium;

const WEB_APP_SECRET: &str = "web-app-secret-0123456789-abcdef-0123";

/// A realm with a first-party confidential web app and a third-party public app that asks for consent, each
/// registered with the exact URIs of its RP.
fn config(web: &RpListener, third: &RpListener) -> String {
    format!(
        r#"
[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "web-app"
secret = "{WEB_APP_SECRET}"
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["{web_cb}"]
post_logout_redirect_uris = ["{web_out}"]

[[realms.clients]]
client_id = "third-party"
public = true
consent = true
grants = ["authorization_code"]
redirect_uris = ["{third_cb}"]
post_logout_redirect_uris = ["{third_out}"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
name = "Alice Example"
roles = ["user"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
roles = ["user"]
"#,
        web_cb = web.redirect_uri(),
        web_out = web.post_logout_uri(),
        third_cb = third.redirect_uri(),
        third_out = third.post_logout_uri(),
    )
}

/// A keyport server with both RPs running, and a browser.
struct World {
    s: TestServer,
    web: TestRp,
    third: TestRp,
    browser: Chromium,
}

async fn world() -> World {
    let (web, third) = (RpListener::bind().await, RpListener::bind().await);
    let s = TestServer::start(&config(&web, &third)).await;
    let issuer = s.issuer("aiod");
    let web = web
        .serve(
            &issuer,
            Registration {
                client_id: "web-app".into(),
                secret: Some(WEB_APP_SECRET.into()),
            },
        )
        .await;
    let third = third
        .serve(
            &issuer,
            Registration {
                client_id: "third-party".into(),
                secret: None,
            },
        )
        .await;
    let browser = Chromium::start().await;
    World {
        s,
        web,
        third,
        browser,
    }
}

impl World {
    /// Opens the RP's `/login` (which sends the browser on to keyport's authorization endpoint).
    async fn start_login(&self, rp: &TestRp, params: &[(&str, &str)]) {
        self.browser.goto(&rp.login_url(params)).await;
    }

    /// Waits until the browser is on `rp`'s callback, and returns the page text.
    async fn at_rp(&self, rp: &TestRp) -> String {
        let prefix = format!("{}/", rp.url);
        self.browser
            .wait_for_url("the RP's callback", |u| u.as_str().starts_with(&prefix))
            .await;
        let text = self.browser.text().await;
        assert!(!text.contains("Test RP refused"), "the RP refused:\n{text}");
        text
    }

    /// The OAuth error the RP was sent back with.
    async fn rp_error(&self, rp: &TestRp) -> String {
        let text = self.at_rp(rp).await;
        assert!(
            text.contains("Sign-in failed"),
            "expected an error at the RP:\n{text}"
        );
        self.browser.text_of("error").await
    }

    /// Asserts that the browser is on keyport's sign-in page.
    async fn on_sign_in_page(&self) {
        let url = self
            .browser
            .wait_for_url("the sign-in page", |u| u.path().ends_with("/login"))
            .await;
        assert_eq!(url.path(), "/realms/aiod/login", "{url}");
        assert!(
            url.query().is_some_and(|q| q.contains("return_to=")),
            "{url}"
        );
    }
}

#[tokio::test]
async fn web_app_signs_in_with_code_and_pkce_and_a_verified_id_token() {
    let w = world().await;
    w.start_login(&w.web, &[]).await;
    w.on_sign_in_page().await;

    // A wrong password is answered on the same page, with an alert.
    w.browser.sign_in("alice", "wrong-password").await;
    assert!(
        w.browser
            .alerts()
            .await
            .contains("Invalid username or password."),
        "{}",
        w.browser.text().await
    );
    w.browser.sign_in("alice", "alice-password-1").await;
    let text = w.at_rp(&w.web).await;
    assert!(text.contains("Signed in as alice"), "{text}");

    // The RP verified signature, iss, aud, exp, nonce and at_hash; the rest of the ID token is as promised.
    let claims = w.web.claims();
    assert_eq!(claims["azp"], "web-app");
    assert_eq!(claims["email"], "alice@example.org");
    assert_eq!(claims["name"], "Alice Example");
    for claim in ["sub", "iat", "auth_time", "sid", "acr", "amr"] {
        assert!(!claims[claim].is_null(), "{claim} missing from {claims}");
    }
    let now = w.s.clock.now();
    assert!(
        claims["auth_time"]
            .as_i64()
            .is_some_and(|t| (now - 5..=now).contains(&t)),
        "auth_time {} is the sign-in just now ({now})",
        claims["auth_time"]
    );
    let tokens = w.web.tokens();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["refresh_token"].is_string(), "{tokens}");

    // A second sign-in at the RP needs no password: the keyport session signs alice in again.
    w.start_login(&w.web, &[]).await;
    let text = w.at_rp(&w.web).await;
    assert!(text.contains("Signed in as alice"), "{text}");
    // (`sid` names the token session of each code, not the browser's keyport session: not compared.)
    assert_eq!(w.web.claims()["sub"], claims["sub"]);
}

#[tokio::test]
async fn consent_allowed_once_is_remembered() {
    let w = world().await;
    w.start_login(&w.third, &[]).await;
    w.on_sign_in_page().await;
    w.browser.sign_in("alice", "alice-password-1").await;

    // The consent page names the client and lists the scopes it asks for.
    assert!(
        w.browser.has_button("Allow").await,
        "{}",
        w.browser.text().await
    );
    assert!(w.browser.has_button("Deny").await);
    let text = w.browser.text().await;
    assert!(text.contains("third-party"), "{text}");
    for scope in ["openid", "profile", "email"] {
        assert!(text.contains(scope), "scope {scope} listed:\n{text}");
    }
    w.browser.click("Allow").await;
    let text = w.at_rp(&w.third).await;
    assert!(text.contains("Signed in as alice"), "{text}");
    assert_eq!(w.third.claims()["azp"], "third-party");

    // The answer is remembered: the next sign-in, even with prompt=none, goes straight back to the RP.
    w.start_login(&w.third, &[]).await;
    let text = w.at_rp(&w.third).await;
    assert!(
        text.contains("Signed in as alice"),
        "no consent page again:\n{text}"
    );
    w.start_login(&w.third, &[("prompt", "none")]).await;
    let text = w.at_rp(&w.third).await;
    assert!(text.contains("Signed in as alice"), "{text}");
}

#[tokio::test]
async fn consent_required_then_denied_is_access_denied() {
    let w = world().await;
    // bob has a keyport session (signed in at the first-party app, which asks no consent)…
    w.start_login(&w.web, &[]).await;
    w.on_sign_in_page().await;
    w.browser.sign_in("bob", "bob-password-1").await;
    assert!(w.at_rp(&w.web).await.contains("Signed in as bob"));

    // …but has not answered the third-party app: prompt=none cannot ask him.
    w.start_login(&w.third, &[("prompt", "none")]).await;
    assert_eq!(w.rp_error(&w.third).await, "consent_required");

    // Asked, he denies.
    w.start_login(&w.third, &[]).await;
    w.browser.click("Deny").await;
    assert_eq!(w.rp_error(&w.third).await, "access_denied");
}

#[tokio::test]
async fn prompt_none_without_and_with_a_session() {
    let w = world().await;
    w.start_login(&w.web, &[("prompt", "none")]).await;
    assert_eq!(w.rp_error(&w.web).await, "login_required");

    w.start_login(&w.web, &[]).await;
    w.browser.sign_in("alice", "alice-password-1").await;
    assert!(w.at_rp(&w.web).await.contains("Signed in as alice"));

    // Signed in at keyport: prompt=none signs in without showing a page.
    w.start_login(&w.web, &[("prompt", "none")]).await;
    let text = w.at_rp(&w.web).await;
    assert!(text.contains("Signed in as alice"), "{text}");
}

#[tokio::test]
async fn rp_initiated_logout_ends_the_keyport_session() {
    let w = world().await;
    w.start_login(&w.web, &[]).await;
    w.browser.sign_in("alice", "alice-password-1").await;
    assert!(w.at_rp(&w.web).await.contains("Signed in as alice"));

    // id_token_hint + a registered post_logout_redirect_uri: straight back to the RP, with its state (checked by
    // the RP's /logged-out).
    w.browser.goto(&format!("{}/logout", w.web.url)).await;
    let text = w.at_rp(&w.web).await;
    assert!(text.contains("Signed out of the test RP"), "{text}");
    // The browser still has the cookie, but it no longer signs anyone in.
    w.start_login(&w.web, &[("prompt", "none")]).await;
    assert_eq!(w.rp_error(&w.web).await, "login_required");

    // Without a hint keyport asks first, then says so.
    w.start_login(&w.web, &[]).await;
    w.browser.sign_in("alice", "alice-password-1").await;
    assert!(w.at_rp(&w.web).await.contains("Signed in as alice"));
    w.browser.goto(&w.s.endpoint("aiod", "logout")).await;
    w.browser.click("Sign out").await;
    let text = w.browser.text().await;
    assert!(text.contains("You are signed out"), "{text}");
    w.start_login(&w.web, &[("prompt", "none")]).await;
    assert_eq!(w.rp_error(&w.web).await, "login_required");
}
