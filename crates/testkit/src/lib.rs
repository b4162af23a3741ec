//! Test support for every keyport crate: a real server on an ephemeral loopback port with a SQLite file in a
//! temporary directory and a fake clock ([`TestServer`]), and a cookie-keeping HTTP client that drives the
//! device verification pages the way a browser does ([`Browser`]); and real headless Chromium driven through
//! WebDriver, finding fields by label and buttons by name ([`chromium::Chromium`]).
//!
//! With `KEYPORT_TEST_BACKEND=postgres` every test server gets a fresh PostgreSQL database instead (created on
//! `KEYPORT_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`, and dropped when the test ends), so
//! the same suite runs against both backends.

pub mod axe;
pub mod chromium;
pub mod tls;

use std::sync::Arc;

use keyport_server::clock::FakeClock;
use keyport_server::config::Config;
use keyport_server::server::{self, Running};

/// The bootstrap admin's password in every test server (realm `master`, user `admin`).
pub const ADMIN_PASSWORD: &str = "admin-test-password";

/// The persistent part of a test server: its data directory and, on PostgreSQL, its database.
pub struct TestData {
    pub dir: tempfile::TempDir,
    pub database: Option<TestDatabase>,
}

impl TestData {
    /// A new empty data directory, and a new database when the suite runs on PostgreSQL.
    pub async fn new() -> TestData {
        let database = match std::env::var("KEYPORT_TEST_BACKEND").as_deref() {
            Ok("postgres") => Some(TestDatabase::create().await),
            Ok("sqlite") | Err(_) => None,
            Ok(other) => {
                panic!("KEYPORT_TEST_BACKEND must be `sqlite` or `postgres`, not `{other}`")
            }
        };
        TestData {
            dir: tempfile::tempdir().expect("temp dir"),
            database,
        }
    }
}

/// A PostgreSQL database of one test, dropped (with its connections) when this is dropped.
pub struct TestDatabase {
    admin_url: String,
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    /// Where test databases are created: `KEYPORT_TEST_PG_URL`, default the machine's local PostgreSQL.
    pub fn admin_url() -> String {
        std::env::var("KEYPORT_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
    }

    pub async fn create() -> TestDatabase {
        use sqlx::Connection;
        let admin_url = Self::admin_url();
        let name = format!("keyport_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!("PostgreSQL at {admin_url} is needed (set KEYPORT_TEST_PG_URL to point elsewhere): {e}")
        });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let url = with_database(&admin_url, &name);
        TestDatabase {
            admin_url,
            name,
            url,
        }
    }
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let prefix = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    format!("{prefix}/{name}{query}")
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            use sqlx::Connection;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(&drop).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

pub struct TestServer {
    pub running: Running,
    pub clock: FakeClock,
    /// `http://127.0.0.1:PORT` (`https://` with `server.tls_cert_file`) plus the base path (the real address,
    /// even when `public_url` says otherwise):
    /// prepend to `/realms/...`.
    pub url: String,
    pub data: TestData,
}

impl TestServer {
    /// Starts a server from a TOML configuration (the `[server]` section may be omitted; its `listen`,
    /// `data_dir` and `database_url` are replaced).
    pub async fn start(toml: &str) -> TestServer {
        Self::start_in(TestData::new().await, toml).await
    }

    /// Starts a server on existing data (to test restarts).
    pub async fn start_in(data: TestData, toml: &str) -> TestServer {
        let database_url = data.database.as_ref().map(|d| d.url.clone());
        Self::start_with(data, database_url, toml).await
    }

