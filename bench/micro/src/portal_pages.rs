//! `portal-pages`: what a page of the portal's administrator lists costs in a big realm (issue 12). Not part of
//! the test suite.
//!
//! ```text
//! portal-pages [TOKENS [AUDIT [USERS [REPEAT]]]]      defaults: 100000 1000000 1000 25
//! KEYPORT_TEST_BACKEND=postgres portal-pages …        the same on a fresh PostgreSQL database
//!                                                      (KEYPORT_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test)
//! ```
//!
//! Starts a real server (`keyport_testkit::TestServer`: SQLite in a temporary directory, or a fresh PostgreSQL
//! database), fills realm `bench` through the store (USERS machine users, TOKENS scoped and personal API tokens,
//! AUDIT audit entries written in batches by `record_usage`, the same statement the server uses for token uses),
//! signs an administrator in through the sign-in page, then GETs each page REPEAT times and prints the median and
//! the 90th percentile in milliseconds (the whole HTTP round trip on loopback: query, template, response), one
//! JSON object per page. For comparison it also times the admin API's offset paging (`first=`) at the same
//! depth, which is what a page would cost without keyset paging. On PostgreSQL the tables are `ANALYZE`d after
//! the fill (through `psql`), as autovacuum would have done in a running deployment.

use std::sync::Arc;
use std::time::Instant;

use keyport_server::store::{ApiToken, AuditRecord, Store, TokenQuery, User, UserType};
use keyport_testkit::{Browser, TestServer};
use serde_json::json;

const CONFIG: &str = r#"
[[realms]]
name = "bench"
scopes = ["models:read", "sessions:write"]

[[realms.clients]]
client_id = "bench-cli"
public = true
grants = ["password"]
allow_public_password_grant = true
scopes = ["admin"]

[[realms.users]]
username = "root"
password = "bench-root-password"
roles = ["admin"]
"#;

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers: TOKENS AUDIT USERS REPEAT"))
        .collect();
    let tokens = *args.first().unwrap_or(&100_000) as usize;
    let audit = *args.get(1).unwrap_or(&1_000_000) as usize;
    let users = *args.get(2).unwrap_or(&1_000) as usize;
    let repeat = *args.get(3).unwrap_or(&25) as usize;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(tokens, audit, users, repeat));
}

