//! What the `keyport-bench` binaries and benches share.

use keyport_proto::oauth::{AccessTokenClaims, RealmAccess};
use keyport_server::crypto;
use keyport_server::keys::{self, KeySet};

/// A key set of every algorithm keyport requires, generated now (an RSA-2048 key among them): what the signing
/// benchmarks sign with.
pub fn fresh_keys() -> KeySet {
    let stored: Vec<keys::StoredKey> = KeySet::REQUIRED
        .iter()
        .map(|alg| keys::generate(*alg, 1))
        .collect();
    KeySet::new(&stored).expect("fresh keys load")
}

/// The claims of a client-credentials access token of `bench/keyport.toml`'s `bench-bot`, as
/// `domain::tokens::respond` builds them (a fresh `jti` each call): what the signing benchmarks sign.
pub fn client_credential_claims(issuer: &str, now: i64) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: issuer.into(),
        sub: "service-account-bench-bot".into(),
        aud: "account".into(),
        azp: "bench-bot".into(),
        exp: now + 300,
        iat: now,
        jti: crypto::random_id(),
        sid: None,
        scope: "profile email".into(),
        typ: "Bearer".into(),
        preferred_username: "service-account-bench-bot".into(),
        email: None,
        name: None,
        realm_access: RealmAccess {
            roles: vec!["bot".into()],
        },
    }
}

/// The `p` quantile (0.0–1.0) of latencies in µs, sorted ascending, in ms (0 when there are none).
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_of_microseconds_in_milliseconds() {
        assert_eq!(percentile(&[], 0.5), 0.0);
        let l: Vec<u32> = (1..=101).map(|ms| ms * 1000).collect();
        assert_eq!(percentile(&l, 0.5), 51.0);
        assert_eq!(percentile(&l, 0.99), 100.0);
        assert_eq!(percentile(&l, 1.0), 101.0);
    }
}
