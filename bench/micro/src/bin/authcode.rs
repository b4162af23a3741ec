//! `authcode`: the authorization code flow with PKCE S256 as browsers run it, against keyport or any OpenID
//! provider (bench/authcode.sh runs it against keyport, oidc-provider and keyport brokering an upstream keyport).
//!
//! ```text
//! authcode --authorize URL --token URL --client-id ID --redirect-uri URI [options]
//!   --client-secret S     a confidential client (client_secret_basic); default: a public client (client_id in the form)
//!   --scope SCOPE         default "openid profile email"
//!   --browsers N          concurrent browsers, default 16
//!   --seconds S           the measured window, default 10
//!   --warmup S            flows run before it and not counted (each browser signs in during its first), default 3
//!   --username U --password P
//!                         what a browser types into a sign-in page with a password field
//!   --fresh-origin URL    drop this origin's cookies before every flow (a browser new to that server): with the
//!                         origin of the authorization endpoint, every flow signs in again
//!   --broker ALIAS        on a page linking to `…/broker/ALIAS/login`, follow that link ("Sign in with …")
//!   --server-pid PID      report this process's CPU (utime+stime, /proc/PID/stat) per counted flow
//!   --upstream-pid PID    the same for a second process (the upstream provider of a broker)
//! ```
//!
//! Each browser keeps its own cookies (per origin and path) and its own keep-alive connections, and follows
//! redirects itself until one goes to the redirect URI. A flow: GET the authorization endpoint with a fresh
//! `state`, `nonce` and PKCE S256 challenge; follow redirects (signing in or following the broker link where a
//! page asks); check the `state` that comes back with the `code`; POST the code and the verifier to the token
//! endpoint; check that an access token (and with `openid` an ID token) came back. Flows that complete inside the
//! measured window are counted; the server's CPU is read at the window's two ends. Prints one JSON object.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use keyport_bench::percentile;
use keyport_server::crypto::random_token;
use keyport_server::domain::authorization_code::s256;
use keyport_testkit::Page;
use reqwest::Url;
use reqwest::header::{COOKIE, HeaderValue, LOCATION, SET_COOKIE};
use serde_json::json;

type Result<T> = std::result::Result<T, String>;

struct Config {
    authorize: String,
    token: String,
    client_id: String,
    client_secret: Option<String>,
    redirect_uri: String,
    scope: String,
    credentials: Option<(String, String)>,
    fresh_origin: Option<String>,
    broker: Option<String>,
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("authcode: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let mut opts: HashMap<String, String> = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(key) = args.next() {
        let name = key
            .strip_prefix("--")
            .ok_or_else(|| format!("expected --OPTION, got `{key}`"))?;
        let value = args.next().ok_or_else(|| format!("{key} needs a value"))?;
        opts.insert(name.to_owned(), value);
    }
    let mut take = |k: &str| opts.remove(k);
    let need = |v: Option<String>, k: &str| v.ok_or_else(|| format!("--{k} is required"));
    let number = |v: Option<String>, k: &str, default: u64| -> Result<u64> {
        v.map_or(Ok(default), |s| {
            s.parse().map_err(|_| format!("--{k}: not a number: {s}"))
        })
    };
    let config = Config {
        authorize: need(take("authorize"), "authorize")?,
        token: need(take("token"), "token")?,
        client_id: need(take("client-id"), "client-id")?,
        client_secret: take("client-secret"),
        redirect_uri: need(take("redirect-uri"), "redirect-uri")?,
        scope: take("scope").unwrap_or_else(|| "openid profile email".into()),
        credentials: match (take("username"), take("password")) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            _ => return Err("--username and --password go together".into()),
        },
        fresh_origin: take("fresh-origin").map(|u| origin(&u)).transpose()?,
        broker: take("broker"),
    };
    let browsers = number(take("browsers"), "browsers", 16)? as usize;
    let seconds = number(take("seconds"), "seconds", 10)?;
    let warmup = number(take("warmup"), "warmup", 3)?;
    let pids: Vec<(&str, u32)> = [
        ("server", take("server-pid")),
        ("upstream", take("upstream-pid")),
    ]
    .into_iter()
    .filter_map(|(name, pid)| pid.map(|p| (name, p)))
    .map(|(name, p)| Ok((name, p.parse().map_err(|_| format!("bad pid {p}"))?)))
    .collect::<Result<_>>()?;
    if let Some(k) = opts.keys().next() {
        return Err(format!("unknown option --{k}"));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(drive(Arc::new(config), browsers, seconds, warmup, pids))
}

