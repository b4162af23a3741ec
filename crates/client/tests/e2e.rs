//! The SDK against a real keyport server: each test starts its own server on 127.0.0.1:0 with a temporary
//! SQLite database, and plays the person in the browser over HTTP.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use keyport_client::auth::{
    self, AuthType, CachedTokenFetcher, PasswordFetcher, PlatformAuth, TokenFetcher,
    UserCredentials,
};
use keyport_client::handlers::{
    AuthenticationHandler, DeviceCodeFlowHandler, ExternallyManagedJwtHandler, HandlerCredentials,
    Service,
};
use keyport_client::{
    AuthorizedClient, Client, Error, LoginOptions, Password, Token, TokenFile, current_user,
};
use support::*;

/// A device login approved by `user` in the browser.
async fn device_login(
    server: &Server,
    client: &Client,
    user: (&'static str, &'static str),
) -> Token {
    let pending = client
        .start_device_login()
        .await
        .expect("device login starts");
    let approval = decide_later(
        pending.verification_uri_complete().unwrap().to_owned(),
        user,
        Decision::Approve,
    );
    let token = pending
        .wait(Duration::from_secs(60))
        .await
        .expect("login approved");
    let page = approval.await.unwrap();
    assert!(!page.is_empty());
    let _ = server;
    token
}

#[tokio::test]
async fn device_login_end_to_end() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let pending = client.start_device_login().await.unwrap();

    let text = pending.instructions(Duration::from_secs(300));
    let complete = pending.verification_uri_complete().unwrap().to_owned();
    assert!(
        text.starts_with("Please authenticate using one of two methods:\n\n"),
        "{text}"
    );
    assert!(
        text.contains(&format!("  1. Navigate to {complete}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "  2. Navigate to {} and enter code {}\n",
            pending.verification_uri(),
            pending.user_code()
        )),
        "{text}"
    );
    assert!(
        text.contains("This workflow will automatically abort after 300 seconds."),
        "{text}"
    );
    assert!(
        complete.starts_with(&format!("{}/realms/{REALM}/device", server.url())),
        "{complete}"
    );

    let approval = decide_later(complete, ALICE, Decision::Approve);
    let token = pending.wait(Duration::from_secs(60)).await.unwrap();
    approval.await.unwrap();

    assert_eq!(token.username().as_deref(), Some("alice"));
    assert!(!token.has_expired());
    assert!(token.refresh_token().is_some());
    let headers = token.headers().await.unwrap();
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );

    let user = current_user(&token, None).await.unwrap();
    assert_eq!(user.name, "alice");
    assert!(user.roles.contains(&"admin".to_owned()), "{user:?}");
    assert_eq!(user.email.as_deref(), Some("alice@example.org"));
}

#[tokio::test]
async fn refresh_rotation_is_saved_to_the_token_file() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let token = device_login(&server, &client, ALICE).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens/alice.toml");
    token.to_file(&path).unwrap();
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let first_rt = token.refresh_token().unwrap().secret().to_owned();
    let first_at = token.access_token().await.unwrap().secret().to_owned();

    // The access token expires on the server's clock; the SDK sees it through the injected clock.
    server.advance(301);
    assert!(token.has_expired());
    let second_at = token.access_token().await.unwrap().secret().to_owned();
    assert_ne!(first_at, second_at);
    let second_rt = token.refresh_token().unwrap().secret().to_owned();
    assert_ne!(
        first_rt, second_rt,
        "strict rotation hands out a new refresh token"
    );

    let on_disk = TokenFile::read(&path).unwrap().unwrap();
    assert_eq!(
        on_disk.refresh_token.unwrap().secret(),
        second_rt,
        "the rotated refresh token was saved"
    );
    assert_eq!(on_disk.access_token.unwrap().secret(), second_at);
    assert_eq!(on_disk.username.as_deref(), Some("alice"));
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);

    // A second process picks the file up and keeps rotating it.
    let reloaded = Token::from_file(&client, &path).unwrap();
    reloaded.refresh().await.unwrap();
    let third_rt = TokenFile::read(&path)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap()
        .secret()
        .to_owned();
    assert_ne!(third_rt, second_rt);

    // Replaying a rotated refresh token is refused with a typed error.
    let replay = Token::from_refresh_token(&client, first_rt.as_str());
    let err = replay.refresh().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refresh {
                status: Some(400),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("keyport login"), "{err}");
}

