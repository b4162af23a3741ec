//! Behaviour a keyport server does not show on demand, checked against a scripted OpenID Connect server: a
//! tiny HTTP responder on 127.0.0.1:0 that answers discovery and then plays back canned token answers, and
//! records what the SDK sent. It stands in for "any standard server", e.g. Auth0 with its `audience`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyport_client::{Client, Config, Error, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Default)]
struct Script {
    /// Canned (status, JSON body) answers of the token endpoint, in order.
    token: VecDeque<(u16, String)>,
    /// Every request as "METHOD path\nbody".
    seen: Vec<String>,
}

struct Scripted {
    base: String,
    script: Arc<Mutex<Script>>,
}

impl Scripted {
    async fn start(token_answers: &[(u16, &str)]) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let script = Arc::new(Mutex::new(Script {
            token: token_answers
                .iter()
                .map(|(s, b)| (*s, b.to_string()))
                .collect(),
            seen: Vec::new(),
        }));
        let (b, s) = (base.clone(), script.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let (b, s) = (b.clone(), s.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = conn.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap())
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                break;
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let (head, body) = text.split_once("\r\n\r\n").unwrap();
                    let mut parts = head.split_whitespace();
                    let (method, path) = (
                        parts.next().unwrap().to_owned(),
                        parts.next().unwrap().to_owned(),
                    );
                    let (status, answer) = {
                        let mut sc = s.lock().unwrap();
                        sc.seen.push(format!("{method} {path}\n{body}"));
                        match path.as_str() {
                            "/.well-known/openid-configuration" => (
                                200,
                                format!(
                                    r#"{{"issuer":"{b}/","token_endpoint":"{b}/oauth/token","device_authorization_endpoint":"{b}/oauth/device/code","userinfo_endpoint":"{b}/userinfo","revocation_endpoint":"{b}/oauth/revoke","jwks_uri":"{b}/jwks"}}"#
                                ),
                            ),
                            "/oauth/device/code" => (
                                200,
                                format!(
                                    r#"{{"device_code":"dc","user_code":"BCDF-GHJK","verification_uri":"{b}/activate","verification_uri_complete":"{b}/activate?user_code=BCDF-GHJK","expires_in":600,"interval":1}}"#
                                ),
                            ),
                            "/oauth/token" => sc
                                .token
                                .pop_front()
                                .unwrap_or((500, r#"{"error":"server_error"}"#.into())),
                            "/oauth/revoke" => (200, String::new()),
                            _ => (404, r#"{"error":"not_found"}"#.into()),
                        }
                    };
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = conn.write_all(reply.as_bytes()).await;
                });
            }
        });
        Scripted { base, script }
    }

    fn client(&self) -> Client {
        Client::new(
            Config::for_issuer(format!("{}/", self.base), "abc")
                .with_audience("https://hub.example.org/api"),
        )
        .unwrap()
    }

    fn seen(&self, prefix: &str) -> Vec<String> {
        self.script
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|r| r.starts_with(prefix))
            .cloned()
            .collect()
    }
}

const TOKENS: &str =
    r#"{"access_token":"at-1","token_type":"Bearer","expires_in":300,"refresh_token":"rt-1"}"#;

#[tokio::test]
async fn slow_down_adds_five_seconds_and_auth0_gets_its_audience() {
    let server = Scripted::start(&[(400, r#"{"error":"slow_down"}"#), (200, TOKENS)]).await;
    let client = server.client();
    let pending = client.start_device_login().await.unwrap();
    assert!(
        pending
            .instructions(Duration::from_secs(300))
            .contains("enter code BCDF-GHJK")
    );
    let started = Instant::now();
    let token = pending.wait(Duration::from_secs(60)).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(6),
        "slow_down must add 5 s to the 1 s interval, waited {waited:?}"
    );
    assert_eq!(token.refresh_token().unwrap().secret(), "rt-1");
    assert_eq!(server.seen("POST /oauth/token").len(), 2);

    let device = &server.seen("POST /oauth/device/code")[0];
    assert!(
        device.contains("audience=https%3A%2F%2Fhub.example.org%2Fapi"),
        "{device}"
    );
    assert!(device.contains("client_id=abc"), "{device}");
    let poll = &server.seen("POST /oauth/token")[0];
    assert!(
        poll.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code"),
        "{poll}"
    );
}

#[tokio::test]
async fn unexpected_answers_keep_their_status_and_code() {
    let server = Scripted::start(&[(
        503,
        r#"{"error":"temporarily_unavailable","error_description":"maintenance"}"#,
    )])
    .await;
    let client = server.client();
    let err = client
        .start_device_login()
        .await
        .unwrap()
        .wait(Duration::from_secs(10))
        .await
        .unwrap_err();
    match &err {
        Error::Server {
            status,
            error,
            description,
            ..
        } => {
            assert_eq!(
                (*status, error.as_deref(), description.as_deref()),
                (503, Some("temporarily_unavailable"), Some("maintenance"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

#[tokio::test]
async fn without_an_end_session_endpoint_logout_revokes() {
    let server = Scripted::start(&[(200, TOKENS)]).await;
    let client = server.client();
    let token = Token::from_refresh_token(&client, "rt-0");
    assert_eq!(token.access_token().await.unwrap().secret(), "at-1");
    assert_eq!(
        token.refresh_token().unwrap().secret(),
        "rt-1",
        "the rotated refresh token is kept"
    );
    keyport_client::logout_token(&token).await.unwrap();
    let revoke = &server.seen("POST /oauth/revoke")[0];
    assert!(
        revoke.contains("token=rt-1") && revoke.contains("token_type_hint=refresh_token"),
        "{revoke}"
    );
}

#[tokio::test]
async fn token_requests_do_not_follow_redirects() {
    let server = Scripted::start(&[(302, "{}")]).await;
    let client = server.client();
    let err = Token::from_refresh_token(&client, "rt")
        .refresh()
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(302), "{err:?}");
    assert_eq!(server.seen("POST /oauth/token").len(), 1);
}
