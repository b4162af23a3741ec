//! API tokens, machine users and the audit log survive `keyport migrate --from-sqlite`, and the copied audit log
//! keeps growing on PostgreSQL (its id sequence continues after the copied entries).

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use keyport_server::store::PgSettings;
use keyport_testkit::{TestData, TestDatabase, TestServer};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn tokens_users_and_audit_survive_the_copy_to_postgres() {
    let sqlite = TestData {
        dir: tempfile::tempdir().unwrap(),
        database: None,
    };
    let s = TestServer::start_with(sqlite, None, CONFIG).await;
    let admin = admin_token(&s).await;
    machine_user(&s, &admin, "demo-user").await;
    let scoped = scoped_token(&s, &admin, "demo-user", &["cli"]).await;
    let token = scoped["token"].as_str().unwrap().to_owned();
    let before = audit(&s, &admin, "").await.len();
    let data = s.stop().await;

    let db = TestDatabase::create().await;
    let target = PgSettings {
        url: db.url.clone(),
        max_connections: 2,
        acquire_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(10),
    };
    keyport_server::store::copy::sqlite_to_postgres(&data.dir.path().join("data"), &target)
        .await
        .unwrap();
    let pg = TestServer::start_with(
        TestData {
            dir: tempfile::tempdir().unwrap(),
            database: None,
        },
        Some(db.url.clone()),
        CONFIG,
    )
    .await;
    assert_eq!(
        introspect(&pg, "aiod", RS, &token).await.json["active"],
        true
    );
    // New audit entries and users after the copy.
    let r = apost(
        &pg,
        "users",
        &admin,
        json!({"username": "after-copy", "machine": true}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let entries = audit(&pg, &admin, "max=1000").await;
    assert!(
        entries.len() >= before + 2,
        "{} then {}",
        before,
        entries.len()
    );
    assert_eq!(
        entries[0]["action"], "user.create",
        "the newest entry comes first"
    );
}
