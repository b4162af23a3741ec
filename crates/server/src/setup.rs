//! Start-up: applying the declarative configuration to the store (idempotently, at every start), the bootstrap
//! realm `master` with its `keyport-cli` client and `admin` user, and the signing keys.

use crate::config::{ClientConfig, Config, Grant, RealmConfig, Rotation, SigningAlg, UserConfig};
use crate::crypto::{hash_password, random_id, random_token, sha256_hex, verify_password};
use crate::key_encryption::{Kek, is_sealed, open_all};
use crate::keys::{self, KeySet, StoredKey};
use crate::state::AppState;
use crate::store::{Client, ClientBrowser, Store, StoreError, User, UserType};

pub const MASTER: &str = "master";
pub const CLI_CLIENT: &str = "keyport-cli";
pub const ADMIN_USER: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: {message}")]
    Secret { key: String, message: String },
    #[error(transparent)]
    Keys(#[from] keys::KeyError),
}

/// What start-up has to tell the operator.
#[derive(Default)]
pub struct Report {
    /// The generated password of the bootstrap admin, when it was just created without one configured.
    pub generated_admin_password: Option<String>,
}

/// The realms to serve: the configured ones plus `master`, which always holds `keyport-cli` and `admin`.
pub fn realms_with_master(config: &Config) -> Vec<RealmConfig> {
    let mut realms = config.realms.clone();
    if !realms.iter().any(|r| r.name == MASTER) {
        realms.insert(0, RealmConfig::named(MASTER));
    }
    for realm in realms.iter_mut().filter(|r| r.name == MASTER) {
        if !realm.clients.iter().any(|c| c.client_id == CLI_CLIENT) {
            realm.clients.push(ClientConfig {
                client_id: CLI_CLIENT.into(),
                public: true,
                secret: None,
                secret_file: None,
                secret_env: None,
                grants: vec![
                    Grant::DeviceCode,
                    Grant::RefreshToken,
                    Grant::AuthorizationCode,
                ],
                roles: vec![],
                refresh_token_rotation: Rotation::Strict,
                access_token_algorithm: None,
                id_token_algorithm: None,
                // `keyport login --web`: a loopback redirect on any port (RFC 8252 §7.3).
                redirect_uris: vec!["http://127.0.0.1/callback".into()],
                post_logout_redirect_uris: vec![],
                consent: false,
                allow_public_password_grant: false,
                // The bootstrap CLI is the administrator's tool: it may ask for the admin API.
                scopes: vec![crate::config::ADMIN_SCOPE.into()],
                audiences: vec![],
            });
        }
    }
    realms
}

