//! The device flow over HTTP, driven like a browser: code → pending → sign in → approve → tokens, and every
//! error of RFC 8628 §3.5.

mod common;

use common::*;
use keyport_testkit::Browser;

#[tokio::test]
async fn device_login_then_refresh_rotation_replay_and_logout() {
    let s = server().await;
    let start = start_device(&s, "aiod-sdk", None).await;
    let device_code = start.str("device_code");
    let user_code = start.str("user_code");
    assert!(device_code.len() >= 43, "device code carries >= 256 bits");
    assert!(
        regex::Regex::new("^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$")
            .unwrap()
            .is_match(&user_code)
    );
    assert_eq!(
        start.str("verification_uri"),
        format!("{}/device", s.issuer("aiod"))
    );
    assert_eq!(
        start.str("verification_uri_complete"),
        format!("{}/device?user_code={user_code}", s.issuer("aiod"))
    );
    assert_eq!(start.json["expires_in"], 600);
    assert_eq!(start.json["interval"], 5);

    poll(&s, "aiod-sdk", &device_code)
        .await
        .assert_error(400, "authorization_pending");

    // The browser types the code in lower case without the dash.
    let browser = Browser::new(&s.issuer("aiod"));
    let typed = user_code.replace('-', "").to_lowercase();
    let login = browser.enter_code(&typed).await;
    assert_eq!(login.status, 200, "{}", login.html);
    assert!(
        login.contains("<label for=\"username\">") && login.contains("<label for=\"password\">")
    );
    let consent = browser
        .sign_in(&login, &user_code, "alice", "alice-password-1")
        .await;
    assert_eq!(consent.status, 200, "{}", consent.html);
    assert!(consent.contains("aiod-sdk"), "consent names the client");
    assert!(
        consent.contains("<li>openid</li>") && consent.contains("<li>email</li>"),
        "default scopes listed"
    );
    let result = browser.decide(&consent, &user_code, true).await;
    assert!(result.contains("Device connected"), "{}", result.html);

    s.clock.advance(5);
    let tokens = poll(&s, "aiod-sdk", &device_code).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    assert_eq!(tokens.headers["cache-control"], "no-store");
    assert_eq!(tokens.str("token_type"), "Bearer");
    assert_eq!(tokens.json["expires_in"], 300);
    assert_eq!(tokens.json["refresh_expires_in"], 30 * 86400);
    assert_eq!(tokens.str("scope"), "openid profile email");
    let access = tokens.str("access_token");
    let claims = verify_with_jwks(&s, "aiod", &access).await;
    assert_eq!(claims["preferred_username"], "alice");
    assert_eq!(claims["azp"], "aiod-sdk");
    assert_eq!(claims["typ"], "Bearer");
    assert_eq!(
        claims["realm_access"]["roles"],
        serde_json::json!(["user", "admin"])
    );
    for claim in [
        "iss", "sub", "aud", "exp", "iat", "jti", "sid", "scope", "email",
    ] {
        assert!(!claims[claim].is_null(), "claim {claim} missing: {claims}");
    }
    let header = jsonwebtoken::decode_header(&access).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let id_claims = verify_with_jwks(&s, "aiod", &tokens.str("id_token")).await;
    assert_eq!(id_claims["aud"], "aiod-sdk");
    assert_eq!(
        jsonwebtoken::decode_header(tokens.str("id_token"))
            .unwrap()
            .alg,
        jsonwebtoken::Algorithm::RS256
    );

    let me = get_bearer(&s.endpoint("aiod", "userinfo"), &access).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json["preferred_username"], "alice");
    assert_eq!(me.json["email"], "alice@example.org");
    assert_eq!(me.json["name"], "Alice Example");
    assert_eq!(me.json["sub"], claims["sub"]);
    assert_eq!(
        me.json["realm_access"]["roles"],
        serde_json::json!(["user", "admin"])
    );

    // The device code cannot be redeemed twice.
    poll(&s, "aiod-sdk", &device_code)
        .await
        .assert_error(400, "invalid_grant");

    // Refresh rotates.
    let first = tokens.str("refresh_token");
    let rotated = refresh(&s, "aiod-sdk", &first).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let second = rotated.str("refresh_token");
    assert_ne!(first, second);
    assert!(rotated.json["refresh_expires_in"].as_u64().unwrap() > 0);
    // Replaying the rotated token fails and kills the family: the new token dies too.
    refresh(&s, "aiod-sdk", &first)
        .await
        .assert_error(400, "invalid_grant");
    refresh(&s, "aiod-sdk", &second)
        .await
        .assert_error(400, "invalid_grant");
    let after = introspect(&s, "aiod", RS, &rotated.str("access_token")).await;
    assert_eq!(after.json, serde_json::json!({"active": false}));

    // A second login, ended by logout (python-keycloak's form).
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let rt = tokens.str("refresh_token");
    assert_eq!(
        introspect(&s, "aiod", RS, &tokens.str("access_token"))
            .await
            .json["active"],
        true
    );
    let out = logout(&s, "aiod-sdk", &rt).await;
    assert_eq!(out.status, 204, "{out:?}");
    refresh(&s, "aiod-sdk", &rt)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&s, "aiod", RS, &tokens.str("access_token"))
            .await
            .json["active"],
        false
    );
    get_bearer(&s.endpoint("aiod", "userinfo"), &tokens.str("access_token"))
        .await
        .assert_error(401, "invalid_token");
    // Logging out twice is an error the SDK can see.
    logout(&s, "aiod-sdk", &rt)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_issued_before_the_ordering_prefix_keep_working() {
    use keyport_server::crypto::{random_token, refresh_token_key, sha256_hex};
    use keyport_server::store::RefreshToken;

    let s = server().await;
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let issued = tokens.str("refresh_token");
    // On SQLite a refresh token of today has 14 lowercase hex digits (its issue in microseconds), then 43 random
    // characters; on PostgreSQL, whose replicas may run an older version during an upgrade, only the 43.
    let postgres = std::env::var("KEYPORT_TEST_BACKEND").as_deref() == Ok("postgres");
    // A token with the prefix is stored under more than its plain hash (`refresh_token_key`).
    let ordered = |t: &str| refresh_token_key(t) != sha256_hex(t);
    assert_eq!(ordered(&issued), !postgres, "{issued}");
    assert_eq!(issued.len(), if postgres { 43 } else { 57 }, "{issued}");
    // One stored as every refresh token was before (under the plain SHA-256 of 43 random characters), as the
    // successor of the one just issued, in the same login session.
    let sid = verify_with_jwks(&s, "aiod", &tokens.str("access_token")).await["sid"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = random_token(32);
    let now = s.running.state.now();
    let store = s.running.state.store.clone();
    let row = RefreshToken {
        token_hash: sha256_hex(&old),
        session_id: sid,
        realm: "aiod".into(),
        client_id: "aiod-sdk".into(),
        created_at: now,
        expires_at: now + 600,
        used_at: None,
    };
    store
        .rotate_refresh_tokens(&[(refresh_token_key(&issued), row)])
        .await
        .unwrap();
    // It introspects, and it refreshes into a refresh token of today's shape, which refreshes in turn.
    let r = introspect(&s, "aiod", RS, &old).await;
    assert_eq!(r.json["active"], true, "{r:?}");
    let next = refresh(&s, "aiod-sdk", &old).await;
    assert_eq!(next.status, 200, "{next:?}");
    let new = next.str("refresh_token");
    assert_eq!(ordered(&new), !postgres, "{new}");
    if !postgres {
        assert!(new[..14] > issued[..14], "issued later, ordered later");
    }
    let newest = refresh(&s, "aiod-sdk", &new).await;
    assert_eq!(newest.status, 200, "{newest:?}");
    let newest = newest.str("refresh_token");
    // Rotation spent it: presented again, it is a replay, which ends the login session and so its newest token.
    refresh(&s, "aiod-sdk", &old)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&s, "aiod", RS, &newest).await.json["active"],
        false
    );
    refresh(&s, "aiod-sdk", &newest)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rotation_off_keeps_refresh_tokens_valid() {
    let s = server().await;
    let tokens = device_login(&s, "loose-sdk", "bob", "bob-password-1").await;
    let rt = tokens.str("refresh_token");
    for _ in 0..3 {
        let r = refresh(&s, "loose-sdk", &rt).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert!(
            r.json["refresh_token"].is_string(),
            "refresh responses always carry a refresh token"
        );
    }
}

