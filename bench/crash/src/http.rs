//! The program's HTTP side: every call answers [`Answer`] (acknowledged, refused, or no answer at all), and the
//! device pages are walked the way a browser does, failing softly when the server dies mid-way.

use std::time::Duration;

use keyport_testkit::Page;
use serde_json::Value;

/// What came back from one request.
#[derive(Debug)]
pub enum Answer {
    /// A 2xx whose body was read in full: the server acknowledged the request.
    Acked(Value),
    /// A complete non-2xx answer.
    Refused(u16, Value),
    /// No complete answer (connection refused or reset, timeout): the request may or may not have committed.
    Lost,
}

pub const REALM: &str = "crash";
/// Confidential client that may introspect (no grants).
pub const RS: (&str, &str) = ("rs", "rs-secret-0123456789-abcdef-0123456789");
pub const BOT: (&str, &str) = ("bot", "bot-secret-0123456789-abcdef-0123456789");
pub const ADMIN_CLI: (&str, &str) = ("admin-cli", "admin-cli-secret-0123456789-abcdef-01234");
pub const ROOT: (&str, &str) = ("root", "root-password-0123456789");
/// Public device clients: strict rotation, and rotation off.
pub const SDK: &str = "sdk";
pub const SDK_LOOSE: &str = "sdk-loose";

/// An HTTP client bound to one server address (which stays the same across restarts of a round).
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str) -> Api {
        Api {
            http: client(false),
            base: base.to_owned(),
        }
    }

    pub fn realm_url(&self) -> String {
        format!("{}/realms/{REALM}", self.base)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/protocol/openid-connect/{path}", self.realm_url())
    }

    fn admin(&self, path: &str) -> String {
        format!("{}/admin/realms/{REALM}/{path}", self.base)
    }

    /// A form POST to `{realm}/protocol/openid-connect/{path}`, with Basic client authentication when given.
    pub async fn form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Answer {
        let mut req = self.http.post(self.endpoint(path)).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        answer(req.send().await).await
    }

    /// RFC 7662 introspection by the resource server: `Some(active)`, `None` without a complete answer.
    pub async fn active(&self, token: &str) -> Option<bool> {
        match self
            .form("token/introspect", Some(RS), &[("token", token)])
            .await
        {
            Answer::Acked(v) => v["active"].as_bool(),
            _ => None,
        }
    }

    /// An admin API call with a bearer token.
    pub async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, self.admin(path))
            .bearer_auth(bearer);
        if let Some(b) = body {
            req = req.json(&b);
        }
        answer(req.send().await).await
    }

    /// Walks the device pages for `user_code` as `username`: enter the code, sign in, approve. `Acked` when the
    /// decision page answered 200 and says the device was approved.
    pub async fn approve_device(&self, user_code: &str, username: &str, password: &str) -> Answer {
        let browser = Browser {
            http: client(true),
            realm: self.realm_url(),
        };
        browser.approve(user_code, username, password).await
    }
}

fn client(cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

async fn answer(sent: reqwest::Result<reqwest::Response>) -> Answer {
    let Ok(r) = sent else { return Answer::Lost };
    let status = r.status().as_u16();
    let Ok(text) = r.text().await else {
        return Answer::Lost;
    };
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if (200..300).contains(&status) {
        Answer::Acked(json)
    } else {
        Answer::Refused(status, json)
    }
}

/// A cookie-keeping client on the device pages (a fallible twin of `keyport_testkit::Browser`).
struct Browser {
    http: reqwest::Client,
    realm: String,
}

/// A page, or why there is none.
enum Step {
    Page(Page),
    Lost,
}

impl Browser {
    fn resolve(&self, url: &str) -> String {
        match reqwest::Url::parse(&self.realm).and_then(|b| b.join(url)) {
            Ok(u) => u.to_string(),
            Err(_) => url.to_owned(),
        }
    }

    async fn page(sent: reqwest::Result<reqwest::Response>) -> Step {
        let Ok(r) = sent else { return Step::Lost };
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match r.text().await {
            Ok(html) => Step::Page(Page {
                status,
                html,
                location,
            }),
            Err(_) => Step::Lost,
        }
    }

    async fn get(&self, url: &str) -> Step {
        Self::page(self.http.get(self.resolve(url)).send().await).await
    }

    async fn post(&self, url: &str, form: &[(&str, &str)]) -> Step {
        Self::page(self.http.post(self.resolve(url)).form(form).send().await).await
    }

    /// Follows redirects (at most ten).
    async fn follow(&self, mut step: Step) -> Step {
        for _ in 0..10 {
            let next = match &step {
                Step::Page(p) if (300..400).contains(&p.status) => p.location.clone(),
                _ => None,
            };
            match next {
                Some(location) => step = self.get(&location).await,
                None => return step,
            }
        }
        step
    }

    async fn approve(&self, user_code: &str, username: &str, password: &str) -> Answer {
        macro_rules! page {
            ($step:expr) => {
                match $step {
                    Step::Page(p) if p.status == 200 => p,
                    Step::Page(p) => return Answer::Refused(p.status, Value::String(p.html)),
                    Step::Lost => return Answer::Lost,
                }
            };
        }
        macro_rules! field {
            ($page:expr, $name:expr) => {
                match $page.field($name) {
                    Some(v) => v,
                    None => return Answer::Refused(200, Value::String($page.html)),
                }
            };
        }
        let code_page = page!(
            self.get(&format!("{}/device?user_code={user_code}", self.realm))
                .await
        );
        let csrf = field!(code_page, "csrf");
        let next = self
            .post(
                &format!("{}/device", self.realm),
                &[("csrf", &csrf), ("user_code", user_code)],
            )
            .await;
        let login = page!(self.follow(next).await);
        let consent = if login.contains("name=\"password\"") {
            let csrf = field!(login, "csrf");
            let return_to = login.field("return_to").unwrap_or_default();
            let Some(action) = login.form_action() else {
                return Answer::Refused(200, Value::String(login.html));
            };
            let next = self
                .post(
                    &action,
                    &[
                        ("csrf", &csrf),
                        ("return_to", &return_to),
                        ("username", username),
                        ("password", password),
                    ],
                )
                .await;
            page!(self.follow(next).await)
        } else {
            login
        };
        if !consent.contains("id=\"approve\"") {
            return Answer::Refused(200, Value::String(consent.html));
        }
        let csrf = field!(consent, "csrf");
        let result = page!(
            self.post(
                &format!("{}/device/decision", self.realm),
                &[
                    ("csrf", &csrf),
                    ("user_code", user_code),
                    ("decision", "approve"),
                ],
            )
            .await
        );
        if result.contains("Device connected") {
            Answer::Acked(Value::Null)
        } else {
            Answer::Refused(200, Value::String(result.html))
        }
    }
}
