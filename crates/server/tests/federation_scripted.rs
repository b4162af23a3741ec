//! keyport as a relying party against a small scripted provider on 127.0.0.1:0: what a well-behaved provider never
//! does on purpose (a tampered ID token, another issuer, a wrong nonce, a changed username). The real upstreams are
//! in `federation.rs` (a second keyport) and `federation_oidc_provider.rs` (oidc-provider from npm).

mod common;
mod federation_support;

use federation_support::*;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keyport_server::clock::Clock;
use keyport_testkit::{Browser, Page, TestServer};
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, PartialEq)]
enum Trick {
    None,
    /// The ID token's payload is changed after signing.
    Tamper,
    /// The ID token names another issuer.
    TokenIssuer,
    /// Discovery names another issuer.
    DiscoveryIssuer,
    /// The ID token carries another nonce.
    Nonce,
}

struct Script {
    issuer: String,
    trick: Trick,
    sub: String,
    username: String,
    /// From the last authorization request: nonce and PKCE challenge.
    nonce: String,
    challenge: String,
    /// What the token endpoint saw: Basic credentials and whether the verifier matched.
    basic: Option<String>,
    verifier_ok: bool,
}

type Shared = Arc<Mutex<Script>>;

const SCRIPT_KEY: [u8; 32] = [7; 32];

async fn scripted_provider() -> Shared {
    use axum::extract::{Query, State};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::{get, post};
    use std::collections::HashMap;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let script = Arc::new(Mutex::new(Script {
        issuer: issuer.clone(),
        trick: Trick::None,
        sub: "u-1".into(),
        username: "Dana".into(),
        nonce: String::new(),
        challenge: String::new(),
        basic: None,
        verifier_ok: false,
    }));
    async fn discovery(State(s): State<Shared>) -> axum::Json<serde_json::Value> {
        let s = s.lock().unwrap();
        let issuer = if s.trick == Trick::DiscoveryIssuer {
            "https://evil.example"
        } else {
            s.issuer.as_str()
        };
        axum::Json(serde_json::json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{}/authorize", s.issuer),
            "token_endpoint": format!("{}/token", s.issuer),
            "jwks_uri": format!("{}/jwks", s.issuer),
        }))
    }
    async fn jwks() -> axum::Json<serde_json::Value> {
        let key = ed25519_dalek::SigningKey::from_bytes(&SCRIPT_KEY);
        let x = URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes());
        axum::Json(serde_json::json!({"keys": [
            {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "script-1", "alg": "EdDSA", "use": "sig"}
        ]}))
    }
    async fn authorize(
        State(s): State<Shared>,
        Query(q): Query<HashMap<String, String>>,
    ) -> Redirect {
        let mut s = s.lock().unwrap();
        s.nonce = q["nonce"].clone();
        s.challenge = q["code_challenge"].clone();
        assert_eq!(q["code_challenge_method"], "S256");
        let back = format!(
            "{}?code=script-code&state={}",
            q["redirect_uri"], q["state"]
        );
        Redirect::to(&back)
    }
    async fn token(
        State(s): State<Shared>,
        headers: axum::http::HeaderMap,
        axum::Form(f): axum::Form<HashMap<String, String>>,
    ) -> axum::response::Response {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        let mut s = s.lock().unwrap();
        s.basic = headers
            .get("authorization")
            .map(|v| v.to_str().unwrap().to_owned());
        s.verifier_ok =
            URL_SAFE_NO_PAD.encode(Sha256::digest(f["code_verifier"].as_bytes())) == s.challenge;
        let now = keyport_server::clock::SystemClock.now();
        let iss = if s.trick == Trick::TokenIssuer {
            "https://evil.example".to_owned()
        } else {
            s.issuer.clone()
        };
        let nonce = if s.trick == Trick::Nonce {
            "another".to_owned()
        } else {
            s.nonce.clone()
        };
        let claims = serde_json::json!({
            "iss": iss, "sub": s.sub, "aud": ["keyport", "other"], "exp": now + 300, "iat": now,
            "nonce": nonce, "preferred_username": s.username, "email": format!("{}@script.example", s.username.to_lowercase()),
        });
        let der = ed25519_dalek::SigningKey::from_bytes(&SCRIPT_KEY)
            .to_pkcs8_der()
            .unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some("script-1".into());
        let key = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
        let mut jwt = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        if s.trick == Trick::Tamper {
            let parts: Vec<&str> = jwt.split('.').collect();
            let mut payload: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            payload["sub"] = "someone-else".into();
            let forged = URL_SAFE_NO_PAD.encode(payload.to_string());
            jwt = format!("{}.{forged}.{}", parts[0], parts[2]);
        }
        axum::Json(
            serde_json::json!({"access_token": "opaque", "token_type": "Bearer", "id_token": jwt}),
        )
        .into_response()
    }
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(script.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    script
}

