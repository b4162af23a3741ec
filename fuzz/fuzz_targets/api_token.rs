//! `kp_` API tokens (`keyport_server::domain::api_tokens::check_format`): prefix, length, base62 alphabet and the
//! 6-character checksum, checked before any database lookup.
//!
//! Each input is checked twice: as given, and as the random part of a token built here with an independently
//! written checksum (SHA-256, first four bytes, base62), then altered at a position the input chooses.
//! Properties: no panic; `check_format` agrees with the independent oracle on every string (so a well-formed
//! token is never refused and a token whose checksum does not match is never accepted); a token built here is
//! accepted; and any single-character change of it is refused (unless the change keeps the checksum valid, which
//! the oracle decides).
#![no_main]

use keyport_server::domain::api_tokens::{
    Malformed, PREFIX, TOKEN_LEN, check_format, is_api_token,
};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 43;

fn checksum(random: &str) -> String {
    let d = Sha256::digest(random.as_bytes());
    let mut n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    let mut out = vec![0u8; 6];
    for i in (0..6).rev() {
        out[i] = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8(out).unwrap()
}

/// The format rule, written again from the module documentation.
fn oracle(token: &str) -> Result<(), Malformed> {
    let Some(body) = token.strip_prefix(PREFIX) else {
        return Err(Malformed::Prefix);
    };
    if token.len() != PREFIX.len() + RANDOM_LEN + 6 {
        return Err(Malformed::Length);
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Malformed::Alphabet);
    }
    if checksum(&body[..RANDOM_LEN]) != body[RANDOM_LEN..] {
        return Err(Malformed::Checksum);
    }
    Ok(())
}

fn check(token: &str) {
    let got = check_format(token);
    assert_eq!(got, oracle(token), "check_format({token:?})");
    assert_eq!(is_api_token(token), token.starts_with("kp_"));
    if got.is_ok() {
        assert_eq!(token.len(), TOKEN_LEN);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    // A token built from the input: 43 base62 characters, the checksum, then one character replaced.
    let Some((&edit, rest)) = data.split_first() else {
        return;
    };
    let random: String = (0..RANDOM_LEN)
        .map(|i| BASE62[rest.get(i).copied().unwrap_or(0) as usize % 62] as char)
        .collect();
    let token = format!("{PREFIX}{random}{}", checksum(&random));
    assert_eq!(
        check_format(&token),
        Ok(()),
        "a well-formed token {token:?} was refused"
    );
    let mut bytes = token.clone().into_bytes();
    let at = PREFIX.len() + edit as usize % (RANDOM_LEN + 6);
    let with = rest.get(RANDOM_LEN).copied().unwrap_or(b'x');
    bytes[at] = with;
    if let Ok(altered) = String::from_utf8(bytes) {
        check(&altered);
        if altered != token && altered.is_char_boundary(at) {
            // A changed character in the random part or the checksum: refused unless the checksum still matches.
            let refused = check_format(&altered).is_err();
            let collides = oracle(&altered).is_ok();
            assert!(refused || collides, "{altered:?} accepted");
        }
    }
});
