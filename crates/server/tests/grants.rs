//! Client credentials, password, introspection, revocation, realm isolation, discovery and base_path.

mod common;

use base64::Engine;
use common::*;
use keyport_testkit::TestServer;

#[tokio::test]
async fn client_credentials_basic_and_post_and_wrong_secrets() {
    let s = server().await;
    let url = s.endpoint("aiod", "token");
    let basic = post_basic(&url, BOT, &[("grant_type", "client_credentials")]).await;
    assert_eq!(basic.status, 200, "{basic:?}");
    assert!(
        basic.json.get("refresh_token").is_none(),
        "no refresh token for client credentials"
    );
    assert_eq!(basic.json["refresh_expires_in"], 0);
    let claims = verify_with_jwks(&s, "aiod", &basic.str("access_token")).await;
    assert_eq!(claims["preferred_username"], "service-account-pipeline-bot");
    assert_eq!(claims["realm_access"]["roles"], serde_json::json!(["bot"]));
    assert!(claims.get("sid").is_none());

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", BOT.0),
        ("client_secret", BOT.1),
    ];
    assert_eq!(post(&url, &form).await.status, 200);

    let wrong = post_basic(
        &url,
        (BOT.0, "wrong"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    wrong.assert_error(401, "invalid_client");
    assert!(
        wrong.headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", BOT.0),
        ("client_secret", "wrong"),
    ];
    post(&url, &form).await.assert_error(401, "invalid_client");
    post(
        &url,
        &[("grant_type", "client_credentials"), ("client_id", BOT.0)],
    )
    .await
    .assert_error(401, "invalid_client");
    post_basic(
        &url,
        ("ghost", "x"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_error(401, "invalid_client");
    // Both methods at once is ambiguous.
    let both = [
        ("grant_type", "client_credentials"),
        ("client_secret", BOT.1),
    ];
    post_basic(&url, BOT, &both)
        .await
        .assert_error(400, "invalid_request");
    // A public client cannot use client credentials.
    post(
        &url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "aiod-sdk"),
        ],
    )
    .await
    .assert_error(400, "unauthorized_client");
}

#[tokio::test]
async fn access_token_algorithm_per_client() {
    let s = server().await;
    let r = post_basic(
        &s.endpoint("aiod", "token"),
        ("rsa-bot", "rsa-bot-secret-0123456789-abcdef-0123"),
        &[("grant_type", "client_credentials")],
    )
    .await;
    let jwt = r.str("access_token");
    assert_eq!(
        jsonwebtoken::decode_header(&jwt).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    verify_with_jwks(&s, "aiod", &jwt).await;
}

#[tokio::test]
async fn password_grant_only_for_clients_that_list_it() {
    let s = server().await;
    let url = s.endpoint("aiod", "token");
    let form = [
        ("grant_type", "password"),
        ("client_id", "aiod-sdk"),
        ("username", "alice"),
        ("password", "alice-password-1"),
    ];
    post(&url, &form)
        .await
        .assert_error(400, "unauthorized_client");
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "alice-password-1"),
    ];
    let ok = post_basic(&url, LEGACY, &form).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    assert!(ok.json["refresh_token"].is_string());
    let form = [
        ("grant_type", "password"),
        ("username", "alice"),
        ("password", "wrong"),
    ];
    post_basic(&url, LEGACY, &form)
        .await
        .assert_error(400, "invalid_grant");
    let form = [
        ("grant_type", "password"),
        ("username", "nobody"),
        ("password", "wrong"),
    ];
    post_basic(&url, LEGACY, &form)
        .await
        .assert_error(400, "invalid_grant");
    post_basic(
        &url,
        LEGACY,
        &[("grant_type", "password"), ("username", "alice")],
    )
    .await
    .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn introspection_per_rfc_7662() {
    let s = server().await;
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let access = tokens.str("access_token");
    let r = introspect(&s, "aiod", RS, &access).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["client_id"], "aiod-sdk");
    assert_eq!(r.json["username"], "alice");
    assert_eq!(r.json["token_type"], "Bearer");
    assert_eq!(r.json["iss"], s.issuer("aiod"));
    assert!(r.json["exp"].as_i64().is_some());
    // Refresh tokens introspect too.
    let r = introspect(&s, "aiod", RS, &tokens.str("refresh_token")).await;
    assert_eq!(r.json["active"], true);
    assert_eq!(r.json["token_type"], "Refresh");
    // Garbage and expired tokens are simply inactive.
    assert_eq!(
        introspect(&s, "aiod", RS, "garbage").await.json,
        serde_json::json!({"active": false})
    );
    assert_eq!(
        introspect(&s, "aiod", RS, "a.b.c").await.json,
        serde_json::json!({"active": false})
    );
    s.clock.advance(301);
    assert_eq!(
        introspect(&s, "aiod", RS, &access).await.json["active"],
        false
    );
    // Only authenticated confidential clients may ask.
    let url = s.endpoint("aiod", "token/introspect");
    post(&url, &[("token", &access)])
        .await
        .assert_error(401, "invalid_client");
    post(&url, &[("token", &access), ("client_id", "aiod-sdk")])
        .await
        .assert_error(401, "invalid_client");
    post_basic(&url, (RS.0, "wrong"), &[("token", &access)])
        .await
        .assert_error(401, "invalid_client");
    post_basic(&url, RS, &[])
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn revocation_per_rfc_7009() {
    let s = server().await;
    let url = s.endpoint("aiod", "revoke");
    // Revoking an access token makes it inactive for the rest of its life; the session lives on.
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let access = tokens.str("access_token");
    let r = post(
        &url,
        &[
            ("client_id", "aiod-sdk"),
            ("token", &access),
            ("token_type_hint", "access_token"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        introspect(&s, "aiod", RS, &access).await.json["active"],
        false
    );
    get_bearer(&s.endpoint("aiod", "userinfo"), &access)
        .await
        .assert_error(401, "invalid_token");
    let rt = tokens.str("refresh_token");
    assert_eq!(refresh(&s, "aiod-sdk", &rt).await.status, 200);

    // Revoking a refresh token ends its login.
    let tokens = device_login(&s, "aiod-sdk", "bob", "bob-password-1").await;
    let rt = tokens.str("refresh_token");
    // Another public client may not revoke it.
    post(&url, &[("client_id", "loose-sdk"), ("token", &rt)])
        .await
        .assert_error(400, "unauthorized_client");
    assert_eq!(
        post(&url, &[("client_id", "aiod-sdk"), ("token", &rt)])
            .await
            .status,
        200
    );
    refresh(&s, "aiod-sdk", &rt)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&s, "aiod", RS, &tokens.str("access_token"))
            .await
            .json["active"],
        false
    );

    // Unknown tokens succeed silently; a missing token or client does not.
    assert_eq!(
        post(&url, &[("client_id", "aiod-sdk"), ("token", "unknown")])
            .await
            .status,
        200
    );
    post(&url, &[("client_id", "aiod-sdk")])
        .await
        .assert_error(400, "invalid_request");
    post(&url, &[("token", "x")])
        .await
        .assert_error(401, "invalid_client");
    // Confidential clients authenticate.
    let bot = post_basic(
        &s.endpoint("aiod", "token"),
        BOT,
        &[("grant_type", "client_credentials")],
    )
    .await;
    post(
        &url,
        &[("client_id", BOT.0), ("token", &bot.str("access_token"))],
    )
    .await
    .assert_error(401, "invalid_client");
    assert_eq!(
        post_basic(&url, BOT, &[("token", &bot.str("access_token"))])
            .await
            .status,
        200
    );
    assert_eq!(
        introspect(&s, "aiod", RS, &bot.str("access_token"))
            .await
            .json["active"],
        false
    );
}

#[tokio::test]
async fn realms_are_isolated() {
    let s = server().await;
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let access = tokens.str("access_token");
    let other = ("resource-server", "other-resource-secret-0123456789-abcdef");
    assert_eq!(
        introspect(&s, "other", other, &access).await.json["active"],
        false
    );
    assert_eq!(
        introspect(&s, "other", other, &tokens.str("refresh_token"))
            .await
            .json["active"],
        false
    );
    get_bearer(&s.endpoint("other", "userinfo"), &access)
        .await
        .assert_error(401, "invalid_token");
    // The aiod secret of `resource-server` does not authenticate in realm `other`.
    introspect(&s, "other", RS, &access)
        .await
        .assert_error(401, "invalid_client");
    let r = post(
        &s.endpoint("other", "token"),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "aiod-sdk"),
            ("refresh_token", &tokens.str("refresh_token")),
        ],
    )
    .await;
    r.assert_error(401, "invalid_client");
}

