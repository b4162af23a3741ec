//! What the clients were told: every object the load made, and for each change whether the server acknowledged
//! it (`Yes`), never sent it (`No`), or left it in doubt (`Maybe`: the request was sent and no 2xx came back, so
//! it may or may not have committed). The checks after the restart read only this.

use std::collections::BTreeMap;

/// Whether a change happened, as far as the client knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Never asked for.
    No,
    /// Asked for, no acknowledgement: either outcome is allowed.
    Maybe,
    /// Acknowledged (2xx received).
    Yes,
}

/// A person made through the admin API (the configured `root` is not here: the configuration re-creates it).
pub struct User {
    pub username: String,
    pub password: String,
    pub id: Option<String>,
    pub created: Mark,
    pub deleted: Mark,
}

impl User {
    /// Acknowledged and no deletion asked for: safe to use for new logins and tokens.
    pub fn usable(&self) -> bool {
        self.created == Mark::Yes && self.deleted == Mark::No
    }
}

/// One login session (a refresh-token family) as its client holds it.
pub struct Family {
    pub client: &'static str,
    /// Strict rotation (`sdk`); `false`: rotation off (`sdk-loose`), the same refresh token is answered again.
    pub strict: bool,
    pub user: usize,
    /// The refresh tokens the client received, in order; the last is the one it holds.
    pub chain: Vec<String>,
    /// Ended by this client's logout or RFC 7009 revocation of its refresh token.
    pub ended: Mark,
    /// A refresh with the last token was sent and not acknowledged.
    pub refresh_in_doubt: bool,
    /// A worker is using it, or it is retired (an answer was missing: the client stops using it).
    pub busy: bool,
}

/// An access token a client received (from a device login, a refresh, or client credentials).
pub struct Access {
    pub token: String,
    /// The family (session) it belongs to; `None` for client credentials.
    pub family: Option<usize>,
    /// The client it was issued to (who may revoke it).
    pub client: &'static str,
    /// RFC 7009 revocation of this token.
    pub revoked: Mark,
}

/// An API token whose creation was acknowledged.
pub struct ApiToken {
    pub token: String,
    pub id: String,
    /// The user of a scoped token; `None`: a personal token of `root`.
    pub user: Option<usize>,
    pub revoked: Mark,
    pub busy: bool,
}

/// A device authorization the client started (the answer to `auth/device` was acknowledged).
pub struct Device {
    pub device_code: String,
    pub client: &'static str,
    pub user: usize,
    /// Approved through the pages.
    pub approved: Mark,
    /// Redeemed by a poll (tokens received when `Yes`; the family is then in `families`).
    pub redeemed: Mark,
}

#[derive(Default)]
pub struct Model {
    pub users: Vec<User>,
    pub families: Vec<Family>,
    pub access: Vec<Access>,
    pub api_tokens: Vec<ApiToken>,
    pub devices: Vec<Device>,
    /// API-token creations sent and not acknowledged (their ids are unknown).
    pub token_creates_in_doubt: usize,
    /// Acknowledged operations by kind.
    pub acked: BTreeMap<&'static str, u64>,
    /// Operations sent and not acknowledged, by kind.
    pub in_doubt: BTreeMap<&'static str, u64>,
    /// Answers that were wrong while the server ran (before any kill).
    pub violations: Vec<String>,
}

impl Model {
    pub fn ack(&mut self, kind: &'static str) {
        *self.acked.entry(kind).or_default() += 1;
    }

    pub fn doubt(&mut self, kind: &'static str) {
        *self.in_doubt.entry(kind).or_default() += 1;
    }

    /// Whether the user's deletion was acknowledged (`Yes`), is in doubt (`Maybe`), or never asked (`No`).
    pub fn user_deleted(&self, user: Option<usize>) -> Mark {
        user.map_or(Mark::No, |u| self.users[u].deleted)
    }

    /// Whether the family's session ended: by an acknowledged logout/revocation/deletion (`Yes`), possibly
    /// (`Maybe`), or certainly not (`No`).
    pub fn family_ended(&self, f: usize) -> Mark {
        let fam = &self.families[f];
        either(fam.ended, self.users[fam.user].deleted)
    }
}

/// The stronger of two marks for "this ended": `Yes` if either is acknowledged, else `Maybe` if either may be.
pub fn either(a: Mark, b: Mark) -> Mark {
    match (a, b) {
        (Mark::Yes, _) | (_, Mark::Yes) => Mark::Yes,
        (Mark::Maybe, _) | (_, Mark::Maybe) => Mark::Maybe,
        _ => Mark::No,
    }
}
