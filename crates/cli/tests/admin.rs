//! `keyport admin user …` and `keyport admin token …` against a real server, with an administrator's personal
//! API token in KEYPORT_TOKEN.

use std::process::Output;

use keyport_testkit::TestServer;
use tokio::process::Command;

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
"#;

async fn admin_token(s: &TestServer) -> String {
    let body = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth("portal", Some("portal-secret-0123456789-abcdef-0123456"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
            ("scope", "openid admin"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let jwt = body
        .split("\"access_token\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let admin = keyport_client::admin::connect_to_auth_client(&s.url, "aiod", jwt).unwrap();
    let personal = admin.create_personal_token("cli", None).await.unwrap();
    personal.token.expose().to_owned()
}

async fn keyport(home: &std::path::Path, s: &TestServer, token: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyport"))
        .env_clear()
        .env("KEYPORT_HOME", home)
        .env("KEYPORT_TOKEN", token)
        .args(["admin", "--server", &s.url, "--realm", "aiod"])
        .args(args)
        .output()
        .await
        .unwrap()
}

fn out(o: &Output) -> String {
    assert!(
        o.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn admin_users_and_tokens_from_the_shell() {
    let s = TestServer::start(CONFIG).await;
    let home = tempfile::tempdir().unwrap();
    let admin = admin_token(&s).await;

    let created = out(&keyport(home.path(), &s, &admin, &["user", "create", "demo-user"]).await);
    assert!(created.starts_with("Machine user demo-user("), "{created}");
    let users = out(&keyport(home.path(), &s, &admin, &["user", "list"]).await);
    assert!(
        users
            .lines()
            .any(|l| l.contains("demo-user") && l.contains("machine")),
        "{users}"
    );

    let made = keyport(
        home.path(),
        &s,
        &admin,
        &[
            "token",
            "create",
            "--user",
            "demo-user",
            "--scope",
            "create_session",
            "--scope",
            "cli",
            "--days",
            "7",
        ],
    )
    .await;
    let token = out(&made).lines().next().unwrap().to_owned();
    assert!(token.starts_with("kp_"), "{token}");
    let note = String::from_utf8_lossy(&made.stderr).into_owned();
    let token_id = note.split_whitespace().nth(2).unwrap().to_owned();

    let listed = out(&keyport(home.path(), &s, &admin, &["token", "list"]).await);
    assert!(
        listed.contains(&token_id) && !listed.contains(&token),
        "{listed}"
    );
    let info = out(&keyport(home.path(), &s, &admin, &["token", "info", &token]).await);
    assert!(
        info.contains("active: true") && info.contains("scope: cli create_session"),
        "{info}"
    );

    out(&keyport(home.path(), &s, &admin, &["token", "revoke", &token_id]).await);
    let info = out(&keyport(home.path(), &s, &admin, &["token", "info", &token]).await);
    assert!(info.starts_with("active: false"), "{info}");

    // Errors are one line saying what went wrong.
    let bad = keyport(
        home.path(),
        &s,
        &admin,
        &["token", "create", "--user", "demo-user", "--scope", "nope"],
    )
    .await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid_scope"));
    out(&keyport(home.path(), &s, &admin, &["user", "delete", "demo-user"]).await);
    let refused = keyport(home.path(), &s, &token, &["user", "list"]).await;
    assert!(!refused.status.success());
}

/// An access token of an administrator that lacks the `admin` scope (a login that did not ask for it): the CLI
/// says which login command gives it.
#[tokio::test]
async fn a_login_without_the_admin_scope_is_told_how_to_get_it() {
    let s = TestServer::start(CONFIG).await;
    let home = tempfile::tempdir().unwrap();
    let body: serde_json::Value = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth("portal", Some("portal-secret-0123456789-abcdef-0123456"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
            ("scope", "openid profile email"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = body["access_token"].as_str().unwrap();
    let refused = keyport(home.path(), &s, jwt, &["user", "list"]).await;
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("keyport login --scope \"openid profile email admin\""),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}
