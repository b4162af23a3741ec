//! Several stateless replicas on one PostgreSQL: a login, a refresh token, a revocation or a key made on one
//! replica is seen by the others. Always runs on PostgreSQL (`KEYPORT_TEST_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), whatever backend the rest of the suite uses.

mod admin_support;
mod common;

use common::*;
use keyport_testkit::{Browser, TestData, TestDatabase, TestServer};
use serde_json::json;
use sqlx::Connection;

fn config() -> String {
    // One issuer for all replicas, as behind a load balancer; short acquire timeout for the outage test.
    format!(
        "[server]\npublic_url = \"http://keyport.test\"\ndatabase_acquire_timeout = \"1s\"\n{CONFIG}"
    )
}

struct Cluster {
    replicas: Vec<TestServer>,
    db: TestDatabase,
}

async fn cluster(n: usize) -> Cluster {
    let db = TestDatabase::create().await;
    let mut replicas = Vec::new();
    for _ in 0..n {
        let data = TestData {
            dir: tempfile::tempdir().unwrap(),
            database: None,
        };
        replicas.push(TestServer::start_with(data, Some(db.url.clone()), &config()).await);
    }
    Cluster { replicas, db }
}

/// A poll's time is written through the PostgreSQL store's poll-write pool (commits without waiting for the WAL
/// flush): it is still seen at once by the other replicas, so polling too fast across replicas slows down.
#[tokio::test]
async fn a_poll_on_one_replica_makes_an_immediate_poll_on_another_slow_down() {
    let c = cluster(2).await;
    let (a, b) = (&c.replicas[0], &c.replicas[1]);
    let start = post(
        &a.endpoint("aiod", "auth/device"),
        &[("client_id", "aiod-sdk")],
    )
    .await;
    assert_eq!(start.status, 200, "{start:?}");
    let code = start.str("device_code");
    poll(a, "aiod-sdk", &code)
        .await
        .assert_error(400, "authorization_pending");
    poll(b, "aiod-sdk", &code)
        .await
        .assert_error(400, "slow_down");
    // The raised interval written by B is what A reads next (10 s: 6 s later is still too fast).
    a.clock.advance(6);
    poll(a, "aiod-sdk", &code)
        .await
        .assert_error(400, "slow_down");
}

#[tokio::test]
async fn device_flow_started_on_a_approved_on_b_redeemed_on_c() {
    let c = cluster(3).await;
    let (a, b, cc) = (&c.replicas[0], &c.replicas[1], &c.replicas[2]);
    let start = post(
        &a.endpoint("aiod", "auth/device"),
        &[("client_id", "aiod-sdk")],
    )
    .await;
    assert_eq!(start.status, 200, "{start:?}");
    assert_eq!(
        start.str("verification_uri"),
        "http://keyport.test/realms/aiod/device"
    );
    poll(a, "aiod-sdk", &start.str("device_code"))
        .await
        .assert_error(400, "authorization_pending");
    Browser::new(&b.realm_url("aiod"))
        .approve_device(&start.str("user_code"), "alice", "alice-password-1", true)
        .await;
    let tokens = poll(cc, "aiod-sdk", &start.str("device_code")).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    for r in [a, b, cc] {
        assert_eq!(
            introspect(r, "aiod", RS, &tokens.str("access_token"))
                .await
                .json["active"],
            true
        );
        let me = get_bearer(&r.endpoint("aiod", "userinfo"), &tokens.str("access_token")).await;
        assert_eq!(me.json["preferred_username"], "alice");
    }
    // The same keys everywhere: one replica generated them, the others loaded them.
    let jwks = get(&a.endpoint("aiod", "certs")).await.json;
    assert_eq!(get(&b.endpoint("aiod", "certs")).await.json, jwks);
    assert_eq!(get(&cc.endpoint("aiod", "certs")).await.json, jwks);
}

