//! `keyport backup` (an online SQLite copy that a new data directory serves the same tokens from) and
//! `keyport doctor` (each problem of a configuration and its database on one line, with what to do).

use std::process::Output;

use keyport_testkit::{TestData, TestDatabase, TestServer};
use serde_json::Value;
use tokio::process::Command;

const SECRET: &str = "portal-secret-0123456789-abcdef-0123456";

const CONFIG: &str = r#"
[server]
public_url = "https://auth.example.org"

[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "portal"
secret = "portal-secret-0123456789-abcdef-0123456"
grants = ["password", "refresh_token"]
scopes = ["admin"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user", "admin"]
"#;

async fn keyport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyport"))
        .env_remove("KEYPORT_CONFIG")
        .env_remove("KEYPORT_DATABASE_URL")
        .env_remove("KEYPORT_ADMIN_PASSWORD")
        .env("KEYPORT_LOG", "off")
        .args(args)
        .output()
        .await
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn form(url: &str, body: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(url)
        .basic_auth("portal", Some(SECRET))
        .form(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn on_postgres() -> bool {
    std::env::var("KEYPORT_TEST_BACKEND").as_deref() == Ok("postgres")
}

#[tokio::test]
async fn a_backup_of_a_running_server_serves_the_same_tokens_from_a_new_data_dir() {
    if on_postgres() {
        return; // `keyport backup` copies SQLite; PostgreSQL is backed up with pg_dump.
    }
    let s = TestServer::start(CONFIG).await;
    let (status, tokens) = form(
        &s.endpoint("aiod", "token"),
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "alice-password-1"),
            ("scope", "openid admin"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let admin = keyport_client::admin::connect_to_auth_client(&s.url, "aiod", &access).unwrap();
    let api_token = admin
        .create_personal_token("backup test", None)
        .await
        .unwrap()
        .token
        .expose()
        .to_owned();

    // Online: the server keeps running while the copy is made.
    let data_dir = s.data.dir.path().join("data");
    let out_dir = tempfile::tempdir().unwrap();
    let backup = out_dir.path().join("keyport-backup.db");
    let args = |b: &std::path::Path| {
        vec![
            "backup".to_owned(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--output".into(),
            b.display().to_string(),
        ]
    };
    let run = |a: Vec<String>| async move {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        keyport(&a).await
    };
    let out = run(args(&backup)).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("backed up to"), "{}", text(&out));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the copy holds the signing keys");
    }
    // An existing file is never overwritten.
    let again = run(args(&backup)).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).contains("exists already"), "{}", text(&again));
    let introspect = s.endpoint("aiod", "token/introspect");
    s.stop().await;

    // Restore: the copy as keyport.db of an empty data directory.
    let restored = TestData::new().await;
    std::fs::create_dir_all(restored.dir.path().join("data")).unwrap();
    std::fs::copy(&backup, restored.dir.path().join("data").join("keyport.db")).unwrap();
    let s = TestServer::start_in(restored, CONFIG).await;
    assert_ne!(
        s.endpoint("aiod", "token/introspect"),
        introspect,
        "another server"
    );
    for token in [&access, &api_token] {
        let (status, info) =
            form(&s.endpoint("aiod", "token/introspect"), &[("token", token)]).await;
        assert_eq!(status, 200);
        assert_eq!(info["active"], true, "{info}");
    }
    let (status, refreshed) = form(
        &s.endpoint("aiod", "token"),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
}

#[tokio::test]
async fn backup_says_what_is_wrong() {
    let empty = tempfile::tempdir().unwrap();
    let target = empty.path().join("copy.db");
    let out = keyport(&[
        "backup",
        "--data-dir",
        empty.path().to_str().unwrap(),
        "--output",
        target.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no keyport database at"),
        "{}",
        text(&out)
    );
    let out = keyport(&[
        "backup",
        "--database-url",
        "postgres://u@127.0.0.1:1/db",
        "--output",
        target.to_str().unwrap(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("pg_dump"), "{}", text(&out));
}

/// A configuration file in a fresh directory; returns (dir, config path, data dir).
fn setup(toml: &str) -> (tempfile::TempDir, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyport.toml");
    std::fs::write(&config, toml).unwrap();
    let data = dir.path().join("data");
    (
        dir,
        config.display().to_string(),
        data.display().to_string(),
    )
}

fn problems(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            l.strip_prefix("keyport doctor: ")
                .unwrap_or_else(|| panic!("every line starts with `keyport doctor: `: {l}"))
                .to_owned()
        })
        .filter(|l| !l.ends_with("problem(s)"))
        .collect()
}

#[tokio::test]
async fn doctor_passes_a_sound_setup() {
    let (_dir, config, data) = setup(CONFIG);
    let out = keyport(&["migrate", "--config", &config, "--data-dir", &data]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = keyport(&["doctor", "--config", &config, "--data-dir", &data]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(problems(&out), ["no problems found"]);
}

#[tokio::test]
async fn doctor_lists_each_problem_on_one_line_with_what_to_do() {
    let (_dir, config, data) = setup(
        r#"
[server]
listen = "0.0.0.0:8080"

[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "portal"
secret = "changeme"
grants = ["password"]
"#,
    );
    // A database file without keyport's schema: every migration is missing.
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(format!("{data}/keyport.db"), b"").unwrap();
    let out = keyport(&["doctor", "--config", &config, "--data-dir", &data]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let p = problems(&out);
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(
        p.iter()
            .any(|l| l.starts_with("server.public_url is unset") && l.contains("set it to")),
        "{p:#?}"
    );
    assert!(
        p.iter().any(|l| l
            .starts_with("realms.aiod.clients.portal: the client secret is weak (8 characters)")
            && l.contains("at least 32 random characters")),
        "{p:#?}"
    );
    assert!(
        p.iter()
            .any(|l| l.contains("not applied") && l.contains("run `keyport migrate`")),
        "{p:#?}"
    );
    assert!(
        !text(&out).contains("changeme"),
        "the secret itself is not printed"
    );
    // Nothing was created or migrated.
    assert_eq!(
        std::fs::metadata(format!("{data}/keyport.db"))
            .unwrap()
            .len(),
        0
    );
}

#[tokio::test]
async fn doctor_reports_a_missing_or_unreachable_database() {
    let (dir, config, _) = setup(CONFIG);
    let nowhere = dir.path().join("nowhere").display().to_string();
    let out = keyport(&["doctor", "--config", &config, "--data-dir", &nowhere]).await;
    assert_eq!(out.status.code(), Some(1));
    let p = problems(&out);
    assert!(
        p[0].starts_with("database: no keyport database at"),
        "{p:#?}"
    );
    assert!(
        !std::path::Path::new(&nowhere).exists(),
        "doctor creates nothing"
    );

    let out = keyport(&[
        "doctor",
        "--config",
        &config,
        "--database-url",
        "postgres://keyport:secret-pw@127.0.0.1:1/keyport",
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
    let p = problems(&out);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].starts_with("database: cannot connect to"), "{p:#?}");
    assert!(p[0].contains("check that it runs"), "{p:#?}");
    assert!(!text(&out).contains("secret-pw"), "{}", text(&out));
}

#[tokio::test]
async fn doctor_checks_postgres_migrations_and_clock() {
    let db = TestDatabase::create().await;
    let (_dir, config, _) = setup(CONFIG);
    let out = keyport(&["doctor", "--config", &config, "--database-url", &db.url]).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let p = problems(&out);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].contains("migration(s) not applied"), "{p:#?}");
    let out = keyport(&["migrate", "--config", &config, "--database-url", &db.url]).await;
    assert!(out.status.success(), "{}", text(&out));
    let out = keyport(&["doctor", "--config", &config, "--database-url", &db.url]).await;
    assert_eq!(problems(&out), ["no problems found"], "{}", text(&out));
}

#[tokio::test]
async fn doctor_names_the_bad_key_of_a_broken_config() {
    let (_dir, config, _) = setup("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
    let out = keyport(&["doctor", "--config", &config]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("server.trusted_proxies[0]"),
        "{}",
        text(&out)
    );
}
