//! The token and introspection responses' JSON, written directly.
//!
//! A token response is mostly its tokens: a JWT of ~600 characters (base64url and dots), a refresh token
//! (base64url). serde_json's string writer looks every byte up in its escape table; here a string is first
//! checked eight bytes at a time for the only bytes JSON must escape (`"`, `\` and controls below 0x20) and, when
//! it holds none (always, for a token), copied as it is. Anything else goes through serde_json's own escaping,
//! so the output is the same bytes `serde_json::to_vec` writes for [`TokenResponse`] and
//! [`keyport_proto::oauth::IntrospectionResponse`] (tests compare them); the field names are literals, written
//! without a scan.

use keyport_proto::oauth::TokenResponse;

use crate::domain::inspect::IntrospectionView;

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether any byte of `w` is below `n` (`n` ≤ 0x80; exact as to "any").
fn any_below(w: u64, n: u8) -> bool {
    w.wrapping_sub(ONES * n as u64) & !w & HIGHS != 0
}

/// Whether any byte of `w` equals `b`.
fn any_equal(w: u64, b: u8) -> bool {
    any_below(w ^ (ONES * b as u64), 1)
}

/// Whether JSON needs none of `s`'s bytes escaped (serde_json escapes `"`, `\` and bytes below 0x20 only).
fn plain(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut words = bytes.chunks_exact(8);
    for chunk in &mut words {
        let w = u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        if any_below(w, 0x20) || any_equal(w, b'"') || any_equal(w, b'\\') {
            return false;
        }
    }
    words
        .remainder()
        .iter()
        .all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// Appends `s` as a JSON string.
fn push_str(buf: &mut Vec<u8>, s: &str) {
    if plain(s) {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        serde_json::to_writer(&mut *buf, s).expect("writing to a Vec cannot fail");
    }
}

/// Appends `n` as serde_json writes it (serde_json formats integers with `itoa` too).
fn push_int(buf: &mut Vec<u8>, n: impl itoa::Integer) {
    buf.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// `,"key":` then the string, when there is one.
fn opt_str(buf: &mut Vec<u8>, key: &[u8], value: Option<&str>) {
    if let Some(v) = value {
        buf.extend_from_slice(key);
        push_str(buf, v);
    }
}

fn push_strs(buf: &mut Vec<u8>, values: &[String]) {
    buf.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        push_str(buf, v);
    }
    buf.push(b']');
}

/// `serde_json::to_vec` of the [`keyport_proto::oauth::IntrospectionResponse`] `r` views: RFC 7662's answer,
/// field by field in the struct's order.
pub fn introspection(r: &IntrospectionView<'_>) -> Vec<u8> {
    // Every field is written below: a field added to the view stops this from compiling until it is.
    let IntrospectionView {
        active,
        scope,
        client_id,
        username,
        token_type,
        exp,
        iat,
        sub,
        aud,
        iss,
        jti,
        sid,
        typ,
        preferred_username,
        email,
        roles,
    } = *r;
    let mut buf = Vec::with_capacity(512);
    buf.extend_from_slice(if active {
        b"{\"active\":true"
    } else {
        b"{\"active\":false"
    });
    opt_str(&mut buf, b",\"scope\":", scope);
    opt_str(&mut buf, b",\"client_id\":", client_id);
    opt_str(&mut buf, b",\"username\":", username);
    opt_str(&mut buf, b",\"token_type\":", token_type);
    if let Some(exp) = exp {
        buf.extend_from_slice(b",\"exp\":");
        push_int(&mut buf, exp);
    }
    if let Some(iat) = iat {
        buf.extend_from_slice(b",\"iat\":");
        push_int(&mut buf, iat);
    }
    opt_str(&mut buf, b",\"sub\":", sub);
    if let Some(aud) = aud {
        buf.extend_from_slice(b",\"aud\":");
        match aud {
            [one] => push_str(&mut buf, one),
            many => push_strs(&mut buf, many),
        }
    }
    opt_str(&mut buf, b",\"iss\":", iss);
    opt_str(&mut buf, b",\"jti\":", jti);
    opt_str(&mut buf, b",\"sid\":", sid);
    opt_str(&mut buf, b",\"typ\":", typ);
    opt_str(&mut buf, b",\"preferred_username\":", preferred_username);
    opt_str(&mut buf, b",\"email\":", email);
    if let Some(roles) = roles {
        buf.extend_from_slice(b",\"realm_access\":{\"roles\":");
        push_strs(&mut buf, roles);
        buf.push(b'}');
    }
    buf.push(b'}');
    buf
}

/// `serde_json::to_vec(r)`, without the escape pass over the tokens.
pub fn token_response(r: &TokenResponse) -> Vec<u8> {
    // As above: every field is written below.
    let TokenResponse {
        access_token: _,
        token_type: _,
        expires_in: _,
        refresh_token: _,
        refresh_expires_in: _,
        scope: _,
        id_token: _,
        session_state: _,
        not_before_policy: _,
    } = r;
    let tokens = r.access_token.expose().len()
        + r.refresh_token.as_ref().map_or(0, |t| t.expose().len())
        + r.id_token.as_ref().map_or(0, |t| t.expose().len());
    let mut buf = Vec::with_capacity(tokens + r.scope.len() + 256);
    buf.extend_from_slice(b"{\"access_token\":");
    push_str(&mut buf, r.access_token.expose());
    buf.extend_from_slice(b",\"token_type\":");
    push_str(&mut buf, &r.token_type);
    buf.extend_from_slice(b",\"expires_in\":");
    push_int(&mut buf, r.expires_in);
    if let Some(t) = &r.refresh_token {
        buf.extend_from_slice(b",\"refresh_token\":");
        push_str(&mut buf, t.expose());
    }
    buf.extend_from_slice(b",\"refresh_expires_in\":");
    push_int(&mut buf, r.refresh_expires_in);
    buf.extend_from_slice(b",\"scope\":");
    push_str(&mut buf, &r.scope);
    if let Some(t) = &r.id_token {
        buf.extend_from_slice(b",\"id_token\":");
        push_str(&mut buf, t.expose());
    }
    if let Some(s) = &r.session_state {
        buf.extend_from_slice(b",\"session_state\":");
        push_str(&mut buf, s);
    }
    buf.extend_from_slice(b",\"not-before-policy\":");
    push_int(&mut buf, r.not_before_policy);
    buf.push(b'}');
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyport_proto::Secret;
    use keyport_proto::oauth::{Audience, IntrospectionResponse, RealmAccess};

    fn serde_str(s: &str) -> Vec<u8> {
        serde_json::to_vec(s).unwrap()
    }

    #[test]
    fn strings_match_serde_json_for_every_byte_at_every_position() {
        // Each ASCII byte and some multi-byte characters, at every offset of a string longer than two words.
        let mut specials: Vec<String> = (0u8..0x80).map(|b| (b as char).to_string()).collect();
        specials.extend(["é", "€", "😀", "\u{7f}", "\u{80}", "\u{2028}"].map(String::from));
        for special in &specials {
            for at in 0..20 {
                let s = format!("{}{special}{}", "a".repeat(at), "b".repeat(19 - at));
                let mut mine = Vec::new();
                push_str(&mut mine, &s);
                assert_eq!(mine, serde_str(&s), "{s:?}");
            }
        }
        for s in [
            "",
            "a",
            "\"",
            "abcdefgh",
            "abcdefg\\",
            "eyJhbGciOiJFUzI1NiJ9.eyJ4Ijo1fQ.c2ln-_",
        ] {
            let mut mine = Vec::new();
            push_str(&mut mine, s);
            assert_eq!(mine, serde_str(s), "{s:?}");
        }
    }

    #[test]
    fn a_jwt_is_plain_and_a_quote_is_not() {
        assert!(plain(
            "eyJhbGciOiJFUzI1NiJ9.eyJ4Ijo1fQ.c2lnbmF0dXJl-_0123456789"
        ));
        assert!(!plain("eyJhbGciOiJFUzI1NiJ9\".eyJ4Ijo1fQ"));
        assert!(!plain("0123456789abcdef\n"));
    }

    #[test]
    fn integers_match_serde_json() {
        for n in [0i64, 1, 9, 10, 99, 300, -1, -10, i64::MAX, i64::MIN] {
            let mut mine = Vec::new();
            push_int(&mut mine, n);
            assert_eq!(mine, serde_json::to_vec(&n).unwrap(), "{n}");
        }
        let mut mine = Vec::new();
        push_int(&mut mine, u64::MAX);
        assert_eq!(mine, serde_json::to_vec(&u64::MAX).unwrap());
    }

    #[test]
    fn token_responses_are_the_bytes_serde_json_writes() {
        let full = TokenResponse {
            access_token: Secret::new("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"),
            token_type: "Bearer".into(),
            expires_in: 300,
            refresh_token: Some(Secret::new("cmVmcmVzaA-_")),
            refresh_expires_in: 1800,
            scope: "openid profile \"odd\"\\ é".into(),
            id_token: Some(Secret::new("eyJ.eyJ.sig")),
            session_state: Some("5f0c-\u{1}".into()),
            not_before_policy: 0,
        };
        let bare = TokenResponse {
            refresh_token: None,
            refresh_expires_in: 0,
            scope: String::new(),
            id_token: None,
            session_state: None,
            ..full.clone()
        };
        let quoted = TokenResponse {
            access_token: Secret::new("not\"a\njwt"),
            not_before_policy: -5,
            ..bare.clone()
        };
        for r in [full, bare, quoted] {
            assert_eq!(
                String::from_utf8(token_response(&r)).unwrap(),
                serde_json::to_string(&r).unwrap()
            );
        }
    }

    #[test]
    fn introspection_answers_are_the_bytes_serde_json_writes() {
        let api_token = IntrospectionResponse {
            active: true,
            scope: Some("models:read openid".into()),
            client_id: None,
            username: Some("bob \"the\" builder".into()),
            token_type: Some("api_token".into()),
            exp: Some(1_800_000_000),
            iat: Some(-3),
            sub: Some("0b7c".into()),
            aud: None,
            iss: Some("http://127.0.0.1:8080/realms/aiod".into()),
            jti: Some("id\\1".into()),
            sid: None,
            typ: Some("API-Token".into()),
            preferred_username: Some("bob".into()),
            email: Some("bob@example.com\n".into()),
            realm_access: Some(RealmAccess {
                roles: vec!["user".into(), "ädmin".into()],
            }),
        };
        let mut jwt = IntrospectionResponse {
            client_id: Some("bot".into()),
            aud: Some(Audience(vec!["account".into()])),
            sid: Some("s".into()),
            email: None,
            realm_access: Some(RealmAccess { roles: vec![] }),
            ..api_token.clone()
        };
        let mut cases = vec![
            IntrospectionResponse::inactive(),
            api_token.clone(),
            jwt.clone(),
        ];
        jwt.aud = Some(Audience(vec!["account".into(), "api \u{1}".into()]));
        cases.push(jwt.clone());
        jwt.aud = Some(Audience(vec![]));
        cases.push(jwt);
        for r in cases {
            assert_eq!(
                String::from_utf8(introspection(&(&r).into())).unwrap(),
                serde_json::to_string(&r).unwrap()
            );
        }
    }
}
