//! Issue 11, items 1 and 4, through HTTP: what personal and scoped API tokens may carry (the realm's role → scopes
//! map, at the time of use; never more than their creator; a token made with a token needs `create_token` and
//! never outlives it), which scopes a client may ask for, `aud` from the client's audiences and RFC 8707
//! `resource`, and the admin API closed to tokens without the `admin` scope.

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use keyport_testkit::TestServer;
use serde_json::json;

/// The shared test configuration with a role → scopes map: `user` may read their own sessions, `auditor` every
/// session, `admin` everything; `narrow-app` may ask for nothing beyond the standard scopes; `api-app` makes
/// tokens for two APIs.
async fn scoped_server() -> TestServer {
    let extra = r#"
[[realms.clients]]
client_id = "narrow-app"
secret = "narrow-app-secret-0123456789-abcdef-0123"
grants = ["password"]

[[realms.clients]]
client_id = "api-app"
secret = "api-app-secret-0123456789-abcdef-012345"
grants = ["password", "client_credentials"]
audiences = ["https://sessions.example", "https://models.example"]
"#;
    let config = CONFIG
        .replacen(
            "scopes = [\"models:read\"]\n",
            "scopes = [\"models:read\"]\n\n[realms.role_scopes]\nuser = [\"read_user_session\"]\nauditor = [\"read_all_session\"]\nadmin = [\"*\"]\n",
            1,
        )
        .replacen("[[realms]]\nname = \"other\"", &format!("{extra}\n[[realms]]\nname = \"other\""), 1);
    TestServer::start(&config).await
}

const NARROW: (&str, &str) = ("narrow-app", "narrow-app-secret-0123456789-abcdef-0123");
const API_APP: (&str, &str) = ("api-app", "api-app-secret-0123456789-abcdef-012345");

