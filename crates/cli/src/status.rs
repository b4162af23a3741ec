//! `keyport status`: what is saved locally, per profile (no request is made).

use std::time::SystemTime;

use clap::Args;
use keyport_client::{Profiles, TokenFile};

use crate::common::{human_duration, token_path};

/// Arguments of `keyport status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Show only this profile (default: all).
    #[arg(long, env = "KEYPORT_PROFILE")]
    profile: Option<String>,
}

/// Runs `keyport status`; exits non-zero when the profile asked for (or every profile) is logged out.
pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let profiles = Profiles::load(&Profiles::default_path()?)?;
    let names: Vec<String> = match &args.profile {
        Some(p) if profiles.profiles.contains_key(p) => vec![p.clone()],
        Some(p) => anyhow::bail!(
            "no profile {p:?} is saved: run `keyport login --profile {p} --server URL`"
        ),
        None => profiles.profiles.keys().cloned().collect(),
    };
    if names.is_empty() {
        anyhow::bail!("no server is saved: run `keyport login --server URL`");
    }
    let now = SystemTime::now();
    let mut logged_in = 0;
    for name in names {
        let config = &profiles.profiles[&name];
        let path = token_path(&name)?;
        println!("{name}");
        match config.issuer_url() {
            Ok(issuer) => println!("  server:    {issuer}"),
            Err(e) => println!("  server:    (invalid: {e})"),
        }
        println!("  client id: {}", config.client_id);
        match TokenFile::read(&path)? {
            None => println!("  logged out (run `keyport login --profile {name}`)"),
            Some(file) => {
                logged_in += 1;
                println!(
                    "  user:      {}",
                    file.username.as_deref().unwrap_or("(unknown)")
                );
                let kind = if file.refresh_token.is_some() {
                    "refresh token"
                } else {
                    "client secret"
                };
                println!("  token:     {} ({kind})", path.display());
                if let Some(exp) = file.expires_at {
                    let exp =
                        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(exp.max(0) as u64);
                    match exp.duration_since(now) {
                        Ok(left) => {
                            println!("  access:    valid for {}", human_duration(left.as_secs()))
                        }
                        Err(_) => println!("  access:    expired (renewed on next use)"),
                    }
                }
            }
        }
    }
    if logged_in == 0 {
        anyhow::bail!("not logged in: run `keyport login`");
    }
    Ok(())
}
