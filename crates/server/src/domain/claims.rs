//! The claims of the tokens this server signs, borrowed from the grant (the realm, the client, the user), so that
//! minting a token copies none of their strings. [`keyport_proto::oauth::AccessTokenClaims`] and
//! [`keyport_proto::oauth::IdTokenClaims`] stay the tokens' definitions, which readers (introspection, userinfo,
//! the SDKs) parse: these write the same fields, in the same order, with the same bytes (the tests below compare
//! them).

use serde::Serialize;
use serde::ser::{SerializeSeq, Serializer};

/// An access token's claims ([`keyport_proto::oauth::AccessTokenClaims`]).
#[derive(Serialize)]
pub struct Access<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: AccessAudience<'a>,
    pub azp: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    pub scope: &'a str,
    pub typ: &'static str,
    pub preferred_username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub realm_access: Roles<'a>,
}

/// Keycloak's `realm_access` claim ([`keyport_proto::oauth::RealmAccess`]).
#[derive(Serialize)]
pub struct Roles<'a> {
    pub roles: &'a [String],
}

/// `aud` of an access token, from the client's `audiences`: `account` (what Keycloak clients expect), then each
/// other audience once, in order; a lone `account` is written as one string
/// ([`keyport_proto::oauth::Audience`]'s form).
pub struct AccessAudience<'a>(pub &'a [String]);

impl AccessAudience<'_> {
    fn others(&self) -> impl Iterator<Item = &str> {
        let all = self.0;
        all.iter()
            .enumerate()
            .filter(move |(i, a)| a.as_str() != "account" && !all[..*i].contains(a))
            .map(|(_, a)| a.as_str())
    }
}

impl Serialize for AccessAudience<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.others().next().is_none() {
            return s.serialize_str("account");
        }
        let mut seq = s.serialize_seq(None)?;
        seq.serialize_element("account")?;
        for a in self.others() {
            seq.serialize_element(a)?;
        }
        seq.end()
    }
}

/// An ID token's claims ([`keyport_proto::oauth::IdTokenClaims`]).
#[derive(Serialize)]
pub struct Id<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub aud: &'a str,
    pub azp: &'a str,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    pub jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<&'a str>,
    pub typ: &'static str,
    pub preferred_username: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<&'static str>,
    /// One method or none (the proto type's empty list is left out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<[&'a str; 1]>,
}

#[cfg(test)]
mod tests {
    use keyport_proto::oauth::{AccessTokenClaims, Audience, IdTokenClaims, RealmAccess};

    use super::*;

    fn owned(s: Option<&str>) -> Option<String> {
        s.map(str::to_owned)
    }

    /// The `aud` the proto type holds for `audiences`, built as the server built it before these types.
    fn audience(audiences: &[String]) -> Audience {
        let mut aud = vec!["account".to_owned()];
        for a in audiences {
            if !aud.contains(a) {
                aud.push(a.clone());
            }
        }
        Audience(aud)
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn access_claims_are_the_bytes_of_the_proto_type() {
        let audience_lists = [
            strings(&[]),
            strings(&["account"]),
            strings(&["models"]),
            strings(&["models", "account", "models", "data"]),
        ];
        let optional = [None, Some("x\"é\u{1}")];
        let role_lists = [strings(&[]), strings(&["bot", "admin"])];
        for audiences in &audience_lists {
            for (sid, email, name) in [
                (optional[0], optional[0], optional[0]),
                (optional[1], optional[1], optional[1]),
                (optional[0], optional[1], optional[0]),
            ] {
                for roles in &role_lists {
                    let borrowed = Access {
                        iss: "http://localhost/realms/r",
                        sub: "u-1",
                        aud: AccessAudience(audiences),
                        azp: "cli",
                        exp: 1_700_000_300,
                        iat: -1,
                        jti: "0f8e0c6a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                        sid,
                        scope: "openid profile",
                        typ: "Bearer",
                        preferred_username: "alice",
                        email,
                        name,
                        realm_access: Roles { roles },
                    };
                    let proto = AccessTokenClaims {
                        iss: "http://localhost/realms/r".into(),
                        sub: "u-1".into(),
                        aud: audience(audiences),
                        azp: "cli".into(),
                        exp: 1_700_000_300,
                        iat: -1,
                        jti: "0f8e0c6a-1b2c-4d5e-8f90-a1b2c3d4e5f6".into(),
                        sid: owned(sid),
                        scope: "openid profile".into(),
                        typ: "Bearer".into(),
                        preferred_username: "alice".into(),
                        email: owned(email),
                        name: owned(name),
                        realm_access: RealmAccess {
                            roles: roles.clone(),
                        },
                    };
                    assert_eq!(
                        serde_json::to_string(&borrowed).unwrap(),
                        serde_json::to_string(&proto).unwrap(),
                        "audiences {audiences:?}, sid {sid:?}, email {email:?}, roles {roles:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn id_claims_are_the_bytes_of_the_proto_type() {
        let optional = [None, Some("x\"é\u{1}")];
        for (sid, nonce, amr) in [
            (optional[0], optional[0], None),
            (optional[1], optional[1], Some("pwd")),
            (optional[0], optional[1], Some("fed")),
        ] {
            for (email, name) in [(optional[0], optional[1]), (optional[1], optional[0])] {
                let borrowed = Id {
                    iss: "http://localhost/realms/r",
                    sub: "u-1",
                    aud: "cli",
                    azp: "cli",
                    exp: 1_700_000_300,
                    iat: 1_700_000_000,
                    auth_time: 1_699_999_000,
                    jti: "0f8e0c6a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
                    sid,
                    typ: "ID",
                    preferred_username: "alice",
                    email,
                    name,
                    nonce,
                    at_hash: Some("aGFzaA"),
                    acr: amr.map(|_| "1"),
                    amr: amr.map(|m| [m]),
                };
                let proto = IdTokenClaims {
                    iss: "http://localhost/realms/r".into(),
                    sub: "u-1".into(),
                    aud: "cli".into(),
                    azp: "cli".into(),
                    exp: 1_700_000_300,
                    iat: 1_700_000_000,
                    auth_time: 1_699_999_000,
                    jti: "0f8e0c6a-1b2c-4d5e-8f90-a1b2c3d4e5f6".into(),
                    sid: owned(sid),
                    typ: "ID".into(),
                    preferred_username: "alice".into(),
                    email: owned(email),
                    name: owned(name),
                    nonce: owned(nonce),
                    at_hash: Some("aGFzaA".into()),
                    acr: amr.map(|_| "1".into()),
                    amr: amr.map(|m| vec![m.to_owned()]).unwrap_or_default(),
                };
                assert_eq!(
                    serde_json::to_string(&borrowed).unwrap(),
                    serde_json::to_string(&proto).unwrap(),
                    "sid {sid:?}, nonce {nonce:?}, amr {amr:?}, email {email:?}"
                );
            }
        }
    }
}
