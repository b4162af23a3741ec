//! The keyport server: a Keycloak-compatible OAuth 2.0 / OpenID Connect server.
//!
//! Layers, outermost first: [`http`] (routes, pages, status codes) → [`domain`] (one module per grant; no HTTP)
//! → [`store`] (all SQL). [`server::start`] wires them.
//!
//! Tests: `pub struct TestServer` is in crates/testkit (`keyport_testkit::TestServer::start(toml)`: a real server
//! on 127.0.0.1:0 with a temp SQLite file and a fake clock), with `keyport_testkit::Browser::approve_device` to
//! approve a device login through the HTML pages as a browser does.

pub mod cache;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod key_encryption;
pub mod keys;
pub mod logging;
pub mod metrics;
pub mod rate_limit;
pub mod server;
pub mod setup;
pub mod state;
pub mod store;
pub mod tls;
pub mod usage;
