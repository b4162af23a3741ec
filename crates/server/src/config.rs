//! The configuration: one serde struct, read from a TOML file, then `KEYPORT_*` environment variables, then flags
//! (file < env < flags), validated once at start with messages that name the bad key.

use keyport_proto::Secret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Listener, URLs and storage.
    #[serde(default)]
    pub server: ServerConfig,
    /// Realms declared in the file; `master` always exists in addition.
    #[serde(default)]
    pub realms: Vec<RealmConfig>,
}

/// `[server]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// Base of every issuer URL, e.g. `https://auth.example.org`. Default: `http://` + the bound address.
    pub public_url: Option<String>,
    /// PEM file with the TLS certificate chain (server certificate first). Set it together with `tls_key_file`
    /// and the listener speaks HTTPS (HTTP/2 or HTTP/1.1 by ALPN); SIGHUP reloads both files. Unset: plain HTTP.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM file with the private key of `tls_cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
    /// Path prefix for every endpoint, e.g. `/auth` (Keycloak before version 17). Empty for none.
    pub base_path: String,
    /// Directory holding the SQLite database. Created when missing.
    pub data_dir: PathBuf,
    /// Password of the bootstrap `admin` user of realm `master`. When unset and the user does not exist yet, a
    /// random password is generated and printed once.
    pub admin_password: Option<Secret>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Wrong user codes accepted per browser session and per client address (an IPv4 address or an IPv6 /64)
    /// per minute on the device page.
    pub user_code_attempts_per_minute: u32,
    /// User codes checked per realm per minute on the device page, whoever sends them: the ceiling that keeps
    /// RFC 8628 §5.1's odds however many addresses an attacker has. Over it, the page answers 429.
    pub user_code_guesses_per_minute: u32,
    /// A pending user code dies once this many wrong codes were entered in its realm while it was valid (each
    /// wrong code is a guess against every pending one): the chance a code is ever guessed is at most this
    /// number divided by the 20⁸ possible codes, whatever the rate and the code's lifetime.
    pub user_code_max_wrong_guesses: u32,
    /// Proxies (CIDRs such as `10.0.0.0/8`, or single addresses) whose `Forwarded` / `X-Forwarded-For` headers
    /// are believed. Empty (default): the socket address is the client. List your load balancers here, and
    /// only them: a trusted proxy's word decides which address a request is counted under, and their
    /// `X-Request-Id` is kept (from any other peer it is replaced by a new id).
    pub trusted_proxies: Vec<String>,
    /// A file holding the key-encryption key (32 random bytes, base64: `openssl rand -base64 32`). When set
    /// (or `KEYPORT_KEY_ENCRYPTION_KEY` is), signing keys are stored sealed with AES-256-GCM; `keyport
    /// encrypt-keys` seals the keys of an existing store. Keep it outside the data directory and its backups.
    pub key_encryption_key_file: Option<PathBuf>,
    /// The key-encryption key itself, from `KEYPORT_KEY_ENCRYPTION_KEY` only (never from the file).
    #[serde(skip)]
    pub key_encryption_key: Option<Secret>,
    /// Make new signing keys this often, e.g. `"90d"` (at least a day). The previous key stays published
    /// (tokens it signed verify) until those tokens have expired, then it is deleted. Unset: only `keyport
    /// rotate-keys` rotates.
    #[serde(with = "humantime_option")]
    pub key_rotation: Option<Duration>,
    /// `postgres://…` selects PostgreSQL (several replicas may share it); unset means embedded SQLite in
    /// `data_dir`.
    pub database_url: Option<String>,
    /// Connections per replica in the PostgreSQL pool.
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before it is answered 503, e.g. `"5s"`.
    #[serde(with = "humantime_serde")]
    pub database_acquire_timeout: Duration,
    /// Device-code polls this replica works on at once. A poll over it is answered `slow_down` at once, before its
    /// device code is read (RFC 8628 §3.5: the device adds 5 s to its interval), so that under more polls than the
    /// machine can serve the devices back off instead of queueing until the pool's acquire timeout answers 503.
    /// Larger lets longer queues form under overload; smaller sheds polls during short stalls (a checkpoint) of a
    /// database that keeps up (BENCHMARKS.md, fifth pass: 128 shed up to 3.7% of a load SQLite served in full;
    /// 512 shed none there and still held PostgreSQL's p99 under overload to ~0.3 s, against 13-17 s without).
    pub device_polls_in_flight: u32,
    /// PostgreSQL `statement_timeout` for every statement, e.g. `"10s"`.
    #[serde(with = "humantime_serde")]
    pub database_statement_timeout: Duration,
    /// How long audit-log entries are kept, e.g. `"90d"`.
    #[serde(with = "humantime_serde")]
    pub audit_retention: Duration,
    /// The `env` field of `token_info` (e.g. `prod`, `staging`).
    pub environment: String,
    /// The `customer` field of `token_info`; default: the realm's name.
    pub customer: Option<String>,
    /// How long a stopping server (SIGTERM, Ctrl-C) lets in-flight requests finish before it closes their
    /// connections, e.g. `"30s"`. New connections are refused from the signal on.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// A separate address for the Prometheus `GET /metrics`, e.g. `"127.0.0.1:9090"`. Unset: `{base_path}/metrics`
    /// on the main listener.
    pub metrics_listen: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            tls_cert_file: None,
            tls_key_file: None,
            base_path: String::new(),
            data_dir: PathBuf::from("./keyport-data"),
            admin_password: None,
            max_body_bytes: 64 * 1024,
            user_code_attempts_per_minute: 5,
            user_code_guesses_per_minute: 120,
            user_code_max_wrong_guesses: 300,
            trusted_proxies: Vec::new(),
            key_encryption_key_file: None,
            key_encryption_key: None,
            key_rotation: None,
            database_url: None,
            database_max_connections: 16,
            database_acquire_timeout: Duration::from_secs(5),
            database_statement_timeout: Duration::from_secs(10),
            device_polls_in_flight: 512,
            audit_retention: Duration::from_secs(90 * 86400),
            environment: "prod".into(),
            customer: None,
            shutdown_timeout: Duration::from_secs(30),
            metrics_listen: None,
        }
    }
}

