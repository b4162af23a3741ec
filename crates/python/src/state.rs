//! The process-wide state of the Python package: `keyport.config` (a [`Settings`] object whose attributes are
//! the SDK's [`Config`] fields plus the token file), the client built from it, and the token set by
//! `create_token`/`set_token`.
//!
//! Kept here rather than in `keyport_client::global` because Python code sets the configuration field by
//! field (`aiod.config.client_id = …`) and may move the token file; every change drops the client (it is
//! rebuilt on next use) and the process-wide token, as `keyport_client::configure` does.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use keyport_client::{Client, Config, Token};
use pyo3::prelude::*;

use crate::token::py_str;

#[derive(Default)]
struct Global {
    /// `None` until first used: then `Config::load()` (profile, `KEYPORT_CLIENT_CONFIG`, `.env`, `KEYPORT_*`).
    config: Option<Config>,
    token_file: Option<PathBuf>,
    client: Option<Client>,
    token: Option<Token>,
}

static GLOBAL: Mutex<Option<Global>> = Mutex::new(None);

fn with_global<T>(f: impl FnOnce(&mut Global) -> T) -> T {
    let mut guard: MutexGuard<'_, Option<Global>> =
        GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    f(guard.get_or_insert_with(Global::default))
}

fn loaded(g: &mut Global) -> keyport_client::Result<&mut Config> {
    if g.config.is_none() {
        g.config = Some(Config::load()?);
    }
    Ok(g.config.as_mut().expect("loaded above"))
}

/// The process-wide configuration.
pub(crate) fn config() -> keyport_client::Result<Config> {
    with_global(|g| loaded(g).cloned())
}

/// The process-wide configuration with another server (Wallaroo's `keycloak_addr`), when one is given.
pub(crate) fn config_for(server_url: Option<String>) -> keyport_client::Result<Config> {
    let mut config = config()?;
    if let Some(url) = server_url {
        config.server_url = Some(url);
        config.issuer = None;
    }
    Ok(config)
}

/// The process-wide client, built from [`config`] on first use after each change.
pub(crate) fn client() -> keyport_client::Result<Client> {
    with_global(|g| {
        if let Some(c) = &g.client {
            return Ok(c.clone());
        }
        let client = Client::new(loaded(g)?.clone())?;
        g.client = Some(client.clone());
        Ok(client)
    })
}

/// Where `create_token(write_to_file=True)` writes and `get_token()` looks: set by `keyport.config.token_file`,
/// else the token file of the current profile (`~/.keyport/tokens/<profile>.toml`, shared with `keyport login`).
pub(crate) fn token_file() -> keyport_client::Result<PathBuf> {
    match with_global(|g| g.token_file.clone()) {
        Some(p) => Ok(p),
        None => keyport_client::default_token_path(),
    }
}

pub(crate) fn current_token() -> Option<Token> {
    with_global(|g| g.token.clone())
}

pub(crate) fn set_current_token(token: Option<Token>) {
    with_global(|g| g.token = token);
}

/// Changes the configuration: the client is rebuilt on next use and the process-wide token is forgotten.
fn update(f: impl FnOnce(&mut Config)) -> PyResult<()> {
    with_global(|g| {
        f(loaded(g)?);
        g.client = None;
        g.token = None;
        Ok(())
    })
    .map_err(crate::py_err)
}

fn read<T>(f: impl FnOnce(&Config) -> T) -> PyResult<T> {
    with_global(|g| loaded(g).map(|c| f(c))).map_err(crate::py_err)
}

/// Where to sign in and as which client: `keyport.config`.
///
/// Read from the same places as the Rust SDK and the CLI, lowest precedence first: the active profile of
/// `~/.keyport/config.toml` (written by `keyport login`), the file named by `KEYPORT_CLIENT_CONFIG`, a `.env`
/// file, and `KEYPORT_SERVER_URL`, `KEYPORT_REALM`, `KEYPORT_ISSUER`, `KEYPORT_CLIENT_ID`, `KEYPORT_SCOPE`,
/// `KEYPORT_AUDIENCE`, `KEYPORT_TIMEOUT`. Every attribute can be set; a change applies to the next call and
/// forgets the process-wide token (set it again, or call `create_token`).
#[pyclass(module = "keyport._keyport", name = "Config", frozen)]
pub struct Settings;

