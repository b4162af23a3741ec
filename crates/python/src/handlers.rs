//! Seed 003: Bitfount's authentication handlers over `keyport_client::handlers` (the API-key and device-flow
//! handlers; `ExternallyManagedJWTHandler` is pure Python in `keyport/handlers.py`, since its hook is Python).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use keyport_client::LoginOptions;
use keyport_client::handlers::{
    ApiKeysHandler, AuthenticationHandler, DEFAULT_USERNAME, DeviceCodeFlowHandler, Service,
};
use pyo3::prelude::*;

use crate::token::header_dict;
use crate::{state, sync, wait};

/// Login options whose instructions are printed by Python's `print` (so they reach a notebook's output, not
/// only the process's stdout), with `timeout_seconds`.
pub(crate) fn python_login_options(timeout_seconds: u64) -> LoginOptions {
    let timeout = Duration::from_secs(timeout_seconds.max(1));
    LoginOptions::default()
        .timeout_seconds(timeout_seconds.max(1))
        .use_in_requests(false)
        .print_instructions(false)
        .on_instructions(move |pending| {
            let text = pending.instructions(timeout);
            Python::attach(|py| {
                let printed = py
                    .import("keyport._print")
                    .and_then(|m| m.call_method1("show", (text,)));
                if let Err(e) = printed {
                    e.print(py);
                }
            });
        })
}

fn any_handler(
    py: Python<'_>,
    handler: Arc<dyn AuthenticationHandler>,
    service: Service,
) -> PyResult<HashMap<String, String>> {
    let headers = wait(py, async move { handler.request_headers(service).await })?;
    Ok(header_dict(&headers))
}

fn metadata(
    py: Python<'_>,
    handler: Arc<dyn AuthenticationHandler>,
) -> PyResult<Vec<(String, String)>> {
    wait(py, async move { handler.metadata().await })
}

/// API keys: valid from creation; hub requests carry `X-API-Key-ID`/`X-API-Key`, access-manager requests
/// `Authorization: APIKey <id>:<key>`.
#[pyclass(module = "keyport._keyport", name = "ApiKeysHandler", frozen)]
pub struct PyApiKeysHandler {
    inner: Arc<ApiKeysHandler>,
}

#[pymethods]
impl PyApiKeysHandler {
    #[new]
    fn new(api_key_id: String, api_key: String, username: String) -> Self {
        PyApiKeysHandler {
            inner: Arc::new(ApiKeysHandler::new(api_key_id, api_key, username)),
        }
    }
    fn authenticate(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.inner.clone();
        wait(py, async move { h.authenticate().await })
    }
    #[getter]
    fn authenticated(&self) -> bool {
        self.inner.authenticated()
    }
    #[getter]
    fn username(&self) -> String {
        self.inner.username()
    }
    #[getter]
    fn hub_request_headers(&self, py: Python<'_>) -> PyResult<HashMap<String, String>> {
        any_handler(py, self.inner.clone(), Service::Hub)
    }
    #[getter]
    fn am_request_headers(&self, py: Python<'_>) -> PyResult<HashMap<String, String>> {
        any_handler(py, self.inner.clone(), Service::AccessManager)
    }
    #[getter]
    fn message_service_request_metadata(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        metadata(py, self.inner.clone())
    }
    fn __repr__(&self) -> String {
        format!("APIKeysHandler(username={:?})", self.inner.username())
    }
}

/// A person logs in with the device flow once; the token is kept in `<token_dir>/<username>.toml` (0600).
#[pyclass(module = "keyport._keyport", name = "DeviceCodeFlowHandler", frozen)]
pub struct PyDeviceCodeFlowHandler {
    inner: Arc<DeviceCodeFlowHandler>,
}

#[pymethods]
impl PyDeviceCodeFlowHandler {
    #[new]
    #[pyo3(signature = (auth_domain=None, client_id=None, scopes=None, audience=None, username=DEFAULT_USERNAME.to_owned(), *, token_dir=None, timeout_seconds=300))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        auth_domain: Option<String>,
        client_id: Option<String>,
        scopes: Option<String>,
        audience: Option<String>,
        username: String,
        token_dir: Option<PathBuf>,
        timeout_seconds: u64,
    ) -> PyResult<Self> {
        let mut config = sync(state::config())?;
        if let Some(domain) = auth_domain {
            config.issuer = Some(if domain.contains("://") {
                domain
            } else {
                format!("https://{domain}")
            });
        }
        if let Some(id) = client_id {
            config.client_id = id;
        }
        if audience.is_some() {
            config.audience = audience;
        }
        let explicit_scopes = scopes.is_some();
        if let Some(s) = scopes {
            config.scope = s;
        }
        let mut handler = if explicit_scopes {
            // `new` would replace the SDK's default scope; scopes given here are kept as they are.
            let client = sync(keyport_client::Client::new(config))?;
            sync(DeviceCodeFlowHandler::with_client(client, username))?
        } else {
            sync(DeviceCodeFlowHandler::new(config, username))?
        };
        handler = handler.login_options(python_login_options(timeout_seconds));
        if let Some(dir) = token_dir {
            handler = handler.token_dir(dir);
        }
        Ok(PyDeviceCodeFlowHandler {
            inner: Arc::new(handler),
        })
    }
    fn authenticate(&self, py: Python<'_>) -> PyResult<()> {
        let h = self.inner.clone();
        wait(py, async move { h.authenticate().await })
    }
    #[getter]
    fn authenticated(&self) -> bool {
        self.inner.authenticated()
    }
    #[getter]
    fn username(&self) -> String {
        self.inner.username()
    }
    #[getter]
    fn token_file(&self) -> PathBuf {
        self.inner.token_file()
    }
    #[getter]
    fn hub_request_headers(&self, py: Python<'_>) -> PyResult<HashMap<String, String>> {
        any_handler(py, self.inner.clone(), Service::Hub)
    }
    #[getter]
    fn am_request_headers(&self, py: Python<'_>) -> PyResult<HashMap<String, String>> {
        any_handler(py, self.inner.clone(), Service::AccessManager)
    }
    #[getter]
    fn message_service_request_metadata(&self, py: Python<'_>) -> PyResult<Vec<(String, String)>> {
        metadata(py, self.inner.clone())
    }
    fn __repr__(&self) -> String {
        format!(
            "DeviceCodeFlowHandler(username={:?}, token_file={:?})",
            self.inner.username(),
            self.inner.token_file().display().to_string()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyApiKeysHandler>()?;
    m.add_class::<PyDeviceCodeFlowHandler>()?;
    Ok(())
}
