//! The device login (RFC 8628): show a code, let the person approve in a browser, poll for the token.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::token::Token;

/// The login timeout when none is given (AIoD's `create_token` default).
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

/// A started device login, waiting for the person to approve it in a browser.
///
/// Show [`PendingLogin::instructions`] (or build your own from [`verification_uri`](Self::verification_uri),
/// [`verification_uri_complete`](Self::verification_uri_complete) and [`user_code`](Self::user_code)), then
/// [`wait`](Self::wait).
pub struct PendingLogin {
    client: Client,
    details: oauth2::StandardDeviceAuthorizationResponse,
    started: SystemTime,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("user_code", &self.user_code())
            .field("verification_uri", &self.verification_uri())
            .field("expires_in", &self.expires_in())
            .finish_non_exhaustive()
    }
}

impl PendingLogin {
    pub(crate) fn new(
        client: Client,
        details: oauth2::StandardDeviceAuthorizationResponse,
        started: SystemTime,
    ) -> Self {
        PendingLogin {
            client,
            details,
            started,
        }
    }

    /// The code the person enters, e.g. `BCDF-GHJK`.
    pub fn user_code(&self) -> &str {
        self.details.user_code().secret()
    }

    /// Where to enter the code.
    pub fn verification_uri(&self) -> &str {
        self.details.verification_uri().as_str()
    }

    /// The page with the code already filled in, when the server offers one.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.details
            .verification_uri_complete()
            .map(|u| u.secret().as_str())
    }

    /// How long the server keeps the code valid.
    pub fn expires_in(&self) -> Duration {
        self.details.expires_in()
    }

    /// How often the token endpoint may be polled.
    pub fn interval(&self) -> Duration {
        self.details.interval()
    }

    /// When the login was started, by the client's clock.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// How long waiting with `timeout` can last: the timeout or the code's lifetime, whichever is shorter.
    pub fn effective_timeout(&self, timeout: Duration) -> Duration {
        timeout.min(self.expires_in())
    }

    /// The text AIoD's SDK prints, which users of such platforms know:
    ///
    /// ```text
    /// Please authenticate using one of two methods:
    ///
    ///   1. Navigate to https://auth.example.org/realms/aiod/device?user_code=ACBC-ARFZ
    ///   2. Navigate to https://auth.example.org/realms/aiod/device and enter code ACBC-ARFZ
    ///
    /// This workflow will automatically abort after 300 seconds.
    /// ```
    pub fn instructions(&self, timeout: Duration) -> String {
        let seconds = self.effective_timeout(timeout).as_secs();
        match self.verification_uri_complete() {
            Some(complete) => format!(
                "Please authenticate using one of two methods:\n\n  1. Navigate to {complete}\n  2. Navigate to {} and enter code {}\n\nThis workflow will automatically abort after {seconds} seconds.\n",
                self.verification_uri(),
                self.user_code()
            ),
            None => format!(
                "Please authenticate:\n\n  Navigate to {} and enter code {}\n\nThis workflow will automatically abort after {seconds} seconds.\n",
                self.verification_uri(),
                self.user_code()
            ),
        }
    }

    /// Polls at the server's interval (slowing down when told to) until the person approves or denies, the code
    /// expires, or `timeout` passes. `timeout` must be positive.
    ///
    /// Errors: [`Error::AccessDenied`], [`Error::ExpiredToken`], [`Error::Timeout`], [`Error::InvalidTimeout`],
    /// and [`Error::Server`] (with the status and error code) for anything unexpected.
    pub async fn wait(self, timeout: Duration) -> Result<Token> {
        if timeout.is_zero() {
            return Err(Error::InvalidTimeout);
        }
        let issued = self.client.poll_device(&self.details, timeout).await?;
        Ok(Token::from_issued(self.client, issued))
    }
}

/// A callback that shows a started login to the person (see [`LoginOptions::on_instructions`]).
pub type InstructionsCallback = std::sync::Arc<dyn Fn(&PendingLogin) + Send + Sync>;

/// Options of a device login: AIoD's `create_token(timeout_seconds, write_to_file, use_in_requests)`.
#[derive(Clone)]
pub struct LoginOptions {
    /// How long to wait for the approval (must be positive). Default 300 seconds.
    pub timeout: Duration,
    /// Save the token to this file (TOML, mode 0600), and keep it there when it rotates.
    pub write_to_file: Option<std::path::PathBuf>,
    /// Make the token the process-wide one used by [`get_token`](crate::get_token). Default true.
    pub use_in_requests: bool,
    /// Print the instructions to stdout. Default true; turn off to show your own with a
    /// [`PendingLogin`] from [`Client::start_device_login`].
    pub print_instructions: bool,
    /// Called with the started login, after the instructions are printed (to show a QR code, open a browser, …).
    pub on_instructions: Option<InstructionsCallback>,
}

impl fmt::Debug for LoginOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginOptions")
            .field("timeout", &self.timeout)
            .field("write_to_file", &self.write_to_file)
            .field("use_in_requests", &self.use_in_requests)
            .field("print_instructions", &self.print_instructions)
            .field("on_instructions", &self.on_instructions.is_some())
            .finish()
    }
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            timeout: DEFAULT_LOGIN_TIMEOUT,
            write_to_file: None,
            use_in_requests: true,
            print_instructions: true,
            on_instructions: None,
        }
    }
}

impl LoginOptions {
    /// Sets the timeout in seconds (AIoD's `timeout_seconds`).
    pub fn timeout_seconds(mut self, seconds: u64) -> Self {
        self.timeout = Duration::from_secs(seconds);
        self
    }

    /// Saves the token to `path` (AIoD's `write_to_file=True` saves to the default token file:
    /// [`token_path`](crate::token_path)).
    pub fn write_to_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.write_to_file = Some(path.into());
        self
    }

    /// Whether to make the token the process-wide one.
    pub fn use_in_requests(mut self, yes: bool) -> Self {
        self.use_in_requests = yes;
        self
    }

    /// Calls `show` with the started login (for example to show it in a GUI, or to open a browser).
    pub fn on_instructions(mut self, show: impl Fn(&PendingLogin) + Send + Sync + 'static) -> Self {
        self.on_instructions = Some(std::sync::Arc::new(show));
        self
    }

    /// Whether to print the instructions.
    pub fn print_instructions(mut self, yes: bool) -> Self {
        self.print_instructions = yes;
        self
    }
}

impl Client {
    /// Runs a whole device login: start, print the instructions, wait, and save the token if asked.
    /// (`use_in_requests` is honoured by the process-wide [`create_token`](crate::create_token).)
    pub async fn device_login(&self, options: &LoginOptions) -> Result<Token> {
        if options.timeout.is_zero() {
            return Err(Error::InvalidTimeout);
        }
        let pending = self.start_device_login().await?;
        if options.print_instructions {
            println!("{}", pending.instructions(options.timeout));
        }
        if let Some(show) = &options.on_instructions {
            show(&pending);
        }
        let token = pending.wait(options.timeout).await?;
        if let Some(path) = &options.write_to_file {
            token.to_file(path)?;
        }
        Ok(token)
    }
}
