//! Issue 11 item 2: the device page's guessing limits count the real client behind a trusted proxy (and only
//! behind one), key IPv6 by /64, kill a user code that took too many wrong guesses, and keep a realm-wide
//! ceiling whatever the spread of addresses.

mod common;

use common::*;
use keyport_testkit::{Browser, TestServer};

/// A browser whose requests carry `X-Forwarded-For: <xff>`, as a load balancer in front would add.
fn behind_proxy(s: &TestServer, xff: &str) -> Browser {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-forwarded-for", xff.parse().unwrap());
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap();
    Browser {
        http,
        issuer: s.issuer("aiod"),
    }
}

async fn start(server_section: &str) -> TestServer {
    TestServer::start(&format!("[server]\n{server_section}\n{CONFIG}")).await
}

/// Enters five wrong codes (the per-address budget): each is "not valid".
async fn five_wrong(b: &Browser) {
    for guess in [
        "BBBB-BBBB",
        "CCCC-CCCC",
        "DDDD-DDDD",
        "FFFF-FFFF",
        "GGGG-GGGG",
    ] {
        let page = b.enter_code(guess).await;
        assert_eq!(page.status, 400, "{}", page.html);
        assert!(page.contains("not valid or has expired"), "{}", page.html);
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_budget() {
    let s = start(r#"trusted_proxies = ["127.0.0.1/32"]"#).await;
    let code = start_device(&s, "aiod-sdk", None).await.str("user_code");
    // One visitor spends the budget of their address, in two browser sessions.
    five_wrong(&behind_proxy(&s, "198.51.100.7")).await;
    let same_address = behind_proxy(&s, "198.51.100.7");
    assert_eq!(same_address.enter_code(&code).await.status, 429);
    // Everyone else behind the same load balancer still gets in.
    let page = behind_proxy(&s, "203.0.113.20").enter_code(&code).await;
    assert_eq!(page.status, 200, "{}", page.html);
    // A spoofed left-hand entry does not give the first visitor a new budget: the proxy appended the truth.
    let spoofing = behind_proxy(&s, "192.0.2.99, 198.51.100.7");
    assert_eq!(spoofing.enter_code(&code).await.status, 429);
}

#[tokio::test]
async fn without_trusted_proxies_forwarded_headers_are_ignored() {
    let s = start("").await;
    let code = start_device(&s, "aiod-sdk", None).await.str("user_code");
    five_wrong(&behind_proxy(&s, "198.51.100.7")).await;
    // A new X-Forwarded-For (and a new session) does not buy a new budget: the socket address is the client.
    let page = behind_proxy(&s, "203.0.113.20").enter_code(&code).await;
    assert_eq!(page.status, 429, "{}", page.html);
}

#[tokio::test]
async fn ipv6_clients_are_counted_by_their_64() {
    let s = start(r#"trusted_proxies = ["127.0.0.1"]"#).await;
    let code = start_device(&s, "aiod-sdk", None).await.str("user_code");
    five_wrong(&behind_proxy(&s, "2001:db8:1:2::1")).await;
    // Another address of the same /64 shares the budget…
    let rotated = behind_proxy(&s, "2001:db8:1:2:dead:beef:0:7");
    assert_eq!(rotated.enter_code(&code).await.status, 429);
    // …another /64 does not.
    let page = behind_proxy(&s, "2001:db8:1:3::1").enter_code(&code).await;
    assert_eq!(page.status, 200, "{}", page.html);
}

#[tokio::test]
async fn a_code_that_took_too_many_wrong_guesses_is_dead() {
    let s = start("trusted_proxies = [\"127.0.0.1\"]\nuser_code_max_wrong_guesses = 6").await;
    let start = start_device(&s, "aiod-sdk", None).await;
    let code = start.str("user_code");
    // Six wrong guesses, each from another address and session (no per-address limit is reached).
    for i in 0..6 {
        let b = behind_proxy(&s, &format!("198.51.100.{i}"));
        assert_eq!(b.enter_code("BBBB-BBBB").await.status, 400);
    }
    // The right code no longer works, from anywhere, even after the per-minute limits have passed.
    s.clock.advance(120);
    let page = behind_proxy(&s, "203.0.113.1").enter_code(&code).await;
    assert_eq!(page.status, 400, "{}", page.html);
    assert!(page.contains("not valid or has expired"), "{}", page.html);
    // A code started after the guesses is unaffected.
    let fresh = start_device(&s, "aiod-sdk", None).await.str("user_code");
    let page = behind_proxy(&s, "203.0.113.2").enter_code(&fresh).await;
    assert_eq!(page.status, 200, "{}", page.html);
    poll(&s, "aiod-sdk", &start.str("device_code"))
        .await
        .assert_error(400, "authorization_pending");
}

#[tokio::test]
async fn a_realm_wide_ceiling_holds_whatever_the_spread_of_addresses() {
    let s = start("trusted_proxies = [\"127.0.0.1\"]\nuser_code_guesses_per_minute = 8").await;
    let code = start_device(&s, "aiod-sdk", None).await.str("user_code");
    // Eight code checks from eight addresses are answered…
    for i in 0..8 {
        let b = behind_proxy(&s, &format!("198.51.100.{i}"));
        assert_eq!(b.enter_code("BBBB-BBBB").await.status, 400);
    }
    // …the ninth, from a fresh address with the right code, waits for the next minute.
    let page = behind_proxy(&s, "203.0.113.1").enter_code(&code).await;
    assert_eq!(page.status, 429, "{}", page.html);
    s.clock.advance(61);
    let page = behind_proxy(&s, "203.0.113.1").enter_code(&code).await;
    assert_eq!(page.status, 200, "{}", page.html);
}
