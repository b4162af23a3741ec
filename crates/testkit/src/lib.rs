//! Test support for every keyport crate: a real server on an ephemeral loopback port with a SQLite file in a
//! temporary directory and a fake clock ([`TestServer`]), and a cookie-keeping HTTP client that drives the
//! device verification pages the way a browser does ([`Browser`]).

use std::sync::Arc;

use keyport_server::clock::FakeClock;
use keyport_server::config::Config;
use keyport_server::server::{self, Running};

/// The bootstrap admin's password in every test server (realm `master`, user `admin`).
pub const ADMIN_PASSWORD: &str = "admin-test-password";

pub struct TestServer {
    pub running: Running,
    pub clock: FakeClock,
    /// `http://127.0.0.1:PORT` plus the base path (the real address, even when `public_url` says otherwise):
    /// prepend to `/realms/...`.
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server from a TOML configuration (the `[server]` section may be omitted; its `listen` and
    /// `data_dir` are replaced).
    pub async fn start(toml: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::start_in(dir, toml).await
    }

    /// Starts a server on an existing data directory (to test restarts).
    pub async fn start_in(dir: tempfile::TempDir, toml: &str) -> TestServer {
        let mut config =
            Config::from_toml(toml, std::path::Path::new("test.toml")).expect("test config parses");
        config.server.listen = "127.0.0.1:0".into();
        config.server.data_dir = dir.path().join("data");
        config
            .server
            .admin_password
            .get_or_insert_with(|| ADMIN_PASSWORD.into());
        config.validate().expect("test config is valid");
        let clock = FakeClock::new();
        let running = server::start(config, Arc::new(clock.clone()))
            .await
            .expect("test server starts");
        let url = format!(
            "http://{}{}",
            running.addr, running.state.settings.base_path
        );
        TestServer {
            running,
            clock,
            url,
            dir,
        }
    }

    /// The issuer of a realm: `{public_url}{base_path}/realms/{realm}`.
    pub fn issuer(&self, realm: &str) -> String {
        self.running.issuer(realm)
    }

    /// Where the realm is reachable: `{url}/realms/{realm}` (equal to the issuer unless `public_url` is set).
    pub fn realm_url(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.url)
    }

    /// `{realm_url}/protocol/openid-connect/{path}`.
    pub fn endpoint(&self, realm: &str, path: &str) -> String {
        format!("{}/protocol/openid-connect/{path}", self.realm_url(realm))
    }

    /// Stops the server and hands back its data directory.
    pub async fn stop(self) -> tempfile::TempDir {
        self.running.shutdown().await.expect("clean shutdown");
        self.dir
    }
}

/// A page as the browser got it.
pub struct Page {
    pub status: u16,
    pub html: String,
}

impl Page {
    /// The value of the hidden CSRF field of the page's form.
    pub fn csrf(&self) -> String {
        let re = regex::Regex::new(r#"name="csrf" value="([^"]+)""#).unwrap();
        re.captures(&self.html)
            .unwrap_or_else(|| panic!("no CSRF field in:\n{}", self.html))[1]
            .to_owned()
    }

    pub fn contains(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

/// A browser: keeps cookies, follows no redirects, submits the HTML forms of the device pages.
pub struct Browser {
    pub http: reqwest::Client,
    /// `{issuer}` of the realm whose pages are driven.
    pub issuer: String,
}

impl Browser {
    pub fn new(issuer: &str) -> Browser {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            http,
            issuer: issuer.to_owned(),
        }
    }

    pub async fn get(&self, path_and_query: &str) -> Page {
        let r = self
            .http
            .get(format!("{}{path_and_query}", self.issuer))
            .send()
            .await
            .expect("GET");
        Page {
            status: r.status().as_u16(),
            html: r.text().await.expect("body"),
        }
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(format!("{}{path}", self.issuer))
            .form(form)
            .send()
            .await
            .expect("POST");
        Page {
            status: r.status().as_u16(),
            html: r.text().await.expect("body"),
        }
    }

    /// Opens the verification page, enters the code: the login form (or consent page, if signed in).
    pub async fn enter_code(&self, user_code: &str) -> Page {
        let page = self.get(&format!("/device?user_code={user_code}")).await;
        assert_eq!(page.status, 200, "{}", page.html);
        self.post(
            "/device",
            &[("csrf", &page.csrf()), ("user_code", user_code)],
        )
        .await
    }

    /// Signs in on a login form: the consent page on success.
    pub async fn sign_in(
        &self,
        login_form: &Page,
        user_code: &str,
        username: &str,
        password: &str,
    ) -> Page {
        let csrf = login_form.csrf();
        self.post(
            "/device/login",
            &[
                ("csrf", &csrf),
                ("user_code", user_code),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// Presses Approve or Deny on a consent page: the result page.
    pub async fn decide(&self, consent: &Page, user_code: &str, approve: bool) -> Page {
        let decision = if approve { "approve" } else { "deny" };
        self.post(
            "/device/decision",
            &[
                ("csrf", &consent.csrf()),
                ("user_code", user_code),
                ("decision", decision),
            ],
        )
        .await
    }

    /// The whole approval: enter the code, sign in, approve (or deny). Panics on any unexpected page.
    pub async fn approve_device(
        &self,
        user_code: &str,
        username: &str,
        password: &str,
        approve: bool,
    ) -> Page {
        let login = self.enter_code(user_code).await;
        assert_eq!(login.status, 200, "code page: {}", login.html);
        let consent = if login.contains("name=\"password\"") {
            self.sign_in(&login, user_code, username, password).await
        } else {
            login
        };
        assert_eq!(consent.status, 200, "sign-in: {}", consent.html);
        assert!(
            consent.contains("id=\"approve\""),
            "expected the consent page: {}",
            consent.html
        );
        let result = self.decide(&consent, user_code, approve).await;
        assert_eq!(result.status, 200, "decision: {}", result.html);
        result
    }
}
