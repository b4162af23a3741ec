//! The verifier against a real keyport server: JWKS caching and refetch on an unknown key id, the introspection
//! cache, and its answers when the token is missing, garbage, or keyport is down.

use std::time::Duration;

use base64::Engine;
use keyport_testkit::TestServer;
use keyport_verifier::{Config, Rejected, TokenKind, Verifier};

const CONFIG: &str = r#"
[[realms]]
name = "aiod"

[[realms.clients]]
client_id = "api"
secret = "api-secret-0123456789-abcdef-0123456789"
grants = []

[[realms.clients]]
client_id = "bot"
secret = "bot-secret-0123456789-abcdef-0123456789"
grants = ["client_credentials"]
roles = ["bot"]
audiences = ["api"]                # its tokens are for the API below

[[realms.clients]]
client_id = "other-bot"
secret = "other-bot-secret-0123456789-abcdef-01234"
grants = ["client_credentials"]
"#;

async fn bot_token(s: &TestServer) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth("bot", Some("bot-secret-0123456789-abcdef-0123456789"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

/// A token of a client whose tokens are not meant for the API (no `audiences`).
async fn other_token(s: &TestServer) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(s.endpoint("aiod", "token"))
        .basic_auth(
            "other-bot",
            Some("other-bot-secret-0123456789-abcdef-01234"),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_jwt_must_name_the_api_in_its_audience() {
    let s = TestServer::start(CONFIG).await;
    let v = verifier(&s);
    // Signed by the realm, unexpired, but issued to another client for another purpose (`aud: account`).
    let foreign = other_token(&s).await;
    assert!(matches!(
        v.verify(&foreign).await,
        Err(Rejected::InvalidToken(_))
    ));
    v.verify(&bot_token(&s).await).await.unwrap();
    // The check can be turned off (a realm whose every token is meant for this API).
    let mut config = Config::new(
        &s.issuer("aiod"),
        "api",
        "api-secret-0123456789-abcdef-0123456789",
    );
    config.audiences.clear();
    Verifier::new(config).verify(&foreign).await.unwrap();
}

fn verifier(s: &TestServer) -> Verifier {
    Verifier::new(Config::new(
        &s.issuer("aiod"),
        "api",
        "api-secret-0123456789-abcdef-0123456789",
    ))
}

/// The same JWT with another `kid` in its header (so its signature no longer matters: the key is unknown).
fn with_kid(jwt: &str, kid: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = jwt.split('.').map(str::to_owned).collect();
    let mut header: serde_json::Value =
        serde_json::from_slice(&b64.decode(&parts[0]).unwrap()).unwrap();
    header["kid"] = kid.into();
    parts[0] = b64.encode(header.to_string());
    parts.join(".")
}

#[tokio::test]
async fn jwts_are_verified_against_a_cached_jwks_refetched_on_unknown_kid() {
    let s = TestServer::start(CONFIG).await;
    let v = verifier(&s);
    let jwt = bot_token(&s).await;
    let caller = v.verify(&jwt).await.unwrap();
    assert_eq!(caller.username, "service-account-bot");
    assert_eq!(caller.roles, vec!["bot".to_owned()]);
    assert_eq!(caller.kind, TokenKind::AccessToken);
    assert_eq!(v.jwks_fetches(), 1);
    v.verify(&bot_token(&s).await).await.unwrap();
    assert_eq!(v.jwks_fetches(), 1, "the JWKS is cached");

    // An unknown kid makes the verifier fetch again (a key may have been added), then refuse.
    let unknown = with_kid(&jwt, "rotated-key");
    assert!(matches!(
        v.verify(&unknown).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert_eq!(
        v.jwks_fetches(),
        1,
        "within the refetch interval of the first fetch: no refetch"
    );
    let mut config = Config::new(
        &s.issuer("aiod"),
        "api",
        "api-secret-0123456789-abcdef-0123456789",
    );
    config.jwks_refetch_interval = Duration::from_millis(100);
    let v = Verifier::new(config);
    v.verify(&jwt).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(matches!(
        v.verify(&unknown).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert_eq!(v.jwks_fetches(), 2, "an unknown kid triggers a refetch");
    assert!(matches!(
        v.verify(&unknown).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert_eq!(v.jwks_fetches(), 2, "but not more often than the interval");

    // Tampering, garbage, other issuers.
    let mut tampered = jwt.clone();
    tampered.push('x');
    assert!(matches!(
        v.verify(&tampered).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert!(matches!(
        v.verify("not-a-token").await,
        Err(Rejected::InvalidToken(_))
    ));
    let other = Verifier::new(Config::new(&s.issuer("master"), "api", "x"));
    assert!(matches!(
        other.verify(&jwt).await,
        Err(Rejected::InvalidToken(_))
    ));
}

#[tokio::test]
async fn api_token_answers_are_cached_briefly_and_keyport_down_is_503() {
    let s = TestServer::start(CONFIG).await;
    let v = verifier(&s);
    // A well-formed but unknown API token: introspected once, then the negative answer is reused.
    let unknown = format!("kp_{}", "A".repeat(49));
    assert!(matches!(
        v.verify(&unknown).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert!(matches!(
        v.verify(&unknown).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert_eq!(v.introspection_calls(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(
        v.verify(&unknown).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert_eq!(v.introspection_calls(), 2, "the cache lasts about a second");

    // Wrong client credentials or keyport gone: unavailable, not "invalid token".
    let wrong = Verifier::new(Config::new(&s.issuer("aiod"), "api", "wrong"));
    assert!(matches!(
        wrong.verify(&unknown).await,
        Err(Rejected::Unavailable(_))
    ));
    let issuer = s.issuer("aiod");
    s.stop().await;
    let v = Verifier::new(Config::new(&issuer, "api", "x"));
    assert!(matches!(
        v.verify(&unknown).await,
        Err(Rejected::Unavailable(_))
    ));
}

#[tokio::test]
async fn access_tokens_can_be_introspected_too() {
    let s = TestServer::start(CONFIG).await;
    let jwt = bot_token(&s).await;
    let offline = verifier(&s);
    let mut config = Config::new(
        &s.issuer("aiod"),
        "api",
        "api-secret-0123456789-abcdef-0123456789",
    );
    config.introspect_access_tokens = true;
    let online = Verifier::new(config);
    assert_eq!(
        online.verify(&jwt).await.unwrap().kind,
        TokenKind::AccessToken
    );
    assert_eq!(online.introspection_calls(), 1);
    // The bot revokes its access token (RFC 7009).
    let r = reqwest::Client::new()
        .post(s.endpoint("aiod", "revoke"))
        .basic_auth("bot", Some("bot-secret-0123456789-abcdef-0123456789"))
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(
        online.verify(&jwt).await,
        Err(Rejected::InvalidToken(_))
    ));
    assert!(
        offline.verify(&jwt).await.is_ok(),
        "offline verification sees only the signature and expiry"
    );
}

/// Issue 11 (low): a JWKS fetch in progress (here: one that never answers) must not hold up requests whose key
/// is already cached. The verifier used to hold its cache's write lock across the fetch.
#[tokio::test]
async fn a_stalled_jwks_fetch_does_not_block_tokens_with_known_keys() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start(CONFIG).await;
    let jwks = reqwest::get(format!(
        "{}/protocol/openid-connect/certs",
        s.realm_url("aiod")
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    // A JWKS endpoint that answers once, then accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_url = format!("http://{}/certs", listener.local_addr().unwrap());
    let stalling = tokio::spawn(async move {
        let mut held = Vec::new();
        let mut first = true;
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            if first {
                first = false;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                    jwks.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            } else {
                held.push(socket);
            }
        }
    });
    let mut config = Config::new(
        &s.issuer("aiod"),
        "api",
        "api-secret-0123456789-abcdef-0123456789",
    );
    config.jwks_url = jwks_url;
    config.jwks_refetch_interval = Duration::ZERO;
    config.timeout = Duration::from_secs(30);
    let v = Verifier::new(config);
    let token = bot_token(&s).await;
    v.verify(&token).await.unwrap();
    assert_eq!(v.jwks_fetches(), 1);

    // A token naming an unknown key starts a fetch that hangs…
    let forged = with_kid(&token, "unknown-kid");
    let hanging = {
        let v = v.clone();
        tokio::spawn(async move { v.verify(&forged).await })
    };
    while v.jwks_fetches() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …while a token with a cached key is verified at once.
    let known = tokio::time::timeout(Duration::from_secs(5), v.verify(&token)).await;
    assert!(
        matches!(known, Ok(Ok(_))),
        "a cached key waited for the JWKS fetch: {known:?}"
    );
    hanging.abort();
    stalling.abort();
}
