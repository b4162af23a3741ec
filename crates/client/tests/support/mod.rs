//! Test support shared by the SDK's and the CLI's end-to-end tests: a real keyport server with a realm for the
//! SDK, a clock adapter so the SDK sees the server's fake time, a ticker that moves that time, and a browser
//! that approves (or denies) a device login through the HTML pages, with cookies and CSRF tokens.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use keyport_testkit::TestServer;

/// The realm every end-to-end test uses.
pub const REALM: &str = "sdk";
pub const PUBLIC_CLIENT: &str = "sdk-cli";
pub const KEEP_CLIENT: &str = "sdk-keep";
pub const BOT_CLIENT: &str = "pipeline-bot";
/// A public client for the browser login (authorization code + PKCE, loopback redirect, no consent page).
pub const WEB_CLIENT: &str = "sdk-web";
/// The same with the consent page (a third-party client).
pub const CONSENT_CLIENT: &str = "sdk-web-consent";
pub const BOT_SECRET: &str = "bot-secret-4f1c2a9e7b3d5f60a8c1e2d4b6f8a0c2";
pub const ALICE: (&str, &str) = ("alice", "alice-password-1");
pub const BOB: (&str, &str) = ("bob", "bob-password-22");

pub fn config_toml(device_code_lifetime: &str) -> String {
    format!(
        r#"
[[realms]]
name = "{REALM}"
access_token_lifetime = "5m"
refresh_token_lifetime = "30d"
device_code_lifetime = "{device_code_lifetime}"
device_poll_interval = "1s"

[[realms.clients]]
client_id = "{PUBLIC_CLIENT}"
public = true
grants = ["device_code", "refresh_token", "password"]
allow_public_password_grant = true

[[realms.clients]]
client_id = "{KEEP_CLIENT}"
public = true
grants = ["device_code", "refresh_token"]
refresh_token_rotation = "off"

[[realms.clients]]
client_id = "{BOT_CLIENT}"
secret = "{BOT_SECRET}"
grants = ["client_credentials"]
roles = ["bot"]

[[realms.users]]
username = "{alice}"
password = "{alice_pw}"
email = "alice@example.org"
roles = ["user", "admin"]

[[realms.users]]
username = "{bob}"
password = "{bob_pw}"
email = "bob@example.org"
roles = ["user"]
"#,
        alice = ALICE.0,
        alice_pw = ALICE.1,
        bob = BOB.0,
        bob_pw = BOB.1,
    )
}

/// [`config_toml`] plus the browser-login clients: their redirect URI is the loopback one, which matches any
/// port (RFC 8252 §7.3).
pub fn web_config_toml() -> String {
    format!(
        r#"{}
[[realms.clients]]
client_id = "{WEB_CLIENT}"
public = true
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]

[[realms.clients]]
client_id = "{CONSENT_CLIENT}"
public = true
consent = true
grants = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]
"#,
        config_toml("10m")
    )
}

/// A running server plus a task moving its clock 1 s every 250 ms, so that polling at the 1 s interval is
/// never "too fast" and nothing waits for real minutes.
pub struct Server {
    pub server: TestServer,
    ticker: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(&config_toml("10m")).await
    }

    pub async fn start_with(toml: &str) -> Server {
        let server = TestServer::start(toml).await;
        let clock = server.clock.clone();
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                clock.advance(1);
            }
        });
        Server { server, ticker }
    }

    /// A server whose clock does not move by itself.
    pub async fn start_still(toml: &str) -> Server {
        let server = TestServer::start(toml).await;
        let ticker = tokio::spawn(async {});
        Server { server, ticker }
    }

    pub fn url(&self) -> &str {
        &self.server.url
    }

    pub fn advance(&self, seconds: i64) {
        self.server.clock.advance(seconds);
    }

    pub fn config(&self, client_id: &str) -> keyport_client::Config {
        keyport_client::Config::new(self.url(), REALM, client_id)
    }

    /// An SDK client that reads the server's (fake) clock.
    pub fn client(&self, client_id: &str) -> keyport_client::Client {
        keyport_client::Client::with_clock(
            self.config(client_id),
            Arc::new(ServerClock(self.server.clock.clone())),
        )
        .expect("client")
    }

    pub fn endpoint(&self, path: &str) -> String {
        self.server.endpoint(REALM, path)
    }
}

