//! The request floor of bench/run.sh: a bare axum server that answers every request but `POST /sign` with the
//! same 14-byte JSON body, on the runtime keyport serves with (`tokio::runtime::Runtime::new()`, `axum::serve`
//! with connect info). What it spends per request is what any HTTP/1.1 request over loopback costs on the machine
//! of the run: the table states keyport's figures as this floor plus the work above it.
//!
//! `POST /sign` is the floor of a token request instead: it signs the claims of a client-credentials access token
//! with `KeySet::sign` (ES256), as keyport does, and answers with keyport's own token response writer. So a token
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
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use keyport_proto::oauth::TokenResponse;
use keyport_server::config::SigningAlg;
use keyport_server::http::no_store_token;
use keyport_server::keys::KeySet;

const BODY: &str = r#"{"floor":true}"#;

async fn answer() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

/// One ES256 signature of a client-credentials token's claims (`keyport_bench::client_credential_claims`, the
/// claims `benches/crypto.rs` signs), answered as keyport answers a token request (`http::no_store_token`: the
/// same JSON writer and headers).
async fn sign(State(keys): State<Arc<KeySet>>) -> Response {
    let claims = keyport_bench::client_credential_claims(
        "http://127.0.0.1:18090/realms/bench",
        1_800_000_000,
    );
    no_store_token(&TokenResponse {
        access_token: keys.sign(SigningAlg::ES256, &claims).into(),
        token_type: "Bearer".into(),
        expires_in: 300,
        refresh_token: None,
        refresh_expires_in: 0,
        scope: claims.scope,
        id_token: None,
        session_state: None,
        not_before_policy: 0,
    })
}

fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18092".into())
        .parse()
        .expect("usage: floor ADDR (host:port)");
    let keys = Arc::new(keyport_bench::fresh_keys());
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
