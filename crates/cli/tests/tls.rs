//! Built-in TLS in the real `keyport serve` process: SIGHUP reloads the certificate and key (new connections get
//! the new certificate, a connection opened before goes on; a bad file is logged and the old certificate stays),
//! SIGTERM over TLS drains the request in flight and exits 0, and `keyport doctor` checks the files.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use keyport_testkit::tls::{ServerCert, TestCa, peer_certificate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REALM: &str = r#"
[[realms]]
name = "demo"

[[realms.clients]]
client_id = "bot"
secret = "bot-secret-4c9f2a7e1b8d3f60-0123456789"
grants = ["client_credentials"]
"#;

struct Server {
    child: Child,
    addr: SocketAddr,
    cert_file: PathBuf,
    key_file: PathBuf,
    /// The server's log lines (stderr).
    log: mpsc::Receiver<String>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `keyport serve` with TLS, serving `cert`.
fn serve(cert: &ServerCert) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = cert.write(dir.path());
    let config = dir.path().join("keyport.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\ntls_cert_file = {cert_file:?}\ntls_key_file = {key_file:?}\nshutdown_timeout = \"2s\"\n{REALM}"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyport"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("KEYPORT_ADMIN_PASSWORD", "admin-password-for-tests")
        .env("KEYPORT_LOG", "warn")
        .env_remove("KEYPORT_LOG_FORMAT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keyport starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .strip_prefix("keyport listening on https://")
        .unwrap_or_else(|| panic!("first line: {first}"))
        .parse()
        .unwrap();
    let issuer_line = lines.next().unwrap().unwrap();
    assert!(
        issuer_line.contains(&format!("issuer https://{addr}/realms/master")),
        "{issuer_line}"
    );
    std::thread::spawn(move || for _ in lines {});
    let (tx, log) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    Server {
        child,
        addr,
        cert_file,
        key_file,
        log,
        _dir: dir,
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The next log line about a refused reload (other lines skipped), waiting at most 10 s.
fn failed_reload(s: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = s
            .log
            .recv_timeout(left)
            .expect("the failed reload is logged");
        if line.contains("TLS certificate not reloaded; still serving the previous one") {
            return line;
        }
    }
}

/// The certificate a new connection is shown, with the status of a discovery request on it.
async fn fresh_connection(ca: &TestCa, addr: SocketAddr) -> (u16, Vec<u8>) {
    let client = ca.client().build().unwrap();
    let r = client
        .get(format!(
            "https://{addr}/realms/demo/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), peer_certificate(&r))
}

#[tokio::test]
async fn sighup_reloads_the_certificate_for_new_connections_and_keeps_open_ones() {
    let ca = TestCa::new();
    let first = ca.server_cert(90);
    let s = serve(&first);
    let url = format!(
        "https://{}/realms/demo/.well-known/openid-configuration",
        s.addr
    );
    // One HTTP/2 connection, opened before the reload.
    let before = ca.client().build().unwrap();
    let r = before.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(peer_certificate(&r), first.der);

    let second = ca.server_cert(90);
    second.write(s.cert_file.parent().unwrap());
    signal(&s.child, "HUP");
    // The reload is asynchronous: new connections get the new certificate within a bounded wait.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, der) = fresh_connection(&ca, s.addr).await;
        assert_eq!(status, 200);
        if der == second.der {
            break;
        }
        assert_eq!(der, first.der, "either certificate, nothing else");
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The connection opened before is still open and serving: it still shows the first certificate (a new
    // connection would show the second).
    let r = before.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(peer_certificate(&r), first.der, "the same connection");

    // A bad key file: the reload is refused and logged, the second certificate stays, the process lives.
    std::fs::write(&s.key_file, "not a key").unwrap();
    signal(&s.child, "HUP");
    let logged = failed_reload(&s);
    assert!(logged.contains("server.tls_key_file"), "{logged}");
    assert_eq!(
        fresh_connection(&ca, s.addr).await,
        (200, second.der.clone())
    );
    // A certificate without its key (the pair half replaced) is refused the same way.
    let third = ca.server_cert(90);
    std::fs::write(&s.key_file, &second.key_pem).unwrap();
    std::fs::write(&s.cert_file, &third.cert_pem).unwrap();
    signal(&s.child, "HUP");
    let logged = failed_reload(&s);
    assert!(
        logged.contains("is not the key of the certificate"),
        "{logged}"
    );
    assert_eq!(
        fresh_connection(&ca, s.addr).await,
        (200, second.der.clone())
    );
    let mut s = s;
    assert!(s.child.try_wait().unwrap().is_none(), "still running");
}

const BODY: &str = "grant_type=client_credentials&client_id=bot&client_secret=bot-secret-4c9f2a7e1b8d3f60-0123456789";

#[tokio::test]
async fn sigterm_over_tls_refuses_new_connections_finishes_the_request_in_flight_and_exits_0() {
    let ca = TestCa::new();
    let mut s = serve(&ca.server_cert(90));
    // An idle HTTP/2 connection must not hold the shutdown.
    let idle = ca.client().build().unwrap();
    let (status, _) = fresh_connection(&ca, s.addr).await;
    assert_eq!(status, 200);
    let r = idle
        .get(format!("https://{}/health/live", s.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);

    // A token request whose body is half sent.
    let mut conn = ca.connect(s.addr).await.unwrap();
    let head = format!(
        "POST /realms/demo/protocol/openid-connect/token HTTP/1.1\r\nHost: {}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        s.addr,
        BODY.len(),
        &BODY[..20]
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    conn.flush().await.unwrap();
    // Let the server start on the request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(&s.child, "TERM");

    let start = Instant::now();
    loop {
        match std::net::TcpStream::connect(s.addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) => {
                assert!(
                    start.elapsed() < Duration::from_secs(2),
                    "still accepting connections 2 s after SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "waits for the request"
    );

    conn.write_all(&BODY.as_bytes()[20..]).await.unwrap();
    conn.flush().await.unwrap();
    let mut response = Vec::new();
    // The server may close without a TLS close_notify once the response is out: keep what was read.
    let _ = conn.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"access_token\""), "{response}");

    let deadline = Instant::now() + Duration::from_millis(1500);
    let status = loop {
        if let Some(status) = s.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "exits once the request is done");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(status.code(), Some(0));
    drop(idle);
}

fn keyport(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyport"))
        .env_remove("KEYPORT_CONFIG")
        .env_remove("KEYPORT_DATABASE_URL")
        .env_remove("KEYPORT_ADMIN_PASSWORD")
        .env("KEYPORT_LOG", "off")
        .args(args)
        .output()
        .unwrap()
}

/// `keyport doctor` on `[server]` settings `server` over a migrated SQLite data directory: (exit code, lines).
fn doctor(dir: &std::path::Path, server: &str) -> (Option<i32>, Vec<String>) {
    let config = dir.join("keyport.toml");
    std::fs::write(&config, format!("[server]\n{server}\n{REALM}")).unwrap();
    let (config, data) = (
        config.display().to_string(),
        dir.join("data").display().to_string(),
    );
    if !dir.join("data").exists() {
        let out = keyport(&["migrate", "--config", &config, "--data-dir", &data]);
        assert!(out.status.success(), "{out:?}");
    }
    let out = keyport(&["doctor", "--config", &config, "--data-dir", &data]);
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.strip_prefix("keyport doctor: ").unwrap_or(l).to_owned())
        .collect();
    (out.status.code(), lines)
}

fn chmod(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn doctor_checks_the_certificate_and_key_files() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let files = |name: &str, cert: &ServerCert| {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        cert.write(&sub)
    };
    let settings = |(cert, key): &(PathBuf, PathBuf), public_url: &str| {
        format!(
            "listen = \"127.0.0.1:8443\"\npublic_url = \"{public_url}\"\ntls_cert_file = {cert:?}\ntls_key_file = {key:?}"
        )
    };

    let sound = files("sound", &ca.server_cert(90));
    let (code, lines) = doctor(dir.path(), &settings(&sound, "https://127.0.0.1:8443"));
    assert_eq!(
        (code, lines.as_slice()),
        (Some(0), &["no problems found".to_owned()][..])
    );

    // Expiring within 14 days: a warning, not a failure.
    let soon = files("soon", &ca.server_cert(5));
    let (code, lines) = doctor(dir.path(), &settings(&soon, "https://127.0.0.1:8443"));
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines[0].starts_with("warning: server.tls_cert_file:")
            && lines[0].contains("expires on")
            && lines[0].contains("renew it"),
        "{lines:#?}"
    );

    // Expired, a key any user can read, and an http public URL in front of a TLS listener.
    let expired = files("expired", &ca.server_cert(-1));
    chmod(&expired.1, 0o644);
    let (code, lines) = doctor(dir.path(), &settings(&expired, "http://127.0.0.1:8443"));
    assert_eq!(code, Some(1), "{lines:#?}");
    assert_eq!(lines.len(), 4, "three problems and the count: {lines:#?}");
    assert!(
        lines[0].contains("plain http but the server speaks TLS"),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("server.tls_key_file:") && lines[1].contains("chmod 600"),
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with("server.tls_cert_file:") && lines[2].contains("expired on"),
        "{lines:#?}"
    );

    // A key that is not the certificate's; an unreadable certificate.
    let other = ca.server_cert(90);
    let mismatch = (sound.0.clone(), dir.path().join("other-key.pem"));
    std::fs::write(&mismatch.1, other.key_pem).unwrap();
    chmod(&mismatch.1, 0o600);
    let (code, lines) = doctor(dir.path(), &settings(&mismatch, "https://127.0.0.1:8443"));
    assert_eq!(code, Some(1));
    assert!(
        lines[0].contains("is not the key of the certificate"),
        "{lines:#?}"
    );
    let missing = (dir.path().join("nowhere.pem"), sound.1.clone());
    let (code, lines) = doctor(dir.path(), &settings(&missing, "https://127.0.0.1:8443"));
    assert_eq!(code, Some(1));
    assert!(
        lines[0].starts_with("server.tls_cert_file: cannot read"),
        "{lines:#?}"
    );
}