/// What the measured window saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    requests: u64,
    sign_ins: u64,
    errors: BTreeMap<String, u64>,
}

async fn drive(
    config: Arc<Config>,
    browsers: usize,
    seconds: u64,
    warmup: u64,
    pids: Vec<(&'static str, u32)>,
) -> Result<()> {
    let start = Instant::now();
    let t0 = start + Duration::from_secs(warmup);
    let t1 = t0 + Duration::from_secs(seconds);
    let tally = Arc::new(Mutex::new(Tally::default()));
    // Only the first few failures of the warm-up are printed (a wrong setup fails every flow).
    let warmup_failures = Arc::new(AtomicUsize::new(0));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..browsers {
        let (config, tally) = (config.clone(), tally.clone());
        let warmup_failures = warmup_failures.clone();
        set.spawn(async move {
            let http = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| e.to_string())?;
            let mut jar = Jar::default();
            while Instant::now() < t1 {
                if let Some(o) = &config.fresh_origin {
                    jar.forget(o);
                }
                let began = Instant::now();
                let outcome = flow(&http, &config, &mut jar).await;
                let ended = Instant::now();
                if ended < t0 || ended >= t1 {
                    if let Err(e) = outcome
                        && ended < t0
                        && warmup_failures.fetch_add(1, Ordering::Relaxed) < 3
                    {
                        eprintln!("authcode: a warm-up flow failed: {e}");
                    }
                    continue;
                }
                let mut t = tally.lock().expect("not poisoned");
                match outcome {
                    Ok(done) => {
                        let us = (ended - began).as_micros().min(u32::MAX as u128) as u32;
                        t.latencies_us.push(us);
                        t.requests += done.requests;
                        t.sign_ins += done.sign_ins;
                    }
                    Err(kind) => *t.errors.entry(kind).or_default() += 1,
                }
            }
            Ok::<_, String>(())
        });
    }
    // The servers' CPU at the window's two ends.
    tokio::time::sleep_until(t0.into()).await;
    let before: Vec<u64> = pids
        .iter()
        .map(|(_, p)| cpu_ticks(*p))
        .collect::<Result<_>>()?;
    tokio::time::sleep_until(t1.into()).await;
    let after: Vec<u64> = pids
        .iter()
        .map(|(_, p)| cpu_ticks(*p))
        .collect::<Result<_>>()?;
    while let Some(joined) = set.join_next().await {
        joined.map_err(|e| e.to_string())??;
    }
    let t = tally.lock().expect("not poisoned");
    let mut l = t.latencies_us.clone();
    l.sort_unstable();
    let flows = l.len() as u64;
    let hz = clock_ticks_per_second();
    let mut out = json!({
        "flows": flows,
        "browsers": browsers,
        "seconds": seconds,
        "per_s": flows as f64 / seconds as f64,
        "p50_ms": percentile(&l, 0.50),
        "p99_ms": percentile(&l, 0.99),
        "requests_per_flow": t.requests as f64 / flows.max(1) as f64,
        "sign_ins": t.sign_ins,
        "errors": t.errors.values().sum::<u64>(),
        "error_kinds": t.errors,
    });
    for (i, (name, _)) in pids.iter().enumerate() {
        let ticks = after[i].saturating_sub(before[i]);
        out[format!("{name}_cpu_us")] = json!(ticks as f64 / hz * 1e6 / flows.max(1) as f64);
    }
    println!("{out}");
    Ok(())
}

