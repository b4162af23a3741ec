//! Rate limits of the token endpoint and the device authorization endpoint (issue 11, item 3), counted in this
//! replica's memory with `governor` (GCRA: N a minute, a burst of N, one more every 60/N seconds), keyed by client
//! address or client id. The per-client device-authorization ceiling that all replicas share is counted in the
//! store instead (`domain::device_code::count_authorization`).
//!
//! Time comes from the injected [`Clock`], so a test moves a fake clock to the next minute instead of sleeping.
//! Keys that are back at a fresh state are dropped every [`SWEEP_EVERY`] checks, so memory is bounded by the
//! keys seen in the last minute.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::clock::Clock;
use crate::config::{RateLimitConfig, RealmConfig};

/// Drop idle keys after this many checks of a limiter.
pub const SWEEP_EVERY: u64 = 4096;

/// The injected clock as governor's time source (whole seconds).
#[derive(Clone)]
struct Injected(Arc<dyn Clock>);

impl GovernorClock for Injected {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Duration::from_secs(self.0.now().max(0) as u64)
    }
}

/// One keyed limiter: N a minute per key.
struct Limiter {
    limiter:
        RateLimiter<String, DefaultKeyedStateStore<String>, Injected, NoOpMiddleware<Duration>>,
    clock: Injected,
    checks: AtomicU64,
}

impl Limiter {
    fn new(per_minute: u32, clock: &Arc<dyn Clock>) -> Limiter {
        let clock = Injected(clock.clone());
        let quota = Quota::per_minute(NonZeroU32::new(per_minute.max(1)).expect("at least 1"));
        Limiter {
            limiter: RateLimiter::new(quota, Default::default(), clock.clone()),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// `Err(seconds to wait)` when `key` is over the limit.
    fn check(&self, key: &str) -> Result<(), u64> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        // governor looks a key up by `&String` and copies it only into a new entry: the key is written into
        // this thread's buffer rather than into a new `String` each check.
        thread_local! {
            static KEY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        KEY.with_borrow_mut(|buffer| {
            buffer.clear();
            buffer.push_str(key);
            self.limiter.check_key(buffer)
        })
        .map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    fn len(&self) -> usize {
        self.limiter.len()
    }
}

/// What a request is counted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A token request, by client address.
    TokenByAddress,
    /// A token request, by authenticated client.
    TokenByClient { public: bool },
    /// A device authorization, by client address.
    DeviceByAddress,
    /// A device authorization, by client (this replica's share of the stored ceiling).
    DeviceByClient { public: bool },
}

/// The limiters of one realm.
struct RealmLimiters {
    token_by_address: Limiter,
    token_by_public_client: Limiter,
    token_by_confidential_client: Limiter,
    device_by_address: Limiter,
    device_by_public_client: Limiter,
    device_by_confidential_client: Limiter,
}

impl RealmLimiters {
    fn new(c: &RateLimitConfig, clock: &Arc<dyn Clock>) -> RealmLimiters {
        RealmLimiters {
            token_by_address: Limiter::new(c.token_requests_per_address, clock),
            token_by_public_client: Limiter::new(c.public_client_token_requests, clock),
            token_by_confidential_client: Limiter::new(c.confidential_client_token_requests, clock),
            device_by_address: Limiter::new(c.device_authorizations_per_address, clock),
            device_by_public_client: Limiter::new(c.public_client_device_authorizations, clock),
            device_by_confidential_client: Limiter::new(
                c.confidential_client_device_authorizations,
                clock,
            ),
        }
    }

    fn get(&self, kind: Kind) -> &Limiter {
        match kind {
            Kind::TokenByAddress => &self.token_by_address,
            Kind::TokenByClient { public: true } => &self.token_by_public_client,
            Kind::TokenByClient { public: false } => &self.token_by_confidential_client,
            Kind::DeviceByAddress => &self.device_by_address,
            Kind::DeviceByClient { public: true } => &self.device_by_public_client,
            Kind::DeviceByClient { public: false } => &self.device_by_confidential_client,
        }
    }
}

/// Every realm's limiters, in this replica's memory.
pub struct Limiters(HashMap<String, RealmLimiters>);

impl Limiters {
    pub fn new<'a>(
        realms: impl IntoIterator<Item = &'a RealmConfig>,
        clock: &Arc<dyn Clock>,
    ) -> Self {
        Limiters(
            realms
                .into_iter()
                .map(|r| (r.name.clone(), RealmLimiters::new(&r.rate_limits, clock)))
                .collect(),
        )
    }

    /// Counts one request of `kind` under `key` (a client address's `rate_key` or a client id) in `realm`:
    /// `Err(seconds until one more is allowed)` when over the limit. An unknown realm is never limited here
    /// (its requests are answered 404 anyway).
    pub fn check(&self, realm: &str, kind: Kind, key: &str) -> Result<(), u64> {
        match self.0.get(realm) {
            Some(r) => r.get(kind).check(key),
            None => Ok(()),
        }
    }

    /// Keys held in memory (all realms and kinds).
    pub fn keys(&self) -> usize {
        self.0
            .values()
            .map(|r| {
                [
                    &r.token_by_address,
                    &r.token_by_public_client,
                    &r.token_by_confidential_client,
                    &r.device_by_address,
                    &r.device_by_public_client,
                    &r.device_by_confidential_client,
                ]
                .iter()
                .map(|l| l.len())
                .sum::<usize>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;

    #[test]
    fn n_a_minute_then_the_wait_until_the_next_cell() {
        let fake = FakeClock::new();
        let clock: Arc<dyn Clock> = Arc::new(fake.clone());
        let limiter = Limiter::new(6, &clock);
        for _ in 0..6 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
        // One cell every 10 s: the seventh waits 10 s; another key is not affected.
        assert_eq!(limiter.check("a"), Err(10));
        assert_eq!(limiter.check("b"), Ok(()));
        fake.advance(10);
        assert_eq!(limiter.check("a"), Ok(()));
        assert_eq!(limiter.check("a"), Err(10));
        fake.advance(60);
        for _ in 0..6 {
            assert_eq!(limiter.check("a"), Ok(()));
        }
    }

    #[test]
    fn idle_keys_are_swept() {
        let fake = FakeClock::new();
        let clock: Arc<dyn Clock> = Arc::new(fake.clone());
        let limiter = Limiter::new(60, &clock);
        for i in 0..100 {
            limiter.check(&format!("k{i}")).unwrap();
        }
        assert_eq!(limiter.len(), 100);
        fake.advance(120);
        for _ in 0..SWEEP_EVERY {
            limiter.check("busy").unwrap_or(());
        }
        assert!(limiter.len() <= 1, "{}", limiter.len());
    }
}
