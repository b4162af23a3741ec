//! The portal's list queries at the store (issue 12), on the test backend (SQLite, or PostgreSQL with
//! `KEYPORT_TEST_BACKEND=postgres`): keyset pages (`after`/`before`) walk exactly the rows an offset query
//! returns, in the same order, for every filter, including rows that share a timestamp; user search matches a
//! part of the username or email whatever the case and takes `%`/`_` literally; the admin API's new calls
//! (search, enable/disable, secret rotation) over HTTP.

mod admin_support;
mod common;

use std::sync::Arc;

use admin_support::*;
use common::*;
use keyport_server::store::{
    ApiToken, AuditQuery, AuditRecord, Store, TokenKind, TokenQuery, UserQuery,
};
use serde_json::json;

fn store(s: &keyport_testkit::TestServer) -> Arc<dyn Store> {
    s.running.state.store.clone()
}

fn token(i: usize, user_id: &str, unscoped: bool, created_at: i64) -> ApiToken {
    ApiToken {
        id: format!("tok{i:03}"),
        realm: "aiod".into(),
        token_hash: format!("hash{i:03}"),
        user_id: user_id.into(),
        name: Some(format!("token {i}")),
        scopes: if unscoped {
            Vec::new()
        } else {
            vec!["models:read".into()]
        },
        unscoped,
        created_by: user_id.into(),
        created_at,
        expires_at: created_at + 86400,
        last_used_at: None,
        revoked_at: None,
    }
}

/// Every page of `query` by keyset, `size` at a time.
async fn token_pages(store: &dyn Store, query: &TokenQuery, size: i64) -> Vec<String> {
    let mut seen = Vec::new();
    let mut q = TokenQuery {
        max: size,
        ..query.clone()
    };
    loop {
        let page = store.list_api_tokens(&q).await.unwrap();
        assert!(page.len() as i64 <= size);
        let Some((last, _)) = page.last() else {
            return seen;
        };
        q.after = Some((last.created_at, last.id.clone()));
        seen.extend(page.iter().map(|(t, _)| t.id.clone()));
    }
}

#[tokio::test]
async fn token_pages_by_keyset_match_the_offset_order_for_every_filter() {
    let s = server().await;
    let st = store(&s);
    let alice = st.user_by_username("aiod", "alice").await.unwrap().unwrap();
    let bob = st.user_by_username("aiod", "bob").await.unwrap().unwrap();
    // 40 tokens, four to a second (ties broken by id), alternating users and kinds; recent and unexpired, so
    // the background purge leaves them alone.
    let t0 = s.running.state.now() - 10_000;
    for i in 0..40 {
        let user = if i % 3 == 0 { &bob.id } else { &alice.id };
        st.insert_api_token(&token(i, user, i % 4 == 0, t0 + (i as i64) / 4))
            .await
            .unwrap();
    }
    // A token of another realm never shows.
    let mut foreign = token(99, &alice.id, false, t0 + 5);
    foreign.realm = "other".into();
    st.insert_api_token(&foreign).await.unwrap();

    let filters = [
        (None, None),
        (None, Some(TokenKind::Scoped)),
        (None, Some(TokenKind::Personal)),
        (Some(bob.id.clone()), None),
        (Some(alice.id.clone()), Some(TokenKind::Scoped)),
    ];
    for (user_id, kind) in filters {
        let query = TokenQuery {
            realm: "aiod".into(),
            user_id: user_id.clone(),
            kind,
            max: 1000,
            ..Default::default()
        };
        let all = st.list_api_tokens(&query).await.unwrap();
        // Newest first, ties by id descending; the filter holds.
        for w in all.windows(2) {
            let (a, b) = (&w[0].0, &w[1].0);
            assert!(
                (a.created_at, &a.id) > (b.created_at, &b.id),
                "order: {} then {}",
                a.id,
                b.id
            );
        }
        for (t, owner) in &all {
            assert_eq!(t.realm, "aiod");
            if let Some(u) = &user_id {
                assert_eq!(&t.user_id, u);
            }
            match kind {
                Some(TokenKind::Personal) => assert!(t.unscoped),
                Some(TokenKind::Scoped) => assert!(!t.unscoped),
                None => {}
            }
            let expected = if t.user_id == bob.id { "bob" } else { "alice" };
            assert_eq!(owner.as_deref(), Some(expected));
        }
        let expected = (0..40)
            .filter(|i| match &user_id {
                Some(u) if *u == bob.id => i % 3 == 0,
                Some(_) => i % 3 != 0,
                None => true,
            })
            .filter(|i| match kind {
                Some(TokenKind::Personal) => i % 4 == 0,
                Some(TokenKind::Scoped) => i % 4 != 0,
                None => true,
            })
            .count();
        assert_eq!(all.len(), expected, "{user_id:?} {kind:?}");
        let ids: Vec<String> = all.iter().map(|(t, _)| t.id.clone()).collect();
        for size in [1, 3, 7, 100] {
            assert_eq!(
                token_pages(st.as_ref(), &query, size).await,
                ids,
                "keyset pages of {size}, filter {user_id:?} {kind:?}"
            );
        }
        // Offset paging (the admin API's) gives the same rows.
        let second = st
            .list_api_tokens(&TokenQuery {
                first: 3,
                max: 3,
                ..query.clone()
            })
            .await
            .unwrap();
        let second: Vec<String> = second.into_iter().map(|(t, _)| t.id).collect();
        assert_eq!(second[..], ids[3..6.min(ids.len())]);
    }
}

