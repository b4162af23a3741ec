//! Built-in TLS: the certificate chain and key of `server.tls_cert_file` / `server.tls_key_file`, reloaded on
//! SIGHUP, and a listener that does the handshakes beside the accept loop and offers HTTP/2 and HTTP/1.1 by ALPN.
//!
//! rustls with the aws-lc-rs provider, the one reqwest (and so the whole build) already uses; the provider is
//! passed explicitly, so no process-wide default is installed. The handshake certificate comes from
//! [`Current`], read at every handshake: a reload replaces it for new connections, and connections already
//! open keep their session.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate expiring sooner than this is logged at every load and reported by `keyport doctor`.
pub const EXPIRY_WARNING_SECS: i64 = 14 * 86400;

/// Why the certificate or the key cannot be used; `key` is the configuration key of the file at fault.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {message}")]
pub struct TlsError {
    pub key: &'static str,
    pub message: String,
}

const CERT_KEY: &str = "server.tls_cert_file";
const KEY_KEY: &str = "server.tls_key_file";

fn error(key: &'static str, message: impl Into<String>) -> TlsError {
    TlsError {
        key,
        message: message.into(),
    }
}

/// A certificate chain and its key, parsed and checked against each other.
pub struct Loaded {
    certified: Arc<CertifiedKey>,
    /// The server certificate's `notAfter`, in Unix seconds.
    pub not_after: i64,
}

/// Reads and checks the two PEM files: at least one certificate (the server's first), a private key the
/// provider can sign with, and that key matching the first certificate.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<Loaded, TlsError> {
    let cert_pem = read(CERT_KEY, cert_file)?;
    let key_pem = read(KEY_KEY, key_file)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            error(
                CERT_KEY,
                format!("{}: not a PEM file: {e}", cert_file.display()),
            )
        })?;
    let Some(leaf) = chain.first() else {
        return Err(error(
            CERT_KEY,
            format!(
                "{}: no `BEGIN CERTIFICATE` block; give the PEM certificate chain, server certificate first",
                cert_file.display()
            ),
        ));
    };
    let not_after =
        not_after(leaf).map_err(|e| error(CERT_KEY, format!("{}: {e}", cert_file.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        error(
            KEY_KEY,
            format!(
                "{}: no private key ({e}); give a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`",
                key_file.display()
            ),
        )
    })?;
    let provider = aws_lc_rs::default_provider();
    let signing = provider.key_provider.load_private_key(key).map_err(|e| {
        error(
            KEY_KEY,
            format!("{}: unusable private key: {e}", key_file.display()),
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            return Err(error(
                KEY_KEY,
                format!(
                    "{} is not the key of the certificate in {}; give the matching pair",
                    key_file.display(),
                    cert_file.display()
                ),
            ));
        }
        Err(e) => {
            return Err(error(
                CERT_KEY,
                format!("{}: unusable certificate: {e}", cert_file.display()),
            ));
        }
    }
    Ok(Loaded {
        certified: Arc::new(certified),
        not_after,
    })
}

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| error(key, format!("cannot read {}: {e}", path.display())))
}

/// The `notAfter` of a DER certificate, in Unix seconds.
fn not_after(cert: &CertificateDer<'_>) -> Result<i64, String> {
    use x509_cert::der::Decode;
    let parsed = x509_cert::Certificate::from_der(cert.as_ref())
        .map_err(|e| format!("the first certificate does not parse: {e}"))?;
    let secs = parsed
        .tbs_certificate
        .validity
        .not_after
        .to_unix_duration()
        .as_secs();
    Ok(i64::try_from(secs).unwrap_or(i64::MAX))
}

/// `2027-03-01T12:00:00Z`.
fn date(unix: i64) -> String {
    let secs = Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + secs).to_string()
}

impl Loaded {
    /// Logs where the certificate stands: info, or a warning when it expires within [`EXPIRY_WARNING_SECS`], or
    /// an error once it has expired.
    fn log(&self, what: &str, now: i64) {
        let not_after = date(self.not_after);
        if self.not_after <= now {
            tracing::error!(%not_after, "{what}: the TLS certificate has expired; clients refuse it: renew it");
        } else if self.not_after - now < EXPIRY_WARNING_SECS {
            tracing::warn!(%not_after, "{what}: the TLS certificate expires soon: renew it, then send SIGHUP");
        } else {
            tracing::info!(%not_after, "{what}");
        }
    }
}

