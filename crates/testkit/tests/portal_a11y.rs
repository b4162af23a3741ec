//! Every portal page (issue 12) in real headless Chromium: axe-core finds no serious or critical violation of
//! WCAG 2.x A/AA, and each page is photographed at desktop width and at 360 px into `docs/screenshots/`
//! (committed, linked from the README), so a reader sees the portal without running it.
//!
//! Admin pages are listed in [`ADMIN_PAGES`] (portal-admin adds theirs); pages for everyone in [`PAGES`].

use std::path::PathBuf;

use keyport_testkit::TestServer;
use keyport_testkit::axe;
use keyport_testkit::chromium::Chromium;

const CONFIG: &str = r#"
[[realms]]
name = "aiod"

[[realms.api_token_scopes]]
name = "read_user_session"
description = "Read your own sessions"

[[realms.clients]]
client_id = "notebook"
secret = "notebook-secret-0123456789-abcdef-0123"
grants = ["password", "refresh_token"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
name = "Alice Example"
roles = ["user", "admin"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
email = "bob@example.org"
roles = ["user"]
"#;

/// Pages for everyone: screenshot name and path under `{issuer}/account`.
const PAGES: &[(&str, &str)] = &[
    ("dashboard", "/"),
    ("tokens", "/tokens"),
    ("sessions", "/sessions"),
    ("profile", "/profile"),
];

/// Admin pages (signed in as an administrator of `aiod`): screenshot name and path under `{issuer}/account`.
/// portal-admin: add each admin page here.
const ADMIN_PAGES: &[(&str, &str)] = &[
    ("admin-personal-tokens", "/admin/tokens"),
    ("admin-scoped-tokens", "/admin/tokens/scoped"),
    ("admin-users", "/admin/users"),
    ("admin-user", "/admin/users/bob"),
    ("admin-user-delete", "/admin/users/bob/delete"),
    ("admin-clients", "/admin/clients"),
    ("admin-audit", "/admin/audit"),
];

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (360, 800);

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
}

/// Checks the page shown now with axe-core, then photographs it at both widths.
async fn check_and_photograph(browser: &Chromium, name: &str) {
    let violations = axe::check(browser).await;
    let serious = axe::serious(&violations);
    assert!(
        serious.is_empty(),
        "page `{name}` ({}) has accessibility violations:\n{}",
        browser.url().await,
        serious
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (suffix, (w, h)) in [("desktop", DESKTOP), ("360", PHONE)] {
        browser.set_window_size(w, h).await;
        browser
            .screenshot(screenshots().join(format!("portal-{name}-{suffix}.png")))
            .await;
    }
    browser.set_window_size(DESKTOP.0, DESKTOP.1).await;
}

/// Some data, so that lists are not empty: a token and a login session for the signed-in user.
async fn seed(s: &TestServer, user: &str, password: &str) {
    let r = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth("notebook", Some("notebook-secret-0123456789-abcdef-0123"))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn every_portal_page_is_accessible_and_photographed() {
    let s = TestServer::start(CONFIG).await;
    seed(&s, "alice", "alice-password-1").await;
    let browser = Chromium::start().await;
    let account = format!("{}/account", s.issuer("aiod"));

    // The sign-in detour is part of the portal too.
    browser.goto(&format!("{account}/")).await;
    check_and_photograph(&browser, "sign-in").await;
    browser.sign_in("alice", "alice-password-1").await;
    assert!(browser.text().await.contains("Generate Access Token"));

    // Generate Access Token: the one page that shows a secret.
    browser.fill("Token name", "laptop notebook").await;
    browser.click("Generate Access Token").await;
    let text = browser.text().await;
    assert!(text.contains("This is the only time that the API token can be viewed"));
    check_and_photograph(&browser, "token-created").await;

    for (name, path) in PAGES.iter().chain(ADMIN_PAGES) {
        browser.goto(&format!("{account}{path}")).await;
        check_and_photograph(&browser, name).await;
    }

    // A 403 page, as a non-administrator sees it.
    let bob = Chromium::start().await;
    bob.goto(&format!("{account}/admin/users")).await;
    bob.sign_in("bob", "bob-password-1").await;
    assert!(
        bob.text()
            .await
            .contains("for administrators of this realm")
    );
    check_and_photograph(&bob, "forbidden").await;
}

#[tokio::test]
async fn the_portal_works_by_keyboard_and_copies_the_token() {
    let s = TestServer::start(CONFIG).await;
    let browser = Chromium::start().await;
    browser
        .goto(&format!("{}/account/", s.issuer("aiod")))
        .await;
    browser.sign_in("bob", "bob-password-1").await;

    // The first stop of the keyboard's focus order is the skip link, and it leads to the main content.
    let first = browser
        .client()
        .execute(
            "const e = document.querySelector('a[href], button, input:not([type=hidden]), select, textarea'); \
             return [e.textContent.trim(), e.getAttribute('href')];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(first, serde_json::json!(["Skip to content", "#main"]));

    // Generate a token; the copy button (hidden without JavaScript) is shown and named.
    browser.fill("Token name", "copied").await;
    browser.click("Generate Access Token").await;
    assert!(browser.has_button("Copy token").await);
    let token = browser.text_of("new-token").await;
    assert!(token.starts_with("kp_"), "{token}");
    // The address bar never carries it.
    assert!(!browser.url().await.as_str().contains(&token));

    // The check itself can fail: an image without a text alternative is a critical violation.
    browser
        .client()
        .execute(
            "const i = document.createElement('img'); i.src = 'data:,'; document.querySelector('main').appendChild(i); return null;",
            vec![],
        )
        .await
        .unwrap();
    let violations = axe::check(&browser).await;
    assert!(
        axe::serious(&violations)
            .iter()
            .any(|v| v.id == "image-alt"),
        "{violations:?}"
    );
}