#[tokio::test]
async fn deny_gives_access_denied() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let pending = client.start_device_login().await.unwrap();
    let denial = decide_later(
        pending.verification_uri_complete().unwrap().to_owned(),
        ALICE,
        Decision::Deny,
    );
    let err = pending.wait(Duration::from_secs(60)).await.unwrap_err();
    denial.await.unwrap();
    assert!(matches!(err, Error::AccessDenied), "{err:?}");
    assert_eq!(err.http_status(), Some(400));
}

#[tokio::test]
async fn an_expired_device_code_gives_expired_token() {
    let server = Server::start_still(&config_toml("10m")).await;
    let client = server.client(PUBLIC_CLIENT);
    let pending = client.start_device_login().await.unwrap();
    server.advance(11 * 60);
    let err = pending.wait(Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(err, Error::ExpiredToken), "{err:?}");
}

#[tokio::test]
async fn nobody_approving_times_out_and_zero_is_refused() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let pending = client.start_device_login().await.unwrap();
    let err = pending.wait(Duration::from_secs(2)).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");

    let pending = client.start_device_login().await.unwrap();
    assert!(matches!(
        pending.wait(Duration::ZERO).await,
        Err(Error::InvalidTimeout)
    ));
    let err = client
        .device_login(&LoginOptions::default().timeout_seconds(0))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidTimeout));
}

#[tokio::test]
async fn bot_flow_from_a_secret_file() {
    let server = Server::start().await;
    let client = server.client(BOT_CLIENT);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.toml");
    std::fs::write(&secret, format!("client_secret = \"{BOT_SECRET}\"\n")).unwrap();

    let token = Token::from_file(&client, &secret).unwrap();
    assert!(token.has_expired(), "no access token yet");
    let at = token.access_token().await.unwrap();
    let claims = keyport_client::jwt::unverified_claims(at.secret()).unwrap();
    assert_eq!(claims["azp"], BOT_CLIENT);
    assert!(!token.has_expired());
    // The cached access token was written back next to the secret.
    let file = TokenFile::read(&secret).unwrap().unwrap();
    assert!(file.client_secret.is_some() && file.access_token.is_some());

    let wrong = Token::from_client_secret(&client, "not-the-secret");
    let err = wrong.access_token().await.unwrap_err();
    assert!(
        matches!(&err, Error::Fetch { status: Some(401), error, .. } if error == "invalid_client"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_401_refreshes_once_and_retries() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let token = device_login(&server, &client, ALICE).await;
    // A token whose cached access token the server refuses, but whose refresh token is good.
    let stale = Token::from_token_file(
        &client,
        TokenFile {
            refresh_token: token.refresh_token(),
            access_token: Some("not-a-valid-access-token".into()),
            expires_at: Some(4_000_000_000),
            ..TokenFile::default()
        },
    )
    .unwrap();
    let api = AuthorizedClient::new(stale.clone());
    let resp = api
        .send(api.get(server.endpoint("userinfo")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["preferred_username"], "alice");
    assert_ne!(
        stale.cached_access_token().unwrap().secret(),
        "not-a-valid-access-token"
    );

    // A credential that cannot be renewed hands the 401 back instead of looping.
    let hopeless = Token::from_access_token(&client, "garbage", None);
    let api = AuthorizedClient::new(hopeless);
    let err = api
        .send(api.get(server.endpoint("userinfo")))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotAuthenticated), "{err:?}");
}

#[tokio::test]
async fn logout_ends_the_session() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let token = device_login(&server, &client, ALICE).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    token.to_file(&path).unwrap();
    keyport_client::logout_token(&token).await.unwrap();
    assert!(!path.exists(), "the token file is deleted");
    let err = token.refresh().await.unwrap_err();
    assert!(matches!(err, Error::Refresh { .. }), "{err:?}");
}

