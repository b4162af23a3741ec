//! API tokens: the `kp_` format, authenticating a presented token, and what userinfo, introspection (RFC 7662)
//! and `token_info` say about one.
//!
//! Format: `kp_` + 43 base62 characters drawn uniformly from OS randomness (43 · log2 62 ≈ 256.03 bits) + a
//! 6-character base62 checksum (the first four bytes of SHA-256 over the random part). The prefix lets secret
//! scanners find leaked tokens; the checksum rejects a mistyped or truncated token without a database lookup.
//! Only the SHA-256 (hex) of the whole string is stored.

use keyport_proto::admin::TokenInfo;
use keyport_proto::oauth::{RealmAccess, UserInfo};
use keyport_proto::{ErrorCode, Secret, constant_time_eq};
use sha2::{Digest, Sha256};

use std::sync::Arc;

use super::audit;
use super::{Result, oauth};
use crate::cache::ApiTokenEntry;
use crate::crypto::{random_from_alphabet, sha256_digits, sha256_hex};
use crate::state::{AppState, Realm};
use crate::store::{ApiToken, User, UserType};
use crate::usage::Use;

pub const PREFIX: &str = "kp_";
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// Length of a whole token.
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;

/// The checksum characters of a random part (base62, so ASCII).
fn checksum(random: &str) -> [u8; CHECKSUM_LEN] {
    let digest = Sha256::digest(random.as_bytes());
    let mut n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// A new token: the secret (shown once) and the hash to store.
pub fn generate() -> (Secret, String) {
    let random = random_from_alphabet(BASE62, RANDOM_LEN);
    let sum = checksum(&random);
    let token = format!(
        "{PREFIX}{random}{}",
        std::str::from_utf8(&sum).expect("base62 is ASCII")
    );
    let hash = sha256_hex(&token);
    (Secret::new(token), hash)
}

/// Whether a presented bearer token claims to be an API token (as opposed to a JWT or a refresh token).
pub fn is_api_token(token: &str) -> bool {
    token.starts_with(PREFIX)
}

/// Why a presented string is not a well-formed API token. Checked before any database lookup.
#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    Prefix,
    Length,
    Alphabet,
    Checksum,
}

/// Checks prefix, length, alphabet and checksum: pure, no database.
pub fn check_format(token: &str) -> std::result::Result<(), Malformed> {
    let body = token.strip_prefix(PREFIX).ok_or(Malformed::Prefix)?;
    if token.len() != TOKEN_LEN {
        return Err(Malformed::Length);
    }
    // BASE62 is exactly the ASCII letters and digits (a test checks): one comparison a byte, not a search.
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Malformed::Alphabet);
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    if !constant_time_eq(&checksum(random), sum.as_bytes()) {
        return Err(Malformed::Checksum);
    }
    Ok(())
}

fn invalid_token(description: &str) -> super::Error {
    oauth(ErrorCode::InvalidToken, description)
}

/// A token that passed every check, with its user: shared with the cache (`a.token`, `a.user`).
pub type Authenticated = Arc<ApiTokenEntry>;

