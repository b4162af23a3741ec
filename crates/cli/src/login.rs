//! `keyport login`: the device flow the way `gh auth login` does it, or with `--web` the browser login
//! (authorization code + PKCE through a loopback redirect on 127.0.0.1, RFC 8252).

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use keyport_client::{Client, Config, Token, current_user};

use crate::common::{ProfileArgs, human_duration, profile_config, save_profile, token_path};

/// Arguments of `keyport login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    #[command(flatten)]
    profile: ProfileArgs,
    /// Base URL of the server (Keycloak-style; include `/auth` if the server has that base path).
    #[arg(long, env = "KEYPORT_SERVER_URL")]
    server: Option<String>,
    /// Realm on the server.
    #[arg(long, env = "KEYPORT_REALM")]
    realm: Option<String>,
    /// A plain OpenID Connect issuer URL, instead of --server and --realm.
    #[arg(long, env = "KEYPORT_ISSUER")]
    issuer: Option<String>,
    /// The OAuth client id to log in with.
    #[arg(long, env = "KEYPORT_CLIENT_ID")]
    client_id: Option<String>,
    /// Space-separated scopes to ask for.
    #[arg(long)]
    scope: Option<String>,
    /// The `audience` parameter (Auth0).
    #[arg(long)]
    audience: Option<String>,
    /// Sign in in the browser (authorization code + PKCE, redirected back to 127.0.0.1) instead of with a code.
    #[arg(long)]
    web: bool,
    /// Do not open a browser; only print the URL (and the code).
    #[arg(long)]
    no_browser: bool,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    timeout: u64,
}

fn config_from(args: &LoginArgs) -> Config {
    let mut config = profile_config(&args.profile.profile).unwrap_or_default();
    if let Some(s) = &args.server {
        config.server_url = Some(s.clone());
        config.issuer = None;
    }
    if let Some(r) = &args.realm {
        config.realm = r.clone();
    }
    if let Some(i) = &args.issuer {
        config.issuer = Some(i.clone());
    }
    if let Some(c) = &args.client_id {
        config.client_id = c.clone();
    }
    if let Some(s) = &args.scope {
        config.scope = s.clone();
    }
    if let Some(a) = &args.audience {
        config.audience = Some(a.clone());
    }
    config
}

/// Whether a browser can be shown to the person at this terminal.
fn can_open_browser() -> bool {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let graphical = cfg!(any(target_os = "macos", target_os = "windows"))
        || std::env::var_os("DISPLAY").is_some()
        || std::env::var_os("WAYLAND_DISPLAY").is_some();
    interactive && graphical
}

/// Only `http(s)` URLs are handed to the browser: a server-chosen `file:`, `javascript:` or custom-scheme URL
/// could open a local file or start another program. (The SDK already refuses such a device login; this keeps
/// the CLI safe whatever the library does.)
fn is_web_url(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
    )
}

/// Runs `keyport login`.
pub async fn run(args: LoginArgs) -> anyhow::Result<()> {
    let profile = args.profile.profile.clone();
    let config = config_from(&args);
    let client = Client::new(config.clone())?;
    let timeout = Duration::from_secs(args.timeout);
    let token = if args.web {
        web_login(&client, &args, timeout).await?
    } else {
        device_login(&client, &args, timeout).await?
    };

    token.to_file(token_path(&profile)?)?;
    save_profile(&profile, &config)?;
    let issuer = config.issuer_url()?;
    match current_user(&token, None).await {
        Ok(user) if user.roles.is_empty() => println!(
            "Logged in to {issuer} as {} (profile {profile}).",
            user.name
        ),
        Ok(user) => println!(
            "Logged in to {issuer} as {} with roles {} (profile {profile}).",
            user.name,
            user.roles.join(", ")
        ),
        Err(_) => println!(
            "Logged in to {issuer} as {} (profile {profile}).",
            token.username().unwrap_or_else(|| "an unknown user".into())
        ),
    }
    Ok(())
}

/// The device flow: instructions, QR code, browser, spinner.
async fn device_login(
    client: &Client,
    args: &LoginArgs,
    timeout: Duration,
) -> anyhow::Result<Token> {
    let pending = client.start_device_login().await?;
    let complete = pending
        .verification_uri_complete()
        .unwrap_or(pending.verification_uri())
        .to_owned();

    println!("{}", pending.instructions(timeout));
    if let (true, Some(qr)) = (std::io::stderr().is_terminal(), qr_code(&complete)) {
        eprintln!("Or scan this code with your phone:\n{qr}");
    }
    if !args.no_browser
        && can_open_browser()
        && is_web_url(&complete)
        && webbrowser::open(&complete).is_ok()
    {
        eprintln!("Opened {complete} in your browser.");
    }
    let limit = pending.effective_timeout(timeout).as_secs();
    Ok(with_spinner("approve in the browser", limit, pending.wait(timeout)).await?)
}

/// The browser login: the URL printed (the fallback), the browser opened when it can be, a spinner until the
/// browser comes back to the loopback redirect.
async fn web_login(client: &Client, args: &LoginArgs, timeout: Duration) -> anyhow::Result<Token> {
    let pending = client.start_web_login().await?;
    println!("{}", pending.instructions(timeout));
    if !args.no_browser && can_open_browser() && pending.open_in_browser() {
        eprintln!("Opened the sign-in page in your browser.");
    }
    Ok(with_spinner(
        "sign in in the browser",
        timeout.as_secs(),
        pending.wait(timeout),
    )
    .await?)
}

/// Shows "Waiting for you to {what} (4m left)" on stderr while `wait` runs.
async fn with_spinner<T>(what: &str, limit: u64, wait: impl std::future::Future<Output = T>) -> T {
    let spinner =
        indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    spinner.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(120));
    let ticker = {
        let spinner = spinner.clone();
        let what = what.to_owned();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            loop {
                let left = limit.saturating_sub(started.elapsed().as_secs());
                spinner.set_message(format!(
                    "Waiting for you to {what} ({} left)",
                    human_duration(left)
                ));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let result = wait.await;
    ticker.abort();
    spinner.finish_and_clear();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_urls_are_opened() {
        assert!(is_web_url(
            "https://auth.example.org/realms/a/device?user_code=BCDF-GHJK"
        ));
        assert!(is_web_url("http://127.0.0.1:8080/realms/a/device"));
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ms-settings:",
            "x-app://run",
            "/device",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }
}
