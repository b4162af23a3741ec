//! The portal's administrator pages (issue 12) over HTTP, with testkit's cookie-keeping `Browser`: who sees
//! them (403 for anyone else, also typed as a URL or posted to), realm A's administrator cannot reach realm B,
//! the master realm's administrator switches realms, a token revoked in the page is refused by introspection at
//! once, machine users are created, given roles, disabled and deleted (after a confirmation page that says what
//! goes with them), a client secret is shown once, and the audit page filters and pages.

use keyport_server::store::{AuditRecord, Store};
use keyport_testkit::{ADMIN_PASSWORD, Browser, Page, TestServer, unescape};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[realms]]
name = "aiod"
scopes = ["models:read", "sessions:write"]

[[realms.clients]]
client_id = "resource-server"
secret = "resource-server-secret-0123456789-abcd"
grants = []

[[realms.clients]]
client_id = "admin-cli"
secret = "admin-cli-secret-0123456789-abcdef-0123"
grants = ["password"]
scopes = ["admin"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user", "admin"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
roles = ["user"]

[[realms]]
name = "other"

[[realms.users]]
username = "carol"
password = "carol-password-1"
roles = ["user", "admin"]
"#;

const RS: (&str, &str) = ("resource-server", "resource-server-secret-0123456789-abcd");
const ADMIN_CLI: (&str, &str) = ("admin-cli", "admin-cli-secret-0123456789-abcdef-0123");

/// A browser signed in to `realm`'s portal as `user` (through the sign-in detour).
async fn signed_in(s: &TestServer, realm: &str, user: &str, password: &str) -> (Browser, Page) {
    let b = Browser::new(&s.issuer(realm));
    let login = b.follow(b.get("/account/").await).await;
    let home = b.sign_in_as(&login, user, password).await;
    assert_eq!(home.status, 200, "{}", home.html);
    (b, home)
}

fn store(s: &TestServer) -> std::sync::Arc<dyn Store> {
    s.running.state.store.clone()
}

/// The admin API with an access token of alice that carries `admin`.
async fn api(s: &TestServer, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let http = reqwest::Client::new();
    let t: Value = http
        .post(s.endpoint("aiod", "token"))
        .basic_auth(ADMIN_CLI.0, Some(ADMIN_CLI.1))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
            ("scope", "openid admin"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut req = http
        .request(method, format!("{}/admin/realms/aiod/{path}", s.url))
        .bearer_auth(t["access_token"].as_str().unwrap());
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body} ");
    body
}

async fn introspect(s: &TestServer, token: &str) -> Value {
    reqwest::Client::new()
        .post(s.endpoint("aiod", "token/introspect"))
        .basic_auth(RS.0, Some(RS.1))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Every `href` of the page (entities decoded).
fn links(page: &Page) -> Vec<String> {
    let re = regex::Regex::new(r#"href="([^"]*)""#).unwrap();
    re.captures_iter(&page.html)
        .map(|c| unescape(&c[1]))
        .collect()
}

fn next_link(page: &Page) -> Option<String> {
    let re = regex::Regex::new(r#"<a href="([^"]*)" rel="next">"#).unwrap();
    re.captures(&page.html).map(|c| unescape(&c[1]))
}

/// The rows of the page's table body.
fn rows(page: &Page) -> Vec<String> {
    let Some(body) = page.html.split("<tbody>").nth(1) else {
        return Vec::new();
    };
    let body = body.split("</tbody>").next().unwrap();
    body.split("<tr>").skip(1).map(str::to_owned).collect()
}

const ADMIN_PAGES: [&str; 6] = [
    "/account/admin/tokens",
    "/account/admin/tokens/scoped",
    "/account/admin/users",
    "/account/admin/clients",
    "/account/admin/audit",
    "/account/admin",
];

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
    st.record_usage(&batch, &[]).await.unwrap();
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
