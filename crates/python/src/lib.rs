//! `keyport._keyport`: the native half of the Python package `keyport` (`crates/python/python/keyport` is the
//! other half: the seed-shaped modules, exceptions and type stubs).
//!
//! Everything here is a thin layer over `keyport-client`: a Python call converts its arguments, runs one SDK
//! future on the package's tokio runtime while the calling thread waits with the GIL released ([`wait`]), and
//! turns an SDK [`Error`] into the exception class named in `keyport/_errors.py` ([`py_err`]), with the
//! server's `error` and `error_description` as attributes. Waiting happens in slices of [`SLICE`], checking for
//! signals in between, so Ctrl-C (or a notebook's stop button) interrupts a device or browser login at once.

use std::future::Future;
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use keyport_client::Error;
use pyo3::prelude::*;
use pyo3::types::PyDict;

mod admin;
mod auth;
mod handlers;
mod state;
mod token;
mod web;

/// How long a waiting call sleeps (without the GIL) between two checks for Ctrl-C.
const SLICE: Duration = Duration::from_millis(50);

/// The package's runtime: two worker threads serve every blocking call of every Python thread.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keyport")
            .enable_all()
            .build()
            .expect("the keyport runtime starts")
    })
}

/// Runs `future` on the package's runtime and waits for it with the GIL released, in slices, checking for
/// signals between slices: a `KeyboardInterrupt` (or any exception a signal handler raises) cancels the
/// future and is raised.
pub(crate) fn wait<T, F>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = keyport_client::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let task = runtime().spawn(async move {
        let _ = tx.send(future.await);
    });
    let mut rx = rx;
    loop {
        // The receiver goes into the detached closure and comes back (it is `Send`, not `Sync`).
        let (received, back) = py.detach(move || (rx.recv_timeout(SLICE), rx));
        rx = back;
        match received {
            Ok(result) => return result.map_err(py_err),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(interrupted) = py.check_signals() {
                    task.abort();
                    return Err(interrupted);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "keyport: the request ended without an answer (a bug: please report it)",
                ));
            }
        }
    }
}

/// The exception class (in `keyport._errors`) for an SDK error.
fn class_of(e: &Error) -> &'static str {
    match e {
        Error::NotAuthenticated => "NotAuthenticatedError",
        Error::AccessDenied => "AccessDeniedError",
        Error::ExpiredToken => "DeviceCodeExpiredError",
        Error::Timeout { .. } => "LoginTimeoutError",
        Error::InvalidTimeout | Error::Config(_) => "ConfigurationError",
        Error::Refresh { .. } => "TokenRefreshError",
        Error::Fetch { .. } => "TokenFetchError",
        Error::Authorization { .. } => "AuthorizationError",
        Error::Server { .. } | Error::Discovery { .. } | Error::InvalidResponse(_) => "ServerError",
        Error::Loopback(_) => "LoopbackError",
        Error::Http { .. } => "ServerUnreachableError",
        Error::Io { .. } => "FileError",
        Error::BadFile { .. } => "BadFileError",
        Error::UsernameMismatch { .. } => "UsernameMismatchError",
        Error::External(_) => "ExternalTokenError",
        _ => "AuthError",
    }
}

/// The server's `error_description`, when the error carries one.
fn description_of(e: &Error) -> Option<String> {
    match e {
        Error::Refresh { description, .. }
        | Error::Fetch { description, .. }
        | Error::Server { description, .. }
        | Error::Authorization { description, .. } => description.clone(),
        _ => None,
    }
}

/// Turns an SDK error into the matching `keyport` exception: message = the SDK's message (which says what to
/// do next), `code`/`status` = the HTTP status, `error`/`error_description` = the server's.
pub(crate) fn py_err(e: Error) -> PyErr {
    Python::attach(|py| {
        let build = || -> PyResult<PyErr> {
            let class = py.import("keyport._errors")?.getattr(class_of(&e))?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("error", e.oauth_error())?;
            kwargs.set_item("error_description", description_of(&e))?;
            // The SDK's messages name the CLI; in Python, logging in again is also `keyport.create_token()`.
            let message = e
                .to_string()
                .replace(
                    "run `keyport login` again",
                    "log in again (keyport.create_token(), or `keyport login`)",
                )
                .replace(
                    "(`keyport login` without --web)",
                    "(keyport.create_token() without method=\"browser\")",
                );
            let exc = class.call((message, e.http_status()), Some(&kwargs))?;
            Ok(PyErr::from_value(exc))
        };
        build().unwrap_or_else(|import_failed| import_failed)
    })
}

/// Runs a fallible synchronous SDK call, converting its error.
pub(crate) fn sync<T>(result: keyport_client::Result<T>) -> PyResult<T> {
    result.map_err(py_err)
}

#[pymodule]
fn _keyport(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "DEFAULT_EXPIRY_MARGIN_SECONDS",
        keyport_client::DEFAULT_EXPIRY_MARGIN.as_secs(),
    )?;
    state::register(m)?;
    token::register(m)?;
    admin::register(m)?;
    handlers::register(m)?;
    auth::register(m)?;
    web::register(m)?;
    Ok(())
}
