//! Random secrets, hashes and password hashing. The only place that knows how secrets are made and stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// `bytes` of OS randomness, base64url without padding (32 bytes → 43 characters, 256 bits).
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A random id for sessions, token ids and users (a UUIDv4).
pub fn random_id() -> String {
    random_uuid().to_string()
}

/// A UUIDv4 from the thread's CSPRNG (`rand::thread_rng`: ChaCha, seeded and reseeded from the OS), not from a
/// `getrandom` system call per id as `Uuid::new_v4` makes: ids are minted on every token request. Ids are
/// identifiers, never secrets; secrets come from [`random_token`] (OS randomness).
pub fn random_uuid() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// `len` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
pub fn random_from_alphabet(alphabet: &[u8], len: usize) -> String {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 32];
    while out.len() < len {
        OsRng.fill_bytes(&mut buf);
        for &b in &buf {
            if (b as usize) < limit && out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    out
}

/// SHA-256 of a high-entropy secret (refresh tokens, device codes, client secrets), hex-encoded: what is stored.
pub fn sha256_hex(secret: &str) -> String {
    sha256_digits(secret).as_str().to_owned()
}

/// [`sha256_hex`] on the stack, for a lookup or a comparison that keeps no copy (a request's client secret or
/// API token).
pub fn sha256_digits(secret: &str) -> HexDigest {
    // `encode_to_slice` writes the 64 digits straight into a buffer (`hex::encode` collects a char iterator).
    let mut digits = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(secret.as_bytes()), &mut digits)
        .expect("64 digits for 32 bytes");
    HexDigest(digits)
}

/// The 64 lowercase hex digits of a SHA-256.
pub struct HexDigest([u8; 64]);

