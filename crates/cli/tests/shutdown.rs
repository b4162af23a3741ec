//! Graceful shutdown of the real `keyport serve` process: on SIGTERM it refuses new connections, lets a request
//! that is already in flight finish, exits 0; a request that does not finish within `server.shutdown_timeout`
//! does not hold the process; the API-token uses still buffered in memory are in the audit log after a restart
//! (the in-process twin: caches_and_batches.rs).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
[server]
shutdown_timeout = "2s"

[[realms]]
name = "demo"

[[realms.clients]]
client_id = "bot"
secret = "bot-secret-4c9f2a7e1b8d3f60"
grants = ["client_credentials"]
"#;

struct Server {
    child: Child,
    addr: String,
    /// Taken back to restart on the same data.
    dir: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Server {
    serve_in(tempfile::tempdir().unwrap(), CONFIG)
}

/// `keyport serve` with `config` on the data in `dir` (kept across restarts).
fn serve_in(dir: tempfile::TempDir, config: &str) -> Server {
    let config_text = config;
    let config = dir.path().join("keyport.toml");
    std::fs::write(&config, config_text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("KEYPORT_ADMIN_PASSWORD", "admin-password-for-tests")
        .env("KEYPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyport starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("keyport listening on http://")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .to_owned();
    // Drain the rest of the banner in the background so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr,
        dir: Some(dir),
    }
}

const BODY: &str =
    "grant_type=client_credentials&client_id=bot&client_secret=bot-secret-4c9f2a7e1b8d3f60";

/// Sends a token request's head and the first half of its body: the server is now reading a request.
fn start_request(addr: &str) -> TcpStream {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        conn,
        "POST /realms/demo/protocol/openid-connect/token HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        BODY.len(),
        &BODY[..20]
    )
    .unwrap();
    conn.flush().unwrap();
    // Let the server accept the connection and start on the request.
    std::thread::sleep(Duration::from_millis(300));
    conn
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits up to `limit` for the process to exit.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn sigterm_refuses_new_connections_finishes_the_request_in_flight_and_exits_0() {
    let mut s = serve();
    let mut conn = start_request(&s.addr);
    sigterm(&s.child);

    // New connections are refused soon after the signal.
    let start = Instant::now();
    loop {
        match TcpStream::connect(&s.addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) => {
                assert!(
                    start.elapsed() < Duration::from_secs(2),
                    "still accepting connections 2 s after SIGTERM"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the process waits for the request in flight"
    );

    // The request in flight completes and gets its tokens.
    conn.write_all(&BODY.as_bytes()[20..]).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"access_token\""), "{response}");

    // It exits once the request is done, well before the 2 s shutdown timeout.
    let status =
        wait_exit(&mut s.child, Duration::from_millis(1500)).expect("exits after draining");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn a_request_that_never_finishes_is_cut_off_after_the_shutdown_timeout() {
    let mut s = serve();
    let _stuck = start_request(&s.addr);
    let signalled = Instant::now();
    sigterm(&s.child);
    let status = wait_exit(&mut s.child, Duration::from_secs(15)).expect("the bound holds");
    let waited = signalled.elapsed();
    assert_eq!(status.code(), Some(0));
    assert!(
        waited >= Duration::from_millis(1900),
        "waited for the request: {waited:?}"
    );
    let mut err = String::new();
    s.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("still in flight"), "{err}");
}

#[test]
fn an_idle_server_stops_at_once() {
    let mut s = serve();
    // A keep-alive connection that sent nothing more does not hold the shutdown.
    let _idle = TcpStream::connect(&s.addr).unwrap();
    let signalled = Instant::now();
    sigterm(&s.child);
    let status = wait_exit(&mut s.child, Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    assert!(
        signalled.elapsed() < Duration::from_millis(1500),
        "{:?}",
        signalled.elapsed()
    );
}

const FLUSH_CONFIG: &str = r#"
[[realms]]
name = "demo"

[[realms.clients]]
client_id = "rs"
secret = "rs-secret-4c9f2a7e1b8d3f60a1b2"
grants = []

[[realms.clients]]
client_id = "admin-cli"
secret = "admin-cli-secret-4c9f2a7e1b8d3f60"
grants = ["password"]
scopes = ["admin"]

[[realms.users]]
username = "root"
password = "root-password-4c9f2a7e1b8d"
roles = ["admin"]
"#;

#[tokio::test]
async fn sigterm_writes_the_buffered_api_token_uses_before_exiting() {
    use serde_json::{Value, json};
    let mut s = serve_in(tempfile::tempdir().unwrap(), FLUSH_CONFIG);
    let http = reqwest::Client::new();
    let realm = |addr: &str| format!("http://{addr}/realms/demo/protocol/openid-connect");
    let admin = |addr: &str, path: &str| format!("http://{addr}/admin/realms/demo/{path}");
    let jwt: Value = http
        .post(format!("{}/token", realm(&s.addr)))
        .basic_auth("admin-cli", Some("admin-cli-secret-4c9f2a7e1b8d3f60"))
        .form(&[
            ("grant_type", "password"),
            ("username", "root"),
            ("password", "root-password-4c9f2a7e1b8d"),
            ("scope", "openid admin"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = jwt["access_token"].as_str().expect("an access token");
    let created: Value = http
        .post(admin(&s.addr, "tokens"))
        .bearer_auth(jwt)
        .json(&json!({"name": "flush"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().expect("a token").to_owned();
    let token_id = created["token_id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        let r: Value = http
            .post(format!("{}/token/introspect", realm(&s.addr)))
            .basic_auth("rs", Some("rs-secret-4c9f2a7e1b8d3f60a1b2"))
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["active"], true, "{r}");
    }
    // At once: the writer runs every 200 ms, so the uses are (almost always) still only in memory.
    sigterm(&s.child);
    let status = wait_exit(&mut s.child, Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));

    let s = serve_in(s.dir.take().unwrap(), FLUSH_CONFIG);
    let audit: Value = http
        .get(admin(&s.addr, &format!("audit?token_id={token_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let introspections = audit
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .filter(|e| e["action"] == "token.introspect")
        .count();
    assert_eq!(introspections, 3, "{audit}");
}
