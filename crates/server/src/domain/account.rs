//! A person's own sessions, as the portal shows them (issue 12): their login sessions (one per sign-in through a
//! client: a CLI, a notebook, a web app) and their signed-in browsers; signing out one or all of them. Ending a
//! login session stops its refresh tokens and its access tokens at once (both check the session). Every ending
//! is audited like an admin action (actor, target, outcome). Knows nothing of HTTP.

use super::audit::{self, Entry};
use super::{Error, Result};
use crate::crypto::sha256_b64;
use crate::state::{AppState, Realm};
use crate::store::{BrowserSession, Consent, SessionSummary, User};

/// The user's live login sessions, newest first.
pub async fn sessions(
    app: &AppState,
    realm: &Realm,
    user: &User,
    first: i64,
    max: i64,
) -> Result<Vec<SessionSummary>> {
    Ok(app
        .store
        .user_sessions(&realm.name, &user.id, app.now(), first, max)
        .await?)
}

/// Ends one login session of the user. Another user's session, or an unknown id, is `NotFound` (the same
/// answer, so ids of others' sessions cannot be probed).
pub async fn end_session(
    app: &AppState,
    realm: &Realm,
    user: &User,
    session_id: &str,
) -> Result<()> {
    let mine = app
        .store
        .session(session_id)
        .await?
        .filter(|s| s.realm == realm.name && s.user_id == user.id);
    if mine.is_none() {
        return Err(Error::NotFound("no such session of yours".into()));
    }
    app.store.end_session(session_id, app.now()).await?;
    audit::record(
        app,
        Entry::new(&realm.name, "session.end")
            .actor(&user.id)
            .target(session_id),
    )
    .await?;
    tracing::info!(realm = %realm.name, user_id = %user.id, session_id, "session ended by its user");
    Ok(())
}

/// Signs the user out everywhere: every login session ends and every browser is signed out (this one too).
pub async fn end_everything(app: &AppState, realm: &Realm, user: &User) -> Result<()> {
    let ended = app
        .store
        .end_user_sessions(&realm.name, &user.id, app.now())
        .await?;
    let browsers = app
        .store
        .delete_user_browser_sessions(&realm.name, &user.id)
        .await?;
    audit::record(
        app,
        Entry::new(&realm.name, "session.end_all")
            .actor(&user.id)
            .target(&user.id),
    )
    .await?;
    tracing::info!(realm = %realm.name, user_id = %user.id, ended, browsers, "signed out everywhere");
    Ok(())
}

/// A signed-in browser of the user, with a handle to name it in a form (derived from the stored hash, so the
/// page never shows anything that leads to the cookie).
pub struct SignedInBrowser {
    pub handle: String,
    pub session: BrowserSession,
}

fn handle(id_hash: &str) -> String {
    sha256_b64(&[b"keyport-browser-handle", id_hash.as_bytes()])
}

/// The user's signed-in browsers, newest first.
pub async fn browsers(app: &AppState, realm: &Realm, user: &User) -> Result<Vec<SignedInBrowser>> {
    Ok(app
        .store
        .user_browser_sessions(&realm.name, &user.id, app.now())
        .await?
        .into_iter()
        .map(|s| SignedInBrowser {
            handle: handle(&s.id_hash),
            session: s,
        })
        .collect())
}

/// The handle of the browser whose cookie hash is `id_hash` (to mark "this browser").
pub fn handle_of(id_hash: &str) -> String {
    handle(id_hash)
}

/// Signs out the user's browser named by `handle` (from [`browsers`]). Unknown: `NotFound`.
pub async fn end_browser(app: &AppState, realm: &Realm, user: &User, handle: &str) -> Result<()> {
    let target = browsers(app, realm, user)
        .await?
        .into_iter()
        .find(|b| keyport_proto::constant_time_eq(b.handle.as_bytes(), handle.as_bytes()))
        .ok_or_else(|| Error::NotFound("no such signed-in browser of yours".into()))?;
    app.store
        .end_browser_logins(&target.session.id_hash, app.now())
        .await?;
    app.store
        .delete_browser_session(&target.session.id_hash)
        .await?;
    audit::record(
        app,
        Entry::new(&realm.name, "browser.sign_out").actor(&user.id),
    )
    .await?;
    Ok(())
}

/// The third-party clients the user allowed (consent pages), with the scopes allowed.
pub async fn consents(app: &AppState, realm: &Realm, user: &User) -> Result<Vec<Consent>> {
    Ok(app.store.consents(&realm.name, &user.id).await?)
}

/// Withdraws the user's consent to `client_id`: its consent page asks again next time. The client's login
/// sessions are not ended here (that is "Sign out" on the sessions page). Unknown: `NotFound`.
pub async fn revoke_consent(
    app: &AppState,
    realm: &Realm,
    user: &User,
    client_id: &str,
) -> Result<()> {
    if !app
        .store
        .revoke_consent(&realm.name, &user.id, client_id)
        .await?
    {
        return Err(Error::NotFound(
            "you have not allowed that application".into(),
        ));
    }
    audit::record(
        app,
        Entry::new(&realm.name, "consent.revoke")
            .actor(&user.id)
            .target(client_id),
    )
    .await?;
    Ok(())
}
