//! What the client subcommands share: profiles, loading the stored token, running async code, and printing a
//! failure as one line that says what to do next.

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use keyport_client::{Client, Config, Profiles, Token};

/// The `--profile` option of every client subcommand.
#[derive(Args, Debug, Clone)]
pub struct ProfileArgs {
    /// Which saved server to use (profiles live in $KEYPORT_HOME/config.toml, default ~/.keyport).
    #[arg(long, env = "KEYPORT_PROFILE", default_value = "default")]
    pub profile: String,
}

/// Runs a subcommand on a small runtime; a failure prints `error: …` on one line and exits 1.
pub fn run<F: Future<Output = anyhow::Result<()>>>(fut: F) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(fut) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The saved configuration of a profile, with `KEYPORT_*` environment variables on top.
pub fn profile_config(profile: &str) -> anyhow::Result<Config> {
    let profiles = Profiles::load(&Profiles::default_path()?)?;
    let config = profiles.profiles.get(profile).cloned().ok_or_else(|| {
        anyhow::anyhow!("no profile {profile:?} is saved: run `keyport login --server URL` (with `--profile {profile}`) first")
    })?;
    Ok(config.merge_env(|k| std::env::var(k).ok())?)
}

/// Saves a profile's configuration.
pub fn save_profile(profile: &str, config: &Config) -> anyhow::Result<()> {
    let path = Profiles::default_path()?;
    let mut profiles = Profiles::load(&path)?;
    profiles.profiles.insert(profile.to_owned(), config.clone());
    profiles.save(&path)?;
    Ok(())
}

/// The token file of a profile.
pub fn token_path(profile: &str) -> anyhow::Result<PathBuf> {
    Ok(keyport_client::token_path(profile)?)
}

/// The stored token of a profile (it writes rotated refresh tokens back to its file).
pub fn load_token(profile: &str) -> anyhow::Result<Token> {
    let client = Client::new(profile_config(profile)?)?;
    let path = token_path(profile)?;
    if !path.exists() {
        anyhow::bail!("not logged in (profile {profile:?}): run `keyport login` first");
    }
    Ok(Token::from_file(&client, path)?)
}

/// `4m 10s`, `1h 2m`, `35s`.
pub fn human_duration(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        s if s >= 60 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(35), "35s");
        assert_eq!(human_duration(250), "4m 10s");
        assert_eq!(human_duration(3720), "1h 2m");
        assert_eq!(one_line("a\n  b"), "a b");
    }
}
