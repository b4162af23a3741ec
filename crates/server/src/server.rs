//! Running the server: open the store, apply the configuration, bind, serve until shut down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Config;
use crate::setup::{self, Report, SetupError};
use crate::state::{AppState, Inner, Realm};
use crate::store::{SqliteStore, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot open the database in {dir}: {source}")]
    Store { dir: String, source: StoreError },
    #[error(transparent)]
    Setup(#[from] SetupError),
}

/// A server that has started: it listens, and serves until [`Running::shutdown`] or the task ends.
pub struct Running {
    pub addr: SocketAddr,
    /// `{public_url}`: where the server says it lives.
    pub public_url: String,
    pub state: AppState,
    pub report: Report,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// The issuer URL of a realm.
    pub fn issuer(&self, realm: &str) -> String {
        format!(
            "{}{}/realms/{realm}",
            self.public_url, self.state.settings.base_path
        )
    }

    /// Stops accepting connections and waits for the open ones to finish.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap_or(Ok(()))
    }

    /// Serves until the process gets Ctrl-C or SIGTERM.
    pub async fn until_signal(self) -> std::io::Result<()> {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Opens the store, applies the configuration, binds the listener and starts serving in a task.
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<Running, StartError> {
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: config.server.listen.clone(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.server.listen.clone(),
        source,
    })?;
    let store = SqliteStore::open(&config.server.data_dir)
        .await
        .map_err(|source| StartError::Store {
            dir: config.server.data_dir.display().to_string(),
            source,
        })?;
    let store: Arc<dyn Store> = Arc::new(store);
    let now = clock.now();
    let realm_configs = setup::realms_with_master(&config);
    let report = setup::apply(store.as_ref(), &config, &realm_configs, now).await?;
    let keys = setup::keys(store.as_ref(), now).await?;
    let public_url = config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let realms: HashMap<String, Realm> = realm_configs
        .into_iter()
        .map(|r| {
            (
                r.name.clone(),
                Realm::new(r, &public_url, &config.server.base_path),
            )
        })
        .collect();
    let state = AppState(Arc::new(Inner {
        settings: config.server.clone(),
        public_url: public_url.clone(),
        realms,
        store: store.clone(),
        keys,
        clock,
    }));
    let app =
        crate::http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (tx, rx) = oneshot::channel::<()>();
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
        housekeeping.abort();
        served
    });
    Ok(Running {
        addr,
        public_url,
        state,
        report,
        shutdown: Some(tx),
        task,
    })
}

/// Deletes expired rows every ten minutes.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(600));
    loop {
        tick.tick().await;
        match state.store.purge_expired(state.now()).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
    }
}
