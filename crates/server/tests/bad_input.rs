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

/// Issue 11 item 6: a form of many distinct parameters (the worst case of a quadratic duplicate check, and all
/// of it before the client is authenticated) is refused at once, whatever it would have been.
#[tokio::test]
async fn forms_with_too_many_parameters_are_refused_before_anything_else() {
    let s = server().await;
    let url = s.endpoint("aiod", "token");
    let send = |body: String| {
        let url = url.clone();
        async move {
            Reply::from(
                http()
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .basic_auth(BOT.0, Some(BOT.1))
                    .body(body)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let padding = |n: usize| (0..n).map(|i| format!("&x{i}=1")).collect::<String>();
    // 63 unknown parameters besides grant_type are ignored: the grant succeeds.
    let ok = send(format!("grant_type=client_credentials{}", padding(63))).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    // One more is refused, although the client authenticated and the grant is valid.
    let r = send(format!("grant_type=client_credentials{}", padding(64))).await;
    r.assert_error(400, "invalid_request");
    assert!(r.str("error_description").contains("parameters"), "{r:?}");
    // A worst case that fits the body limit (6,500 distinct parameters) is answered quickly, many times over.
    let worst = format!("grant_type=client_credentials{}", padding(6_500));
    assert!(worst.len() < 64 * 1024);
    let started = std::time::Instant::now();
    for _ in 0..20 {
        send(worst.clone())
            .await
            .assert_error(400, "invalid_request");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
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

/// Issue 11 (low): a confidential client without its secret gets the same answer as a client id that does not
/// exist, so an anonymous caller cannot list the confidential clients.
#[tokio::test]
async fn an_unknown_client_and_a_confidential_one_without_secret_look_alike() {
    let s = server().await;
    let url = s.endpoint("aiod", "token");
    let form = |id: &'static str| [("grant_type", "client_credentials"), ("client_id", id)];
    let confidential = post(&url, &form("pipeline-bot")).await;
    let unknown = post(&url, &form("no-such-client")).await;
    confidential.assert_error(401, "invalid_client");
    unknown.assert_error(401, "invalid_client");
    assert_eq!(confidential.json, unknown.json);
    let wrong = post_basic(
        &url,
        ("pipeline-bot", "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(wrong.json, unknown.json);
    // The same at the device authorization endpoint.
    let device = s.endpoint("aiod", "auth/device");
    let a = post(&device, &[("client_id", "pipeline-bot")]).await;
    let b = post(&device, &[("client_id", "no-such-client")]).await;
    assert_eq!((a.status, &a.json), (b.status, &b.json));
}