/// utime + stime of process `pid` (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    let after_name = stat.rsplit_once(')').ok_or("unexpected /proc/PID/stat")?.1;
    let f: Vec<&str> = after_name.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        f.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "unexpected /proc/PID/stat".to_owned())
    };
    // After the command name: state is field 0, utime 11, stime 12 (proc(5) fields 14 and 15).
    Ok(field(11)? + field(12)?)
}

/// `getconf CLK_TCK` (100 on every Linux this runs on, should getconf be missing).
fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// `scheme://host:port` of a URL.
fn origin(url: &str) -> Result<String> {
    let u = Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    Ok(u.origin().ascii_serialization())
}

/// A browser's cookies: per origin (host and port, as a browser would not do for ports, so that two servers on
/// 127.0.0.1 keep theirs apart) and path.
#[derive(Default)]
struct Jar {
    cookies: Vec<Cookie>,
}

struct Cookie {
    origin: String,
    path: String,
    name: String,
    value: String,
}

impl Jar {
    fn forget(&mut self, origin: &str) {
        self.cookies.retain(|c| c.origin != origin);
    }

    /// The `Cookie` header for a request to `url`.
    fn header(&self, url: &Url) -> Option<HeaderValue> {
        let o = url.origin().ascii_serialization();
        let pairs: Vec<String> = self
            .cookies
            .iter()
            .filter(|c| c.origin == o && path_matches(url.path(), &c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!pairs.is_empty())
            .then(|| HeaderValue::from_str(&pairs.join("; ")).ok())
            .flatten()
    }

    /// Takes the `Set-Cookie` headers of a response to `url`.
    fn store(&mut self, url: &Url, headers: &reqwest::header::HeaderMap) {
        let o = url.origin().ascii_serialization();
        for h in headers.get_all(SET_COOKIE) {
            let Ok(line) = h.to_str() else { continue };
            let mut parts = line.split(';');
            let Some((name, value)) = parts.next().and_then(|p| p.trim().split_once('=')) else {
                continue;
            };
            // RFC 6265 §5.1.4: the default path is the request path up to its last `/`.
            let mut path = match url.path().rfind('/') {
                Some(0) | None => "/".to_owned(),
                Some(i) => url.path()[..i].to_owned(),
            };
            let mut gone = value.is_empty();
            for attr in parts {
                let (k, v) = attr.trim().split_once('=').unwrap_or((attr.trim(), ""));
                match k.to_ascii_lowercase().as_str() {
                    "path" if v.starts_with('/') => path = v.to_owned(),
                    "max-age" => gone |= v.parse::<i64>().is_ok_and(|s| s <= 0),
                    "expires" => gone |= v.contains("1970"),
                    _ => {}
                }
            }
            self.cookies
                .retain(|c| !(c.origin == o && c.name == name && c.path == path));
            if !gone {
                self.cookies.push(Cookie {
                    origin: o.clone(),
                    path,
                    name: name.to_owned(),
                    value: value.to_owned(),
                });
            }
        }
    }
}

/// RFC 6265 §5.1.4 path-match.
fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request[cookie.len()..].starts_with('/')))
}

/// What one successful flow took.
struct Done {
    requests: u64,
    sign_ins: u64,
}

