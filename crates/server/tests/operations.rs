//! What an operator sees (issue 14): the Prometheus `/metrics` after some traffic, on the main listener or on
//! `server.metrics_listen`; request ids in `X-Request-Id` and on log lines, an incoming one kept only from a
//! `server.trusted_proxies` peer.

mod admin_support;
mod common;

use admin_support::{capture_logs, captured_json_log};
use common::*;
use keyport_testkit::TestServer;

/// The value of the sample `name{labels…}` in a Prometheus text exposition, if present.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap_or((l, ""));
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit_once(' ')?.1.parse().ok())
}

async fn scrape(url: &str) -> String {
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn metrics_show_requests_grants_failures_and_state() {
    let s = server().await;
    let token = s.endpoint("aiod", "token");
    for _ in 0..2 {
        let r = post_basic(&token, BOT, &[("grant_type", "client_credentials")]).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    post_basic(
        &token,
        ("pipeline-bot", "wrong-secret"),
        &[("grant_type", "client_credentials")],
    )
    .await
    .assert_error(401, "invalid_client");
    post_basic(
        &token,
        LEGACY,
        &[
            ("grant_type", "password"),
            ("username", "bob"),
            ("password", "not-bobs-password"),
        ],
    )
    .await
    .assert_error(400, "invalid_grant");
    let device = start_device(&s, "aiod-sdk", None).await;
    assert_eq!(device.status, 200, "{device:?}");

    let m = scrape(&format!("{}/metrics", s.url)).await;
    let v = |name: &str, labels: &[(&str, &str)]| {
        sample(&m, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?} in\n{m}"))
    };
    let route = "/realms/{realm}/protocol/openid-connect/token";
    assert_eq!(
        v(
            "keyport_http_requests_total",
            &[("route", route), ("method", "POST"), ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "keyport_http_requests_total",
            &[("route", route), ("status", "401")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "keyport_tokens_issued_total",
            &[
                ("realm", "aiod"),
                ("grant", "client_credentials"),
                ("client", "pipeline-bot")
            ]
        ),
        2.0
    );
    assert!(sample(&m, "keyport_tokens_issued_total", &[("grant", "password")]).is_none());
    assert_eq!(
        v(
            "keyport_token_request_duration_seconds_count",
            &[("grant", "client_credentials"), ("outcome", "success")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "keyport_token_request_duration_seconds_count",
            &[("grant", "password"), ("outcome", "invalid_grant")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "keyport_authentication_failures_total",
            &[("reason", "invalid_client")]
        ),
        1.0
    );
    assert_eq!(
        v(
            "keyport_authentication_failures_total",
            &[("reason", "invalid_grant")]
        ),
        1.0
    );
    assert_eq!(v("keyport_device_authorizations_pending", &[]), 1.0);
    // The second client-credentials request found the client in the cache.
    assert!(
        v(
            "keyport_cache_lookups_total",
            &[("cache", "clients"), ("result", "hit")]
        ) >= 1.0
    );
    assert!(
        v(
            "keyport_cache_lookups_total",
            &[("cache", "clients"), ("result", "miss")]
        ) >= 1.0
    );
    assert!(v("keyport_database_pool_max_connections", &[]) >= 1.0);
    assert!(v("keyport_database_pool_connections", &[("state", "idle")]) >= 0.0);
    assert_eq!(v("keyport_argon2_hashes", &[("state", "waiting")]), 0.0);
    assert_eq!(v("keyport_usage_buffered", &[]), 0.0);
    assert_eq!(v("keyport_database_errors_total", &[]), 0.0);
    assert_eq!(
        v(
            "keyport_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    assert!(
        v(
            "keyport_http_request_duration_seconds_count",
            &[("route", route)]
        ) >= 4.0
    );

    // The scrape itself is counted by the next one; unknown paths share one label instead of one per path.
    http()
        .get(format!("{}/no/such/{}", s.url, "path-1"))
        .send()
        .await
        .unwrap();
    let m = scrape(&format!("{}/metrics", s.url)).await;
    assert_eq!(
        sample(
            &m,
            "keyport_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "keyport_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ),
        Some(1.0)
    );
    assert!(!m.contains("path-1"));
}

#[tokio::test]
async fn metrics_listen_serves_metrics_on_their_own_address_only() {
    let config = format!("[server]\nmetrics_listen = \"127.0.0.1:0\"\n{CONFIG}");
    let s = TestServer::start(&config).await;
    let addr = s.running.metrics_addr.expect("a metrics listener");
    assert_ne!(addr, s.running.addr);
    let r = http()
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "not on the main listener");
    let m = scrape(&format!("http://{addr}/metrics")).await;
    assert!(m.contains("keyport_build_info"), "{m}");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_an_untrusted_one_is_replaced() {
    let s = server().await;
    let well_known = format!("{}/.well-known/openid-configuration", s.realm_url("aiod"));
    let id_of = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .expect("X-Request-Id")
            .to_str()
            .unwrap()
            .to_owned()
    };
    let a = http().get(&well_known).send().await.unwrap();
    let b = http().get(&well_known).send().await.unwrap();
    let missing = http()
        .get(format!("{}/nowhere", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let ids = [id_of(&a), id_of(&b), id_of(&missing)];
    for id in &ids {
        assert_eq!(id.len(), 32, "{id}");
        assert!(id.bytes().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
    assert_ne!(ids[0], ids[1], "each request gets its own");
    // No proxy is trusted by default: the client's own id is not taken.
    let r = http()
        .get(&well_known)
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    assert_ne!(id_of(&r), "chosen-by-the-client");
}

#[tokio::test]
async fn a_trusted_proxy_passes_its_request_id_through_to_the_logs() {
    capture_logs();
    let config = format!("[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\"]\n{CONFIG}");
    let s = TestServer::start(&config).await;
    let token = s.endpoint("aiod", "token");
    let r = http()
        .post(&token)
        .basic_auth("pipeline-bot", Some("wrong-secret"))
        .header("x-request-id", "proxy-7f3a-0001")
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["x-request-id"], "proxy-7f3a-0001");
    // A value that is not plain is replaced even from a trusted proxy (it would go into logs and headers).
    let r = http()
        .get(format!("{}/health/live", s.url))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32, "{id}");

    let log = captured_json_log();
    let mine: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|l| l["spans"][0]["request_id"] == "proxy-7f3a-0001")
        .collect();
    assert!(
        mine.iter()
            .any(|l| l["message"] == "finished" && l["status"] == 401),
        "{log}"
    );
    assert!(!log.contains("wrong-secret"), "{log}");

    // A line the handler itself writes (a refresh token replayed) carries the request's id too.
    let grant = |form: Vec<(&'static str, String)>, id: &'static str| {
        http()
            .post(&token)
            .basic_auth("legacy-app", Some("legacy-app-secret-0123456789-abcdef-01"))
            .header("x-request-id", id)
            .form(&form)
            .send()
    };
    let login: serde_json::Value = grant(
        vec![
            ("grant_type", "password".into()),
            ("username", "alice".into()),
            ("password", "alice-password-1".into()),
        ],
        "proxy-7f3a-0002",
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let first = login["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |id| {
        grant(
            vec![
                ("grant_type", "refresh_token".into()),
                ("refresh_token", first.clone()),
            ],
            id,
        )
    };
    assert_eq!(refresh("proxy-7f3a-0003").await.unwrap().status(), 200);
    assert_eq!(refresh("proxy-7f3a-0004").await.unwrap().status(), 400);
    let log = captured_json_log();
    assert!(
        log.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .any(|l| l["spans"][0]["request_id"] == "proxy-7f3a-0004"
                && l["fields"]["message"]
                    .as_str()
                    .or(l["message"].as_str())
                    .is_some_and(|m| m.starts_with("refresh token replay detected"))),
        "{log}"
    );
}

/// `server.device_polls_in_flight`: with every place taken (as by polls waiting for the database), a poll is
/// answered `slow_down` at once, whatever its code's state, without writing anything: once a place is free the
/// same code gets its real answer, and the shed poll neither counted as a poll nor raised the interval.
#[tokio::test]
async fn device_polls_past_the_in_flight_limit_are_told_to_slow_down() {
    let config = format!("[server]\ndevice_polls_in_flight = 2\n{CONFIG}");
    let s = TestServer::start(&config).await;
    let gate = &s.running.state.device_polls;
    let pending = start_device(&s, "aiod-sdk", None).await.str("device_code");
    let approved = start_device(&s, "aiod-sdk", None).await;
    keyport_testkit::Browser::new(&s.realm_url("aiod"))
        .approve_device(&approved.str("user_code"), "bob", "bob-password-1", true)
        .await;
    poll(&s, "aiod-sdk", &pending)
        .await
        .assert_error(400, "authorization_pending");
    s.clock.advance(5);

    let places = (gate.enter().unwrap(), gate.enter().unwrap());
    let shed = poll(&s, "aiod-sdk", &pending).await;
    shed.assert_error(400, "slow_down");
    assert!(
        shed.str("error_description").contains("server is busy"),
        "{shed:?}"
    );
    poll(&s, "aiod-sdk", &approved.str("device_code"))
        .await
        .assert_error(400, "slow_down");
    let m = scrape(&format!("{}/metrics", s.url)).await;
    assert_eq!(sample(&m, "keyport_device_polls_in_flight", &[]), Some(2.0));
    assert_eq!(
        sample(&m, "keyport_device_polls_shed_total", &[]),
        Some(2.0)
    );

    drop(places);
    // Same instant as the shed poll: had it been recorded, this would be `slow_down` (5 s since the last poll
    // is fine, 0 s is not).
    poll(&s, "aiod-sdk", &pending)
        .await
        .assert_error(400, "authorization_pending");
    let tokens = poll(&s, "aiod-sdk", &approved.str("device_code")).await;
    assert_eq!(tokens.status, 200, "{tokens:?}");
    let m = scrape(&format!("{}/metrics", s.url)).await;
    assert_eq!(sample(&m, "keyport_device_polls_in_flight", &[]), Some(0.0));
    assert_eq!(
        sample(&m, "keyport_device_polls_shed_total", &[]),
        Some(2.0)
    );
}
