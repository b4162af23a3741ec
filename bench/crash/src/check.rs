//! The checks after the restart. Non-destructive ones first (introspection, lists), then the ones that change
//! state (refreshing, replaying, polling), so that no check disturbs another.
//!
//! The rules, from what the clients were told ([`Model`]):
//! - acknowledged and not undone ⇒ still in force (tokens active, users present, approvals redeemable);
//! - an acknowledged logout, revocation or deletion ⇒ still in force (tokens inactive, users gone);
//! - in doubt (sent, no 2xx) ⇒ either outcome, and nothing in between;
//! - a refresh token the client never received cannot be presented; a rotated one must stay used;
//! - strict rotation in doubt: the token the client holds either still refreshes (the rotation did not commit)
//!   or is used (it did): then presenting it is a replay and ends the session (RFC 9700 §4.14.2; keyport has no
//!   grace period), and its session was active until then.

use reqwest::Method;
use serde_json::Value;

use crate::http::{Answer, Api};
use crate::model::{Mark, Model, either};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub struct Checker<'a> {
    api: &'a Api,
    admin: &'a str,
    pub checks: u64,
    pub violations: Vec<String>,
}

impl<'a> Checker<'a> {
    pub fn new(api: &'a Api, admin: &'a str) -> Checker<'a> {
        Checker {
            api,
            admin,
            checks: 0,
            violations: Vec::new(),
        }
    }

    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.violations.push(what());
        }
    }

    /// Introspection must answer; `expected` is `Yes` (active), `No` (inactive) or `Maybe` (either).
    async fn active_is(&mut self, token: &str, expected: Mark, what: &str) -> bool {
        let active = self.api.active(token).await;
        match active {
            None => {
                self.check(false, || format!("{what}: introspection did not answer"));
                false
            }
            Some(active) => {
                let ok = match expected {
                    Mark::Yes => active,
                    Mark::No => !active,
                    Mark::Maybe => true,
                };
                self.check(ok, || {
                    format!("{what}: active = {active}, expected {expected:?}")
                });
                active
            }
        }
    }

    async fn refresh(&self, client: &str, token: &str) -> Answer {
        self.api
            .form(
                "token",
                None,
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token),
                    ("client_id", client),
                ],
            )
            .await
    }

    fn is_invalid_grant(answer: &Answer) -> bool {
        matches!(answer, Answer::Refused(400, v) if v["error"] == "invalid_grant")
    }

    pub async fn run(&mut self, m: &Model) {
        self.audit(m).await;
        self.users(m).await;
        self.api_tokens(m).await;
        self.access_tokens(m).await;
        let live = self.families_at_rest(m).await;
        self.families_in_use(m, &live).await;
        self.devices(m).await;
    }

    /// The targets of the realm's successful audit entries of `action`.
    async fn audited(&mut self, action: &str) -> Option<Vec<String>> {
        let path = format!("audit?action={action}&max=1000");
        let listed = self
            .api
            .admin_call(Method::GET, &path, self.admin, None)
            .await;
        let Answer::Acked(Value::Array(listed)) = listed else {
            self.check(false, || {
                format!("GET {path} after the restart: {listed:?}")
            });
            return None;
        };
        Some(
            listed
                .iter()
                .filter(|e| e["outcome"] == "success")
                .filter_map(|e| e["target"].as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// An acknowledged admin change was audited before it was answered: its entry is there.
    async fn audit(&mut self, m: &Model) {
        let Some(created) = self.audited("token.create").await else {
            return;
        };
        for t in &m.api_tokens {
            self.check(created.contains(&t.id), || {
                format!(
                    "API token {}: acknowledged, no token.create audit entry",
                    t.id
                )
            });
        }
        let Some(revoked) = self.audited("token.revoke").await else {
            return;
        };
        for t in m.api_tokens.iter().filter(|t| t.revoked == Mark::Yes) {
            self.check(revoked.contains(&t.id), || {
                format!("API token {}: revocation acknowledged, not audited", t.id)
            });
        }
        let Some(deleted) = self.audited("user.delete").await else {
            return;
        };
        for u in m.users.iter().filter(|u| u.deleted == Mark::Yes) {
            let id = u.id.clone().unwrap_or_default();
            self.check(deleted.contains(&id), || {
                format!("user {}: deletion acknowledged, not audited", u.username)
            });
        }
    }

    async fn users(&mut self, m: &Model) {
        let listed = self
            .api
            .admin_call(Method::GET, "users?max=1000", self.admin, None)
            .await;
        let Answer::Acked(Value::Array(listed)) = listed else {
            self.check(false, || format!("GET users after the restart: {listed:?}"));
            return;
        };
        let names: Vec<&str> = listed
            .iter()
            .filter_map(|u| u["username"].as_str())
            .collect();
        for u in &m.users {
            let present = names.contains(&u.username.as_str());
            let expected = match (u.created, u.deleted) {
                (Mark::Yes, Mark::No) => Some(true),
                (_, Mark::Yes) => Some(false),
                _ => None,
            };
            self.check(expected.is_none_or(|e| e == present), || {
                format!(
                    "user {} (created {:?}, deleted {:?}): present = {present}",
                    u.username, u.created, u.deleted
                )
            });
        }
        // No user the clients were never told about (beyond the configured root, and creations in doubt).
        for name in names {
            let known = name == crate::http::ROOT.0 || m.users.iter().any(|u| u.username == name);
            self.check(known, || {
                format!("user {name} exists but was never created")
            });
        }
    }

    async fn api_tokens(&mut self, m: &Model) {
        for t in &m.api_tokens {
            let expected = match either(t.revoked, m.user_deleted(t.user)) {
                Mark::Yes => Mark::No,
                Mark::Maybe => Mark::Maybe,
                Mark::No => Mark::Yes,
            };
            let what = format!("API token {} (revoked {:?})", t.id, t.revoked);
            self.active_is(&t.token, expected, &what).await;
        }
        // Active tokens that were never acknowledged: at most the creations in doubt.
        let listed = self
            .api
            .admin_call(Method::GET, "tokens?max=1000", self.admin, None)
            .await;
        let Answer::Acked(Value::Array(listed)) = listed else {
            self.check(false, || {
                format!("GET tokens after the restart: {listed:?}")
            });
            return;
        };
        let unknown = listed
            .iter()
            .filter(|t| t["active"] == true)
            .filter(|t| !m.api_tokens.iter().any(|k| t["token_id"] == k.id.as_str()))
            .count();
        self.check(unknown <= m.token_creates_in_doubt, || {
            format!(
                "{unknown} active API tokens were never acknowledged ({} creations in doubt)",
                m.token_creates_in_doubt
            )
        });
    }

    async fn access_tokens(&mut self, m: &Model) {
        for (i, a) in m.access.iter().enumerate() {
            let session = a.family.map_or(Mark::No, |f| m.family_ended(f));
            let expected = match either(a.revoked, session) {
                Mark::Yes => Mark::No,
                Mark::Maybe => Mark::Maybe,
                Mark::No => Mark::Yes,
            };
            let what = format!(
                "access token {i} of {} (family {:?}, revoked {:?}, session ended {session:?})",
                a.client, a.family, a.revoked
            );
            self.active_is(&a.token, expected, &what).await;
        }
    }

    /// Introspects every refresh token the clients received; returns, per family, whether the last is active.
    async fn families_at_rest(&mut self, m: &Model) -> Vec<bool> {
        let mut live = Vec::with_capacity(m.families.len());
        for (f, fam) in m.families.iter().enumerate() {
            let n = fam.chain.len();
            for (i, token) in fam.chain[..n - 1].iter().enumerate() {
                let what = format!("family {f}: rotated refresh token {i} of {n}");
                self.active_is(token, Mark::No, &what).await;
            }
            let expected = match m.family_ended(f) {
                Mark::Yes => Mark::No,
                Mark::Maybe => Mark::Maybe,
                Mark::No if fam.strict && fam.refresh_in_doubt => Mark::Maybe,
                // Rotation off: a refresh only moves the same token's expiry, in doubt or not.
                Mark::No => Mark::Yes,
            };
            let what = format!(
                "family {f} ({}): last refresh token (ended {:?}, user deleted {:?}, refresh in doubt {})",
                fam.client, fam.ended, m.users[fam.user].deleted, fam.refresh_in_doubt
            );
            live.push(self.active_is(&fam.chain[n - 1], expected, &what).await);
        }
        live
    }

    /// Refreshes with the token each client holds; where the last refresh was in doubt and the token is used,
    /// checks the replay rule.
    async fn families_in_use(&mut self, m: &Model, live: &[bool]) {
        for (f, fam) in m.families.iter().enumerate() {
            let last = fam.chain.last().expect("a family has a token");
            let answer = self.refresh(fam.client, last).await;
            if live[f] {
                let Answer::Acked(tokens) = answer else {
                    self.check(false, || {
                        format!(
                            "family {f}: active last refresh token does not refresh: {answer:?}"
                        )
                    });
                    continue;
                };
                self.check(true, String::new);
                if fam.strict && fam.chain.len() >= 2 {
                    // The previous token is used: presenting it is a replay, which ends the family.
                    let prev = &fam.chain[fam.chain.len() - 2];
                    let replay = self.refresh(fam.client, prev).await;
                    self.check(Self::is_invalid_grant(&replay), || {
                        format!("family {f}: rotated token refreshed again: {replay:?}")
                    });
                    let next = tokens["refresh_token"].as_str().unwrap_or_default();
                    let what = format!("family {f}: token after a replay");
                    self.active_is(next, Mark::No, &what).await;
                }
                continue;
            }
            self.check(Self::is_invalid_grant(&answer), || {
                format!("family {f}: inactive last refresh token answered {answer:?}")
            });
            // Strict rotation in doubt that committed: the session was active until the replay just now, and
            // the replay ended it.
            if fam.strict && fam.refresh_in_doubt && m.family_ended(f) == Mark::No {
                let first_access = m.access.iter().position(|a| a.family == Some(f));
                if let Some(a) = first_access.filter(|&a| m.access[a].revoked == Mark::No) {
                    let what =
                        format!("family {f}: access token after the replay of an unseen rotation");
                    self.active_is(&m.access[a].token, Mark::No, &what).await;
                }
            }
        }
    }

    async fn devices(&mut self, m: &Model) {
        for (d, dev) in m.devices.iter().enumerate() {
            if dev.redeemed == Mark::Yes {
                continue; // its family is checked above
            }
            let answer = self
                .api
                .form(
                    "token",
                    None,
                    &[
                        ("grant_type", DEVICE_GRANT),
                        ("device_code", &dev.device_code),
                        ("client_id", dev.client),
                    ],
                )
                .await;
            let error = match &answer {
                Answer::Refused(400, v) => v["error"].as_str().unwrap_or_default().to_owned(),
                _ => String::new(),
            };
            let tokens = matches!(answer, Answer::Acked(_));
            let deleted = m.users[dev.user].deleted;
            let (invalid, pending) = (error == "invalid_grant", error == "authorization_pending");
            let ok = match (dev.approved, dev.redeemed, deleted) {
                // Approved, never polled, user still there: the approval holds.
                (Mark::Yes, Mark::No, Mark::No) => tokens,
                // The user's deletion acknowledged: it removed the approved grant (or it was redeemed).
                (Mark::Yes, _, Mark::Yes) => invalid,
                // Redeemed in doubt, or the deletion in doubt: tokens now, or the grant is gone.
                (Mark::Yes, _, _) => tokens || invalid,
                // Approval in doubt: approved or still pending ...
                (Mark::Maybe, _, Mark::No) => tokens || pending,
                // ... and with the deletion acknowledged, never tokens.
                (Mark::Maybe, _, Mark::Yes) => pending || invalid,
                (Mark::Maybe, _, Mark::Maybe) => tokens || pending || invalid,
                (Mark::No, _, _) => pending,
            };
            self.check(ok, || {
                format!(
                    "device grant {d} (approved {:?}, redeemed {:?}, user deleted {deleted:?}): {answer:?}",
                    dev.approved, dev.redeemed
                )
            });
        }
    }
}
