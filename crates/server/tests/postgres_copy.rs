//! `keyport migrate --from-sqlite`: a SQLite deployment copied into PostgreSQL keeps working there.

mod common;

use common::*;
use keyport_server::store::PgSettings;
use keyport_testkit::{TestData, TestDatabase, TestServer};
use std::time::Duration;

#[tokio::test]
async fn a_sqlite_deployment_copied_into_postgres_keeps_its_logins_and_keys() {
    let config = format!("[server]\npublic_url = \"http://keyport.test\"\n{CONFIG}");
    let sqlite = TestData {
        dir: tempfile::tempdir().unwrap(),
        database: None,
    };
    let s = TestServer::start_with(sqlite, None, &config).await;
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let jwks = get(&s.endpoint("aiod", "certs")).await.json;
    // A session that ended and was purged leaves its used refresh token behind on SQLite until it expires
    // (migrations/sqlite/0015_…); PostgreSQL's foreign key would refuse it, so the copy leaves it out.
    let bob = device_login(&s, "aiod-sdk", "bob", "bob-password-1").await;
    let rotated = refresh(&s, "aiod-sdk", &bob.str("refresh_token")).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let out = logout(&s, "aiod-sdk", &rotated.str("refresh_token")).await;
    assert_eq!(out.status, 204, "{out:?}");
    keyport_server::domain::tokens::purge(&s.running.state)
        .await
        .unwrap();
    let left = s
        .running
        .state
        .store
        .refresh_token(&keyport_server::crypto::refresh_token_key(
            &bob.str("refresh_token"),
        ))
        .await
        .unwrap();
    assert!(left.is_some(), "the used token of the purged session stays");
    let data = s.stop().await;

    let db = TestDatabase::create().await;
    let target = PgSettings {
        url: db.url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    };
    let report =
        keyport_server::store::copy::sqlite_to_postgres(&data.dir.path().join("data"), &target)
            .await
            .unwrap();
    assert!(
        report.iter().any(|(t, n)| t == "refresh_tokens" && *n == 1),
        "{report:?}"
    );
    // A second copy into the same (now full) database is refused, and changes nothing.
    let again =
        keyport_server::store::copy::sqlite_to_postgres(&data.dir.path().join("data"), &target)
            .await;
    assert!(again.unwrap_err().to_string().contains("not empty"));

    let pg = TestServer::start_with(
        TestData {
            dir: tempfile::tempdir().unwrap(),
            database: None,
        },
        Some(db.url.clone()),
        &config,
    )
    .await;
    assert_eq!(
        get(&pg.endpoint("aiod", "certs")).await.json,
        jwks,
        "the same signing keys"
    );
    assert_eq!(
        introspect(&pg, "aiod", RS, &tokens.str("access_token"))
            .await
            .json["active"],
        true
    );
    // The refresh token SQLite issued carries its ordering prefix (57 characters); PostgreSQL finds it under the
    // same key, and the one it issues in turn has none (43), the form an older replica reads too.
    assert_eq!(tokens.str("refresh_token").len(), 57);
    let r = refresh(&pg, "aiod-sdk", &tokens.str("refresh_token")).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.str("refresh_token").len(), 43);
    let pw = [
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "bob-password-1"),
    ];
    assert_eq!(
        post_basic(&pg.endpoint("aiod", "token"), LEGACY, &pw)
            .await
            .status,
        200
    );
}
