//! Reading JWT claims locally, without verification: only for display and for picking a username.
//! Nothing here is trusted for authorization; the server verifies every token it receives.

use base64::Engine as _;

/// The payload claims of a JWT, or `None` when the string is not a JWT.
pub fn unverified_claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `preferred_username` (or `username`, or `sub`) of a JWT.
pub(crate) fn username(jwt: &str) -> Option<String> {
    let claims = unverified_claims(jwt)?;
    ["preferred_username", "username", "sub"]
        .iter()
        .find_map(|k| claims.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_username_of_a_jwt() {
        let enc = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let jwt = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"none"}"#),
            enc(r#"{"sub":"u1","preferred_username":"alice"}"#)
        );
        assert_eq!(username(&jwt).as_deref(), Some("alice"));
        assert_eq!(username("opaque-token"), None);
    }
}
