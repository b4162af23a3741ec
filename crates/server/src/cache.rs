//! Per-replica read caches in front of the store, and how they are kept fresh.
//!
//! Two things are read on nearly every request yet change only through the admin API or the configuration:
//! clients (every client-authenticated request) and API tokens with their user (every use of one). Both are
//! cached here; nothing else is (sessions, refresh tokens, device grants and JWT revocations change on the
//! request path and are always read from the store).
//!
//! The staleness bound, which ARCHITECTURE.md states as an invariant:
//! - an entry is served for at most [`TTL`] after it was read from the store;
//! - a change made through this replica clears every cache before the change's response is sent, and a read
//!   that began before the change cannot put its (old) result back: [`Caches::put`] only stores a value read
//!   under the current generation;
//! - on PostgreSQL the change is broadcast (`NOTIFY keyport_invalidate`) and every replica clears its caches on
//!   receipt, normally within a millisecond or two; a replica whose listening connection drops clears its caches
//!   and relies on the TTL until it has reconnected.
//!
//! So a revoked API token, a deleted user or client, or changed roles are seen by every replica within [`TTL`]
//! at worst, and at once by the replica that made the change.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::{ApiToken, Client, User};

/// How long a cached entry may be served without asking the store again.
pub const TTL: Duration = Duration::from_secs(1);

/// A cache holding more entries than this is emptied (a crude bound on memory against floods of distinct keys;
/// only successful lookups are cached, so an attacker cannot fill it with made-up ids).
const MAX_ENTRIES: usize = 50_000;

/// The generation a read was made under; see [`Caches::put_client`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Generation(u64);

