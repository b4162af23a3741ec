//! The portal's administrator pages (issue 12) over HTTP, with testkit's cookie-keeping `Browser`: who sees
//! them (403 for anyone else, also typed as a URL or posted to), realm A's administrator cannot reach realm B,
//! the master realm's administrator switches realms, and a token revoked in the page is refused by introspection
//! at once. Users, clients and the audit page are in `portal_admin_objects.rs`.

mod portal_support;

use keyport_testkit::{ADMIN_PASSWORD, TestServer};
use portal_support::*;
use serde_json::json;

#[tokio::test]
async fn a_user_who_is_not_an_administrator_sees_no_admin_page() {
    let s = TestServer::start(CONFIG).await;
    let alice_id = store(&s)
        .user_by_username("aiod", "alice")
        .await
        .unwrap()
        .unwrap()
        .id;
    let robot = api(
        &s,
        reqwest::Method::POST,
        "users",
        Some(json!({"username": "robot", "machine": true})),
    )
    .await;
    let token = api(
        &s,
        reqwest::Method::POST,
        "tokens",
        Some(json!({"user_id": "robot", "scopes": ["read_user_session"]})),
    )
    .await;
    let token_id = token["token_id"].as_str().unwrap();

    let (bob, home) = signed_in(&s, "aiod", "bob", "bob-password-1").await;
    for label in ["Token Management", "Users", "Clients", "Audit"] {
        assert!(
            !home.contains(&format!(">{label}</a>")),
            "{label}: {}",
            home.html
        );
    }
    let typed = [
        format!("/account/admin/users/{alice_id}"),
        format!(
            "/account/admin/users/{}/delete",
            robot["id"].as_str().unwrap()
        ),
        format!("/account/admin/tokens/{token_id}"),
        "/account/admin/users?realm=other".into(),
    ];
    for path in ADMIN_PAGES.iter().map(|p| p.to_string()).chain(typed) {
        let r = bob.get(&path).await;
        assert_eq!(r.status, 403, "{path}: {}", r.html);
        assert!(!r.contains(token_id), "{path}");
    }
    // Forms posted with bob's own valid CSRF token are refused too, and change nothing.
    let csrf = home.csrf();
    for (path, form) in [
        ("/account/admin/tokens/revoke", vec![("token_id", token_id)]),
        ("/account/admin/users", vec![("username", "bobs-robot")]),
        (
            "/account/admin/clients",
            vec![
                ("client_id", "bobs-client"),
                ("grant_client_credentials", "on"),
            ],
        ),
        ("/account/admin/clients/resource-server/delete", vec![]),
    ] {
        let mut form = form;
        form.push(("csrf", &csrf));
        let r = bob.post(path, &form).await;
        assert_eq!(r.status, 403, "{path}: {}", r.html);
    }
    assert_eq!(
        introspect(&s, token["token"].as_str().unwrap()).await["active"],
        true
    );
    let st = store(&s);
    assert!(
        st.user_by_username("aiod", "bobs-robot")
            .await
            .unwrap()
            .is_none()
    );
    assert!(st.client("aiod", "bobs-client").await.unwrap().is_none());
    assert!(
        st.client("aiod", "resource-server")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn an_administrator_of_one_realm_cannot_see_another() {
    let s = TestServer::start(CONFIG).await;
    let (alice, home) = signed_in(&s, "aiod", "alice", "alice-password-1").await;
    assert!(home.contains(">Token Management</a>"), "{}", home.html);
    let users = alice.get("/account/admin/users").await;
    assert_eq!(users.status, 200, "{}", users.html);
    assert!(users.contains(">alice</a>") && users.contains(">bob</a>"));
    assert!(!users.contains("carol"), "realm other's user");
    assert!(!users.contains("Realm to administer"), "no realm selector");
    for path in ADMIN_PAGES {
        let r = alice.get(&format!("{path}?realm=other")).await;
        assert_eq!(r.status, 403, "{path}: {}", r.html);
        assert!(!r.contains("carol"));
        assert!(
            r.contains("Only administrators of realm master"),
            "{}",
            r.html
        );
    }
    // Nor by a form naming the other realm.
    let r = alice
        .post(
            "/account/admin/users",
            &[
                ("csrf", &home.csrf()),
                ("realm", "other"),
                ("username", "intruder"),
            ],
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.html);
    assert!(
        store(&s)
            .user_by_username("other", "intruder")
            .await
            .unwrap()
            .is_none()
    );
    // An unknown realm is not found.
    assert_eq!(
        alice.get("/account/admin/users?realm=nowhere").await.status,
        403,
        "not even whether it exists"
    );
}

#[tokio::test]
async fn the_master_administrator_switches_realms() {
    let s = TestServer::start(CONFIG).await;
    let (admin, _) = signed_in(&s, "master", "admin", ADMIN_PASSWORD).await;
    let own = admin.get("/account/admin/users").await;
    assert_eq!(own.status, 200, "{}", own.html);
    assert!(own.contains("Realm to administer"), "{}", own.html);
    for realm in ["aiod", "master", "other"] {
        assert!(
            own.contains(&format!("<option value=\"{realm}\"")),
            "{realm}"
        );
    }
    let aiod = admin.get("/account/admin/users?realm=aiod").await;
    assert_eq!(aiod.status, 200, "{}", aiod.html);
    assert!(aiod.contains("Administering realm <b>aiod</b>"));
    assert!(aiod.contains(">alice</a>") && !aiod.contains(">carol</a>"));
    // Links and the nav keep the realm.
    let admin_links: Vec<String> = links(&aiod)
        .into_iter()
        .filter(|l| l.contains("/account/admin/"))
        .collect();
    assert!(admin_links.len() >= 6, "{admin_links:?}");
    for l in &admin_links {
        assert!(l.contains("realm=aiod"), "{l}");
    }
    // A machine user made from master's portal lands in aiod, audited there with master's admin as the actor.
    let r = admin
        .post(
            "/account/admin/users",
            &[
                ("csrf", &aiod.csrf()),
                ("realm", "aiod"),
                ("username", "made-by-master"),
                ("roles", "bot"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    let location = r.location.clone().unwrap();
    assert!(location.contains("realm=aiod"), "{location}");
    let page = admin.follow(r).await;
    assert!(page.contains("User made-by-master"), "{}", page.html);
    let st = store(&s);
    let user = st
        .user_by_username("aiod", "made-by-master")
        .await
        .unwrap()
        .expect("created in aiod");
    assert!(
        st.user_by_username("master", "made-by-master")
            .await
            .unwrap()
            .is_none()
    );
    let master_admin = st
        .user_by_username("master", "admin")
        .await
        .unwrap()
        .unwrap();
    let audit = admin
        .get("/account/admin/audit?realm=aiod&action=user.create")
        .await;
    let entry = rows(&audit)
        .into_iter()
        .find(|r| r.contains(&user.id))
        .unwrap_or_else(|| panic!("{}", audit.html));
    assert!(entry.contains(&master_admin.id), "{entry}");
}

#[tokio::test]
async fn a_token_revoked_in_the_page_is_refused_by_introspection_at_once() {
    let s = TestServer::start(CONFIG).await;
    api(
        &s,
        reqwest::Method::POST,
        "users",
        Some(json!({"username": "robot", "machine": true})),
    )
    .await;
    let made = api(
        &s,
        reqwest::Method::POST,
        "tokens",
        Some(json!({"user_id": "robot", "scopes": ["read_user_session"], "name": "robot key"})),
    )
    .await;
    let (token, token_id) = (
        made["token"].as_str().unwrap(),
        made["token_id"].as_str().unwrap(),
    );
    assert_eq!(introspect(&s, token).await["active"], true);

    let (alice, _) = signed_in(&s, "aiod", "alice", "alice-password-1").await;
    // Token Management → User Scoped Tokens, filtered by the machine user.
    let tm = alice.get("/account/admin/tokens").await;
    assert_eq!(tm.status, 200, "{}", tm.html);
    assert!(tm.contains(">User Scoped Tokens</a>"));
    assert!(
        !tm.contains(token_id),
        "a scoped token is not a personal one"
    );
    let scoped = alice.get("/account/admin/tokens/scoped?user=robot").await;
    assert_eq!(scoped.status, 200, "{}", scoped.html);
    let row = rows(&scoped)
        .into_iter()
        .find(|r| r.contains(token_id))
        .unwrap_or_else(|| panic!("{}", scoped.html));
    for text in [">robot</a>", "read_user_session", "robot key", "active"] {
        assert!(row.contains(text), "{text}: {row}");
    }
    assert!(row.contains(&format!("aria-label=\"Revoke token {token_id}\"")));
    // The introspection above was its first use.
    assert!(!row.contains("never"), "{row}");
    assert!(!scoped.contains(token), "never the secret");
    // Another user's filter does not show it; an unknown user says so.
    assert!(
        !alice
            .get("/account/admin/tokens/scoped?user=bob")
            .await
            .contains(token_id)
    );
    let unknown = alice.get("/account/admin/tokens/scoped?user=nobody").await;
    assert_eq!(unknown.status, 200);
    assert!(unknown.contains("no user `nobody`"), "{}", unknown.html);

    let r = alice
        .post(
            "/account/admin/tokens/revoke",
            &[
                ("csrf", &scoped.csrf()),
                ("token_id", token_id),
                ("user", "robot"),
                ("back", "scoped"),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.html);
    assert!(
        r.location
            .as_deref()
            .unwrap()
            .ends_with("/account/admin/tokens/scoped?user=robot&flash=token-revoked"),
        "{:?}",
        r.location
    );
    assert_eq!(introspect(&s, token).await["active"], false, "at once");
    let after = alice.follow(r).await;
    assert!(after.contains("The token was revoked"), "{}", after.html);
    let row = rows(&after)
        .into_iter()
        .find(|r| r.contains(token_id))
        .unwrap();
    assert!(
        row.contains("revoked") && !row.contains("Revoke token"),
        "{row}"
    );
    // The token's own page, where audit entries link.
    let one = alice
        .get(&format!("/account/admin/tokens/{token_id}"))
        .await;
    assert_eq!(one.status, 200, "{}", one.html);
    assert!(one.contains("id=\"token-status\">revoked"), "{}", one.html);
    // The revocation is audited like the admin API's, with alice as the actor.
    let audit = alice
        .get("/account/admin/audit?action=token.revoke&token=")
        .await;
    let entry = rows(&audit)
        .into_iter()
        .find(|r| r.contains(token_id))
        .unwrap_or_else(|| panic!("{}", audit.html));
    assert!(entry.contains(">alice</a>"), "{entry}");
    // A missing CSRF token is refused.
    let r = alice
        .post("/account/admin/tokens/revoke", &[("token_id", token_id)])
        .await;
    assert_eq!(r.status, 403);
}
