//! The admin API's access rules: who may call it, what non-administrators see, realms kept apart, and what
//! deleting a user ends. (Split from admin_api.rs, which keeps the seed walk-through and token life cycle.)

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use serde_json::json;

#[tokio::test]
async fn non_admins_get_403_and_only_their_own_tokens() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let bob = access_token(&s, "bob", "bob-password-1").await;

    let r = apost(
        &s,
        "users",
        &bob,
        json!({"username": "mallory", "machine": true}),
    )
    .await;
    r.assert_error(403, "access_denied");
    aget(&s, "users", &bob)
        .await
        .assert_error(403, "access_denied");
    aget(&s, "audit", &bob)
        .await
        .assert_error(403, "access_denied");
    adelete(&s, "users/alice", &bob)
        .await
        .assert_error(403, "access_denied");
    apost(
        &s,
        "tokens",
        &bob,
        json!({"user_id": "alice", "scopes": ["cli"]}),
    )
    .await
    .assert_error(403, "access_denied");

    // Bob may make, list and revoke his own personal token.
    let mine = apost(&s, "tokens", &bob, json!({"name": "bob's"})).await;
    assert_eq!(mine.status, 201, "{mine:?}");
    assert_eq!(mine.json["unscoped"], true);
    let bob_token = mine.str("token");
    let bob_token_id = mine.str("token_id");
    // His unscoped token carries his rights: not admin ones.
    apost(
        &s,
        "users",
        &bob_token,
        json!({"username": "m2", "machine": true}),
    )
    .await
    .assert_error(403, "access_denied");
    let info = apost(&s, "tokens/info", &bob_token, json!({"token": bob_token})).await;
    assert_eq!(info.json["role"], "user");
    assert_eq!(info.json["user_type"], "person");
    assert_eq!(info.json["unscoped"], true);
    // What his roles allow, and the default role → scopes map gives `user` nothing (issue 11, item 1): not the
    // whole catalogue.
    assert_eq!(info.json["scope"], "", "{info:?}");

    // Alice's tokens are invisible to Bob; his list holds only his.
    let list = aget(&s, "tokens", &bob).await;
    assert_eq!(list.status, 200);
    let ids: Vec<&str> = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![bob_token_id.as_str()]);
    let alice_tokens = aget(&s, "tokens", &admin).await;
    let alice_token_id = alice_tokens
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["username"] == "alice")
        .unwrap()["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Someone else's token id and an unknown one get the same answer: Bob cannot tell which ids exist
    // (issue 11).
    let theirs = adelete(&s, &format!("tokens/{alice_token_id}"), &bob).await;
    theirs.assert_error(404, "not_found");
    let unknown = adelete(&s, "tokens/0000000000000000", &bob).await;
    unknown.assert_error(404, "not_found");
    assert_eq!(
        theirs.json["error_description"]
            .as_str()
            .unwrap()
            .replace(&alice_token_id, "ID"),
        unknown.json["error_description"]
            .as_str()
            .unwrap()
            .replace("0000000000000000", "ID"),
    );

    apost(&s, "tokens/info", &bob, json!({"token": admin}))
        .await
        .assert_error(403, "access_denied");
    adelete(&s, "tokens/no-such-token", &bob)
        .await
        .assert_error(404, "not_found");
    assert_eq!(
        adelete(&s, &format!("tokens/{bob_token_id}"), &bob)
            .await
            .status,
        204
    );

    // The denials are audited.
    let denied: Vec<_> = audit(&s, &admin, "")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert!(denied.len() >= 5, "{denied:?}");

    // No credential at all: 401 with a challenge.
    let r = Reply::from(
        http()
            .get(admin_url(&s, "aiod", "users"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    r.assert_error(401, "invalid_token");
    aget(&s, "users", "not-a-token")
        .await
        .assert_error(401, "invalid_token");
    // Unknown realm: 404 JSON.
    let r = call(
        reqwest::Method::GET,
        &admin_url(&s, "nowhere", "users"),
        &admin,
        None,
    )
    .await;
    r.assert_error(404, "not_found");
}

#[tokio::test]
async fn deleting_a_user_ends_their_login_sessions() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let r = post_basic(
        &s.endpoint("aiod", "token"),
        LEGACY,
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "bob-password-1"),
            ("scope", "openid admin"),
        ],
    )
    .await;
    let (access, refresh_token) = (r.str("access_token"), r.str("refresh_token"));
    let personal = apost(&s, "tokens", &access, json!({"name": "bob's"}))
        .await
        .str("token");
    assert_eq!(adelete(&s, "users/bob", &admin).await.status, 204);
    assert_eq!(
        introspect(&s, "aiod", RS, &access).await.json["active"],
        false
    );
    assert_eq!(
        introspect(&s, "aiod", RS, &personal).await.json["active"],
        false
    );
    let again = post_basic(
        &s.endpoint("aiod", "token"),
        LEGACY,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
        ],
    )
    .await;
    again.assert_error(400, "invalid_grant");
    // Alice cannot delete herself.
    adelete(&s, "users/alice", &admin)
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn admins_create_people_and_stay_in_their_realm() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let person = apost(
        &s,
        "users",
        &admin,
        json!({"username": "carol", "password": "carol-password-1", "roles": ["user"]}),
    )
    .await;
    assert_eq!(person.status, 201, "{person:?}");
    assert_eq!(person.json["user_type"], "person");
    assert_eq!(person.json["email"], serde_json::Value::Null);
    let carol = access_token(&s, "carol", "carol-password-1").await;
    assert_eq!(
        get_bearer(&s.endpoint("aiod", "userinfo"), &carol)
            .await
            .json["preferred_username"],
        "carol"
    );
    apost(
        &s,
        "users",
        &admin,
        json!({"username": "m", "machine": true, "password": "xxxxxxxxxx"}),
    )
    .await
    .assert_error(400, "invalid_request");
    // An admin token of aiod is nothing in realm other.
    call(
        reqwest::Method::GET,
        &admin_url(&s, "other", "users"),
        &admin,
        None,
    )
    .await
    .assert_error(401, "invalid_token");
}

