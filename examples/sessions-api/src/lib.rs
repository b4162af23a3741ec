//! An example platform API protected by keyport: training sessions that can be created, started, read,
//! cancelled and deleted, with the scopes of seed 002.
//!
//! | call | scope |
//! |---|---|
//! | `POST /sessions` | `create_session` |
//! | `POST /sessions/{id}/start` | `start_session`, own sessions only |
//! | `GET /sessions/{id}`, `GET /sessions` | `read_user_session` (own) or `read_all_session` (any) |
//! | `POST /sessions/{id}/cancel` | `cancel_user_session`, own sessions only |
//! | `DELETE /sessions/{id}` | `delete_user_session`, own sessions only |
//! | `GET /authorization_test` | any valid token: the caller's name, id, roles and scopes |
//!
//! Sessions live in memory: this is an example of authorisation, not of storage.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use keyport_verifier::{Caller, Forbidden, Verifier};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub name: String,
    /// The user id of the creator.
    pub owner: String,
    /// `created`, `running` or `cancelled`.
    pub state: String,
}

#[derive(Default, Deserialize)]
struct NewSession {
    #[serde(default)]
    name: String,
}

type Sessions = Arc<Mutex<BTreeMap<String, Session>>>;

/// Everything that can go wrong in a handler.
enum Error {
    Forbidden(Forbidden),
    NotFound,
}

impl From<Forbidden> for Error {
    fn from(f: Forbidden) -> Error {
        Error::Forbidden(f)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match self {
            Error::Forbidden(f) => f.into_response(),
            Error::NotFound => (
                StatusCode::NOT_FOUND,
                Json(serde_json::json!({"error": "not_found", "error_description": "no such session"})),
            )
                .into_response(),
        }
    }
}

fn find(sessions: &Sessions, id: &str) -> Result<Session, Error> {
    sessions
        .lock()
        .unwrap()
        .get(id)
        .cloned()
        .ok_or(Error::NotFound)
}

async fn create(
    State(sessions): State<Sessions>,
    caller: Caller,
    body: Option<Json<NewSession>>,
) -> Result<(StatusCode, Json<Session>), Error> {
    caller.require_scope("create_session")?;
    let session = Session {
        id: uuid::Uuid::new_v4().simple().to_string(),
        name: body.map(|b| b.0.name).unwrap_or_default(),
        owner: caller.user_id.clone(),
        state: "created".into(),
    };
    sessions
        .lock()
        .unwrap()
        .insert(session.id.clone(), session.clone());
    Ok((StatusCode::CREATED, Json(session)))
}

async fn read(
    State(sessions): State<Sessions>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Session>, Error> {
    let session = find(&sessions, &id)?;
    caller.require_access(&session.owner, "read_user_session", "read_all_session")?;
    Ok(Json(session))
}

async fn list(
    State(sessions): State<Sessions>,
    caller: Caller,
) -> Result<Json<Vec<Session>>, Error> {
    if !caller.has_scope("read_all_session") {
        caller.require_scope("read_user_session")?;
    }
    let all = sessions.lock().unwrap();
    Ok(Json(
        all.values()
            .filter(|s| caller.may_access(&s.owner, "read_user_session", "read_all_session"))
            .cloned()
            .collect(),
    ))
}

fn transition(
    sessions: &Sessions,
    caller: &Caller,
    id: &str,
    scope: &str,
    state: &str,
) -> Result<Session, Error> {
    let mut all = sessions.lock().unwrap();
    let session = all.get_mut(id).ok_or(Error::NotFound)?;
    caller.require_own(&session.owner, scope)?;
    session.state = state.into();
    Ok(session.clone())
}

async fn start(
    State(sessions): State<Sessions>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Session>, Error> {
    Ok(Json(transition(
        &sessions,
        &caller,
        &id,
        "start_session",
        "running",
    )?))
}

async fn cancel(
    State(sessions): State<Sessions>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Session>, Error> {
    Ok(Json(transition(
        &sessions,
        &caller,
        &id,
        "cancel_user_session",
        "cancelled",
    )?))
}

async fn delete(
    State(sessions): State<Sessions>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Error> {
    let mut all = sessions.lock().unwrap();
    let session = all.get(&id).ok_or(Error::NotFound)?;
    caller.require_own(&session.owner, "delete_user_session")?;
    all.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// Who is calling: name, id, roles, scopes and token id (the `authorization_test` endpoint).
async fn authorization_test(caller: Caller) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "name": caller.username,
        "user_id": caller.user_id,
        "email": caller.email,
        "roles": caller.roles,
        "scopes": caller.scopes,
        "token_id": caller.token_id,
    }))
}

/// The API, every route behind the verifier.
pub fn app(verifier: &Verifier) -> Router {
    let sessions: Sessions = Arc::default();
    Router::new()
        .route("/sessions", post(create).get(list))
        .route("/sessions/{id}", get(read).delete(delete))
        .route("/sessions/{id}/start", post(start))
        .route("/sessions/{id}/cancel", post(cancel))
        .route("/authorization_test", get(authorization_test))
        .layer(verifier.layer())
        .with_state(sessions)
}