async fn run(n_tokens: usize, n_audit: usize, n_users: usize, repeat: usize) {
    let backend = std::env::var("KEYPORT_TEST_BACKEND").unwrap_or_else(|_| "sqlite".into());
    let s = TestServer::start(CONFIG).await;
    let store: Arc<dyn Store> = s.running.state.store.clone();
    let now = s.running.state.now();

    // Fill.
    let t = Instant::now();
    let mut user_ids = Vec::with_capacity(n_users);
    for i in 0..n_users {
        let user = User {
            id: format!("u{i:06}"),
            realm: "bench".into(),
            username: format!("machine-{i:06}"),
            email: Some(format!("m{i:06}@bench.keyport")),
            name: None,
            password_hash: None,
            roles: vec!["bot".into()],
            user_type: UserType::Machine,
            enabled: true,
            created_at: now - 400 * 86400,
        };
        store.insert_user(&user).await.expect("insert user");
        user_ids.push(user.id);
    }
    let mut token_ids = Vec::with_capacity(n_tokens);
    let gate = Arc::new(tokio::sync::Semaphore::new(8));
    let mut inserts = tokio::task::JoinSet::new();
    for i in 0..n_tokens {
        let user = user_ids[i % n_users].clone();
        let id = format!("{:032x}", (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        token_ids.push(id.clone());
        let row = ApiToken {
            id,
            realm: "bench".into(),
            token_hash: format!("{i:064x}"),
            user_id: user.clone(),
            name: Some(format!("token {i}")),
            scopes: if i % 10 == 0 {
                Vec::new()
            } else {
                vec!["models:read".into()]
            },
            unscoped: i % 10 == 0,
            created_by: user,
            // Four a minute over the last 70 days, the four in the same second (ties broken by id).
            created_at: now - 6_100_000 + (i as i64 / 4) * 60,
            expires_at: now + 90 * 86400,
            last_used_at: Some(now - (i as i64 % 86400)),
            revoked_at: None,
        };
        let (store, permit) = (store.clone(), gate.clone().acquire_owned().await.unwrap());
        inserts.spawn(async move {
            store.insert_api_token(&row).await.expect("insert token");
            drop(permit);
        });
    }
    while inserts.join_next().await.is_some() {}
    let tokens_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let actions = [
        "token.use",
        "token.use",
        "token.use",
        "token.create",
        "token.revoke",
        "user.read",
    ];
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n_audit {
        let token = (i % 7 != 0).then(|| token_ids[(i * 31) % n_tokens].clone());
        batch.push(AuditRecord {
            id: 0,
            // Spread over the last 90 days, several to a second.
            at: now - 90 * 86400 + (i as i64) * 90 * 86400 / n_audit.max(1) as i64,
            realm: "bench".into(),
            actor_user_id: Some(user_ids[(i * 7) % n_users].clone()),
            token_id: token,
            action: actions[i % actions.len()].into(),
            target: None,
            outcome: "success".into(),
            detail: None,
        });
        if batch.len() == 10_000 {
            store
                .record_usage(&AuditRecord::rows(&batch), &[])
                .await
                .expect("insert audit");
            batch.clear();
        }
    }
    store
        .record_usage(&AuditRecord::rows(&batch), &[])
        .await
        .expect("insert audit");
    let audit_s = t.elapsed().as_secs_f64();
    // PostgreSQL plans by its statistics, which autovacuum refreshes some time after a bulk load; until then a
    // filtered list may be planned as if the table were empty (measured: 460 ms instead of 3 ms for the audit
    // filtered by action). A deployment's tables have statistics, so measure with them (`psql` on PATH).
    let analyzed = match &s.data.database {
        Some(db) => {
            let ok = std::process::Command::new("psql")
                .args([db.url.as_str(), "-q", "-c", "ANALYZE"])
                .status()
                .is_ok_and(|st| st.success());
            assert!(ok, "psql ANALYZE failed (is psql on PATH?)");
            true
        }
        None => false,
    };
    println!(
        "{}",
        json!({"backend": backend, "fill": {"users": n_users, "tokens": n_tokens, "tokens_s": tokens_s,
            "audit": n_audit, "audit_s": audit_s, "analyzed": analyzed}})
    );

    // Sign in as the realm's administrator.
    let browser = Browser::new(&s.issuer("bench"));
    let login = browser
        .follow(browser.get("/account/admin/tokens/scoped").await)
        .await;
    let page = browser
        .sign_in_as(&login, "root", "bench-root-password")
        .await;
    assert_eq!(page.status, 200, "signed in: {}", page.html);

    // Cursors deep in each list, found once (untimed) by offset.
    let deep_token = store
        .list_api_tokens(&TokenQuery {
            realm: "bench".into(),
            kind: Some(keyport_server::store::TokenKind::Scoped),
            first: (n_tokens * 9 / 10 * 9 / 10) as i64,
            max: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .pop()
        .map(|(t, _)| format!("{}.{}", t.created_at, t.id))
        .expect("a deep token");
    let deep_audit = store
        .list_audit(&keyport_server::store::AuditQuery {
            realm: "bench".into(),
            first: (n_audit * 9 / 10) as i64,
            max: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .pop()
        .map(|e| format!("{}.{}", e.at, e.id))
        .expect("a deep audit entry");
    let some_user = "machine-000042";
    let some_token = &token_ids[n_tokens / 3];
    let since = now - 30 * 86400;
    let until = now - 29 * 86400;

    let pages: Vec<(&str, String)> = vec![
        (
            "scoped tokens, first page",
            "/account/admin/tokens/scoped".into(),
        ),
        (
            "scoped tokens, page at 90%",
            format!("/account/admin/tokens/scoped?after={deep_token}"),
        ),
        (
            "scoped tokens of one user",
            format!("/account/admin/tokens/scoped?user={some_user}"),
        ),
        (
            "personal tokens, first page",
            "/account/admin/tokens".into(),
        ),
        ("audit, first page", "/account/admin/audit".into()),
        (
            "audit, page at 90%",
            format!("/account/admin/audit?before={deep_audit}"),
        ),
        (
            "audit of one user",
            format!("/account/admin/audit?user={some_user}"),
        ),
        (
            "audit of one token",
            format!("/account/admin/audit?token={some_token}"),
        ),
        (
            "audit, action token.revoke",
            "/account/admin/audit?action=token.revoke".into(),
        ),
        (
            "audit, one day 30 days ago",
            format!("/account/admin/audit?since={since}&until={until}"),
        ),
        ("users, first page", "/account/admin/users".into()),
        ("users, search", "/account/admin/users?search=000042".into()),
    ];
    for (name, path) in pages {
        let times = time(repeat, || async {
            let page = browser.get(&path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.html);
        })
        .await;
        report(name, &path, &times);
    }

    // The admin API's offset paging at the same depth (what keyset paging avoids).
    let token = admin_token(&s).await;
    let http = reqwest::Client::new();
    for (name, path) in [
        (
            "admin API tokens, first=0",
            "tokens?first=0&max=50".to_owned(),
        ),
        (
            "admin API tokens, first at 90%",
            format!("tokens?first={}&max=50", n_tokens * 9 / 10),
        ),
        ("admin API audit, first=0", "audit?first=0&max=50".into()),
        (
            "admin API audit, first at 90%",
            format!("audit?first={}&max=50", n_audit * 9 / 10),
        ),
    ] {
        let url = format!("{}/admin/realms/bench/{path}", s.url);
        let times = time(repeat.min(10), || async {
            let r = http.get(&url).bearer_auth(&token).send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
        })
        .await;
        report(name, &path, &times);
    }
}

/// Milliseconds of each of `n` runs, after one warm-up run.
async fn time<F, Fut>(n: usize, f: F) -> Vec<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    f().await;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await;
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out.sort_by(f64::total_cmp);
    out
}

fn report(name: &str, path: &str, sorted: &[f64]) {
    let at = |p: f64| sorted[((sorted.len() - 1) as f64 * p).round() as usize];
    println!(
        "{}",
        json!({"page": name, "path": path, "median_ms": (at(0.5) * 100.0).round() / 100.0,
            "p90_ms": (at(0.9) * 100.0).round() / 100.0, "runs": sorted.len()})
    );
}

/// A personal API token of the realm's administrator, made through the admin API with a password-grant access
/// token that carries `admin`.
async fn admin_token(s: &TestServer) -> String {
    let http = reqwest::Client::new();
    let r: serde_json::Value = http
        .post(s.endpoint("bench", "token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "bench-cli"),
            ("username", "root"),
            ("password", "bench-root-password"),
            ("scope", "openid admin"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwt = r["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let r: serde_json::Value = http
        .post(format!("{}/admin/realms/bench/tokens", s.url))
        .bearer_auth(jwt)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["token"].as_str().expect("a personal token").to_owned()
}