async fn scripted_pair() -> (Shared, TestServer) {
    let script = scripted_provider().await;
    let issuer = script.lock().unwrap().issuer.clone();
    let dir = tempfile::tempdir().unwrap().keep();
    let secret_file = dir.join("idp-secret");
    std::fs::write(&secret_file, format!("{UP_SECRET}\n")).unwrap();
    let line = format!("client_secret_file = \"{}\"", secret_file.display());
    let down = TestServer::start(&downstream(&issuer, "keyport", &line)).await;
    (script, down)
}

/// A sign-in through the scripted provider in a fresh browser: the final page.
async fn scripted_sign_in(down: &TestServer) -> Page {
    let browser = Browser::new(&down.issuer("web"));
    let start = format!(
        "{}/broker/campus/login?return_to=/realms/web/login",
        down.issuer("web")
    );
    walk(&browser, start).await.1
}

#[tokio::test]
async fn later_sign_ins_find_the_account_after_the_upstream_username_changed() {
    let (script, down) = scripted_pair().await;
    let page = scripted_sign_in(&down).await;
    assert!(page.contains("You are signed in as dana."), "{}", page.html);
    {
        let s = script.lock().unwrap();
        let basic = URL_SAFE_NO_PAD.encode(format!("keyport:{UP_SECRET}"));
        let sent = s.basic.clone().expect("client_secret_basic");
        let sent = sent
            .strip_prefix("Basic ")
            .unwrap()
            .trim_end_matches('=')
            .replace('+', "-")
            .replace('/', "_");
        assert_eq!(sent, basic, "the secret from client_secret_file");
        assert!(
            s.verifier_ok,
            "the PKCE verifier matches the S256 challenge"
        );
    }
    script.lock().unwrap().username = "Dana.Renamed".into();
    let page = scripted_sign_in(&down).await;
    assert!(page.contains("You are signed in as dana."), "{}", page.html);
    let users = state_of(&down)
        .store
        .list_users("web", 0, 100)
        .await
        .unwrap();
    assert_eq!(users.len(), 2, "alice and dana, nobody else");
    // Another subject with the same username is another person: a new account.
    script.lock().unwrap().sub = "u-2".into();
    script.lock().unwrap().username = "Dana".into();
    let page = scripted_sign_in(&down).await;
    assert!(
        page.contains("You are signed in as dana-2."),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn tampered_tokens_other_issuers_and_wrong_nonces_are_refused() {
    let (script, down) = scripted_pair().await;
    for (trick, heading) in [
        (Trick::Tamper, "could not be verified"),
        (Trick::Nonce, "could not be verified"),
        (Trick::TokenIssuer, "did not identify itself"),
    ] {
        script.lock().unwrap().trick = trick;
        let page = scripted_sign_in(&down).await;
        assert_eq!(page.status, 502, "{}", page.html);
        assert!(page.contains(heading), "{}", page.html);
        assert!(
            page.contains("href=\"/realms/web/login?return_to="),
            "{}",
            page.html
        );
    }
    assert!(
        state_of(&down)
            .store
            .linked_user("web", "campus", "u-1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        state_of(&down)
            .store
            .linked_user("web", "campus", "someone-else")
            .await
            .unwrap()
            .is_none()
    );
    // Discovery naming another issuer: refused before the browser is sent anywhere. (A fresh server: the first
    // one cached the good discovery document.)
    let (script, down) = scripted_pair().await;
    script.lock().unwrap().trick = Trick::DiscoveryIssuer;
    let browser = Browser::new(&down.issuer("web"));
    let page = browser.get("/broker/campus/login").await;
    assert_eq!(page.status, 502, "{}", page.html);
    assert!(page.contains("did not identify itself"), "{}", page.html);
    // And a good one after all.
    script.lock().unwrap().trick = Trick::None;
    let page = scripted_sign_in(&down).await;
    assert!(page.contains("You are signed in as dana."), "{}", page.html);
}
