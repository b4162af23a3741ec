//! The audit log: every administrative action and every API-token use that reaches the server, with time,
//! realm, actor, token id, action, target and outcome. Entries carry ids only, never a secret: the builder has
//! no way to take a token, and `detail` is a fixed, secret-free phrase chosen by the caller.

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

    pub fn token(mut self, token_id: &str) -> Entry {
        self.0.token_id = Some(token_id.to_owned());
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
    app.usage.flush(app.store.as_ref()).await?;
    app.store.insert_audit(&entry.stamped(app.now())).await?;
    Ok(())
}

/// Matching entries, newest first, as the admin API shows them (including every token use this replica has
/// served: waiting uses are written first).
pub async fn list(app: &AppState, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
    app.usage.flush(app.store.as_ref()).await?;
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
