//! Browser sessions of the server-rendered pages: the session cookie, CSRF tokens, sign-in, and the bounds on
//! guessing (RFC 8628 §5.1). Every piece of state is in the store, so any replica can serve the next request.

use keyport_proto::constant_time_eq;

use super::{Result, password};
use crate::crypto::{random_token, sha256_b64, sha256_hex};
use crate::state::{AppState, Realm};
use crate::store::{BrowserSession, User};

/// How long a page session lasts.
pub const SESSION_LIFETIME: i64 = 3600;

/// A browser session as the pages see it: the cookie value (a secret) and who is signed in, when and how.
pub struct Browser {
    pub cookie: String,
    pub user: Option<User>,
    /// When the user signed in (OpenID Connect `auth_time`); 0 while anonymous.
    pub auth_time: i64,
    /// How the user signed in: `pwd`, or `fed:{alias}` through an upstream identity provider.
    pub amr: String,
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

/// Signs `user` in: a fresh session (a new cookie, against fixation) replacing `old`, with `auth_time` now,
/// `amr` saying how (`pwd`, `fed:{alias}`) and the client `address` (shown in the portal's sessions page). Every
/// way of signing in ends here.
pub async fn establish(
    app: &AppState,
    realm: &Realm,
    old: Option<&str>,
    user: User,
    amr: &str,
    address: &str,
) -> Result<Browser> {
    if let Some(old) = old {
        app.store.delete_browser_session(&sha256_hex(old)).await?;
    }
    let cookie = random_token(32);
    let now = app.now();
    app.store
        .insert_browser_session(&BrowserSession {
            id_hash: sha256_hex(&cookie),
            realm: realm.name.clone(),
            user_id: Some(user.id.clone()),
            auth_time: Some(now),
            amr: Some(amr.to_owned()),
            created_at: now,
            expires_at: now + SESSION_LIFETIME,
            address: Some(address.to_owned()),
        })
        .await?;
    tracing::info!(realm = %realm.name, user_id = %user.id, amr, "signed in");
    Ok(Browser {
        cookie,
        user: Some(user),
        auth_time: now,
        amr: amr.to_owned(),
    })
}

/// The browser behind the cookie: signed in when the cookie names a live page session of this realm whose user
/// is enabled; anonymous otherwise, keeping the cookie (so the CSRF tokens of its open forms stay valid) or with a
/// new one when it has none. Writes nothing: a page session is stored only when someone signs in, so anonymous
/// visitors cost no row.
pub async fn current(app: &AppState, realm: &Realm, cookie: Option<&str>) -> Result<Browser> {
    let Some(cookie) = cookie.filter(|c| well_formed(c)) else {
        return Ok(anonymous(random_token(32)));
    };
    let session = app
        .store
        .browser_session(&sha256_hex(cookie), app.now())
        .await?
        .filter(|s| s.realm == realm.name);
    let Some(s) = session else {
        return Ok(anonymous(cookie.to_owned()));
    };
    let user = match &s.user_id {
        Some(id) => app.store.user(&realm.name, id).await?.filter(|u| u.enabled),
        None => None,
    };
    let Some(user) = user else {
        return Ok(anonymous(cookie.to_owned()));
    };
    Ok(Browser {
        cookie: cookie.to_owned(),
        auth_time: s.auth_time.unwrap_or(s.created_at),
        amr: s.amr.unwrap_or_else(|| "pwd".into()),
        user: Some(user),
    })
}

/// A cookie value as [`random_token`] makes them: 43 base64url characters.
fn well_formed(cookie: &str) -> bool {
    cookie.len() == 43
        && cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn anonymous(cookie: String) -> Browser {
    Browser {
        cookie,
        user: None,
        auth_time: 0,
        amr: String::new(),
    }
}

/// Outcome of a sign-in attempt.
pub enum SignIn {
    /// A fresh session (new cookie, against fixation) for the user.
    Ok(Box<Browser>),
    WrongCredentials,
    TooManyAttempts,
}

/// Signs in with a local username and password (the sign-in page), within the realm's guessing bounds.
pub async fn sign_in(
    app: &AppState,
    realm: &Realm,
    old: Option<&str>,
    ip: &str,
    username: &str,
    password: &str,
) -> Result<SignIn> {
    Ok(
        match password::check_bounded(app, realm, username, password, ip).await? {
            password::Checked::Ok(user) => {
                SignIn::Ok(Box::new(establish(app, realm, old, user, "pwd", ip).await?))
            }
            password::Checked::Wrong => SignIn::WrongCredentials,
            password::Checked::Locked | password::Checked::TooManyFromAddress => {
                SignIn::TooManyAttempts
            }
        },
    )
}

pub async fn sign_out(app: &AppState, browser: &Browser) -> Result<()> {
    Ok(app
        .store
        .delete_browser_session(&sha256_hex(&browser.cookie))
        .await?)
}

/// Whether the user-code guessing budget is spent: this browser session's or this client address's (`ip` is
/// the `http::client_ip::rate_key`), or the realm's ceiling of code checks per minute. The ceiling is counted
/// record-first (every check, right or wrong, is counted in the realm's row of the minute before it is judged),
/// so concurrent requests cannot overshoot it; the session and address budgets count wrong codes only.
pub async fn user_code_budget_spent(
    app: &AppState,
    realm: &Realm,
    browser: &Browser,
    ip: &str,
) -> Result<bool> {
    let limit = app.settings.user_code_attempts_per_minute as u64;
    if over_limit(app, &user_code_keys(browser, ip), limit, false).await? {
        return Ok(true);
    }
    let now = app.now();
    // One row per realm and minute, incremented in place before the check is judged.
    let checks = app
        .store
        .count_request(&realm_checks_key(realm), now - now.rem_euclid(60))
        .await?;
    if checks > app.settings.user_code_guesses_per_minute as u64 {
        tracing::warn!(realm = %realm.name, "user-code ceiling reached: refusing code checks for the rest of the minute");
        return Ok(true);
    }
    Ok(false)
}

/// Records a wrong user code against the session, the client address and the realm (where it counts against
/// every pending code: [`wrong_guesses_since`]).
pub async fn record_wrong_user_code(
    app: &AppState,
    realm: &Realm,
    browser: &Browser,
    ip: &str,
) -> Result<()> {
    let limit = app.settings.user_code_attempts_per_minute as u64;
    over_limit(app, &user_code_keys(browser, ip), limit, true).await?;
    let now = app.now();
    app.store
        .failed_attempts(&realm_wrong_key(&realm.name), true, now, now)
        .await?;
    Ok(())
}

/// Wrong user codes entered in `realm` after `since` (Unix seconds, inclusive): the guesses a code created then
/// has taken.
pub async fn wrong_guesses_since(app: &AppState, realm: &str, since: i64) -> Result<u64> {
    Ok(app
        .store
        .failed_attempts(&realm_wrong_key(realm), false, app.now(), since - 1)
        .await?)
}

fn realm_checks_key(realm: &Realm) -> String {
    format!("usercode:realm-checks:{}", realm.name)
}

fn realm_wrong_key(realm: &str) -> String {
    format!("usercode:realm-wrong:{realm}")
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