    /// Starts a server with data directory `data.dir` on database `database_url` (SQLite in the data directory
    /// when `None`): several replicas may share one database.
    pub async fn start_with(
        data: TestData,
        database_url: Option<String>,
        toml: &str,
    ) -> TestServer {
        let mut config =
            Config::from_toml(toml, std::path::Path::new("test.toml")).expect("test config parses");
        config.server.listen = "127.0.0.1:0".into();
        config.server.data_dir = data.dir.path().join("data");
        config.server.database_url = database_url;
        config
            .server
            .admin_password
            .get_or_insert_with(|| ADMIN_PASSWORD.into());
        config.validate().expect("test config is valid");
        let clock = FakeClock::new();
        let running = server::start(config, Arc::new(clock.clone()))
            .await
            .expect("test server starts");
        let scheme = if running.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!(
            "{scheme}://{}{}",
            running.addr, running.state.settings.base_path
        );
        TestServer {
            running,
            clock,
            url,
            data,
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

    /// Stops the server and hands back its data.
    pub async fn stop(self) -> TestData {
        self.running.shutdown().await.expect("clean shutdown");
        self.data
    }
}

/// A page as the browser got it.
pub struct Page {
    pub status: u16,
    pub html: String,
    /// The `Location` of a redirect.
    pub location: Option<String>,
}

impl Page {
    /// The value of the hidden CSRF field of the page's form.
    pub fn csrf(&self) -> String {
        self.field("csrf")
            .unwrap_or_else(|| panic!("no CSRF field in:\n{}", self.html))
    }

    /// The value of the form field `name` (HTML entities decoded), if the page has one.
    pub fn field(&self, name: &str) -> Option<String> {
        let re = regex::Regex::new(&format!(
            r#"name="{}" value="([^"]*)""#,
            regex::escape(name)
        ))
        .unwrap();
        re.captures(&self.html).map(|c| unescape(&c[1]))
    }

    /// The `action` of the page's first form (HTML entities decoded).
    pub fn form_action(&self) -> Option<String> {
        let re = regex::Regex::new(r#"<form method="post" action="([^"]*)""#).unwrap();
        re.captures(&self.html).map(|c| unescape(&c[1]))
    }

    pub fn contains(&self, text: &str) -> bool {
        self.html.contains(text)
    }
}

/// Decodes the entities askama writes into attribute values.
pub fn unescape(s: &str) -> String {
    s.replace("&#38;", "&")
        .replace("&amp;", "&")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#60;", "<")
        .replace("&lt;", "<")
        .replace("&#62;", ">")
        .replace("&gt;", ">")
}

/// A browser: keeps cookies, submits the HTML forms of the pages; follows redirects within the server only when
/// told to ([`Browser::follow`]), so that tests can see where it is sent.
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

    /// A browser that trusts `ca` (a server with built-in TLS whose certificate `ca` signed).
    pub fn with_ca(issuer: &str, ca: &tls::TestCa) -> Browser {
        let http = ca
            .client()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Browser {
            http,
            issuer: issuer.to_owned(),
        }
    }

    /// GET a path of the realm (`/device`, …).
    pub async fn get(&self, path_and_query: &str) -> Page {
        self.get_url(&format!("{}{path_and_query}", self.issuer))
            .await
    }

    /// GET an absolute URL, or a path of this server (a `Location`).
    pub async fn get_url(&self, url: &str) -> Page {
        let r = self.http.get(self.resolve(url)).send().await.expect("GET");
        Self::page(r).await
    }

    /// POST a form to a path of the realm.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_url(&format!("{}{path}", self.issuer), form).await
    }

    /// POST a form to an absolute URL, or a path of this server (a form's `action`).
    pub async fn post_url(&self, url: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .http
            .post(self.resolve(url))
            .form(form)
            .send()
            .await
            .expect("POST");
        Self::page(r).await
    }

    async fn page(r: reqwest::Response) -> Page {
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Page {
            status: r.status().as_u16(),
            location,
            html: r.text().await.expect("body"),
        }
    }

    /// `url` resolved against the realm's URL (so a `Location` of `/realms/…` stays on this server).
    pub fn resolve(&self, url: &str) -> String {
        let base = reqwest::Url::parse(&self.issuer).expect("issuer is a URL");
        base.join(url).expect("a URL").to_string()
    }

    /// Follows redirects that stay on this server (at most ten); a redirect elsewhere is returned as it is.
    pub async fn follow(&self, mut page: Page) -> Page {
        let origin = reqwest::Url::parse(&self.issuer).expect("issuer").origin();
        for _ in 0..10 {
            let Some(location) = page
                .location
                .clone()
                .filter(|_| (300..400).contains(&page.status))
            else {
                return page;
            };
            let next = reqwest::Url::parse(&self.resolve(&location)).expect("location");
            if next.origin() != origin {
                return page;
            }
            page = self.get_url(next.as_str()).await;
        }
        panic!("too many redirects");
    }

    /// Opens the verification page, enters the code: the sign-in page (or consent page, if signed in).
    pub async fn enter_code(&self, user_code: &str) -> Page {
        let page = self.get(&format!("/device?user_code={user_code}")).await;
        assert_eq!(page.status, 200, "{}", page.html);
        let next = self
            .post(
                "/device",
                &[("csrf", &page.csrf()), ("user_code", user_code)],
            )
            .await;
        self.follow(next).await
    }

    /// Signs in on the realm's sign-in page, following the redirect back (for the device flow, the consent
    /// page). `_user_code` is kept for the callers of the device pages: the page carries where to go back.
    pub async fn sign_in(
        &self,
        login_form: &Page,
        _user_code: &str,
        username: &str,
        password: &str,
    ) -> Page {
        self.sign_in_as(login_form, username, password).await
    }

    /// Submits the sign-in page's form and follows the redirects that stay on this server.
    pub async fn sign_in_as(&self, login_form: &Page, username: &str, password: &str) -> Page {
        let csrf = login_form.csrf();
        let return_to = login_form.field("return_to").unwrap_or_default();
        let action = login_form
            .form_action()
            .unwrap_or_else(|| panic!("no form on:\n{}", login_form.html));
        let page = self
            .post_url(
                &action,
                &[
                    ("csrf", &csrf),
                    ("return_to", &return_to),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        self.follow(page).await
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
