//! The portal's actions for everyone (issue 12) are audited as the admin API's are: the same actions, actor and
//! target, read back through the admin API's audit log; and the error paths of the sessions page.

use keyport_testkit::{Browser, Page, TestServer};
use serde_json::Value;

const CONFIG: &str = r#"
[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "notebook"
secret = "notebook-secret-0123456789-abcdef-0123"
grants = ["password", "refresh_token"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
roles = ["user", "admin"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
roles = ["user"]
"#;

async fn signed_in(s: &TestServer, user: &str, password: &str) -> (Browser, Page) {
    let b = Browser::new(&s.issuer("aiod"));
    let login = b.follow(b.get("/account/").await).await;
    let dashboard = b.sign_in_as(&login, user, password).await;
    assert_eq!(dashboard.status, 200, "{}", dashboard.html);
    (b, dashboard)
}

async fn generate(b: &Browser, dashboard: &Page, name: &str) -> String {
    let page = b
        .post(
            "/account/tokens/new",
            &[
                ("csrf", &dashboard.csrf()),
                ("name", name),
                ("lifespan_days", "30"),
            ],
        )
        .await;
    assert_eq!(page.status, 200, "{}", page.html);
    let re = regex::Regex::new(r"kp_[0-9A-Za-z]{49}").unwrap();
    re.find(&page.html).unwrap().as_str().to_owned()
}

/// The audit entries of `action`, newest first, read with an administrator's token.
async fn audit(s: &TestServer, admin: &str, action: &str) -> Vec<Value> {
    let r = reqwest::Client::new()
        .get(format!("{}/admin/realms/aiod/audit?action={action}", s.url))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn token_info(s: &TestServer, admin: &str, token: &str) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/admin/realms/aiod/tokens/info", s.url))
        .bearer_auth(admin)
        .json(&serde_json::json!({ "token": token }))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

#[tokio::test]
async fn portal_actions_are_audited_like_the_admin_apis() {
    let s = TestServer::start(CONFIG).await;
    let (alice, alice_dash) = signed_in(&s, "alice", "alice-password-1").await;
    let admin = generate(&alice, &alice_dash, "audit-reader").await;
    let (bob, bob_dash) = signed_in(&s, "bob", "bob-password-1").await;
    let bobs = generate(&bob, &bob_dash, "bobs").await;
    let info = token_info(&s, &admin, &bobs).await;
    let (bob_id, token_id) = (
        info["sub"].as_str().unwrap().to_owned(),
        info["token_id"].as_str().unwrap().to_owned(),
    );

    // Created in the portal: `token.create` by bob, about the token, with no API token used.
    let created = audit(&s, &admin, "token.create").await;
    let entry = created
        .iter()
        .find(|e| e["target"] == token_id.as_str())
        .unwrap_or_else(|| panic!("{created:?}"));
    assert_eq!(entry["actor_user_id"], bob_id.as_str());
    assert_eq!(entry["outcome"], "success");
    assert!(entry["token_id"].is_null(), "{entry}");

    // Revoked in the portal: `token.revoke`.
    let list = bob.get("/account/tokens").await;
    let r = bob
        .post(
            "/account/tokens/revoke",
            &[("csrf", &list.csrf()), ("token_id", &token_id)],
        )
        .await;
    assert_eq!(r.status, 303);
    let revoked = audit(&s, &admin, "token.revoke").await;
    assert!(
        revoked
            .iter()
            .any(|e| e["target"] == token_id.as_str() && e["actor_user_id"] == bob_id.as_str()),
        "{revoked:?}"
    );

    // A refused attempt on someone else's token: denied, audited; signing out everywhere: `session.end_all`.
    let alices_id = token_info(&s, &admin, &admin).await["token_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = bob
        .post(
            "/account/tokens/revoke",
            &[("csrf", &list.csrf()), ("token_id", &alices_id)],
        )
        .await;
    assert_eq!(r.status, 404);
    let denied = audit(&s, &admin, "token.revoke").await;
    assert!(
        denied
            .iter()
            .any(|e| e["outcome"] == "denied" && e["actor_user_id"] == bob_id.as_str()),
        "{denied:?}"
    );
    let page = bob.get("/account/sessions").await;
    let r = bob
        .post("/account/sessions/end-all", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(r.status, 200);
    let ended = audit(&s, &admin, "session.end_all").await;
    assert_eq!(ended.len(), 1, "{ended:?}");
    assert_eq!(ended[0]["actor_user_id"], bob_id.as_str());
}

#[tokio::test]
async fn the_sessions_page_refuses_what_is_not_the_users() {
    let s = TestServer::start(CONFIG).await;
    let (bob, _) = signed_in(&s, "bob", "bob-password-1").await;
    let (_alice, _) = signed_in(&s, "alice", "alice-password-1").await;
    let page = bob.get("/account/sessions").await;
    // Only bob's own browser is listed: alice's is not his to sign out.
    assert_eq!(page.field("browser"), None, "{}", page.html);
    for (path, field) in [
        ("/account/browsers/end", "browser"),
        ("/account/sessions/end", "session_id"),
    ] {
        let r = bob
            .post(path, &[("csrf", &page.csrf()), (field, "made-up")])
            .await;
        assert_eq!(r.status, 404, "{path}: {}", r.html);
        assert!(r.contains("no such"), "{}", r.html);
    }
}
