//! Password guessing bounds (issue 11, item 5): per account (Keycloak-style brute-force detection, decided before
//! the password is checked so that parallel guesses cannot all pass), per address, the same for the sign-in page
//! and the password grant; the password grant refused to public clients unless allowed.

mod common;

use common::{Reply, pg_store, post_basic};
use keyport_server::store::{BrowserStore, LockoutRule, SqliteStore};
use keyport_testkit::{Browser, TestDatabase, TestServer};
use std::sync::Arc;

const CONFIG: &str = r#"
[[realms]]
name = "r"

[realms.brute_force]
failure_factor = 3
wait_increment = "1m"
max_wait = "5m"
attempts_per_address_per_minute = 1000

[[realms.clients]]
client_id = "legacy"
secret = "legacy-secret-0123456789-abcdef-0123456"
grants = ["password"]

[[realms.users]]
username = "alice"
password = "alice-password-1"

[[realms]]
name = "busy"

[realms.brute_force]
failure_factor = 100
attempts_per_address_per_minute = 10000

[[realms.clients]]
client_id = "legacy"
secret = "legacy-secret-0123456789-abcdef-0123456"
grants = ["password"]

[[realms.users]]
username = "carol"
password = "carol-password-1"

[[realms]]
name = "narrow"

[realms.brute_force]
attempts_per_address_per_minute = 4

[[realms.clients]]
client_id = "legacy"
secret = "legacy-secret-0123456789-abcdef-0123456"
grants = ["password"]

[[realms.users]]
username = "bob"
password = "bob-password-1"
"#;

const LEGACY: (&str, &str) = ("legacy", "legacy-secret-0123456789-abcdef-0123456");

