//! Seed 004: Wallaroo's auth types and token fetchers over `keyport_client::auth`. `keyport/auth.py` gives
//! them Wallaroo's names and makes the auth objects callable by `requests` and `httpx`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use keyport_client::auth::{
    self, Auth, AuthType, CachedTokenFetcher, DeviceLoginFetcher, OfflineTokenFetcher,
    PasswordFetcher, PlatformAuth, TokenFetcher, TokenFileFetcher, UserCredentials,
};
use keyport_client::{Client, Clock, Credentials, Password, SystemClock};
use pyo3::prelude::*;

use crate::handlers::python_login_options;
use crate::token::header_dict;
use crate::{state, sync, wait};

fn client_for(server_url: Option<String>) -> PyResult<Client> {
    sync(state::config_for(server_url).and_then(Client::new))
}

fn cache_dir(dir: Option<PathBuf>) -> PyResult<PathBuf> {
    match dir {
        Some(d) => Ok(d),
        None => sync(keyport_client::cache_dir()),
    }
}

/// `(token, user_email, user_id)`: Wallaroo's `TokenData`.
type TokenTuple = (String, String, String);

/// A source of access tokens (device login, password, token file, offline token, or a cache around one).
#[pyclass(module = "keyport._keyport", name = "TokenFetcher", frozen)]
pub struct PyFetcher {
    inner: Arc<dyn TokenFetcher>,
    clock: Arc<dyn Clock>,
    kind: &'static str,
}

#[pymethods]
impl PyFetcher {
    /// Device login in a browser (Wallaroo's `KeycloakTokenFetcher`).
    #[staticmethod]
    #[pyo3(signature = (server_url=None, timeout_seconds=300))]
    fn device(server_url: Option<String>, timeout_seconds: u64) -> PyResult<PyFetcher> {
        let client = client_for(server_url)?;
        let fetcher = DeviceLoginFetcher::new(&client, python_login_options(timeout_seconds));
        Ok(PyFetcher {
            inner: Arc::new(fetcher),
            clock: client.clock().clone(),
            kind: "device",
        })
    }

    /// The password grant with these credentials.
    #[staticmethod]
    #[pyo3(signature = (username, password, server_url=None))]
    fn password(
        username: String,
        password: String,
        server_url: Option<String>,
    ) -> PyResult<PyFetcher> {
        let client = client_for(server_url)?;
        let credentials = UserCredentials {
            username,
            password: Password::new(password),
        };
        Ok(PyFetcher {
            inner: Arc::new(PasswordFetcher::new(&client, credentials)),
            clock: client.clock().clone(),
            kind: "password",
        })
    }

    /// A JSON file with `token`, `user_email` and `user_id`, read on every fetch.
    #[staticmethod]
    fn token_file(path: PathBuf) -> PyFetcher {
        PyFetcher {
            inner: Arc::new(TokenFileFetcher::new(path)),
            clock: Arc::new(SystemClock),
            kind: "token_file",
        }
    }

    /// Access tokens from an offline refresh token.
    #[staticmethod]
    #[pyo3(signature = (refresh_token, server_url=None))]
    fn offline(refresh_token: String, server_url: Option<String>) -> PyResult<PyFetcher> {
        let client = client_for(server_url)?;
        Ok(PyFetcher {
            inner: Arc::new(OfflineTokenFetcher::new(&client, refresh_token)),
            clock: client.clock().clone(),
            kind: "offline",
        })
    }

    /// `inner`'s results kept in the JSON file `path` (0600), reused by the next process.
    #[staticmethod]
    fn cached(inner: PyRef<'_, PyFetcher>, path: PathBuf) -> PyFetcher {
        PyFetcher {
            inner: Arc::new(CachedTokenFetcher::new(
                inner.inner.clone(),
                path,
                inner.clock.clone(),
            )),
            clock: inner.clock.clone(),
            kind: "cached",
        }
    }

    /// Obtains a token: `(token, user_email, user_id)`.
    fn fetch(&self, py: Python<'_>) -> PyResult<TokenTuple> {
        let f = self.inner.clone();
        let t = wait(py, async move { f.fetch().await })?;
        Ok((
            t.data.token.secret().to_owned(),
            t.data.user_email,
            t.data.user_id,
        ))
    }

