//! Auth types and fetchers (Wallaroo's shape): `create(server, auth_type)` and a request with it.
//!
//! ```sh
//! KEYPORT_SERVER_URL=http://127.0.0.1:8080 KEYPORT_USERNAME=alice KEYPORT_PASSWORD=… \
//!     cargo run -p keyport-client --example auth_types -- user_password
//! ```

use keyport_client::AuthorizedClient;
use keyport_client::auth::{self, AuthType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), keyport_client::Error> {
    let auth_type: AuthType = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sso".into())
        .parse()?;
    let client = keyport_client::client()?;
    let userinfo = client
        .endpoints()
        .await?
        .userinfo_endpoint
        .clone()
        .unwrap_or_default();
    let api = AuthorizedClient::new(auth::create(&client, auth_type)?);
    let resp = api.send(api.get(userinfo)).await?;
    println!("{auth_type}: userinfo answered {}", resp.status());
    if std::env::var_os("LOGOUT").is_some() {
        auth::logout()?; // forget every cached credential
    }
    Ok(())
}
