//! Where the server is and who the SDK is: from code, a TOML file, environment variables and `.env`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};
use crate::files;

/// Client configuration.
///
/// Either `issuer` (any OpenID Connect issuer URL, e.g. `https://tenant.eu.auth0.com/`) or `server_url` plus
/// `realm` (Keycloak and keyport: the issuer is `{server_url}/realms/{realm}`; include Keycloak's `/auth` base path
/// in `server_url` when the server has one) says where to authenticate. Everything else has a default.
///
/// | field | environment variable | default |
/// |---|---|---|
/// | `server_url` | `KEYPORT_SERVER_URL` | none |
/// | `realm` | `KEYPORT_REALM` | `master` |
/// | `issuer` | `KEYPORT_ISSUER` | `{server_url}/realms/{realm}` |
/// | `client_id` | `KEYPORT_CLIENT_ID` | `keyport-cli` |
/// | `scope` | `KEYPORT_SCOPE` | `openid profile email` |
/// | `audience` | `KEYPORT_AUDIENCE` | none (Auth0 needs one) |
/// | `timeout_seconds` | `KEYPORT_TIMEOUT` | `30` (per HTTP request) |
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Base URL of a Keycloak-style server, e.g. `https://auth.example.org` or `https://host/auth`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    /// The realm on a Keycloak-style server.
    pub realm: String,
    /// A plain OpenID Connect issuer URL; wins over `server_url` + `realm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The OAuth client id this program uses.
    pub client_id: String,
    /// Space-separated scopes asked for at login.
    pub scope: String,
    /// The `audience` parameter some servers (Auth0) require at login.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// Timeout of every HTTP request, in seconds.
    pub timeout_seconds: u64,
    /// Accept a plain-`http` issuer that is not on this machine (a test network). Off by default: credentials go
    /// only to `https` issuers, or to `http` on `localhost`/`127.0.0.1`/`::1`. There is no environment variable
    /// for it, so a stray `.env` cannot turn it on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_url: None,
            realm: "master".to_owned(),
            issuer: None,
            client_id: "keyport-cli".to_owned(),
            scope: "openid profile email".to_owned(),
            audience: None,
            timeout_seconds: 30,
            allow_insecure_http: false,
        }
    }
}

impl Config {
    /// A Keycloak-style server: issuer `{server_url}/realms/{realm}`.
    pub fn new(
        server_url: impl Into<String>,
        realm: impl Into<String>,
        client_id: impl Into<String>,
    ) -> Self {
        Config {
            server_url: Some(server_url.into()),
            realm: realm.into(),
            client_id: client_id.into(),
            ..Config::default()
        }
    }

    /// Any OpenID Connect server, named by its issuer URL.
    pub fn for_issuer(issuer: impl Into<String>, client_id: impl Into<String>) -> Self {
        Config {
            issuer: Some(issuer.into()),
            client_id: client_id.into(),
            ..Config::default()
        }
    }

    /// Replaces the client id.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Replaces the scopes asked for at login.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Sets the `audience` login parameter.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Sets the HTTP request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout_seconds = timeout.as_secs().max(1);
        self
    }

    /// Accepts a plain-`http` issuer that is not a loopback address (tests on a private network only).
    pub fn with_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// Reads a TOML file holding the fields of [`Config`] (all optional).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        toml::from_str(&text).map_err(|e| Error::BadFile {
            path: path.into(),
            kind: "config",
            message: e.to_string(),
        })
    }

    /// The defaults overridden by `KEYPORT_*` environment variables (a `.env` file is not read; see [`Config::load`]).
    pub fn from_env() -> Result<Self> {
        Config::default().merge_env(|k| std::env::var(k).ok())
    }

    /// The usual way to configure a program, lowest precedence first: defaults, the active profile of
    /// `~/.keyport/config.toml` (written by `keyport login`), the file named by `KEYPORT_CLIENT_CONFIG`, a `.env`
    /// file in the current directory (never a parent directory: a `.env` planted above a project must not choose
    /// the server that receives the user's credentials), and `KEYPORT_*` environment variables.
    ///
    /// So a script never holds a secret or a URL: `keyport login` once, or a `.env` next to it.
    pub fn load() -> Result<Self> {
        load_dotenv_here();
        let mut config = Config::default();
        let profile = files::current_profile();
        if let Some(p) = Profiles::load(&Profiles::default_path()?)?
            .profiles
            .remove(&profile)
        {
            config = p;
        }
        if let Some(path) = std::env::var_os("KEYPORT_CLIENT_CONFIG").filter(|p| !p.is_empty()) {
            config = Config::from_file(PathBuf::from(path))?;
        }
        config.merge_env(|k| std::env::var(k).ok())
    }

    /// Overrides fields from variables found by `lookup` (the `KEYPORT_*` names in the table above).
    pub fn merge_env(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        if let Some(v) = get("KEYPORT_SERVER_URL") {
            // A server named in the environment wins over an issuer from a file (unless one is named too).
            self.server_url = Some(v);
            self.issuer = None;
        }
        if let Some(v) = get("KEYPORT_REALM") {
            self.realm = v;
        }
        if let Some(v) = get("KEYPORT_ISSUER") {
            self.issuer = Some(v);
        }
        if let Some(v) = get("KEYPORT_CLIENT_ID") {
            self.client_id = v;
        }
        if let Some(v) = get("KEYPORT_SCOPE") {
            self.scope = v;
        }
        if let Some(v) = get("KEYPORT_AUDIENCE") {
            self.audience = Some(v);
        }
        if let Some(v) = get("KEYPORT_TIMEOUT") {
            self.timeout_seconds = v.trim_end_matches('s').parse().map_err(|_| {
                Error::Config(format!(
                    "KEYPORT_TIMEOUT must be a number of seconds, got {v:?}"
                ))
            })?;
        }
        Ok(self)
    }

    /// The issuer URL: `issuer`, or `{server_url}/realms/{realm}`.
    pub fn issuer_url(&self) -> Result<Url> {
        let raw = match (&self.issuer, &self.server_url) {
            (Some(issuer), _) => issuer.trim_end_matches('/').to_owned(),
            (None, Some(server)) => {
                if self.realm.is_empty() {
                    return Err(Error::Config(
                        "realm is empty: set KEYPORT_REALM or `realm`".into(),
                    ));
                }
                format!("{}/realms/{}", server.trim_end_matches('/'), self.realm)
            }
            (None, None) => {
                return Err(Error::Config(
                    "no server configured: run `keyport login --server URL`, or set KEYPORT_SERVER_URL (or KEYPORT_ISSUER)"
                        .into(),
                ));
            }
        };
        Url::parse(&raw)
            .map_err(|e| Error::Config(format!("the server URL {raw:?} is not a valid URL: {e}")))
    }

    /// The HTTP request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_seconds.max(1))
    }
}