/// One whole flow; `Err` names the kind of failure (the first thing that went wrong).
async fn flow(http: &reqwest::Client, config: &Config, jar: &mut Jar) -> Result<Done> {
    let verifier = random_token(32);
    let state = random_token(16);
    let nonce = random_token(16);
    let challenge = s256(&verifier);
    let mut url = Url::parse_with_params(
        &config.authorize,
        [
            ("response_type", "code"),
            ("client_id", config.client_id.as_str()),
            ("redirect_uri", config.redirect_uri.as_str()),
            ("scope", config.scope.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .map_err(|e| format!("authorize URL: {e}"))?;
    let mut done = Done {
        requests: 0,
        sign_ins: 0,
    };
    let callback = loop {
        if done.requests >= 20 {
            return Err("more than 20 requests before the redirect URI".into());
        }
        let mut req = http.get(url.clone());
        if let Some(c) = jar.header(&url) {
            req = req.header(COOKIE, c);
        }
        let res = req.send().await.map_err(|e| format!("transport: {e}"))?;
        done.requests += 1;
        jar.store(&url, res.headers());
        let status = res.status().as_u16();
        if (300..400).contains(&status) {
            let next = location(&url, &res)?;
            if next.as_str().starts_with(&config.redirect_uri) {
                break next;
            }
            url = next;
            continue;
        }
        let page = Page {
            status,
            location: None,
            html: res.text().await.map_err(|e| format!("transport: {e}"))?,
        };
        if status != 200 {
            return Err(format!("{status} from {}", url.path()));
        }
        if let Some(link) = config.broker.as_deref().and_then(|a| broker_link(&page, a)) {
            url = url.join(&link).map_err(|e| format!("broker link: {e}"))?;
            continue;
        }
        match &config.credentials {
            Some((username, password)) if page.contains("name=\"password\"") => {
                url = sign_in(http, jar, &url, &page, username, password).await?;
                done.requests += 1;
                done.sign_ins += 1;
            }
            _ => return Err(format!("an unexpected page at {}", url.path())),
        }
    };
    let param = |k: &str| {
        callback
            .query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    if let Some(error) = param("error") {
        return Err(format!("authorization error: {error}"));
    }
    if param("state").as_deref() != Some(state.as_str()) {
        return Err("the state did not come back".into());
    }
    let code = param("code").ok_or("no code")?;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", config.redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let mut req = http.post(&config.token);
    match &config.client_secret {
        Some(secret) => req = req.basic_auth(&config.client_id, Some(secret)),
        None => form.push(("client_id", config.client_id.as_str())),
    }
    let res = req
        .form(&form)
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    done.requests += 1;
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.map_err(|e| format!("token answer: {e}"))?;
    if status != 200 {
        return Err(format!(
            "token {status} {}",
            body["error"].as_str().unwrap_or("-")
        ));
    }
    let has = |k: &str| body[k].as_str().is_some_and(|s| !s.is_empty());
    if !has("access_token") {
        return Err("no access token".into());
    }
    if config.scope.split(' ').any(|s| s == "openid") && !has("id_token") {
        return Err("no ID token".into());
    }
    Ok(done)
}

fn location(base: &Url, res: &reqwest::Response) -> Result<Url> {
    let loc = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("{} without Location from {}", res.status(), base.path()))?;
    base.join(loc).map_err(|e| format!("Location {loc}: {e}"))
}

/// The href of a page's link to `…/broker/{alias}/login…` (the "Sign in with …" button).
fn broker_link(page: &Page, alias: &str) -> Option<String> {
    let needle = format!("/broker/{alias}/login");
    let at = page.html.find(&needle)?;
    let start = page.html[..at].rfind('"')? + 1;
    let end = at + page.html[at..].find('"')?;
    Some(keyport_testkit::unescape(&page.html[start..end]))
}

/// Submits a sign-in page's form (at `url`): where its redirect leads.
async fn sign_in(
    http: &reqwest::Client,
    jar: &mut Jar,
    url: &Url,
    page: &Page,
    username: &str,
    password: &str,
) -> Result<Url> {
    let action = page.form_action().ok_or("a sign-in page without a form")?;
    let action = url.join(&action).map_err(|e| format!("form action: {e}"))?;
    let csrf = page.field("csrf").unwrap_or_default();
    let return_to = page.field("return_to").unwrap_or_default();
    let mut req = http.post(action.clone()).form(&[
        ("csrf", csrf.as_str()),
        ("return_to", return_to.as_str()),
        ("username", username),
        ("password", password),
    ]);
    if let Some(c) = jar.header(&action) {
        req = req.header(COOKIE, c);
    }
    let res = req.send().await.map_err(|e| format!("transport: {e}"))?;
    jar.store(&action, res.headers());
    if !res.status().is_redirection() {
        return Err(format!("sign-in answered {}", res.status()));
    }
    location(&action, &res)
}
