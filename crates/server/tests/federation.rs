//! keyport as a relying party: "Sign in with …" an upstream OpenID Connect provider. The upstream is a second
//! keyport (a real server, its own database) or, for what a well-behaved provider never does (a tampered ID
//! token, another issuer, a changed username), a small scripted provider on 127.0.0.1:0 inside the test. The
//! browser is the testkit's cookie-keeping client, following redirects across both servers. The same against
//! `oidc-provider` (npm) is in `federation_oidc_provider.rs`.

mod common;

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{post_basic, verify_with_jwks};
use keyport_server::clock::Clock;
use keyport_testkit::{Browser, Page, TestServer};
use sha2::{Digest, Sha256};

const APP_CALLBACK: &str = "https://app.example.org/callback";
const WEB_APP: (&str, &str) = ("web-app", "web-app-secret-0123456789-abcdef-0123");
const UP_SECRET: &str = "downstream-secret-0123456789-abcdef-0123";

/// The upstream keyport: realm `campus`, where keyport (downstream) is the client `keyport-down`.
const UPSTREAM: &str = r#"
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
fn downstream(issuer: &str, client_id: &str, secret_line: &str) -> String {
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

async fn pair(client_id: &str) -> (TestServer, TestServer, Browser) {
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
async fn walk(b: &Browser, mut url: String) -> (String, Page) {
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
async fn sign_in_at(b: &Browser, url: &str, page: &Page, user: &str, pw: &str) -> (String, Page) {
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
async fn sign_in_upstream(down: &TestServer, b: &Browser, user: &str, pw: &str) -> (String, Page) {
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
fn param_of(url: &str, key: &str) -> Option<String> {
    let url = reqwest::Url::parse(url).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn state_of(s: &TestServer) -> &keyport_server::state::AppState {
    &s.running.state
}

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

// ---- A scripted provider: what a real one never does on purpose. ----

#[derive(Clone, Copy, PartialEq)]
enum Trick {
    None,
    /// The ID token's payload is changed after signing.
    Tamper,
    /// The ID token names another issuer.
    TokenIssuer,
    /// Discovery names another issuer.
    DiscoveryIssuer,
    /// The ID token carries another nonce.
    Nonce,
}

struct Script {
    issuer: String,
    trick: Trick,
    sub: String,
    username: String,
    /// From the last authorization request: nonce and PKCE challenge.
    nonce: String,
    challenge: String,
    /// What the token endpoint saw: Basic credentials and whether the verifier matched.
    basic: Option<String>,
    verifier_ok: bool,
}

type Shared = Arc<Mutex<Script>>;

const SCRIPT_KEY: [u8; 32] = [7; 32];

async fn scripted_provider() -> Shared {
    use axum::extract::{Query, State};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::{get, post};
    use std::collections::HashMap;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let script = Arc::new(Mutex::new(Script {
        issuer: issuer.clone(),
        trick: Trick::None,
        sub: "u-1".into(),
        username: "Dana".into(),
        nonce: String::new(),
        challenge: String::new(),
        basic: None,
        verifier_ok: false,
    }));
    async fn discovery(State(s): State<Shared>) -> axum::Json<serde_json::Value> {
        let s = s.lock().unwrap();
        let issuer = if s.trick == Trick::DiscoveryIssuer {
            "https://evil.example"
        } else {
            s.issuer.as_str()
        };
        axum::Json(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{}/authorize", s.issuer),
            "token_endpoint": format!("{}/token", s.issuer),
            "jwks_uri": format!("{}/jwks", s.issuer),
        }))
    }
    async fn jwks() -> axum::Json<serde_json::Value> {
        let key = ed25519_dalek::SigningKey::from_bytes(&SCRIPT_KEY);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        axum::Json(serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "script-1", "alg": "EdDSA", "use": "sig"}
        ]}))
    }
    async fn authorize(
        State(s): State<Shared>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Redirect {
        let mut s = s.lock().unwrap();
        s.nonce = q["nonce"].clone();
        s.challenge = q["code_challenge"].clone();
        assert_eq!(q["code_challenge_method"], "S256");
        let back = format!(
            "{}?code=script-code&state={}",
            q["redirect_uri"], q["state"]
        );
        Redirect::to(&back)
    }
    async fn token(
        State(s): State<Shared>,
        headers: axum::http::HeaderMap,
        axum::Form(f): axum::Form<HashMap<String, String>>,
    ) -> axum::response::Response {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let mut s = s.lock().unwrap();
        s.basic = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        s.verifier_ok =
            URL_SAFE_NO_PAD.encode(Sha256::digest(f["code_verifier"].as_bytes())) == s.challenge;
        let now = keyport_server::clock::SystemClock.now();
        let iss = if s.trick == Trick::TokenIssuer {
            "https://evil.example".to_owned()
        } else {
            s.issuer.clone()
        };
        let nonce = if s.trick == Trick::Nonce {
            "another".to_owned()
        } else {
            s.nonce.clone()
        };
        let claims = serde_json::json!({
            "iss": iss, "sub": s.sub, "aud": ["keyport", "other"], "exp": now + 300, "iat": now,
            "nonce": nonce, "preferred_username": s.username, "email": format!("{}@script.example", s.username.to_lowercase()),
        });
        let der = ed25519_dalek::SigningKey::from_bytes(&SCRIPT_KEY)
            .to_pkcs8_der()
            .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("script-1".into());
        let key = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
        let mut jwt = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        if s.trick == Trick::Tamper {
            let parts: Vec<&str> = jwt.split('.').collect();
            let mut payload: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            payload["sub"] = "someone-else".into();
            let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
            jwt = format!("{}.{forged}.{}", parts[0], parts[2]);
        }
        axum::Json(
            serde_json::json!({"access_token": "opaque", "token_type": "Bearer", "id_token": jwt}),
        )
        .into_response()
    }
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(script.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    script
}

async fn scripted_pair() -> (Shared, TestServer) {
    let script = scripted_provider().await;
    let issuer = script.lock().unwrap().issuer.clone();
    let dir = tempfile::tempdir().unwrap().keep();
    let secret_file = dir.join("idp-secret");
    std::fs::write(&secret_file, format!("{UP_SECRET}\n")).unwrap();
    let line = format!("client_secret_file = \"{}\"", secret_file.display());
    let down = TestServer::start(&downstream(&issuer, "keyport", &line)).await;
    (script, down)
}

/// A sign-in through the scripted provider in a fresh browser: the final page.
async fn scripted_sign_in(down: &TestServer) -> Page {
    let browser = Browser::new(&down.issuer("web"));
    let start = format!(
        "{}/broker/campus/login?return_to=/realms/web/login",
        down.issuer("web")
    );
    walk(&browser, start).await.1
}

#[tokio::test]
async fn later_sign_ins_find_the_account_after_the_upstream_username_changed() {
    let (script, down) = scripted_pair().await;
    let page = scripted_sign_in(&down).await;
    assert!(page.contains("You are signed in as dana."), "{}", page.html);
    {
        let s = script.lock().unwrap();
        let basic = URL_SAFE_NO_PAD.encode(format!("keyport:{UP_SECRET}"));
        let sent = s.basic.clone().expect("client_secret_basic");
        let sent = sent
            .strip_prefix("Basic ")
            .unwrap()
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        assert_eq!(sent, basic, "the secret from client_secret_file");
        assert!(
            s.verifier_ok,
            "the PKCE verifier matches the S256 challenge"
        );
    }
    script.lock().unwrap().username = "Dana.Renamed".into();
    let page = scripted_sign_in(&down).await;
    assert!(page.contains("You are signed in as dana."), "{}", page.html);
    let users = state_of(&down)
        .store
        .list_users("web", 0, 100)
        .await
        .unwrap();
    assert_eq!(users.len(), 2, "alice and dana, nobody else");
    // Another subject with the same username is another person: a new account.
    script.lock().unwrap().sub = "u-2".into();
    script.lock().unwrap().username = "Dana".into();
    let page = scripted_sign_in(&down).await;
    assert!(
        page.contains("You are signed in as dana-2."),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn tampered_tokens_other_issuers_and_wrong_nonces_are_refused() {
    let (script, down) = scripted_pair().await;
    for (trick, heading) in [
        (Trick::Tamper, "could not be verified"),
        (Trick::Nonce, "could not be verified"),
        (Trick::TokenIssuer, "did not identify itself"),
    ] {
        script.lock().unwrap().trick = trick;
        let page = scripted_sign_in(&down).await;
        assert_eq!(page.status, 502, "{}", page.html);
        assert!(page.contains(heading), "{}", page.html);
        assert!(
            page.contains("href=\"/realms/web/login?return_to="),
            "{}",
            page.html
        );
    }
    assert!(
        state_of(&down)
            .store
            .linked_user("web", "campus", "u-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        state_of(&down)
            .store
            .linked_user("web", "campus", "someone-else")
            .await
            .unwrap()
            .is_none()
    );
    // Discovery naming another issuer: refused before the browser is sent anywhere. (A fresh server: the first
    // one cached the good discovery document.)
    let (script, down) = scripted_pair().await;
    script.lock().unwrap().trick = Trick::DiscoveryIssuer;
    let browser = Browser::new(&down.issuer("web"));
    let page = browser.get("/broker/campus/login").await;
    assert_eq!(page.status, 502, "{}", page.html);
    assert!(page.contains("did not identify itself"), "{}", page.html);
    // And a good one after all.
    script.lock().unwrap().trick = Trick::None;
    let page = scripted_sign_in(&down).await;
    assert!(page.contains("You are signed in as dana."), "{}", page.html);
}