fn scope_of(r: &Reply) -> Vec<String> {
    let mut v: Vec<String> = r.json["scope"]
        .as_str()
        .unwrap_or_else(|| panic!("no scope in {r:?}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn a_personal_token_carries_what_its_users_roles_allow_at_the_time_of_use() {
    let s = scoped_server().await;
    let admin = admin_token(&s).await;
    let bob_jwt = access_token(&s, "bob", "bob-password-1").await;
    let bob = apost(&s, "tokens", &bob_jwt, json!({"name": "bob's"}))
        .await
        .str("token");
    // Bob is a `user`: his own sessions only, not every user's (today's main gave the whole catalogue).
    assert_eq!(
        scope_of(&introspect(&s, "aiod", RS, &bob).await),
        ["read_user_session"]
    );
    // A role added is seen at the next use of the same token, and so is a role taken away.
    let roles = |roles: serde_json::Value| {
        let s = &s;
        let admin = admin.clone();
        async move {
            let r = call(
                reqwest::Method::PUT,
                &admin_url(s, "aiod", "users/bob/roles"),
                &admin,
                Some(json!({ "roles": roles })),
            )
            .await;
            assert_eq!(r.status, 200, "{r:?}");
        }
    };
    roles(json!(["user", "auditor"])).await;
    assert_eq!(
        scope_of(&introspect(&s, "aiod", RS, &bob).await),
        ["read_all_session", "read_user_session"]
    );
    roles(json!(["auditor"])).await;
    assert_eq!(
        scope_of(&introspect(&s, "aiod", RS, &bob).await),
        ["read_all_session"]
    );
    // The administrator's personal token holds everything, `admin` included (seed 002's IAI_TOKEN).
    let all = scope_of(&introspect(&s, "aiod", RS, &admin).await);
    for scope in [
        "admin",
        "create_token",
        "read_all_session",
        "revoke_user_token",
    ] {
        assert!(all.iter().any(|s| s == scope), "{scope} in {all:?}");
    }
}

#[tokio::test]
async fn a_scoped_token_may_not_exceed_its_creator() {
    // A realm whose administrators may hand out only `create_session`.
    let config = CONFIG.replacen(
        "scopes = [\"models:read\"]\n",
        "scopes = [\"models:read\"]\n\n[realms.role_scopes]\nadmin = [\"admin\", \"create_token\", \"create_session\"]\n",
        1,
    );
    let narrow = TestServer::start(&config).await;
    let alice = access_token(&narrow, "alice", "alice-password-1").await;
    machine_user(&narrow, &alice, "bot-1").await;
    apost(
        &narrow,
        "tokens",
        &alice,
        json!({"user_id": "bot-1", "scopes": ["read_all_session"]}),
    )
    .await
    .assert_error(403, "access_denied");
    let ok = apost(
        &narrow,
        "tokens",
        &alice,
        json!({"user_id": "bot-1", "scopes": ["create_session"]}),
    )
    .await;
    assert_eq!(ok.status, 201, "{ok:?}");
    // With `admin = ["*"]` an administrator may hand out any scope of the catalogue.
    let s = scoped_server().await;
    let admin = admin_token(&s).await;
    machine_user(&s, &admin, "bot-1").await;
    let ok = scoped_token(&s, &admin, "bot-1", &["read_all_session"]).await;
    assert_eq!(ok["scopes"], json!(["read_all_session"]));
}

#[tokio::test]
async fn a_token_made_with_a_token_needs_create_token_and_never_outlives_it() {
    let s = scoped_server().await;
    // Bob's personal token (role `user`: no `create_token`) cannot mint another, so a leaked one cannot renew
    // itself.
    let bob_jwt = access_token(&s, "bob", "bob-password-1").await;
    let bob = apost(&s, "tokens", &bob_jwt, json!({"name": "bob's"}))
        .await
        .str("token");
    apost(&s, "tokens", &bob, json!({"name": "renewed"}))
        .await
        .assert_error(403, "access_denied");
    // Alice's token has `create_token` (admin → `*`); what it makes expires no later than itself.
    let alice_jwt = access_token(&s, "alice", "alice-password-1").await;
    let parent = apost(
        &s,
        "tokens",
        &alice_jwt,
        json!({"name": "short", "lifespan_days": 2}),
    )
    .await;
    assert_eq!(parent.status, 201, "{parent:?}");
    s.clock.advance(86400);
    let child = apost(
        &s,
        "tokens",
        &parent.str("token"),
        json!({"name": "child", "lifespan_days": 30}),
    )
    .await;
    assert_eq!(child.status, 201, "{child:?}");
    assert_eq!(child.json["expires_at"], parent.json["expires_at"]);
    machine_user(&s, &parent.str("token"), "bot-2").await;
    let scoped = scoped_token(&s, &parent.str("token"), "bot-2", &["cli"]).await;
    assert_eq!(scoped["expires_at"], parent.json["expires_at"]);
    // Personal tokens have their own maximum (default 90 days), scoped ones keep the catalogue's (30 days).
    let alice_jwt = access_token(&s, "alice", "alice-password-1").await;
    apost(&s, "tokens", &alice_jwt, json!({"lifespan_days": 91}))
        .await
        .assert_error(400, "invalid_request");
    let long = apost(&s, "tokens", &alice_jwt, json!({"lifespan_days": 90})).await;
    assert_eq!(long.status, 201, "{long:?}");
    s.clock.advance(90 * 86400);
    assert_eq!(
        introspect(&s, "aiod", RS, &long.str("token")).await.json["active"],
        false
    );
}

#[tokio::test]
async fn a_client_asks_only_for_the_scopes_it_lists() {
    let s = scoped_server().await;
    let login = |client: (&'static str, &'static str), scope: &'static str| {
        let url = s.endpoint("aiod", "token");
        async move {
            let mut form = vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "alice-password-1"),
            ];
            if !scope.is_empty() {
                form.push(("scope", scope));
            }
            post_basic(&url, client, &form).await
        }
    };
    // The standard scopes are every client's; the defaults are granted without asking.
    let r = login(NARROW, "").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.str("scope"), "openid profile email");
    assert_eq!(
        login(NARROW, "openid offline_access roles").await.status,
        200
    );
    // A realm scope, or the admin API, only for clients that list it.
    login(NARROW, "openid models:read")
        .await
        .assert_error(400, "invalid_scope");
    login(NARROW, "openid admin")
        .await
        .assert_error(400, "invalid_scope");
    let admin = login(LEGACY, "openid admin").await;
    assert_eq!(admin.str("scope"), "openid admin");
    // The device flow of a client listing `models:read` (aiod-sdk) may ask for it; one that does not may not.
    start_device(&s, "aiod-sdk", Some("openid models:read")).await;
    post(
        &s.endpoint("aiod", "auth/device"),
        &[("client_id", "loose-sdk"), ("scope", "openid models:read")],
    )
    .await
    .assert_error(400, "invalid_scope");
}

