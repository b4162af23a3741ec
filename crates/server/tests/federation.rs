//! keyport as a relying party: "Sign in with …" an upstream OpenID Connect provider. The upstream is a second
//! keyport (a real server, its own database) or, for what a well-behaved provider never does (a tampered ID
//! token, another issuer, a changed username), a small scripted provider on 127.0.0.1:0 inside the test. The
//! browser is the testkit's cookie-keeping client, following redirects across both servers. The same against
//! `oidc-provider` (npm) is in `federation_oidc_provider.rs`.

mod common;
mod federation_support;

use federation_support::*;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{post_basic, verify_with_jwks};
use keyport_server::clock::Clock;
use keyport_testkit::{Browser, TestServer};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn first_sign_in_creates_the_account_and_the_next_finds_it() {
    let (up, down, browser) = pair("keyport-down").await;
    // The sign-in page offers the provider.
    let login = browser.get("/login").await;
    assert!(login.contains("Sign in with Campus SSO"), "{}", login.html);
    assert!(
        login.contains("/realms/web/broker/campus/login?return_to="),
        "{}",
        login.html
    );

    let (url, page) = sign_in_upstream(&down, &browser, "bob", "bob-campus-password").await;
    assert_eq!(url, format!("{}/login", down.issuer("web")));
    assert!(page.contains("You are signed in as bob."), "{}", page.html);
    let store = &state_of(&down).store;
    let bob = store
        .user_by_username("web", "bob")
        .await
        .unwrap()
        .expect("bob was created");
    assert_eq!(bob.email.as_deref(), Some("bob@campus.example"));
    assert_eq!(bob.roles, vec!["student".to_owned()]);
    assert!(bob.password_hash.is_none());
    // No local password: a password sign-in as bob fails, whatever the password.
    let other = Browser::new(&down.issuer("web"));
    let form = other.get("/login").await;
    let refused = other
        .post(
            "/login",
            &[
                ("csrf", &form.csrf()),
                ("username", "bob"),
                ("password", "bob-campus-password"),
            ],
        )
        .await;
    assert_eq!(refused.status, 401, "{}", refused.html);
    assert!(refused.contains("Invalid username or password."));

    // A second sign-in, in another browser, finds the same account.
    let (_, page) = sign_in_upstream(&down, &other, "bob", "bob-campus-password").await;
    assert!(page.contains("You are signed in as bob."), "{}", page.html);
    let users = store.list_users("web", 0, 100).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(users[1].id, bob.id);

    // Deleting the account drops its link: the next sign-in creates a new one.
    assert!(
        store
            .delete_user("web", &bob.id, down.clock.now())
            .await
            .unwrap()
    );
    let upstream_bob = state_of(&up)
        .store
        .user_by_username("campus", "bob")
        .await
        .unwrap()
        .unwrap();
    assert!(
        store
            .linked_user("web", "campus", &upstream_bob.id)
            .await
            .unwrap()
            .is_none()
    );
    let third = Browser::new(&down.issuer("web"));
    let (_, page) = sign_in_upstream(&down, &third, "bob", "bob-campus-password").await;
    assert!(page.contains("You are signed in as bob."), "{}", page.html);
    let again = store.user_by_username("web", "bob").await.unwrap().unwrap();
    assert_ne!(again.id, bob.id);
}

