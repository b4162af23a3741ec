//! The admin API over HTTP, continued (issue 4): realm roles, bot clients, audit retention and the master realm's
//! administrators. The rest is in admin_api.rs.

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn roles_and_bot_clients() {
    capture_logs();
    let s = server().await;
    let admin = admin_token(&s).await;
    let roles = aget(&s, "roles", &admin).await;
    assert_eq!(roles.json, json!(["admin", "bot", "user"]), "{roles:?}");

    // Make bob an admin, then take it back.
    let r = call(
        reqwest::Method::PUT,
        &admin_url(&s, "aiod", "users/bob/roles"),
        &admin,
        Some(json!({"roles": ["user", "admin"]})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["roles"], json!(["admin", "user"]));
    let bob = access_token(&s, "bob", "bob-password-1").await;
    assert_eq!(
        aget(&s, "users", &bob).await.status,
        200,
        "bob is an admin now"
    );
    let r = call(
        reqwest::Method::PUT,
        &admin_url(&s, "aiod", "users/bob/roles"),
        &admin,
        Some(json!({"roles": ["user"]})),
    )
    .await;
    assert_eq!(r.status, 200);
    aget(&s, "users", &bob)
        .await
        .assert_error(403, "access_denied");
    call(
        reqwest::Method::PUT,
        &admin_url(&s, "aiod", "users/alice/roles"),
        &admin,
        Some(json!({"roles": ["user"]})),
    )
    .await
    .assert_error(400, "invalid_request");
    call(
        reqwest::Method::PUT,
        &admin_url(&s, "aiod", "users/bob/roles"),
        &admin,
        Some(json!({"roles": ["bad role"]})),
    )
    .await
    .assert_error(400, "invalid_request");

    // A bot: its secret is shown once and works for client credentials.
    let created = apost(
        &s,
        "clients",
        &admin,
        json!({"client_id": "nightly-bot", "roles": ["bot"]}),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let secret = created.str("secret");
    assert!(secret.len() >= 43);
    let token = post_basic(
        &s.endpoint("aiod", "token"),
        ("nightly-bot", &secret),
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(token.status, 200, "{token:?}");
    let list = aget(&s, "clients", &admin).await;
    assert!(
        list.json
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == "nightly-bot")
    );
    assert!(!list.json.to_string().contains(&secret));
    apost(&s, "clients", &admin, json!({"client_id": "nightly-bot"}))
        .await
        .assert_error(409, "invalid_request");
    apost(
        &s,
        "clients",
        &admin,
        json!({"client_id": "x", "grants": ["magic"]}),
    )
    .await
    .assert_error(400, "invalid_request");
    apost(&s, "clients", &bob, json!({"client_id": "y"}))
        .await
        .assert_error(403, "access_denied");
    assert_eq!(adelete(&s, "clients/nightly-bot", &admin).await.status, 204);
    post_basic(
        &s.endpoint("aiod", "token"),
        ("nightly-bot", &secret),
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_error(401, "invalid_client");
    adelete(&s, "clients/nightly-bot", &admin)
        .await
        .assert_error(404, "not_found");
    let actions: Vec<String> = audit(&s, &admin, "")
        .await
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    for a in ["client.create", "client.delete", "user.roles"] {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn audit_entries_older_than_the_retention_are_purged() {
    let s = keyport_testkit::TestServer::start(&format!(
        "[server]\naudit_retention = \"7d\"\n{CONFIG}"
    ))
    .await;
    let admin = admin_token(&s).await;
    machine_user(&s, &admin, "old").await;
    assert!(!audit(&s, &admin, "action=user.create").await.is_empty());
    s.clock.advance(6 * 86400);
    assert_eq!(
        keyport_server::domain::audit::purge(&s.running.state)
            .await
            .unwrap(),
        0
    );
    machine_user(&s, &admin, "new").await;
    s.clock.advance(2 * 86400);
    assert!(
        keyport_server::domain::audit::purge(&s.running.state)
            .await
            .unwrap()
            >= 2
    );
    let left = audit(&s, &admin, "action=user.create").await;
    assert_eq!(left.len(), 1, "{left:?}");
}

#[tokio::test]
async fn the_master_admin_administers_every_realm() {
    let s = server().await;
    // The bootstrap admin of realm master logs in through keyport-cli's device flow.
    let start = post(
        &s.endpoint("master", "auth/device"),
        &[("client_id", "keyport-cli"), ("scope", "openid admin")],
    )
    .await;
    keyport_testkit::Browser::new(&s.realm_url("master"))
        .approve_device(
            &start.str("user_code"),
            "admin",
            keyport_testkit::ADMIN_PASSWORD,
            true,
        )
        .await;
    let tokens = post(
        &s.endpoint("master", "token"),
        &[
            ("grant_type", DEVICE_GRANT),
            ("client_id", "keyport-cli"),
            ("device_code", &start.str("device_code")),
        ],
    )
    .await;
    let master_jwt = tokens.str("access_token");
    // With an access token of master, and with a personal token made in master, realm aiod is administered.
    let created = apost(
        &s,
        "users",
        &master_jwt,
        json!({"username": "ops-bot", "machine": true}),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let personal = call(
        reqwest::Method::POST,
        &admin_url(&s, "master", "tokens"),
        &master_jwt,
        Some(json!({"name": "ops"})),
    )
    .await;
    assert_eq!(personal.status, 201, "{personal:?}");
    let master_token = personal.str("token");
    let scoped = apost(
        &s,
        "tokens",
        &master_token,
        json!({"user_id": "ops-bot", "scopes": ["cli"]}),
    )
    .await;
    assert_eq!(scoped.status, 201, "{scoped:?}");
    // But a personal token of aiod is only for aiod, and the master admin's personal tokens live in master.
    apost(&s, "tokens", &master_jwt, json!({"name": "x"}))
        .await
        .assert_error(403, "access_denied");
    let alice = admin_token(&s).await;
    call(
        reqwest::Method::GET,
        &admin_url(&s, "master", "users"),
        &alice,
        None,
    )
    .await
    .assert_error(401, "invalid_token");
}
