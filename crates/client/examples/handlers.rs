//! Authentication handlers (Bitfount's shape): the device flow with one token file per username.
//!
//! ```sh
//! KEYPORT_SERVER_URL=http://127.0.0.1:8080 cargo run -p keyport-client --example handlers -- alice
//! ```

use std::sync::Arc;

use keyport_client::handlers::{
    AuthenticationHandler, DeviceCodeFlowHandler, HandlerCredentials, Service,
};
use keyport_client::{AuthorizedClient, Config};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), keyport_client::Error> {
    let username = std::env::args().nth(1).unwrap_or_else(|| "_default".into());
    let config = Config::load()?;
    let handler = Arc::new(DeviceCodeFlowHandler::new(config, username)?);
    handler.authenticate().await?; // a device login the first time, the stored token afterwards
    println!("authenticated as {}", handler.username());
    println!(
        "gRPC metadata keys: {:?}",
        handler
            .metadata()
            .await?
            .iter()
            .map(|(k, _)| k)
            .collect::<Vec<_>>()
    );
    let _api = AuthorizedClient::new(HandlerCredentials::new(handler, Service::Hub));
    Ok(())
}
