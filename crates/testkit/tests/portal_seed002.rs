//! Seed 002's story end to end, in real headless Chromium (issue 12): an administrator signs in to the portal,
//! clicks **Generate Access Token** on the Dashboard and copies the token; the test uses it through the admin API
//! to create a machine user and a scoped token, which works against the example sessions API
//! (`examples/sessions-api`, behind keyport-verifier); the administrator finds that token under **Token
//! Management → User Scoped Tokens**, revokes it in the page, and the token is refused at once by introspection
//! and by the sessions API.

use std::time::Duration;

use keyport_testkit::TestServer;
use keyport_testkit::chromium::Chromium;
use keyport_verifier::{Config, Verifier};
use serde_json::{Value, json};

const API_SECRET: &str = "sessions-api-secret-0123456789-abcdef";

const CONFIG: &str = r#"
[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "sessions-api"
secret = "sessions-api-secret-0123456789-abcdef"
grants = []

[[realms.users]]
username = "alice"
password = "alice-password-1"
email = "alice@example.org"
roles = ["user", "admin"]
"#;

struct World {
    keyport: TestServer,
    api: String,
    http: reqwest::Client,
}

impl World {
    async fn start() -> World {
        let keyport = TestServer::start(CONFIG).await;
        let mut config = Config::new(&keyport.issuer("aiod"), "sessions-api", API_SECRET);
        // The API asks keyport about every API token (the default caches an answer for one second), so a revoked
        // token is refused at once.
        config.introspection_cache = Duration::ZERO;
        let verifier = Verifier::new(config);
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

    /// An admin API call with `token`: status and JSON.
    async fn admin(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/admin/realms/aiod/{path}", self.keyport.url))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// `POST /sessions` of the example API with `token`: the status.
    async fn create_session(&self, token: &str) -> u16 {
        self.http
            .post(format!("{}/sessions", self.api))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn introspect(&self, token: &str) -> Value {
        self.http
            .post(self.keyport.endpoint("aiod", "token/introspect"))
            .basic_auth("sessions-api", Some(API_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn seed_002_through_the_portal() {
    let w = World::start().await;
    let browser = Chromium::start().await;

    // "Log in to your account on the web. On the Dashboard, click Generate Access Token. Copy the access token."
    browser
        .goto(&format!("{}/account/", w.keyport.issuer("aiod")))
        .await;
    browser.sign_in("alice", "alice-password-1").await;
    assert!(browser.text().await.contains("Dashboard"));
    browser.fill("Token name", "IAI_TOKEN").await;
    browser.click("Generate Access Token").await;
    let page = browser.text().await;
    assert!(page.contains("This is the only time that the API token can be viewed"));
    let admin_token = browser.text_of("new-token").await;
    assert!(admin_token.starts_with("kp_"), "{admin_token}");
    assert!(!browser.url().await.as_str().contains(&admin_token));

    // The script side: the token creates a machine user and a scoped token for it (admin API).
    let (status, user) = w
        .admin(
            "users",
            &admin_token,
            json!({"username": "demo-user", "machine": true}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    let (status, created) = w
        .admin(
            "tokens",
            &admin_token,
            json!({"user_id": "demo-user", "name": "demo", "scopes": ["create_session", "read_user_session"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let scoped = created["token"].as_str().unwrap().to_owned();
    let token_id = created["token_id"].as_str().unwrap().to_owned();
    assert_eq!(w.create_session(&scoped).await, 201);

    // "Log in to the web dashboard. Click Token Management. Click User Scoped Tokens. Locate the user name."
    browser.click("Token Management").await;
    browser.click("User Scoped Tokens").await;
    let listed = browser.text().await;
    assert!(listed.contains("demo-user"), "{listed}");
    assert!(listed.contains(&token_id), "{listed}");
    browser.click(&format!("Revoke token {token_id}")).await;
    if browser.has_button("Revoke").await {
        // A confirmation step, if the page asks.
        browser.click("Revoke").await;
    }
    assert!(browser.text().await.contains("revoked"));

    // Refused at once, by introspection and by the sessions API; the administrator's own token still works.
    assert_eq!(w.introspect(&scoped).await["active"], false);
    assert_eq!(w.create_session(&scoped).await, 401);
    assert_eq!(w.introspect(&admin_token).await["active"], true);
}
