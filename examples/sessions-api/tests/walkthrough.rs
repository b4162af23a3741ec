//! Seed 002 end to end: an admin creates machine users and scoped tokens through keyport's admin API, the users
//! call the example sessions API (protected by keyport-verifier) with allowed and forbidden scopes and with their
//! own and others' sessions, token_info, revocation (refused everywhere within one second), user deletion, the
//! audit trail of every step, and no token in the audit log or in anything logged.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use keyport_testkit::TestServer;
use keyport_verifier::{Config, Verifier};
use serde_json::{Value, json};

const CONFIG: &str = r#"
[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "sessions-api"
secret = "sessions-api-secret-0123456789-abcdef"
grants = []

[[realms.clients]]
client_id = "portal"
secret = "portal-secret-0123456789-abcdef-0123456"
grants = ["password"]
scopes = ["admin"]              # the admin API (issue 11)
audiences = ["sessions-api"]    # its access tokens are also for the sessions API (checked by keyport-verifier)

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user", "admin"]
"#;

fn log_buffer() -> &'static Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(Arc::default)
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let sink = Sink(log_buffer().clone());
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

struct World {
    keyport: TestServer,
    api: String,
    http: reqwest::Client,
}

#[derive(Debug)]
struct Reply {
    status: u16,
    json: Value,
}

impl World {
    async fn start() -> World {
        let keyport = TestServer::start(CONFIG).await;
        let verifier = Verifier::new(Config::new(
            &keyport.issuer("aiod"),
            "sessions-api",
            "sessions-api-secret-0123456789-abcdef",
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api = format!("http://{}", listener.local_addr().unwrap());
        let app = keyport_example_sessions_api::app(&verifier);
        tokio::spawn(async move { axum::serve(listener, app).await });
        World {
            keyport,
            api,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        Reply {
            status,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/admin/realms/aiod/{path}", self.keyport.url)
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .http
            .request(method, self.admin_url(path))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req).await
    }

    async fn api(&self, method: reqwest::Method, path: &str, token: &str) -> Reply {
        self.send(
            self.http
                .request(method, format!("{}{path}", self.api))
                .bearer_auth(token)
                .json(&json!({})),
        )
        .await
    }

    async fn create_user(&self, admin: &str, name: &str) -> String {
        let r = self
            .admin(
                reqwest::Method::POST,
                "users",
                admin,
                Some(json!({"username": name, "machine": true})),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.json["id"].as_str().unwrap().to_owned()
    }

    async fn create_token(&self, admin: &str, user: &str, scopes: &[&str]) -> (String, String) {
        let r = self
            .admin(
                reqwest::Method::POST,
                "tokens",
                admin,
                Some(json!({"user_id": user, "scopes": scopes})),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        (
            r.json["token"].as_str().unwrap().to_owned(),
            r.json["token_id"].as_str().unwrap().to_owned(),
        )
    }
}

use reqwest::Method;

#[tokio::test]
async fn seed_002_end_to_end() {
    capture_logs();
    let w = World::start().await;

    // The admin signs in (an access token with the realm's admin role) and makes their unscoped token.
    let login = w
        .send(
            w.http
                .post(w.keyport.endpoint("aiod", "token"))
                .basic_auth("portal", Some("portal-secret-0123456789-abcdef-0123456"))
                .form(&[
                    ("grant_type", "password"),
                    ("username", "alice"),
                    ("password", "alice-password-1"),
                    ("scope", "openid admin"),
                ]),
        )
        .await;
    let alice_jwt = login.json["access_token"].as_str().unwrap().to_owned();
    let r = w
        .admin(
            Method::POST,
            "tokens",
            &alice_jwt,
            Some(json!({"name": "IAI_TOKEN"})),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let admin = r.json["token"].as_str().unwrap().to_owned();

    // Users and scoped tokens.
    let demo_id = w.create_user(&admin, "demo-user").await;
    let other_id = w.create_user(&admin, "other-user").await;
    w.create_user(&admin, "auditor").await;
    let (demo, demo_token_id) = w
        .create_token(
            &admin,
            "demo-user",
            &[
                "create_session",
                "read_user_session",
                "start_session",
                "cancel_user_session",
                "delete_user_session",
            ],
        )
        .await;
    let (other, _) = w
        .create_token(
            &admin,
            "other-user",
            &["create_session", "read_user_session"],
        )
        .await;
    let (auditor, _) = w
        .create_token(&admin, "auditor", &["read_all_session"])
        .await;

    // The example API knows who is calling: by API token, and by access token (JWT, verified with the JWKS).
    let me = w.api(Method::GET, "/authorization_test", &demo).await;
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.json["name"], "demo-user");
    assert_eq!(me.json["user_id"], demo_id.as_str());
    assert_eq!(me.json["token_id"], demo_token_id.as_str());
    let jwt_me = w.api(Method::GET, "/authorization_test", &alice_jwt).await;
    assert_eq!(jwt_me.json["name"], "alice");
    assert!(
        jwt_me.json["roles"]
            .as_array()
            .unwrap()
            .contains(&json!("admin"))
    );
    assert_eq!(
        w.api(Method::GET, "/authorization_test", "garbage")
            .await
            .status,
        401
    );

    // Own versus others' sessions.
    let mine = w.api(Method::POST, "/sessions", &demo).await;
    assert_eq!(mine.status, 201, "{mine:?}");
    assert_eq!(mine.json["owner"], demo_id.as_str());
    let mine = mine.json["id"].as_str().unwrap().to_owned();
    let theirs = w.api(Method::POST, "/sessions", &other).await;
    assert_eq!(theirs.json["owner"], other_id.as_str());
    let theirs = theirs.json["id"].as_str().unwrap().to_owned();
    assert_eq!(
        w.api(Method::POST, "/sessions", &auditor).await.status,
        403,
        "auditor lacks create_session"
    );

    assert_eq!(
        w.api(Method::GET, &format!("/sessions/{mine}"), &demo)
            .await
            .status,
        200
    );
    let denied = w
        .api(Method::GET, &format!("/sessions/{theirs}"), &demo)
        .await;
    assert_eq!(
        denied.status, 403,
        "read_user_session reads only own sessions: {denied:?}"
    );
    assert_eq!(
        w.api(Method::GET, &format!("/sessions/{theirs}"), &auditor)
            .await
            .status,
        200
    );
    assert_eq!(
        w.api(Method::GET, &format!("/sessions/{mine}"), &auditor)
            .await
            .status,
        200
    );
    let listed = w.api(Method::GET, "/sessions", &demo).await;
    assert_eq!(listed.json.as_array().unwrap().len(), 1);
    assert_eq!(
        w.api(Method::GET, "/sessions", &auditor)
            .await
            .json
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Scopes gate every action; "user" scopes gate others' sessions too.
    let r = w
        .api(Method::POST, &format!("/sessions/{theirs}/start"), &other)
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json["error"], "insufficient_scope");
    assert_eq!(
        w.api(Method::POST, &format!("/sessions/{theirs}/start"), &demo)
            .await
            .status,
        403
    );
    let started = w
        .api(Method::POST, &format!("/sessions/{mine}/start"), &demo)
        .await;
    assert_eq!(started.json["state"], "running");
    assert_eq!(
        w.api(Method::POST, &format!("/sessions/{theirs}/cancel"), &demo)
            .await
            .status,
        403
    );
    assert_eq!(
        w.api(Method::POST, &format!("/sessions/{mine}/cancel"), &demo)
            .await
            .json["state"],
        "cancelled"
    );
    assert_eq!(
        w.api(Method::DELETE, &format!("/sessions/{theirs}"), &other)
            .await
            .status,
        403
    );
    assert_eq!(
        w.api(Method::DELETE, &format!("/sessions/{theirs}"), &demo)
            .await
            .status,
        403
    );
    assert_eq!(
        w.api(Method::DELETE, &format!("/sessions/{mine}"), &demo)
            .await
            .status,
        204
    );

    // token_info.
    let info = w
        .admin(
            Method::POST,
            "tokens/info",
            &admin,
            Some(json!({"token": demo})),
        )
        .await;
    assert_eq!(info.json["active"], true);
    assert_eq!(info.json["user_id"], "demo-user");
    assert_eq!(info.json["token_id"], demo_token_id.as_str());

    // revoke_token: refused everywhere within one second.
    let revoked_at = Instant::now();
    let r = w
        .admin(
            Method::DELETE,
            &format!("tokens/{demo_token_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    loop {
        let r = w.api(Method::GET, "/authorization_test", &demo).await;
        if r.status == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_millis(1500),
            "still accepted after revocation"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        revoked_at.elapsed() <= Duration::from_millis(1200),
        "{:?}",
        revoked_at.elapsed()
    );
    let info = w
        .admin(
            Method::POST,
            "tokens/info",
            &admin,
            Some(json!({"token": demo})),
        )
        .await;
    assert_eq!(info.json, json!({"active": false}));
    let userinfo = w
        .send(
            w.http
                .get(w.keyport.endpoint("aiod", "userinfo"))
                .bearer_auth(&demo),
        )
        .await;
    assert_eq!(userinfo.status, 401);

    // delete_user: their tokens stop working too.
    assert_eq!(
        w.api(Method::GET, "/authorization_test", &other)
            .await
            .status,
        200
    );
    assert_eq!(
        w.admin(Method::DELETE, "users/other-user", &admin, None)
            .await
            .status,
        204
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        w.api(Method::GET, "/authorization_test", &other)
            .await
            .status,
        401
    );

    // The audit trail has every step, and the verifier's introspections as token uses of their owners.
    let audit = w.admin(Method::GET, "audit?max=1000", &admin, None).await;
    let entries = audit.json.as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "user.create",
        "token.create",
        "token.introspect",
        "token.info",
        "token.revoke",
        "user.delete",
    ] {
        assert!(actions.contains(&a), "no {a} in {actions:?}");
    }
    let demo_uses = w
        .admin(
            Method::GET,
            &format!("audit?token_id={demo_token_id}&action=token.introspect"),
            &admin,
            None,
        )
        .await;
    let demo_uses = demo_uses.json.as_array().unwrap();
    assert!(!demo_uses.is_empty());
    assert!(
        demo_uses
            .iter()
            .all(|e| e["actor_user_id"] == demo_id.as_str())
    );

    // No token anywhere in the audit log or the log of keyport, the verifier and the API.
    let audit_text = audit.json.to_string();
    let log = String::from_utf8_lossy(&log_buffer().lock().unwrap()).into_owned();
    assert!(
        log.contains("Machine user demo-user("),
        "the log was captured"
    );
    for secret in [&admin, &demo, &other, &auditor, &alice_jwt] {
        assert!(
            !audit_text.contains(secret.as_str()),
            "a token is in the audit log"
        );
        assert!(!log.contains(secret.as_str()), "a token is in the log");
    }
}