#[pymethods]
impl Settings {
    /// Base URL of a Keycloak-style server (`{server_url}/realms/{realm}` is the issuer).
    #[getter]
    fn server_url(&self) -> PyResult<Option<String>> {
        read(|c| c.server_url.clone())
    }
    #[setter]
    fn set_server_url(&self, value: Option<String>) -> PyResult<()> {
        update(|c| {
            c.server_url = value;
            c.issuer = None;
        })
    }

    /// The realm (default `master`).
    #[getter]
    fn realm(&self) -> PyResult<String> {
        read(|c| c.realm.clone())
    }
    #[setter]
    fn set_realm(&self, value: String) -> PyResult<()> {
        update(|c| c.realm = value)
    }

    /// A plain OpenID Connect issuer URL; wins over `server_url` + `realm`.
    #[getter]
    fn issuer(&self) -> PyResult<Option<String>> {
        read(|c| c.issuer.clone())
    }
    #[setter]
    fn set_issuer(&self, value: Option<String>) -> PyResult<()> {
        update(|c| c.issuer = value)
    }

    /// The OAuth client id (default `keyport-cli`).
    #[getter]
    fn client_id(&self) -> PyResult<String> {
        read(|c| c.client_id.clone())
    }
    #[setter]
    fn set_client_id(&self, value: String) -> PyResult<()> {
        update(|c| c.client_id = value)
    }

    /// Space-separated scopes asked for at login (default `openid profile email`).
    #[getter]
    fn scope(&self) -> PyResult<String> {
        read(|c| c.scope.clone())
    }
    #[setter]
    fn set_scope(&self, value: String) -> PyResult<()> {
        update(|c| c.scope = value)
    }

    /// The `audience` login parameter (Auth0).
    #[getter]
    fn audience(&self) -> PyResult<Option<String>> {
        read(|c| c.audience.clone())
    }
    #[setter]
    fn set_audience(&self, value: Option<String>) -> PyResult<()> {
        update(|c| c.audience = value)
    }

    /// Timeout of each HTTP request, in seconds (default 30).
    #[getter]
    fn timeout_seconds(&self) -> PyResult<u64> {
        read(|c| c.timeout_seconds)
    }
    #[setter]
    fn set_timeout_seconds(&self, value: u64) -> PyResult<()> {
        update(|c| c.timeout_seconds = value.max(1))
    }

    /// The token file of `create_token(write_to_file=True)` and `get_token()` (default
    /// `~/.keyport/tokens/<profile>.toml`, the one `keyport login` writes; `KEYPORT_HOME` moves `~/.keyport`).
    #[getter]
    fn token_file(&self) -> PyResult<PathBuf> {
        crate::sync(token_file())
    }
    #[setter]
    fn set_token_file(&self, value: Option<PathBuf>) -> PyResult<()> {
        with_global(|g| {
            g.token_file = value;
            g.token = None;
        });
        Ok(())
    }

    /// Reads the configuration again from the profile, `.env` and the environment (forgetting what was set).
    fn reload(&self) -> PyResult<()> {
        let config = crate::sync(Config::load())?;
        with_global(|g| *g = Global::default());
        update(|c| *c = config)
    }

    fn __repr__(&self) -> PyResult<String> {
        let c = crate::sync(config())?;
        let opt = |v: &Option<String>| v.as_ref().map_or("None".to_owned(), |s| py_str(s));
        let file = token_file()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok(format!(
            "keyport.Config(server_url={}, realm={}, issuer={}, client_id={}, scope={}, audience={}, timeout_seconds={}, token_file={})",
            opt(&c.server_url),
            py_str(&c.realm),
            opt(&c.issuer),
            py_str(&c.client_id),
            py_str(&c.scope),
            opt(&c.audience),
            c.timeout_seconds,
            py_str(&file),
        ))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Settings>()?;
    m.add("config", Settings)?;
    Ok(())
}