impl HexDigest {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

/// Hex digits of a refresh token's ordering prefix: the microseconds of its issue since the Unix epoch (14 digits
/// last until the year 4253).
const ORDER_DIGITS: usize = 14;
/// A refresh token's length: the ordering prefix, then 256 random bits in base64url.
const REFRESH_TOKEN_LEN: usize = ORDER_DIGITS + 43;

/// A new refresh token: 256 bits of OS randomness (what makes it a secret), behind an ordering prefix when
/// `ordered`. The prefix is the wall-clock microsecond of its issue, raised where needed so that it grows with
/// every token this process issues. Refresh tokens issued one after the other thereby get store keys
/// ([`refresh_token_key`]) in the same order, and a rotation adds its key at the end of the table's key index,
/// where the previous rotations wrote, instead of on a random page of it: fewer pages written and read per rotation
/// (BENCHMARKS.md, eleventh pass). The prefix tells the time of issue, as a Keycloak refresh token's `iat` does; it
/// orders, and expires nothing (expiry is the row's `expires_at`, from the injected clock). Without `ordered` (a
/// store that replicas of an older version may share, [`crate::store::ChangeFeed::one_process`]) the token is
/// the random part alone, as every refresh token was before.
pub fn refresh_token_secret(ordered: bool) -> String {
    static LAST: AtomicU64 = AtomicU64::new(0);
    if !ordered {
        return random_token(32);
    }
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    format!(
        "{:0ORDER_DIGITS$x}{}",
        next_in_order(&LAST, micros),
        random_token(32)
    )
}

/// The larger of `micros` and one more than the last value handed out, recorded as the last.
fn next_in_order(last: &AtomicU64, micros: u64) -> u64 {
    last.fetch_max(micros.saturating_sub(1), Ordering::Relaxed);
    last.fetch_add(1, Ordering::Relaxed) + 1
}

/// What a refresh token is stored and looked up under: the SHA-256 of the whole token in hex, behind the token's
/// ordering prefix when it has one. Tokens issued before the prefix existed (43 characters) keep their plain hash,
/// so they go on working. Anything presented is hashed whole, so a forged prefix finds nothing.
pub fn refresh_token_key(token: &str) -> String {
    let prefix = token.get(..ORDER_DIGITS).filter(|p| {
        token.len() == REFRESH_TOKEN_LEN
            && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    match prefix {
        Some(p) => format!("{p}{}", sha256_hex(token)),
        None => sha256_hex(token),
    }
}

/// SHA-256, base64url: for CSRF tokens derived from a session secret.
pub fn sha256_b64(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    URL_SAFE_NO_PAD.encode(h.finalize())
}

mod password;
pub use password::{
    HashTicket, dummy_password_hash, hash_password, hashes_in_progress, verify_password,
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{SystemTime, UNIX_EPOCH};

    #[test]
    fn random_ids_are_distinct_version_4_uuids() {
        let a = random_uuid();
        let b = random_uuid();
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.get_version(), Some(uuid::Version::Random));
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
        assert_eq!(random_id().len(), 36);
    }

    #[test]
    fn sha256_hex_is_the_lowercase_digest_stored_since_the_start() {
        // FIPS 180-2's test vector: every stored token and secret hash is this encoding.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(""), hex::encode(Sha256::digest(b"")));
    }

    #[test]
    fn refresh_tokens_are_issued_in_order_and_stored_under_prefix_and_hash() {
        let tokens: Vec<String> = (0..1000).map(|_| refresh_token_secret(true)).collect();
        for pair in tokens.windows(2) {
            assert!(
                pair[0][..ORDER_DIGITS] < pair[1][..ORDER_DIGITS],
                "{pair:?}"
            );
        }
        let t = &tokens[0];
        assert_eq!(t.len(), REFRESH_TOKEN_LEN);
        let micros = u64::from_str_radix(&t[..ORDER_DIGITS], 16).unwrap();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        assert!(micros <= wall.as_micros() as u64 && micros + 60_000_000 > wall.as_micros() as u64);
        // The key orders as the tokens do, and hashes the whole token.
        assert_eq!(
            refresh_token_key(t),
            format!("{}{}", &t[..ORDER_DIGITS], sha256_hex(t))
        );
        let keys: Vec<String> = tokens.iter().map(|t| refresh_token_key(t)).collect();
        assert!(keys.windows(2).all(|k| k[0] < k[1]));
    }

    #[test]
    fn refresh_tokens_without_an_ordering_prefix_keep_their_plain_hash() {
        // A token issued before the prefix existed, or for a store replicas share: 43 characters of base64url.
        let old = refresh_token_secret(false);
        assert_eq!(old.len(), 43);
        assert_eq!(refresh_token_key(&old), sha256_hex(&old));
        // Right length, but not a lowercase hex prefix: hashed plainly, so it cannot reach a prefixed key.
        let t = refresh_token_secret(true);
        let upper = format!("00063A1B2C3D4E{}", &t[ORDER_DIGITS..]);
        assert_eq!(refresh_token_key(&upper), sha256_hex(&upper));
        let longer = format!("{t}x");
        assert_eq!(refresh_token_key(&longer), sha256_hex(&longer));
        // A multi-byte character across the prefix's end is not a prefix (and does not panic).
        let odd = format!("{}é{}", &t[..ORDER_DIGITS - 1], &t[ORDER_DIGITS + 1..]);
        assert_eq!(odd.len(), REFRESH_TOKEN_LEN);
        assert_eq!(refresh_token_key(&odd), sha256_hex(&odd));
    }

    #[test]
    fn the_ordering_prefix_grows_even_when_the_clock_does_not() {
        let last = AtomicU64::new(0);
        assert_eq!(next_in_order(&last, 1_000), 1_000);
        assert_eq!(next_in_order(&last, 1_000), 1_001);
        assert_eq!(next_in_order(&last, 500), 1_002);
        assert_eq!(next_in_order(&last, 5_000), 5_000);
        assert_eq!(last.load(Ordering::Relaxed), 5_000);
    }

    #[test]
    fn random_tokens_carry_256_bits_and_differ() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }

    #[test]
    fn alphabet_sampling_stays_in_the_alphabet() {
        let code = random_from_alphabet(b"BCDFGHJKLMNPQRSTVWXZ", 1000);
        assert_eq!(code.len(), 1000);
        assert!(code.bytes().all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)));
    }
}