#[tokio::test]
async fn a_username_clash_makes_a_new_account_never_a_merge() {
    let (_up, down, browser) = pair("keyport-down").await;
    let (_, page) = sign_in_upstream(&down, &browser, "alice", "alice-campus-password").await;
    assert!(
        page.contains("You are signed in as alice-2."),
        "{}",
        page.html
    );
    let store = &state_of(&down).store;
    let local = store
        .user_by_username("web", "alice")
        .await
        .unwrap()
        .unwrap();
    let linked = store
        .user_by_username("web", "alice-2")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(local.id, linked.id);
    assert_eq!(local.email.as_deref(), Some("alice@web.example"));
    assert_eq!(linked.email.as_deref(), Some("alice@campus.example"));
    // The local alice still signs in with her password, and is still herself.
    let other = Browser::new(&down.issuer("web"));
    let form = other.get("/login").await;
    let page = other
        .sign_in_as(&form, "alice", "alice-local-password")
        .await;
    assert!(
        page.contains("You are signed in as alice."),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn a_downstream_client_signs_in_through_the_upstream() {
    let (_up, down, browser) = pair("keyport-down").await;
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let query = serde_urlencoded::to_string([
        ("response_type", "code"),
        ("client_id", "web-app"),
        ("redirect_uri", APP_CALLBACK),
        ("scope", "openid email"),
        ("state", "app-state"),
        ("nonce", "app-nonce"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ])
    .unwrap();
    let (_, login) = walk(
        &browser,
        format!(
            "{}/protocol/openid-connect/auth?{query}",
            down.issuer("web")
        ),
    )
    .await;
    // The sign-in page's "Sign in with Campus SSO" link, as a person would click it.
    let re = regex::Regex::new(r#"href="([^"]*/broker/campus/login[^"]*)""#).unwrap();
    let href = keyport_testkit::unescape(&re.captures(&login.html).expect("provider link")[1]);
    let (url, upstream_login) = walk(&browser, browser.resolve(&href)).await;
    let (_, back) = sign_in_at(
        &browser,
        &url,
        &upstream_login,
        "bob",
        "bob-campus-password",
    )
    .await;
    let location = back
        .location
        .clone()
        .unwrap_or_else(|| panic!("to the app: {}", back.html));
    assert!(location.starts_with(APP_CALLBACK), "{location}");
    assert_eq!(param_of(&location, "state").as_deref(), Some("app-state"));
    let code = param_of(&location, "code").expect("code");
    let tokens = post_basic(
        &down.endpoint("web", "token"),
        WEB_APP,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP_CALLBACK),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    let id = verify_with_jwks(&down, "web", &tokens.str("id_token")).await;
    assert_eq!(id["amr"], serde_json::json!(["fed"]));
    assert_eq!(id["preferred_username"], "bob");
    assert_eq!(id["email"], "bob@campus.example");
    assert_eq!(id["nonce"], "app-nonce");
}

#[tokio::test]
async fn upstream_denial_and_a_replayed_state_get_our_error_pages() {
    let (_up, down, browser) = pair("keyport-asks").await;
    let (url, consent) = sign_in_upstream(&down, &browser, "bob", "bob-campus-password").await;
    assert!(
        consent.contains("id=\"allow\""),
        "the upstream consent page: {}",
        consent.html
    );
    let action = reqwest::Url::parse(&url)
        .unwrap()
        .join(&consent.form_action().unwrap())
        .unwrap();
    // Every hidden field of the consent form, and Deny.
    let re = regex::Regex::new(r#"name="([^"]+)" value="([^"]*)""#).unwrap();
    let mut form: Vec<(String, String)> = re
        .captures_iter(&consent.html)
        .map(|c| (c[1].to_owned(), keyport_testkit::unescape(&c[2])))
        .filter(|(k, _)| k != "decision")
        .collect();
    form.push(("decision".to_owned(), "deny".to_owned()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let denied = browser.post_url(action.as_str(), &form).await;
    let callback = denied.location.clone().expect("back to keyport");
    assert!(
        callback.contains("/realms/web/broker/campus/endpoint?"),
        "{callback}"
    );
    assert_eq!(
        param_of(&callback, "error").as_deref(),
        Some("access_denied")
    );
    let page = browser.get_url(&callback).await;
    assert_eq!(page.status, 403, "{}", page.html);
    assert!(page.contains("Sign-in cancelled"), "{}", page.html);
    assert!(
        page.contains("href=\"/realms/web/login?return_to="),
        "a link back: {}",
        page.html
    );
    assert!(!page.contains("error_description"), "{}", page.html);
    assert!(
        state_of(&down)
            .store
            .user_by_username("web", "bob")
            .await
            .unwrap()
            .is_none()
    );
    // The same callback again: the state was used.
    let replay = browser.get_url(&callback).await;
    assert_eq!(replay.status, 400, "{}", replay.html);
    assert!(replay.contains("Sign-in expired"), "{}", replay.html);
}

#[tokio::test]
async fn a_state_is_single_use_bound_to_its_browser_and_expires() {
    let (_up, down, browser) = pair("keyport-down").await;
    let start = format!(
        "{}/broker/campus/login?return_to=/realms/web/login",
        down.issuer("web")
    );
    // Sign in upstream, stop before coming back: the callback URL with a real code.
    let (url, login) = walk(&browser, start.clone()).await;
    let upb = Browser {
        http: browser.http.clone(),
        issuer: url.clone(),
    };
    let action = upb.resolve(&login.form_action().unwrap());
    let posted = browser
        .post_url(
            &action,
            &[
                ("csrf", &login.csrf()),
                ("return_to", &login.field("return_to").unwrap()),
                ("username", "bob"),
                ("password", "bob-campus-password"),
            ],
        )
        .await;
    let (_, back) = {
        let next = reqwest::Url::parse(&action)
            .unwrap()
            .join(&posted.location.unwrap())
            .unwrap();
        // The upstream authorization endpoint answers with the redirect to keyport's endpoint.
        let page = browser.get_url(next.as_str()).await;
        (next.to_string(), page)
    };
    let callback = back.location.clone().expect("redirect to keyport");
    assert!(callback.contains("/broker/campus/endpoint?"), "{callback}");
    // Another browser (no cookie of the one that started): refused, and the state is spent.
    let stranger = Browser::new(&down.issuer("web"));
    let page = stranger.get_url(&callback).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.contains("Sign-in expired"));
    let page = browser.get_url(&callback).await;
    assert_eq!(page.status, 400, "used once already: {}", page.html);

    // Started (in a browser not signed in upstream yet), then back after the ten minutes: expired.
    let late = Browser::new(&down.issuer("web"));
    let (url, login) = walk(&late, start.clone()).await;
    let (_, page) = {
        down.clock.advance(601);
        let r = sign_in_at(&late, &url, &login, "bob", "bob-campus-password").await;
        down.clock.advance(-601);
        r
    };
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.contains("Sign-in expired"));
    // No state, or one never issued.
    let endpoint = format!("{}/broker/campus/endpoint", down.issuer("web"));
    assert_eq!(
        browser.get_url(&format!("{endpoint}?code=x")).await.status,
        400
    );
    assert_eq!(
        browser
            .get_url(&format!("{endpoint}?code=x&state=forged"))
            .await
            .status,
        400
    );
    assert!(
        state_of(&down)
            .store
            .user_by_username("web", "bob")
            .await
            .unwrap()
            .is_none()
    );
    // An unknown provider.
    let page = browser.get("/broker/nobody/login").await;
    assert_eq!(page.status, 404);
}

#[tokio::test]
async fn an_upstream_that_is_down_gets_a_clear_page() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let config = downstream(
        &format!("http://127.0.0.1:{port}/realms/campus"),
        "keyport-down",
        "",
    );
    let down = TestServer::start(&config).await;
    let browser = Browser::new(&down.issuer("web"));
    let page = browser
        .get("/broker/campus/login?return_to=/realms/web/login")
        .await;
    assert_eq!(page.status, 502, "{}", page.html);
    assert!(
        page.contains("The provider is not answering"),
        "{}",
        page.html
    );
    assert!(page.contains("role=\"alert\""));
    assert!(
        page.contains("href=\"/realms/web/login?return_to=%2Frealms%2Fweb%2Flogin\""),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn a_missing_client_secret_stops_the_start_naming_the_key() {
    let config = downstream(
        "http://127.0.0.1:9/realms/campus",
        "keyport-down",
        "client_secret_env = \"KEYPORT_TEST_FEDERATION_SECRET_NEVER_SET\"",
    );
    let mut config =
        keyport_server::config::Config::from_toml(&config, std::path::Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = dir.path().join("data");
    config.server.database_url = None;
    let clock = std::sync::Arc::new(keyport_server::clock::FakeClock::new());
    let err = keyport_server::server::start(config, clock)
        .await
        .err()
        .expect("refuses to start");
    let text = err.to_string();
    assert!(
        text.contains("realms.web.identity_providers.campus.client_secret_env"),
        "{text}"
    );
    assert!(
        text.contains("KEYPORT_TEST_FEDERATION_SECRET_NEVER_SET"),
        "{text}"
    );
}