fn entry(i: i64, actor: &str, token: Option<&str>, action: &str, at: i64) -> AuditRecord {
    AuditRecord {
        id: 0,
        at,
        realm: "aiod".into(),
        actor_user_id: Some(actor.into()),
        token_id: token.map(str::to_owned),
        action: action.into(),
        target: Some(format!("target{i}")),
        outcome: "success".into(),
        detail: None,
    }
}

#[tokio::test]
async fn audit_pages_by_keyset_match_the_offset_order_for_every_filter() {
    let s = server().await;
    let st = store(&s);
    // Whatever the server wrote at start stays out of the filters below (other actors, earlier times).
    let base = AuditQuery {
        realm: "aiod".into(),
        max: 1000,
        ..Default::default()
    };
    let before = st.list_audit(&base).await.unwrap().len();
    // Recent times: the purge of entries past the retention runs in the background.
    let t0 = s.running.state.now() - 1_000;
    let mut batch = Vec::new();
    for i in 0..60 {
        let actor = ["u1", "u2", "u3"][(i % 3) as usize];
        let token = (i % 2 == 0).then_some(if i % 4 == 0 { "tA" } else { "tB" });
        let action = if i % 5 == 0 {
            "token.revoke"
        } else {
            "token.use"
        };
        // Three entries a second: ties are broken by id.
        batch.push(entry(i, actor, token, action, t0 + i / 3));
    }
    st.record_usage(&AuditRecord::rows(&batch[..30]), &[])
        .await
        .unwrap();
    for e in &batch[30..] {
        st.insert_audit(e).await.unwrap();
    }
    let mut other = entry(0, "u1", Some("tA"), "token.use", t0 + 5);
    other.realm = "other".into();
    st.insert_audit(&other).await.unwrap();

    let s2 = |v: &str| Some(v.to_owned());
    let filters = [
        AuditQuery { ..base.clone() },
        AuditQuery {
            actor_user_id: s2("u2"),
            ..base.clone()
        },
        AuditQuery {
            token_id: s2("tA"),
            ..base.clone()
        },
        AuditQuery {
            action: s2("token.revoke"),
            ..base.clone()
        },
        AuditQuery {
            since: Some(t0 + 4),
            until: Some(t0 + 12),
            ..base.clone()
        },
        AuditQuery {
            actor_user_id: s2("u1"),
            token_id: s2("tA"),
            since: Some(t0 + 3),
            ..base.clone()
        },
    ];
    for query in filters {
        let all = st.list_audit(&query).await.unwrap();
        assert!(!all.is_empty(), "{query:?}");
        for w in all.windows(2) {
            assert!((w[0].at, w[0].id) > (w[1].at, w[1].id), "newest first");
        }
        for e in &all {
            assert_eq!(e.realm, "aiod");
            if let Some(a) = &query.actor_user_id {
                assert_eq!(e.actor_user_id.as_ref(), Some(a));
            }
            if let Some(t) = &query.token_id {
                assert_eq!(e.token_id.as_ref(), Some(t));
            }
            if let Some(a) = &query.action {
                assert_eq!(&e.action, a);
            }
            assert!(query.since.is_none_or(|since| e.at >= since));
            assert!(query.until.is_none_or(|until| e.at <= until));
        }
        let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
        for size in [1, 4, 25] {
            let mut q = AuditQuery {
                max: size,
                ..query.clone()
            };
            let mut seen = Vec::new();
            loop {
                let page = st.list_audit(&q).await.unwrap();
                let Some(last) = page.last() else { break };
                q.before = Some((last.at, last.id));
                seen.extend(page.iter().map(|e| e.id));
            }
            assert_eq!(seen, ids, "keyset pages of {size}, {query:?}");
        }
    }
    let everything = st.list_audit(&base).await.unwrap();
    assert_eq!(everything.len(), before + 60);
}