/// The server's fake clock, seen through the SDK's `Clock` trait.
#[derive(Clone)]
pub struct ServerClock(pub keyport_server::clock::FakeClock);

impl std::fmt::Debug for ServerClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerClock")
    }
}

impl keyport_client::Clock for ServerClock {
    fn now(&self) -> SystemTime {
        use keyport_server::clock::Clock as _;
        SystemTime::UNIX_EPOCH + Duration::from_secs(self.0.now() as u64)
    }
}

/// What the person does on the consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

/// One HTML form: where it posts, and its named inputs with their values.
#[derive(Debug)]
struct HtmlForm {
    action: String,
    fields: Vec<(String, String)>,
    buttons: Vec<(String, String)>,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!("{name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// An attribute value as the browser reads it (the entities askama and the pages write).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let entity = rest.find(';').map(|end| (&rest[1..end], end));
        let c = entity.and_then(|(entity, _)| match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix("#x")
                .or_else(|| entity.strip_prefix("#X"))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                .and_then(char::from_u32),
        });
        match (c, entity) {
            (Some(c), Some((_, end))) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            _ => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The first `<form method="post">` of a page, when it names its action.
fn parse_form(html: &str) -> Option<HtmlForm> {
    next_form(html)
        .map(|(form, _)| form)
        .filter(|f| !f.action.is_empty())
}

/// Every form of a page (an empty action: the page's own URL).
fn all_forms(mut html: &str) -> Vec<HtmlForm> {
    let mut forms = Vec::new();
    while let Some((form, rest)) = next_form(html) {
        forms.push(form);
        html = rest;
    }
    forms
}

/// The first form of `html` and the text after it.
fn next_form(html: &str) -> Option<(HtmlForm, &str)> {
    let start = html.find("<form")?;
    let end = html[start..].find("</form>")? + start;
    let form = &html[start..end];
    let open_end = form.find('>')?;
    let action = attr(&form[..open_end], "action").unwrap_or_default();
    let mut fields = Vec::new();
    let mut buttons = Vec::new();
    for (kind, list) in [("<input", &mut fields), ("<button", &mut buttons)] {
        let mut rest = form;
        while let Some(i) = rest.find(kind) {
            let tag_end = rest[i..].find('>').map(|e| e + i).unwrap_or(rest.len());
            let tag = &rest[i..tag_end];
            if let Some(name) = attr(tag, "name") {
                list.push((name, attr(tag, "value").unwrap_or_default()));
            }
            rest = &rest[tag_end..];
        }
    }
    Some((
        HtmlForm {
            action,
            fields,
            buttons,
        },
        &html[end + "</form>".len()..],
    ))
}

/// Plays a person in a browser: opens `verification_uri_complete`, submits the code form, signs in, and
/// clicks Approve or Deny. Returns the final page's HTML.
pub async fn browser_decide(complete_url: &str, user: (&str, &str), decision: Decision) -> String {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .unwrap();
    let origin = {
        let u = reqwest::Url::parse(complete_url).unwrap();
        format!("{}://{}", u.scheme(), u.authority())
    };
    let mut html = http
        .get(complete_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for _step in 0..5 {
        let Some(form) = parse_form(&html) else {
            return html;
        };
        let mut body: Vec<(String, String)> = form.fields.clone();
        let names: Vec<&str> = body.iter().map(|(n, _)| n.as_str()).collect();
        if names.contains(&"password") {
            for (n, v) in body.iter_mut() {
                match n.as_str() {
                    "username" => *v = user.0.to_owned(),
                    "password" => *v = user.1.to_owned(),
                    _ => {}
                }
            }
        }
        if let Some((name, value)) = form.buttons.iter().find(|(n, v)| {
            n == "decision"
                && (v
                    == if decision == Decision::Approve {
                        "approve"
                    } else {
                        "deny"
                    })
        }) {
            body.push((name.clone(), value.clone()));
        }
        let action = if form.action.starts_with("http") {
            form.action.clone()
        } else {
            format!("{origin}{}", form.action)
        };
        let resp = http.post(&action).form(&body).send().await.unwrap();
        html = resp.text().await.unwrap();
        if form.buttons.iter().any(|(n, _)| n == "decision") {
            return html;
        }
    }
    html
}

/// What the browser saw at the end of a browser login: the loopback redirect it was sent to and the page the
/// SDK answered there.
#[derive(Debug)]
pub struct WebOutcome {
    /// The URL the server redirected the browser to (the SDK's loopback redirect URI with the answer).
    pub redirected_to: reqwest::Url,
    /// The loopback's HTTP status.
    pub status: u16,
    /// The loopback's page.
    pub page: String,
}

/// Plays a person in a browser through an authorization-code login: opens `authorize_url`, follows the
/// redirects (cookies kept, redirects by hand) to the sign-in page, signs in as `user` with the form's hidden
/// `csrf` and `return_to`, answers the consent page when one comes (Allow for [`Decision::Approve`], else
/// Deny), and opens the loopback redirect the server sends it to.
pub async fn browser_sign_in(
    authorize_url: &str,
    user: (&str, &str),
    decision: Decision,
) -> WebOutcome {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = reqwest::Url::parse(authorize_url).unwrap();
    let redirect_uri = url
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("the authorization URL names its redirect URI");
    let mut post: Option<Vec<(String, String)>> = None;
    for _step in 0..10 {
        let req = match post.take() {
            Some(form) => http.post(url.clone()).form(&form),
            None => http.get(url.clone()),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status();
        if status.is_redirection() {
            let location = resp.headers()[reqwest::header::LOCATION]
                .to_str()
                .unwrap()
                .to_owned();
            let next = url.join(&location).unwrap();
            if next.as_str().starts_with(&redirect_uri) {
                let resp = http.get(next.clone()).send().await.unwrap();
                return WebOutcome {
                    redirected_to: next,
                    status: resp.status().as_u16(),
                    page: resp.text().await.unwrap(),
                };
            }
            url = next;
            continue;
        }
        let html = resp.text().await.unwrap();
        assert_eq!(status, 200, "{url}: {html}");
        let forms = all_forms(&html);
        let (form, fields) = if let Some(form) = forms
            .iter()
            .find(|f| f.fields.iter().any(|(n, _)| n == "password"))
        {
            let mut fields = form.fields.clone();
            for (n, v) in fields.iter_mut() {
                match n.as_str() {
                    "username" => *v = user.0.to_owned(),
                    "password" => *v = user.1.to_owned(),
                    _ => {}
                }
            }
            (form, fields)
        } else if let Some(form) = forms
            .iter()
            .find(|f| f.buttons.iter().any(|(n, _)| n == "decision"))
        {
            let value = if decision == Decision::Approve {
                "allow"
            } else {
                "deny"
            };
            let mut fields = form.fields.clone();
            fields.push(("decision".into(), value.into()));
            (form, fields)
        } else {
            panic!("{url}: neither a sign-in nor a consent page: {html}");
        };
        url = url.join(&form.action).unwrap();
        post = Some(fields);
    }
    panic!("the browser login did not reach the loopback redirect");
}

/// Approves (or denies) in the background, as soon as the instructions are known.
pub fn decide_later(
    complete_url: String,
    user: (&'static str, &'static str),
    decision: Decision,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move { browser_decide(&complete_url, user, decision).await })
}

/// The mode bits of a file.
#[cfg(unix)]
pub fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A hostile OpenID server on loopback: it answers every GET or POST of a path in `routes` with that JSON (the
/// placeholder `{base}` stands for its own URL), and 404 otherwise. It stands for a server an attacker controls,
/// which the real keyport server cannot be made to imitate.
pub struct Hostile {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Hostile {
    pub async fn start(routes: Vec<(&'static str, serde_json::Value)>) -> Hostile {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let base = url.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let path = path.split('?').next().unwrap_or("/").to_owned();
                let (status, body) = match routes.iter().find(|(p, _)| *p == path) {
                    Some((_, v)) => ("200 OK", v.to_string().replace("{base}", &base)),
                    None => ("404 Not Found", "{}".to_owned()),
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        Hostile { url, task }
    }
}