/// Loads `./.env` (variables already set win), and no other `.env` file.
pub(crate) fn load_dotenv_here() {
    let path = Path::new(".env");
    if path.is_file() {
        let _ = dotenvy::from_path(path);
    }
}

/// The CLI's profiles file, `~/.keyport/config.toml`: one [`Config`] per named profile.
///
/// ```toml
/// [profiles.default]
/// server_url = "http://127.0.0.1:8080"
/// realm = "master"
/// client_id = "keyport-cli"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profiles {
    /// Profiles by name.
    pub profiles: BTreeMap<String, Config>,
}

impl Profiles {
    /// `<keyport home>/config.toml`.
    pub fn default_path() -> Result<PathBuf> {
        Ok(files::keyport_home()?.join("config.toml"))
    }

    /// Reads the file; a missing file is an empty set of profiles.
    pub fn load(path: &Path) -> Result<Self> {
        match files::read_optional(path)? {
            None => Ok(Profiles::default()),
            Some(text) => toml::from_str(&text).map_err(|e| Error::BadFile {
                path: path.into(),
                kind: "profiles",
                message: e.to_string(),
            }),
        }
    }

    /// Writes the file (atomically, mode 0600).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::Config(e.to_string()))?;
        files::write_private(path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_comes_from_server_and_realm_or_is_given() {
        let c = Config::new("https://auth.example.org/auth/", "aiod", "aiod-sdk");
        assert_eq!(
            c.issuer_url().unwrap().as_str(),
            "https://auth.example.org/auth/realms/aiod"
        );
        let c = Config::for_issuer("https://tenant.eu.auth0.com/", "abc");
        assert_eq!(
            c.issuer_url().unwrap().as_str(),
            "https://tenant.eu.auth0.com/"
        );
        let err = Config::default().issuer_url().unwrap_err().to_string();
        assert!(err.contains("KEYPORT_SERVER_URL"), "{err}");
    }

    #[test]
    fn env_overrides_file_values() {
        let file: Config =
            toml::from_str("server_url = \"http://a\"\nrealm = \"r1\"\nclient_id = \"c1\"")
                .unwrap();
        let env = |k: &str| match k {
            "KEYPORT_REALM" => Some("r2".to_owned()),
            "KEYPORT_TIMEOUT" => Some("7".to_owned()),
            "KEYPORT_AUDIENCE" => Some("https://api".to_owned()),
            _ => None,
        };
        let c = file.merge_env(env).unwrap();
        assert_eq!(
            (
                c.server_url.as_deref(),
                c.realm.as_str(),
                c.client_id.as_str()
            ),
            (Some("http://a"), "r2", "c1")
        );
        assert_eq!(c.timeout(), Duration::from_secs(7));
        assert_eq!(c.audience.as_deref(), Some("https://api"));
        let bad =
            Config::default().merge_env(|k| (k == "KEYPORT_TIMEOUT").then(|| "soon".to_owned()));
        assert!(bad.unwrap_err().to_string().contains("KEYPORT_TIMEOUT"));
    }

    #[test]
    fn a_server_from_the_environment_replaces_an_issuer_from_a_file() {
        let file = Config::for_issuer("https://old.example.org/", "c");
        let c = file
            .merge_env(|k| (k == "KEYPORT_SERVER_URL").then(|| "http://new".to_owned()))
            .unwrap();
        assert_eq!(c.issuer_url().unwrap().as_str(), "http://new/realms/master");
    }

    #[test]
    fn unknown_keys_in_a_config_file_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "server = \"http://a\"").unwrap();
        let err = Config::from_file(&path).unwrap_err().to_string();
        assert!(err.contains("server"), "{err}");
    }

    #[test]
    fn profiles_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut p = Profiles::load(&path).unwrap();
        p.profiles
            .insert("work".into(), Config::new("http://x", "r", "c"));
        p.save(&path).unwrap();
        assert_eq!(Profiles::load(&path).unwrap(), p);
    }
}
