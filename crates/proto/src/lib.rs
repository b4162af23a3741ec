//! Wire types shared by the keyport server and its client SDK.
//!
//! Everything here is (de)serialised exactly as it appears on the wire, in the shapes Keycloak and the OAuth RFCs
//! use. Internal types of the server convert to and from these at the HTTP edge, so the JSON does not move when
//! internals change. This crate depends on serde only: no web framework, no database, no HTTP client.

pub mod admin;
pub mod error;
pub mod oauth;
pub mod secret;
pub mod user_code;

pub use error::{ErrorBody, ErrorCode};
pub use secret::{Secret, constant_time_eq};