/// `[[realms]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealmConfig {
    /// The realm's name, the `{realm}` in every URL.
    pub name: String,
    /// Lifetime of access tokens, e.g. `"5m"`.
    #[serde(default = "defaults::access_token_lifetime", with = "humantime_serde")]
    pub access_token_lifetime: Duration,
    /// Lifetime of refresh tokens (sliding: each refresh starts it again), e.g. `"30d"`.
    #[serde(default = "defaults::refresh_token_lifetime", with = "humantime_serde")]
    pub refresh_token_lifetime: Duration,
    /// How long a device code may be used, e.g. `"10m"`.
    #[serde(default = "defaults::device_code_lifetime", with = "humantime_serde")]
    pub device_code_lifetime: Duration,
    /// The polling interval the device endpoint asks for, e.g. `"5s"`.
    #[serde(default = "defaults::device_poll_interval", with = "humantime_serde")]
    pub device_poll_interval: Duration,
    /// Signing algorithm of access tokens: `ES256` (default), `RS256` or `EdDSA`.
    #[serde(default)]
    pub access_token_algorithm: SigningAlg,
    /// Signing algorithm of ID tokens: `RS256` (default: the one every OpenID Connect client must accept),
    /// `ES256` or `EdDSA`. An RS256 signature costs ~16× an ES256 one, so a realm whose clients all accept
    /// ES256 refreshes several times faster with it.
    #[serde(default = "defaults::id_token_algorithm")]
    pub id_token_algorithm: SigningAlg,
    /// Scopes granted when a request names none.
    #[serde(default = "defaults::default_scopes")]
    pub default_scopes: Vec<String>,
    /// Further scopes clients may ask for, besides `openid profile email offline_access roles`.
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
    /// The scopes API tokens may carry (name and description). Default: the ten scopes of seed 002
    /// (`create_session`, `start_session`, …, `revoke_user_token`).
    #[serde(default = "defaults::api_token_scopes")]
    pub api_token_scopes: Vec<ApiScope>,
    /// Lifespan of a scoped API token when the request names none, e.g. `"30d"`.
    #[serde(default = "defaults::api_token_lifespan", with = "humantime_serde")]
    pub api_token_default_lifespan: Duration,
    /// The longest lifespan an API token may be given, e.g. `"30d"`.
    #[serde(default = "defaults::api_token_lifespan", with = "humantime_serde")]
    pub api_token_max_lifespan: Duration,
    /// Domain of machine users' generated emails; default `<realm>.keyport`.
    #[serde(default)]
    pub machine_user_email_domain: Option<String>,
    /// Whether the sign-in page offers local username and password (and the password grant is allowed). Turn
    /// off to sign people in only through `identity_providers`.
    #[serde(default = "defaults::yes")]
    pub local_passwords: bool,
    /// Upstream OpenID Connect providers offered as "Sign in with …" on the sign-in page.
    #[serde(default)]
    pub identity_providers: Vec<IdentityProviderConfig>,
    /// Password guessing bounds per account (Keycloak's brute-force detection), for the sign-in page and the
    /// password grant alike.
    #[serde(default)]
    pub brute_force: BruteForceConfig,
    /// The longest lifespan a personal (unscoped) API token may have, e.g. `"90d"`; checked again at every use.
    #[serde(
        default = "defaults::personal_token_max_lifespan",
        with = "humantime_serde"
    )]
    pub personal_token_max_lifespan: Duration,
    /// Which scopes each realm role lets its holders have: a personal API token carries, at each use, the union
    /// over its user's roles; a scoped token may list only scopes its creator has. `"*"` is every scope of
    /// `api_token_scopes` plus `admin` and `create_token`. Default: `{ admin = ["*"] }`.
    #[serde(default = "defaults::role_scopes")]
    pub role_scopes: std::collections::BTreeMap<String, Vec<String>>,
    /// A login session ends when not refreshed for this long (Keycloak's "SSO Session Idle"), e.g. `"30d"`.
    /// Refresh and access tokens never outlive it.
    #[serde(default = "defaults::session_idle_timeout", with = "humantime_serde")]
    pub session_idle_timeout: Duration,
    /// A login session ends this long after sign-in, refreshed or not (Keycloak's "SSO Session Max"), e.g.
    /// `"90d"`. Refresh and access tokens never outlive it.
    #[serde(default = "defaults::session_max_lifetime", with = "humantime_serde")]
    pub session_max_lifetime: Duration,
    /// Requests per minute the token and device authorization endpoints accept per client address and per
    /// client (`[realms.rate_limits]`, docs/security.md).
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
}

