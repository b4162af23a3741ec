//! Issue 11 item 7: the SDK cannot be pointed at another server with the user's credentials. A token file names
//! its issuer and another issuer refuses it; discovery must name the configured issuer and keep its endpoints on
//! the issuer's origin; plain http only on loopback (or by explicit opt-out); a device login's verification URI
//! must be http(s).

mod support;

use keyport_client::{Client, Config, Error, Token};
use serde_json::json;
use support::*;

#[tokio::test]
async fn a_token_file_is_refused_by_a_client_of_another_issuer() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.toml");
    let client = server.client(BOT_CLIENT);
    let token = Token::from_client_secret(&client, BOT_SECRET);
    token.access_token().await.unwrap();
    token.to_file(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let issuer = server.server.issuer(REALM);
    assert!(text.contains(&format!("issuer = \"{issuer}\"")), "{text}");

    // The same issuer reads it back and uses it.
    let back = Token::from_file(&server.client(BOT_CLIENT), &path).unwrap();
    back.refresh().await.unwrap();

    // A client of another issuer (here: realm `master` of the same server) refuses it before any request.
    let other = Client::new(Config::new(server.url(), "master", BOT_CLIENT)).unwrap();
    match Token::from_file(&other, &path) {
        Err(Error::IssuerMismatch {
            found, expected, ..
        }) => {
            assert_eq!(found, issuer);
            assert!(expected.ends_with("/realms/master"), "{expected}");
        }
        other => panic!("expected IssuerMismatch, got {other:?}"),
    }
    let err = Token::from_file(&other, &path).unwrap_err().to_string();
    assert!(err.contains("keyport login"), "{err}");

    // A hand-written secret file (seed 001's secret.toml) names no issuer and is still accepted.
    std::fs::write(&path, format!("client_secret = \"{BOT_SECRET}\"\n")).unwrap();
    let bot = Token::from_file(&server.client(BOT_CLIENT), &path).unwrap();
    bot.access_token().await.unwrap();
    // …and records the issuer at its first write.
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("issuer = ")
    );
}

#[tokio::test]
async fn discovery_must_name_the_configured_issuer() {
    let server = Server::start().await;
    // The server's issuer is http://127.0.0.1:PORT/realms/sdk; configured as localhost, the document names
    // another issuer and is refused.
    let as_localhost = server.url().replace("127.0.0.1", "localhost");
    let client = Client::new(Config::new(&as_localhost, REALM, PUBLIC_CLIENT)).unwrap();
    let err = client.endpoints().await.unwrap_err();
    assert!(
        matches!(&err, Error::Discovery { message, .. } if message.contains("issuer")),
        "{err:?}"
    );
    assert!(client.start_device_login().await.is_err());
    // The real issuer is accepted.
    server.client(PUBLIC_CLIENT).endpoints().await.unwrap();
}

fn document(token_endpoint: &str) -> serde_json::Value {
    json!({
        "issuer": "{base}/realms/x",
        "token_endpoint": token_endpoint,
        "device_authorization_endpoint": "{base}/realms/x/device",
        "revocation_endpoint": "{base}/realms/x/revoke",
    })
}

#[tokio::test]
async fn discovery_endpoints_must_share_the_issuers_origin() {
    let elsewhere = Hostile::start(vec![]).await;
    let token_endpoint = format!("{}/steal", elsewhere.url);
    let hostile = Hostile::start(vec![(
        "/realms/x/.well-known/openid-configuration",
        document(&token_endpoint),
    )])
    .await;
    let client = Client::new(Config::new(&hostile.url, "x", BOT_CLIENT)).unwrap();
    let err = client.endpoints().await.unwrap_err();
    assert!(
        matches!(&err, Error::Discovery { message, .. } if message.contains("token_endpoint")),
        "{err:?}"
    );
    // So the secret never leaves: the grant fails on discovery.
    let token = Token::from_client_secret(&client, BOT_SECRET);
    assert!(matches!(
        token.access_token().await,
        Err(Error::Discovery { .. })
    ));
    // The same document with the endpoint on the issuer's origin is accepted.
    let fine = Hostile::start(vec![(
        "/realms/x/.well-known/openid-configuration",
        document("{base}/realms/x/token"),
    )])
    .await;
    let client = Client::new(Config::new(&fine.url, "x", BOT_CLIENT)).unwrap();
    client.endpoints().await.unwrap();
}

#[tokio::test]
async fn a_device_login_whose_verification_uri_is_not_http_is_refused() {
    let hostile = Hostile::start(vec![
        (
            "/realms/x/.well-known/openid-configuration",
            document("{base}/realms/x/token"),
        ),
        (
            "/realms/x/device",
            json!({
                "device_code": "d", "user_code": "BCDF-GHJK", "expires_in": 600, "interval": 5,
                "verification_uri": "file:///etc/passwd",
            }),
        ),
    ])
    .await;
    let client = Client::new(Config::new(&hostile.url, "x", PUBLIC_CLIENT)).unwrap();
    let err = client.start_device_login().await.unwrap_err();
    assert!(err.to_string().contains("http(s)"), "{err}");
}

#[test]
fn plain_http_is_refused_except_on_loopback_or_by_explicit_opt_out() {
    let remote = Config::new("http://auth.example.org", "aiod", "aiod-sdk");
    let err = Client::new(remote.clone()).unwrap_err().to_string();
    assert!(err.contains("https"), "{err}");
    assert!(Client::new(remote.with_insecure_http(true)).is_ok());
    assert!(Client::new(Config::new("https://auth.example.org", "aiod", "aiod-sdk")).is_ok());
    for loopback in [
        "http://127.0.0.1:8080",
        "http://localhost:8080",
        "http://[::1]:8080",
    ] {
        assert!(
            Client::new(Config::new(loopback, "aiod", "aiod-sdk")).is_ok(),
            "{loopback}"
        );
    }
    // The opt-out is a config field, not an environment variable a stray `.env` could set.
    let from_file: Config =
        toml::from_str("server_url = \"http://auth.example.org\"\nallow_insecure_http = true")
            .unwrap();
    assert!(Client::new(from_file).is_ok());
}
