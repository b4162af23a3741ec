//! A bot: client id from the environment, client secret from `secret.toml` (AIoD's bot flow).
//!
//! ```sh
//! echo 'client_secret = "…"' > secret.toml && chmod 600 secret.toml
//! KEYPORT_SERVER_URL=http://127.0.0.1:8080 KEYPORT_REALM=aiod KEYPORT_CLIENT_ID=pipeline-bot \
//!     cargo run -p keyport-client --example bot -- secret.toml
//! ```

use keyport_client::{AuthorizedClient, Client, Config, Token};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), keyport_client::Error> {
    let secret_file = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "secret.toml".into());
    let client = Client::new(Config::load()?)?;
    let token = Token::from_file(&client, &secret_file)?;
    let userinfo = client
        .endpoints()
        .await?
        .userinfo_endpoint
        .clone()
        .unwrap_or_default();
    let api = AuthorizedClient::new(token);
    let resp = api.send(api.get(userinfo)).await?;
    println!("userinfo answered {}", resp.status());
    Ok(())
}