/// `[realms.brute_force]`: after `failure_factor` wrong passwords in a row an account is locked for
/// `wait_increment`, one increment more for each further failure, at most `max_wait`; `permanent_lockout`
/// disables the account instead. Failures older than `failure_reset` are forgotten; a correct password resets.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BruteForceConfig {
    pub failure_factor: u32,
    #[serde(with = "humantime_serde")]
    pub wait_increment: Duration,
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    #[serde(with = "humantime_serde")]
    pub failure_reset: Duration,
    pub permanent_lockout: bool,
    /// Password attempts (right or wrong) accepted per client address per minute, over all accounts.
    pub attempts_per_address_per_minute: u32,
}

impl Default for BruteForceConfig {
    fn default() -> Self {
        BruteForceConfig {
            failure_factor: 10,
            wait_increment: Duration::from_secs(60),
            max_wait: Duration::from_secs(15 * 60),
            failure_reset: Duration::from_secs(12 * 3600),
            permanent_lockout: false,
            attempts_per_address_per_minute: 30,
        }
    }
}

/// `[[realms.identity_providers]]`: an upstream OpenID Connect provider people may sign in with. Register
/// `{public_url}{base_path}/realms/{realm}/broker/{alias}/endpoint` as the redirect URI at the provider (Keycloak's
/// path, so a registration made for Keycloak carries over).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityProviderConfig {
    /// Path segment of the redirect URI; letters, digits, `-` and `_`.
    pub alias: String,
    /// The button reads "Sign in with {display_name}". Default: the alias.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The provider's issuer; discovery is read from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// keyport's client id at the provider.
    pub client_id: String,
    /// The client secret (prefer `client_secret_env` or `client_secret_file`); none for a public client.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub client_secret_env: Option<String>,
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes asked of the provider.
    #[serde(default = "defaults::idp_scopes")]
    pub scopes: Vec<String>,
    /// The ID-token claim that names the new account; fallbacks `email`, then `sub`.
    #[serde(default = "defaults::idp_username_claim")]
    pub username_claim: String,
    /// Realm roles given to accounts created through this provider.
    #[serde(default)]
    pub default_roles: Vec<String>,
}

