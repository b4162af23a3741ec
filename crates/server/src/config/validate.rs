//! Validation of the whole configuration, once at start: every message names the bad key.

use std::net::SocketAddr;

use super::*;

impl Config {
    /// Checks every value once, naming the bad key; normalises `base_path` and `public_url`.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        let s = &mut self.server;
        s.listen
            .parse::<SocketAddr>()
            .map_err(|e| invalid("server.listen", format!("`{}`: {e}", s.listen)))?;
        let bp = s.base_path.trim_end_matches('/').to_owned();
        if !bp.is_empty() && (!bp.starts_with('/') || bp.contains(['?', '#', ' '])) {
            return Err(invalid(
                "server.base_path",
                format!("`{}` must look like `/auth`", s.base_path),
            ));
        }
        s.base_path = bp;
        if let Some(url) = &s.public_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| invalid("server.public_url", format!("`{url}`: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(invalid(
                    "server.public_url",
                    format!("`{url}` must be an http(s) URL"),
                ));
            }
            s.public_url = Some(url.trim_end_matches('/').to_owned());
        }
        if let Some(url) = s.database_url.as_deref().filter(|u| !u.is_empty())
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "server.database_url",
                "must be a postgres:// URL (leave it unset for SQLite)",
            ));
        }
        if s.database_url.as_deref() == Some("") {
            s.database_url = None;
        }
        if s.database_max_connections == 0 {
            return Err(invalid(
                "server.database_max_connections",
                "must be at least 1",
            ));
        }
        for (i, cidr) in s.trusted_proxies.iter().enumerate() {
            if crate::http::client_ip::parse_cidr(cidr).is_none() {
                return Err(invalid(
                    format!("server.trusted_proxies[{i}]"),
                    format!("`{cidr}` is not a CIDR like `10.0.0.0/8` or an IP address"),
                ));
            }
        }
        for (key, value) in [
            (
                "server.user_code_attempts_per_minute",
                s.user_code_attempts_per_minute,
            ),
            (
                "server.user_code_guesses_per_minute",
                s.user_code_guesses_per_minute,
            ),
            (
                "server.user_code_max_wrong_guesses",
                s.user_code_max_wrong_guesses,
            ),
            ("server.device_polls_in_flight", s.device_polls_in_flight),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if s.max_body_bytes < 1024 {
            return Err(invalid("server.max_body_bytes", "must be at least 1024"));
        }
        if let Some(addr) = &s.metrics_listen {
            addr.parse::<SocketAddr>()
                .map_err(|e| invalid("server.metrics_listen", format!("`{addr}`: {e}")))?;
        }
        match (&s.tls_cert_file, &s.tls_key_file) {
            (Some(_), None) => {
                return Err(invalid(
                    "server.tls_key_file",
                    "must be set with server.tls_cert_file (the private key of that certificate)",
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "server.tls_cert_file",
                    "must be set with server.tls_key_file (the certificate chain of that key)",
                ));
            }
            _ => {}
        }
        let mut names = std::collections::HashSet::new();
        for (i, realm) in self.realms.iter().enumerate() {
            let key = format!("realms[{i}]");
            check_name(&format!("{key}.name"), &realm.name)?;
            if !names.insert(realm.name.as_str()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("realm `{}` is declared twice", realm.name),
                ));
            }
            for (field, d) in [
                ("access_token_lifetime", realm.access_token_lifetime),
                ("refresh_token_lifetime", realm.refresh_token_lifetime),
                ("device_code_lifetime", realm.device_code_lifetime),
                ("device_poll_interval", realm.device_poll_interval),
            ] {
                if d.as_secs() == 0 {
                    return Err(invalid(
                        format!("{key}.{field}"),
                        "must be at least one second",
                    ));
                }
            }
            if realm.device_code_lifetime.as_secs() > 86400 {
                return Err(invalid(
                    format!("{key}.device_code_lifetime"),
                    "must be at most one day",
                ));
            }
            if realm.api_token_max_lifespan.as_secs() < 86400 {
                return Err(invalid(
                    format!("{key}.api_token_max_lifespan"),
                    "must be at least one day",
                ));
            }
            if realm.api_token_default_lifespan > realm.api_token_max_lifespan
                || realm.api_token_default_lifespan.as_secs() == 0
            {
                return Err(invalid(
                    format!("{key}.api_token_default_lifespan"),
                    "must be positive and at most api_token_max_lifespan",
                ));
            }
            validate_policy(&key, realm)?;
            for (j, scope) in realm.api_token_scopes.iter().enumerate() {
                let ok = !scope.name.is_empty()
                    && scope.name.len() <= 64
                    && scope
                        .name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'));
                if !ok {
                    return Err(invalid(
                        format!("{key}.api_token_scopes[{j}].name"),
                        format!(
                            "`{}` must be 1-64 letters, digits, `_`, `-`, `:` or `.`",
                            scope.name
                        ),
                    ));
                }
            }
            // RFC 6749 §3.3: a scope token is visible ASCII without `"` or `\`; a space would make one configured
            // scope read as two in every scope string (and `domain::scope::resolve` relies on it).
            for (field, list) in [
                ("scopes", &realm.scopes),
                ("default_scopes", &realm.default_scopes),
            ] {
                for (j, scope) in list.iter().enumerate() {
                    if !is_scope_token(scope) {
                        return Err(invalid(
                            format!("{key}.{field}[{j}]"),
                            format!(
                                "`{scope}` is not a scope: one or more visible ASCII characters, without spaces, `\"` or `\\` (RFC 6749 §3.3)"
                            ),
                        ));
                    }
                }
            }
            let mut ids = std::collections::HashSet::new();
            for (j, client) in realm.clients.iter().enumerate() {
                let ckey = format!("{key}.clients[{j}]");
                check_name(&format!("{ckey}.client_id"), &client.client_id)?;
                if !ids.insert(client.client_id.as_str()) {
                    return Err(invalid(
                        ckey,
                        format!("client `{}` is declared twice", client.client_id),
                    ));
                }
                let sources = [
                    client.secret.is_some(),
                    client.secret_file.is_some(),
                    client.secret_env.is_some(),
                ];
                let n = sources.iter().filter(|b| **b).count();
                if client.public && n > 0 {
                    return Err(invalid(ckey, "a public client has no secret"));
                }
                if !client.public && n != 1 {
                    return Err(invalid(
                        ckey,
                        "a confidential client needs exactly one of `secret`, `secret_file`, `secret_env` (or `public = true`)",
                    ));
                }
                if client.public && client.grants.contains(&Grant::ClientCredentials) {
                    return Err(invalid(
                        ckey,
                        "a public client cannot use client_credentials",
                    ));
                }
                if client.public
                    && client.grants.contains(&Grant::Password)
                    && !client.allow_public_password_grant
                {
                    return Err(invalid(
                        ckey,
                        "a public client may use the password grant only with `allow_public_password_grant = true` (RFC 9700 §2.4)",
                    ));
                }
                check_redirect_uris(&ckey, client)?;
            }
            let mut aliases = std::collections::HashSet::new();
            for (j, idp) in realm.identity_providers.iter().enumerate() {
                let ikey = format!("{key}.identity_providers[{j}]");
                let ok = !idp.alias.is_empty()
                    && idp.alias.len() <= 64
                    && idp
                        .alias
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
                if !ok {
                    return Err(invalid(
                        format!("{ikey}.alias"),
                        format!("`{}` must be 1-64 letters, digits, `-` or `_`", idp.alias),
                    ));
                }
                if !aliases.insert(idp.alias.as_str()) {
                    return Err(invalid(
                        format!("{ikey}.alias"),
                        format!("identity provider `{}` is declared twice", idp.alias),
                    ));
                }
                match url::Url::parse(&idp.issuer) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                    _ => {
                        return Err(invalid(
                            format!("{ikey}.issuer"),
                            format!("`{}` must be an http(s) URL", idp.issuer),
                        ));
                    }
                }
                let secrets = [
                    idp.client_secret.is_some(),
                    idp.client_secret_env.is_some(),
                    idp.client_secret_file.is_some(),
                ];
                if secrets.iter().filter(|b| **b).count() > 1 {
                    return Err(invalid(
                        ikey,
                        "give at most one of `client_secret`, `client_secret_env`, `client_secret_file`",
                    ));
                }
            }
            if realm.brute_force.failure_factor == 0 {
                return Err(invalid(
                    format!("{key}.brute_force.failure_factor"),
                    "must be at least 1",
                ));
            }
            if !realm.local_passwords && realm.identity_providers.is_empty() {
                return Err(invalid(
                    format!("{key}.local_passwords"),
                    "with local passwords off the realm needs at least one of `identity_providers`",
                ));
            }
            let mut users = std::collections::HashSet::new();
            for (j, user) in realm.users.iter().enumerate() {
                let ukey = format!("{key}.users[{j}]");
                check_name(&format!("{ukey}.username"), &user.username)?;
                if !users.insert(user.username.to_lowercase()) {
                    return Err(invalid(
                        ukey,
                        format!("user `{}` is declared twice", user.username),
                    ));
                }
                if user.password.is_some() && user.password_env.is_some() {
                    return Err(invalid(
                        ukey,
                        "give either `password` or `password_env`, not both",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A client's redirect URIs: absolute URLs without a fragment (OAuth 2.0 §3.1.2), at least one for the
/// authorization code grant.
fn check_redirect_uris(ckey: &str, client: &ClientConfig) -> Result<(), ConfigError> {
    let lists = [
        ("redirect_uris", &client.redirect_uris),
        (
            "post_logout_redirect_uris",
            &client.post_logout_redirect_uris,
        ),
    ];
    for (field, list) in lists {
        for uri in list {
            // Private-use schemes of native apps (RFC 8252 §7.1) are allowed; script-like ones are not.
            let ok = match url::Url::parse(uri) {
                Ok(u) if u.fragment().is_some() => false,
                Ok(u) if matches!(u.scheme(), "http" | "https") => u.host().is_some(),
                Ok(u) => !matches!(u.scheme(), "javascript" | "data" | "file" | "vbscript"),
                Err(_) => false,
            };
            if !ok {
                return Err(invalid(
                    format!("{ckey}.{field}"),
                    format!("`{uri}` must be an absolute URL without a fragment"),
                ));
            }
            // RFC 9700 §2.6: authorization responses never travel unencrypted, so plain http only for the
            // loopback interface of native apps (RFC 8252 §7.3).
            let plain_http_elsewhere = field == "redirect_uris"
                && url::Url::parse(uri).is_ok_and(|u| {
                    u.scheme() == "http"
                        && !matches!(u.host(), Some(url::Host::Domain("localhost")))
                        && !matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                        && !matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                });
            if plain_http_elsewhere {
                return Err(invalid(
                    format!("{ckey}.{field}"),
                    format!(
                        "`{uri}` uses plain http: use https (plain http is allowed only on loopback, \
                         e.g. http://127.0.0.1/callback)"
                    ),
                ));
            }
        }
    }
    if client.grants.contains(&Grant::AuthorizationCode) && client.redirect_uris.is_empty() {
        return Err(invalid(
            format!("{ckey}.redirect_uris"),
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    Ok(())
}

/// Names in URLs and tokens: 1–64 characters of letters, digits, `-`, `_`, `.`, `@`.
pub fn check_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("`{name}` must be 1-64 letters, digits, `-`, `_`, `.` or `@`"),
        ))
    }
}

/// An RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`.
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}
