//! Real headless Chromium for the browser tests, driven through `chromedriver` (WebDriver) with `fantoccini`.
//!
//! A test uses pages the way a person does: fields are found by the text of their label and buttons or links
//! by their accessible name, both as Chromium's accessibility tree computes them (WebDriver's "computed
//! label"), never by CSS paths, so a passing test also proves the labels are there.
//!
//! ```no_run
//! # async fn f() {
//! let browser = keyport_testkit::chromium::Chromium::start().await;
//! browser.goto("http://127.0.0.1:8080/realms/aiod/device").await;
//! browser.fill("Code", "BCDF-GHJK").await;
//! browser.click("Continue").await;
//! browser.sign_in("alice", "alice-password-1").await;
//! browser.click("Approve").await;
//! assert!(browser.text().await.contains("Device connected"));
//! # }
//! ```
//!
//! Each [`Chromium`] has its own `chromedriver` on an ephemeral loopback port and its own fresh profile
//! directory, so tests run in parallel; dropping it (also when the test panics) kills the browser and the
//! driver and deletes the profile. Chromium and chromedriver come from Debian's `chromium` and
//! `chromium-driver` packages (installed by `.ci/run`); `CHROMIUM` and `CHROMEDRIVER` override the binaries.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::{TimeoutConfiguration, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};

/// The command-line flags of every browser. Without the networking ones Chromium keeps trying to reach Google's
/// services, and on a closed network its connections (ours included) are refused.
pub const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// How long [`Chromium::wait_for_url`] and the element look-ups wait for a page to get there.
pub const WAIT: Duration = Duration::from_secs(15);

/// What can be clicked, as XPath: buttons, links, submit inputs and elements with a button or link role.
const CLICKABLE: &str = "//button | //a[@href] | //input[@type='submit' or @type='button' or @type='reset'] \
                         | //*[@role='button' or @role='link']";
/// What can be filled in: every visible-type input, text area and select.
const FIELDS: &str = "//input[not(@type='hidden' or @type='submit' or @type='button' or @type='reset')] \
                      | //textarea | //select";

/// One headless Chromium with its chromedriver. Killed (with the driver) when dropped.
pub struct Chromium {
    client: Client,
    driver: Child,
    /// The browser's process id as chromedriver reports it (`goog:processID`).
    browser_pid: Option<i32>,
    _profile: tempfile::TempDir,
}

