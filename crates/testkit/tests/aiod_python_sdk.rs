//! The real AIoD Python SDK (`aiondemand` from PyPI, with the python-keycloak it depends on), unchanged, against
//! keyport: the promise of the server issue that an SDK written for Keycloak logs a person in without a line changed.
//!
//! Each test starts its own server, runs `tests/python/aiod_sdk_login.py` (which configures the SDK through
//! `aiod.config` and calls its public functions), reads the SDK's own login instructions from the script's stdout,
//! and approves or denies the code through the HTML device pages like a browser. The Python side prints one
//! `ok: ...` line per check and `PASS <mode>` at the end.
//!
//! Needs python3 with the pinned packages: `bash scripts/install-test-deps.sh`. Missing packages fail the test.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use keyport_server::clock::SystemClock;
use keyport_server::config::Config;
use keyport_server::server::{self, Running};
use keyport_testkit::Browser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const BOT_SECRET: &str = "pipeline-bot-secret-0123456789-abcdef";

const CONFIG: &str = r#"
[[realms]]
name = "aiod"
device_poll_interval = "1s"

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token"]
# The SDK never stores a rotated refresh token (see `Token._refresh`), so it needs Keycloak's default.
refresh_token_rotation = "off"

[[realms.clients]]
client_id = "pipeline-bot"
secret = "pipeline-bot-secret-0123456789-abcdef"
grants = ["client_credentials"]
roles = ["bot"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user"]
"#;

/// The whole run of one script may take this long (create_token itself gets `--timeout 15`).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(40);

/// A keyport server as `TestServer` starts it (ephemeral port, SQLite in a temporary directory), but on the wall
/// clock: the SDK sleeps for real between polls, and a fake clock that never moves would answer every poll after
/// the first with `slow_down`.
struct WallClockServer {
    running: Running,
    _dir: tempfile::TempDir,
}

impl WallClockServer {
    async fn start(toml: &str) -> WallClockServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config =
            Config::from_toml(toml, std::path::Path::new("test.toml")).expect("test config parses");
        config.server.listen = "127.0.0.1:0".into();
        config.server.data_dir = dir.path().join("data");
        config
            .server
            .admin_password
            .get_or_insert_with(|| keyport_testkit::ADMIN_PASSWORD.into());
        config.validate().expect("test config is valid");
        let running = server::start(config, Arc::new(SystemClock))
            .await
            .expect("test server starts");
        WallClockServer { running, _dir: dir }
    }

    /// What the SDK's `aiod.config.auth_server` names, without the trailing slash (the script adds it).
    fn base_url(&self) -> String {
        format!(
            "{}{}",
            self.running.public_url, self.running.state.settings.base_path
        )
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const INSTALL_HINT: &str =
    "run `bash scripts/install-test-deps.sh` (installs tests/python/requirements.txt)";

/// Checks that every package of `tests/python/requirements.txt` is installed at its pinned version.
const CHECK_PINS: &str = r##"
import sys
from importlib.metadata import PackageNotFoundError, version
wrong = []
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, pinned = line.split("==")
        try:
            found = version(name)
        except PackageNotFoundError:
            found = "missing"
        if found != pinned:
            wrong.append(f"{name}: want {pinned}, found {found}")
if wrong:
    sys.exit("; ".join(wrong))
"##;

/// Fails, never skips, when python3 or the pinned packages are missing.
async fn require_python_deps() {
    let requirements = workspace_root().join("tests/python/requirements.txt");
    let out = Command::new("python3")
        .args(["-c", CHECK_PINS])
        .arg(&requirements)
        .output()
        .await
        .unwrap_or_else(|e| {
            panic!("python3 is needed for the AIoD SDK test ({e}); install it, then {INSTALL_HINT}")
        });
    assert!(
        out.status.success(),
        "the AIoD SDK test needs the pinned Python packages: {INSTALL_HINT}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python driver, running.
struct Script {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// Every stdout line so far, for assertion messages.
    seen: Vec<String>,
    home: tempfile::TempDir,
}

impl Script {
    async fn spawn(server: &WallClockServer, mode: &str) -> Script {
        require_python_deps().await;
        let home = tempfile::tempdir().expect("temp HOME");
        let script = workspace_root().join("tests/python/aiod_sdk_login.py");
        let mut child = Command::new("python3")
            .arg("-u")
            .arg(&script)
            .arg(mode)
            .args(["--server", &server.base_url()])
            // The script points HOME there itself before importing the SDK; the interpreter starts with the real
            // HOME so that packages installed with `pip install --user` are found.
            .arg("--home")
            .arg(home.path())
            .args([
                "--realm",
                "aiod",
                "--client-id",
                "aiod-sdk",
                "--timeout",
                "15",
            ])
            .args([
                "--bot-client-id",
                "pipeline-bot",
                "--bot-secret",
                BOT_SECRET,
            ])
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run python3 {}: {e}; {INSTALL_HINT}",
                    script.display()
                )
            });
        let stdout = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Script {
            child,
            stdout,
            seen: Vec::new(),
            home,
        }
    }

    /// Reads stdout until the SDK's instructions name the user code (`... and enter code XXXX-XXXX`).
    async fn user_code(&mut self) -> String {
        let re = regex::Regex::new(r"enter code ([B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4})$")
            .unwrap();
        let read = async {
            while let Some(line) = self.stdout.next_line().await.expect("read stdout") {
                self.seen.push(line.clone());
                if let Some(c) = re.captures(&line) {
                    return Some(c[1].to_owned());
                }
            }
            None
        };
        match tokio::time::timeout(Duration::from_secs(20), read).await {
            Ok(Some(code)) => code,
            _ => {
                let stdout = self.seen.join("\n");
                let (status, stderr) = self.finish_now().await;
                panic!(
                    "the SDK printed no user code ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}"
                )
            }
        }
    }

    async fn finish_now(&mut self) -> (String, String) {
        let _ = self.child.start_kill();
        let status = self
            .child
            .wait()
            .await
            .map(|s| s.to_string())
            .unwrap_or_default();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut stderr).await;
        }
        (status, stderr)
    }

    /// Waits for the script to end and asserts it passed; returns all of its stdout.
    async fn passes(mut self, mode: &str) -> String {
        let mut stderr_pipe = self.child.stderr.take().expect("stderr");
        let run = async {
            while let Some(line) = self.stdout.next_line().await.expect("read stdout") {
                self.seen.push(line);
            }
            let mut stderr = String::new();
            stderr_pipe
                .read_to_string(&mut stderr)
                .await
                .expect("read stderr");
            let status = self.child.wait().await.expect("wait for python3");
            (status, stderr)
        };
        let Ok((status, stderr)) = tokio::time::timeout(SCRIPT_DEADLINE, run).await else {
            let _ = self.child.start_kill();
            panic!(
                "the SDK script did not finish in {SCRIPT_DEADLINE:?}\nstdout:\n{}",
                self.seen.join("\n")
            );
        };
        let stdout = self.seen.join("\n");
        eprintln!("--- python3 aiod_sdk_login.py {mode} ({status}):\n{stdout}\n{stderr}");
        assert!(
            !stderr.contains("MISSING-DEPS") && !stdout.contains("MISSING-DEPS"),
            "{INSTALL_HINT}\n{stderr}"
        );
        assert!(
            status.success()
                && self.seen.last().map(String::as_str) == Some(&format!("PASS {mode}")),
            "the AIoD SDK failed against keyport ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            !self.home.path().join(".aiod/config.toml").exists(),
            "the SDK config stayed untouched"
        );
        stdout
    }
}