/// Values are shared (`Arc`): a hit costs a reference count, not a copy of the client or the token and its user.
struct Map<K, V> {
    entries: RwLock<HashMap<K, (Arc<V>, Instant)>>,
    /// Lookups answered from the map, and lookups that had to ask the store (for `/metrics`).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<K: Hash + Eq, V> Map<K, V> {
    fn new() -> Self {
        Map {
            entries: RwLock::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
    {
        let map = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let found = map
            .get(key)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(v, _)| Arc::clone(v));
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn lookups(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    fn put(&self, generation: &AtomicU64, read_under: Generation, key: K, value: Arc<V>) {
        let mut map = self.entries.write().unwrap_or_else(|e| e.into_inner());
        // Checked under the write lock: an invalidation bumps the generation before it takes this lock to clear,
        // so either it sees this entry and clears it, or this check sees the new generation.
        if generation.load(Ordering::SeqCst) != read_under.0 {
            return;
        }
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(key, (value, Instant::now()));
    }

    fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// An active API token with its (enabled) user, as looked up by the token's hash.
#[derive(Debug)]
pub struct ApiTokenEntry {
    pub token: ApiToken,
    pub user: User,
}

#[cfg(test)]
impl ApiTokenEntry {
    /// For tests: a personal token `id` of realm `r` that never expires, created by `admin`, and its user `u1`
    /// (alice, a person, enabled, no roles and no e-mail).
    pub(crate) fn sample(id: &str) -> ApiTokenEntry {
        use crate::store::UserType;
        ApiTokenEntry {
            token: ApiToken {
                id: id.into(),
                realm: "r".into(),
                token_hash: String::new(),
                user_id: "u1".into(),
                name: None,
                scopes: Vec::new(),
                unscoped: true,
                created_by: "admin".into(),
                created_at: 0,
                expires_at: i64::MAX,
                last_used_at: None,
                revoked_at: None,
            },
            user: User {
                id: "u1".into(),
                realm: "r".into(),
                username: "alice".into(),
                email: None,
                name: None,
                password_hash: None,
                roles: Vec::new(),
                user_type: UserType::Person,
                enabled: true,
                created_at: 0,
            },
        }
    }
}

/// The caches of one replica.
pub struct Caches {
    generation: AtomicU64,
    /// Keyed by `realm` NUL `client_id`.
    clients: Map<String, Client>,
    /// Keyed by the token's SHA-256 (hex).
    api_tokens: Map<String, ApiTokenEntry>,
}

impl Default for Caches {
    fn default() -> Self {
        Caches {
            generation: AtomicU64::new(0),
            clients: Map::new(),
            api_tokens: Map::new(),
        }
    }
}

fn client_key(realm: &str, client_id: &str) -> String {
    let mut key = String::with_capacity(realm.len() + client_id.len() + 1);
    key.push_str(realm);
    key.push('\0');
    key.push_str(client_id);
    key
}

/// The longest key [`Caches::client`] builds on the stack (longer ones are built in a `String`).
const STACK_KEY: usize = 192;

/// Calls `f` with [`client_key`]`(realm, client_id)`, without allocating for keys up to [`STACK_KEY`] bytes.
fn with_client_key<T>(realm: &str, client_id: &str, f: impl FnOnce(&str) -> T) -> T {
    let len = realm.len() + 1 + client_id.len();
    if len > STACK_KEY {
        return f(&client_key(realm, client_id));
    }
    let mut buf = [0u8; STACK_KEY];
    buf[..realm.len()].copy_from_slice(realm.as_bytes());
    buf[realm.len() + 1..len].copy_from_slice(client_id.as_bytes());
    // Two strings joined by a NUL byte are UTF-8.
    f(std::str::from_utf8(&buf[..len]).expect("UTF-8 joined by NUL"))
}

impl Caches {
    /// Take this before reading from the store, and pass it to the `put_*` call that caches the result.
    pub fn generation(&self) -> Generation {
        Generation(self.generation.load(Ordering::SeqCst))
    }

    /// Forgets everything. Called after every committed change to clients, users or API tokens, and when a
    /// change notification arrives from another replica.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.clients.clear();
        self.api_tokens.clear();
    }

    /// `(cache, hits, misses)` since start, for `/metrics`.
    pub fn lookups(&self) -> [(&'static str, u64, u64); 2] {
        let (ch, cm) = self.clients.lookups();
        let (th, tm) = self.api_tokens.lookups();
        [("clients", ch, cm), ("api_tokens", th, tm)]
    }

    pub fn client(&self, realm: &str, client_id: &str) -> Option<Arc<Client>> {
        with_client_key(realm, client_id, |key| self.clients.get(key))
    }

    pub fn put_client(&self, read_under: Generation, client: &Arc<Client>) {
        self.clients.put(
            &self.generation,
            read_under,
            client_key(&client.realm, &client.client_id),
            Arc::clone(client),
        );
    }

    pub fn api_token(&self, token_hash: &str) -> Option<Arc<ApiTokenEntry>> {
        self.api_tokens.get(token_hash)
    }

    pub fn put_api_token(&self, read_under: Generation, entry: &Arc<ApiTokenEntry>) {
        self.api_tokens.put(
            &self.generation,
            read_under,
            entry.token.token_hash.clone(),
            Arc::clone(entry),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Rotation;

    fn client(id: &str) -> Arc<Client> {
        Arc::new(Client {
            realm: "r".into(),
            client_id: id.into(),
            secret_hash: None,
            public: true,
            grants: vec![],
            roles: vec![],
            rotation: Rotation::Strict,
            access_token_alg: None,
            id_token_alg: None,
            browser: Default::default(),
            scopes: vec![],
            audiences: vec![],
        })
    }

    #[test]
    fn a_read_from_before_an_invalidation_is_not_cached() {
        let caches = Caches::default();
        let before = caches.generation();
        caches.invalidate();
        caches.put_client(before, &client("old"));
        assert!(caches.client("r", "old").is_none());
        let now = caches.generation();
        caches.put_client(now, &client("new"));
        assert_eq!(caches.client("r", "new").unwrap().client_id, "new");
        assert!(caches.client("other", "new").is_none());
    }

    #[test]
    fn a_hit_shares_the_cached_value_and_long_keys_are_found_too() {
        let caches = Caches::default();
        let short = client("a");
        caches.put_client(caches.generation(), &short);
        assert!(Arc::ptr_eq(&caches.client("r", "a").unwrap(), &short));
        // Keys longer than the stack buffer, and right at its edge.
        for len in [STACK_KEY - 2, STACK_KEY - 1, STACK_KEY, STACK_KEY + 50] {
            let id = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let long = client(&id);
            caches.put_client(caches.generation(), &long);
            assert!(
                Arc::ptr_eq(&caches.client("r", &id).unwrap(), &long),
                "{len}"
            );
            assert!(caches.client("r", &format!("{id}z")).is_none());
            assert!(caches.client("q", &id).is_none());
        }
    }

    #[test]
    fn invalidate_forgets_everything() {
        let caches = Caches::default();
        caches.put_client(caches.generation(), &client("a"));
        caches.invalidate();
        assert!(caches.client("r", "a").is_none());
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let caches = Caches::default();
        caches.put_client(caches.generation(), &client("a"));
        let key = client_key("r", "a");
        caches
            .clients
            .entries
            .write()
            .unwrap()
            .get_mut(&key)
            .unwrap()
            .1 -= TTL;
        assert!(caches.client("r", "a").is_none());
    }
}
