//! The portal's pages for everyone (issue 12) over HTTP, with testkit's cookie-keeping `Browser`: the sign-in
//! detour, Generate Access Token (the secret in one response only, never in a URL), CSRF refusals, the user's
//! tokens and sessions (signing out one or everywhere ends refresh tokens and page cookies at once), sign-out,
//! the admin guard, and the headers.

use keyport_testkit::{Browser, Page, TestServer};
use serde_json::Value;

const CONFIG: &str = r#"
[[realms]]
name = "aiod"
personal_token_max_lifespan = "90d"

[[realms.clients]]
client_id = "resource-server"
secret = "resource-server-secret-0123456789-abcd"
grants = []

[[realms.clients]]
client_id = "notebook"
secret = "notebook-secret-0123456789-abcdef-0123"
grants = ["password", "refresh_token"]

[[realms.clients]]
client_id = "third-party"
public = true
consent = true
grants = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/cb"]

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

const RS: (&str, &str) = ("resource-server", "resource-server-secret-0123456789-abcd");
const NOTEBOOK: (&str, &str) = ("notebook", "notebook-secret-0123456789-abcdef-0123");

/// A browser signed in to realm `aiod`'s portal as `user`, through the sign-in detour: the Dashboard.
async fn signed_in(s: &TestServer, user: &str, password: &str) -> (Browser, Page) {
    let b = Browser::new(&s.issuer("aiod"));
    let first = b.get("/account/").await;
    assert_eq!(first.status, 303, "{}", first.html);
    let to_login = first.location.clone().unwrap();
    assert!(
        to_login.contains("/realms/aiod/login?return_to=%2Frealms%2Faiod%2Faccount%2F"),
        "{to_login}"
    );
    let login = b.follow(first).await;
    let dashboard = b.sign_in_as(&login, user, password).await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.html);
    assert!(
        dashboard.contains("<h1>Dashboard</h1>"),
        "{}",
        dashboard.html
    );
    (b, dashboard)
}

/// Submits the Dashboard's Generate Access Token form.
async fn generate(b: &Browser, dashboard: &Page, name: &str, days: &str) -> Page {
    b.post(
        "/account/tokens/new",
        &[
            ("csrf", &dashboard.csrf()),
            ("name", name),
            ("lifespan_days", days),
        ],
    )
    .await
}

/// The `kp_` token a page shows, if any.
fn shown_token(page: &Page) -> Option<String> {
    let re = regex::Regex::new(r"kp_[0-9A-Za-z]{49}").unwrap();
    re.find(&page.html).map(|m| m.as_str().to_owned())
}

