//! Password checks (argon2id, off the async runtime) and the resource owner password grant, which only clients
//! that list `password` may use.

use keyport_proto::oauth::TokenResponse;

use super::tokens::{self, Subject};
use super::{Error, Result, client_auth, invalid_grant, invalid_request, scope};
use crate::config::Grant;
use crate::crypto::{HashTicket, dummy_password_hash, random_id, verify_password};
use crate::state::{AppState, Realm};
use crate::store::{Client, LockoutRule, Session, SessionStart, User};

/// The user, when the password is right and the user enabled. Unknown users cost as much as wrong passwords.
/// Unbounded: callers go through [`check_bounded`]. `temporarily_unavailable` when too many password checks
/// are waiting already (each holds 19 MiB while it runs; see [`HashTicket`]).
async fn check(
    app: &AppState,
    realm: &Realm,
    username: &str,
    password: &str,
) -> Result<Option<User>> {
    let ticket = HashTicket::take().ok_or_else(|| {
        super::oauth(
            keyport_proto::ErrorCode::TemporarilyUnavailable,
            "too many sign-ins at once; try again in a moment",
        )
    })?;
    let user = app.store.user_by_username(&realm.name, username).await?;
    let phc = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| dummy_password_hash().to_owned());
    let password = password.to_owned();
    let ok = tokio::task::spawn_blocking(move || {
        let _ticket = ticket;
        verify_password(&password, &phc)
    })
    .await
    .map_err(|e| Error::Internal(format!("password check task failed: {e}")))?;
    Ok(user.filter(|u| ok && u.enabled && u.password_hash.is_some()))
}

/// The outcome of a password check within the guessing bounds.
pub enum Checked {
    Ok(User),
    Wrong,
    /// Too many failures for this account ([`crate::config::BruteForceConfig`]).
    Locked,
    /// Too many attempts from this address in the last minute.
    TooManyFromAddress,
}

/// Checks a password within the bounds of the realm's brute-force detection, for the sign-in page and the
/// password grant alike: per address (attempts in the last minute) and per account (consecutive failures,
/// counted before the check so that parallel guesses cannot all pass; a locked account's password is not even
/// checked). Unknown usernames are bounded like real ones, so the answers do not tell them apart.
pub async fn check_bounded(
    app: &AppState,
    realm: &Realm,
    username: &str,
    password: &str,
    address: &str,
) -> Result<Checked> {
    let policy = &realm.config.brute_force;
    let now = app.now();
    // One row per address and minute, incremented in place (not a row per attempt): an anonymous flood costs
    // O(addresses) rows.
    let per_address = app
        .store
        .count_request(&format!("signin:ip:{address}"), now - now.rem_euclid(60))
        .await?;
    if per_address > u64::from(policy.attempts_per_address_per_minute) {
        return Ok(Checked::TooManyFromAddress);
    }
    let account = username.to_lowercase();
    let rule = LockoutRule {
        now,
        reset_before: now - policy.failure_reset.as_secs() as i64,
        factor: i64::from(policy.failure_factor),
        increment: policy.wait_increment.as_secs() as i64,
        max_wait: policy.max_wait.as_secs() as i64,
    };
    let Some(failures) = app
        .store
        .count_password_attempt(&realm.name, &account, &rule)
        .await?
    else {
        return Ok(Checked::Locked);
    };
    match check(app, realm, username, password).await? {
        Some(user) => {
            app.store
                .clear_password_failures(&realm.name, &account)
                .await?;
            Ok(Checked::Ok(user))
        }
        None => {
            if failures >= rule.factor {
                tracing::warn!(realm = %realm.name, failures, "account locked after repeated wrong passwords");
                if policy.permanent_lockout {
                    app.store
                        .lock_account(&realm.name, &account, i64::MAX)
                        .await?;
                }
            }
            Ok(Checked::Wrong)
        }
    }
}

pub async fn grant(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    username: Option<&str>,
    password: Option<&str>,
    requested_scope: Option<&str>,
    address: &str,
) -> Result<TokenResponse> {
    client_auth::require_grant(client, Grant::Password)?;
    if !realm.config.local_passwords {
        return Err(super::oauth(
            keyport_proto::ErrorCode::UnauthorizedClient,
            "this realm signs people in through identity providers only: the password grant is off",
        ));
    }
    let username = username.ok_or_else(|| invalid_request("username is missing"))?;
    let password = password.ok_or_else(|| invalid_request("password is missing"))?;
    let scope = scope::resolve(realm, client, requested_scope)?;
    let user = match check_bounded(app, realm, username, password, address).await? {
        Checked::Ok(user) => user,
        Checked::Wrong => return Err(invalid_grant("Invalid user credentials")),
        Checked::Locked => {
            return Err(invalid_grant(
                "Account temporarily locked after too many failed sign-ins; try again later",
            ));
        }
        Checked::TooManyFromAddress => {
            return Err(super::oauth(
                keyport_proto::ErrorCode::SlowDown,
                "too many sign-in attempts from this address; wait a minute",
            ));
        }
    };
    let now = app.now();
    let session = Session {
        id: random_id(),
        realm: realm.name.clone(),
        user_id: user.id.clone(),
        client_id: client.client_id.clone(),
        scope: scope.clone(),
        created_at: now,
        ended_at: None,
    };
    let refresh = client
        .grants
        .contains(&Grant::RefreshToken)
        .then(|| tokens::new_refresh_token(app, realm, client, &session.id));
    let started = app
        .store
        .create_session(&session, refresh.as_ref().map(|(_, row)| row))
        .await?;
    if started != SessionStart::Started {
        // Deleted between the password check and this write: nothing was written.
        return Err(invalid_grant("Invalid user credentials"));
    }
    Ok(tokens::respond(
        app,
        tokens::Grant {
            realm,
            client,
            subject: Subject::user(&user),
            session_id: Some(&session.id),
            auth_time: now,
            scope,
            refresh: refresh.as_ref().map(|(secret, row)| (secret.clone(), row)),
            sign_in: Default::default(),
        },
    ))
}