/// Finds an active API token and its (enabled) user, for a use of the token: `realms` are the realms the token
/// may belong to. Errors are `invalid_token` with a description that says what to do; a checksum mismatch never
/// reaches the store. The caller records the use with [`record_use`].
pub async fn authenticate(
    app: &AppState,
    realms: &[&str],
    presented: &str,
) -> Result<Authenticated> {
    if let Err(why) = check_format(presented) {
        return Err(invalid_token(match why {
            Malformed::Checksum => {
                "the API token's checksum does not match: it was mistyped or truncated"
            }
            _ => "the API token is malformed: expected `kp_` followed by 49 letters and digits",
        }));
    }
    let digits = sha256_digits(presented);
    let hash = digits.as_str();
    let inactive = || invalid_token("the API token is unknown, expired or revoked");
    let now = app.now();
    let entry = match app.caches.api_token(hash) {
        Some(entry) => entry,
        None => {
            let generation = app.caches.generation();
            let token = app
                .store
                .api_token_by_hash(hash)
                .await?
                .filter(|t| constant_time_eq(t.token_hash.as_bytes(), hash.as_bytes()))
                .filter(|t| t.is_active(now))
                .ok_or_else(inactive)?;
            let user = app
                .store
                .user(&token.realm, &token.user_id)
                .await?
                .filter(|u| u.enabled)
                .ok_or_else(inactive)?;
            let entry = Arc::new(ApiTokenEntry { token, user });
            app.caches.put_api_token(generation, &entry);
            entry
        }
    };
    let token = &entry.token;
    // Expiry is checked on every use, cached or not; revocation and a disabled or deleted user invalidate the
    // cache (crate::cache states the bound). A personal token also ends `personal_token_max_lifespan` after its
    // creation, even when made before that setting was shortened.
    let past_personal_max = token.unscoped
        && app.realm(&token.realm).is_some_and(|r| {
            token.created_at + r.config.personal_token_max_lifespan.as_secs() as i64 <= now
        });
    if !token.is_active(now) || past_personal_max || !realms.contains(&token.realm.as_str()) {
        return Err(inactive());
    }
    Ok(entry)
}

/// [`authenticate`] for a token presented as the caller's own credential (admin API, userinfo, introspection)
/// from client address `from` (a `client_ip::rate_key`). A failure writes no row: it is counted in memory and
/// summarised at most once a minute per realm ([`audit::note_failed_token`]). `realm` is the realm of the path.
pub async fn authenticate_presented(
    app: &AppState,
    realm: &str,
    realms: &[&str],
    presented: &str,
    from: &str,
) -> Result<Authenticated> {
    let result = authenticate(app, realms, presented).await;
    if let Err(super::Error::OAuth { .. }) = &result {
        audit::note_failed_token(app, realm, from).await;
    }
    result
}

/// Records a use of an authenticated token: its audit entry (`action`, with `detail`; the token's user is the
/// actor, the token the target), and the token's `last_used_at`. Both are written off the request path, see
/// [`crate::usage`].
pub fn record_use(
    app: &AppState,
    a: &Authenticated,
    action: &'static str,
    detail: Option<&'static str>,
) {
    app.usage.record(Use {
        at: app.now(),
        token: Arc::clone(a),
        action,
        detail,
    });
}

/// The scopes a token carries now: its own for a scoped token; for a personal (unscoped) token, what its user's
/// current roles allow through the realm's `role_scopes` (so a role taken away takes its scopes with it).
pub fn effective_scopes(realm: &Realm, token: &ApiToken, user: &User) -> Vec<String> {
    if token.unscoped {
        super::scope::for_roles(realm, &user.roles)
    } else {
        token.scopes.clone()
    }
}

