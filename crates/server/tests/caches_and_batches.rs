//! What the request-path shortcuts of the benchmark issue must not change: API-token uses written off the
//! request path still all reach the audit log (also across a shutdown), concurrent rotations of one refresh token
//! grouped into one statement still have one winner, and the realm's ID-token algorithm is honoured. That a
//! revocation empties the cache at once is asserted by admin_api.rs's walk-through (it uses the token first).

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use keyport_testkit::TestServer;
use serde_json::json;

/// Bob signs in with the password grant through `client`, asking for `scope` when given.
async fn bob_login(url: &str, client: (&str, &str), scope: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "password"),
        ("username", "bob"),
        ("password", "bob-password-1"),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    post_basic(url, client, &form).await
}

/// A refresh through `legacy-app`.
async fn legacy_refresh(url: &str, refresh_token: &str) -> Reply {
    post_basic(
        url,
        LEGACY,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await
}

/// Runs the requests concurrently; their replies, in order.
async fn all<F: std::future::Future<Output = Reply> + Send + 'static>(
    requests: impl Iterator<Item = F>,
) -> Vec<Reply> {
    let handles: Vec<_> = requests.map(tokio::spawn).collect();
    let mut replies = Vec::new();
    for h in handles {
        replies.push(h.await.unwrap());
    }
    replies
}

#[tokio::test]
async fn token_uses_waiting_in_memory_are_written_at_shutdown() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let created = apost(&s, "tokens", &admin, json!({"name": "ci"})).await;
    assert_eq!(created.status, 201, "{created:?}");
    let (token, token_id) = (created.str("token"), created.str("token_id"));
    for _ in 0..3 {
        let r = introspect(&s, "aiod", RS, &token).await;
        assert_eq!(r.json["active"], true, "{r:?}");
    }
    assert_eq!(
        get_bearer(&s.endpoint("aiod", "userinfo"), &token)
            .await
            .status,
        200
    );
    // Straight to a graceful stop: whatever the writer has not written yet is written on the way out.
    let data = s.stop().await;
    let s = TestServer::start_in(data, CONFIG).await;
    let uses = aget(&s, &format!("audit?token_id={token_id}"), &admin).await;
    assert_eq!(uses.status, 200, "{uses:?}");
    let actions: Vec<&str> = uses
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "token.introspect").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "token.use").count(),
        1,
        "{actions:?}"
    );
    let list = aget(&s, "tokens", &admin).await;
    let row = list
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["token_id"] == token_id.as_str())
        .unwrap()
        .clone();
    assert!(row["last_used_at"].is_i64(), "{row}");
}

