//! Browser sessions of the server-rendered pages: the session cookie, CSRF tokens, sign-in, and the bounds on
//! guessing (RFC 8628 §5.1). Every piece of state is in the store, so any replica can serve the next request.

use keyport_proto::constant_time_eq;

use super::{Result, password};
use crate::crypto::{random_token, sha256_b64, sha256_hex};
use crate::state::{AppState, Realm};
use crate::store::{BrowserSession, User};

/// How long a page session lasts.
pub const SESSION_LIFETIME: i64 = 3600;
/// Failed sign-ins allowed per IP address and per username per minute.
pub const SIGN_IN_ATTEMPTS_PER_MINUTE: u64 = 10;

/// A browser session as the pages see it: the cookie value (a secret) and who is signed in.
pub struct Browser {
    pub cookie: String,
    pub user: Option<User>,
}

impl Browser {
    /// The CSRF token for this session's forms: derived from the cookie secret, so no other site can know it.
    pub fn csrf(&self) -> String {
        sha256_b64(&[b"keyport-csrf", self.cookie.as_bytes()])
    }

    pub fn check_csrf(&self, presented: &str) -> bool {
        constant_time_eq(self.csrf().as_bytes(), presented.as_bytes())
    }
}

async fn create(app: &AppState, realm: &Realm, user_id: Option<String>) -> Result<Browser> {
    let cookie = random_token(32);
    let now = app.now();
    app.store
        .insert_browser_session(&BrowserSession {
            id_hash: sha256_hex(&cookie),
            realm: realm.name.clone(),
            user_id,
            created_at: now,
            expires_at: now + SESSION_LIFETIME,
        })
        .await?;
    Ok(Browser { cookie, user: None })
}

/// The session named by the cookie, or `None` when absent, expired or of another realm.
pub async fn find(app: &AppState, realm: &Realm, cookie: Option<&str>) -> Result<Option<Browser>> {
    let Some(cookie) = cookie else {
        return Ok(None);
    };
    let Some(s) = app
        .store
        .browser_session(&sha256_hex(cookie), app.now())
        .await?
    else {
        return Ok(None);
    };
    if s.realm != realm.name {
        return Ok(None);
    }
    let user = match s.user_id {
        Some(id) => app
            .store
            .user(&realm.name, &id)
            .await?
            .filter(|u| u.enabled),
        None => None,
    };
    Ok(Some(Browser {
        cookie: cookie.to_owned(),
        user,
    }))
}

/// The session named by the cookie, or a new anonymous one.
pub async fn find_or_create(
    app: &AppState,
    realm: &Realm,
    cookie: Option<&str>,
) -> Result<Browser> {
    match find(app, realm, cookie).await? {
        Some(b) => Ok(b),
        None => create(app, realm, None).await,
    }
}

/// Outcome of a sign-in attempt.
pub enum SignIn {
    /// A fresh session (new cookie, against fixation) for the user.
    Ok(Box<Browser>),
    WrongCredentials,
    TooManyAttempts,
}

pub async fn sign_in(
    app: &AppState,
    realm: &Realm,
    old: &Browser,
    ip: &str,
    username: &str,
    password: &str,
) -> Result<SignIn> {
    let keys = [
        format!("signin:ip:{ip}"),
        format!("signin:user:{}:{}", realm.name, username.to_lowercase()),
    ];
    if over_limit(app, &keys, SIGN_IN_ATTEMPTS_PER_MINUTE, false).await? {
        return Ok(SignIn::TooManyAttempts);
    }
    let Some(user) = password::check(app, realm, username, password).await? else {
        over_limit(app, &keys, SIGN_IN_ATTEMPTS_PER_MINUTE, true).await?;
        return Ok(SignIn::WrongCredentials);
    };
    app.store
        .delete_browser_session(&sha256_hex(&old.cookie))
        .await?;
    let mut fresh = create(app, realm, Some(user.id.clone())).await?;
    tracing::info!(realm = %realm.name, user_id = %user.id, "signed in on the device page");
    fresh.user = Some(user);
    Ok(SignIn::Ok(Box::new(fresh)))
}

pub async fn sign_out(app: &AppState, browser: &Browser) -> Result<()> {
    Ok(app
        .store
        .delete_browser_session(&sha256_hex(&browser.cookie))
        .await?)
}

/// Whether the user-code guessing budget of this browser session or IP address is spent.
pub async fn user_code_budget_spent(app: &AppState, browser: &Browser, ip: &str) -> Result<bool> {
    let limit = app.settings.user_code_attempts_per_minute as u64;
    over_limit(app, &user_code_keys(browser, ip), limit, false).await
}

/// Records a wrong user code against the session and the IP address.
pub async fn record_wrong_user_code(app: &AppState, browser: &Browser, ip: &str) -> Result<()> {
    let limit = app.settings.user_code_attempts_per_minute as u64;
    over_limit(app, &user_code_keys(browser, ip), limit, true).await?;
    Ok(())
}

fn user_code_keys(browser: &Browser, ip: &str) -> [String; 2] {
    [
        format!("usercode:ip:{ip}"),
        format!("usercode:session:{}", sha256_hex(&browser.cookie)),
    ]
}

async fn over_limit(app: &AppState, keys: &[String], limit: u64, record: bool) -> Result<bool> {
    let now = app.now();
    let mut over = false;
    for key in keys {
        over |= app
            .store
            .failed_attempts(key, record, now, now - 60)
            .await?
            >= limit;
    }
    Ok(over)
}
