//! The device authorization grant (RFC 8628): starting a flow, polling, and the user's decision.

use std::sync::atomic::{AtomicU64, Ordering};

use keyport_proto::oauth::{DeviceAuthorizationResponse, TokenResponse};
use keyport_proto::{ErrorCode, user_code};

use super::browser::{self, Browser};
use super::tokens::{self, Subject};
use super::{Error, Result, client_auth, invalid_grant, oauth, scope};
use crate::config::Grant;
use crate::crypto::{random_from_alphabet, random_id, random_token, sha256_hex};
use crate::state::{AppState, Realm};
use crate::store::{Client, DeviceGrant, DeviceStatus, Session, SessionStart, StoreError};

/// RFC 8628 §3.5: after `slow_down` the interval grows by 5 seconds.
pub const SLOW_DOWN_STEP: i64 = 5;

/// §3.1–3.2: a new device code and user code.
pub async fn authorize(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    requested_scope: Option<&str>,
) -> Result<DeviceAuthorizationResponse> {
    client_auth::require_grant(client, Grant::DeviceCode)?;
    let scope = scope::resolve(realm, client, requested_scope)?;
    let now = app.now();
    let lifetime = realm.config.device_code_lifetime.as_secs() as i64;
    let interval = realm.config.device_poll_interval.as_secs() as i64;
    let device_code = random_token(32);
    for _ in 0..5 {
        let code = random_from_alphabet(user_code::ALPHABET, user_code::LENGTH);
        let grant = DeviceGrant {
            device_code_hash: sha256_hex(&device_code),
            user_code: code.clone(),
            realm: realm.name.clone(),
            client_id: client.client_id.clone(),
            scope: scope.clone(),
            created_at: now,
            expires_at: now + lifetime,
            interval_secs: interval,
            last_poll_at: None,
            status: DeviceStatus::Pending,
            user_id: None,
        };
        match app.store.insert_device_grant(&grant).await {
            Ok(()) => {
                let shown = user_code::display(&code);
                let verification_uri = realm.verification_uri();
                return Ok(DeviceAuthorizationResponse {
                    device_code: device_code.into(),
                    verification_uri_complete: format!("{verification_uri}?user_code={shown}"),
                    user_code: shown,
                    verification_uri,
                    expires_in: lifetime as u64,
                    interval: interval as u64,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::Internal(
        "could not find a free user code after 5 tries".into(),
    ))
}

/// Counts a device authorization of `client` against its ceiling for all replicas together
/// (`[realms.rate_limits] public_client_device_authorizations` or `confidential_client_device_authorizations`
/// a minute): one row per client and minute in the store, incremented and read in one statement, so concurrent
/// requests on any replica cannot overshoot it. `Some(seconds until the next minute)` when it is over.
pub async fn count_authorization(
    app: &AppState,
    realm: &Realm,
    client: &Client,
) -> Result<Option<u64>> {
    let limits = &realm.config.rate_limits;
    let limit = if client.public {
        limits.public_client_device_authorizations
    } else {
        limits.confidential_client_device_authorizations
    };
    let now = app.now();
    let window = now - now.rem_euclid(60);
    let key = format!("device-authorization:{}:{}", realm.name, client.client_id);
    let count = app.store.count_request(&key, window).await?;
    Ok((count > u64::from(limit)).then(|| (window + 60 - now).max(1) as u64))
}

/// The device-code polls one replica works on at once (`server.device_polls_in_flight`). Polls past it are
/// shed: answered `slow_down` before their device code is read, so that when more devices poll than the machine can
/// serve, each one that is turned away costs an HTTP request and adds 5 s to its interval (RFC 8628 §3.5),
/// instead of waiting in the pool's queue until its acquire timeout answers 503.
pub struct PollGate {
    places: tokio::sync::Semaphore,
    limit: usize,
    shed: AtomicU64,
}

/// One place in the [`PollGate`], given back when dropped (also when the request is cancelled).
pub struct PollPlace<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
}

impl PollGate {
    pub fn new(limit: u32) -> PollGate {
        PollGate {
            places: tokio::sync::Semaphore::new(limit as usize),
            limit: limit as usize,
            shed: AtomicU64::new(0),
        }
    }

    /// A place for one poll; `None` (counted as shed) when every place is taken.
    pub fn enter(&self) -> Option<PollPlace<'_>> {
        match self.places.try_acquire() {
            Ok(permit) => Some(PollPlace { _permit: permit }),
            Err(_) => {
                self.shed.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Polls being worked on now.
    pub fn in_flight(&self) -> usize {
        self.limit - self.places.available_permits()
    }

    /// Polls shed since the start.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }
}

/// §3.4–3.5: one poll of the token endpoint. A poll the [`PollGate`] sheds is answered `slow_down` whatever the
/// state of its code: the device's next poll, 5 s later than it would have been, gets the real answer.
pub async fn poll(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    device_code: &str,
) -> Result<TokenResponse> {
    client_auth::require_grant(client, Grant::DeviceCode)?;
    let Some(_place) = app.device_polls.enter() else {
        return Err(oauth(
            ErrorCode::SlowDown,
            format!(
                "The server is busy; wait {SLOW_DOWN_STEP} seconds longer between requests, as after every slow_down"
            ),
        ));
    };
    let hash = sha256_hex(device_code);
    let grant = app
        .store
        .device_grant(&hash)
        .await?
        .filter(|g| g.realm == realm.name)
        .ok_or_else(|| invalid_grant("Device code not valid"))?;
    if grant.client_id != client.client_id {
        return Err(invalid_grant("Device code was issued to another client"));
    }
    let now = app.now();
    match grant.status {
        DeviceStatus::Redeemed => Err(invalid_grant("Device code has already been used")),
        _ if grant.expires_at <= now => Err(oauth(
            ErrorCode::ExpiredToken,
            "The device code has expired; start the login again",
        )),
        DeviceStatus::Denied => Err(oauth(
            ErrorCode::AccessDenied,
            "The user denied the authorization request",
        )),
        DeviceStatus::Pending => {
            if let Some(last) = grant.last_poll_at
                && now - last < grant.interval_secs
            {
                let interval = grant.interval_secs + SLOW_DOWN_STEP;
                app.store.record_device_poll(&hash, now, interval).await?;
                return Err(oauth(
                    ErrorCode::SlowDown,
                    format!("Polling too fast; wait at least {interval} seconds between requests"),
                ));
            }
            app.store
                .record_device_poll(&hash, now, grant.interval_secs)
                .await?;
            Err(oauth(
                ErrorCode::AuthorizationPending,
                "The authorization request is still pending",
            ))
        }
        DeviceStatus::Approved => redeem(app, realm, client, &grant).await,
    }
}

fn user_gone() -> Error {
    invalid_grant("The user who approved this login no longer exists")
}

async fn redeem(
    app: &AppState,
    realm: &Realm,
    client: &Client,
    grant: &DeviceGrant,
) -> Result<TokenResponse> {
    let user_id = grant
        .user_id
        .as_deref()
        .ok_or_else(|| Error::Internal("approved grant without a user".into()))?;
    let user = app
        .store
        .user(&realm.name, user_id)
        .await?
        .filter(|u| u.enabled)
        .ok_or_else(user_gone)?;
    let now = app.now();
    let session = Session {
        id: random_id(),
        realm: realm.name.clone(),
        user_id: user.id.clone(),
        client_id: client.client_id.clone(),
        scope: grant.scope.clone(),
        created_at: now,
        ended_at: None,
    };
    let (secret, row) = tokens::new_refresh_token(app, realm, client, &session.id);
    match app
        .store
        .redeem_device_grant(&grant.device_code_hash, &session, &row)
        .await?
    {
        SessionStart::Started => {}
        SessionStart::AlreadyUsed => {
            return Err(invalid_grant("Device code has already been used"));
        }
        SessionStart::UserGone => return Err(user_gone()),
    }
    let refresh = client
        .grants
        .contains(&Grant::RefreshToken)
        .then_some((secret, &row));
    Ok(tokens::respond(
        app,
        tokens::Grant {
            realm,
            client,
            subject: Subject::user(&user),
            session_id: Some(&session.id),
            auth_time: now,
            scope: grant.scope.clone(),
            refresh,
            sign_in: Default::default(),
        },
    ))
}

/// What the verification page needs to know about a pending flow.
pub struct PendingFlow {
    pub device_code_hash: String,
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
}

/// Finds the pending, unexpired flow a person typed the code of. `None` for a malformed, unknown, expired or
/// already decided code, and for a dead one: a code that took `server.user_code_max_wrong_guesses` wrong codes
/// (entered in its realm while it was pending) may have been guessed, so nobody may use it any more.
pub async fn find_pending(
    app: &AppState,
    realm: &Realm,
    typed: &str,
) -> Result<Option<PendingFlow>> {
    let Some(code) = user_code::normalize(typed) else {
        return Ok(None);
    };
    let now = app.now();
    let Some(grant) = app
        .store
        .device_grant_by_user_code(&realm.name, &code)
        .await?
        .filter(|g| g.status == DeviceStatus::Pending && g.expires_at > now)
    else {
        return Ok(None);
    };
    let guesses = super::browser::wrong_guesses_since(app, &realm.name, grant.created_at).await?;
    if guesses >= app.settings.user_code_max_wrong_guesses as u64 {
        tracing::warn!(realm = %realm.name, client_id = %grant.client_id, guesses, "user code refused: too many wrong codes were tried while it was pending");
        return Ok(None);
    }
    Ok(Some(PendingFlow {
        device_code_hash: grant.device_code_hash,
        user_code: user_code::display(&grant.user_code),
        client_id: grant.client_id,
        scope: grant.scope,
    }))
}

/// Records the signed-in user's Approve or Deny, then ends the page session: the decision was what it was for,
/// and a browser left signed in is one more way in. False when the flow is no longer pending (the session is
/// kept, so the person can enter another code).
pub async fn decide(
    app: &AppState,
    flow: &PendingFlow,
    browser: &Browser,
    approve: bool,
) -> Result<bool> {
    let user = browser
        .user
        .as_ref()
        .ok_or_else(|| Error::Internal("a device decision without a signed-in user".into()))?;
    let status = if approve {
        DeviceStatus::Approved
    } else {
        DeviceStatus::Denied
    };
    let decided = app
        .store
        .decide_device_grant(&flow.device_code_hash, status, &user.id, app.now())
        .await?;
    if decided {
        browser::sign_out(app, browser).await?;
    }
    Ok(decided)
}

#[cfg(test)]
mod tests {
    use super::PollGate;

    #[test]
    fn the_poll_gate_admits_up_to_its_limit_and_counts_what_it_sheds() {
        let gate = PollGate::new(2);
        let first = gate.enter().expect("a place");
        let second = gate.enter().expect("a place");
        assert_eq!(gate.in_flight(), 2);
        assert!(gate.enter().is_none());
        assert!(gate.enter().is_none());
        assert_eq!(gate.shed(), 2);
        drop(first);
        assert_eq!(gate.in_flight(), 1);
        let third = gate.enter().expect("a place given back is taken again");
        drop((second, third));
        assert_eq!((gate.in_flight(), gate.shed()), (0, 2));
    }
}
