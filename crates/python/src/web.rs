//! The browser login behind `create_token(method="browser")`: authorization code + PKCE through a loopback
//! redirect ([`keyport_client::PendingWebLogin`], RFC 8252). `keyport/__init__.py` prints the instructions,
//! opens the browser (or calls the `open_browser` hook) and waits; the wait is the SDK's, run by [`wait`] so
//! it releases the GIL and stops on Ctrl-C (dropping the login closes the loopback port).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use keyport_client::{Error, PendingWebLogin};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::token::{PyToken, adopt, py_str, take_pending};
use crate::{state, sync, wait};

/// A started browser login: the loopback listener is bound and `authorize_url` is ready. Open it in a
/// browser, then `wait()`.
#[pyclass(module = "keyport._keyport", name = "PendingBrowserLogin", frozen)]
pub struct PyPendingWebLogin {
    pending: Mutex<Option<PendingWebLogin>>,
    timeout: Duration,
    instructions: String,
    authorize_url: String,
    redirect_uri: String,
}

#[pymethods]
impl PyPendingWebLogin {
    /// The text `keyport login --web` prints: the URL to open and the time limit.
    #[getter]
    fn instructions(&self) -> &str {
        &self.instructions
    }
    /// The server's authorization URL (code + PKCE S256, `state`, `nonce`) to open in the browser.
    #[getter]
    fn authorize_url(&self) -> &str {
        &self.authorize_url
    }
    /// Where the server sends the browser back: `http://127.0.0.1:{port}/callback`.
    #[getter]
    fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Opens `authorize_url` in the default browser when one can be shown here (macOS, Windows, or a
    /// `DISPLAY`/`WAYLAND_DISPLAY`). True when a browser was started; otherwise the printed URL is the way in.
    fn open_in_browser(&self, py: Python<'_>) -> PyResult<bool> {
        let guard = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let pending = guard
            .as_ref()
            .ok_or_else(|| PyValueError::new_err("this login was already waited for"))?;
        Ok(py.detach(|| pending.open_in_browser()))
    }

    /// Blocks until the browser comes back with the sign-in (→ `Token`), an error, or the time limit passes.
    /// Interruptible. `write_to_file`: save the token there (0600). `use_in_requests`: make it the
    /// process-wide token.
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
            "PendingBrowserLogin(redirect_uri={})",
            py_str(&self.redirect_uri)
        )
    }
}

/// Starts a browser login on the process-wide client (the first half of `create_token(method="browser")`).
#[pyfunction]
#[pyo3(signature = (timeout_seconds=300))]
fn start_web_login(py: Python<'_>, timeout_seconds: i64) -> PyResult<PyPendingWebLogin> {
    if timeout_seconds <= 0 {
        return Err(crate::py_err(Error::InvalidTimeout));
    }
    let client = sync(state::client())?;
    let pending = wait(py, async move { client.start_web_login().await })?;
    let timeout = Duration::from_secs(timeout_seconds as u64);
    Ok(PyPendingWebLogin {
        instructions: pending.instructions(timeout),
        authorize_url: pending.authorize_url().to_owned(),
        redirect_uri: pending.redirect_uri().to_owned(),
        pending: Mutex::new(Some(pending)),
        timeout,
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPendingWebLogin>()?;
    m.add_function(wrap_pyfunction!(start_web_login, m)?)?;
    Ok(())
}