#[tokio::test]
async fn discovery_realm_document_and_jwks() {
    let s = server().await;
    let issuer = s.issuer("aiod");
    let d = get(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.str("issuer"), issuer);
    for (key, path) in [
        ("token_endpoint", "token"),
        ("device_authorization_endpoint", "auth/device"),
        ("userinfo_endpoint", "userinfo"),
        ("introspection_endpoint", "token/introspect"),
        ("revocation_endpoint", "revoke"),
        ("end_session_endpoint", "logout"),
        ("jwks_uri", "certs"),
    ] {
        assert_eq!(
            d.str(key),
            format!("{issuer}/protocol/openid-connect/{path}"),
            "{key}"
        );
    }
    assert!(
        d.json["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );

    let realm = get(&issuer).await;
    assert_eq!(realm.str("realm"), "aiod");
    assert_eq!(
        realm.str("token-service"),
        format!("{issuer}/protocol/openid-connect")
    );
    assert_eq!(realm.json["tokens-not-before"], 0);
    let der = base64::engine::general_purpose::STANDARD
        .decode(realm.str("public_key"))
        .unwrap();
    assert!(
        der.len() > 250 && der[0] == 0x30,
        "an RSA-2048 SubjectPublicKeyInfo"
    );

    let jwks = get(&s.endpoint("aiod", "certs")).await;
    let keys = jwks.json["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{algs:?}");
    }
    assert!(
        keys.iter()
            .all(|k| k["use"] == "sig" && k["kid"].is_string())
    );
}

#[tokio::test]
async fn base_path_serves_everything_under_it() {
    let config = format!("[server]\nbase_path = \"/auth\"\n{}", CONFIG);
    let s = TestServer::start(&config).await;
    assert!(s.url.ends_with("/auth"));
    let issuer = s.issuer("aiod");
    assert!(issuer.ends_with("/auth/realms/aiod"), "{issuer}");
    let d = get(&format!("{issuer}/.well-known/openid-configuration")).await;
    assert_eq!(d.str("issuer"), issuer);
    assert_eq!(
        d.str("token_endpoint"),
        format!("{issuer}/protocol/openid-connect/token")
    );
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    assert_eq!(
        verify_with_jwks(&s, "aiod", &tokens.str("access_token")).await["iss"],
        issuer
    );
    let root = s.url.trim_end_matches("/auth");
    let outside = get(&format!(
        "{root}/realms/aiod/.well-known/openid-configuration"
    ))
    .await;
    outside.assert_error(404, "not_found");
    assert_eq!(get(&format!("{root}/health/ready")).await.status, 200);
    assert_eq!(get(&format!("{root}/auth/health/live")).await.status, 200);
}

#[tokio::test]
async fn health_endpoints() {
    let s = server().await;
    let ready = get(&format!("{}/health/ready", s.url)).await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json["status"], "UP");
    assert_eq!(get(&format!("{}/health/live", s.url)).await.status, 200);
}

#[tokio::test]
async fn client_credentials_issue_an_id_token_only_when_openid_is_asked_for() {
    let s = server().await;
    let url = s.endpoint("aiod", "token");
    let plain = post_basic(&url, BOT, &[("grant_type", "client_credentials")]).await;
    assert_eq!(plain.status, 200, "{plain:?}");
    assert!(plain.json.get("id_token").is_none(), "{plain:?}");
    assert!(
        !plain.str("scope").split(' ').any(|s| s == "openid"),
        "{plain:?}"
    );
    let openid = post_basic(
        &url,
        BOT,
        &[("grant_type", "client_credentials"), ("scope", "openid")],
    )
    .await;
    assert_eq!(openid.status, 200, "{openid:?}");
    assert!(openid.json.get("id_token").is_some(), "{openid:?}");
}
