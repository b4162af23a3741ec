//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): the `id_token_hint` that says who asks, the
//! registered post-logout redirect URI, and signing a browser out (its page session and every login session it
//! started). The back-channel form (`client_id` + `refresh_token`) is [`super::inspect::logout`].

use keyport_proto::oauth::IdTokenClaims;

use super::Result;
use super::authorization_code::redirect_uri_allowed;
use super::browser::{self, Browser};
use crate::crypto::sha256_hex;
use crate::state::{AppState, Realm};
use crate::store::Client;

/// What a valid `id_token_hint` says.
#[derive(Clone, Debug)]
pub struct Hint {
    /// The user the ID token was about.
    pub sub: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The login session it belongs to.
    pub sid: Option<String>,
}

/// Verifies an `id_token_hint`: our signature and this realm's issuer. An expired hint is accepted (the RP may
/// log out long after its ID token expired: RP-Initiated Logout §2).
pub async fn hint(app: &AppState, realm: &Realm, token: &str) -> Option<Hint> {
    // `exp` is checked against time 0, i.e. not at all.
    let claims: IdTokenClaims = app
        .keys
        .verify_or_reload(app.store.as_ref(), token, &realm.issuer, 0)
        .await
        .ok()?;
    (claims.typ == "ID").then_some(Hint {
        sub: claims.sub,
        client_id: claims.aud,
        sid: claims.sid,
    })
}

/// Where to send the browser after the logout: the client named by the hint or `client_id` (they must agree),
/// and the post-logout redirect URI only if registered for it. `Err(message)` for an error page.
pub async fn target(
    app: &AppState,
    realm: &Realm,
    hint: Option<&Hint>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
) -> Result<std::result::Result<Option<(std::sync::Arc<Client>, String)>, String>> {
    let named = match (hint.map(|h| h.client_id.as_str()), client_id) {
        (Some(a), Some(b)) if a != b => {
            return Ok(Err(
                "client_id does not match the client of the id_token_hint.".into(),
            ));
        }
        (Some(id), _) | (None, Some(id)) => Some(id),
        (None, None) => None,
    };
    let Some(uri) = post_logout_redirect_uri else {
        return Ok(Ok(None));
    };
    let Some(id) = named else {
        return Ok(Err(
            "post_logout_redirect_uri needs id_token_hint or client_id.".into(),
        ));
    };
    let Some(client) = super::client_auth::find(app, realm, id).await? else {
        return Ok(Err(format!(
            "Client `{id}` is not known in realm `{}`.",
            realm.name
        )));
    };
    if !redirect_uri_allowed(&client.browser.post_logout_redirect_uris, uri) {
        return Ok(Err(format!(
            "The post-logout redirect URI is not registered for client `{id}`."
        )));
    }
    Ok(Ok(Some((client, uri.to_owned()))))
}

/// Whether the logout may happen without asking: the hint names the user signed in here (or nobody is).
/// Otherwise a page asks first, so that a third party cannot sign people out with a link (logout CSRF).
pub fn may_skip_confirmation(browser: &Browser, hint: Option<&Hint>) -> bool {
    match (hint, &browser.user) {
        (Some(h), Some(user)) => h.sub == user.id,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Signs the browser out: ends every login session it started through authorization codes and the login
/// session of the hint, then its page session.
pub async fn sign_out(
    app: &AppState,
    realm: &Realm,
    browser: &Browser,
    hint: Option<&Hint>,
) -> Result<()> {
    let now = app.now();
    let ended = app
        .store
        .end_browser_logins(&sha256_hex(&browser.cookie), now)
        .await?;
    if let Some(sid) = hint.and_then(|h| h.sid.as_deref())
        && let Some(session) = app.store.session(sid).await?
        && session.realm == realm.name
        && hint.is_some_and(|h| h.sub == session.user_id)
    {
        app.store.end_session(sid, now).await?;
    }
    if let Some(user) = &browser.user {
        tracing::info!(realm = %realm.name, user_id = %user.id, ended, "signed out");
    }
    browser::sign_out(app, browser).await
}