/// The certificate every new handshake gets.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        )
    }
}

/// The TLS side of the listener: the files, the certificate served now, the rustls configuration.
#[derive(Clone)]
pub struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// Loads the files named by `server.tls_cert_file` / `server.tls_key_file`; `None` when TLS is off.
    pub fn from_config(s: &crate::config::ServerConfig, now: i64) -> Result<Option<Tls>, TlsError> {
        let (Some(cert_file), Some(key_file)) = (&s.tls_cert_file, &s.tls_key_file) else {
            return Ok(None);
        };
        let loaded = load(cert_file, key_file)?;
        loaded.log("TLS certificate loaded", now);
        let current = Arc::new(Current(RwLock::new(loaded.certified)));
        let mut config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| error(CERT_KEY, e.to_string()))?
                .with_no_client_auth()
                .with_cert_resolver(current.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Some(Tls {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        }))
    }

    /// Reads the files again: new handshakes get the new certificate, open connections are not touched. On
    /// any error the certificate served stays the previous one.
    pub fn reload(&self, now: i64) -> Result<(), TlsError> {
        let loaded = load(&self.cert_file, &self.key_file)?;
        loaded.log("TLS certificate reloaded", now);
        *self
            .current
            .0
            .write()
            .unwrap_or_else(PoisonError::into_inner) = loaded.certified;
        Ok(())
    }

    /// Starts accepting TLS connections on `tcp`.
    pub fn listen(&self, tcp: TcpListener) -> std::io::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let (tx, incoming) = mpsc::channel(64);
        let acceptor = tokio::spawn(accept_loop(tcp, self.acceptor.clone(), tx));
        Ok(TlsListener {
            incoming,
            local_addr,
            acceptor,
        })
    }
}

/// Reloads the certificate and key on every SIGHUP, logging the outcome (a bad file is logged, never fatal).
/// The handler is installed when this is called: call it before announcing the server.
#[cfg(unix)]
pub fn reload_on_sighup(
    tls: Tls,
    clock: Arc<dyn crate::clock::Clock>,
) -> std::io::Result<JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            if let Err(e) = tls.reload(clock.now()) {
                tracing::error!(error = %e, "TLS certificate not reloaded; still serving the previous one");
            }
        }
    }))
}

/// The accepted TLS connections, for `axum::serve`. Dropping it (graceful shutdown does) stops accepting:
/// the TCP listener is closed, so new connections are refused.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
    acceptor: JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(conn) => conn,
            // The accept loop ended (it only does when aborted): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local_addr)
    }
}

/// Accepts TCP connections and runs each handshake in its own task (bounded by [`HANDSHAKE_TIMEOUT`]), so a
/// slow or silent client never holds up the others.
async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // As axum's own loop: errors of one connection are skipped; others (too many open files)
                // are waited out.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) {
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = tx.send((tls, peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// What `keyport doctor` says about the TLS settings: problems, then warnings (expiry soon).
pub fn doctor(s: &crate::config::ServerConfig, now: i64) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let (Some(cert_file), Some(key_file)) = (&s.tls_cert_file, &s.tls_key_file) else {
        return (problems, warnings);
    };
    if let Some(url) = s.public_url.as_deref().filter(|u| u.starts_with("http://")) {
        problems.push(format!(
            "server.public_url `{url}` is plain http but the server speaks TLS: set it to the https:// URL"
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(key_file)
            && meta.permissions().mode() & 0o004 != 0
        {
            problems.push(format!(
                "{KEY_KEY}: {} is readable by every user; `chmod 600` it (or 640 with the server's group)",
                key_file.display()
            ));
        }
    }
    match load(cert_file, key_file) {
        Err(e) => problems.push(e.to_string()),
        Ok(loaded) if loaded.not_after <= now => problems.push(format!(
            "{CERT_KEY}: {} expired on {}; renew it, then send SIGHUP to the server",
            cert_file.display(),
            date(loaded.not_after)
        )),
        Ok(loaded) if loaded.not_after - now < EXPIRY_WARNING_SECS => warnings.push(format!(
            "{CERT_KEY}: {} expires on {} (in {} days); renew it, then send SIGHUP to the server",
            cert_file.display(),
            date(loaded.not_after),
            (loaded.not_after - now) / 86400
        )),
        Ok(_) => {}
    }
    (problems, warnings)
}
