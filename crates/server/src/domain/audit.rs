//! The audit log: every administrative action and every API-token use that reaches the server, with time,
//! realm, actor, token id, action, target and outcome. Entries carry ids only, never a secret: the builder has
//! no way to take a token, and `detail` is a fixed, secret-free phrase chosen by the caller. API-token uses are
//! not built here: their rows come from `crate::usage::Use::row`, which takes the ids of the cached token and
//! user and a `&'static str` detail.
//!
//! A request that did not authenticate writes no row of its own (issue 11, item 3): a failed API-token
//! presentation is counted in this replica's memory ([`FailedTokens`]), and each realm's count of a minute
//! becomes at most one summary row and one `warn!` line once the minute is over ([`note_failed_token`],
//! [`write_failure_summaries`]). A flood of forged tokens therefore costs one row a minute per realm and
//! replica, whatever its size.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use keyport_proto::admin::AuditEntry;

use super::Result;
use crate::state::AppState;
use crate::store::{AuditQuery, AuditRecord};

/// An entry being built. `outcome` defaults to `success`.
pub struct Entry(AuditRecord);

impl Entry {
    pub fn new(realm: &str, action: &str) -> Entry {
        Entry(AuditRecord {
            realm: realm.to_owned(),
            action: action.to_owned(),
            outcome: "success".into(),
            ..Default::default()
        })
    }

    pub fn actor(mut self, user_id: &str) -> Entry {
        self.0.actor_user_id = Some(user_id.to_owned());
        self
    }

    pub fn maybe_token(mut self, token_id: Option<&str>) -> Entry {
        self.0.token_id = token_id.map(str::to_owned);
        self
    }

    pub fn target(mut self, target: &str) -> Entry {
        self.0.target = Some(target.to_owned());
        self
    }

    pub fn outcome(mut self, outcome: &str) -> Entry {
        self.0.outcome = outcome.to_owned();
        self
    }

    pub fn detail(mut self, detail: &str) -> Entry {
        self.0.detail = Some(detail.to_owned());
        self
    }

    /// The record, stamped with time `at`.
    pub fn stamped(self, at: i64) -> AuditRecord {
        AuditRecord { at, ..self.0 }
    }
}

/// Writes an entry, stamped with the injected clock. Token uses waiting in [`crate::usage`] are written first,
/// so the log keeps the order in which things happened.
pub async fn record(app: &AppState, entry: Entry) -> Result<()> {
    app.usage.flush(&app.store).await?;
    app.store.insert_audit(&entry.stamped(app.now())).await?;
    Ok(())
}

/// Matching entries, newest first, as the admin API shows them (including every token use this replica has
/// served: waiting uses are written first, and so are the failure summaries of minutes that are over).
pub async fn list(app: &AppState, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    write_failure_summaries(app, false).await?;
    app.usage.flush(&app.store).await?;
    Ok(app
        .store
        .list_audit(query)
        .await?
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id.to_string(),
            time: r.at,
            realm: r.realm,
            actor_user_id: r.actor_user_id,
            token_id: r.token_id,
            action: r.action,
            target: r.target,
            outcome: r.outcome,
            detail: r.detail,
        })
        .collect())
}

/// Deletes entries older than the configured retention.
pub async fn purge(app: &AppState) -> Result<u64> {
    let retention = app.settings.audit_retention.as_secs() as i64;
    Ok(app.store.purge_audit(app.now() - retention).await?)
}

/// The action of a failure summary row.
pub const FAILED_TOKENS_ACTION: &str = "token.use";
/// Distinct client addresses remembered per realm and minute; more are counted as "at least".
const MAX_ADDRESSES: usize = 10_000;

/// Failed API-token presentations per realm in the current minute, in this replica's memory; ordered by realm, so
/// that summaries are taken in realm order.
#[derive(Default)]
pub struct FailedTokens(Mutex<BTreeMap<String, Tally>>);

#[derive(Default)]
struct Tally {
    /// The minute (Unix seconds / 60) being counted.
    minute: i64,
    count: u64,
    addresses: HashSet<String>,
}

/// One realm's failures in one minute.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub realm: String,
    pub count: u64,
    pub addresses: usize,
}