/// The secret of a confidential client, from its value, file or environment variable.
pub fn client_secret(realm: &str, c: &ClientConfig) -> Result<Option<String>, SetupError> {
    let key = format!("realms.{realm}.clients.{}", c.client_id);
    let secret = if let Some(s) = &c.secret {
        Some(s.expose().to_owned())
    } else if let Some(path) = &c.secret_file {
        let text = std::fs::read_to_string(path).map_err(|e| SetupError::Secret {
            key: format!("{key}.secret_file"),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        Some(text.trim().to_owned())
    } else if let Some(var) = &c.secret_env {
        Some(std::env::var(var).map_err(|_| SetupError::Secret {
            key: format!("{key}.secret_env"),
            message: format!("environment variable {var} is not set"),
        })?)
    } else {
        None
    };
    if let Some(s) = &secret {
        if s.is_empty() {
            return Err(SetupError::Secret {
                key,
                message: "the client secret is empty".into(),
            });
        }
        if s.len() < 32 {
            tracing::warn!(client_id = %c.client_id, realm, "client secret is shorter than 32 characters; use a long random secret");
        }
    }
    Ok(secret)
}

fn user_password(realm: &str, u: &UserConfig) -> Result<Option<String>, SetupError> {
    match (&u.password, &u.password_env) {
        (Some(p), _) => Ok(Some(p.expose().to_owned())),
        (None, Some(var)) => std::env::var(var)
            .map(Some)
            .map_err(|_| SetupError::Secret {
                key: format!("realms.{realm}.users.{}.password_env", u.username),
                message: format!("environment variable {var} is not set"),
            }),
        (None, None) => Ok(None),
    }
}

/// Hashes `password` unless the stored hash already matches it (so restarts keep the stored hash).
async fn password_hash(existing: Option<&User>, password: Option<String>) -> Option<String> {
    let password = password?;
    let stored = existing.and_then(|u| u.password_hash.clone());
    tokio::task::spawn_blocking(move || match stored {
        Some(phc) if verify_password(&password, &phc) => phc,
        _ => hash_password(&password),
    })
    .await
    .ok()
}

async fn apply_user(
    store: &dyn Store,
    realm: &str,
    u: &UserConfig,
    password: Option<String>,
    now: i64,
) -> Result<User, SetupError> {
    let existing = store.user_by_username(realm, &u.username).await?;
    let password_hash = password_hash(existing.as_ref(), password).await;
    let user = User {
        id: existing
            .as_ref()
            .map(|e| e.id.clone())
            .unwrap_or_else(random_id),
        realm: realm.to_owned(),
        username: u.username.clone(),
        email: u.email.clone(),
        name: u.name.clone(),
        password_hash,
        roles: u.roles.clone(),
        user_type: UserType::Person,
        enabled: true,
        created_at: existing.map(|e| e.created_at).unwrap_or(now),
    };
    Ok(store.upsert_user(&user).await?)
}

/// Applies clients and users of every realm, and the bootstrap admin.
pub async fn apply(
    store: &dyn Store,
    config: &Config,
    realms: &[RealmConfig],
    now: i64,
) -> Result<Report, SetupError> {
    let mut report = Report::default();
    for realm in realms {
        for c in &realm.clients {
            let secret = client_secret(&realm.name, c)?;
            store
                .upsert_client(&Client {
                    realm: realm.name.clone(),
                    client_id: c.client_id.clone(),
                    secret_hash: secret.as_deref().map(sha256_hex),
                    public: c.public,
                    grants: c.grants.clone(),
                    roles: c.roles.clone(),
                    rotation: c.refresh_token_rotation,
                    access_token_alg: c.access_token_algorithm,
                    id_token_alg: c.id_token_algorithm,
                    browser: ClientBrowser {
                        redirect_uris: c.redirect_uris.clone(),
                        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
                        consent: c.consent,
                    },
                    scopes: c.scopes.clone(),
                    audiences: c.audiences.clone(),
                })
                .await?;
        }
        for u in &realm.users {
            let password = user_password(&realm.name, u)?;
            apply_user(store, &realm.name, u, password, now).await?;
        }
    }
    let declared_admin = realms
        .iter()
        .any(|r| r.name == MASTER && r.users.iter().any(|u| u.username == ADMIN_USER));
    if !declared_admin {
        let exists = store.user_by_username(MASTER, ADMIN_USER).await?.is_some();
        let password = match &config.server.admin_password {
            Some(p) => Some(p.expose().to_owned()),
            None if !exists => {
                let generated = random_token(15);
                report.generated_admin_password = Some(generated.clone());
                Some(generated)
            }
            None => None,
        };
        let admin = UserConfig {
            username: ADMIN_USER.into(),
            password: None,
            password_env: None,
            email: None,
            name: Some("Administrator".into()),
            roles: vec!["admin".into()],
        };
        apply_user(store, MASTER, &admin, password, now).await?;
    }
    Ok(report)
}

/// Loads the signing keys, generating any algorithm that has none yet (sealed when a key-encryption key is
/// configured).
pub async fn keys(store: &dyn Store, now: i64, kek: Option<&Kek>) -> Result<KeySet, SetupError> {
    let mut stored = store.signing_keys().await?;
    for alg in KeySet::REQUIRED {
        if !stored.iter().any(|k| k.alg == alg) {
            let key = generate(alg, now).await?;
            store.insert_signing_key(&seal(kek, key)).await?;
        }
    }
    // Read back: replicas starting together on an empty database see each other's keys.
    stored = store.signing_keys().await?;
    if kek.is_some() {
        let clear = stored.iter().filter(|k| !is_sealed(k)).count();
        if clear > 0 {
            tracing::warn!(
                keys = clear,
                "signing keys are stored in clear although a key-encryption key is set: run `keyport encrypt-keys`"
            );
        }
    }
    Ok(KeySet::new(&open_all(kek, &stored)?)?)
}

async fn generate(alg: SigningAlg, created_at: i64) -> Result<StoredKey, SetupError> {
    Ok(
        tokio::task::spawn_blocking(move || keys::generate(alg, created_at))
            .await
            .map_err(|e| StoreError::Database(format!("key generation failed: {e}")))?,
    )
}

fn seal(kek: Option<&Kek>, key: StoredKey) -> StoredKey {
    match kek {
        Some(kek) => kek.seal(&key),
        None => key,
    }
}

/// How long a key that no longer signs stays published: until every token it signed has expired. That is the
/// longest access- or ID-token lifetime of any realm (both share `access_token_lifetime`), plus
/// [`crate::server::KEY_RELOAD_INTERVAL`], during which other replicas may still sign with it.
pub fn key_overlap(realms: &[RealmConfig]) -> i64 {
    let longest = realms
        .iter()
        .map(|r| r.access_token_lifetime.as_secs())
        .max()
        .unwrap_or(0);
    (longest + crate::server::KEY_RELOAD_INTERVAL.as_secs()) as i64
}

/// The keys to delete: every key whose successor (the next newer key of its algorithm) has signed for at least
/// `overlap` seconds, so no live token names it any more.
fn retired(stored: &[StoredKey], now: i64, overlap: i64) -> Vec<String> {
    let mut out = Vec::new();
    for alg in KeySet::REQUIRED {
        let mut of_alg: Vec<&StoredKey> = stored.iter().filter(|k| k.alg == alg).collect();
        of_alg.sort_by_key(|k| std::cmp::Reverse((k.created_at, k.kid.clone())));
        for pair in of_alg.windows(2) {
            if pair[0].created_at + overlap <= now {
                out.push(pair[1].kid.clone());
            }
        }
    }
    out
}

/// One rotation step in one transaction: a new key for each algorithm in `renew` (it signs from now on), and
/// the deletion of the keys [`retired`] by then. Other replicas verify with a new key at once (on its unknown
/// `kid`) and sign with it after their next periodic reload.
async fn rotate(
    store: &dyn Store,
    now: i64,
    kek: Option<&Kek>,
    overlap: i64,
    renew: &[SigningAlg],
) -> Result<bool, SetupError> {
    let stored = store.signing_keys().await?;
    let mut add = Vec::new();
    for alg in renew {
        let newest = stored
            .iter()
            .filter(|k| k.alg == *alg)
            .map(|k| k.created_at)
            .max()
            .unwrap_or(0);
        add.push(seal(kek, generate(*alg, now.max(newest + 1)).await?));
    }
    let mut all = stored.clone();
    all.extend(add.iter().cloned());
    let remove = retired(&all, now, overlap);
    if add.is_empty() && remove.is_empty() {
        return Ok(false);
    }
    store.change_signing_keys(&add, &[], &remove).await?;
    Ok(true)
}

/// `keyport rotate-keys`: a new key of every algorithm, and the keys whose tokens have all expired deleted, in
/// one transaction. The key it replaces stays published for `overlap` seconds ([`key_overlap`]).
pub async fn rotate_keys(
    store: &dyn Store,
    now: i64,
    kek: Option<&Kek>,
    overlap: i64,
) -> Result<(), SetupError> {
    rotate(store, now, kek, overlap, &KeySet::REQUIRED).await?;
    Ok(())
}

/// The scheduled rotation, run every minute by each replica: a new key of each algorithm whose newest key is
/// older than `server.key_rotation`, and old keys deleted once their tokens have expired. Reloads this
/// replica's keys when anything changed. True when something changed.
pub async fn scheduled_rotation(state: &AppState) -> Result<bool, SetupError> {
    let now = state.now();
    let stored = state.store.signing_keys().await?;
    let renew: Vec<SigningAlg> = match state.settings.key_rotation {
        Some(every) => KeySet::REQUIRED
            .into_iter()
            .filter(|alg| {
                let newest = stored
                    .iter()
                    .filter(|k| k.alg == *alg)
                    .map(|k| k.created_at)
                    .max();
                newest.is_none_or(|t| t + every.as_secs() as i64 <= now)
            })
            .collect(),
        None => Vec::new(),
    };
    let overlap = key_overlap(
        &state
            .realms
            .values()
            .map(|r| r.config.clone())
            .collect::<Vec<_>>(),
    );
    let changed = rotate(state.store.as_ref(), now, state.keys.kek(), overlap, &renew).await?;
    if changed {
        tracing::info!(renewed = renew.len(), "signing keys rotated on schedule");
        state.keys.reload(state.store.as_ref()).await?;
    }
    Ok(changed)
}

/// `keyport encrypt-keys`: seals every key stored in clear with `kek`, in one transaction. Returns how many.
pub async fn encrypt_keys(store: &dyn Store, kek: &Kek) -> Result<usize, SetupError> {
    let stored = store.signing_keys().await?;
    // Refuse to seal what does not load: a corrupt key stays visible as one.
    open_all(Some(kek), &stored)?;
    let sealed: Vec<StoredKey> = stored
        .iter()
        .filter(|k| !is_sealed(k))
        .map(|k| kek.seal(k))
        .collect();
    if !sealed.is_empty() {
        store.change_signing_keys(&[], &sealed, &[]).await?;
    }
    Ok(sealed.len())
}