async fn introspect(s: &TestServer, token: &str) -> Value {
    let r = reqwest::Client::new()
        .post(s.endpoint("aiod", "token/introspect"))
        .basic_auth(RS.0, Some(RS.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

async fn password_login(s: &TestServer, user: &str, password: &str) -> Value {
    let r = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth(NOTEBOOK.0, Some(NOTEBOOK.1))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn refresh(s: &TestServer, refresh_token: &str) -> u16 {
    reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth(NOTEBOOK.0, Some(NOTEBOOK.1))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn generate_access_token_shows_the_secret_once_and_never_in_a_url() {
    let s = TestServer::start(CONFIG).await;
    let (b, dashboard) = signed_in(&s, "bob", "bob-password-1").await;
    assert_eq!(shown_token(&dashboard), None);

    // The POST's own answer shows the token: 200, no redirect, no-store, with the seed's warning.
    let r = b
        .http
        .post(b.resolve("/realms/aiod/account/tokens/new"))
        .form(&[
            ("csrf", dashboard.csrf().as_str()),
            ("name", "laptop"),
            ("lifespan_days", "7"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("location").is_none());
    assert_eq!(r.headers()["cache-control"], "no-store");
    let created = Page {
        status: 200,
        location: None,
        html: r.text().await.unwrap(),
    };
    assert!(created.contains("This is the only time that the API token can be viewed"));
    assert!(created.contains("Treat it like a password"));
    let token = shown_token(&created).expect("the new token is shown");
    let unused = b.get("/account/tokens").await;
    assert!(unused.contains(">never<"), "last used: {}", unused.html);

    // It works (introspection: bob's token, seven days), and it appears in no later page.
    let info = introspect(&s, &token).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["username"], "bob");
    assert_eq!(
        info["exp"].as_i64().unwrap() - info["iat"].as_i64().unwrap(),
        7 * 86400
    );
    for path in [
        "/account/",
        "/account/tokens",
        "/account/sessions",
        "/account/profile",
    ] {
        let page = b.get(path).await;
        assert_eq!(page.status, 200, "{path}");
        assert!(!page.contains(&token), "{path} shows the token again");
        assert_eq!(shown_token(&page), None, "{path}");
    }
    // The token list names it, with its dates (the introspection above was its first use).
    let list = b.get("/account/tokens").await;
    assert!(list.contains("laptop"), "{}", list.html);
    assert!(!list.contains(">never<"), "last used: {}", list.html);
}

#[tokio::test]
async fn the_lifespan_is_bounded_by_the_realm_and_bad_input_is_explained() {
    let s = TestServer::start(CONFIG).await;
    let (b, dashboard) = signed_in(&s, "bob", "bob-password-1").await;
    let too_long = generate(&b, &dashboard, "long", "91").await;
    assert_eq!(too_long.status, 400);
    assert!(
        too_long.contains("above this realm&#39;s maximum of 90 days")
            || too_long.contains("above this realm's maximum of 90 days"),
        "{}",
        too_long.html
    );
    assert_eq!(shown_token(&too_long), None);
    let not_a_number = generate(&b, &dashboard, "x", "soon").await;
    assert_eq!(not_a_number.status, 400);
    assert!(not_a_number.contains("whole number of days"));
    let list = b.get("/account/tokens").await;
    assert!(list.contains("You have no tokens yet"), "{}", list.html);
}

#[tokio::test]
async fn forms_without_this_sessions_csrf_token_are_refused() {
    let s = TestServer::start(CONFIG).await;
    let (bob, _) = signed_in(&s, "bob", "bob-password-1").await;
    let (_alice, alice_dashboard) = signed_in(&s, "alice", "alice-password-1").await;

    // No token, and alice's token in bob's session: both 403, nothing created.
    for csrf in ["", alice_dashboard.csrf().as_str()] {
        let r = bob
            .post(
                "/account/tokens/new",
                &[("csrf", csrf), ("name", "forged"), ("lifespan_days", "7")],
            )
            .await;
        assert_eq!(r.status, 403, "{}", r.html);
        assert!(r.contains("did not come from this site"));
        assert_eq!(shown_token(&r), None);
    }
    let out = bob.post("/account/sign-out", &[("csrf", "nope")]).await;
    assert_eq!(out.status, 403);
    let list = bob.get("/account/tokens").await;
    assert_eq!(list.status, 200, "still signed in");
    assert!(list.contains("You have no tokens yet"), "{}", list.html);

    // A form posted without any session cookie goes to the sign-in page, not through.
    let stranger = Browser::new(&s.issuer("aiod"));
    let r = stranger
        .post("/account/sessions/end-all", &[("csrf", "x")])
        .await;
    assert_eq!(r.status, 303);
    assert!(
        r.location
            .unwrap()
            .contains("/realms/aiod/login?return_to=")
    );
}

#[tokio::test]
async fn revoking_a_token_in_the_page_refuses_it_at_once() {
    let s = TestServer::start(CONFIG).await;
    let (b, dashboard) = signed_in(&s, "bob", "bob-password-1").await;
    let token = shown_token(&generate(&b, &dashboard, "ci", "30").await).unwrap();
    let info = introspect(&s, &token).await;
    assert_eq!(info["active"], true);
    let token_id = info["jti"].as_str().unwrap().to_owned();

    let list = b.get("/account/tokens").await;
    let done = b
        .post(
            "/account/tokens/revoke",
            &[("csrf", &list.csrf()), ("token_id", &token_id)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        done.location.as_deref(),
        Some("/realms/aiod/account/tokens?flash=token-revoked")
    );
    assert_eq!(introspect(&s, &token).await["active"], false);
    let after = b.follow(done).await;
    assert!(after.contains("The token was revoked"), "{}", after.html);
    assert!(after.contains("revoked"));

    // Someone else's token id: not found, and it stays active.
    let (alice, alice_dash) = signed_in(&s, "alice", "alice-password-1").await;
    let alices = shown_token(&generate(&alice, &alice_dash, "mine", "30").await).unwrap();
    let alices_id = introspect(&s, &alices).await["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = b
        .post(
            "/account/tokens/revoke",
            &[("csrf", &list.csrf()), ("token_id", &alices_id)],
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.html);
    assert_eq!(introspect(&s, &alices).await["active"], true);
}

#[tokio::test]
async fn signing_out_a_session_ends_its_refresh_token_at_once() {
    let s = TestServer::start(CONFIG).await;
    let first = password_login(&s, "bob", "bob-password-1").await;
    let second = password_login(&s, "bob", "bob-password-1").await;
    let _alice = password_login(&s, "alice", "alice-password-1").await;
    let (b, _) = signed_in(&s, "bob", "bob-password-1").await;

    let page = b.get("/account/sessions").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.html.matches("name=\"session_id\"").count(),
        2,
        "{}",
        page.html
    );
    assert!(page.contains("notebook"));
    assert!(page.contains("(this browser)"));
    // Where each browser signed in from: the client address.
    assert!(page.contains(">127.0.0.1<"), "{}", page.html);
    // Sign out the first login session (its id is the `sid` of its access token, via introspection).
    let sid = introspect(&s, first["access_token"].as_str().unwrap()).await["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(page.contains(&sid));
    let done = b
        .post(
            "/account/sessions/end",
            &[("csrf", &page.csrf()), ("session_id", &sid)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert_eq!(
        refresh(&s, first["refresh_token"].as_str().unwrap()).await,
        400
    );
    assert_eq!(
        introspect(&s, first["access_token"].as_str().unwrap()).await["active"],
        false
    );
    assert_eq!(
        refresh(&s, second["refresh_token"].as_str().unwrap()).await,
        200
    );

    // Another user's session id: not found.
    let r = b
        .post(
            "/account/sessions/end",
            &[("csrf", &page.csrf()), ("session_id", "not-mine")],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn signing_out_everywhere_ends_sessions_and_other_browsers_cookies() {
    let s = TestServer::start(CONFIG).await;
    let login = password_login(&s, "bob", "bob-password-1").await;
    let (phone, _) = signed_in(&s, "bob", "bob-password-1").await;
    let (laptop, _) = signed_in(&s, "bob", "bob-password-1").await;
    let (alice, _) = signed_in(&s, "alice", "alice-password-1").await;

    let page = laptop.get("/account/sessions").await;
    let out = laptop
        .post("/account/sessions/end-all", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(out.status, 200, "{}", out.html);
    assert!(out.contains("signed out everywhere"));

    // Both of bob's page cookies stop working; the refresh token too; alice is untouched.
    for b in [&phone, &laptop] {
        let r = b.get("/account/").await;
        assert_eq!(r.status, 303, "still signed in: {}", r.html);
    }
    assert_eq!(
        refresh(&s, login["refresh_token"].as_str().unwrap()).await,
        400
    );
    assert_eq!(alice.get("/account/").await.status, 200);
}

#[tokio::test]
async fn signing_out_one_browser_from_another() {
    let s = TestServer::start(CONFIG).await;
    let (phone, _) = signed_in(&s, "bob", "bob-password-1").await;
    let (laptop, _) = signed_in(&s, "bob", "bob-password-1").await;
    let page = laptop.get("/account/sessions").await;
    let handle = page.field("browser").expect("the other browser is listed");
    let r = laptop
        .post(
            "/account/browsers/end",
            &[("csrf", &page.csrf()), ("browser", &handle)],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    assert_eq!(phone.get("/account/").await.status, 303);
    assert_eq!(laptop.get("/account/").await.status, 200);
}

#[tokio::test]
async fn sign_out_ends_the_page_session() {
    let s = TestServer::start(CONFIG).await;
    let (b, dashboard) = signed_in(&s, "bob", "bob-password-1").await;
    assert!(dashboard.contains("Sign out"));
    let r = b
        .post("/account/sign-out", &[("csrf", &dashboard.csrf())])
        .await;
    assert_eq!(r.status, 200, "{}", r.html);
    assert!(r.contains("You are signed out"));
    let again = b.get("/account/tokens").await;
    assert_eq!(again.status, 303);
    assert!(
        again
            .location
            .unwrap()
            .contains("return_to=%2Frealms%2Faiod%2Faccount%2Ftokens")
    );
}

#[tokio::test]
async fn admin_pages_are_for_administrators_of_the_realm_only() {
    let s = TestServer::start(CONFIG).await;
    let (bob, dashboard) = signed_in(&s, "bob", "bob-password-1").await;
    assert!(
        !dashboard.contains("Token Management"),
        "{}",
        dashboard.html
    );
    for path in [
        "/account/admin/tokens",
        "/account/admin/users",
        "/account/admin/anything-typed",
    ] {
        let r = bob.get(path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.html);
        assert!(r.contains("for administrators of this realm"));
    }
    let (alice, dashboard) = signed_in(&s, "alice", "alice-password-1").await;
    assert!(dashboard.contains("Token Management"), "{}", dashboard.html);
    assert_eq!(alice.get("/account/admin/anything-typed").await.status, 404);

    // Realm `other`'s administrator is a stranger in `aiod`: its cookie is for its own realm's path.
    let carol = Browser::new(&s.issuer("other"));
    let login = carol.follow(carol.get("/account/").await).await;
    let home = carol.sign_in_as(&login, "carol", "carol-password-1").await;
    assert_eq!(home.status, 200);
    let r = carol
        .get_url(&format!("{}/account/admin/tokens", s.issuer("aiod")))
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    assert!(r.location.unwrap().contains("/realms/aiod/login"));
}

#[tokio::test]
async fn profile_shows_who_the_user_is() {
    let s = TestServer::start(CONFIG).await;
    let (b, _) = signed_in(&s, "alice", "alice-password-1").await;
    let p = b.get("/account/profile").await;
    assert_eq!(p.status, 200);
    for text in [
        "alice@example.org",
        "<code>admin</code>",
        "you administer this realm",
    ] {
        assert!(p.contains(text), "{text}: {}", p.html);
    }
    assert!(p.contains("not linked to another provider"));
}

/// Runs an authorization request of `third-party` in `b` (signed in) up to its consent page, and answers Allow.
async fn allow_third_party(b: &Browser) {
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let consent = b
        .get(&format!(
            "/protocol/openid-connect/auth?response_type=code&client_id=third-party&redirect_uri=\
             http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&state=s1&code_challenge={challenge}\
             &code_challenge_method=S256"
        ))
        .await;
    assert_eq!(consent.status, 200, "{}", consent.html);
    assert!(consent.contains("id=\"allow\""), "{}", consent.html);
    let re = regex::Regex::new(r#"<input type="hidden" name="([^"]+)" value="([^"]*)">"#).unwrap();
    let mut form: Vec<(String, String)> = re
        .captures_iter(&consent.html)
        .map(|c| (c[1].to_owned(), keyport_testkit::unescape(&c[2])))
        .collect();
    form.push(("decision".into(), "allow".into()));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = b.post(&consent_action(&consent), &pairs).await;
    assert_eq!(done.status, 303, "{}", done.html);
    assert!(
        done.location
            .unwrap()
            .starts_with("http://127.0.0.1:9/cb?code=")
    );
}

/// The consent form's action, relative to the realm.
fn consent_action(page: &Page) -> String {
    let action = page.form_action().expect("consent form");
    action.trim_start_matches("/realms/aiod").to_owned()
}

#[tokio::test]
async fn consent_given_to_an_application_can_be_withdrawn() {
    let s = TestServer::start(CONFIG).await;
    let (b, _) = signed_in(&s, "bob", "bob-password-1").await;
    let profile = b.get("/account/profile").await;
    assert!(profile.contains("You have not allowed any third-party application"));
    allow_third_party(&b).await;

    let profile = b.get("/account/profile").await;
    assert!(profile.contains("third-party"), "{}", profile.html);
    let done = b
        .post(
            "/account/consents/revoke",
            &[("csrf", &profile.csrf()), ("client_id", "third-party")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.html);
    let after = b.follow(done).await;
    assert!(after.contains("Consent withdrawn"), "{}", after.html);
    assert!(after.contains("You have not allowed any third-party application"));
    // The application must ask again.
    let again = b
        .get(
            "/protocol/openid-connect/auth?response_type=code&client_id=third-party&redirect_uri=\
             http%3A%2F%2F127.0.0.1%3A9%2Fcb&scope=openid&state=s2\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        )
        .await;
    assert!(again.contains("id=\"allow\""), "{}", again.html);
    // Withdrawing what was never given: not found.
    let r = b
        .post(
            "/account/consents/revoke",
            &[("csrf", &profile.csrf()), ("client_id", "third-party")],
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn portal_headers_and_assets() {
    let s = TestServer::start(CONFIG).await;
    let (b, dashboard) = signed_in(&s, "bob", "bob-password-1").await;
    let r = b
        .http
        .get(b.resolve("/realms/aiod/account/"))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "default-src 'none'",
        "style-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["referrer-policy"], "no-referrer");

    // The stylesheet and script: ours, versioned, cached for a year; nothing else is served there.
    let re = regex::Regex::new(r#"href="([^"]*portal\.css\?v=[0-9a-f]+)""#).unwrap();
    let css = re.captures(&dashboard.html).expect("stylesheet link")[1].to_owned();
    let r = b.http.get(b.resolve(&css)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    let js = b.get("/account/static/portal.js").await;
    assert_eq!(js.status, 200);
    assert!(js.contains("clipboard"));
    assert_eq!(b.get("/account/static/other.css").await.status, 404);
}