#[tokio::test]
async fn concurrent_rotations_of_one_refresh_token_have_one_winner() {
    let s = server().await;
    let login = bob_login(&s.endpoint("aiod", "token"), LEGACY, None).await;
    assert_eq!(login.status, 200, "{login:?}");
    let rt = login.str("refresh_token");
    // Eight at once: they reach the rotation writer together and share a batch (one statement).
    let url = s.endpoint("aiod", "token");
    let tries = (0..8).map(|_| {
        let (url, rt) = (url.clone(), rt.clone());
        async move { legacy_refresh(&url, &rt).await }
    });
    let replies = all(tries).await;
    let winners: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        r.assert_error(400, "invalid_grant");
    }
    // The replays ended the family: the winner's new refresh token is dead too.
    legacy_refresh(&url, &winners[0].str("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rotations_of_different_tokens_in_one_batch_all_succeed() {
    let s = server().await;
    let url = s.endpoint("aiod", "token");
    let mut tokens = Vec::new();
    for _ in 0..6 {
        let login = bob_login(&url, LEGACY, None).await;
        tokens.push(login.str("refresh_token"));
    }
    let tries = tokens.iter().map(|rt| {
        let (url, rt) = (url.clone(), rt.clone());
        async move { legacy_refresh(&url, &rt).await }
    });
    let replies = all(tries).await;
    for r in &replies {
        assert_eq!(r.status, 200, "{r:?}");
        // Each new token works (and its parent is spent).
        let again = legacy_refresh(&url, &r.str("refresh_token")).await;
        assert_eq!(again.status, 200, "{again:?}");
    }
}

#[tokio::test]
async fn the_realm_and_the_client_choose_the_id_token_algorithm() {
    // The realm signs ID tokens with ES256; one client keeps RS256.
    let config = CONFIG
        .replacen(
            "scopes = [\"models:read\"]",
            "scopes = [\"models:read\"]\nid_token_algorithm = \"ES256\"",
            1,
        )
        .replacen(
            "grants = [\"password\", \"refresh_token\"]\n",
            "grants = [\"password\", \"refresh_token\"]\n\n[[realms.clients]]\nclient_id = \"legacy-rsid\"\n\
             secret = \"legacy-rsid-secret-0123456789-abcdef-01\"\ngrants = [\"password\"]\n\
             id_token_algorithm = \"RS256\"\n",
            1,
        );
    let s = TestServer::start(&config).await;
    let login = bob_login(&s.endpoint("aiod", "token"), LEGACY, Some("openid")).await;
    assert_eq!(login.status, 200, "{login:?}");
    let id = login.str("id_token");
    let header = jsonwebtoken::decode_header(&id).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let claims = verify_with_jwks(&s, "aiod", &id).await;
    assert_eq!(claims["typ"], "ID");
    assert_eq!(claims["aud"], "legacy-app");
    let login = bob_login(
        &s.endpoint("aiod", "token"),
        ("legacy-rsid", "legacy-rsid-secret-0123456789-abcdef-01"),
        Some("openid"),
    )
    .await;
    assert_eq!(login.status, 200, "{login:?}");
    let id = login.str("id_token");
    assert_eq!(
        jsonwebtoken::decode_header(&id).unwrap().alg,
        jsonwebtoken::Algorithm::RS256
    );
    verify_with_jwks(&s, "aiod", &id).await;
    // The other realm keeps the default.
    let default = TestServer::start(CONFIG).await;
    let login = bob_login(&default.endpoint("aiod", "token"), LEGACY, Some("openid")).await;
    let header = jsonwebtoken::decode_header(login.str("id_token")).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
}

/// A token for the usage-flush test (no user behind it: `record_usage` touches only the token row).
fn flush_token(id: &str, created_at: i64) -> keyport_server::store::ApiToken {
    keyport_server::store::ApiToken {
        id: id.into(),
        realm: "aiod".into(),
        token_hash: format!("hash-{id}"),
        user_id: "nobody".into(),
        name: None,
        scopes: Vec::new(),
        unscoped: true,
        created_by: "nobody".into(),
        created_at,
        expires_at: created_at + 86_400,
        last_used_at: None,
        revoked_at: None,
    }
}

/// The audit rows of realm `aiod` since `t0` whose action starts with `prefix`, oldest first: the log lists newest
/// first, so reversed, rows written in one flush come back in the order given (ids ascend within a second).
async fn stored_in_order(
    st: &std::sync::Arc<dyn keyport_server::store::Store>,
    t0: i64,
    prefix: &str,
) -> Vec<keyport_server::store::AuditRecord> {
    let mut stored = st
        .list_audit(&keyport_server::store::AuditQuery {
            realm: "aiod".into(),
            since: Some(t0),
            max: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    stored.retain(|e| e.action.starts_with(prefix));
    stored.reverse();
    stored
}

#[tokio::test]
async fn a_usage_flush_stores_every_row_exactly_in_order_and_never_moves_last_used_back() {
    use keyport_server::store::AuditRecord;
    let s = server().await;
    let st = s.running.state.store.clone();
    // Recent times: the purge of entries past the retention runs in the background.
    let t0 = s.running.state.now() - 1_000;
    for id in ["flush-a", "flush-b"] {
        st.insert_api_token(&flush_token(id, t0)).await.unwrap();
    }
    let odd = [
        "plain",
        "quote \" and 'single'",
        "back\\slash \\u0041 \\\"",
        "new\nline\ttab\rcr",
        "ünïcödé € 😀 \u{2028}",
        "%_like* ? $1 :name",
        "[1,2]",
        "{\"a\":null}",
        "null",
        "\u{1}\u{1f}\u{7f}",
        "",
        " leading and trailing ",
        // What COPY's text format reads specially: NULL's marker, the end-of-data marker, a trailing backslash.
        "\\N",
        "\\.",
        "x\\",
    ];
    // More rows than a flush normally holds (`usage::FLUSH_AT`): on SQLite cut into statements of every one of the
    // fixed sizes (41 × 64 + 5 × 8 + 1), on PostgreSQL one COPY in text format, whose escaping and order
    // must hold.
    let batch: Vec<AuditRecord> = (0..2_665usize)
        .map(|i| {
            let o = |k: usize| odd[(i + k) % odd.len()].to_owned();
            AuditRecord {
                id: 0,
                at: t0 + (i / 7) as i64,
                realm: "aiod".into(),
                actor_user_id: (i % 3 != 0).then(|| o(1)),
                token_id: (i % 5 != 0).then(|| ["flush-a", "flush-b"][i % 2].to_owned()),
                action: format!("flush.{i}.{}", o(2)),
                target: (i % 4 != 0).then(|| o(3)),
                outcome: o(4),
                detail: (i % 2 == 0).then(|| o(5)),
            }
        })
        .collect();
    let last_used = |a: i64, b: i64| vec![("flush-a".to_owned(), a), ("flush-b".to_owned(), b)];
    st.record_usage(&AuditRecord::rows(&batch), &last_used(t0 + 100, t0 + 50))
        .await
        .unwrap();
    let stored = stored_in_order(&st, t0, "flush.").await;
    assert_eq!(stored.len(), batch.len());
    for (got, want) in stored.iter().zip(&batch) {
        assert_eq!(
            (
                got.at,
                &got.realm,
                &got.actor_user_id,
                &got.token_id,
                &got.action,
                &got.target,
                &got.outcome,
                &got.detail,
            ),
            (
                want.at,
                &want.realm,
                &want.actor_user_id,
                &want.token_id,
                &want.action,
                &want.target,
                &want.outcome,
                &want.detail,
            )
        );
    }
    let used = |id: &'static str| {
        let st = st.clone();
        async move {
            st.api_token("aiod", id)
                .await
                .unwrap()
                .unwrap()
                .last_used_at
        }
    };
    assert_eq!(used("flush-a").await, Some(t0 + 100));
    assert_eq!(used("flush-b").await, Some(t0 + 50));
    // An older use never moves `last_used_at` back; a newer one moves it forward; unknown ids change nothing.
    let mut later = last_used(t0 + 10, t0 + 60);
    later.push(("flush-unknown".into(), t0 + 70));
    st.record_usage(&[], &later).await.unwrap();
    assert_eq!(used("flush-a").await, Some(t0 + 100));
    assert_eq!(used("flush-b").await, Some(t0 + 60));
}

#[tokio::test]
async fn a_backlog_larger_than_one_statement_is_stored_whole_and_in_order() {
    use keyport_server::store::AuditRecord;
    // What a flush writes after a store outage: more rows than one statement takes on either backend
    // (PostgreSQL: 10,000 a COPY; SQLite: 64 an INSERT), several to a second.
    let s = server().await;
    let st = s.running.state.store.clone();
    let t0 = s.running.state.now() - 1_000;
    let batch: Vec<AuditRecord> = (0..25_001i64)
        .map(|i| AuditRecord {
            at: t0 + i / 100,
            realm: "aiod".into(),
            action: format!("backlog.{i}"),
            outcome: "success".into(),
            ..Default::default()
        })
        .collect();
    st.record_usage(&AuditRecord::rows(&batch), &[])
        .await
        .unwrap();
    let stored = stored_in_order(&st, t0, "backlog.").await;
    let actions: Vec<&str> = stored.iter().map(|e| e.action.as_str()).collect();
    let wanted: Vec<&str> = batch.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, wanted);
}

/// A refresh token of session `session` in realm "r" (client "c"), for the store-level tests below.
fn store_token(hash: &str, session: &str, at: i64) -> keyport_server::store::RefreshToken {
    keyport_server::store::RefreshToken {
        token_hash: hash.into(),
        session_id: session.into(),
        realm: "r".into(),
        client_id: "c".into(),
        created_at: at,
        expires_at: 1_000,
        used_at: None,
    }
}

#[tokio::test]
async fn a_refresh_token_has_one_successor_within_a_batch_and_across_batches() {
    use keyport_server::store::{Rotated, SessionStart, SqliteStore, Store};
    use std::sync::Arc;

    async fn check(store: Arc<dyn Store>) {
        store.insert_user(&store_user("u")).await.unwrap();
        let token = |hash: &str, at: i64| store_token(hash, "s", at);
        for (session, first) in [("s", "p"), ("s2", "q")] {
            let started = store
                .create_session(
                    &store_session(session, "u", 2),
                    Some(&store_token(first, session, 2)),
                )
                .await
                .unwrap();
            assert_eq!(started, SessionStart::Started);
        }
        // Two rotations of `p` in one statement, and one of another token between them: the first of `p`'s wins.
        let batch = [
            ("p".to_owned(), token("a", 3)),
            ("q".to_owned(), store_token("b", "s2", 3)),
            ("p".to_owned(), token("c", 3)),
        ];
        assert_eq!(
            store.rotate_refresh_tokens(&batch).await.unwrap(),
            [Rotated::Done, Rotated::Done, Rotated::AlreadyUsed]
        );
        assert!(
            store.refresh_token("c").await.unwrap().is_none(),
            "the loser was stored"
        );
        assert_eq!(
            store.refresh_token("p").await.unwrap().unwrap().used_at,
            Some(3)
        );
        assert_eq!(
            store.refresh_token("q").await.unwrap().unwrap().used_at,
            Some(3)
        );
        assert_eq!(
            store.refresh_token("a").await.unwrap().unwrap().used_at,
            None
        );
        // A later batch: `p` is spent; its successor rotates once.
        assert_eq!(
            store
                .rotate_refresh_tokens(&[
                    ("p".to_owned(), token("d", 4)),
                    ("a".to_owned(), token("e", 4))
                ])
                .await
                .unwrap(),
            [Rotated::AlreadyUsed, Rotated::Done]
        );
        assert!(store.refresh_token("d").await.unwrap().is_none());
        assert_eq!(
            store.refresh_token("a").await.unwrap().unwrap().used_at,
            Some(4)
        );
        assert_eq!(
            store
                .rotate_refresh_tokens(&[("a".to_owned(), token("f", 5))])
                .await
                .unwrap(),
            [Rotated::AlreadyUsed]
        );
    }
    let dir = tempfile::tempdir().unwrap();
    check(Arc::new(SqliteStore::open(dir.path()).await.unwrap())).await;
    let db = keyport_testkit::TestDatabase::create().await;
    check(Arc::new(pg_store(&db).await)).await;
}

#[tokio::test]
async fn on_sqlite_a_token_whose_parent_is_gone_gets_no_successor() {
    // Migration 0013's trigger: a rotation needs its parent present and unused (a parent purged between the
    // refresh's read and its rotation could otherwise get two successors, with no unique index to stop it).
    use keyport_server::store::{Rotated, SessionStart, SqliteStore, Store, TokenStore};
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).await.unwrap();
    store.insert_user(&store_user("u")).await.unwrap();
    let started = store
        .create_session(&store_session("s", "u", 1), None)
        .await
        .unwrap();
    assert_eq!(started, SessionStart::Started);
    let rotated = store
        .rotate_refresh_tokens(&[("purged".into(), store_token("new", "s", 1))])
        .await
        .unwrap();
    assert_eq!(rotated, [Rotated::AlreadyUsed]);
    assert!(store.refresh_token("new").await.unwrap().is_none());
}