#[tokio::test]
async fn password_fetcher_and_cache_survive_a_restart_until_logout() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let cache = tempfile::tempdir().unwrap();
    let good = UserCredentials {
        username: ALICE.0.into(),
        password: Password::new(ALICE.1),
    };
    let bad = UserCredentials {
        username: ALICE.0.into(),
        password: Password::new("wrong"),
    };
    let cached = |creds: UserCredentials| -> Arc<dyn TokenFetcher> {
        Arc::new(CachedTokenFetcher::new(
            Arc::new(PasswordFetcher::new(&client, creds)),
            auth::cache_file(cache.path(), &client, AuthType::UserPassword),
            client.clock().clone(),
        ))
    };

    let first = auth::from_fetcher(&client, cached(good.clone()));
    let headers = first.headers().await.unwrap();
    let cache_file = auth::cache_file(cache.path(), &client, AuthType::UserPassword);
    assert!(cache_file.exists());
    #[cfg(unix)]
    assert_eq!(mode(&cache_file), 0o600);

    // "Second process start": new objects, and credentials that would fail, yet the cache answers.
    let second = auth::from_fetcher(&client, cached(bad.clone()));
    assert_eq!(second.headers().await.unwrap(), headers);

    // An expired cached token is refreshed with its refresh token, not the (wrong) password.
    server.advance(301);
    let third = auth::from_fetcher(&client, cached(bad.clone()));
    let renewed = third.headers().await.unwrap();
    assert_ne!(renewed, headers);

    auth::logout_in(cache.path()).unwrap();
    assert!(!cache_file.exists());
    let fourth = auth::from_fetcher(&client, cached(bad));
    let err = fourth.headers().await.unwrap_err();
    assert!(
        matches!(&err, Error::Fetch { error, .. } if error == "invalid_grant"),
        "{err:?}"
    );

    // The uncached fetcher (test_auth) asks every time.
    let direct = PlatformAuth::new(
        Arc::new(PasswordFetcher::new(&client, good)),
        client.clock().clone(),
    );
    let data = direct.token().await.unwrap();
    assert_eq!(data.user_email, "alice@example.org");
    assert!(!data.user_id.is_empty());
}

#[tokio::test]
async fn password_grant_is_refused_for_clients_without_it() {
    let server = Server::start().await;
    let client = server.client(KEEP_CLIENT);
    let fetcher = PasswordFetcher::new(
        &client,
        UserCredentials {
            username: "alice".into(),
            password: Password::new(ALICE.1),
        },
    );
    let err = fetcher.fetch().await.unwrap_err();
    assert!(err.http_status().is_some_and(|s| s >= 400), "{err:?}");
}

