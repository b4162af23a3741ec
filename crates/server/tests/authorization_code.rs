//! The authorization code grant with PKCE, driven without a browser engine: a cookie-keeping HTTP client plays the
//! browser (the testkit `Browser`), the test plays the client. Protocol edge cases of RFC 6749 §4.1, RFC 7636,
//! OpenID Connect Core §3.1 and RFC 9207. Consent, response modes and logout: `authorization_pages.rs`;
//! real-Chromium tests: `crates/testkit/tests`.

mod auth_code;
mod common;

use auth_code::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{http, introspect, post, post_basic, verify_with_jwks};
use keyport_server::clock::Clock;
use sha2::{Digest, Sha256};

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
    let refreshed = refresh_web(&s, &tokens.str("refresh_token")).await;
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
    refresh_web(&s, &first.str("refresh_token"))
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
