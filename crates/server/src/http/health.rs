//! `GET /health/live` (the process answers) and `GET /health/ready` (the database answers too).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "UP"}))
}

async fn ready(State(app): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    match app.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "UP"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "DOWN", "checks": [{"name": "database", "status": "DOWN"}]})),
            )
        }
    }
}
