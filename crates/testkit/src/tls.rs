//! Test certificates for the built-in TLS: a CA made at test time ([`TestCa`]) and the server certificates it
//! signs, plus HTTP clients that trust only that CA.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use time::{Duration, OffsetDateTime};

/// A certificate authority that exists for one test.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate (for `127.0.0.1` and `localhost`) and its key, as the PEM files keyport reads.
pub struct ServerCert {
    pub cert_pem: String,
    pub key_pem: String,
    /// The certificate (DER), to compare with what a client was shown.
    pub der: Vec<u8>,
}

impl ServerCert {
    /// Writes `cert.pem` and `key.pem` (mode 0600) into `dir`; returns their paths.
    pub fn write(&self, dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        std::fs::write(&cert, &self.cert_pem).expect("write cert.pem");
        std::fs::write(&key, &self.key_pem).expect("write key.pem");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        (cert, key)
    }
}

impl Default for TestCa {
    fn default() -> Self {
        Self::new()
    }
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params
            .distinguished_name
            .push(DnType::CommonName, "keyport test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    /// The CA certificate (PEM).
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate valid from yesterday until `days` days from now (negative: already expired).
    pub fn server_cert(&self, days: i64) -> ServerCert {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned()]).expect("server params");
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .distinguished_name
            .push(DnType::CommonName, "keyport test server");
        let now = OffsetDateTime::now_utc();
        // A day before the end when it has already ended, else yesterday.
        params.not_before = now + Duration::days(days.min(0) - 1);
        params.not_after = now + Duration::days(days);
        let key = KeyPair::generate().expect("server key");
        let cert = params.signed_by(&key, &self.issuer).expect("signed");
        ServerCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// An HTTP client builder trusting this CA only, reporting the peer certificate of each response
    /// (`reqwest::tls::TlsInfo`).
    pub fn client(&self) -> reqwest::ClientBuilder {
        let ca = reqwest::Certificate::from_pem(self.pem().as_bytes()).expect("CA PEM");
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .tls_info(true)
    }
}

impl TestCa {
    /// A raw TLS connection (HTTP/1.1 by ALPN) to `addr`, checked against this CA, for tests that write a
    /// request by hand.
    pub async fn connect(
        &self,
        addr: std::net::SocketAddr,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_slice(self.pem().as_bytes()).expect("CA PEM");
        roots.add(ca).expect("CA certificate");
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::IpAddress(addr.ip().into());
        tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
    }
}

/// The certificate (DER) the server showed on the connection that carried `response`.
pub fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    response
        .extensions()
        .get::<reqwest::tls::TlsInfo>()
        .and_then(|info| info.peer_certificate())
        .expect("a TLS connection (build the client with TestCa::client)")
        .to_vec()
}
