//! keyport as a relying party of `oidc-provider` (npm, the OpenID Certified Node.js server): federation proven
//! against an implementation that is not ours. `tests/oidc-provider/server.mjs` runs it on 127.0.0.1:0 with one
//! client (authorization code, PKCE, client_secret_basic, the downstream's loopback broker redirect URI) and its
//! dev interactions, whose sign-in and consent forms the test submits with the testkit's cookie-keeping
//! [`Browser`]. Needs `node` and `npm ci` in `tests/oidc-provider/` (scripts/install-test-deps.sh); without them
//! the test fails saying so.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use keyport_testkit::{Browser, Page, TestServer};

const SECRET: &str = "oidc-provider-secret-0123456789-abcdef";

/// oidc-provider, killed when dropped.
struct OidcProvider {
    child: Child,
    issuer: String,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl OidcProvider {
    fn start() -> OidcProvider {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-provider");
        let installed = dir.join("node_modules/oidc-provider/package.json");
        assert!(
            installed.is_file(),
            "oidc-provider (npm) is not installed in {}: run scripts/install-test-deps.sh (it runs `npm ci` there)",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg("server.mjs")
            .current_dir(&dir)
            .env("DOWNSTREAM_REALM", "web")
            .env("DOWNSTREAM_ALIAS", "oidcp")
            .env("CLIENT_SECRET", SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `node` (Node.js >= 20 is needed for oidc-provider): {e}")
            });
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(issuer) = line.strip_prefix("oidc-provider listening on ") {
                    let _ = tx.send(issuer.trim().to_owned());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(issuer) => OidcProvider { child, issuer },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("oidc-provider did not start within 60 s ({status:?})")
            }
        }
    }
}

/// The downstream keyport (realm `web`) trusting oidc-provider as `oidcp`.
fn downstream(issuer: &str) -> String {
    format!(
        r#"
[[realms]]
name = "web"

[[realms.identity_providers]]
alias = "oidcp"
display_name = "Node OP"
issuer = "{issuer}"
client_id = "keyport-down"
client_secret = "{SECRET}"
default_roles = ["guest"]
"#
    )
}

/// Follows redirects across both servers until a page (not a redirect) answers: its URL and the page.
async fn walk(b: &Browser, mut url: String) -> (String, Page) {
    loop {
        let page = b.get_url(&url).await;
        match page.location.clone() {
            Some(loc) if (300..400).contains(&page.status) => {
                url = reqwest::Url::parse(&url)
                    .unwrap()
                    .join(&loc)
                    .unwrap()
                    .to_string();
            }
            _ => return (url, page),
        }
    }
}

/// Submits the one form of an oidc-provider page at `url` with `form`, then walks on.
async fn submit(b: &Browser, url: &str, page: &Page, form: &[(&str, &str)]) -> (String, Page) {
    let re = regex::Regex::new(r#"<form[^>]* action="([^"]*)""#).unwrap();
    let action = re
        .captures(&page.html)
        .unwrap_or_else(|| panic!("a form at {url}: {}", page.html));
    let action = reqwest::Url::parse(url)
        .unwrap()
        .join(&keyport_testkit::unescape(&action[1]))
        .unwrap();
    let posted = b.post_url(action.as_str(), form).await;
    let location = posted.location.unwrap_or_else(|| {
        panic!(
            "a redirect after {action}: {} {}",
            posted.status, posted.html
        )
    });
    walk(b, action.join(&location).unwrap().to_string()).await
}

/// "Sign in with Node OP" at the downstream, as `login` at oidc-provider (any password), granting consent when
/// asked: the page it ends on.
async fn sign_in_through_oidc_provider(down: &TestServer, op: &OidcProvider, login: &str) -> Page {
    let b = Browser::new(&down.issuer("web"));
    let start = format!(
        "{}/broker/oidcp/login?return_to=/realms/web/login",
        down.issuer("web")
    );
    let (url, page) = walk(&b, start).await;
    assert!(url.starts_with(&op.issuer), "at oidc-provider: {url}");
    assert!(
        page.contains("name=\"login\""),
        "its sign-in form: {}",
        page.html
    );
    let (mut url, mut page) = submit(
        &b,
        &url,
        &page,
        &[("prompt", "login"), ("login", login), ("password", "any")],
    )
    .await;
    if url.starts_with(&op.issuer) && page.contains("name=\"prompt\" value=\"consent\"") {
        (url, page) = submit(&b, &url, &page, &[("prompt", "consent")]).await;
    }
    assert!(
        url.starts_with(&down.issuer("web")),
        "back at the downstream: {url}\n{}",
        page.html
    );
    page
}

#[tokio::test]
async fn first_sign_in_through_oidc_provider_creates_the_account_and_the_next_finds_it() {
    let op = OidcProvider::start();
    let down = TestServer::start(&downstream(&op.issuer)).await;
    let store = &down.running.state.store;

    let page = sign_in_through_oidc_provider(&down, &op, "carol").await;
    assert!(
        page.contains("You are signed in as carol."),
        "{}",
        page.html
    );
    let carol = store
        .user_by_username("web", "carol")
        .await
        .unwrap()
        .expect("carol was created");
    assert_eq!(carol.email.as_deref(), Some("carol@oidc-provider.example"));
    assert_eq!(carol.roles, vec!["guest".to_owned()]);
    assert!(carol.password_hash.is_none());
    let linked = store
        .linked_user("web", "oidcp", "carol")
        .await
        .unwrap()
        .expect("linked to oidc-provider's subject");
    assert_eq!(linked.id, carol.id);

    // A second sign-in, in another browser (a new oidc-provider session too), finds the same account.
    let page = sign_in_through_oidc_provider(&down, &op, "carol").await;
    assert!(
        page.contains("You are signed in as carol."),
        "{}",
        page.html
    );
    let users = store.list_users("web", 0, 100).await.unwrap();
    let ids: Vec<_> = users
        .iter()
        .map(|u| (u.username.as_str(), u.id.as_str()))
        .collect();
    assert_eq!(ids, [("carol", carol.id.as_str())]);
}