/// RFC 7662 for an API token: the token (its cached entry, with its user) and its effective scopes (see
/// [`effective_scopes`]), joined, when it is active; `None` when it is not.
pub async fn introspect(
    app: &AppState,
    realm: &Realm,
    presented: &str,
    from: &str,
) -> Result<Option<(Authenticated, String)>> {
    let a = match authenticate_presented(app, &realm.name, &[&realm.name], presented, from).await {
        Ok(a) => a,
        Err(super::Error::OAuth { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    record_use(app, &a, "token.introspect", None);
    let scope = effective_scopes(realm, &a.token, &a.user).join(" ");
    Ok(Some((a, scope)))
}

/// OpenID Connect userinfo for an API token presented as a bearer token.
pub async fn userinfo(
    app: &AppState,
    realm: &Realm,
    presented: &str,
    from: &str,
) -> Result<UserInfo> {
    let a = authenticate_presented(app, &realm.name, &[&realm.name], presented, from).await?;
    record_use(app, &a, "token.use", Some("userinfo"));
    let user = &a.user;
    Ok(UserInfo {
        sub: user.id.clone(),
        preferred_username: user.username.clone(),
        email_verified: user.email.as_ref().map(|_| false),
        email: user.email.clone(),
        name: user.name.clone(),
        realm_access: RealmAccess {
            roles: user.roles.clone(),
        },
        roles: user.roles.clone(),
    })
}

/// `token_info` of seed 002 for a token of `realm`; `{"active": false}` when it is unknown, expired or revoked.
/// Returns the token row too, so the caller can decide whether the asker may see it.
pub async fn info(
    app: &AppState,
    realm: &Realm,
    presented: &str,
) -> Result<(TokenInfo, Option<ApiToken>)> {
    let a = match authenticate(app, &[&realm.name], presented).await {
        Ok(a) => a,
        Err(super::Error::OAuth { .. }) => return Ok((TokenInfo::default(), None)),
        Err(e) => return Err(e),
    };
    let info = TokenInfo {
        active: true,
        customer: Some(
            app.settings
                .customer
                .clone()
                .unwrap_or_else(|| realm.name.clone()),
        ),
        email: a.user.email.clone(),
        realm: Some(realm.name.clone()),
        role: Some(if a.user.roles.iter().any(|r| r == "admin") {
            "admin".into()
        } else {
            "user".into()
        }),
        env: Some(app.settings.environment.clone()),
        token_id: Some(a.token.id.clone()),
        iss: Some(realm.issuer.clone()),
        iat: Some(a.token.created_at),
        exp: Some(a.token.expires_at),
        renewable: Some(false),
        scope: Some(effective_scopes(realm, &a.token, &a.user).join(" ")),
        user_id: Some(a.user.username.clone()),
        username: Some(a.user.username.clone()),
        sub: Some(a.user.id.clone()),
        user_type: Some(
            match a.user.user_type {
                UserType::Machine => "generated",
                UserType::Person => "person",
            }
            .into(),
        ),
        unscoped: Some(a.token.unscoped),
    };
    Ok((info, Some(a.token.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_alphabet_is_the_ascii_letters_and_digits() {
        let alphanumeric: Vec<u8> = (0..=u8::MAX).filter(u8::is_ascii_alphanumeric).collect();
        let mut alphabet = BASE62.to_vec();
        alphabet.sort_unstable();
        assert_eq!(alphabet, alphanumeric);
    }

    #[test]
    fn generated_tokens_are_well_formed_and_distinct() {
        let (a, hash) = generate();
        let a = a.expose().to_owned();
        let (b, _) = generate();
        let b = b.expose().to_owned();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.starts_with("kp_"));
        assert_eq!(hash, sha256_hex(&a));
        assert_eq!(check_format(&a), Ok(()));
        // 43 base62 characters carry at least 256 bits.
        assert!(RANDOM_LEN as f64 * 62f64.log2() >= 256.0);
    }

    #[test]
    fn malformed_tokens_are_rejected_without_a_lookup() {
        let token = generate().0.expose().to_owned();
        let check = |t: &str, want: Malformed| assert_eq!(check_format(t), Err(want), "{t}");
        // One character changed in the random part: the checksum catches it.
        let mut typo = token.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        check(std::str::from_utf8(&typo).unwrap(), Malformed::Checksum);
        // Two neighbours swapped.
        let mut swapped = token.clone().into_bytes();
        let i = (3..TOKEN_LEN - 1)
            .find(|&i| swapped[i] != swapped[i + 1])
            .unwrap();
        swapped.swap(i, i + 1);
        check(std::str::from_utf8(&swapped).unwrap(), Malformed::Checksum);
        check(&token[..TOKEN_LEN - 1], Malformed::Length);
        check(&format!("{token}x"), Malformed::Length);
        check(&token.replacen("kp_", "kq_", 1), Malformed::Prefix);
        check(&format!("kp_{}", "-".repeat(49)), Malformed::Alphabet);
    }
}
