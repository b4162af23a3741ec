//! Issue 11, item 8, through HTTP: login sessions end on their own (`session_idle_timeout`,
//! `session_max_lifetime`, and no token outlives them), a client without rotation keeps one live refresh token per
//! session, ended sessions are purged, and the device page's session ends with the decision.

mod common;

use common::*;
use keyport_server::clock::Clock;
use keyport_server::crypto::refresh_token_key;
use keyport_testkit::{Browser, TestServer};

const IDLE: i64 = 86400;
const MAX: i64 = 3 * 86400;

/// The shared configuration with a one-day idle timeout and a three-day maximum in realm `aiod`, and a
/// password client without rotation.
async fn short_sessions() -> TestServer {
    let config = CONFIG
        .replacen(
            "scopes = [\"models:read\"]\n",
            "scopes = [\"models:read\"]\nsession_idle_timeout = \"1d\"\nsession_max_lifetime = \"3d\"\n",
            1,
        )
        .replacen(
            "[[realms]]\nname = \"other\"",
            "[[realms.clients]]\nclient_id = \"keep-app\"\nsecret = \"keep-app-secret-0123456789-abcdef-01234\"\n\
             grants = [\"password\", \"refresh_token\"]\nrefresh_token_rotation = \"off\"\n\n[[realms]]\nname = \"other\"",
            1,
        );
    TestServer::start(&config).await
}

const KEEP: (&str, &str) = ("keep-app", "keep-app-secret-0123456789-abcdef-01234");

