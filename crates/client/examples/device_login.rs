//! Log a person in with the device flow and print who they are (AIoD's `create_token` + `get_current_user`).
//!
//! ```sh
//! KEYPORT_SERVER_URL=http://127.0.0.1:8080 KEYPORT_REALM=master KEYPORT_CLIENT_ID=keyport-cli \
//!     cargo run -p keyport-client --example device_login
//! ```

use keyport_client::{LoginOptions, default_token_path};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), keyport_client::Error> {
    let options = LoginOptions::default()
        .timeout_seconds(300)
        .write_to_file(default_token_path()?);
    let token = keyport_client::create_token(options).await?;
    let user = keyport_client::get_current_user().await?;
    println!("Hello {} (roles: {})", user.name, user.roles.join(", "));
    println!(
        "Your token is saved in {}",
        token.file().unwrap_or_default().display()
    );
    Ok(())
}
