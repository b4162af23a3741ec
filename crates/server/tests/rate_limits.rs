//! Rate limits of the device authorization endpoint and the token endpoint (issue 11, item 3;
//! `[realms.rate_limits]`): per client address and per client in each replica's memory, and a per-client
//! ceiling of device authorizations that replicas share through the store. The fake clock moves to the next
//! minute instead of sleeping; `X-Forwarded-For` from the trusted loopback proxy gives each simulated client its
//! own address.

mod common;

use common::*;
use keyport_testkit::{TestData, TestDatabase, TestServer};

const LIMITS: &str = r#"
[server]
trusted_proxies = ["127.0.0.1"]

[[realms]]
name = "aiod"

[realms.rate_limits]
token_requests_per_address = 10
public_client_token_requests = 12
confidential_client_token_requests = 15
device_authorizations_per_address = 3
public_client_device_authorizations = 5
confidential_client_device_authorizations = 8

[[realms.clients]]
client_id = "aiod-sdk"
public = true
grants = ["device_code", "refresh_token"]

[[realms.clients]]
client_id = "other-sdk"
public = true
grants = ["device_code"]

[[realms.clients]]
client_id = "tv-app"
secret = "tv-app-secret-0123456789-abcdef-0123"
grants = ["device_code"]

[[realms.clients]]
client_id = "pipeline-bot"
secret = "pipeline-bot-secret-0123456789-abcdef"
grants = ["client_credentials"]

[[realms.clients]]
client_id = "other-bot"
secret = "other-bot-secret-0123456789-abcdef-01"
grants = ["client_credentials"]
"#;

const TV: (&str, &str) = ("tv-app", "tv-app-secret-0123456789-abcdef-0123");
const OTHER_BOT: (&str, &str) = ("other-bot", "other-bot-secret-0123456789-abcdef-01");

