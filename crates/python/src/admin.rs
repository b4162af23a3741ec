//! Seed 002: the admin client (`keyport.admin.connect_to_auth_client`). Answers cross into Python as JSON text
//! (the admin API's own bodies, `keyport_proto::admin`), which `keyport/admin.py` turns into dicts.

use std::sync::Arc;

use keyport_client::admin::AuthClient;
use keyport_client::{AccessToken, Client};
use pyo3::prelude::*;
use serde_json::Value;

use crate::{state, sync, wait};

fn json<T: serde::Serialize>(value: &T) -> keyport_client::Result<String> {
    serde_json::to_string(value)
        .map_err(|e| keyport_client::Error::Config(format!("unreadable answer: {e}")))
}

/// A connection to the admin API of one realm, authenticated with one token (never shown by `repr`).
#[pyclass(module = "keyport._keyport", name = "AuthClient", frozen)]
pub struct PyAuthClient {
    inner: Arc<AuthClient>,
    client: Client,
    token: AccessToken,
    realm: String,
}

#[pymethods]
impl PyAuthClient {
    /// Connects with an administrator's API token (`kp_…`) or access token to the realm of the process-wide
    /// configuration, or of `server_url`/`realm` when given.
    #[new]
    #[pyo3(signature = (token, *, server_url=None, realm=None))]
    fn new(token: String, server_url: Option<String>, realm: Option<String>) -> PyResult<Self> {
        let mut config = sync(state::config_for(server_url))?;
        if let Some(realm) = realm {
            config.realm = realm;
            config.issuer = None;
        }
        let inner = sync(AuthClient::from_config(&config, token.clone()))?;
        Ok(PyAuthClient {
            inner: Arc::new(inner),
            realm: config.realm.clone(),
            client: sync(Client::new(config))?,
            token: AccessToken::new(token),
        })
    }

    /// The realm administered.
    #[getter]
    fn realm(&self) -> &str {
        &self.realm
    }

    /// The caller's userinfo claims (JSON): who `created by` names.
    fn whoami(&self, py: Python<'_>) -> PyResult<String> {
        let (client, token) = (self.client.clone(), self.token.clone());
        let v: Value = wait(py, async move { client.userinfo(&token).await })?;
        sync(json(&v))
    }

    fn create_user(&self, py: Python<'_>, user_name: String) -> PyResult<String> {
        let c = self.inner.clone();
        let user = wait(py, async move { c.create_user(&user_name).await })?;
        sync(json(&user))
    }

    fn delete_user(&self, py: Python<'_>, user: String) -> PyResult<()> {
        let c = self.inner.clone();
        wait(py, async move { c.delete_user(&user).await })
    }

    fn list_users(&self, py: Python<'_>, first: u32, max: u32) -> PyResult<String> {
        let c = self.inner.clone();
        let users = wait(py, async move { c.list_users(first, max).await })?;
        sync(json(&users))
    }

    #[pyo3(signature = (user_id, scopes, lifespan_days=None))]
    fn create_token(
        &self,
        py: Python<'_>,
        user_id: String,
        scopes: Vec<String>,
        lifespan_days: Option<u32>,
    ) -> PyResult<String> {
        let c = self.inner.clone();
        let created = wait(py, async move {
            c.create_token(&user_id, &scopes, lifespan_days).await
        })?;
        sync(json(&created))
    }

    #[pyo3(signature = (name, lifespan_days=None))]
    fn create_personal_token(
        &self,
        py: Python<'_>,
        name: String,
        lifespan_days: Option<u32>,
    ) -> PyResult<String> {
        let c = self.inner.clone();
        let created = wait(py, async move {
            c.create_personal_token(&name, lifespan_days).await
        })?;
        sync(json(&created))
    }

    fn token_info(&self, py: Python<'_>, token: String) -> PyResult<String> {
        let c = self.inner.clone();
        let info = wait(py, async move { c.token_info(&token).await })?;
        sync(json(&info))
    }

    fn revoke_token(&self, py: Python<'_>, token_id: String) -> PyResult<()> {
        let c = self.inner.clone();
        wait(py, async move { c.revoke_token(&token_id).await })
    }

    fn list_tokens(&self, py: Python<'_>, first: u32, max: u32) -> PyResult<String> {
        let c = self.inner.clone();
        let tokens = wait(py, async move { c.list_tokens(first, max).await })?;
        sync(json(&tokens))
    }

    fn scopes(&self, py: Python<'_>) -> PyResult<String> {
        let c = self.inner.clone();
        let scopes = wait(py, async move { c.scopes().await })?;
        sync(json(&scopes))
    }

    fn audit(&self, py: Python<'_>, query: String) -> PyResult<String> {
        let c = self.inner.clone();
        let entries = wait(py, async move { c.audit(&query).await })?;
        sync(json(&entries))
    }

    fn __repr__(&self) -> String {
        format!("AuthClient(realm={:?})", self.realm)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyAuthClient>()
}