async fn password_grant(s: &TestServer, realm: &str, username: &str, password: &str) -> Reply {
    post_basic(
        &s.endpoint(realm, "token"),
        LEGACY,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

fn is_locked(r: &Reply) -> bool {
    r.status == 400
        && r.json["error"] == "invalid_grant"
        && r.json["error_description"]
            .as_str()
            .unwrap()
            .contains("locked")
}

#[tokio::test]
async fn an_account_locks_after_repeated_failures_and_unlocks_with_a_growing_wait() {
    let s = TestServer::start(CONFIG).await;
    for _ in 0..3 {
        let r = password_grant(&s, "r", "alice", "wrong").await;
        r.assert_error(400, "invalid_grant");
        assert!(!is_locked(&r), "{r:?}");
    }
    // Locked: even the right password is not checked.
    assert!(is_locked(
        &password_grant(&s, "r", "alice", "alice-password-1").await
    ));
    // The sign-in page shares the lock.
    let browser = Browser::new(&s.issuer("r"));
    let login = browser.get("/login").await;
    let page = browser
        .sign_in_as(&login, "alice", "alice-password-1")
        .await;
    assert_eq!(page.status, 429, "{}", page.html);
    assert!(page.contains("Too many failed sign-ins"));
    // After the wait one more try is allowed; a failure locks again, for longer (2 increments).
    s.clock.advance(61);
    password_grant(&s, "r", "alice", "wrong")
        .await
        .assert_error(400, "invalid_grant");
    s.clock.advance(61);
    assert!(is_locked(
        &password_grant(&s, "r", "alice", "alice-password-1").await
    ));
    s.clock.advance(60);
    // A right password then resets the count.
    assert_eq!(
        password_grant(&s, "r", "alice", "alice-password-1")
            .await
            .status,
        200
    );
    for _ in 0..2 {
        password_grant(&s, "r", "alice", "wrong").await;
    }
    assert_eq!(
        password_grant(&s, "r", "alice", "alice-password-1")
            .await
            .status,
        200
    );
    // Unknown usernames are bounded the same way: the answers do not tell them apart.
    for _ in 0..3 {
        assert!(!is_locked(&password_grant(&s, "r", "nobody", "x").await));
    }
    assert!(is_locked(&password_grant(&s, "r", "nobody", "x").await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_guesses_cannot_pass_the_check_together() {
    let s = TestServer::start(CONFIG).await;
    let url = s.endpoint("r", "token");
    let mut set = tokio::task::JoinSet::new();
    for i in 0..24 {
        let url = url.clone();
        set.spawn(async move {
            let guess = format!("guess-{i}");
            let form = [
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", guess.as_str()),
            ];
            post_basic(&url, LEGACY, &form).await
        });
    }
    let answers = set.join_all().await;
    let checked = answers.iter().filter(|r| !is_locked(r)).count();
    assert_eq!(
        checked, 3,
        "only failure_factor guesses may reach the password check: {answers:?}"
    );
}

/// Attempts are counted before the password is checked and a right password clears the count: parallel right
/// sign-ins of one account, fewer at once than the failure factor, all pass over HTTP. (The race that once made
/// one of them read as locked — a success's DELETE between counting's INSERT and UPDATE — is too narrow to hit
/// reliably through argon2id-paced requests; the store-level test below provokes it and fails on that code.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_right_passwords_of_one_account_all_pass() {
    let s = TestServer::start(CONFIG).await;
    let url = s.endpoint("busy", "token");
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = url.clone();
        set.spawn(async move {
            let mut answers = Vec::new();
            for _ in 0..8 {
                let form = [
                    ("grant_type", "password"),
                    ("username", "carol"),
                    ("password", "carol-password-1"),
                ];
                answers.push(post_basic(&url, LEGACY, &form).await);
            }
            answers
        });
    }
    let answers: Vec<Reply> = set.join_all().await.into_iter().flatten().collect();
    let refused: Vec<&Reply> = answers.iter().filter(|r| r.status != 200).collect();
    assert!(refused.is_empty(), "right passwords refused: {refused:?}");
    assert_eq!(answers.len(), 64);
}

/// The same race at the store, where it can be provoked thousands of times a second: counting attempts while
/// right passwords clear the count never answers "locked" below the failure factor (on both backends; the
/// PostgreSQL pool runs the two loops on separate connections).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counting_and_clearing_attempts_concurrently_never_reads_as_locked() {
    async fn race(store: Arc<dyn BrowserStore>) {
        let rule = LockoutRule {
            now: 1_000,
            reset_before: 0,
            factor: 1_000_000,
            increment: 60,
            max_wait: 900,
        };
        let clearing = {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..1_000 {
                    store.clear_password_failures("r", "alice").await.unwrap();
                }
            })
        };
        for i in 0..1_000 {
            let counted = store
                .count_password_attempt("r", "alice", &rule)
                .await
                .unwrap();
            assert!(counted.is_some(), "attempt {i} read as a locked account");
        }
        clearing.await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    race(Arc::new(SqliteStore::open(dir.path()).await.unwrap())).await;
    let db = TestDatabase::create().await;
    race(Arc::new(pg_store(&db).await)).await;
}

#[tokio::test]
async fn attempts_per_address_are_bounded() {
    let s = TestServer::start(CONFIG).await;
    for name in ["a", "b", "c", "d"] {
        password_grant(&s, "narrow", name, "x")
            .await
            .assert_error(400, "invalid_grant");
    }
    password_grant(&s, "narrow", "bob", "bob-password-1")
        .await
        .assert_error(400, "slow_down");
    s.clock.advance(61);
    assert_eq!(
        password_grant(&s, "narrow", "bob", "bob-password-1")
            .await
            .status,
        200
    );
}

#[test]
fn public_clients_get_the_password_grant_only_when_allowed() {
    let toml = |extra: &str| {
        format!(
            "[[realms]]\nname = \"r\"\n[[realms.clients]]\nclient_id = \"nb\"\npublic = true\ngrants = [\"password\"]\n{extra}"
        )
    };
    let mut refused =
        keyport_server::config::Config::from_toml(&toml(""), std::path::Path::new("t.toml"))
            .unwrap();
    let err = refused.validate().unwrap_err().to_string();
    assert!(err.contains("allow_public_password_grant"), "{err}");
    let mut allowed = keyport_server::config::Config::from_toml(
        &toml("allow_public_password_grant = true"),
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    allowed.validate().unwrap();
}
