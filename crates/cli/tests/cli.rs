//! The `keyport` binary's client subcommands against a real server started by the test: `login --no-browser`
//! (the person approves over HTTP as a browser would), then `whoami`, `token`, `status`, `logout`.

#[path = "../../client/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn keyport(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keyport"));
    cmd.env_clear()
        .env("KEYPORT_HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.kill_on_drop(true);
    cmd
}

async fn run(home: &Path, args: &[&str]) -> Output {
    tokio::time::timeout(Duration::from_secs(60), keyport(home).args(args).output())
        .await
        .expect("keyport finished")
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `keyport login --no-browser …`, approves in the "browser" as `user`, returns the process output.
async fn login(
    server: &Server,
    home: &Path,
    extra: &[&str],
    user: (&'static str, &'static str),
    decision: Decision,
) -> (Output, String) {
    let mut child = keyport(home)
        .args([
            "login",
            "--no-browser",
            "--server",
            server.url(),
            "--realm",
            REALM,
            "--client-id",
            PUBLIC_CLIENT,
            "--timeout",
            "60",
        ])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("instructions")
            .unwrap()
            .expect("a line");
        seen.push_str(&line);
        seen.push('\n');
        if let Some(rest) = line.trim().strip_prefix("1. Navigate to ") {
            break rest.to_owned();
        }
    };
    browser_decide(&url, user, decision).await;
    while let Ok(Some(line)) = lines.next_line().await {
        seen.push_str(&line);
        seen.push('\n');
    }
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("login ends")
        .unwrap();
    (output, seen)
}

