//! The SDK's admin client (seed 002) against a real keyport server.

use keyport_client::admin::{Scope, connect_to_auth_client};
use keyport_testkit::TestServer;

const CONFIG: &str = r#"
[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "portal"
secret = "portal-secret-0123456789-abcdef-0123456"
grants = ["password"]
scopes = ["admin"]              # the admin API (issue 11)

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user", "admin"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
roles = ["user"]
"#;

async fn access_token(s: &TestServer, user: &str, password: &str) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth("portal", Some("portal-secret-0123456789-abcdef-0123456"))
        .form(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password),
            ("scope", "openid admin"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_seed_002_notebook() {
    let s = TestServer::start(CONFIG).await;
    // The admin's unscoped token (IAI_TOKEN), made with their access token.
    let jwt = access_token(&s, "alice", "alice-password-1").await;
    let personal = connect_to_auth_client(&s.url, "aiod", jwt)
        .unwrap()
        .create_personal_token("notebook", None)
        .await
        .unwrap();
    assert!(personal.unscoped);
    let iai_token = personal.token.expose().to_owned();

    let auth_client = connect_to_auth_client(&s.url, "aiod", iai_token).unwrap();
    let user = auth_client.create_user("demo-user").await.unwrap();
    assert_eq!(user.user_type, "machine");
    let token = auth_client
        .create_token(
            "demo-user",
            &[Scope::CreateSession, Scope::ReadUserSession],
            None,
        )
        .await
        .unwrap();
    assert_eq!(token.user_id, user.id);
    assert_eq!(token.email, user.email);
    assert_eq!(token.scopes, vec!["create_session", "read_user_session"]);
    assert!(
        !format!("{token:?}").contains(token.token.expose()),
        "Debug redacts the token"
    );

    let info = auth_client.token_info(token.token.expose()).await.unwrap();
    assert!(info.active);
    assert_eq!(info.user_id.as_deref(), Some("demo-user"));
    assert_eq!(info.token_id.as_deref(), Some(token.token_id.as_str()));
    assert_eq!(
        info.scope.as_deref(),
        Some("create_session read_user_session")
    );

    let listed = auth_client.list_tokens(0, 100).await.unwrap();
    assert!(listed.iter().any(|t| t.token_id == token.token_id));
    assert_eq!(auth_client.scopes().await.unwrap().len(), 10);

    auth_client.revoke_token(&token.token_id).await.unwrap();
    assert!(
        !auth_client
            .token_info(token.token.expose())
            .await
            .unwrap()
            .active
    );
    auth_client.delete_user("demo-user").await.unwrap();
    assert!(
        auth_client
            .list_users(0, 100)
            .await
            .unwrap()
            .iter()
            .all(|u| u.username != "demo-user")
    );
    let audit = auth_client.audit("action=user.delete").await.unwrap();
    assert_eq!(audit.len(), 1);

    // Errors carry the status and the server's code.
    let err = auth_client
        .create_token("nobody", &["cli"], None)
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    let err = auth_client.create_user("demo user").await.unwrap_err();
    assert_eq!(err.oauth_error(), Some("invalid_request"));
    let err = auth_client
        .create_token("alice", &["no_such_scope"], None)
        .await
        .unwrap_err();
    assert_eq!(err.oauth_error(), Some("invalid_scope"));
    let err = auth_client
        .create_token("alice", &[Scope::Cli], Some(60))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(400));
    let bob = access_token(&s, "bob", "bob-password-1").await;
    let not_admin = connect_to_auth_client(&s.url, "aiod", bob).unwrap();
    let err = not_admin.create_user("x").await.unwrap_err();
    assert_eq!(err.http_status(), Some(403));
    assert!(connect_to_auth_client(&s.url, "aiod", "").is_err());
}