/// The crash rounds' finding: a login that read its user before a concurrent deletion must not leave an active
/// session behind. Session writes — plain ones and device-code redemptions, in turn — race `delete_user` on both
/// backends (on PostgreSQL from other connections, many times a second): every session a write reported as
/// started is ended afterwards, once the deletion is committed no write starts one, and no write fails (a
/// redemption that locked the grant before the user deadlocked against the deletion).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_started_while_their_user_is_deleted_end_with_the_user() {
    use keyport_server::store::{
        DeviceGrant, DeviceStatus, RefreshToken, SessionStart, SqliteStore, Store,
    };
    use std::sync::Arc;
    use std::time::Duration;

    async fn race(store: Arc<dyn Store>) {
        for round in 0..100 {
            let user_id = format!("u{round}");
            store.insert_user(&store_user(&user_id)).await.unwrap();
            let starting = {
                let (store, user_id) = (store.clone(), user_id.clone());
                tokio::spawn(async move {
                    let mut started = Vec::new();
                    for i in 0.. {
                        let session = store_session(&format!("{user_id}-s{i}"), &user_id, 2);
                        let outcome = if i % 2 == 0 {
                            store.create_session(&session, None).await.unwrap()
                        } else {
                            let grant = DeviceGrant {
                                device_code_hash: format!("{}-d", session.id),
                                user_code: format!("{}-U", session.id),
                                realm: "r".into(),
                                client_id: "c".into(),
                                scope: "openid".into(),
                                created_at: 2,
                                expires_at: 1_000,
                                interval_secs: 5,
                                last_poll_at: None,
                                status: DeviceStatus::Approved,
                                user_id: Some(user_id.clone()),
                            };
                            store.insert_device_grant(&grant).await.unwrap();
                            let refresh = RefreshToken {
                                token_hash: format!("{}-r", session.id),
                                session_id: session.id.clone(),
                                realm: "r".into(),
                                client_id: "c".into(),
                                created_at: 2,
                                expires_at: 1_000,
                                used_at: None,
                            };
                            store
                                .redeem_device_grant(&grant.device_code_hash, &session, &refresh)
                                .await
                                .unwrap()
                        };
                        match outcome {
                            SessionStart::Started => started.push(session.id),
                            // Gone with the user: the user row, or the approved grant `delete_user` removes.
                            SessionStart::UserGone | SessionStart::AlreadyUsed => return started,
                        }
                    }
                    unreachable!()
                })
            };
            // Let some sessions start before the deletion, so that the two overlap.
            tokio::time::sleep(Duration::from_micros(200 * (round % 5))).await;
            assert!(store.delete_user("r", &user_id, 3).await.unwrap());
            let started = starting.await.unwrap();
            for id in &started {
                let session = store.session(id).await.unwrap().unwrap();
                assert!(
                    session.ended_at.is_some(),
                    "round {round}: session {id} of the deleted user is still active ({} started)",
                    started.len()
                );
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    race(Arc::new(SqliteStore::open(dir.path()).await.unwrap())).await;
    let db = keyport_testkit::TestDatabase::create().await;
    race(Arc::new(pg_store(&db).await)).await;
}