#[tokio::test]
async fn user_search_and_keyset_pages() {
    let s = server().await;
    let admin = admin_token(&s).await;
    for name in [
        "Carol",
        "carl_x",
        "carlax",
        "dave",
        "machine-1",
        "machine-2",
    ] {
        machine_user(&s, &admin, name).await;
    }
    let st = store(&s);
    let names = |users: Vec<keyport_server::store::User>| -> Vec<String> {
        users.into_iter().map(|u| u.username).collect()
    };
    let q = |search: Option<&str>, after: Option<&str>, max: i64| UserQuery {
        realm: "aiod".into(),
        search: search.map(str::to_owned),
        after: after.map(str::to_owned),
        max,
        ..Default::default()
    };
    // A part of the name, any case.
    assert_eq!(
        names(st.search_users(&q(Some("CAR"), None, 100)).await.unwrap()),
        ["Carol", "carl_x", "carlax"]
    );
    // `_` and `%` are literal.
    assert_eq!(
        names(st.search_users(&q(Some("l_"), None, 100)).await.unwrap()),
        ["carl_x"]
    );
    assert!(
        st.search_users(&q(Some("%"), None, 100))
            .await
            .unwrap()
            .is_empty()
    );
    // The email too (alice@example.org).
    assert_eq!(
        names(
            st.search_users(&q(Some("EXAMPLE.ORG"), None, 100))
                .await
                .unwrap()
        ),
        ["alice"]
    );
    // Keyset pages of two walk every user once, by username.
    let all = names(st.search_users(&q(None, None, 100)).await.unwrap());
    assert!(all.len() >= 8, "{all:?}");
    let mut seen: Vec<String> = Vec::new();
    loop {
        let page = names(
            st.search_users(&q(None, seen.last().map(String::as_str), 2))
                .await
                .unwrap(),
        );
        if page.is_empty() {
            break;
        }
        seen.extend(page);
    }
    assert_eq!(seen, all);
    let mut sorted = all.clone();
    sorted.sort();
    assert_eq!(all, sorted);

    // The admin API's `search` goes through the same query.
    let r = aget(&s, "users?search=machine-", &admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    let found: Vec<&str> = r
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["machine-1", "machine-2"]);
}

#[tokio::test]
async fn admin_api_disables_a_user_and_rotates_a_client_secret() {
    let s = server().await;
    let admin = admin_token(&s).await;
    let put = |path: &str, body| {
        let url = admin_url(&s, "aiod", path);
        let admin = admin.clone();
        async move { call(reqwest::Method::PUT, &url, &admin, Some(body)).await }
    };
    // Bob disabled: his password no longer works, and he is enabled again.
    let r = put("users/bob/enabled", json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["enabled"], false);
    let token = post_basic(
        &s.endpoint("aiod", "token"),
        LEGACY,
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "bob-password-1"),
        ],
    )
    .await;
    token.assert_error(400, "invalid_grant");
    let r = put("users/bob/enabled", json!({"enabled": true})).await;
    assert_eq!(r.json["enabled"], true, "{r:?}");
    // Not yourself.
    put("users/alice/enabled", json!({"enabled": false}))
        .await
        .assert_error(400, "invalid_request");
    let events: Vec<String> = audit(&s, &admin, "action=user.disable")
        .await
        .iter()
        .map(|e| e["outcome"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(events, ["success"]);

    // A client made through the API: its secret rotates, the old one stops working, the new one works.
    let r = apost(
        &s,
        "clients",
        &admin,
        json!({"client_id": "nightly", "roles": ["bot"]}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    let old = r.str("secret");
    let r = call(
        reqwest::Method::POST,
        &admin_url(&s, "aiod", "clients/nightly/secret"),
        &admin,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.headers.get("cache-control").unwrap(),
        "no-store",
        "a secret is never cached"
    );
    let new = r.str("secret");
    assert_ne!(old, new);
    let grant = [("grant_type", "client_credentials")];
    post_basic(&s.endpoint("aiod", "token"), ("nightly", &old), &grant)
        .await
        .assert_error(401, "invalid_client");
    let ok = post_basic(&s.endpoint("aiod", "token"), ("nightly", &new), &grant).await;
    assert_eq!(ok.status, 200, "{ok:?}");
    // A client of the configuration file keeps the file's secret; a public client has none; unknown is 404.
    for (client, status, code) in [
        ("pipeline-bot", 400, "invalid_request"),
        ("aiod-sdk", 400, "invalid_request"),
        ("nobody", 404, "not_found"),
    ] {
        call(
            reqwest::Method::POST,
            &admin_url(&s, "aiod", &format!("clients/{client}/secret")),
            &admin,
            None,
        )
        .await
        .assert_error(status, code);
    }
    // The list says where each client comes from, and never a secret.
    let r = aget(&s, "clients", &admin).await;
    let list = r.json.as_array().unwrap();
    let nightly = list.iter().find(|c| c["client_id"] == "nightly").unwrap();
    assert_eq!(nightly["from_config"], false);
    let bot = list
        .iter()
        .find(|c| c["client_id"] == "pipeline-bot")
        .unwrap();
    assert_eq!(bot["from_config"], true);
    assert!(!r.json.to_string().contains(&new));
    // A non-admin cannot rotate.
    let bob = access_token(&s, "bob", "bob-password-1").await;
    call(
        reqwest::Method::POST,
        &admin_url(&s, "aiod", "clients/nightly/secret"),
        &bob,
        None,
    )
    .await
    .assert_error(403, "access_denied");
}
