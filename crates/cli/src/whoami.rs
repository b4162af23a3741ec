//! `keyport whoami`: who the stored token belongs to, asked of the server.

use clap::Args;
use keyport_client::current_user;

use crate::common::{ProfileArgs, load_token};

/// Arguments of `keyport whoami`.
#[derive(Args, Debug)]
pub struct WhoamiArgs {
    #[command(flatten)]
    profile: ProfileArgs,
}

/// Runs `keyport whoami`: the username on the first line, then email and roles.
pub async fn run(args: WhoamiArgs) -> anyhow::Result<()> {
    let token = load_token(&args.profile.profile)?;
    let user = current_user(&token, None).await?;
    println!("{}", user.name);
    if let Some(email) = &user.email {
        println!("email: {email}");
    }
    if !user.roles.is_empty() {
        println!("roles: {}", user.roles.join(", "));
    }
    Ok(())
}
