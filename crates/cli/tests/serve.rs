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
