//! Running the server: open the store, apply the configuration, bind, serve until shut down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::serve::ListenerExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Config;
use crate::setup::{self, Report, SetupError};
use crate::state::{AppState, Inner, Realm};
use crate::store::{PgSettings, PgStore, SqliteStore, Store, StoreError};
use crate::tls::{Tls, TlsError, TlsListener};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot open the SQLite database in {dir}: {source}")]
    Sqlite { dir: String, source: StoreError },
    #[error(
        "{source}. Check that PostgreSQL is running and reachable, and that the URL, user, password and database name are right"
    )]
    Postgres { source: StoreError },
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// A server that has started: it listens, and serves until [`Running::shutdown`] or the task ends.
pub struct Running {
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served when `server.metrics_listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    /// `{public_url}`: where the server says it lives.
    pub public_url: String,
    pub state: AppState,
    pub report: Report,
    /// The certificate and key when the listener speaks TLS ([`Tls::reload`] rereads them).
    pub tls: Option<Tls>,
    shutdown: Option<watch::Sender<bool>>,
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

    /// Stops accepting connections, waits for in-flight requests (at most `server.shutdown_timeout`), then
    /// writes the buffered API-token uses.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
        self.task.await.unwrap_or(Ok(()))
    }

    /// Serves until the process gets Ctrl-C or SIGTERM.
    pub async fn until_signal(self) -> std::io::Result<()> {
        self.until(shutdown_signal()).await
    }

    /// Serves until `signal` (from [`shutdown_signal`]) completes, then shuts down gracefully.
    pub async fn until(self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        signal.await;
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

/// Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the future is first polled: call
/// it before announcing the server, so that a signal sent right after the announcement stops it gracefully
/// instead of killing it.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! { _ = wait(interrupt) => {}, _ = wait(terminate) => {} }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
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
    let metrics_listener = match &config.server.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|source| StartError::Bind {
                    addr: addr.clone(),
                    source,
                })?,
        ),
        None => None,
    };
    let metrics_addr = match &metrics_listener {
        Some(l) => Some(l.local_addr().map_err(|source| StartError::Bind {
            addr: config.server.metrics_listen.clone().unwrap_or_default(),
            source,
        })?),
        None => None,
    };
    // The files are read before the database is touched: a bad certificate changes nothing.
    let tls = Tls::from_config(&config.server, clock.now())?;
    let store = open_store(&config).await?;
    let now = clock.now();
    let realm_configs = setup::realms_with_master(&config);
    let report = setup::apply(store.as_ref(), &config, &realm_configs, now).await?;
    let kek = crate::key_encryption::Kek::from_config(&config.server)
        .map_err(|(key, message)| SetupError::Secret { key, message })?;
    let keys = setup::keys(store.as_ref(), now, kek.as_ref()).await?;
    let public_url = config.server.public_url.clone().unwrap_or_else(|| {
        let scheme = if tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{addr}")
    });
    let federation = crate::domain::federation::Upstreams::new(&realm_configs).map_err(|e| {
        SetupError::Secret {
            key: e.key,
            message: e.message,
        }
    })?;
    let realms: HashMap<String, Realm> = realm_configs
        .into_iter()
        .map(|r| {
            (
                r.name.clone(),
                Realm::new(r, &public_url, &config.server.base_path),
            )
        })
        .collect();
    let limits = crate::rate_limit::Limiters::new(realms.values().map(|r| &r.config), &clock);
    let state = AppState(Arc::new(Inner {
        settings: config.server.clone(),
        public_url: public_url.clone(),
        realms,
        store: store.clone(),
        keys: crate::keys::KeyRing::new(keys, kek),
        clock,
        caches: Default::default(),
        usage: Default::default(),
        refresh: crate::store::RefreshQueues::start(store.clone()),
        federation,
        metrics: Default::default(),
        trusted_proxies: config
            .server
            .trusted_proxies
            .iter()
            .filter_map(|c| crate::http::client_ip::parse_cidr(c))
            .collect(),
        limits,
        device_polls: crate::domain::device_code::PollGate::new(
            config.server.device_polls_in_flight,
        ),
        failed_tokens: Default::default(),
    }));
    let app =
        crate::http::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = watch::channel(false);
    let serve: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> = match &tls {
        Some(tls) => {
            let listener = tls.listen(listener).map_err(|source| StartError::Bind {
                addr: config.server.listen.clone(),
                source,
            })?;
            Box::pin(serve_tls_until(listener, app, stopped.clone()))
        }
        None => Box::pin(serve_until(listener, app, stopped.clone())),
    };
    let metrics_task = metrics_listener.map(|listener| {
        tokio::spawn(serve_until(
            listener,
            crate::http::metrics_router(state.clone())
                .into_make_service_with_connect_info::<SocketAddr>(),
            stopped.clone(),
        ))
    });
    let housekeeping = tokio::spawn(housekeeping(state.clone()));
    let usage = tokio::spawn({
        let state = state.clone();
        async move { state.usage.run(state.store.as_ref()).await }
    });
    let changes = tokio::spawn({
        let state = state.clone();
        let store = state.store.clone();
        async move {
            let on_change = Box::new(move || state.caches.invalidate());
            store.watch_changes(on_change).await
        }
    });
    let flush_state = state.clone();
    let grace = config.server.shutdown_timeout;
    let task = tokio::spawn(async move {
        let mut signalled = stopped.clone();
        let deadline = async move {
            let _ = signalled.wait_for(|stop| *stop).await;
            tokio::time::sleep(grace).await;
        };
        let served = tokio::select! {
            served = serve => served,
            () = deadline => {
                tracing::warn!(
                    timeout = ?grace,
                    "requests still in flight after server.shutdown_timeout; closing their connections"
                );
                Ok(())
            }
        };
        if let Some(task) = metrics_task {
            task.abort();
        }
        housekeeping.abort();
        changes.abort();
        // Stopped, not aborted: a write under way finishes (aborted, it would lose the batch it took).
        flush_state.usage.stop();
        let _ = usage.await;
        if let Err(e) = flush_state.usage.flush(&flush_state.store).await {
            tracing::warn!(error = %e, "API-token uses could not be written at shutdown");
        }
        if let Err(e) = crate::domain::audit::write_failure_summaries(&flush_state, true).await {
            tracing::warn!(error = %e, "failed API-token summaries could not be written at shutdown");
        }
        served
    });
    Ok(Running {
        addr,
        metrics_addr,
        public_url,
        state,
        report,
        tls,
        shutdown: Some(stop),
        task,
    })
}

/// Serves `app` on `listener` until `stop` turns true, then stops accepting and lets the open connections finish
/// their requests (idle keep-alive connections are closed at once).
async fn serve_until(
    listener: TcpListener,
    make_service: IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    axum::serve(listener, make_service)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await
}

/// [`serve_until`] over TLS. The listener is wrapped in axum's `TapIo` (doing nothing) only because axum gives
/// `ConnectInfo<SocketAddr>` — the client address the handlers read — to a `TapIo` over any listener.
async fn serve_tls_until(
    listener: TlsListener,
    make_service: IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    fn untouched(_: &mut tokio_rustls::server::TlsStream<TcpStream>) {}
    let listener = listener.tap_io(untouched as fn(&mut _));
    axum::serve(listener, make_service)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stop| *stop).await;
        })
        .await
}

/// Opens the configured store and brings its schema up to date.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    let s = &config.server;
    Ok(match &s.database_url {
        Some(url) => {
            let settings = PgSettings {
                url: url.clone(),
                max_connections: s.database_max_connections,
                acquire_timeout: s.database_acquire_timeout,
                statement_timeout: s.database_statement_timeout,
            };
            Arc::new(
                PgStore::connect(&settings)
                    .await
                    .map_err(|source| StartError::Postgres { source })?,
            )
        }
        None => {
            Arc::new(
                SqliteStore::open(&s.data_dir)
                    .await
                    .map_err(|source| StartError::Sqlite {
                        dir: s.data_dir.display().to_string(),
                        source,
                    })?,
            )
        }
    })
}

/// How often a replica reloads the signing keys (the bound on how long it keeps signing with a rotated-out key).
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// Rotates the signing keys when due and reloads them every minute; deletes expired rows and ended login
/// sessions every ten minutes.
async fn housekeeping(state: AppState) {
    let mut tick = tokio::time::interval(KEY_RELOAD_INTERVAL);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        if let Err(e) = crate::domain::audit::write_failure_summaries(&state, false).await {
            tracing::warn!(error = %e, "writing the summary of failed API tokens failed");
        }
        if let Err(e) = setup::scheduled_rotation(&state).await {
            tracing::warn!(error = %e, "scheduled key rotation failed");
        }
        if ticks > 1
            && let Err(e) = state.keys.reload(state.store.as_ref()).await
        {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        if ticks % 10 != 1 {
            continue;
        }
        match crate::domain::tokens::purge(&state).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged expired rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging expired rows failed"),
        }
        match crate::domain::audit::purge(&state).await {
            Ok(n) if n > 0 => tracing::debug!(rows = n, "purged old audit entries"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purging old audit entries failed"),
        }
    }
}
