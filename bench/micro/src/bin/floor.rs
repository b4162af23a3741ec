//! The request floor of bench/run.sh: a bare axum server that answers every request but `POST /sign` with the
//! same 14-byte JSON body, on the runtime keyport serves with (`tokio::runtime::Runtime::new()`, `axum::serve`
//! with connect info). What it spends per request is what any HTTP/1.1 request over loopback costs on the machine
//! of the run: the table states keyport's figures as this floor plus the work above it.
//!
//! `POST /sign` is the floor of a token request instead: it signs the claims of a client-credentials access token
//! with `KeySet::sign` (ES256), as keyport does, and answers with a token response of keyport's size. So a token
//! grant's figure can be read as this floor plus what keyport does besides the HTTP request and the signature
//! (authentication, claims, the response), under the same load: a server slower than the load generator pays for
//! waking it after every response, which the 14-byte floor, faster than the generator, does not. It reads neither
//! the Basic header nor the form body, so their parsing counts in keyport's part.
//!
//! Usage: `floor ADDR` (e.g. `127.0.0.1:18092`); prints `floor listening on ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{any, post};
use keyport_server::config::SigningAlg;
use keyport_server::keys::{self, KeySet};

const BODY: &str = r#"{"floor":true}"#;

async fn answer() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

/// One ES256 signature of a client-credentials token's claims (`keyport_bench::client_credential_claims`, the
/// claims `benches/crypto.rs` signs), answered as a token response with its fields.
async fn sign(State(keys): State<Arc<KeySet>>) -> impl IntoResponse {
    let claims = keyport_bench::client_credential_claims(
        "http://127.0.0.1:18090/realms/bench",
        1_800_000_000,
    );
    let jwt = keys.sign(SigningAlg::ES256, &claims);
    let body = format!(
        r#"{{"access_token":"{jwt}","expires_in":300,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"profile email"}}"#
    );
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
}

fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18092".into())
        .parse()
        .expect("usage: floor ADDR (host:port)");
    let stored: Vec<keys::StoredKey> = KeySet::REQUIRED
        .iter()
        .map(|alg| keys::generate(*alg, 1))
        .collect();
    let keys = Arc::new(KeySet::new(&stored).expect("fresh keys load"));
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!(
            "floor listening on {}",
            listener.local_addr().expect("address")
        );
        let app = Router::new()
            .route("/sign", post(sign))
            .fallback(any(answer))
            .with_state(keys);
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
}
