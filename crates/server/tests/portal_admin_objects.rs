//! The portal's administrator pages (issue 12) for the realm's objects, over HTTP with testkit's `Browser`:
//! machine users are created, given roles, disabled and deleted (after a confirmation page that says what goes
//! with them), a client secret is shown once, and the audit page filters and pages.

mod portal_support;

use keyport_server::store::AuditRecord;
use keyport_testkit::TestServer;
use portal_support::*;
use serde_json::json;

#[tokio::test]
async fn machine_users_are_created_given_roles_disabled_and_deleted() {
    let s = TestServer::start(CONFIG).await;
    let (alice, home) = signed_in(&s, "aiod", "alice", "alice-password-1").await;
    let csrf = home.csrf();
    let r = alice
        .post(
            "/account/admin/users",
            &[
                ("csrf", &csrf),
                ("username", "robot-2"),
                ("roles", "bot, reader"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    assert!(
        r.location
            .as_deref()
            .unwrap()
            .contains("flash=user-created")
    );
    let page = alice.follow(r).await;
    assert!(page.contains("The user was created."), "{}", page.html);
    assert!(
        page.contains("id=\"user-roles\">bot reader"),
        "{}",
        page.html
    );
    assert!(page.contains("machine"));
    let st = store(&s);
    let robot = st
        .user_by_username("aiod", "robot-2")
        .await
        .unwrap()
        .unwrap();
    assert!(robot.password_hash.is_none());
    assert!(robot.email.as_deref().unwrap().ends_with("@aiod.keyport"));
    // A taken username is explained.
    let again = alice
        .post(
            "/account/admin/users",
            &[("csrf", &csrf), ("username", "robot-2")],
        )
        .await;
    assert_eq!(again.status, 409, "{}", again.html);
    // The list finds it by a part of its name.
    let found = alice.get("/account/admin/users?search=BOT-").await;
    assert_eq!(rows(&found).len(), 1, "{}", found.html);
    assert!(found.contains(">robot-2</a>"));
    let people = alice.get("/account/admin/users?kind=person").await;
    assert!(people.contains(">bob</a>") && !people.contains(">robot-2</a>"));

    let base = format!("/account/admin/users/{}", robot.id);
    let r = alice
        .post(
            &format!("{base}/roles"),
            &[("csrf", &csrf), ("roles", "bot")],
        )
        .await;
    assert_eq!(r.status, 303);
    assert_eq!(
        st.user("aiod", &robot.id).await.unwrap().unwrap().roles,
        ["bot"]
    );
    // Disable bob: his password stops working; enable him again.
    let bob = st.user_by_username("aiod", "bob").await.unwrap().unwrap();
    let r = alice
        .post(
            &format!("/account/admin/users/{}/enabled", bob.id),
            &[("csrf", &csrf), ("enabled", "false")],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    let page = alice.follow(r).await;
    assert!(
        page.contains("id=\"user-status\">disabled"),
        "{}",
        page.html
    );
    let login = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth(ADMIN_CLI.0, Some(ADMIN_CLI.1))
        .form(&[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "bob-password-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 400);
    alice
        .post(
            &format!("/account/admin/users/{}/enabled", bob.id),
            &[("csrf", &csrf), ("enabled", "true")],
        )
        .await;
    assert!(st.user("aiod", &bob.id).await.unwrap().unwrap().enabled);

    // Delete: the confirmation page says what goes with the user; then the user and their token are gone.
    let made = api(
        &s,
        reqwest::Method::POST,
        "tokens",
        Some(json!({"user_id": "robot-2", "scopes": ["read_user_session"]})),
    )
    .await;
    let confirm = alice.get(&format!("{base}/delete")).await;
    assert_eq!(confirm.status, 200, "{}", confirm.html);
    for text in [
        "cannot be undone",
        "every API token of theirs is revoked (1 active now)",
        "every session of theirs ends",
        "signed out of these pages",
    ] {
        assert!(confirm.contains(text), "{text}: {}", confirm.html);
    }
    assert!(
        st.user("aiod", &robot.id).await.unwrap().is_some(),
        "not yet"
    );
    let r = alice
        .post(&format!("{base}/delete"), &[("csrf", &confirm.csrf())])
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    assert!(
        r.location
            .as_deref()
            .unwrap()
            .contains("flash=user-deleted")
    );
    assert!(st.user("aiod", &robot.id).await.unwrap().is_none());
    assert_eq!(
        introspect(&s, made["token"].as_str().unwrap()).await["active"],
        false
    );
    // An administrator cannot disable or delete themself.
    let alice_id = st
        .user_by_username("aiod", "alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let own = alice.get(&format!("/account/admin/users/{alice_id}")).await;
    assert!(!own.contains("Disable user") && !own.contains("Delete user"));
    let r = alice
        .post(
            &format!("/account/admin/users/{alice_id}/delete"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.html);
}

#[tokio::test]
async fn a_client_secret_is_shown_once_and_rotates() {
    let s = TestServer::start(CONFIG).await;
    let (alice, home) = signed_in(&s, "aiod", "alice", "alice-password-1").await;
    let csrf = home.csrf();
    let r = alice
        .http
        .post(alice.resolve("/realms/aiod/account/admin/clients"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("client_id", "nightly"),
            ("grant_client_credentials", "on"),
            ("roles", "bot"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let html = r.text().await.unwrap();
    let secret = regex::Regex::new(r#"id="client-secret">([^<]+)<"#)
        .unwrap()
        .captures(&html)
        .unwrap_or_else(|| panic!("{html}"))[1]
        .to_owned();
    assert!(html.contains("only time that the client secret can be viewed"));
    let token_url = s.endpoint("aiod", "token");
    let grant = |secret: String| {
        let url = token_url.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth("nightly", Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(grant(secret.clone()).await, 200);
    // The list never shows it; it lists the client and what it may do.
    let list = alice.get("/account/admin/clients").await;
    assert!(!list.contains(&secret));
    let row = rows(&list)
        .into_iter()
        .find(|r| r.contains("nightly"))
        .unwrap();
    assert!(
        row.contains("client_credentials") && row.contains("bot"),
        "{row}"
    );
    assert!(row.contains("Rotate the secret of nightly"));
    // A client of the configuration file cannot be changed here.
    let rs = rows(&list)
        .into_iter()
        .find(|r| r.contains("resource-server"))
        .unwrap();
    assert!(
        rs.contains("from the configuration file") && !rs.contains("Rotate"),
        "{rs}"
    );

    let rotated = alice
        .post("/account/admin/clients/nightly/secret", &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.html);
    let new = regex::Regex::new(r#"id="client-secret">([^<]+)<"#)
        .unwrap()
        .captures(&rotated.html)
        .unwrap()[1]
        .to_owned();
    assert_ne!(new, secret);
    assert!(rotated.contains("The previous secret"));
    assert_eq!(grant(secret).await, 401, "the old secret stops at once");
    assert_eq!(grant(new.clone()).await, 200);
    assert!(!alice.get("/account/admin/clients").await.contains(&new));
    // Rotating a configuration file's client is refused with the reason.
    let r = alice
        .post(
            "/account/admin/clients/resource-server/secret",
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.contains("configuration file"), "{}", r.html);
    // Delete.
    let r = alice
        .post("/account/admin/clients/nightly/delete", &[("csrf", &csrf)])
        .await;
    assert_eq!(r.status, 303);
    assert!(store(&s).client("aiod", "nightly").await.unwrap().is_none());
}

#[tokio::test]
async fn the_audit_page_filters_and_pages() {
    let s = TestServer::start(CONFIG).await;
    let st = store(&s);
    let bob = st.user_by_username("aiod", "bob").await.unwrap().unwrap();
    let now = s.running.state.now();
    // 130 uses of two tokens by bob over 130 minutes, and a few entries of others.
    let mut batch = Vec::new();
    for i in 0..130 {
        batch.push(AuditRecord {
            at: now - 130 * 60 + i * 60,
            realm: "aiod".into(),
            actor_user_id: Some(bob.id.clone()),
            token_id: Some(if i % 2 == 0 { "tok-even" } else { "tok-odd" }.into()),
            action: "token.use".into(),
            outcome: "success".into(),
            ..Default::default()
        });
    }
    st.record_usage(&AuditRecord::rows(&batch), &[])
        .await
        .unwrap();
    let (alice, _) = signed_in(&s, "aiod", "alice", "alice-password-1").await;

    // By user (a username works as well as an id): three pages of 50, 50 and 30, newest first, no repeats.
    let mut page = alice.get("/account/admin/audit?user=bob").await;
    assert_eq!(page.status, 200, "{}", page.html);
    let mut seen = Vec::new();
    loop {
        let r = rows(&page);
        assert!(r.len() <= 50);
        for row in &r {
            assert!(
                row.contains(&format!("users/{}", bob.id)),
                "links to the user: {row}"
            );
            assert!(row.contains(">bob</a>"), "{row}");
            assert!(
                row.contains("/account/admin/tokens/tok-"),
                "links to the token: {row}"
            );
        }
        seen.extend(r);
        match next_link(&page) {
            Some(next) => {
                assert!(
                    next.contains("user=bob") && next.contains("before="),
                    "{next}"
                );
                page = alice.get_url(&next).await;
                assert_eq!(page.status, 200);
                assert!(page.contains(">First page</a>"));
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 130);
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!(unique.len(), 130);

    // By token, action and time range.
    let odd = alice.get("/account/admin/audit?token=tok-odd").await;
    assert_eq!(rows(&odd).len(), 50);
    assert!(rows(&odd).iter().all(|r| r.contains("tok-odd")));
    let revokes = alice.get("/account/admin/audit?action=token.revoke").await;
    assert!(rows(&revokes).is_empty(), "{}", revokes.html);
    let since = now - 30 * 60;
    let recent = alice
        .get(&format!("/account/admin/audit?user=bob&since={since}"))
        .await;
    assert_eq!(rows(&recent).len(), 30, "{}", recent.html);
    // The form shows the time back as a date field (UTC).
    assert!(
        recent.contains("name=\"since\" value=\"20"),
        "{}",
        recent.html
    );
    let window = alice
        .get(&format!(
            "/account/admin/audit?user=bob&since={}&until={}",
            now - 60 * 60,
            now - 50 * 60
        ))
        .await;
    assert_eq!(rows(&window).len(), 11, "{}", window.html);
    // Nonsense is explained, not an error page.
    let bad = alice.get("/account/admin/audit?since=yesterday").await;
    assert_eq!(bad.status, 200);
    assert!(bad.contains("A time is not understood"));
    let reversed = alice
        .get(&format!(
            "/account/admin/audit?since={now}&until={}",
            now - 60
        ))
        .await;
    assert!(reversed.contains("is after"), "{}", reversed.html);
}
