//! The SDK's browser login (authorization code + PKCE through a loopback redirect, RFC 8252) against a real
//! keyport server: the test plays the browser over HTTP (cookies kept, redirects followed by hand) from the URL
//! the SDK hands to its callback to the loopback redirect the server sends it back to.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use keyport_client::{Error, Token, WebLoginOptions};
use support::*;

/// The query parameters of a URL (the last value of each name).
fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// A plain HTTP client (no cookies, no redirects) for poking at the loopback listener.
fn plain() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn web_login_end_to_end() {
    let server = Server::start_with(&web_config_toml()).await;
    let client = server.client(WEB_CLIENT);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token.toml");

    let (tx, mut urls) = tokio::sync::mpsc::unbounded_channel();
    let options = WebLoginOptions::default()
        .timeout_seconds(60)
        .open_browser(false)
        .print_instructions(false)
        .write_to_file(&token_file)
        .on_instructions(move |pending| {
            let _ = tx.send((
                pending.authorize_url().to_owned(),
                pending.redirect_uri().to_owned(),
                pending.instructions(Duration::from_secs(60)),
            ));
        });
    let login = {
        let client = client.clone();
        tokio::spawn(async move { client.web_login(&options).await })
    };
    let (url, redirect_uri, instructions) = urls.recv().await.expect("the SDK hands over the URL");

    // The authorization request: code + PKCE S256 + state + nonce, redirected to 127.0.0.1 on a random port.
    assert!(url.starts_with(&server.endpoint("auth")), "{url}");
    let q = query(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], WEB_CLIENT);
    assert_eq!(q["redirect_uri"], redirect_uri);
    let port: u16 = redirect_uri
        .strip_prefix("http://127.0.0.1:")
        .and_then(|r| r.strip_suffix("/callback"))
        .expect("a loopback redirect URI")
        .parse()
        .unwrap();
    assert_ne!(port, 0);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "{url}");
    assert!(q["state"].len() >= 22 && q["nonce"].len() >= 22, "{url}");
    assert!(q["scope"].split(' ').any(|s| s == "openid"), "{url}");
    assert!(
        instructions.starts_with("Open this URL in your browser to sign in:\n\n  ")
            && instructions.contains(&format!("  {url}\n"))
            && instructions.contains("This workflow will automatically abort after 60 seconds."),
        "{instructions}"
    );

    let browser = browser_sign_in(&url, ALICE, Decision::Approve).await;
    let back = query(browser.redirected_to.as_str());
    assert_eq!(back["state"], q["state"]);
    assert_eq!(back["iss"], format!("{}/realms/{REALM}", server.url()));
    assert_eq!(browser.status, 200, "{}", browser.page);
    assert!(
        browser
            .page
            .contains("You are signed in; you can close this window."),
        "{}",
        browser.page
    );
    let token = tokio::time::timeout(Duration::from_secs(30), login)
        .await
        .expect("the login ends")
        .unwrap()
        .expect("signed in");
    assert_eq!(token.username().as_deref(), Some("alice"));

    // The ID token carries this login's nonce; userinfo works with the access token.
    let id_token = token.id_token().expect("an ID token (scope openid)");
    let claims = keyport_client::jwt::unverified_claims(id_token.secret()).unwrap();
    assert_eq!(claims["nonce"], q["nonce"].as_str());
    assert_eq!(claims["aud"], WEB_CLIENT);
    let info = client
        .userinfo(&token.access_token().await.unwrap())
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], "alice");

    // Saved through the token file code (0600), and the refresh token refreshes (and rotates into the file).
    #[cfg(unix)]
    assert_eq!(mode(&token_file), 0o600);
    let saved = std::fs::read_to_string(&token_file).unwrap();
    let first_access = token.access_token().await.unwrap();
    token.refresh().await.expect("the refresh token refreshes");
    let second_access = token.access_token().await.unwrap();
    assert_ne!(first_access.secret(), second_access.secret());
    assert_ne!(std::fs::read_to_string(&token_file).unwrap(), saved);
    let info = client.userinfo(&second_access).await.unwrap();
    assert_eq!(info["preferred_username"], "alice");
    let from_file = Token::from_file(&client, &token_file).unwrap();
    assert!(from_file.access_token().await.is_ok());

    // The loopback listener is closed once the login is over.
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn deny_on_the_consent_page_is_access_denied_and_allow_signs_in() {
    let server = Server::start_with(&web_config_toml()).await;
    let client = server.client(CONSENT_CLIENT);

    let pending = client.start_web_login().await.unwrap();
    let browser = tokio::spawn(browser_sign_in_owned(
        pending.authorize_url().to_owned(),
        BOB,
        Decision::Deny,
    ));
    let err = pending.wait(Duration::from_secs(60)).await.unwrap_err();
    assert!(matches!(err, Error::AccessDenied), "{err:?}");
    assert!(err.to_string().contains("start the login again"), "{err}");
    let browser = browser.await.unwrap();
    assert_eq!(
        query(browser.redirected_to.as_str())["error"],
        "access_denied"
    );
    assert!(
        browser.page.contains("role=\"alert\"") && browser.page.contains("denied"),
        "{}",
        browser.page
    );

    let pending = client.start_web_login().await.unwrap();
    let browser = tokio::spawn(browser_sign_in_owned(
        pending.authorize_url().to_owned(),
        BOB,
        Decision::Approve,
    ));
    let token = pending.wait(Duration::from_secs(60)).await.unwrap();
    assert_eq!(token.username().as_deref(), Some("bob"));
    assert_eq!(browser.await.unwrap().status, 200);
}