#[tokio::test]
async fn polling_too_fast_slows_down_by_five_seconds() {
    let s = server().await;
    let start = start_device(&s, "aiod-sdk", None).await;
    let code = start.str("device_code");
    poll(&s, "aiod-sdk", &code)
        .await
        .assert_error(400, "authorization_pending");
    poll(&s, "aiod-sdk", &code)
        .await
        .assert_error(400, "slow_down");
    // The interval is now 10 s: 6 s later is still too fast (and it grows to 15 s).
    s.clock.advance(6);
    poll(&s, "aiod-sdk", &code)
        .await
        .assert_error(400, "slow_down");
    s.clock.advance(14);
    poll(&s, "aiod-sdk", &code)
        .await
        .assert_error(400, "slow_down");
    // Now 20 s; waiting that long is fine.
    s.clock.advance(20);
    poll(&s, "aiod-sdk", &code)
        .await
        .assert_error(400, "authorization_pending");
}

#[tokio::test]
async fn deny_gives_access_denied() {
    let s = server().await;
    let start = start_device(&s, "aiod-sdk", None).await;
    let result = Browser::new(&s.issuer("aiod"))
        .approve_device(&start.str("user_code"), "bob", "bob-password-1", false)
        .await;
    assert!(result.contains("Access denied"), "{}", result.html);
    poll(&s, "aiod-sdk", &start.str("device_code"))
        .await
        .assert_error(400, "access_denied");
    s.clock.advance(5);
    poll(&s, "aiod-sdk", &start.str("device_code"))
        .await
        .assert_error(400, "access_denied");
}

