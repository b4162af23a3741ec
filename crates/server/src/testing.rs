//! A real server for tests: an ephemeral loopback port, a SQLite file in a temporary directory, a fake clock.
//! Used by this crate's tests and by the SDK's and CLI's.

use std::sync::Arc;

use crate::clock::FakeClock;
use crate::config::{Config, Overrides};
use crate::server::{self, Running};

/// The bootstrap admin's password in every test server.
pub const ADMIN_PASSWORD: &str = "admin-test-password";

pub struct TestServer {
    pub running: Running,
    pub clock: FakeClock,
    /// `http://127.0.0.1:PORT` plus the base path: prepend to `/realms/...`.
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server from a TOML configuration (the `[server]` section may be omitted).
    pub async fn start(toml: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, toml).await
    }

    /// Starts a server on an existing data directory (to test restarts).
    pub async fn start_in(dir: tempfile::TempDir, toml: &str) -> TestServer {
        let mut config =
            Config::from_toml(toml, std::path::Path::new("test.toml")).expect("test config parses");
        config.server.listen = "127.0.0.1:0".into();
        config.server.data_dir = dir.path().join("data");
        config
            .server
            .admin_password
            .get_or_insert_with(|| ADMIN_PASSWORD.into());
        let config = Config::load(None, |_| None, Overrides::default())
            .map(|_| config)
            .expect("valid");
        let mut config = config;
        config.validate().expect("test config is valid");
        let clock = FakeClock::new();
        let running = server::start(config, Arc::new(clock.clone()))
            .await
            .expect("test server starts");
        let url = format!("{}{}", running.public_url, running.state.settings.base_path);
        TestServer {
            running,
            clock,
            url,
            dir,
        }
    }

    /// `{url}/realms/{realm}`.
    pub fn issuer(&self, realm: &str) -> String {
        self.running.issuer(realm)
    }

    /// `{issuer}/protocol/openid-connect/{path}`.
    pub fn endpoint(&self, realm: &str, path: &str) -> String {
        format!("{}/protocol/openid-connect/{path}", self.issuer(realm))
    }

    /// Stops the server and hands back its data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running.shutdown().await.expect("clean shutdown");
        self.dir
    }
}
