//! Runs the example sessions API.
//!
//! ```text
//! KEYPORT_ISSUER=http://127.0.0.1:8080/realms/aiod \
//! KEYPORT_CLIENT_ID=resource-server KEYPORT_CLIENT_SECRET=... \
//! cargo run -p keyport-example-sessions-api -- 127.0.0.1:9000
//! ```

use keyport_verifier::{Config, Verifier};

#[tokio::main]
async fn main() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("set {name}"));
    let verifier = Verifier::new(Config::new(
        &var("KEYPORT_ISSUER"),
        &var("KEYPORT_CLIENT_ID"),
        var("KEYPORT_CLIENT_SECRET"),
    ));
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9000".into());
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    println!(
        "sessions API listening on http://{}",
        listener.local_addr().unwrap()
    );
    axum::serve(listener, keyport_example_sessions_api::app(&verifier))
        .await
        .expect("serve");
}