#[tokio::test]
async fn refresh_rotated_on_a_is_a_replay_on_b_and_revocations_are_seen_everywhere() {
    let c = cluster(3).await;
    let (a, b, cc) = (&c.replicas[0], &c.replicas[1], &c.replicas[2]);
    let pw = [
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "bob-password-1"),
    ];
    let login = post_basic(&a.endpoint("aiod", "token"), LEGACY, &pw).await;
    let rt = login.str("refresh_token");
    let refresh_on = |s: &TestServer, token: &str| {
        let url = s.endpoint("aiod", "token");
        let token = token.to_owned();
        async move {
            post_basic(
                &url,
                LEGACY,
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    let rotated = refresh_on(a, &rt).await;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    refresh_on(b, &rt).await.assert_error(400, "invalid_grant");
    // The replay ended the family on every replica.
    refresh_on(cc, &rotated.str("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");

    // An access token revoked on B is inactive on C at once (no replica caches revocations).
    let bot = post_basic(
        &a.endpoint("aiod", "token"),
        BOT,
        &[("grant_type", "client_credentials")],
    )
    .await;
    let jwt = bot.str("access_token");
    assert_eq!(introspect(cc, "aiod", RS, &jwt).await.json["active"], true);
    assert_eq!(
        post_basic(&b.endpoint("aiod", "revoke"), BOT, &[("token", &jwt)])
            .await
            .status,
        200
    );
    assert_eq!(introspect(cc, "aiod", RS, &jwt).await.json["active"], false);
}

#[tokio::test]
async fn a_key_rotated_by_one_replica_verifies_on_all() {
    let c = cluster(3).await;
    let (a, b, cc) = (&c.replicas[0], &c.replicas[1], &c.replicas[2]);
    let mint = |s: &TestServer| {
        let url = s.endpoint("aiod", "token");
        async move {
            post_basic(&url, BOT, &[("grant_type", "client_credentials")])
                .await
                .str("access_token")
        }
    };
    let before = mint(a).await;
    let old_kid = jsonwebtoken::decode_header(&before).unwrap().kid.unwrap();
    let state = &a.running.state;
    keyport_server::setup::rotate_keys(state.store.as_ref(), state.now(), None, 360)
        .await
        .unwrap();
    state.keys.reload(state.store.as_ref()).await.unwrap();
    let after = mint(a).await;
    let new_kid = jsonwebtoken::decode_header(&after).unwrap().kid.unwrap();
    assert_ne!(old_kid, new_kid, "A signs with the new key");
    // B and C have never seen the new kid: they reload on it. Tokens of the old key still verify (overlap).
    // (Unknown-kid reloads are rate-limited to one a second per replica.)
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for r in [b, cc] {
        assert_eq!(introspect(r, "aiod", RS, &after).await.json["active"], true);
        assert_eq!(
            introspect(r, "aiod", RS, &before).await.json["active"],
            true
        );
    }
    let jwks = get(&b.endpoint("aiod", "certs")).await.json;
    assert!(jwks.to_string().contains(&new_kid) && jwks.to_string().contains(&old_kid));
}

#[tokio::test]
async fn the_same_refresh_token_at_two_replicas_never_has_two_winners() {
    let c = cluster(2).await;
    let (a, b) = (&c.replicas[0], &c.replicas[1]);
    let pw = [
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "bob-password-1"),
    ];
    let mut winners_seen = 0;
    for _ in 0..25 {
        let rt = post_basic(&a.endpoint("aiod", "token"), LEGACY, &pw)
            .await
            .str("refresh_token");
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        let (ua, ub) = (a.endpoint("aiod", "token"), b.endpoint("aiod", "token"));
        let (ra, rb) = tokio::join!(
            post_basic(&ua, LEGACY, &form),
            post_basic(&ub, LEGACY, &form)
        );
        let winners = [&ra, &rb].iter().filter(|r| r.status == 200).count();
        assert!(winners <= 1, "two winners: {ra:?} {rb:?}");
        for r in [&ra, &rb] {
            assert!(
                r.status == 200 || r.json["error"] == "invalid_grant",
                "{r:?}"
            );
        }
        winners_seen += winners;
    }
    assert!(winners_seen > 0, "some refresh must succeed");
}

#[tokio::test]
async fn a_database_outage_gives_503_and_service_resumes() {
    let c = cluster(1).await;
    let a = &c.replicas[0];
    let cc_grant = [("grant_type", "client_credentials")];
    assert_eq!(
        post_basic(&a.endpoint("aiod", "token"), BOT, &cc_grant)
            .await
            .status,
        200
    );

    let mut admin = sqlx::PgConnection::connect(&TestDatabase::admin_url())
        .await
        .unwrap();
    let name = &c.db.name;
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
    ))
    .execute(&mut admin)
    .await
    .unwrap();

    // A device authorization must write, so it sees the outage. (A client-credentials grant of a client read
    // within the last second may still be answered from the replica's cache: it writes nothing.)
    let device = [("client_id", "aiod-sdk")];
    let down = post(&a.endpoint("aiod", "auth/device"), &device).await;
    down.assert_error(503, "temporarily_unavailable");
    let ready = get(&format!("{}/health/ready", a.url)).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.json["status"], "DOWN");

    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if post(&a.endpoint("aiod", "auth/device"), &device)
            .await
            .status
            == 200
        {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "service resumes when the database is back");
    assert_eq!(get(&format!("{}/health/ready", a.url)).await.status, 200);
}

#[tokio::test]
async fn a_change_on_one_replica_reaches_the_caches_of_the_others() {
    let c = cluster(2).await;
    let (a, b) = (&c.replicas[0], &c.replicas[1]);
    let admin = admin_support::admin_token(a).await;
    let created = admin_support::apost(a, "tokens", &admin, json!({"name": "ci"})).await;
    let (token, token_id) = (created.str("token"), created.str("token_id"));
    let bot = admin_support::apost(a, "clients", &admin, json!({"client_id": "cache-bot"})).await;
    assert_eq!(bot.status, 201, "{bot:?}");
    let secret = bot.str("secret");
    let cc = |s: &TestServer| {
        let url = s.endpoint("aiod", "token");
        let secret = secret.clone();
        async move {
            post_basic(
                &url,
                ("cache-bot", &secret),
                &[("grant_type", "client_credentials")],
            )
            .await
        }
    };
    // B reads both once, and so caches them.
    assert_eq!(introspect(b, "aiod", RS, &token).await.json["active"], true);
    assert_eq!(cc(b).await.status, 200);
    let before = b.running.state.caches.generation();

    assert_eq!(
        admin_support::adelete(a, &format!("tokens/{token_id}"), &admin)
            .await
            .status,
        204
    );
    assert_eq!(
        admin_support::adelete(a, "clients/cache-bot", &admin)
            .await
            .status,
        204
    );
    // B hears of it by NOTIFY (its caches are emptied: a new generation), well within the TTL bound...
    let deadline = std::time::Instant::now() + keyport_server::cache::TTL;
    while b.running.state.caches.generation() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "B was not notified within the cache TTL"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // ...and refuses both.
    assert_eq!(
        introspect(b, "aiod", RS, &token).await.json,
        json!({"active": false})
    );
    cc(b).await.assert_error(401, "invalid_client");
}