async fn browser_sign_in_owned(
    url: String,
    user: (&'static str, &'static str),
    decision: Decision,
) -> WebOutcome {
    browser_sign_in(&url, user, decision).await
}

#[tokio::test]
async fn an_answer_with_another_state_is_refused_and_the_login_goes_on() {
    let server = Server::start_with(&web_config_toml()).await;
    let client = server.client(WEB_CLIENT);
    let pending = client.start_web_login().await.unwrap();
    let url = pending.authorize_url().to_owned();
    let redirect_uri = pending.redirect_uri().to_owned();
    let state = query(&url)["state"].clone();
    let login = tokio::spawn(pending.wait(Duration::from_secs(60)));

    let http = plain();
    for forged in [
        format!("{redirect_uri}?code=forged&state=not-{state}"),
        format!("{redirect_uri}?code=forged"),
        format!("{redirect_uri}?code=forged&state={state}&state=other"),
        format!("{redirect_uri}?error=access_denied&state=x{state}"),
    ] {
        let resp = http.get(&forged).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{forged}");
        let page = resp.text().await.unwrap();
        assert!(
            page.contains("role=\"alert\"") && page.contains("does not match"),
            "{page}"
        );
    }
    let other_path = redirect_uri.replace("/callback", "/favicon.ico");
    assert_eq!(http.get(&other_path).send().await.unwrap().status(), 404);
    assert!(
        !login.is_finished(),
        "a foreign answer does not end the login"
    );

    let browser = browser_sign_in(&url, ALICE, Decision::Approve).await;
    assert_eq!(browser.status, 200, "{}", browser.page);
    let token = login
        .await
        .unwrap()
        .expect("the real answer still signs in");
    assert_eq!(token.username().as_deref(), Some("alice"));
}

#[tokio::test]
async fn an_answer_naming_another_issuer_is_refused() {
    let server = Server::start_with(&web_config_toml()).await;
    let client = server.client(WEB_CLIENT);
    let pending = client.start_web_login().await.unwrap();
    let redirect_uri = pending.redirect_uri().to_owned();
    let state = query(pending.authorize_url())["state"].clone();
    let login = tokio::spawn(pending.wait(Duration::from_secs(60)));

    let resp = plain()
        .get(format!(
            "{redirect_uri}?code=abc&state={state}&iss=https%3A%2F%2Fevil.example%2Frealms%2F{REALM}"
        ))
        .send()
        .await
        .unwrap();
    let page = resp.text().await.unwrap();
    assert!(
        page.contains("Sign-in failed") && page.contains("evil.example"),
        "{page}"
    );
    let err = login.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::InvalidResponse(m) if m.contains("evil.example")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_wait_times_out_by_the_clients_clock_and_closes_the_port() {
    let server = Server::start_still(&web_config_toml()).await;
    let client = server.client(WEB_CLIENT);

    let pending = client.start_web_login().await.unwrap();
    assert!(matches!(
        pending.wait(Duration::ZERO).await,
        Err(Error::InvalidTimeout)
    ));
    let zero = WebLoginOptions::default().timeout_seconds(0);
    assert!(matches!(
        client.web_login(&zero).await,
        Err(Error::InvalidTimeout)
    ));

    let pending = client.start_web_login().await.unwrap();
    let port = reqwest::Url::parse(pending.redirect_uri())
        .unwrap()
        .port()
        .unwrap();
    let login = tokio::spawn(pending.wait(Duration::from_secs(30)));
    let started = std::time::Instant::now();
    while !login.is_finished() {
        assert!(started.elapsed() < Duration::from_secs(30), "no timeout");
        server.advance(5);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let err = login.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Timeout { seconds: 30 }), "{err:?}");
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_server_error_sent_back_is_typed() {
    let server = Server::start_with(&web_config_toml()).await;
    let client = keyport_client::Client::with_clock(
        server.config(WEB_CLIENT).with_scope("openid no-such-scope"),
        std::sync::Arc::new(ServerClock(server.server.clock.clone())),
    )
    .unwrap();
    let pending = client.start_web_login().await.unwrap();
    let url = pending.authorize_url().to_owned();
    let login = tokio::spawn(pending.wait(Duration::from_secs(60)));
    let browser = browser_sign_in(&url, ALICE, Decision::Approve).await;
    assert_eq!(
        query(browser.redirected_to.as_str())["error"],
        "invalid_scope"
    );
    let err = login.await.unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::Authorization { error, .. } if error == "invalid_scope"),
        "{err:?}"
    );
    assert_eq!(err.oauth_error(), Some("invalid_scope"));
    assert!(err.to_string().contains("redirect URIs"), "{err}");
}

/// The process-wide form: the token becomes the one `get_token` and `get_current_user` use (the other tests in
/// this file use their own `Client`, never the process-wide one).
#[tokio::test]
async fn create_token_in_browser_sets_the_process_wide_token() {
    let server = Server::start_with(&web_config_toml()).await;
    keyport_client::configure(server.config(WEB_CLIENT)).unwrap();
    let options = WebLoginOptions::default()
        .timeout_seconds(60)
        .open_browser(false)
        .print_instructions(false)
        .on_instructions(|pending| {
            let url = pending.authorize_url().to_owned();
            tokio::spawn(async move { browser_sign_in(&url, BOB, Decision::Approve).await });
        });
    keyport_client::create_token_in_browser(options)
        .await
        .unwrap();
    assert_eq!(
        keyport_client::get_current_user().await.unwrap().name,
        "bob"
    );
}