#[tokio::test]
async fn expired_device_code() {
    let s = server().await;
    let start = start_device(&s, "aiod-sdk", None).await;
    s.clock.advance(601);
    poll(&s, "aiod-sdk", &start.str("device_code"))
        .await
        .assert_error(400, "expired_token");
    let page = Browser::new(&s.issuer("aiod"))
        .enter_code(&start.str("user_code"))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.contains("not valid or has expired"), "{}", page.html);
}

#[tokio::test]
async fn device_code_of_another_client_or_unknown_is_invalid_grant() {
    let s = server().await;
    let start = start_device(&s, "aiod-sdk", None).await;
    poll(&s, "loose-sdk", &start.str("device_code"))
        .await
        .assert_error(400, "invalid_grant");
    poll(&s, "aiod-sdk", "made-up-device-code")
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn device_authorization_scopes_and_client_checks() {
    let s = server().await;
    let r = start_device(&s, "aiod-sdk", Some("")).await;
    assert!(r.json["user_code"].is_string());
    let url = s.endpoint("aiod", "auth/device");
    post(
        &url,
        &[
            ("client_id", "aiod-sdk"),
            ("scope", "openid admin:everything"),
        ],
    )
    .await
    .assert_error(400, "invalid_scope");
    post(&url, &[("client_id", "nobody")])
        .await
        .assert_error(401, "invalid_client");
    post(&url, &[]).await.assert_error(401, "invalid_client");
    // A bot without the device grant may not start a device flow.
    post_basic(&url, BOT, &[])
        .await
        .assert_error(400, "unauthorized_client");
    // Asked scopes are shown on the consent page and land in the token.
    let start = start_device(&s, "aiod-sdk", Some("openid models:read")).await;
    let browser = Browser::new(&s.issuer("aiod"));
    let login = browser.enter_code(&start.str("user_code")).await;
    let consent = browser
        .sign_in(&login, &start.str("user_code"), "alice", "alice-password-1")
        .await;
    assert!(consent.contains("<li>models:read</li>"), "{}", consent.html);
    browser
        .decide(&consent, &start.str("user_code"), true)
        .await;
    let tokens = poll(&s, "aiod-sdk", &start.str("device_code")).await;
    assert_eq!(tokens.str("scope"), "openid models:read");
}

#[tokio::test]
async fn verification_page_security() {
    let s = server().await;
    let issuer = s.issuer("aiod");
    let r = http()
        .get(format!("{issuer}/device?user_code=BCDF-GHJK"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(cookie.contains("Path=/realms/aiod/"), "{cookie}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let html = r.text().await.unwrap();
    assert!(
        html.contains("value=\"BCDF-GHJK\""),
        "the code is prefilled"
    );
    assert!(html.contains("<label for=\"user_code\">"));

    // A form without the CSRF token of its session is refused.
    let browser = Browser::new(&issuer);
    browser.get("/device").await;
    let start = start_device(&s, "aiod-sdk", None).await;
    let forged = browser
        .post(
            "/device",
            &[("csrf", "forged"), ("user_code", &start.str("user_code"))],
        )
        .await;
    assert_eq!(forged.status, 403, "{}", forged.html);
    // A post without any session cookie starts over.
    let stranger = Browser::new(&issuer);
    let page = stranger
        .post(
            "/device",
            &[("csrf", "x"), ("user_code", &start.str("user_code"))],
        )
        .await;
    assert_eq!(page.status, 400);
    assert!(page.contains("session expired"), "{}", page.html);

    // A wrong password is answered clearly and nothing is approved.
    let login = browser.enter_code(&start.str("user_code")).await;
    let wrong = browser
        .sign_in(&login, &start.str("user_code"), "alice", "nope")
        .await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.contains("Invalid username or password."));
    poll(&s, "aiod-sdk", &start.str("device_code"))
        .await
        .assert_error(400, "authorization_pending");
}

#[tokio::test]
async fn guessing_user_codes_is_bounded_per_session_and_ip() {
    let s = server().await;
    let start = start_device(&s, "aiod-sdk", None).await;
    let browser = Browser::new(&s.issuer("aiod"));
    for guess in [
        "BBBB-BBBB",
        "CCCC-CCCC",
        "DDDD-DDDD",
        "FFFF-FFFF",
        "GGGG-GGGG",
    ] {
        let page = browser.enter_code(guess).await;
        assert_eq!(page.status, 400, "{}", page.html);
        assert!(page.contains("not valid or has expired"));
    }
    // The budget is spent: even the right code is refused for a minute, from this session and this IP.
    let page = browser.enter_code(&start.str("user_code")).await;
    assert_eq!(page.status, 429, "{}", page.html);
    assert!(page.contains("Too many wrong codes"));
    let other = Browser::new(&s.issuer("aiod"));
    assert_eq!(other.enter_code(&start.str("user_code")).await.status, 429);
    s.clock.advance(61);
    let page = other.enter_code(&start.str("user_code")).await;
    assert_eq!(page.status, 200, "{}", page.html);
}