#[tokio::test]
async fn audiences_and_rfc_8707_resource_go_into_aud() {
    let s = scoped_server().await;
    let token = |resource: Option<&'static str>| {
        let url = s.endpoint("aiod", "token");
        async move {
            let mut form = vec![("grant_type", "client_credentials")];
            if let Some(r) = resource {
                form.push(("resource", r));
            }
            post_basic(&url, API_APP, &form).await
        }
    };
    let all = token(None).await;
    assert_eq!(all.status, 200, "{all:?}");
    let claims = verify_with_jwks(&s, "aiod", &all.str("access_token")).await;
    assert_eq!(
        claims["aud"],
        json!([
            "account",
            "https://sessions.example",
            "https://models.example"
        ])
    );
    let one = token(Some("https://models.example")).await;
    let claims = verify_with_jwks(&s, "aiod", &one.str("access_token")).await;
    assert_eq!(claims["aud"], json!(["account", "https://models.example"]));
    // Introspection reports the same audience.
    let seen = introspect(&s, "aiod", RS, &one.str("access_token")).await;
    assert_eq!(
        seen.json["aud"],
        json!(["account", "https://models.example"])
    );
    // A resource the client may not name.
    token(Some("https://evil.example"))
        .await
        .assert_error(400, "invalid_target");
    let r = post_basic(
        &s.endpoint("aiod", "token"),
        BOT,
        &[
            ("grant_type", "client_credentials"),
            ("resource", "https://sessions.example"),
        ],
    )
    .await;
    r.assert_error(400, "invalid_target");
    // A client without audiences keeps Keycloak's single `account` (a string, as Keycloak writes it).
    let bot = post_basic(
        &s.endpoint("aiod", "token"),
        BOT,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let claims = verify_with_jwks(&s, "aiod", &bot.str("access_token")).await;
    assert_eq!(claims["aud"], "account");
}

#[tokio::test]
async fn the_admin_api_needs_the_admin_role_and_the_admin_scope() {
    let s = scoped_server().await;
    // An administrator's token got by a client for its own use (no `admin` scope): closed, even for making a
    // personal token that would carry the administrator's rights.
    let plain = post_basic(
        &s.endpoint("aiod", "token"),
        LEGACY,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
        ],
    )
    .await
    .str("access_token");
    apost(
        &s,
        "users",
        &plain,
        json!({"username": "m1", "machine": true}),
    )
    .await
    .assert_error(403, "access_denied");
    apost(&s, "tokens", &plain, json!({"name": "escalate"}))
        .await
        .assert_error(403, "access_denied");
    aget(&s, "tokens", &plain)
        .await
        .assert_error(403, "access_denied");
    // With the scope (legacy-app lists it) the same administrator is let in.
    let jwt = access_token(&s, "alice", "alice-password-1").await;
    let created = apost(
        &s,
        "users",
        &jwt,
        json!({"username": "m1", "machine": true}),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    // The scope without the role is no administrator.
    let bob = access_token(&s, "bob", "bob-password-1").await;
    apost(
        &s,
        "users",
        &bob,
        json!({"username": "m2", "machine": true}),
    )
    .await
    .assert_error(403, "access_denied");
    // The denial is audited.
    let denied = audit(&s, &jwt, "action=admin_api").await;
    assert!(
        denied.iter().any(|e| e["outcome"] == "denied"),
        "{denied:?}"
    );
}

#[tokio::test]
async fn the_consent_page_names_the_admin_scope_in_plain_words() {
    let s = scoped_server().await;
    let start = post(
        &s.endpoint("master", "auth/device"),
        &[("client_id", "keyport-cli"), ("scope", "openid admin")],
    )
    .await;
    assert_eq!(start.status, 200, "{start:?}");
    let code = start.str("user_code");
    let browser = keyport_testkit::Browser::new(&s.realm_url("master"));
    let login = browser.enter_code(&code).await;
    let consent = browser
        .sign_in(&login, &code, "admin", keyport_testkit::ADMIN_PASSWORD)
        .await;
    assert!(
        consent.contains("full administrative access to realm master"),
        "{}",
        consent.html
    );
    assert!(consent.contains("<li>openid</li>"), "{}", consent.html);
}
