//! Built-in TLS in process: HTTPS with HTTP/2 by ALPN (HTTP/1.1 clients still served), the `__Host-` session
//! cookie and a device sign-in through the pages over https, and the start-up errors that name the bad file.
//! (SIGHUP reloads and SIGTERM over TLS need the real process: crates/cli/tests/tls.rs.)

use std::sync::Arc;

use keyport_server::clock::FakeClock;
use keyport_server::config::Config;
use keyport_testkit::tls::{TestCa, peer_certificate};
use keyport_testkit::{Browser, TestData, TestServer};
use reqwest::Version;

const REALM: &str = r#"
[[realms]]
name = "demo"

[[realms.clients]]
client_id = "cli"
public = true
grants = ["device_code"]

[[realms.clients]]
client_id = "bot"
secret = "bot-secret-0123456789-abcdef-0123456789"
grants = ["client_credentials"]

[[realms.users]]
username = "alice"
password = "alice-password-1"
"#;

/// A TLS server with a certificate of `ca`; `extra` goes into `[server]`.
async fn tls_server(ca: &TestCa, extra: &str) -> (TestServer, Vec<u8>) {
    let data = TestData::new().await;
    let cert = ca.server_cert(90);
    let (cert_file, key_file) = cert.write(data.dir.path());
    let toml = format!(
        "[server]\ntls_cert_file = {cert_file:?}\ntls_key_file = {key_file:?}\n{extra}\n{REALM}"
    );
    (TestServer::start_in(data, &toml).await, cert.der)
}

#[tokio::test]
async fn https_serves_http2_by_alpn_and_http1_clients_too() {
    let ca = TestCa::new();
    let (s, der) = tls_server(&ca, "").await;
    assert!(s.url.starts_with("https://127.0.0.1:"), "{}", s.url);
    // Without public_url the issuer is the https address.
    assert_eq!(s.issuer("demo"), format!("{}/realms/demo", s.url));

    let h2 = ca.client().build().unwrap();
    let r = h2
        .get(format!(
            "{}/.well-known/openid-configuration",
            s.issuer("demo")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.version(), Version::HTTP_2, "ALPN chose h2");
    assert_eq!(peer_certificate(&r), der);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["issuer"], s.issuer("demo"));
    assert!(
        doc["token_endpoint"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    // The token endpoint reads the client address (ConnectInfo): it answers over TLS, on both versions.
    let http1 = ca.client().http1_only().build().unwrap();
    for (client, version) in [(&h2, Version::HTTP_2), (&http1, Version::HTTP_11)] {
        let r = client
            .post(s.endpoint("demo", "token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", "bot"),
                ("client_secret", "bot-secret-0123456789-abcdef-0123456789"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.version(), version);
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    // Plain HTTP on the TLS port gets no answer.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/health/live", s.running.addr))
        .send()
        .await;
    assert!(
        plain.is_err(),
        "plain http is not served on the TLS listener"
    );
    s.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_host_prefixed_and_device_sign_in_works_over_https() {
    let ca = TestCa::new();
    let (s, _) = tls_server(&ca, "").await;
    let http = ca.client().build().unwrap();
    let start: serde_json::Value = http
        .post(s.endpoint("demo", "auth/device"))
        .form(&[("client_id", "cli")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user_code = start["user_code"].as_str().unwrap().to_owned();
    let device_code = start["device_code"].as_str().unwrap().to_owned();
    assert!(
        start["verification_uri"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );

    let page = http
        .get(format!("{}/device", s.issuer("demo")))
        .send()
        .await
        .unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("__Host-KEYPORT_SESSION_demo="),
        "{cookie}"
    );
    for attribute in ["; Path=/;", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");

    // A browser keeps that cookie through code, sign-in and consent.
    let browser = Browser::with_ca(&s.issuer("demo"), &ca);
    let done = browser
        .approve_device(&user_code, "alice", "alice-password-1", true)
        .await;
    assert!(done.contains("Device connected"), "{}", done.html);
    s.clock.advance(5);
    let r = http
        .post(s.endpoint("demo", "token"))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("client_id", "cli"),
            ("device_code", &device_code),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    s.stop().await;
}

#[tokio::test]
async fn an_https_public_url_behind_a_proxy_also_gets_the_host_cookie() {
    let toml = format!("[server]\npublic_url = \"https://auth.example.org\"\n{REALM}");
    let s = TestServer::start(&toml).await;
    let r = reqwest::get(format!("{}/device", s.realm_url("demo")))
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.starts_with("__Host-KEYPORT_SESSION_demo=") && cookie.contains("; Secure"),
        "{cookie}"
    );
    s.stop().await;
}

/// Starts a server on `[server]` settings `server` and returns its start-up error.
async fn start_error(server: &str) -> String {
    let data = TestData::new().await;
    let toml = format!("[server]\n{server}\n{REALM}");
    let mut config = Config::from_toml(&toml, std::path::Path::new("t.toml")).unwrap();
    config.server.listen = "127.0.0.1:0".into();
    config.server.data_dir = data.dir.path().join("data");
    if let Err(e) = config.validate() {
        return e.to_string();
    }
    match keyport_server::server::start(config, Arc::new(FakeClock::new())).await {
        Ok(_) => panic!("started with {server}"),
        Err(e) => {
            assert!(
                !data.dir.path().join("data").exists(),
                "nothing is created when the certificate is bad"
            );
            e.to_string()
        }
    }
}

#[tokio::test]
async fn bad_certificate_settings_name_the_key_and_the_file() {
    let ca = TestCa::new();
    let dir = tempfile::tempdir().unwrap();
    let good = ca.server_cert(90);
    let (cert, key) = good.write(dir.path());
    let other_key = dir.path().join("other-key.pem");
    std::fs::write(&other_key, ca.server_cert(90).key_pem).unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a PEM file").unwrap();
    let missing = dir.path().join("missing.pem");

    let cases = [
        (
            format!("tls_cert_file = {cert:?}"),
            "server.tls_key_file: must be set with server.tls_cert_file".to_owned(),
        ),
        (
            format!("tls_key_file = {key:?}"),
            "server.tls_cert_file: must be set with server.tls_key_file".to_owned(),
        ),
        (
            format!("tls_cert_file = {missing:?}\ntls_key_file = {key:?}"),
            format!("server.tls_cert_file: cannot read {}", missing.display()),
        ),
        (
            format!("tls_cert_file = {garbage:?}\ntls_key_file = {key:?}"),
            format!(
                "server.tls_cert_file: {}: no `BEGIN CERTIFICATE` block",
                garbage.display()
            ),
        ),
        (
            // The key file holds no certificate, and the certificate file no key.
            format!("tls_cert_file = {key:?}\ntls_key_file = {key:?}"),
            "server.tls_cert_file".to_owned(),
        ),
        (
            format!("tls_cert_file = {cert:?}\ntls_key_file = {cert:?}"),
            format!("server.tls_key_file: {}: no private key", cert.display()),
        ),
        (
            format!("tls_cert_file = {cert:?}\ntls_key_file = {other_key:?}"),
            format!(
                "server.tls_key_file: {} is not the key of the certificate in {}",
                other_key.display(),
                cert.display()
            ),
        ),
    ];
    for (settings, expected) in cases {
        let e = start_error(&settings).await;
        assert!(
            e.contains(&expected),
            "{settings}\n→ {e}\nexpected {expected}"
        );
    }
}
