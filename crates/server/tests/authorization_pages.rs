//! The pages around the authorization code grant: consent of third-party clients, the fragment and form_post
//! response modes, RP-initiated logout, discovery, and a realm without local passwords.

mod auth_code;
mod common;

use auth_code::*;
use common::{http, post_basic};
use keyport_testkit::{Browser, TestServer};

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
    refresh_web(&s, &tokens.str("refresh_token"))
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
