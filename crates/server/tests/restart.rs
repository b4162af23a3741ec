//! A restart on the same data directory keeps users, clients, keys and live refresh tokens; the bootstrap admin
//! password is generated and shown once.

mod common;

use std::sync::Arc;

use common::*;
use keyport_server::clock::SystemClock;
use keyport_server::config::Config;
use keyport_testkit::{Browser, TestServer};

#[tokio::test]
async fn restart_keeps_users_clients_keys_and_refresh_tokens() {
    // A fixed public URL keeps the issuer stable although the port changes.
    let config = format!("[server]\npublic_url = \"http://id.example.org\"\n{CONFIG}");
    let s = TestServer::start(&config).await;
    assert_eq!(s.issuer("aiod"), "http://id.example.org/realms/aiod");
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let jwks_before = get(&s.endpoint("aiod", "certs")).await.json;
    let data = s.stop().await;

    let s = TestServer::start_in(data, &config).await;
    assert_eq!(
        get(&s.endpoint("aiod", "certs")).await.json,
        jwks_before,
        "same keys"
    );
    // The old access token still verifies and introspects as active.
    assert_eq!(
        introspect(&s, "aiod", RS, &tokens.str("access_token"))
            .await
            .json["active"],
        true
    );
    let r = refresh(&s, "aiod-sdk", &tokens.str("refresh_token")).await;
    assert_eq!(r.status, 200, "{r:?}");
    let bot = post_basic(
        &s.endpoint("aiod", "token"),
        BOT,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(bot.status, 200);
    let pw = [
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "bob-password-1"),
    ];
    assert_eq!(
        post_basic(&s.endpoint("aiod", "token"), LEGACY, &pw)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn config_changes_apply_at_the_next_start() {
    let s = server().await;
    let data = s.stop().await;
    let changed = CONFIG.replace("bob-password-1", "bob-password-2").replace(
        "pipeline-bot-secret-0123456789-abcdef",
        "pipeline-bot-secret-rotated-0123456789",
    );
    let s = TestServer::start_in(data, &changed).await;
    let url = s.endpoint("aiod", "token");
    let old = [
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "bob-password-1"),
    ];
    post_basic(&url, LEGACY, &old)
        .await
        .assert_error(400, "invalid_grant");
    let new = [
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "bob-password-2"),
    ];
    assert_eq!(post_basic(&url, LEGACY, &new).await.status, 200);
    post_basic(&url, BOT, &[("grant_type", "client_credentials")])
        .await
        .assert_error(401, "invalid_client");
    let rotated = (BOT.0, "pipeline-bot-secret-rotated-0123456789");
    assert_eq!(
        post_basic(&url, rotated, &[("grant_type", "client_credentials")])
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn bootstrap_admin_password_is_generated_once_and_works() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = dir.path().to_owned();
    config.validate().unwrap();
    let running = keyport_server::server::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap();
    let password = running
        .report
        .generated_admin_password
        .clone()
        .expect("a generated password");
    assert!(password.len() >= 20);

    // The admin signs in on the master realm's device page for the built-in `keyport-cli` client.
    let master = running.issuer("master");
    let start = post(
        &format!("{master}/protocol/openid-connect/auth/device"),
        &[("client_id", "keyport-cli")],
    )
    .await;
    assert_eq!(start.status, 200, "{start:?}");
    let result = Browser::new(&master)
        .approve_device(&start.str("user_code"), "admin", &password, true)
        .await;
    assert!(result.contains("Device connected"));
    running.shutdown().await.unwrap();

    let again = keyport_server::server::start(config, Arc::new(SystemClock))
        .await
        .unwrap();
    assert!(
        again.report.generated_admin_password.is_none(),
        "shown once"
    );
    again.shutdown().await.unwrap();
}