async fn login(s: &TestServer, client: (&str, &str)) -> Reply {
    let r = post_basic(
        &s.endpoint("aiod", "token"),
        client,
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "bob-password-1"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    r
}

async fn refresh_with(s: &TestServer, client: (&str, &str), token: &str) -> Reply {
    post_basic(
        &s.endpoint("aiod", "token"),
        client,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_however_often_it_is_refreshed() {
    let s = short_sessions().await;
    let first = login(&s, LEGACY).await;
    // The refresh token lives as long as the idle timeout, not the 30 days of refresh_token_lifetime.
    assert_eq!(first.json["refresh_expires_in"], IDLE);
    let mut token = first.str("refresh_token");
    // Refreshing every 20 hours keeps it alive...
    for _ in 0..3 {
        s.clock.advance(20 * 3600);
        let r = refresh_with(&s, LEGACY, &token).await;
        assert_eq!(r.status, 200, "{r:?}");
        token = r.str("refresh_token");
    }
    // ...up to the maximum: 60 hours in, 12 are left, and no token says otherwise.
    let r = refresh_with(&s, LEGACY, &token).await;
    let left = MAX - 60 * 3600;
    assert_eq!(r.json["refresh_expires_in"], left, "{r:?}");
    s.clock.advance(11 * 3600);
    let r = refresh_with(&s, LEGACY, &r.str("refresh_token")).await;
    assert_eq!(r.json["refresh_expires_in"], 3600, "{r:?}");
    assert!(r.json["expires_in"].as_i64().unwrap() <= 3600, "{r:?}");
    // The access token of the last minutes before the end expires with the session.
    s.clock.advance(3600 - 60);
    let last = refresh_with(&s, LEGACY, &r.str("refresh_token")).await;
    assert_eq!(last.json["expires_in"], 60, "{last:?}");
    s.clock.advance(60);
    refresh_with(&s, LEGACY, &last.str("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn a_session_not_refreshed_for_the_idle_timeout_ends() {
    let s = short_sessions().await;
    let r = login(&s, LEGACY).await;
    s.clock.advance(IDLE);
    refresh_with(&s, LEGACY, &r.str("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
    // The same for a client without rotation.
    let r = login(&s, KEEP).await;
    s.clock.advance(IDLE - 1);
    let kept = refresh_with(&s, KEEP, &r.str("refresh_token")).await;
    assert_eq!(kept.status, 200, "{kept:?}");
    s.clock.advance(IDLE);
    refresh_with(&s, KEEP, &r.str("refresh_token"))
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn without_rotation_a_session_keeps_one_live_refresh_token() {
    let s = short_sessions().await;
    let r = login(&s, KEEP).await;
    let token = r.str("refresh_token");
    for _ in 0..3 {
        s.clock.advance(3600);
        let again = refresh_with(&s, KEEP, &token).await;
        assert_eq!(again.status, 200, "{again:?}");
        // The same token comes back, valid for another idle period (as a Keycloak refresh token without rotation
        // stays valid until it expires): no pile of live tokens.
        assert_eq!(again.str("refresh_token"), token);
        assert_eq!(again.json["refresh_expires_in"], IDLE);
    }
    let seen = introspect(&s, "aiod", RS, &token).await;
    assert_eq!(seen.json["active"], true);
    assert_eq!(seen.json["exp"], s.clock.now() + IDLE);
}

#[tokio::test]
async fn ended_and_idle_sessions_are_purged() {
    let s = short_sessions().await;
    let state = &s.running.state;
    let idle = login(&s, LEGACY).await;
    let live = login(&s, LEGACY).await;
    let sid = |r: &Reply| r.str("session_state");
    let key = |r: &Reply| refresh_token_key(&r.str("refresh_token"));
    s.clock.advance(IDLE - 60);
    let kept = refresh_with(&s, LEGACY, &live.str("refresh_token")).await;
    assert_eq!(kept.status, 200, "{kept:?}");
    // A session that ends with a used token and an unused one, both far from expiring.
    let first = login(&s, LEGACY).await;
    let ended = refresh_with(&s, LEGACY, &first.str("refresh_token")).await;
    assert_eq!(ended.status, 200, "{ended:?}");
    let logout = post_basic(
        &s.endpoint("aiod", "logout"),
        LEGACY,
        &[("refresh_token", &ended.str("refresh_token"))],
    )
    .await;
    assert!(logout.status < 300, "{logout:?}");
    s.clock.advance(120);
    // What the server's housekeeping runs every ten minutes.
    keyport_server::domain::tokens::purge(state).await.unwrap();
    assert!(state.store.session(&sid(&ended)).await.unwrap().is_none());
    assert!(state.store.session(&sid(&idle)).await.unwrap().is_none());
    assert!(state.store.session(&sid(&live)).await.unwrap().is_some());
    let r = refresh_with(&s, LEGACY, &kept.str("refresh_token")).await;
    assert_eq!(r.status, 200, "{r:?}");
    // The ended session's unused token went with it. On SQLite, whose refresh_tokens has no cascade from sessions
    // (migrations/sqlite/0015_…), the used one stays until it expires; it is refused (there is no session left
    // for its replay to end) and not active. PostgreSQL's cascade deletes it with the session.
    assert!(
        state
            .store
            .refresh_token(&key(&ended))
            .await
            .unwrap()
            .is_none()
    );
    let used = first.str("refresh_token");
    refresh_with(&s, LEGACY, &used)
        .await
        .assert_error(400, "invalid_grant");
    assert_eq!(
        introspect(&s, "aiod", RS, &used).await.json["active"],
        false
    );
    // The purge of expired tokens takes it.
    s.clock.advance(IDLE);
    keyport_server::domain::tokens::purge(state).await.unwrap();
    assert!(
        state
            .store
            .refresh_token(&key(&first))
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn the_device_page_signs_out_after_approve_or_deny() {
    let s = TestServer::start(CONFIG).await;
    let browser = Browser::new(&s.realm_url("aiod"));
    for approve in [true, false] {
        let start = start_device(&s, "aiod-sdk", None).await;
        let code = start.str("user_code");
        let login = browser.enter_code(&code).await;
        // Signed out each time: the code leads to the sign-in form, not straight to the consent page.
        assert!(login.contains("name=\"password\""), "{}", login.html);
        let consent = browser
            .sign_in(&login, &code, "alice", "alice-password-1")
            .await;
        let done = browser.decide(&consent, &code, approve).await;
        assert_eq!(done.status, 200, "{}", done.html);
    }
}