#[tokio::test]
async fn login_whoami_token_status_logout() {
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();

    let (out, printed) = login(&server, home.path(), &[], ALICE, Decision::Approve).await;
    assert!(out.status.success(), "{printed}\n{}", stderr(&out));
    assert!(
        printed.contains("Please authenticate using one of two methods:"),
        "{printed}"
    );
    assert!(printed.contains("and enter code "), "{printed}");
    assert!(
        printed.contains("This workflow will automatically abort after 60 seconds."),
        "{printed}"
    );
    assert!(printed.contains("as alice"), "{printed}");
    let token_file = home.path().join("tokens/default.toml");
    #[cfg(unix)]
    assert_eq!(mode(&token_file), 0o600);
    assert!(home.path().join("config.toml").exists());

    let who = run(home.path(), &["whoami"]).await;
    assert!(who.status.success(), "{}", stderr(&who));
    assert_eq!(stdout(&who).lines().next(), Some("alice"));
    assert!(
        stdout(&who).contains("roles: user, admin") || stdout(&who).contains("admin"),
        "{}",
        stdout(&who)
    );

    let tok = run(home.path(), &["token"]).await;
    assert!(tok.status.success(), "{}", stderr(&tok));
    let jwt = stdout(&tok);
    assert_eq!(jwt.trim().split('.').count(), 3, "{jwt}");
    assert_eq!(jwt.lines().count(), 1);

    // An expired access token is refreshed by `token`, and the rotated refresh token saved.
    // (The CLI reads the wall clock, so mark the cached access token as expired in the file.)
    let before = std::fs::read_to_string(&token_file).unwrap();
    let expired: String = before
        .lines()
        .map(|l| {
            if l.starts_with("expires_at") {
                "expires_at = 1\n".to_owned()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(&token_file, expired).unwrap();
    let tok2 = run(home.path(), &["token"]).await;
    assert!(tok2.status.success(), "{}", stderr(&tok2));
    assert_ne!(stdout(&tok2), jwt);
    assert_ne!(std::fs::read_to_string(&token_file).unwrap(), before);
    assert!(run(home.path(), &["whoami"]).await.status.success());

    let status = run(home.path(), &["status"]).await;
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(
        stdout(&status).contains("alice") && stdout(&status).contains(&format!("/realms/{REALM}")),
        "{}",
        stdout(&status)
    );

    let out = run(home.path(), &["logout"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!token_file.exists());

    for cmd in ["whoami", "token"] {
        let o = run(home.path(), &[cmd]).await;
        assert!(!o.status.success());
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains("keyport login"),
            "{err}"
        );
    }
    let st = run(home.path(), &["status"]).await;
    assert!(!st.status.success());
}

#[tokio::test]
async fn profiles_keep_servers_apart_and_a_denial_fails_cleanly() {
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();
    let (out, printed) = login(
        &server,
        home.path(),
        &["--profile", "work"],
        BOB,
        Decision::Approve,
    )
    .await;
    assert!(out.status.success(), "{printed}\n{}", stderr(&out));

    let who = run(home.path(), &["whoami", "--profile", "work"]).await;
    assert_eq!(stdout(&who).lines().next(), Some("bob"));
    let other = run(home.path(), &["whoami"]).await;
    assert!(!other.status.success());
    assert!(
        stderr(&other).contains("keyport login"),
        "{}",
        stderr(&other)
    );

    let (out, _) = login(
        &server,
        home.path(),
        &["--profile", "denied"],
        ALICE,
        Decision::Deny,
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.lines().last().unwrap_or("").starts_with("error: ") && err.contains("denied"),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_one_line_with_advice() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &[
            "login",
            "--no-browser",
            "--server",
            "http://127.0.0.1:9",
            "--realm",
            "x",
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("check the server URL"), "{err}");
}

/// `keyport login` in a pseudo-terminal (through util-linux `script`): the QR code and the spinner are drawn,
/// no browser is opened without a display, and the login completes.
#[tokio::test]
async fn login_in_a_terminal_shows_a_qr_code() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let server = Server::start().await;
    let home = tempfile::tempdir().unwrap();
    let command = format!(
        "{} login --server {} --realm {REALM} --client-id {PUBLIC_CLIENT} --timeout 60",
        env!("CARGO_BIN_EXE_keyport"),
        server.url()
    );
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_clear()
        .env("KEYPORT_HOME", home.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let url = loop {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::io::AsyncReadExt::read(&mut out, &mut buf),
        )
        .await
        .expect("output")
        .unwrap();
        assert!(n > 0, "ended early: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(i) = text.find("1. Navigate to ") {
            let rest = &text[i + "1. Navigate to ".len()..];
            if let Some(end) = rest.find(['\r', '\n']) {
                break rest[..end].trim().to_owned();
            }
        }
    };
    browser_decide(&url, ALICE, Decision::Approve).await;
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::io::AsyncReadExt::read_to_end(&mut out, &mut seen),
    )
    .await
    .expect("login ends")
    .unwrap();
    let status = child.wait().await.unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(status.success(), "{text}");
    assert!(text.contains("Or scan this code with your phone"), "{text}");
    assert!(
        text.contains('▀') || text.contains('█'),
        "a QR code is drawn: {text}"
    );
    assert!(
        text.contains("Waiting for you to approve in the browser"),
        "the spinner: {text}"
    );
    assert!(
        !text.contains("Opened "),
        "no browser without a display: {text}"
    );
    assert!(text.contains("as alice"), "{text}");
}

/// `keyport login --web --no-browser` with a profile: the URL is printed (no browser without a display), the
/// person signs in through the server's pages, the browser comes back to the CLI's loopback redirect, and the
/// token is saved for `whoami` and `token`.
#[tokio::test]
async fn login_web_without_a_browser_prints_the_url_and_signs_in() {
    let server = Server::start_with(&web_config_toml()).await;
    let home = tempfile::tempdir().unwrap();
    let mut child = keyport(home.path())
        .args([
            "login",
            "--web",
            "--no-browser",
            "--profile",
            "web",
            "--server",
            server.url(),
            "--realm",
            REALM,
            "--client-id",
            WEB_CLIENT,
            "--timeout",
            "60",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let url = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the URL is printed")
            .unwrap()
            .expect("a line");
        printed.push_str(&line);
        printed.push('\n');
        if line.trim().starts_with("http") {
            break line.trim().to_owned();
        }
    };
    assert!(
        printed.starts_with("Open this URL in your browser to sign in:"),
        "{printed}"
    );
    assert!(url.starts_with(&server.endpoint("auth")), "{url}");
    let browser = browser_sign_in(&url, ALICE, Decision::Approve).await;
    assert!(
        browser
            .page
            .contains("You are signed in; you can close this window."),
        "{}",
        browser.page
    );
    while let Ok(Some(line)) = lines.next_line().await {
        printed.push_str(&line);
        printed.push('\n');
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("login ends")
        .unwrap();
    assert!(out.status.success(), "{printed}\n{}", stderr(&out));
    assert!(
        printed.contains("This workflow will automatically abort after 60 seconds."),
        "{printed}"
    );
    assert!(
        printed.contains("as alice") && printed.contains("(profile web)"),
        "{printed}"
    );
    assert!(!stderr(&out).contains("Opened "), "{}", stderr(&out));
    let token_file = home.path().join("tokens/web.toml");
    #[cfg(unix)]
    assert_eq!(mode(&token_file), 0o600);
    let saved = std::fs::read_to_string(&token_file).unwrap();
    let code = reqwest::Url::parse(browser.redirected_to.as_str())
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert!(
        !saved.contains(&code) && !printed.contains(&code) && !stderr(&out).contains(&code),
        "the code is never printed or saved"
    );

    let who = run(home.path(), &["whoami", "--profile", "web"]).await;
    assert!(who.status.success(), "{}", stderr(&who));
    assert_eq!(stdout(&who).lines().next(), Some("alice"));
    let tok = run(home.path(), &["token", "--profile", "web"]).await;
    assert!(tok.status.success(), "{}", stderr(&tok));
    assert_eq!(stdout(&tok).trim().split('.').count(), 3);
}

/// A `--web` login nobody finishes ends with one line saying what to do.
#[tokio::test]
async fn login_web_times_out_with_advice() {
    let server = Server::start_with(&web_config_toml()).await;
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &[
            "login",
            "--web",
            "--no-browser",
            "--server",
            server.url(),
            "--realm",
            REALM,
            "--client-id",
            WEB_CLIENT,
            "--timeout",
            "1",
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.lines().last().unwrap_or("").starts_with("error: ") && err.contains("within 1 seconds"),
        "{err}"
    );
    assert!(stdout(&out).contains("Open this URL in your browser"));
}

/// Issue 11 item 7: a server that answers a device login with a `file:` verification URI gets one line of
/// refusal; nothing is shown to open, and nothing is opened.
#[tokio::test]
async fn login_refuses_a_verification_uri_that_is_not_http() {
    let hostile = Hostile::start(vec![
        (
            "/realms/x/.well-known/openid-configuration",
            serde_json::json!({
                "issuer": "{base}/realms/x",
                "token_endpoint": "{base}/realms/x/token",
                "device_authorization_endpoint": "{base}/realms/x/device",
            }),
        ),
        (
            "/realms/x/device",
            serde_json::json!({
                "device_code": "d", "user_code": "BCDF-GHJK", "expires_in": 600, "interval": 5,
                "verification_uri": "file:///etc/passwd",
                "verification_uri_complete": "file:///etc/passwd",
            }),
        ),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &[
            "login",
            "--no-browser",
            "--server",
            &hostile.url,
            "--realm",
            "x",
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not an http(s) URL"), "{err}");
    assert!(!stdout(&out).contains("file:"), "{}", stdout(&out));
}

/// Issue 11 item 7: the CLI refuses a plain-http server that is not on this machine before sending anything.
#[tokio::test]
async fn login_refuses_plain_http_to_another_machine() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &[
            "login",
            "--no-browser",
            "--server",
            "http://auth.example.org",
            "--realm",
            "x",
        ],
    )
    .await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("plain http"), "{err}");
}