/// One scope of the API-token catalogue.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiScope {
    pub name: String,
    #[serde(default)]
    pub description: String,
}

impl RealmConfig {
    pub fn named(name: &str) -> Self {
        RealmConfig {
            name: name.to_owned(),
            access_token_lifetime: defaults::access_token_lifetime(),
            refresh_token_lifetime: defaults::refresh_token_lifetime(),
            device_code_lifetime: defaults::device_code_lifetime(),
            device_poll_interval: defaults::device_poll_interval(),
            access_token_algorithm: SigningAlg::default(),
            id_token_algorithm: defaults::id_token_algorithm(),
            default_scopes: defaults::default_scopes(),
            scopes: Vec::new(),
            clients: Vec::new(),
            users: Vec::new(),
            api_token_scopes: defaults::api_token_scopes(),
            api_token_default_lifespan: defaults::api_token_lifespan(),
            api_token_max_lifespan: defaults::api_token_lifespan(),
            machine_user_email_domain: None,
            local_passwords: true,
            identity_providers: Vec::new(),
            brute_force: BruteForceConfig::default(),
            personal_token_max_lifespan: defaults::personal_token_max_lifespan(),
            role_scopes: defaults::role_scopes(),
            session_idle_timeout: defaults::session_idle_timeout(),
            session_max_lifetime: defaults::session_max_lifetime(),
            rate_limits: RateLimitConfig::default(),
        }
    }
}

/// `[[realms.clients]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    pub client_id: String,
    /// A public client has no secret (CLIs, notebooks, browsers).
    #[serde(default)]
    pub public: bool,
    /// The secret of a confidential client. Prefer `secret_file` or `secret_env`; only its hash is stored.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A file whose content (trimmed) is the secret.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// An environment variable holding the secret.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Grants the client may use: `device_code`, `refresh_token`, `client_credentials`, `password`.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// Realm roles of the client's service account (client credentials).
    #[serde(default)]
    pub roles: Vec<String>,
    /// `strict` (default): each refresh returns a new refresh token and a replayed one ends the login;
    /// `off` (Keycloak's default): refresh tokens stay valid until the session ends or they expire.
    #[serde(default)]
    pub refresh_token_rotation: Rotation,
    /// Overrides the realm's access-token algorithm for this client.
    #[serde(default)]
    pub access_token_algorithm: Option<SigningAlg>,
    /// Overrides the realm's ID-token algorithm for this client (Keycloak's per-client "ID Token Signature
    /// Algorithm"; OpenID Connect's `id_token_signed_response_alg`).
    #[serde(default)]
    pub id_token_algorithm: Option<SigningAlg>,
    /// Where the authorization endpoint may send the browser back (grant `authorization_code`). Exact match,
    /// except that a loopback URI (`http://127.0.0.1/…`, `http://[::1]/…`, `http://localhost/…`) matches any
    /// port (RFC 8252 §7.3).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A third-party client: the user is shown the scopes it asks for and must allow them (the answer is
    /// remembered until revoked). First-party clients (`false`, the default) skip the consent page.
    #[serde(default)]
    pub consent: bool,
    /// Lets a public client use the password grant (RFC 9700 §2.4 says not to: anyone can claim to be a public
    /// client, so its password attempts are bounded only per account and address). Off by default.
    #[serde(default)]
    pub allow_public_password_grant: bool,
    /// The realm scopes this client may ask for besides OpenID's standard ones (`openid profile email
    /// offline_access roles`); asking for another is `invalid_scope`. `admin` (the admin API) only when listed.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Audiences of this client's access tokens, besides `account`; also the only values its requests may name
    /// as RFC 8707 `resource` (then the token is for the named ones only).
    #[serde(default)]
    pub audiences: Vec<String>,
}

