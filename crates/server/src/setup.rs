//! Start-up: applying the declarative configuration to the store (idempotently, at every start), the bootstrap
//! realm `master` with its `keyport-cli` client and `admin` user, and the signing keys.

use crate::config::{ClientConfig, Config, Grant, RealmConfig, Rotation, UserConfig};
use crate::crypto::{hash_password, random_id, random_token, sha256_hex, verify_password};
use crate::keys::{self, KeySet};
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
            });
        }
    }
    realms
}

/// The secret of a confidential client, from its value, file or environment variable.
pub fn client_secret(realm: &str, c: &ClientConfig) -> Result<Option<String>, SetupError> {
    let key = format!("realms.{realm}.clients.{}", c.client_id);
    let secret = if let Some(s) = &c.secret {
        Some(s.clone())
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
        (Some(p), _) => Ok(Some(p.clone())),
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
            Some(p) => Some(p.clone()),
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

/// Loads the signing keys, generating any algorithm that has none yet.
pub async fn keys(store: &dyn Store, now: i64) -> Result<KeySet, SetupError> {
    let mut stored = store.signing_keys().await?;
    for alg in KeySet::REQUIRED {
        if !stored.iter().any(|k| k.alg == alg) {
            let key = tokio::task::spawn_blocking(move || keys::generate(alg, now))
                .await
                .map_err(|e| StoreError::Database(format!("key generation failed: {e}")))?;
            store.insert_signing_key(&key).await?;
        }
    }
    // Read back: replicas starting together on an empty database see each other's keys.
    stored = store.signing_keys().await?;
    Ok(KeySet::new(&stored)?)
}

/// How many keys of each algorithm are kept after a rotation: the new one and its predecessor, so tokens signed
/// before the rotation verify until the next one (rotate less often than the longest token lifetime).
pub const KEYS_KEPT_PER_ALGORITHM: usize = 2;

/// Makes a new key of every algorithm (it signs from now on) and retires all but the newest
/// [`KEYS_KEPT_PER_ALGORITHM`]. Other replicas verify with the new key at once (on its unknown `kid`) and sign with
/// it after their next periodic reload.
pub async fn rotate_keys(store: &dyn Store, now: i64) -> Result<(), SetupError> {
    let stored = store.signing_keys().await?;
    for alg in KeySet::REQUIRED {
        let mut of_alg: Vec<_> = stored.iter().filter(|k| k.alg == alg).collect();
        let newest = of_alg.iter().map(|k| k.created_at).max().unwrap_or(0);
        let created_at = now.max(newest + 1);
        let key = tokio::task::spawn_blocking(move || keys::generate(alg, created_at))
            .await
            .map_err(|e| StoreError::Database(format!("key generation failed: {e}")))?;
        store.insert_signing_key(&key).await?;
        of_alg.sort_by_key(|k| std::cmp::Reverse(k.created_at));
        for old in of_alg.iter().skip(KEYS_KEPT_PER_ALGORITHM - 1) {
            store.delete_signing_key(&old.kid).await?;
        }
    }
    Ok(())
}
