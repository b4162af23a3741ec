//! `keyport serve` as a newcomer runs it: the one "listening" line with the real port, health, the bootstrap admin
//! password printed once, and clear failures.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(data_dir: &std::path::Path, extra_env: &[(&str, &str)]) -> (Server, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("KEYPORT_ADMIN_PASSWORD")
        .env("KEYPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("keyport starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    // The banner ends with the line saying how to stop the server.
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let last = line.contains("Ctrl-C stops the server");
        lines.push(line);
        if last {
            break;
        }
    }
    (Server(child), lines)
}

async fn ready(lines: &[String]) -> u16 {
    let first = &lines[0];
    let addr = first
        .strip_prefix("keyport listening on http://")
        .unwrap_or_else(|| panic!("first line: {first}"));
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "the real port is printed");
    let r = reqwest::get(format!("http://{addr}/health/ready"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    port
}

#[tokio::test]
async fn serve_prints_where_it_listens_and_the_admin_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let (server, lines) = serve(dir.path(), &[]);
    ready(&lines).await;
    let text = lines.join("\n");
    assert!(
        text.contains("/realms/master/.well-known/openid-configuration"),
        "{text}"
    );
    let password_line = lines
        .iter()
        .find(|l| l.contains("bootstrap admin"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(password_line.contains("password "), "{password_line}");
    drop(server);

    let (_server, lines) = serve(
        dir.path(),
        &[("KEYPORT_ADMIN_PASSWORD", "chosen-admin-password")],
    );
    ready(&lines).await;
    assert!(
        !lines.iter().any(|l| l.contains("bootstrap admin")),
        "shown once: {lines:?}"
    );
}

#[test]
fn a_bad_config_file_names_the_key_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("keyport.toml");
    std::fs::write(&config, "[server]\nlisten = \"nowhere\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("server.listen"), "{err}");
}

#[test]
fn an_unreachable_database_exits_non_zero_and_says_what_to_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "postgres://keyport:secret-pw@127.0.0.1:1/keyport",
        ])
        .env("KEYPORT_LOG", "off")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Check that PostgreSQL is running"), "{err}");
    assert!(
        !err.contains("secret-pw"),
        "the password is not printed: {err}"
    );
}

async fn kids(lines: &[String]) -> Vec<String> {
    let addr = lines[0].strip_prefix("keyport listening on ").unwrap();
    let jwks: serde_json::Value = reqwest::get(format!(
        "{addr}/realms/master/protocol/openid-connect/certs"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

fn keyport(
    args: &[&str],
    data_dir: &std::path::Path,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("KEYPORT_KEY_ENCRYPTION_KEY")
        .env("KEYPORT_LOG", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// Issue 11 (low): `keyport encrypt-keys` seals the keys of an existing store; from then on the server needs the
/// key-encryption key, and with it serves the same keys. `keyport rotate-keys` adds a key per algorithm and keeps
/// the previous ones published.
#[tokio::test]
async fn encrypt_keys_seals_an_existing_store_and_rotate_keys_keeps_the_previous_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (server, lines) = serve(dir.path(), &[]);
    ready(&lines).await;
    let before = kids(&lines).await;
    assert_eq!(before.len(), 3);
    drop(server);

    let kek = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    let env = [("KEYPORT_KEY_ENCRYPTION_KEY", kek)];
    let none = keyport(&["encrypt-keys"], dir.path(), &[]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no key-encryption key"));
    let out = keyport(&["encrypt-keys"], dir.path(), &env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 signing keys sealed"));

    // Without the key the server does not start, and says which setting it needs.
    let out = keyport(&["serve", "--listen", "127.0.0.1:0"], dir.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("key_encryption_key_file"), "{err}");

    let rotated = keyport(&["rotate-keys"], dir.path(), &env);
    assert!(
        rotated.status.success(),
        "{}",
        String::from_utf8_lossy(&rotated.stderr)
    );
    let (_server, lines) = serve(dir.path(), &env);
    ready(&lines).await;
    let after = kids(&lines).await;
    assert_eq!(after.len(), 6, "{after:?}");
    assert!(before.iter().all(|k| after.contains(k)));
}
