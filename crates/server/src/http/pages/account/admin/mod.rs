//! The administrators' pages of the portal (portal-admin replaces this stub): `NAV` lists them for the layout,
//! `router()` serves them under `{base}/realms/{realm}/account/admin/…`.

use axum::Router;

use crate::state::AppState;

/// The admin entries of the nav: label and path after `/account/admin`. Shown only to administrators.
pub const NAV: &[(&str, &str)] = &[
    ("Token Management", "/tokens"),
    ("Users", "/users"),
    ("Clients", "/clients"),
    ("Audit", "/audit"),
];

pub fn router() -> Router<AppState> {
    Router::new()
}
