//! `keyport token`: a fresh access token on stdout, for `curl -H "Authorization: Bearer $(keyport token)"`.

use clap::Args;

use crate::common::{ProfileArgs, load_token};

/// Arguments of `keyport token`.
#[derive(Args, Debug)]
pub struct TokenArgs {
    #[command(flatten)]
    profile: ProfileArgs,
}

/// Runs `keyport token`, refreshing (and saving the rotated refresh token) when needed.
pub async fn run(args: TokenArgs) -> anyhow::Result<()> {
    let token = load_token(&args.profile.profile)?;
    let access = token.access_token().await?;
    println!("{}", access.secret());
    Ok(())
}
