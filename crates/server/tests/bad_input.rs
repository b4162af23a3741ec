//! Bad input gets a clear RFC 6749 §5.2 error, never a 500.

mod common;

use common::*;

#[tokio::test]
async fn token_endpoint_rejects_bad_requests_clearly() {
    let s = server().await;
    let url = s.endpoint("aiod", "token");
    post(&url, &[("grant_type", "magic"), ("client_id", "aiod-sdk")])
        .await
        .assert_error(400, "unsupported_grant_type");
    post(&url, &[("client_id", "aiod-sdk")])
        .await
        .assert_error(400, "invalid_request");
    post(
        &url,
        &[("grant_type", DEVICE_GRANT), ("client_id", "aiod-sdk")],
    )
    .await
    .assert_error(400, "invalid_request");
    post(
        &url,
        &[("grant_type", "refresh_token"), ("client_id", "aiod-sdk")],
    )
    .await
    .assert_error(400, "invalid_request");
    post(
        &url,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "aiod-sdk"),
            ("refresh_token", "nope"),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
    post(
        &url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "aiod-sdk"),
            ("code", "x"),
        ],
    )
    .await
    .assert_error(400, "unauthorized_client");

    // A parameter given twice.
    let body = "grant_type=client_credentials&grant_type=password";
    let r = Reply::from(
        http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(400, "invalid_request");

    // JSON instead of a form.
    let r = Reply::from(
        http()
            .post(&url)
            .json(&serde_json::json!({"grant_type": "client_credentials"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(415, "invalid_request");
    // No content type at all.
    let r = Reply::from(
        http()
            .post(&url)
            .body("grant_type=client_credentials")
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(415, "invalid_request");

    // A 1 MB body.
    let big = format!(
        "grant_type=client_credentials&pad={}",
        "a".repeat(1024 * 1024)
    );
    let r = Reply::from(
        http()
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(413, "invalid_request");

    // Malformed Basic credentials.
    let r = Reply::from(
        http()
            .post(&url)
            .header("authorization", "Basic !!!not-base64")
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn unknown_realms_and_paths_are_json_404s() {
    let s = server().await;
    get(&format!(
        "{}/realms/nowhere/.well-known/openid-configuration",
        s.url
    ))
    .await
    .assert_error(404, "not_found");
    get(&format!("{}/realms/nowhere", s.url))
        .await
        .assert_error(404, "not_found");
    post(
        &format!("{}/realms/nowhere/protocol/openid-connect/token", s.url),
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_error(404, "not_found");
    get(&format!("{}/realms/nowhere/device", s.url))
        .await
        .assert_error(404, "not_found");
    get(&format!("{}/no/such/thing", s.url))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn userinfo_without_or_with_a_bad_token() {
    let s = server().await;
    let url = s.endpoint("aiod", "userinfo");
    let r = get(&url).await;
    r.assert_error(401, "invalid_token");
    assert!(
        r.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    get_bearer(&url, "not-a-jwt")
        .await
        .assert_error(401, "invalid_token");
    // POST with the token as a form parameter (RFC 6750 §2.2) works too.
    let bot = post_basic(
        &s.endpoint("aiod", "token"),
        BOT,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let r = post(&url, &[("access_token", &bot.str("access_token"))]).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["preferred_username"], "service-account-pipeline-bot");
}

#[tokio::test]
async fn logout_errors() {
    let s = server().await;
    let url = s.endpoint("aiod", "logout");
    // Without a refresh token it is no back-channel logout but an RP-initiated one: a page asks the person.
    let page = post(&url, &[("client_id", "aiod-sdk")]).await;
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.json.as_str().unwrap().contains("Sign out?"),
        "{page:?}"
    );
    post(
        &url,
        &[("client_id", "aiod-sdk"), ("refresh_token", "nope")],
    )
    .await
    .assert_error(400, "invalid_grant");
    post(&url, &[("refresh_token", "nope")])
        .await
        .assert_error(401, "invalid_client");
    let tokens = device_login(&s, "aiod-sdk", "bob", "bob-password-1").await;
    // Another client cannot end this login.
    post(
        &url,
        &[
            ("client_id", "loose-sdk"),
            ("refresh_token", &tokens.str("refresh_token")),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
    assert_eq!(
        refresh(&s, "aiod-sdk", &tokens.str("refresh_token"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_authorization_request_without_a_client_is_a_page_not_a_redirect() {
    let s = server().await;
    let r = get(&s.endpoint("aiod", "auth")).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.headers.get("location").is_none());
    assert!(
        r.json.as_str().unwrap().contains("client_id is missing"),
        "{r:?}"
    );
}
