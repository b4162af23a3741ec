//! What an anonymous caller can cost (issue 11, item 3): a request that did not authenticate writes nothing to
//! the database. Forged but well-formed API tokens (the `kp_` checksum is public) sent to the admin API,
//! userinfo and introspection are counted in memory and summarised in at most one audit row per realm and
//! minute, whatever their number.

mod admin_support;
mod common;

use admin_support::*;
use common::*;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A well-formed API token nobody issued: `kp_` + 43 random base62 characters + their public checksum (the
/// first four bytes of SHA-256 over the random part, as six base62 digits).
fn forged() -> String {
    let mut rng = rand::thread_rng();
    let random: String = (0..43)
        .map(|_| BASE62[rng.gen_range(0..62)] as char)
        .collect();
    let digest = Sha256::digest(random.as_bytes());
    let mut n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) as u64;
    let mut sum = [b'0'; 6];
    for slot in sum.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    format!("kp_{random}{}", String::from_utf8(sum.to_vec()).unwrap())
}

/// The whole audit log of `aiod` (at most 1000 rows, far more than these tests write).
async fn all_rows(s: &keyport_testkit::TestServer, admin: &str) -> Vec<Value> {
    audit(s, admin, "max=1000").await
}

fn failures(rows: &[Value]) -> Vec<Value> {
    rows.iter()
        .filter(|e| e["outcome"] == "failure")
        .cloned()
        .collect()
}

/// Sends `n` forged tokens: a third each to the admin API, userinfo and introspection, 32 at a time.
async fn flood(s: &keyport_testkit::TestServer, n: usize) {
    let mut sent = 0;
    while sent < n {
        let mut set = tokio::task::JoinSet::new();
        for i in sent..(sent + 32).min(n) {
            let (admin, userinfo, introspect_url) = (
                admin_url(s, "aiod", "tokens"),
                s.endpoint("aiod", "userinfo"),
                s.endpoint("aiod", "token/introspect"),
            );
            set.spawn(async move {
                let token = forged();
                match i % 3 {
                    0 => get_bearer(&admin, &token)
                        .await
                        .assert_error(401, "invalid_token"),
                    1 => get_bearer(&userinfo, &token)
                        .await
                        .assert_error(401, "invalid_token"),
                    _ => {
                        let r = post_basic(&introspect_url, RS, &[("token", &token)]).await;
                        assert_eq!(r.json, json!({"active": false}), "{r:?}");
                    }
                }
            });
        }
        sent = (sent + 32).min(n);
        set.join_all().await;
    }
}

#[tokio::test]
async fn forged_api_tokens_cost_one_audit_row_a_minute_per_realm() {
    capture_logs();
    let s = server().await;
    let admin = admin_token(&s).await;
    let before = all_rows(&s, &admin).await;
    assert!(failures(&before).is_empty(), "{before:?}");

    flood(&s, 2000).await;
    // Not one row while the minute runs: reading the log (which writes no row of its own) shows the same rows.
    let during = all_rows(&s, &admin).await;
    assert_eq!(during, before);

    // Once the minute is over, its failures are one summary row, visible to the administrator.
    s.clock.advance(60);
    let after = all_rows(&s, &admin).await;
    assert_eq!(after.len(), before.len() + 1, "{after:?}");
    let summary = &failures(&after)[..];
    assert_eq!(summary.len(), 1, "{after:?}");
    assert_eq!(summary[0]["action"], "token.use");
    assert_eq!(summary[0]["realm"], "aiod");
    assert_eq!(
        summary[0]["detail"],
        "2000 failed API-token presentations in one minute, from 1 client address"
    );
    assert!(summary[0]["actor_user_id"].is_null() && summary[0]["token_id"].is_null());
    // And one warning line for the minute, with the count and the number of addresses.
    let log = captured_log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("failed API-token presentations") && l.contains("failures=2000"))
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("addresses=1"), "{}", warnings[0]);

    // A second minute of forgeries: exactly one row more.
    flood(&s, 150).await;
    s.clock.advance(60);
    let later = all_rows(&s, &admin).await;
    assert_eq!(later.len(), before.len() + 2, "{later:?}");
    assert_eq!(
        failures(&later)[0]["detail"],
        "150 failed API-token presentations in one minute, from 1 client address"
    );
}

#[tokio::test]
async fn an_authenticated_callers_refusal_is_still_audited() {
    // Bob authenticated (his access token is valid): his forbidden attempt is his own row, at once.
    let s = server().await;
    let admin = admin_token(&s).await;
    let bob = access_token(&s, "bob", "bob-password-1").await;
    aget(&s, "users", &bob)
        .await
        .assert_error(403, "access_denied");
    let rows = audit(&s, &admin, "action=user.list").await;
    assert!(rows.iter().any(|e| e["outcome"] == "denied"), "{rows:?}");
}

#[tokio::test]
async fn a_summary_that_cannot_be_written_does_not_take_the_others_with_it() {
    use keyport_server::domain::audit::write_failure_summaries;
    use keyport_server::store::AuditQuery;
    use sqlx::Connection;
    capture_logs();
    let s = server().await;
    let state = &s.running.state;
    let realms = ["aiod", "beta", "gamma"];
    for realm in realms {
        state.failed_tokens.note(realm, "192.0.2.7", state.now());
    }
    // The first summary in realm order fails to be written (a trigger refuses its row).
    match &s.data.database {
        Some(db) => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for sql in [
                "CREATE FUNCTION refuse_aiod() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
                 IF NEW.realm = 'aiod' THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$",
                "CREATE TRIGGER refuse_aiod BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_aiod()",
            ] {
                sqlx::query(sql).execute(&mut c).await.unwrap();
            }
        }
        None => {
            // The testkit serves from `data` in its directory.
            let file = s
                .data
                .dir
                .path()
                .join("data")
                .join(keyport_server::store::SQLITE_FILE);
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
                .await
                .unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_aiod BEFORE INSERT ON audit_log WHEN NEW.realm = 'aiod' \
                 BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
            )
            .execute(&mut c)
            .await
            .unwrap();
        }
    }
    s.clock.advance(60);
    assert!(write_failure_summaries(state, false).await.is_err());
    // The two others are written, and all three are in the log.
    for (realm, rows) in [("aiod", 0), ("beta", 1), ("gamma", 1)] {
        let written = state
            .store
            .list_audit(&AuditQuery {
                realm: realm.into(),
                max: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(written.len(), rows, "{realm}: {written:?}");
    }
    let log = captured_log();
    for realm in realms {
        assert!(
            log.lines()
                .any(|l| l.contains("failed API-token presentations") && l.contains(realm)),
            "{realm}: {log}"
        );
    }
}
