//! `keyport logout`: end the session on the server and delete the stored token.

use clap::Args;
use keyport_client::{Error, logout_token};

use crate::common::{ProfileArgs, load_token, token_path};

/// Arguments of `keyport logout`.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    #[command(flatten)]
    profile: ProfileArgs,
}

/// Runs `keyport logout`. A session the server already ended counts as logged out.
pub async fn run(args: LogoutArgs) -> anyhow::Result<()> {
    let profile = &args.profile.profile;
    let token = load_token(profile)?;
    let result = logout_token(&token).await;
    std::fs::remove_file(token_path(profile)?).ok();
    match result {
        Ok(()) | Err(Error::Refresh { .. }) => {
            println!("Logged out (profile {profile}).");
            Ok(())
        }
        Err(e) => anyhow::bail!(
            "the local token was deleted, but the server could not end the session ({e}); it ends when the token expires"
        ),
    }
}
