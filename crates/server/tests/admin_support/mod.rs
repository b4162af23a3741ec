//! Helpers of the admin-API tests: JSON calls with a bearer token, an admin's personal token, and a captured
//! server log (a tracing subscriber writing into memory, so tests can grep it for secrets).
#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};

use keyport_testkit::TestServer;
use serde_json::{Value, json};

use crate::common::*;

/// Everything the server logged in this test process (every level), as text lines.
pub fn captured_log() -> String {
    String::from_utf8_lossy(&log_buffers().0.lock().unwrap()).into_owned()
}

/// The same events as [`captured_log`], as `KEYPORT_LOG_FORMAT=json` writes them (one JSON object per line).
pub fn captured_json_log() -> String {
    String::from_utf8_lossy(&log_buffers().1.lock().unwrap()).into_owned()
}

type Buffer = Arc<Mutex<Vec<u8>>>;

fn log_buffers() -> &'static (Buffer, Buffer) {
    static BUF: OnceLock<(Buffer, Buffer)> = OnceLock::new();
    BUF.get_or_init(Default::default)
}

#[derive(Clone)]
struct Sink(Buffer);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing subscriber (once per process), at TRACE so that nothing escapes the grep: the server's
/// own text and JSON layers ([`keyport_server::logging`]), each into its buffer.
pub fn capture_logs() {
    use keyport_server::logging::{Format, layer};
    use tracing_subscriber::layer::SubscriberExt;
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let (text, json) = log_buffers();
        let (text, json) = (Sink(text.clone()), Sink(json.clone()));
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::TRACE)
            .with(layer(Format::Text, move || text.clone()))
            .with(layer(Format::Json, move || json.clone()));
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
}

pub fn admin_url(s: &TestServer, realm: &str, path: &str) -> String {
    format!("{}/admin/realms/{realm}/{path}", s.url)
}

pub async fn call(method: reqwest::Method, url: &str, token: &str, body: Option<Value>) -> Reply {
    let mut req = http().request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    Reply::from(req.send().await.unwrap()).await
}

pub async fn aget(s: &TestServer, path: &str, token: &str) -> Reply {
    call(
        reqwest::Method::GET,
        &admin_url(s, "aiod", path),
        token,
        None,
    )
    .await
}

pub async fn apost(s: &TestServer, path: &str, token: &str, body: Value) -> Reply {
    call(
        reqwest::Method::POST,
        &admin_url(s, "aiod", path),
        token,
        Some(body),
    )
    .await
}

pub async fn adelete(s: &TestServer, path: &str, token: &str) -> Reply {
    call(
        reqwest::Method::DELETE,
        &admin_url(s, "aiod", path),
        token,
        None,
    )
    .await
}

/// An access token of `username` in realm `aiod` for the admin API (password grant through `legacy-app`, which
/// may ask for the `admin` scope).
pub async fn access_token(s: &TestServer, username: &str, password: &str) -> String {
    let r = post_basic(
        &s.endpoint("aiod", "token"),
        LEGACY,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", "openid admin"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.str("access_token")
}

/// Alice (an admin of `aiod`) signs in and creates her personal, unscoped token: the seed's `IAI_TOKEN`.
pub async fn admin_token(s: &TestServer) -> String {
    let jwt = access_token(s, "alice", "alice-password-1").await;
    let r = apost(s, "tokens", &jwt, json!({"name": "alice laptop"})).await;
    assert_eq!(r.status, 201, "{r:?}");
    r.str("token")
}

/// Creates a machine user; returns its representation.
pub async fn machine_user(s: &TestServer, admin: &str, name: &str) -> Value {
    let r = apost(
        s,
        "users",
        admin,
        json!({"username": name, "machine": true}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.json
}

/// Creates a scoped token for `user`; returns the whole answer.
pub async fn scoped_token(s: &TestServer, admin: &str, user: &str, scopes: &[&str]) -> Value {
    let r = apost(
        s,
        "tokens",
        admin,
        json!({"user_id": user, "scopes": scopes}),
    )
    .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.json
}

/// The audit log of `aiod` (as the admin), newest first.
pub async fn audit(s: &TestServer, admin: &str, query: &str) -> Vec<Value> {
    let r = aget(s, &format!("audit?{query}"), admin).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.json.as_array().unwrap().clone()
}
