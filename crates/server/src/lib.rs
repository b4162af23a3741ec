//! The keyport server: a Keycloak-compatible OAuth 2.0 / OpenID Connect server.
//!
//! Layers, outermost first: [`http`] (routes, pages, status codes) → [`domain`] (one module per grant; no HTTP)
//! → [`store`] (all SQL). [`server::start`] wires them; [`testing::TestServer`] runs a real one for tests.

pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod http;
pub mod keys;
pub mod server;
pub mod setup;
pub mod state;
pub mod store;
pub mod testing;