/// `[[realms.users]]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub username: String,
    /// Plain password (only its argon2id hash is stored). Prefer `password_env`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// An environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    #[default]
    ES256,
    RS256,
    EdDSA,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::ES256 => "ES256",
            SigningAlg::RS256 => "RS256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ES256" => Some(SigningAlg::ES256),
            "RS256" => Some(SigningAlg::RS256),
            "EdDSA" => Some(SigningAlg::EdDSA),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    DeviceCode,
    RefreshToken,
    ClientCredentials,
    Password,
    AuthorizationCode,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::DeviceCode => "device_code",
            Grant::RefreshToken => "refresh_token",
            Grant::ClientCredentials => "client_credentials",
            Grant::Password => "password",
            Grant::AuthorizationCode => "authorization_code",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rotation {
    #[default]
    Strict,
    Off,
}

impl Rotation {
    pub fn as_str(self) -> &'static str {
        match self {
            Rotation::Strict => "strict",
            Rotation::Off => "off",
        }
    }
}

mod defaults;
mod limits;
mod policy;

pub use limits::RateLimitConfig;

use policy::validate_policy;
pub use policy::{ADMIN_SCOPE, CREATE_TOKEN_SCOPE, STANDARD_SCOPES};

mod durations;
use durations::{humantime_option, humantime_serde};

/// Settings given on the command line; they override the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub base_path: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    /// Parses a TOML document.
    pub fn from_toml(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string(),
        })
    }

    /// Loads the configuration: the file (if any), then `KEYPORT_*` variables from `env`, then `overrides`.
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
        overrides: Overrides,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Config::from_toml(&text, path)?
            }
            None => Config::default(),
        };
        let s = &mut config.server;
        if let Some(v) = env("KEYPORT_LISTEN") {
            s.listen = v;
        }
        if let Some(v) = env("KEYPORT_PUBLIC_URL") {
            s.public_url = Some(v);
        }
        if let Some(v) = env("KEYPORT_BASE_PATH") {
            s.base_path = v;
        }
        if let Some(v) = env("KEYPORT_DATA_DIR") {
            s.data_dir = v.into();
        }
        if let Some(v) = env("KEYPORT_ADMIN_PASSWORD") {
            s.admin_password = Some(v.into());
        }
        if let Some(v) = env("KEYPORT_DATABASE_URL") {
            s.database_url = Some(v);
        }
        if let Some(v) = env("KEYPORT_KEY_ENCRYPTION_KEY").filter(|v| !v.is_empty()) {
            s.key_encryption_key = Some(v.into());
        }
        if let Some(v) = overrides.listen {
            s.listen = v;
        }
        if let Some(v) = overrides.public_url {
            s.public_url = Some(v);
        }
        if let Some(v) = overrides.base_path {
            s.base_path = v;
        }
        if let Some(v) = overrides.data_dir {
            s.data_dir = v;
        }
        if let Some(v) = overrides.database_url {
            s.database_url = Some(v);
        }
        config.validate()?;
        Ok(config)
    }
}

mod validate;
pub use validate::check_name;

#[cfg(test)]
mod tests;