fn assert_has(stdout: &str, lines: &[&str]) {
    for line in lines {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "missing `{line}` in:\n{stdout}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiod_sdk_logs_in_refreshes_and_logs_out() {
    let started = Instant::now();
    // Served under a base path, like the SDK's default `https://auth.aiodp.eu/aiod-auth/`.
    let config = format!("[server]\nbase_path = \"/aiod-auth\"\n{CONFIG}");
    let server = WallClockServer::start(&config).await;
    assert!(
        server.base_url().ends_with("/aiod-auth"),
        "{}",
        server.base_url()
    );
    let issuer = server.running.issuer("aiod");
    let mut script = Script::spawn(&server, "login").await;

    let code = script.user_code().await;
    // Let the SDK poll (every second) while nobody has approved yet: it must keep waiting on `authorization_pending`.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // The SDK printed Keycloak's instructions with our URLs: verification_uri_complete and verification_uri.
    assert_has(
        &script.seen.join("\n"),
        &[
            "Please authenticate using one of two methods:",
            &format!("  1. Navigate to {issuer}/device?user_code={code}"),
            &format!("  2. Navigate to {issuer}/device and enter code {code}"),
        ],
    );
    let result = Browser::new(&issuer)
        .approve_device(&code, "alice", "alice-password-1", true)
        .await;
    assert_eq!(result.status, 200);

    let stdout = script.passes("login").await;
    assert_has(
        &stdout,
        &[
            "ok: well_known(): issuer",
            "ok: certs(): RS256 and ES256 keys",
            "ok: public_key(): the realm document's key is the RS256 key of the JWKS",
            "ok: create_token() returned a Token",
            "ok: write_to_file=True wrote ~/.aiod/token.toml",
            "ok: get_token().headers is a bearer JWT",
            "ok: decode_token(validate=True): iss",
            "ok: userinfo(): email",
            "ok: introspect() by a confidential client: active",
            "ok: Token._refresh() got a new access token",
            "ok: Token._refresh() again with the same refresh token (rotation off)",
            "ok: decode_token(id_token, key=realm public_key) verifies (RS256)",
            "ok: invalidate_token() (logout) succeeded",
            "ok: refresh after logout refused",
            "ok: Token._refresh() after logout raises AuthenticationError",
            "ok: introspect() after logout: inactive",
        ],
    );
    let token_posts: Vec<&str> = stdout
        .lines()
        .take_while(|l| !l.starts_with("ok: create_token() returned"))
        .filter(|l| {
            l.contains("\"POST /aiod-auth/realms/aiod/protocol/openid-connect/token HTTP/1.1\"")
        })
        .collect();
    assert!(
        token_posts.len() >= 2
            && token_posts[..token_posts.len() - 1]
                .iter()
                .all(|l| l.contains("HTTP/1.1\" 400"))
            && token_posts.last().unwrap().contains("HTTP/1.1\" 200"),
        "expected polls answered 400 (authorization_pending), then 200:\n{stdout}"
    );
    eprintln!("AIoD SDK login flow passed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiod_sdk_reports_a_denied_login() {
    let started = Instant::now();
    let server = WallClockServer::start(CONFIG).await;
    let issuer = server.running.issuer("aiod");
    let mut script = Script::spawn(&server, "deny").await;

    let code = script.user_code().await;
    let result = Browser::new(&issuer)
        .approve_device(&code, "alice", "alice-password-1", false)
        .await;
    assert_eq!(result.status, 200);

    let stdout = script.passes("deny").await;
    assert_has(
        &stdout,
        &[
            "ok: create_token() raised the SDK's denial",
            "ok: no token file after a denied login",
        ],
    );
    eprintln!("AIoD SDK denial passed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiod_sdk_reports_an_expired_code() {
    let started = Instant::now();
    let config = CONFIG.replace(
        "device_poll_interval = \"1s\"",
        "device_poll_interval = \"1s\"\ndevice_code_lifetime = \"3s\"",
    );
    let server = WallClockServer::start(&config).await;
    let mut script = Script::spawn(&server, "expire").await;
    script.user_code().await;
    // Nobody approves; the SDK polls until keyport answers `expired_token`.
    let stdout = script.passes("expire").await;
    assert_has(
        &stdout,
        &["ok: create_token() raised the SDK's expiry error"],
    );
    eprintln!("AIoD SDK expiry passed in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aiod_sdk_bot_flow_gets_client_credentials_tokens() {
    let started = Instant::now();
    let server = WallClockServer::start(CONFIG).await;
    let stdout = Script::spawn(&server, "bot").await.passes("bot").await;
    assert_has(
        &stdout,
        &[
            "ok: bot: Token(client_secret=...).headers, azp",
            "ok: bot: introspect",
            "ok: bot: Token.from_file(secret.toml).headers, a new token",
            "ok: bot: a wrong secret",
        ],
    );
    eprintln!("AIoD SDK bot flow passed in {:?}", started.elapsed());
}
