//! The page session cookie, the only cookie keyport sets (pending upstream sign-ins and every other browser
//! flow are bound to it in the database).

use axum::http::HeaderMap;
use axum::http::header;

/// The session cookie of one realm's pages.
///
/// When the public URL is https: `__Host-KEYPORT_SESSION_{realm}`, `Secure`, `Path=/`, no `Domain` (what the
/// `__Host-` prefix demands, so that no sibling host and no plain-http response can set or shadow it). The
/// prefix forbids a narrower path, so the realm is in the name instead (`@`, which a cookie name cannot hold,
/// written `%40`). Over plain http (development, tests): `KEYPORT_SESSION`, scoped to the realm's path.
pub struct SessionCookie {
    name: String,
    path: String,
    secure: bool,
}

impl SessionCookie {
    /// The cookie of realm `realm`, whose pages are under `realm_path` (`{base}/realms/{realm}/`), for a
    /// server whose public URL is https or not.
    pub fn new(realm: &str, realm_path: &str, https: bool) -> SessionCookie {
        if https {
            SessionCookie {
                name: format!("__Host-KEYPORT_SESSION_{}", realm.replace('@', "%40")),
                path: "/".into(),
                secure: true,
            }
        } else {
            SessionCookie {
                name: "KEYPORT_SESSION".into(),
                path: realm_path.to_owned(),
                secure: false,
            }
        }
    }

    /// The cookie's value in the request, if it was sent.
    pub fn value<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        get(headers, &self.name)
    }

    /// `Set-Cookie` with `value`: HttpOnly, SameSite=Lax, and as described on [`SessionCookie`].
    pub fn set(&self, value: &str, max_age: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{}={value}; Path={}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}",
            self.name, self.path
        )
    }
}

/// The value of cookie `name` in the request.
fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cookie: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, cookie.parse().unwrap());
        h
    }

    #[test]
    fn https_sessions_are_host_prefixed_secure_and_per_realm() {
        let c = SessionCookie::new("ai@d", "/auth/realms/ai@d/", true);
        assert_eq!(
            c.set("v", 60),
            "__Host-KEYPORT_SESSION_ai%40d=v; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; Secure"
        );
        let h = request(
            "KEYPORT_SESSION=old; __Host-KEYPORT_SESSION_other=x; __Host-KEYPORT_SESSION_ai%40d=v",
        );
        assert_eq!(c.value(&h), Some("v"));
        assert_eq!(c.value(&request("KEYPORT_SESSION=old")), None);
    }

    #[test]
    fn plain_http_keeps_the_path_scoped_name() {
        let c = SessionCookie::new("aiod", "/realms/aiod/", false);
        assert_eq!(
            c.set("v", 60),
            "KEYPORT_SESSION=v; Path=/realms/aiod/; Max-Age=60; HttpOnly; SameSite=Lax"
        );
        assert_eq!(c.value(&request("a=b; KEYPORT_SESSION=v")), Some("v"));
        assert_eq!(c.value(&request("__Host-KEYPORT_SESSION_aiod=v")), None);
    }
}