#[tokio::test]
async fn device_code_handler_keeps_one_file_per_username() {
    let server = Server::start().await;
    // The handler's default scopes (Bitfount's), offline_access included.
    let client = Client::with_clock(
        server
            .config(PUBLIC_CLIENT)
            .with_scope(DeviceCodeFlowHandler::DEFAULT_SCOPES),
        Arc::new(ServerClock(server.server.clock.clone())),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();

    // A first run logs in through the device flow (the person approves in the browser).
    let options = LoginOptions::default()
        .print_instructions(false)
        .timeout_seconds(60)
        .on_instructions(|p| {
            let url = p.verification_uri_complete().unwrap().to_owned();
            tokio::spawn(async move { browser_decide(&url, ALICE, Decision::Approve).await });
        });
    let handler = DeviceCodeFlowHandler::with_client(client.clone(), "alice")
        .unwrap()
        .token_dir(dir.path())
        .login_options(options);
    assert!(!handler.authenticated());
    let headers = handler.request_headers(Service::Hub).await.unwrap();
    assert!(
        headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert!(handler.authenticated());
    assert_eq!(handler.username(), "alice");
    let file = dir.path().join("alice.toml");
    assert!(file.exists());
    let rt_before = TokenFile::read(&file)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap()
        .secret()
        .to_owned();

    // A second run reuses the file, and refreshes before a request when the token has expired.
    let again = DeviceCodeFlowHandler::with_client(client.clone(), "alice")
        .unwrap()
        .token_dir(dir.path())
        .login_options(
            LoginOptions::default()
                .print_instructions(false)
                .timeout_seconds(1),
        );
    again.authenticate().await.unwrap();
    server.advance(301);
    assert!(!again.authenticated());
    let md = again.metadata().await.unwrap();
    assert_eq!(md[0].0, "authorization");
    let rt_after = TokenFile::read(&file)
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap()
        .secret()
        .to_owned();
    assert_ne!(rt_before, rt_after, "the rotated refresh token was saved");

    // Someone else's token under this username is refused.
    std::fs::copy(&file, dir.path().join("bob.toml")).unwrap();
    let bob = DeviceCodeFlowHandler::with_client(client, "bob")
        .unwrap()
        .token_dir(dir.path());
    let err = bob.authenticate().await.unwrap_err();
    assert!(
        matches!(&err, Error::UsernameMismatch { expected, found, .. } if expected == "bob" && found == "alice"),
        "{err:?}"
    );
}

#[tokio::test]
async fn externally_managed_jwt_is_renewed_through_the_callback() {
    let server = Server::start().await;
    let client = server.client(BOT_CLIENT);
    let bot = Token::from_client_secret(&client, BOT_SECRET);
    let first = bot.access_token().await.unwrap();
    bot.refresh().await.unwrap();
    let second = bot.access_token().await.unwrap().secret().to_owned();

    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let clock = Arc::new(ServerClock(server.server.clock.clone()));
    let now = keyport_client::Clock::now(clock.as_ref());
    let handler = Arc::new(
        ExternallyManagedJwtHandler::new(
            first.secret(),
            now + Duration::from_secs(30),
            move || {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok((
                    second.clone(),
                    SystemTime::now() + Duration::from_secs(3600),
                ))
            },
            "pipeline-bot",
        )
        .with_clock(clock),
    );
    let api = AuthorizedClient::new(HandlerCredentials::new(handler.clone(), Service::Hub));
    let resp = api
        .send(api.get(server.endpoint("userinfo")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    server.advance(31);
    assert!(!handler.authenticated());
    let resp = api
        .send(api.get(server.endpoint("userinfo")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn keycloak_style_clients_without_rotation_keep_their_refresh_token() {
    let server = Server::start().await;
    let client = server.client(KEEP_CLIENT);
    let token = device_login(&server, &client, BOB).await;
    let rt = token.refresh_token().unwrap().secret().to_owned();
    token.refresh().await.unwrap();
    // An SDK that never stores the refreshed token (AIoD's) keeps working with the first one.
    let old = Token::from_refresh_token(&client, rt.as_str());
    old.refresh().await.unwrap();
    old.refresh().await.unwrap();
    assert_eq!(current_user(&old, None).await.unwrap().name, "bob");
}

#[tokio::test]
async fn unreachable_or_misconfigured_servers_say_what_to_check() {
    let server = Server::start().await;
    let wrong_realm = Client::new(keyport_client::Config::new(
        server.url(),
        "nope",
        PUBLIC_CLIENT,
    ))
    .unwrap();
    let err = wrong_realm.start_device_login().await.unwrap_err();
    assert!(matches!(err, Error::Discovery { .. }), "{err:?}");
    assert!(
        err.to_string().contains("check the server URL and realm"),
        "{err}"
    );

    let nowhere = Client::new(keyport_client::Config::new(
        "http://127.0.0.1:9",
        REALM,
        PUBLIC_CLIENT,
    ))
    .unwrap();
    let err = nowhere.start_device_login().await.unwrap_err();
    assert!(matches!(err, Error::Http { .. }), "{err:?}");
}

#[tokio::test]
async fn keycloak_base_path_auth_works() {
    let toml = format!("[server]\nbase_path = \"/auth\"\n{}", config_toml("10m"));
    let server = Server::start_with(&toml).await;
    assert!(server.url().ends_with("/auth"), "{}", server.url());
    let client = server.client(PUBLIC_CLIENT);
    let endpoints = client.endpoints().await.unwrap();
    assert!(
        endpoints
            .token_endpoint
            .contains("/auth/realms/sdk/protocol/openid-connect/token"),
        "{endpoints:?}"
    );
    let token = device_login(&server, &client, ALICE).await;
    assert_eq!(current_user(&token, None).await.unwrap().name, "alice");
}

#[tokio::test]
async fn many_requests_noticing_expiry_at_once_refresh_once() {
    let server = Server::start().await;
    let client = server.client(PUBLIC_CLIENT);
    let token = device_login(&server, &client, ALICE).await;
    let first_rt = token.refresh_token().unwrap().secret().to_owned();
    server.advance(301);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let t = token.clone();
            tokio::spawn(async move { t.access_token().await.map(|a| a.secret().to_owned()) })
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for t in tasks {
        seen.insert(
            t.await
                .unwrap()
                .expect("every waiter gets a token under strict rotation"),
        );
    }
    assert_eq!(seen.len(), 1, "one refresh served everyone");
    // The refresh token rotated exactly once: the one we hold now is the second of the family, and works.
    assert_ne!(token.refresh_token().unwrap().secret(), first_rt);
    token.refresh().await.unwrap();
}
