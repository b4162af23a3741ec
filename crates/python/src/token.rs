//! Seeds 000/001: `Token`, the device login behind `create_token`, and the process-wide token helpers
//! (`get_token`, `set_token`, `get_current_user`, `invalidate_token`). The Python signatures and docstrings
//! users see are in `keyport/__init__.py`, which calls these.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keyport_client::{Error, PendingLogin, Token};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::{state, sync, wait};

/// Header names and values as a Python dict (values of sensitive headers included: they are what is sent).
pub(crate) fn header_dict(headers: &reqwest::header::HeaderMap) -> HashMap<String, String> {
    headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_owned(), v.to_owned()))
        })
        .collect()
}

/// `s` as a Python string literal (single quotes), for `repr`s.
pub(crate) fn py_str(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// An access token kept fresh from one refresh token (a person's login) or one client secret (a bot).
///
/// `Token(refresh_token=...)` or `Token(client_secret=...)` (with `keyport.config.client_id` naming the bot's
/// client); `Token.from_file(path)` reads a TOML token file. Copies share state: one refresh serves all.
/// `repr()` never shows a secret.
#[pyclass(module = "keyport._keyport", name = "Token", frozen)]
pub struct PyToken {
    pub(crate) inner: Token,
}

#[pymethods]
impl PyToken {
    #[new]
    #[pyo3(signature = (*, refresh_token=None, client_secret=None))]
    fn new(refresh_token: Option<String>, client_secret: Option<String>) -> PyResult<Self> {
        let client = sync(state::client())?;
        let inner = match (refresh_token, client_secret) {
            (Some(rt), None) => Token::from_refresh_token(&client, rt),
            (None, Some(cs)) => Token::from_client_secret(&client, cs),
            _ => {
                return Err(PyValueError::new_err(
                    "give exactly one of refresh_token=... (a person's login) or client_secret=... (a bot)",
                ));
            }
        };
        Ok(PyToken { inner })
    }

    /// Reads a TOML token file (`refresh_token = "…"`, or a bot's `client_secret = "…"` as in `secret.toml`).
    /// Rotated refresh tokens are written back to it.
    #[staticmethod]
    fn from_file(path: PathBuf) -> PyResult<PyToken> {
        let client = sync(state::client())?;
        Ok(PyToken {
            inner: sync(Token::from_file(&client, path))?,
        })
    }

    /// Writes the token to `path` (TOML, atomically, mode 0600) and keeps it there when it rotates.
    fn to_file(&self, path: PathBuf) -> PyResult<()> {
        sync(self.inner.to_file(path))
    }

    /// Whether the access token has expired (or will within 10 seconds), judged from local data only.
    #[getter]
    fn has_expired(&self) -> bool {
        self.inner.has_expired()
    }

    /// `{"Authorization": "Bearer …"}` with a fresh access token (refreshes first when it has expired).
    #[getter]
    fn headers(&self, py: Python<'_>) -> PyResult<HashMap<String, String>> {
        let token = self.inner.clone();
        let headers = wait(py, async move { token.headers().await })?;
        Ok(header_dict(&headers))
    }

    /// Gets a new access token now, whatever the cached one's expiry.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let token = self.inner.clone();
        wait(py, async move { token.refresh().await })
    }

    /// Who the token belongs to (read from its tokens, without a request), when known.
    #[getter]
    fn username(&self) -> Option<String> {
        self.inner.username()
    }

    /// When the access token expires, in Unix seconds, when known.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.inner.expires_at().map(unix_seconds)
    }

    /// The file the token is kept in, if any.
    #[getter]
    fn file(&self) -> Option<PathBuf> {
        self.inner.file()
    }

    fn __repr__(&self) -> String {
        let grant = if self.inner.refresh_token().is_some() {
            "refresh_token"
        } else if self.inner.client_secret().is_some() {
            "client_secret"
        } else {
            "access_token"
        };
        let user = self
            .inner
            .username()
            .map_or("None".to_owned(), |u| py_str(&u));
        let file = self
            .inner
            .file()
            .map_or("None".to_owned(), |f| py_str(&f.display().to_string()));
        format!(
            "Token(grant={}, username={user}, has_expired={}, file={file})",
            py_str(grant),
            if self.inner.has_expired() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// A started device login: show `instructions`, then `wait()`.
#[pyclass(module = "keyport._keyport", name = "PendingLogin", frozen)]
pub struct PyPendingLogin {
    pending: Mutex<Option<PendingLogin>>,
    timeout: Duration,
    instructions: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: Option<String>,
}

#[pymethods]
impl PyPendingLogin {
    /// The text AIoD's SDK and `keyport login` print (the two ways to authenticate and the time limit).
    #[getter]
    fn instructions(&self) -> &str {
        &self.instructions
    }
    /// The code to enter, e.g. `BCDF-GHJK`.
    #[getter]
    fn user_code(&self) -> &str {
        &self.user_code
    }
    /// Where to enter the code.
    #[getter]
    fn verification_uri(&self) -> &str {
        &self.verification_uri
    }
    /// The page with the code filled in.
    #[getter]
    fn verification_uri_complete(&self) -> Option<&str> {
        self.verification_uri_complete.as_deref()
    }

    /// Blocks until the login is approved (→ `Token`), denied, expires or times out. Interruptible.
    /// `write_to_file`: save the token there (0600). `use_in_requests`: make it the process-wide token.
    #[pyo3(signature = (*, write_to_file=None, use_in_requests=true))]
    fn wait(
        &self,
        py: Python<'_>,
        write_to_file: Option<PathBuf>,
        use_in_requests: bool,
    ) -> PyResult<PyToken> {
        let pending = take_pending(&self.pending)?;
        let timeout = self.timeout;
        let token = wait(py, async move { pending.wait(timeout).await })?;
        adopt(token, write_to_file, use_in_requests)
    }

    fn __repr__(&self) -> String {
        format!(
            "PendingLogin(user_code={}, verification_uri={})",
            py_str(&self.user_code),
            py_str(&self.verification_uri)
        )
    }
}

/// Takes a pending login out of its slot for the one `wait()` it allows; a second `wait()` is a `ValueError`.
pub(crate) fn take_pending<T>(slot: &Mutex<Option<T>>) -> PyResult<T> {
    slot.lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
        .ok_or_else(|| PyValueError::new_err("this login was already waited for"))
}

/// What every login does with its new token: saves it to `write_to_file` (0600) and, with `use_in_requests`,
/// makes it the process-wide token.
pub(crate) fn adopt(
    token: Token,
    write_to_file: Option<PathBuf>,
    use_in_requests: bool,
) -> PyResult<PyToken> {
    if let Some(path) = write_to_file {
        sync(token.to_file(path))?;
    }
    if use_in_requests {
        state::set_current_token(Some(token.clone()));
    }
    Ok(PyToken { inner: token })
}

/// Starts a device login on the process-wide client (the first half of `create_token`).
#[pyfunction]
#[pyo3(signature = (timeout_seconds=300))]
fn start_device_login(py: Python<'_>, timeout_seconds: i64) -> PyResult<PyPendingLogin> {
    if timeout_seconds <= 0 {
        return Err(crate::py_err(Error::InvalidTimeout));
    }
    let client = sync(state::client())?;
    let pending = wait(py, async move { client.start_device_login().await })?;
    let timeout = Duration::from_secs(timeout_seconds as u64);
    Ok(PyPendingLogin {
        instructions: pending.instructions(timeout),
        user_code: pending.user_code().to_owned(),
        verification_uri: pending.verification_uri().to_owned(),
        verification_uri_complete: pending.verification_uri_complete().map(str::to_owned),
        pending: Mutex::new(Some(pending)),
        timeout,
    })
}

/// The process-wide token: the one set or created in this process, else the token file's.
#[pyfunction]
fn get_token() -> PyResult<PyToken> {
    if let Some(t) = state::current_token() {
        return Ok(PyToken { inner: t });
    }
    let path = sync(state::token_file())?;
    if !path.exists() {
        return Err(crate::py_err(Error::NotAuthenticated));
    }
    let client = sync(state::client())?;
    let token = sync(Token::from_file(&client, &path))?;
    state::set_current_token(Some(token.clone()));
    Ok(PyToken { inner: token })
}

fn token_of(token: &Bound<'_, PyAny>) -> PyResult<Token> {
    if let Ok(t) = token.cast::<PyToken>() {
        return Ok(t.get().inner.clone());
    }
    let refresh_token: String = token
        .extract()
        .map_err(|_| PyValueError::new_err("expected a keyport.Token or a refresh token (str)"))?;
    let client = sync(state::client())?;
    Ok(Token::from_refresh_token(&client, refresh_token))
}

/// Sets the process-wide token (a `Token`, or a refresh token string). Not validated.
#[pyfunction]
fn set_token(token: &Bound<'_, PyAny>) -> PyResult<()> {
    state::set_current_token(Some(token_of(token)?));
    Ok(())
}

/// Forgets the process-wide token (without ending its session).
#[pyfunction]
fn clear_token() {
    state::set_current_token(None);
}

/// `(name, roles, sub, email)`: what `keyport.User` is built from.
type UserTuple = (String, Vec<String>, Option<String>, Option<String>);

/// `(name, roles, sub, email)` of the process-wide token's user, from the server's userinfo endpoint.
#[pyfunction]
fn current_user(py: Python<'_>) -> PyResult<UserTuple> {
    let token = get_token()?.inner;
    let user = wait(py, async move {
        keyport_client::current_user(&token, None).await
    })?;
    Ok((user.name, user.roles, user.sub, user.email))
}

/// Ends the session of `token` (default: the process-wide one) on the server and deletes its file.
#[pyfunction]
#[pyo3(signature = (token=None, ignore_errors=false))]
fn invalidate_token(
    py: Python<'_>,
    token: Option<&Bound<'_, PyAny>>,
    ignore_errors: bool,
) -> PyResult<()> {
    let token = match token {
        Some(t) => token_of(t),
        None => get_token().map(|t| t.inner),
    };
    let token = match token {
        Ok(t) => t,
        Err(_) if ignore_errors => return Ok(()),
        Err(e) => return Err(e),
    };
    let same = state::current_token().is_some_and(|cur| {
        cur.refresh_token().map(|r| r.secret().to_owned())
            == token.refresh_token().map(|r| r.secret().to_owned())
    });
    if same {
        state::set_current_token(None);
    }
    let result = wait(
        py,
        async move { keyport_client::logout_token(&token).await },
    );
    match result {
        Err(_) if ignore_errors => Ok(()),
        other => other,
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyToken>()?;
    m.add_class::<PyPendingLogin>()?;
    m.add_function(wrap_pyfunction!(start_device_login, m)?)?;
    m.add_function(wrap_pyfunction!(get_token, m)?)?;
    m.add_function(wrap_pyfunction!(set_token, m)?)?;
    m.add_function(wrap_pyfunction!(clear_token, m)?)?;
    m.add_function(wrap_pyfunction!(current_user, m)?)?;
    m.add_function(wrap_pyfunction!(invalidate_token, m)?)?;
    Ok(())
}