impl FailedTokens {
    /// Counts a failure in `realm` from `address` at `now`; returns the summary of an earlier minute of the
    /// realm that this one closes.
    pub fn note(&self, realm: &str, address: &str, now: i64) -> Option<Summary> {
        let minute = now.div_euclid(60);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let tally = map.entry(realm.to_owned()).or_default();
        let closed = (tally.minute != minute)
            .then(|| take(realm, tally))
            .flatten();
        tally.minute = minute;
        tally.count += 1;
        if tally.addresses.len() < MAX_ADDRESSES {
            tally.addresses.insert(address.to_owned());
        }
        closed
    }

    /// Takes the summaries of minutes before `now`'s (or every summary when `all`, at shutdown), in realm order.
    pub fn take_ended(&self, now: i64, all: bool) -> Vec<Summary> {
        let minute = now.div_euclid(60);
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.iter_mut()
            .filter(|(_, t)| all || t.minute < minute)
            .filter_map(|(realm, t)| take(realm, t))
            .collect()
    }
}

fn take(realm: &str, tally: &mut Tally) -> Option<Summary> {
    if tally.count == 0 {
        return None;
    }
    let summary = Summary {
        realm: realm.to_owned(),
        count: tally.count,
        addresses: tally.addresses.len(),
    };
    tally.count = 0;
    tally.addresses.clear();
    Some(summary)
}

/// Counts a failed API-token presentation (unknown, expired, revoked or malformed) in `realm` from `address` (a
/// `client_ip::rate_key`). Writes nothing unless it is the first failure after a minute with failures, whose
/// summary it then writes (a failure to write it is logged: the request is answered as it would be anyway).
pub async fn note_failed_token(app: &AppState, realm: &str, address: &str) {
    if let Some(summary) = app.failed_tokens.note(realm, address, app.now())
        && let Err(e) = write_summary(app, summary).await
    {
        tracing::warn!(error = %e, "cannot write the summary of failed API-token presentations");
    }
}

/// Writes the failure summaries of minutes that are over (every one when `all`): one `warn!` line and one audit
/// row per realm and minute with failures. Called before the audit log is read, by each replica's housekeeping
/// every minute, and at shutdown. Every summary taken is logged and its row attempted, whatever happens to the
/// others'; the first failure is returned.
pub async fn write_failure_summaries(app: &AppState, all: bool) -> Result<()> {
    let mut written = Ok(());
    for summary in app.failed_tokens.take_ended(app.now(), all) {
        if let Err(e) = write_summary(app, summary).await
            && written.is_ok()
        {
            written = Err(e);
        }
    }
    written
}

async fn write_summary(app: &AppState, s: Summary) -> Result<()> {
    tracing::warn!(
        realm = %s.realm,
        failures = s.count,
        addresses = s.addresses,
        "failed API-token presentations (unknown, expired, revoked or malformed) in the last minute"
    );
    let at_least = if s.addresses >= MAX_ADDRESSES {
        "at least "
    } else {
        ""
    };
    let plural = if s.addresses == 1 { "" } else { "es" };
    record(
        app,
        Entry::new(&s.realm, FAILED_TOKENS_ACTION)
            .outcome("failure")
            .detail(&format!(
                "{} failed API-token presentations in one minute, from {at_least}{} client address{plural}",
                s.count, s.addresses
            )),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_summarised_per_realm_and_minute() {
        let f = FailedTokens::default();
        let t = 600_000 * 60;
        for i in 0..1000 {
            assert_eq!(f.note("a", &format!("10.0.0.{}", i % 3), t + i % 60), None);
        }
        assert_eq!(f.note("b", "10.0.0.9", t), None);
        // Nothing is over yet.
        assert!(f.take_ended(t + 59, false).is_empty());
        // The next minute's first failure closes realm a's minute.
        let closed = f.note("a", "10.0.0.1", t + 60);
        assert_eq!(
            closed,
            Some(Summary {
                realm: "a".into(),
                count: 1000,
                addresses: 3
            })
        );
        let mut ended = f.take_ended(t + 61, false);
        ended.sort_by(|x, y| x.realm.cmp(&y.realm));
        assert_eq!(
            ended,
            [Summary {
                realm: "b".into(),
                count: 1,
                addresses: 1
            }]
        );
        // At shutdown the running minute is written too, once.
        assert_eq!(f.take_ended(t + 61, true).len(), 1);
        assert!(f.take_ended(t + 200, true).is_empty());
    }
}
