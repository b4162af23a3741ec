//! The process-wide helpers (AIoD's names) against a real server. One test function, because they share
//! process-wide state (and `KEYPORT_HOME`).

mod support;

use std::time::Duration;

use keyport_client::{
    Error, LoginOptions, Token, client, configure, create_token, default_token_path,
    get_current_user, get_token, invalidate_token, set_token,
};
use support::*;

#[tokio::test]
async fn process_wide_helpers_follow_the_aiod_sdk() {
    let home = tempfile::tempdir().unwrap();
    // SAFETY: the only test in this binary, and it sets the variable before any other thread reads it.
    unsafe { std::env::set_var("KEYPORT_HOME", home.path()) };
    let server = Server::start().await;
    configure(server.config(PUBLIC_CLIENT)).unwrap();

    assert!(matches!(get_token(), Err(Error::NotAuthenticated)));
    assert!(matches!(
        get_current_user().await,
        Err(Error::NotAuthenticated)
    ));

    // create_token(write_to_file=True): the person approves in the browser.
    let path = default_token_path().unwrap();
    assert_eq!(path, home.path().join("tokens/default.toml"));
    let options = LoginOptions::default()
        .timeout_seconds(60)
        .write_to_file(&path)
        .on_instructions(|p| {
            let url = p.verification_uri_complete().unwrap().to_owned();
            tokio::spawn(async move { browser_decide(&url, ALICE, Decision::Approve).await });
        });
    let token = create_token(options).await.unwrap();
    assert!(path.exists());
    assert_eq!(get_current_user().await.unwrap().name, "alice");

    // A new process (here: a fresh configuration) finds the token file.
    configure(server.config(PUBLIC_CLIENT)).unwrap();
    let user = get_current_user().await.unwrap();
    assert_eq!(
        (user.name.as_str(), user.roles.contains(&"admin".to_owned())),
        ("alice", true)
    );
    // Or from an API endpoint the caller names (here: one that answers userinfo-style JSON).
    let from_api = keyport_client::get_current_user_from(&server.endpoint("userinfo"))
        .await
        .unwrap();
    assert_eq!(from_api, user);

    // set_token with a refresh token string (not validated): the current one works, a made-up one does not.
    let current = get_token().unwrap().refresh_token().unwrap();
    set_token("not-a-refresh-token").unwrap();
    assert!(matches!(
        get_current_user().await,
        Err(Error::Refresh { .. })
    ));
    set_token(current.secret()).unwrap();
    assert_eq!(get_current_user().await.unwrap().name, "alice");

    // invalidate_token ends the session: every token of that login stops working.
    let live = get_token().unwrap().refresh_token().unwrap();
    invalidate_token(None, false).await.unwrap();
    assert!(
        get_token().is_ok(),
        "the token file is still there, but its session is over"
    );
    let err = Token::from_refresh_token(&client().unwrap(), live)
        .refresh()
        .await;
    assert!(matches!(err, Err(Error::Refresh { .. })), "{err:?}");
    let _ = token;
    assert!(invalidate_token(Some("bogus".into()), false).await.is_err());
    invalidate_token(Some("bogus".into()), true).await.unwrap();

    // The bot flow: a configured client id and a secret.toml.
    configure(server.config(BOT_CLIENT)).unwrap();
    let secret = home.path().join("secret.toml");
    std::fs::write(&secret, format!("client_secret = \"{BOT_SECRET}\"\n")).unwrap();
    set_token(Token::from_file(&client().unwrap(), &secret).unwrap()).unwrap();
    let at = get_token().unwrap().access_token().await.unwrap();
    assert!(!at.secret().is_empty());
    let _ = Duration::ZERO;
}