    fn __repr__(&self) -> String {
        format!("TokenFetcher(kind={:?})", self.kind)
    }
}

/// What `create` returns: headers to put on requests (none for the `none` type).
#[pyclass(module = "keyport._keyport", name = "Auth", frozen)]
pub struct PyAuth {
    inner: Arc<Auth>,
}

#[pymethods]
impl PyAuth {
    /// Wallaroo's `create(keycloak_addr, auth_type)`: `auth_type` is a canonical name (`sso`, …); credentials
    /// come from the environment; `sso` and `user_password` cache their tokens in `cache_dir` (default
    /// `$KEYPORT_CACHE_DIR`, else the user cache directory).
    #[staticmethod]
    #[pyo3(signature = (server_url, auth_type, cache_dir=None, timeout_seconds=300))]
    fn create(
        server_url: Option<String>,
        auth_type: &str,
        cache_dir: Option<PathBuf>,
        timeout_seconds: u64,
    ) -> PyResult<PyAuth> {
        let auth_type: AuthType = sync(auth_type.parse())?;
        let client = client_for(server_url)?;
        let dir = self::cache_dir(cache_dir)?;
        let inner = match auth_type {
            // The SDK's `create` prints the device-login instructions with Rust's stdout; print them with
            // Python's instead (a notebook shows only the latter).
            AuthType::Sso => {
                let device =
                    DeviceLoginFetcher::new(&client, python_login_options(timeout_seconds));
                let cached = CachedTokenFetcher::new(
                    Arc::new(device),
                    auth::cache_file(&dir, &client, AuthType::Sso),
                    client.clock().clone(),
                );
                auth::from_fetcher(&client, Arc::new(cached))
            }
            other => sync(auth::create_in(&client, other, &dir))?,
        };
        Ok(PyAuth {
            inner: Arc::new(inner),
        })
    }

    /// Auth from any fetcher.
    #[staticmethod]
    fn from_fetcher(fetcher: PyRef<'_, PyFetcher>) -> PyAuth {
        PyAuth {
            inner: Arc::new(Auth::Platform(PlatformAuth::new(
                fetcher.inner.clone(),
                fetcher.clock.clone(),
            ))),
        }
    }

    /// The headers for a request (fetching or refreshing first when needed).
    fn headers(&self, py: Python<'_>) -> PyResult<HashMap<String, String>> {
        let a = self.inner.clone();
        let headers = wait(py, async move { Auth::headers(&a).await })?;
        Ok(header_dict(&headers))
    }

    /// Changes whenever the credentials are renewed.
    #[getter]
    fn generation(&self) -> u64 {
        Credentials::generation(&*self.inner)
    }

    /// After a 401 to headers obtained at `generation`: renews (once for many callers); `False` if this auth
    /// cannot renew (the `none` type).
    fn renew(&self, py: Python<'_>, generation: u64) -> PyResult<bool> {
        let a = self.inner.clone();
        wait(py, async move { Credentials::renew(&*a, generation).await })
    }

    /// The current `(token, user_email, user_id)`, or `None` for the `none` type.
    fn token(&self, py: Python<'_>) -> PyResult<Option<TokenTuple>> {
        let a = self.inner.clone();
        wait(py, async move {
            match &*a {
                Auth::None => Ok(None),
                Auth::Platform(p) => p
                    .token()
                    .await
                    .map(|d| Some((d.token.secret().to_owned(), d.user_email, d.user_id))),
            }
        })
    }

    fn __repr__(&self) -> String {
        match &*self.inner {
            Auth::None => "NoAuth()".to_owned(),
            Auth::Platform(_) => "PlatformAuth()".to_owned(),
        }
    }
}

/// Removes every cached credential in `cache_dir` (default as for `create`).
#[pyfunction]
#[pyo3(signature = (cache_dir=None))]
fn logout(cache_dir: Option<PathBuf>) -> PyResult<()> {
    sync(auth::logout_in(&self::cache_dir(cache_dir)?))
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyFetcher>()?;
    m.add_class::<PyAuth>()?;
    m.add_function(wrap_pyfunction!(logout, m)?)?;
    Ok(())
}
