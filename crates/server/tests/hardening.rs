//! Issue 11, the low findings: signing keys sealed with a key-encryption key, rotation on a schedule that keeps
//! the previous key published until its tokens expired, a reload that finds an algorithm missing keeps the
//! loaded keys, and secrets that never print through `Debug`.

mod common;

use std::sync::Arc;

use base64::Engine;
use common::*;
use keyport_server::clock::FakeClock;
use keyport_server::config::Config;
use keyport_testkit::{TestData, TestServer};

fn kid_of(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

async fn bot_token(s: &TestServer) -> String {
    let r = post_basic(
        &s.endpoint("aiod", "token"),
        BOT,
        &[("grant_type", "client_credentials")],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r.str("access_token")
}

async fn jwks_kids(s: &TestServer) -> Vec<String> {
    get(&s.endpoint("aiod", "certs")).await.json["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Starts a server on `data` without the test kit (whose start panics on failure): the start-up error.
async fn start_err(data: &TestData, toml: &str) -> String {
    let mut config = Config::from_toml(toml, std::path::Path::new("t.toml")).unwrap();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = data.dir.path().join("data");
    config.server.database_url = data.database.as_ref().map(|d| d.url.clone());
    config.server.admin_password = Some("admin-test-password".into());
    config.validate().unwrap();
    match keyport_server::server::start(config, Arc::new(FakeClock::new())).await {
        Ok(_) => panic!("the server started"),
        Err(e) => e.to_string(),
    }
}

fn kek_file(dir: &std::path::Path, byte: u8) -> std::path::PathBuf {
    let path = dir.join(format!("kek-{byte}"));
    let text = base64::engine::general_purpose::STANDARD.encode([byte; 32]);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn signing_keys_are_sealed_with_the_key_encryption_key() {
    let secrets = tempfile::tempdir().unwrap();
    let kek = kek_file(secrets.path(), 1);
    let with_kek = format!("[server]\nkey_encryption_key_file = {:?}\n{CONFIG}", kek);
    let s = TestServer::start(&with_kek).await;
    let stored = s.running.state.store.signing_keys().await.unwrap();
    assert_eq!(stored.len(), 3);
    for key in &stored {
        assert!(key.private_pem.starts_with("kek1:"), "{key:?}");
        assert!(!key.private_pem.contains("PRIVATE KEY"));
    }
    let token = bot_token(&s).await;
    verify_with_jwks(&s, "aiod", &token).await;
    let kids = jwks_kids(&s).await;
    let data = s.stop().await;

    // Without the KEK, or with another one, the server refuses to start and says what is missing.
    let err = start_err(&data, CONFIG).await;
    assert!(err.contains("key_encryption_key_file"), "{err}");
    let wrong = format!(
        "[server]\nkey_encryption_key_file = {:?}\n{CONFIG}",
        kek_file(secrets.path(), 2)
    );
    let err = start_err(&data, &wrong).await;
    assert!(err.contains("key-encryption key"), "{err}");

    // With it, the same keys come back.
    let s = TestServer::start_in(data, &with_kek).await;
    assert_eq!(jwks_kids(&s).await, kids);
    verify_with_jwks(&s, "aiod", &bot_token(&s).await).await;
}

#[tokio::test]
async fn keys_stored_in_clear_are_sealed_by_encrypt_keys_in_place() {
    let s = server().await;
    let kids = jwks_kids(&s).await;
    let data = s.stop().await;
    let secrets = tempfile::tempdir().unwrap();
    let with_kek = format!(
        "[server]\nkey_encryption_key_file = {:?}\n{CONFIG}",
        kek_file(secrets.path(), 3)
    );
    // A KEK configured on a store of clear keys: they still load (and a warning says to seal them).
    let s = TestServer::start_in(data, &with_kek).await;
    let kek = s.running.state.keys.kek().unwrap();
    let store = s.running.state.store.clone();
    assert_eq!(
        keyport_server::setup::encrypt_keys(store.as_ref(), kek)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        keyport_server::setup::encrypt_keys(store.as_ref(), kek)
            .await
            .unwrap(),
        0
    );
    assert!(
        store
            .signing_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.private_pem.starts_with("kek1:"))
    );
    let data = s.stop().await;
    let s = TestServer::start_in(data, &with_kek).await;
    assert_eq!(jwks_kids(&s).await, kids);
    verify_with_jwks(&s, "aiod", &bot_token(&s).await).await;
}

#[tokio::test]
async fn scheduled_rotation_keeps_the_previous_key_until_its_tokens_expired() {
    let s = TestServer::start(&format!("[server]\nkey_rotation = \"90d\"\n{CONFIG}")).await;
    let state = &s.running.state;
    let before = bot_token(&s).await;
    let old_kid = kid_of(&before);
    // Not due yet: nothing changes.
    assert!(
        !keyport_server::setup::scheduled_rotation(state)
            .await
            .unwrap()
    );
    s.clock.advance(90 * 86400);
    assert!(
        keyport_server::setup::scheduled_rotation(state)
            .await
            .unwrap()
    );
    let after = bot_token(&s).await;
    let new_kid = kid_of(&after);
    assert_ne!(
        new_kid, old_kid,
        "signs with the new key at once on this replica"
    );
    let kids = jwks_kids(&s).await;
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid));
    assert_eq!(
        kids.len(),
        6,
        "one new key per algorithm, the previous ones still published"
    );
    // A token signed just before the rotation still verifies until it expires (5 minutes)…
    assert_eq!(
        introspect(&s, "aiod", RS, &after).await.json["active"],
        true
    );
    s.clock.advance(4 * 60);
    assert!(
        !keyport_server::setup::scheduled_rotation(state)
            .await
            .unwrap()
    );
    assert!(jwks_kids(&s).await.contains(&old_kid));
    // …and once every token of the old key has expired (plus the replicas' reload minute), it is gone.
    s.clock.advance(2 * 60);
    assert!(
        keyport_server::setup::scheduled_rotation(state)
            .await
            .unwrap()
    );
    let kids = jwks_kids(&s).await;
    assert!(!kids.contains(&old_kid) && kids.contains(&new_kid));
    assert_eq!(kids.len(), 3);
    verify_with_jwks(&s, "aiod", &bot_token(&s).await).await;
}

#[tokio::test]
async fn a_reload_that_finds_an_algorithm_missing_keeps_signing() {
    let s = server().await;
    let token = bot_token(&s).await; // ES256
    let store = s.running.state.store.clone();
    for key in store.signing_keys().await.unwrap() {
        if key.alg == keyport_server::config::SigningAlg::ES256 {
            store.delete_signing_key(&key.kid).await.unwrap();
        }
    }
    // A token naming an unknown key makes the replica reload (at most once a second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    parts[0] = b64.encode(r#"{"alg":"ES256","kid":"forged","typ":"JWT"}"#);
    let forged = parts.join(".");
    let r = get_bearer(&s.endpoint("aiod", "userinfo"), &forged).await;
    assert_eq!(r.status, 401, "{r:?}");
    // The reload was refused (ES256 missing), so ES256 tokens are still issued and verify.
    let again = bot_token(&s).await;
    verify_with_jwks(&s, "aiod", &again).await;
}

#[tokio::test]
async fn secrets_never_print_through_debug() {
    let config = Config::from_toml(
        r#"
[server]
admin_password = "admin-pw-SECRET1"

[[realms]]
name = "r"

[[realms.clients]]
client_id = "c"
secret = "client-SECRET2-0123456789-0123456789"

[[realms.users]]
username = "u"
password = "user-pw-SECRET3"
"#,
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let printed = format!("{config:?}");
    for secret in ["SECRET1", "SECRET2", "SECRET3"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }

    let s = server().await;
    let start = start_device(&s, "aiod-sdk", None).await;
    let device: keyport_proto::oauth::DeviceAuthorizationResponse =
        serde_json::from_value(start.json.clone()).unwrap();
    assert!(!format!("{device:?}").contains(&start.str("device_code")));
    let tokens = device_login(&s, "aiod-sdk", "alice", "alice-password-1").await;
    let response: keyport_proto::oauth::TokenResponse =
        serde_json::from_value(tokens.json.clone()).unwrap();
    let printed = format!("{response:?}");
    for field in ["access_token", "refresh_token", "id_token"] {
        assert!(
            !printed.contains(&tokens.str(field)),
            "{field} in {printed}"
        );
    }
    // The wire format is unchanged.
    assert_eq!(
        serde_json::to_value(&response).unwrap()["access_token"],
        tokens.json["access_token"]
    );
}