/// A form post from client address `from` (behind the trusted proxy), with Basic credentials when given.
async fn post_from(
    url: &str,
    from: &str,
    creds: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Reply {
    let mut req = http().post(url).header("x-forwarded-for", from).form(form);
    if let Some((id, secret)) = creds {
        req = req.basic_auth(id, Some(secret));
    }
    Reply::from(req.send().await.unwrap()).await
}

async fn device(s: &TestServer, from: &str, client_id: &str) -> Reply {
    post_from(
        &s.endpoint("aiod", "auth/device"),
        from,
        None,
        &[("client_id", client_id)],
    )
    .await
}

async fn cc(s: &TestServer, from: &str, creds: (&str, &str)) -> Reply {
    post_from(
        &s.endpoint("aiod", "token"),
        from,
        Some(creds),
        &[("grant_type", "client_credentials")],
    )
    .await
}

/// 429 with `Retry-After: seconds` and an RFC 6749 §5.2 body saying `slow_down`.
fn assert_too_many(r: &Reply, retry_after: u64) {
    r.assert_error(429, "slow_down");
    assert_eq!(
        r.headers["retry-after"].to_str().unwrap(),
        retry_after.to_string(),
        "{r:?}"
    );
}

#[tokio::test]
async fn device_authorizations_are_limited_per_address() {
    let s = TestServer::start(LIMITS).await;
    for _ in 0..3 {
        assert_eq!(device(&s, "198.51.100.1", "aiod-sdk").await.status, 200);
    }
    // Three a minute: one more every 20 s. Refused before the client is even looked at.
    assert_too_many(&device(&s, "198.51.100.1", "aiod-sdk").await, 20);
    assert_too_many(&device(&s, "198.51.100.1", "no-such-client").await, 20);
    // Another address has its own budget; an IPv6 /64 is one address.
    assert_eq!(device(&s, "198.51.100.2", "aiod-sdk").await.status, 200);
    for i in 1..=3 {
        let from = format!("2001:db8:0:1::{i}");
        assert_eq!(device(&s, &from, "other-sdk").await.status, 200);
    }
    assert_too_many(&device(&s, "2001:db8:0:1::99", "other-sdk").await, 20);
    // 20 s later one more is allowed.
    s.clock.advance(20);
    assert_eq!(device(&s, "198.51.100.1", "aiod-sdk").await.status, 200);
    assert_too_many(&device(&s, "198.51.100.1", "aiod-sdk").await, 20);
}

#[tokio::test]
async fn device_authorizations_are_limited_per_client_public_tighter() {
    let s = TestServer::start(LIMITS).await;
    // Five a minute for the public client, from five addresses.
    for i in 0..5 {
        let r = device(&s, &format!("203.0.113.{i}"), "aiod-sdk").await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = device(&s, "203.0.113.50", "aiod-sdk").await;
    r.assert_error(429, "slow_down");
    assert!(r.headers.contains_key("retry-after"), "{r:?}");
    // Another public client is not affected; the confidential one has eight.
    assert_eq!(device(&s, "203.0.113.51", "other-sdk").await.status, 200);
    for i in 0..8 {
        let r = post_from(
            &s.endpoint("aiod", "auth/device"),
            &format!("192.0.2.{i}"),
            Some(TV),
            &[],
        )
        .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = post_from(
        &s.endpoint("aiod", "auth/device"),
        "192.0.2.99",
        Some(TV),
        &[],
    )
    .await;
    r.assert_error(429, "slow_down");
    // The next minute starts afresh.
    s.clock.advance(60);
    assert_eq!(device(&s, "203.0.113.60", "aiod-sdk").await.status, 200);
}

#[tokio::test]
async fn token_requests_are_limited_per_address_and_device_polls_slow_down() {
    let s = TestServer::start(LIMITS).await;
    let start = device(&s, "198.51.100.7", "aiod-sdk").await;
    assert_eq!(start.status, 200, "{start:?}");
    for _ in 0..10 {
        assert_eq!(cc(&s, "198.51.100.9", OTHER_BOT).await.status, 200);
    }
    // Ten a minute from one address: a client-credentials request gets 429 (one more every 6 s)…
    assert_too_many(&cc(&s, "198.51.100.9", OTHER_BOT).await, 6);
    // …and a device-code poll from there `slow_down` with 400, as RFC 8628 §3.5 prescribes.
    let poll_from = |from: &'static str| {
        let (url, code) = (s.endpoint("aiod", "token"), start.str("device_code"));
        async move {
            post_from(
                &url,
                from,
                None,
                &[
                    ("grant_type", DEVICE_GRANT),
                    ("client_id", "aiod-sdk"),
                    ("device_code", &code),
                ],
            )
            .await
        }
    };
    poll_from("198.51.100.9")
        .await
        .assert_error(400, "slow_down");
    // The device itself, at its own address, still gets its answer.
    poll_from("198.51.100.7")
        .await
        .assert_error(400, "authorization_pending");
    s.clock.advance(6);
    assert_eq!(cc(&s, "198.51.100.9", OTHER_BOT).await.status, 200);
}

#[tokio::test]
async fn token_requests_are_limited_per_client() {
    let s = TestServer::start(LIMITS).await;
    // Fifteen a minute for the confidential bot, from fifteen addresses (each far below its own limit).
    for i in 0..15 {
        let r = cc(&s, &format!("203.0.113.{i}"), BOT).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_too_many(&cc(&s, "203.0.113.99", BOT).await, 4);
    // Another client is not affected.
    assert_eq!(cc(&s, "203.0.113.99", OTHER_BOT).await.status, 200);
    // A public client: twelve; its device-code polls then get `slow_down`.
    let start = device(&s, "192.0.2.200", "aiod-sdk").await;
    let code = start.str("device_code");
    let poll = |i: usize| {
        let url = s.endpoint("aiod", "token");
        let code = code.clone();
        async move {
            post_from(
                &url,
                &format!("192.0.2.{i}"),
                None,
                &[
                    ("grant_type", DEVICE_GRANT),
                    ("client_id", "aiod-sdk"),
                    ("device_code", &code),
                ],
            )
            .await
        }
    };
    for i in 0..12 {
        let r = poll(i).await;
        assert!(
            r.json["error"] == "authorization_pending" || r.json["error"] == "slow_down",
            "{r:?}"
        );
        assert_eq!(r.status, 400);
    }
    let r = poll(12).await;
    r.assert_error(400, "slow_down");
    assert!(
        r.str("error_description")
            .contains("too many token requests"),
        "{r:?}"
    );
    s.clock.advance(60);
    assert_eq!(cc(&s, "203.0.113.99", BOT).await.status, 200);
}

#[tokio::test]
async fn the_device_authorization_ceiling_is_shared_by_replicas() {
    let db = TestDatabase::create().await;
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let data = TestData {
            dir: tempfile::tempdir().unwrap(),
            database: None,
        };
        replicas.push(TestServer::start_with(data, Some(db.url.clone()), LIMITS).await);
    }
    let (a, b) = (&replicas[0], &replicas[1]);
    // One time for both (their fake clocks started apart), at the start of a minute.
    use keyport_server::clock::Clock;
    a.clock.advance(60 - a.clock.now().rem_euclid(60));
    b.clock.advance(a.clock.now() - b.clock.now());
    assert_eq!(a.clock.now(), b.clock.now());
    // Five a minute for the public client, whichever replica is asked: three on a, two on b (each replica's
    // own limiter allows five).
    for i in 0..3 {
        let r = device(a, &format!("203.0.113.{i}"), "aiod-sdk").await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    for i in 3..5 {
        let r = device(b, &format!("203.0.113.{i}"), "aiod-sdk").await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    // The minute's sixth is refused on both, until the next minute (60 s from its start).
    assert_too_many(&device(a, "203.0.113.10", "aiod-sdk").await, 60);
    assert_too_many(&device(b, "203.0.113.11", "aiod-sdk").await, 60);
    a.clock.advance(15);
    b.clock.advance(15);
    assert_too_many(&device(b, "203.0.113.12", "aiod-sdk").await, 45);
    a.clock.advance(45);
    b.clock.advance(45);
    assert_eq!(device(b, "203.0.113.13", "aiod-sdk").await.status, 200);
    assert_eq!(device(a, "203.0.113.14", "aiod-sdk").await.status, 200);
}
