//! The authorization code grant with PKCE, driven without a browser engine: a cookie-keeping HTTP client plays the
//! browser (the testkit `Browser`), the test plays the client. Protocol edge cases of RFC 6749 §4.1, RFC 7636,
//! OpenID Connect Core §3.1 and RFC 9207; RP-initiated logout. Real-Chromium tests are in `crates/testkit/tests`.

mod common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Reply, http, introspect, post, post_basic, verify_with_jwks};
use keyport_server::clock::Clock;
use keyport_testkit::{Browser, Page, TestServer};
use sha2::{Digest, Sha256};

const CONFIG: &str = r#"
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

const WEB: (&str, &str) = ("web-app", "web-app-secret-0123456789-abcdef-0123");
const PARTNER: (&str, &str) = ("partner", "partner-secret-0123456789-abcdef-0123456");
const RS: (&str, &str) = (
    "resource-server",
    "resource-server-secret-0123456789-abcdef",
);
const CALLBACK: &str = "https://app.example.org/callback";

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// An authorization request of `client_id` with these extra parameters (`redirect_uri`, `state`, … unless given).
fn auth_path(client_id: &str, redirect_uri: &str, extra: &[(&str, &str)]) -> String {
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
fn params_of(location: &str) -> Vec<(String, String)> {
    let url = reqwest::Url::parse(location).unwrap();
    let raw = url.fragment().or(url.query()).unwrap_or("").to_owned();
    serde_urlencoded::from_str(&raw).unwrap()
}

fn param(location: &str, key: &str) -> Option<String> {
    params_of(location)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
}

/// Asserts a redirect to the client (not to this server) and returns its location.
fn to_client(page: &Page, prefix: &str) -> String {
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
async fn authorize(browser: &Browser, path: &str) -> Page {
    let page = browser.follow(browser.get(path).await).await;
    if page.status == 200 && page.contains("name=\"password\"") {
        return browser.sign_in_as(&page, "alice", "alice-password-1").await;
    }
    page
}

async fn exchange(s: &TestServer, code: &str, verifier: Option<&str>) -> Reply {
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

async fn start() -> (TestServer, Browser) {
    let s = TestServer::start(CONFIG).await;
    let browser = Browser::new(&s.issuer("web"));
    (s, browser)
}

#[tokio::test]
async fn code_with_pkce_signs_in_and_the_id_token_verifies() {
    let (s, browser) = start().await;
    let (verifier, challenge) = pkce();
    let path = auth_path(
        "web-app",
        CALLBACK,
        &[
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    // Not signed in: to the one sign-in page, which comes back to the same request.
    let first = browser.get(&path).await;
    assert_eq!(first.status, 303, "{}", first.html);
    let login_url = first.location.clone().unwrap();
    assert!(
        login_url.starts_with("/realms/web/login?return_to="),
        "{login_url}"
    );
    let login = browser.follow(first).await;
    assert!(login.contains("<label for=\"username\">Username</label>"));
    assert!(login.contains("<label for=\"password\">Password</label>"));
    let back = browser
        .sign_in_as(&login, "alice", "alice-password-1")
        .await;
    let location = to_client(&back, CALLBACK);
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    assert_eq!(param(&location, "iss"), Some(s.issuer("web")));
    let session_state = param(&location, "session_state").expect("session_state");
    let code = param(&location, "code").expect("code");

    let tokens = exchange(&s, &code, Some(&verifier)).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(tokens.headers["cache-control"], "no-store");
    assert_eq!(tokens.str("session_state"), session_state);
    let access = tokens.str("access_token");
    let id = verify_with_jwks(&s, "web", &tokens.str("id_token")).await;
    assert_eq!(id["aud"], "web-app");
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["acr"], "1");
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert_eq!(id["sid"], session_state.as_str());
    assert_eq!(id["preferred_username"], "alice");
    assert_eq!(id["auth_time"], s.clock.now());
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    // The tokens work like any others: userinfo, introspection, refresh.
    let info = http()
        .get(s.endpoint("web", "userinfo"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(info.status(), 200);
    assert_eq!(
        introspect(&s, "web", RS, &access).await.json["active"],
        true
    );
    let refreshed = post_basic(
        &s.endpoint("web", "token"),
        WEB,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.str("refresh_token")),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{refreshed:?}");

    // Signed in already: the next request goes straight back with a code (single sign-on).
    let again = browser.get(&auth_path("web-app", CALLBACK, &[])).await;
    assert!(param(&to_client(&again, CALLBACK), "code").is_some());
}

#[tokio::test]
async fn pkce_is_required_for_public_clients_and_checked() {
    let (s, browser) = start().await;
    let loopback = "http://127.0.0.1:49152/callback";
    // Without a challenge a public client is refused, back at its redirect URI.
    let page = browser.get(&auth_path("cli", loopback, &[])).await;
    let location = to_client(&page, loopback);
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    assert_eq!(param(&location, "iss"), Some(s.issuer("web")));
    // plain is refused, also implicitly (no method means plain).
    for extra in [
        vec![
            ("code_challenge", "a".repeat(43)),
            ("code_challenge_method", "plain".to_owned()),
        ],
        vec![("code_challenge", "a".repeat(43))],
    ] {
        let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let page = browser.get(&auth_path("cli", loopback, &extra)).await;
        let location = to_client(&page, loopback);
        assert_eq!(
            param(&location, "error").as_deref(),
            Some("invalid_request")
        );
        assert!(
            param(&location, "error_description")
                .unwrap()
                .contains("S256")
        );
    }
    // A loopback redirect URI matches on any port (RFC 8252 §7.3); the verifier decides.
    let (verifier, challenge) = pkce();
    let extra = [
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let page = authorize(&browser, &auth_path("cli", loopback, &extra)).await;
    let code = param(&to_client(&page, loopback), "code").unwrap();
    let token_url = s.endpoint("web", "token");
    let form = |verifier: &'static str| {
        vec![
            ("grant_type", "authorization_code"),
            ("client_id", "cli"),
            ("redirect_uri", loopback),
            ("code_verifier", verifier),
        ]
    };
    let mut wrong = form("wrong-verifier-0123456789-0123456789-0123456789");
    wrong.push(("code", &code));
    post(&token_url, &wrong)
        .await
        .assert_error(400, "invalid_grant");
    let mut missing = form("");
    missing.retain(|(k, _)| *k != "code_verifier");
    missing.push(("code", &code));
    post(&token_url, &missing)
        .await
        .assert_error(400, "invalid_grant");
    // A failed verifier does not burn the code: the real client still gets its tokens.
    let ok = post(
        &token_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "cli"),
            ("redirect_uri", loopback),
            ("code_verifier", &verifier),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(ok.status, 200, "{ok:?}");

    // A confidential client may skip PKCE, but then a verifier is a downgrade attempt and refused.
    let page = authorize(&browser, &auth_path("web-app", CALLBACK, &[])).await;
    let code = param(&to_client(&page, CALLBACK), "code").unwrap();
    exchange(&s, &code, Some(&verifier))
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(exchange(&s, &code, None).await.status, 200);
}

#[tokio::test]
async fn unknown_clients_and_redirect_uris_get_a_page_never_a_redirect() {
    let (_s, browser) = start().await;
    for path in [
        auth_path("web-app", "https://evil.example.net/callback", &[]),
        auth_path("web-app", "https://app.example.org/callback/extra", &[]),
        auth_path("web-app", "https://app.example.org/cb", &[]),
        auth_path("nobody", CALLBACK, &[]),
        auth_path("web-app", "", &[]),
        // A loopback URI is not a wildcard for other hosts or schemes.
        auth_path("cli", "http://127.0.0.2:80/callback", &[]),
        auth_path("cli", "https://127.0.0.1:443/callback", &[]),
    ] {
        let page = browser.get(&path).await;
        assert_eq!(page.status, 400, "{path}: {}", page.html);
        assert!(page.location.is_none(), "{path}");
        assert!(page.contains("cannot be served"), "{}", page.html);
    }
    // A registered URI with its own query keeps it.
    let page = authorize(
        &browser,
        &auth_path("web-app", "https://app.example.org/cb?tenant=1", &[]),
    )
    .await;
    let location = to_client(&page, "https://app.example.org/cb?tenant=1&");
    assert!(param(&location, "code").is_some());
}

#[tokio::test]
async fn request_errors_go_back_to_the_client_with_state() {
    let (s, browser) = start().await;
    for (extra, error) in [
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "openid admin:everything")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("prompt", "select_account")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
        (vec![("response_mode", "web_message")], "invalid_request"),
    ] {
        let page = browser.get(&auth_path("web-app", CALLBACK, &extra)).await;
        let location = to_client(&page, CALLBACK);
        assert_eq!(
            param(&location, "error").as_deref(),
            Some(error),
            "{extra:?}"
        );
        assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
        assert_eq!(param(&location, "iss"), Some(s.issuer("web")));
    }
    // A client without the grant.
    let page = browser
        .get(&auth_path(
            "device-only",
            "https://device.example.org/cb",
            &[],
        ))
        .await;
    let location = to_client(&page, "https://device.example.org/cb");
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("unauthorized_client")
    );
    // Duplicate parameters are refused on a page (which of them is the redirect URI?).
    let dup = format!("{}&state=again", auth_path("web-app", CALLBACK, &[]));
    assert_eq!(browser.get(&dup).await.status, 400);
}

#[tokio::test]
async fn codes_are_single_use_short_lived_and_bound_to_their_client() {
    let (s, browser) = start().await;
    let page = authorize(&browser, &auth_path("web-app", CALLBACK, &[])).await;
    let code = param(&to_client(&page, CALLBACK), "code").unwrap();
    let first = exchange(&s, &code, None).await;
    assert_eq!(first.status, 200, "{first:?}");
    // A second use fails and revokes what the first issued (RFC 6749 §4.1.2).
    exchange(&s, &code, None)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&s, "web", RS, &first.str("access_token"))
            .await
            .json["active"],
        false
    );
    post_basic(
        &s.endpoint("web", "token"),
        WEB,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &first.str("refresh_token")),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");

    // Another client cannot redeem it, nor with another redirect URI.
    let page = authorize(&browser, &auth_path("web-app", CALLBACK, &[])).await;
    let code = param(&to_client(&page, CALLBACK), "code").unwrap();
    post_basic(
        &s.endpoint("web", "token"),
        PARTNER,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
    post_basic(
        &s.endpoint("web", "token"),
        WEB,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example.org/cb?tenant=1"),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
    // After 60 s it has expired.
    s.clock.advance(61);
    exchange(&s, &code, None)
        .await
        .assert_error(400, "invalid_grant");
    exchange(&s, "made-up", None)
        .await
        .assert_error(400, "invalid_grant");
    post_basic(
        &s.endpoint("web", "token"),
        WEB,
        &[
            ("grant_type", "authorization_code"),
            ("redirect_uri", CALLBACK),
        ],
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn prompt_and_max_age() {
    let (s, browser) = start().await;
    // prompt=none with nobody signed in.
    let page = browser
        .get(&auth_path("web-app", CALLBACK, &[("prompt", "none")]))
        .await;
    let location = to_client(&page, CALLBACK);
    assert_eq!(param(&location, "error").as_deref(), Some("login_required"));
    assert_eq!(param(&location, "state").as_deref(), Some("st-123"));
    // Signed in: prompt=none answers at once.
    authorize(&browser, &auth_path("web-app", CALLBACK, &[])).await;
    let page = browser
        .get(&auth_path("web-app", CALLBACK, &[("prompt", "none")]))
        .await;
    assert!(param(&to_client(&page, CALLBACK), "code").is_some());
    // prompt=login forces a fresh sign-in even so; auth_time says when.
    s.clock.advance(100);
    let page = browser
        .get(&auth_path(
            "web-app",
            CALLBACK,
            &[("prompt", "login"), ("login_hint", "alice")],
        ))
        .await;
    assert_eq!(page.status, 303);
    let login = browser.follow(page).await;
    assert!(login.contains("name=\"password\""), "{}", login.html);
    assert!(
        login.contains("value=\"alice\""),
        "login_hint fills the username"
    );
    let back = browser
        .sign_in_as(&login, "alice", "alice-password-1")
        .await;
    let code = param(&to_client(&back, CALLBACK), "code").unwrap();
    let id = verify_with_jwks(&s, "web", &exchange(&s, &code, None).await.str("id_token")).await;
    assert_eq!(id["auth_time"], s.clock.now());
    // max_age: a sign-in older than that goes through the sign-in page again; prompt=none then fails.
    s.clock.advance(30);
    let page = browser
        .get(&auth_path(
            "web-app",
            CALLBACK,
            &[("max_age", "10"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(
        param(&to_client(&page, CALLBACK), "error").as_deref(),
        Some("login_required")
    );
    let page = browser
        .get(&auth_path("web-app", CALLBACK, &[("max_age", "10")]))
        .await;
    assert!(page.location.unwrap().starts_with("/realms/web/login"));
    let page = browser
        .get(&auth_path("web-app", CALLBACK, &[("max_age", "60")]))
        .await;
    assert!(param(&to_client(&page, CALLBACK), "code").is_some());
}

#[tokio::test]
async fn third_party_clients_ask_for_consent_once() {
    let (s, browser) = start().await;
    let cb = "https://partner.example.com/cb";
    let path = auth_path("partner", cb, &[("scope", "openid models:read")]);
    let consent = authorize(&browser, &path).await;
    assert_eq!(consent.status, 200, "{}", consent.html);
    assert!(consent.contains("<li>models:read</li>"), "{}", consent.html);
    assert!(consent.contains("id=\"allow\""));
    // prompt=none cannot answer for the user.
    let page = browser
        .get(&auth_path("partner", cb, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&to_client(&page, cb), "error").as_deref(),
        Some("consent_required")
    );
    // A forged consent form is refused.
    let action = consent.form_action().unwrap();
    let mut fields = vec![
        ("decision", "allow".to_owned()),
        ("csrf", "forged".to_owned()),
    ];
    for name in [
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
    ] {
        fields.push((name, consent.field(name).unwrap()));
    }
    let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(browser.post_url(&action, &form).await.status, 403);
    // Deny: access_denied back at the client.
    let mut deny = form.clone();
    deny[0] = ("decision", "deny");
    let csrf = consent.csrf();
    deny[1] = ("csrf", &csrf);
    let page = browser.post_url(&action, &deny).await;
    assert_eq!(
        param(&to_client(&page, cb), "error").as_deref(),
        Some("access_denied")
    );
    // Allow: a code; the answer is remembered for these scopes.
    let mut allow = deny.clone();
    allow[0] = ("decision", "allow");
    let page = browser.post_url(&action, &allow).await;
    let code = param(&to_client(&page, cb), "code").unwrap();
    let tokens = post_basic(
        &s.endpoint("web", "token"),
        PARTNER,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", cb),
        ],
    )
    .await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(tokens.str("scope"), "openid models:read");
    assert!(
        tokens.json.get("refresh_token").is_none(),
        "no refresh_token grant"
    );
    let page = browser.get(&path).await;
    assert!(param(&to_client(&page, cb), "code").is_some());
    // More scopes than allowed ask again; prompt=consent always asks.
    let page = browser
        .get(&auth_path(
            "partner",
            cb,
            &[("scope", "openid models:read email")],
        ))
        .await;
    assert_eq!(page.status, 200);
    assert!(page.contains("id=\"allow\""));
    let page = browser
        .get(&auth_path(
            "partner",
            cb,
            &[("scope", "openid"), ("prompt", "consent")],
        ))
        .await;
    assert!(page.contains("id=\"allow\""));
}

#[tokio::test]
async fn response_modes_fragment_and_form_post() {
    let (_s, browser) = start().await;
    let page = authorize(
        &browser,
        &auth_path("web-app", CALLBACK, &[("response_mode", "fragment")]),
    )
    .await;
    let location = to_client(&page, CALLBACK);
    assert!(location.starts_with(&format!("{CALLBACK}#")), "{location}");
    assert!(param(&location, "code").is_some());
    let page = browser
        .get(&auth_path(
            "web-app",
            CALLBACK,
            &[("response_mode", "form_post")],
        ))
        .await;
    assert_eq!(page.status, 200);
    assert_eq!(page.form_action().as_deref(), Some(CALLBACK));
    assert!(page.field("code").is_some());
    assert_eq!(page.field("state").as_deref(), Some("st-123"));
}

#[tokio::test]
async fn rp_initiated_logout() {
    let (s, browser) = start().await;
    let page = authorize(&browser, &auth_path("web-app", CALLBACK, &[])).await;
    let code = param(&to_client(&page, CALLBACK), "code").unwrap();
    let tokens = exchange(&s, &code, None).await;
    let id_token = tokens.str("id_token");
    let logout = |extra: &[(&str, &str)]| {
        format!(
            "/protocol/openid-connect/logout?{}",
            serde_urlencoded::to_string(extra).unwrap()
        )
    };
    // An unregistered post-logout URI is an error page, and nobody is signed out.
    let page = browser
        .get(&logout(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://evil.example.net/"),
        ]))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
    let page = browser
        .get(&logout(&[("id_token_hint", "not-a-token")]))
        .await;
    assert_eq!(page.status, 400);
    // With the hint of the signed-in user: signed out at once and back at the client with state.
    let page = browser
        .get(&logout(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://app.example.org/bye"),
            ("state", "bye-1"),
        ]))
        .await;
    assert_eq!(
        page.location.as_deref(),
        Some("https://app.example.org/bye?state=bye-1")
    );
    // The login it started is over, and the browser must sign in again.
    post_basic(
        &s.endpoint("web", "token"),
        WEB,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &tokens.str("refresh_token")),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
    let page = browser
        .get(&auth_path("web-app", CALLBACK, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&to_client(&page, CALLBACK), "error").as_deref(),
        Some("login_required")
    );

    // Without a hint the user is asked first; confirming signs out.
    authorize(&browser, &auth_path("web-app", CALLBACK, &[])).await;
    let confirm = browser.get(&logout(&[])).await;
    assert_eq!(confirm.status, 200);
    assert!(confirm.contains("id=\"sign-out\""), "{}", confirm.html);
    let done = browser
        .post_url(
            &confirm.form_action().unwrap(),
            &[("csrf", &confirm.csrf()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(done.status, 200);
    assert!(done.contains("You are signed out"), "{}", done.html);
    let page = browser
        .get(&auth_path("web-app", CALLBACK, &[("prompt", "none")]))
        .await;
    assert_eq!(
        param(&to_client(&page, CALLBACK), "error").as_deref(),
        Some("login_required")
    );
    // A confirmation forged by another site (no CSRF) only shows the question again.
    authorize(&browser, &auth_path("web-app", CALLBACK, &[])).await;
    let again = browser
        .post("/protocol/openid-connect/logout", &[("confirm", "yes")])
        .await;
    assert!(again.contains("id=\"sign-out\""));
    let page = browser
        .get(&auth_path("web-app", CALLBACK, &[("prompt", "none")]))
        .await;
    assert!(param(&to_client(&page, CALLBACK), "code").is_some());
}

#[tokio::test]
async fn discovery_lists_what_is_supported() {
    let (s, _) = start().await;
    let d: serde_json::Value = http()
        .get(format!(
            "{}/.well-known/openid-configuration",
            s.issuer("web")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["authorization_endpoint"], s.endpoint("web", "auth"));
    assert_eq!(d["end_session_endpoint"], s.endpoint("web", "logout"));
    assert_eq!(
        d["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(
        d["response_modes_supported"],
        serde_json::json!(["query", "fragment", "form_post"])
    );
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(
        d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("authorization_code"))
    );
}

#[tokio::test]
async fn a_realm_without_local_passwords() {
    let s = TestServer::start(CONFIG).await;
    let browser = Browser::new(&s.issuer("sso-only"));
    let page = browser.get("/login").await;
    assert_eq!(page.status, 200);
    assert!(!page.contains("name=\"password\""), "{}", page.html);
    assert!(page.contains("Sign in with University SSO"));
    assert!(page.contains("/realms/sso-only/broker/university/login?return_to="));
    post_basic(
        &s.endpoint("sso-only", "token"),
        ("legacy", "legacy-secret-0123456789-abcdef-0123456"),
        &[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "x"),
        ],
    )
    .await
    .assert_error(400, "unauthorized_client");
}
