//! The request floor of bench/run.sh: a bare axum server that answers every request with the same 14-byte JSON
//! body, on the runtime keyport serves with (`tokio::runtime::Runtime::new()`, `axum::serve` with connect info).
//! What it spends per request is what any HTTP/1.1 request over loopback costs on the machine of the run: the
//! table states keyport's figures as this floor plus the work above it.
//!
//! Usage: `floor ADDR` (e.g. `127.0.0.1:18092`); prints `floor listening on ADDR` once it accepts connections.

use std::net::SocketAddr;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::any;

const BODY: &str = r#"{"floor":true}"#;

async fn answer() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], BODY)
}

fn main() {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18092".into())
        .parse()
        .expect("usage: floor ADDR (host:port)");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        println!(
            "floor listening on {}",
            listener.local_addr().expect("address")
        );
        let app = Router::new().fallback(any(answer));
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
}