impl Chromium {
    /// Starts chromedriver on a free loopback port and opens a fresh headless Chromium. Panics with what to
    /// install when Chromium or chromedriver is missing.
    pub async fn start() -> Chromium {
        let (driver_bin, chromium_bin) = binaries();
        let profile = tempfile::tempdir().expect("profile dir");
        let (mut driver, port) = start_driver(&driver_bin);

        let mut args: Vec<String> = FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": chromium_bin, "args": args }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        let client = match client {
            Ok(client) => client,
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                panic!(
                    "chromedriver could not start Chromium ({}): {e}",
                    chromium_bin.display()
                );
            }
        };
        let browser_pid = client
            .capabilities()
            .and_then(|c| c.get("goog:processID"))
            .and_then(|p| p.as_i64())
            .map(|p| p as i32);
        let browser = Chromium {
            client,
            driver,
            browser_pid,
            _profile: profile,
        };
        browser
            .client
            .update_timeouts(TimeoutConfiguration::new(
                Some(Duration::from_secs(10)),
                Some(Duration::from_secs(30)),
                Some(Duration::ZERO),
            ))
            .await
            .expect("set WebDriver timeouts");
        browser
    }

    /// The fantoccini client, for what the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail(format!("cannot open {url}: {e}")).await
        }
    }

    /// The address of the page shown now.
    pub async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    /// A query parameter of the page shown now (the first one of that name).
    pub async fn query(&self, name: &str) -> Option<String> {
        query(&self.url().await, name)
    }

    /// Waits until the address satisfies `ready` (e.g. a redirect chain ended at the relying party), and
    /// returns it. Fails the test with the page it is stuck on after [`WAIT`].
    pub async fn wait_for_url(&self, what: &str, ready: impl Fn(&url::Url) -> bool) -> url::Url {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await;
            if ready(&url) {
                return url;
            }
            if Instant::now() > deadline {
                self.fail(format!("waited {WAIT:?} for {what}")).await
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The visible text of the page (once it has loaded).
    pub async fn text(&self) -> String {
        self.wait_until_loaded().await;
        match self.client.find(Locator::XPath("/html/body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The page's HTML as the browser has it now.
    pub async fn html(&self) -> String {
        self.client.source().await.unwrap_or_default()
    }

    /// The page's title.
    pub async fn title(&self) -> String {
        self.client.title().await.unwrap_or_default()
    }

    /// The text of the element with this id (e.g. the `id="result"` of the device result page).
    pub async fn text_of(&self, id: &str) -> String {
        match self.client.find(Locator::Id(id)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => self.fail(format!("no element with id `{id}`")).await,
        }
    }

    /// The text of the page's alerts (`role="alert"`), joined by newlines; empty when there is none.
    pub async fn alerts(&self) -> String {
        let found = self
            .client
            .find_all(Locator::XPath("//*[@role='alert']"))
            .await
            .unwrap_or_default();
        let mut texts = Vec::new();
        for e in found {
            texts.push(e.text().await.unwrap_or_default());
        }
        texts.join("\n")
    }

    /// The form field whose label (its accessible name) is `label`.
    pub async fn field(&self, label: &str) -> Element {
        match self.named(FIELDS, label).await {
            Some(e) => e,
            None => {
                let names = self.names(FIELDS).await;
                self.fail(format!("no field labelled `{label}` (fields: {names:?})"))
                    .await
            }
        }
    }

    /// Types `value` into the field labelled `label`, replacing what was there.
    pub async fn fill(&self, label: &str, value: &str) {
        let field = self.field(label).await;
        field.clear().await.expect("clear field");
        if let Err(e) = field.send_keys(value).await {
            self.fail(format!("cannot type into `{label}`: {e}")).await
        }
    }

    /// The button or link whose accessible name is `name`.
    pub async fn button(&self, name: &str) -> Element {
        match self.named(CLICKABLE, name).await {
            Some(e) => e,
            None => {
                let names = self.names(CLICKABLE).await;
                self.fail(format!(
                    "no button or link named `{name}` (there are: {names:?})"
                ))
                .await
            }
        }
    }

    /// Whether the page has a button or link named `name`.
    pub async fn has_button(&self, name: &str) -> bool {
        self.named(CLICKABLE, name).await.is_some()
    }

    /// Clicks the button or link named `name`, and waits for the page it leads to to load (buttons and links
    /// of the keyport pages all submit a form or follow a link; for one that does not, this waits [`WAIT`]).
    pub async fn click(&self, name: &str) {
        let button = self.button(name).await;
        let old_page = self.client.find(Locator::XPath("/html")).await.ok();
        if let Err(e) = button.click().await {
            self.fail(format!("cannot click `{name}`: {e}")).await
        }
        // chromedriver usually returns after the navigation, but not always on a busy machine: wait until the
        // old document is gone (its root element is stale) and the new one has loaded.
        let deadline = Instant::now() + WAIT;
        if let Some(old_page) = old_page {
            while old_page.tag_name().await.is_ok() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.wait_until_loaded().await;
    }

    /// Waits (at most [`WAIT`]) until the document shown has loaded.
    pub async fn wait_until_loaded(&self) {
        let deadline = Instant::now() + WAIT;
        while !self.is_loaded().await && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Signs in on the realm's sign-in page (fields **Username** and **Password**, button **Sign in**).
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.fill("Username", username).await;
        self.fill("Password", password).await;
        self.click("Sign in").await;
    }

    /// Resizes the window (e.g. to 360 px wide for a phone-sized screenshot).
    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize window");
    }

    /// Saves a PNG screenshot of the viewport to `path` (parent directories are created).
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The first displayed element matching `xpath` whose accessible name is `name` (whitespace trimmed).
    async fn named(&self, xpath: &str, name: &str) -> Option<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            for e in self
                .client
                .find_all(Locator::XPath(xpath))
                .await
                .unwrap_or_default()
            {
                if self.accessible_name(&e).await.trim() == name
                    && e.is_displayed().await.unwrap_or(false)
                {
                    return Some(e);
                }
            }
            // The page may still be arriving (a redirect chain, a form post).
            if Instant::now() > deadline || self.is_loaded().await {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The accessible names of the elements matching `xpath` (for failure messages).
    async fn names(&self, xpath: &str) -> Vec<String> {
        let mut names = Vec::new();
        for e in self
            .client
            .find_all(Locator::XPath(xpath))
            .await
            .unwrap_or_default()
        {
            names.push(self.accessible_name(&e).await);
        }
        names
    }

    /// The element's accessible name as Chromium computes it (WebDriver "Get Computed Label").
    async fn accessible_name(&self, element: &Element) -> String {
        let command = ComputedLabel(element.element_id().to_string());
        match self.client.issue_cmd(command).await {
            Ok(serde_json::Value::String(name)) => name,
            _ => String::new(),
        }
    }

    async fn is_loaded(&self) -> bool {
        matches!(
            self.client.execute("return document.readyState", vec![]).await,
            Ok(serde_json::Value::String(s)) if s == "complete"
        )
    }

    /// Fails the test with `what`, the address and the text of the page the browser is on.
    async fn fail(&self, what: String) -> ! {
        let url = self
            .client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_default();
        let text = self.text().await;
        panic!("{what}\n  at {url}\n  page text:\n{text}")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Killing chromedriver alone leaves Chromium running; killing the browser process ends its helpers.
        if let Some(pid) = self.browser_pid {
            // SAFETY: kill(2) on a process id we started (through chromedriver); no memory is involved.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The value of the first query parameter `name` of `url`.
pub fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// WebDriver's "Get Computed Label" (the accessible name), which fantoccini does not wrap.
#[derive(Debug)]
struct ComputedLabel(String);

impl WebDriverCompatibleCommand for ComputedLabel {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!(
            "session/{session}/element/{}/computedlabel",
            self.0
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::GET, None)
    }
}

/// chromedriver and Chromium: `CHROMEDRIVER` / `CHROMIUM`, else from `PATH`. Panics saying what to install.
fn binaries() -> (PathBuf, PathBuf) {
    let find = |env: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(path) = std::env::var_os(env) {
            return Some(PathBuf::from(path)).filter(|p| p.is_file());
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
    };
    let driver = find("CHROMEDRIVER", &["chromedriver"]);
    let chromium = find("CHROMIUM", &["chromium", "chromium-browser"]);
    match (driver, chromium) {
        (Some(d), Some(c)) => (d, c),
        (d, c) => {
            let missing: Vec<&str> = [(d.is_none(), "chromedriver"), (c.is_none(), "chromium")]
                .into_iter()
                .filter_map(|(m, name)| m.then_some(name))
                .collect();
            panic!(
                "the browser tests need headless Chromium: {} not found (PATH, or CHROMIUM / CHROMEDRIVER). \
                 Install them with `apt-get install chromium chromium-driver` (.ci/run does)",
                missing.join(" and ")
            )
        }
    }
}

/// Starts chromedriver with `--port=0` and reads the port it chose. chromedriver picks a free port and binds it
/// afterwards, so a test starting in parallel can take the port in between: it then exits at once ("IPv4 port not
/// available", seen in CI). Such a start is tried again, a few times.
fn start_driver(driver_bin: &std::path::Path) -> (Child, u16) {
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let mut driver = Command::new(driver_bin)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", driver_bin.display()));
        match read_port(&mut driver) {
            Ok(port) => return (driver, port),
            Err(e) => {
                let _ = driver.kill();
                let _ = driver.wait();
                if !matches!(e, PortError::Exited) || attempt == ATTEMPTS {
                    panic!("chromedriver did not start (attempt {attempt}): {e}");
                }
            }
        }
    }
    unreachable!("the last attempt panics")
}

enum PortError {
    /// chromedriver ended without naming a port.
    Exited,
    TimedOut,
}

impl std::fmt::Display for PortError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PortError::Exited => "it exited without a \"started successfully on port\" line",
            PortError::TimedOut => "no \"started successfully on port\" line within 30 s",
        })
    }
}

/// Reads chromedriver's "started successfully on port N" line; its further output goes to stderr (the test's
/// captured output).
fn read_port(driver: &mut Child) -> Result<u16, PortError> {
    let stdout = driver
        .stdout
        .take()
        .expect("chromedriver's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let port = line
                .split_once("started successfully on port ")
                .and_then(|(_, rest)| rest.trim_end_matches('.').trim().parse::<u16>().ok());
            match (port, tx.take()) {
                (Some(port), Some(tx)) => {
                    let _ = tx.send(port);
                }
                (_, keep) => {
                    tx = keep;
                    eprintln!("chromedriver: {line}");
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => PortError::TimedOut,
            std::sync::mpsc::RecvTimeoutError::Disconnected => PortError::Exited,
        })
}
