//! What the SDK checks before it sends a credential anywhere (issue 11, item 7): the issuer is `https` (plain
//! `http` only on a loopback address, or with [`Config::allow_insecure_http`](crate::Config)), the discovery
//! document names the issuer the client was configured with and keeps every endpoint on the issuer's origin,
//! and a device login's verification URI is an `http(s)` URL.

use url::Url;

use crate::Endpoints;
use crate::error::{Error, Result};

/// Whether `url` names this machine: `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Refuses an issuer the SDK must not send credentials to: anything but `https`, and `http` except on a loopback
/// address (or when the configuration explicitly allows it, for a test network).
pub(crate) fn check_transport(issuer: &Url, allow_insecure_http: bool) -> Result<()> {
    match issuer.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(issuer) || allow_insecure_http => Ok(()),
        "http" => Err(Error::Config(format!(
            "the server {issuer} uses plain http, which would send your credentials unencrypted: use its https URL \
             (plain http is accepted only on localhost, or with `allow_insecure_http = true` on a test network)"
        ))),
        other => Err(Error::Config(format!(
            "the server URL {issuer} has scheme {other:?}: use an https URL"
        ))),
    }
}

/// Issuers compare equal up to one trailing slash (`https://tenant.auth0.com/` is written both ways).
pub(crate) fn same_issuer(a: &str, b: &str) -> bool {
    a.trim_end_matches('/') == b.trim_end_matches('/')
}

/// OpenID Connect Discovery §4.3: the document's `issuer` is the issuer the client asked for; and every endpoint
/// is on the issuer's origin (scheme, host and port), so a document cannot send the credentials elsewhere.
pub fn check_discovery(expected: &Url, endpoints: &Endpoints) -> std::result::Result<(), String> {
    if !same_issuer(&endpoints.issuer, expected.as_str()) {
        return Err(format!(
            "the document is for issuer {:?}, not {:?}; refusing to use it",
            endpoints.issuer,
            expected.as_str()
        ));
    }
    let origin = expected.origin();
    let named = [
        ("token_endpoint", Some(&endpoints.token_endpoint)),
        (
            "authorization_endpoint",
            endpoints.authorization_endpoint.as_ref(),
        ),
        (
            "device_authorization_endpoint",
            endpoints.device_authorization_endpoint.as_ref(),
        ),
        ("userinfo_endpoint", endpoints.userinfo_endpoint.as_ref()),
        (
            "end_session_endpoint",
            endpoints.end_session_endpoint.as_ref(),
        ),
        (
            "revocation_endpoint",
            endpoints.revocation_endpoint.as_ref(),
        ),
        (
            "introspection_endpoint",
            endpoints.introspection_endpoint.as_ref(),
        ),
        ("jwks_uri", endpoints.jwks_uri.as_ref()),
    ];
    for (field, value) in named {
        let Some(value) = value else { continue };
        let same = Url::parse(value).is_ok_and(|u| u.origin() == origin);
        if !same {
            return Err(format!(
                "`{field}` {value:?} is not on the issuer's origin {}; refusing to send credentials there \
                 (give the endpoints explicitly with `Client::with_endpoints` if this server really splits them)",
                origin.ascii_serialization()
            ));
        }
    }
    Ok(())
}

/// Reads `{issuer}/.well-known/openid-configuration` and checks it ([`check_discovery`]).
pub(crate) async fn discover(http: &reqwest::Client, issuer: &Url) -> Result<Endpoints> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    );
    let resp = http
        .get(&url)
        .send()
        .await
        .map_err(|e| Error::http(&url, e))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::Discovery {
            url,
            message: format!("HTTP {status}"),
        });
    }
    let endpoints = resp
        .json::<Endpoints>()
        .await
        .map_err(|e| Error::Discovery {
            url: url.clone(),
            message: e.to_string(),
        })?;
    check_discovery(issuer, &endpoints).map_err(|message| Error::Discovery { url, message })?;
    Ok(endpoints)
}

/// Both verification URIs of a device authorization answer are http(s).
pub(crate) fn check_device_login(
    details: &oauth2::StandardDeviceAuthorizationResponse,
) -> std::result::Result<(), String> {
    check_verification_uri(details.verification_uri().as_str())?;
    match details.verification_uri_complete() {
        Some(complete) => check_verification_uri(complete.secret().as_str()),
        None => Ok(()),
    }
}

/// A verification URI is shown to a person and may be opened in their browser: only `http(s)`.
pub(crate) fn check_verification_uri(uri: &str) -> std::result::Result<(), String> {
    match Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(format!(
            "the verification URI {uri:?} is not an http(s) URL; refusing to show or open it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_everywhere_http_on_loopback_or_when_allowed() {
        for ok in [
            "https://auth.example.org/realms/a",
            "http://127.0.0.1:8080/realms/a",
            "http://127.9.9.9/realms/a",
            "http://localhost:1/realms/a",
            "http://[::1]:8080/realms/a",
        ] {
            assert!(check_transport(&url(ok), false).is_ok(), "{ok}");
        }
        for bad in [
            "http://auth.example.org/realms/a",
            "http://10.0.0.1/realms/a",
            "ftp://127.0.0.1/x",
        ] {
            assert!(check_transport(&url(bad), false).is_err(), "{bad}");
        }
        assert!(check_transport(&url("http://auth.example.org/realms/a"), true).is_ok());
        assert!(check_transport(&url("ftp://auth.example.org/"), true).is_err());
    }

    #[test]
    fn discovery_must_name_the_issuer_and_stay_on_its_origin() {
        let issuer = url("https://auth.example.org/realms/a");
        let mut ep = Endpoints {
            issuer: "https://auth.example.org/realms/a".into(),
            token_endpoint: "https://auth.example.org/realms/a/protocol/openid-connect/token"
                .into(),
            authorization_endpoint: Some("https://auth.example.org/realms/a/auth".into()),
            device_authorization_endpoint: None,
            userinfo_endpoint: Some("https://auth.example.org/u".into()),
            end_session_endpoint: None,
            revocation_endpoint: None,
            introspection_endpoint: None,
            jwks_uri: None,
            authorization_response_iss_parameter_supported: false,
        };
        assert!(check_discovery(&issuer, &ep).is_ok());
        ep.issuer = "https://auth.example.org/realms/a/".into();
        assert!(check_discovery(&issuer, &ep).is_ok());
        ep.issuer = "https://evil.example.org/realms/a".into();
        assert!(
            check_discovery(&issuer, &ep)
                .unwrap_err()
                .contains("issuer")
        );
        ep.issuer = "https://auth.example.org/realms/a".into();
        for bad in [
            "https://evil.example.org/t",
            "http://auth.example.org/t",
            "https://auth.example.org:8443/t",
            "nope",
        ] {
            ep.revocation_endpoint = Some(bad.into());
            assert!(
                check_discovery(&issuer, &ep)
                    .unwrap_err()
                    .contains("revocation_endpoint"),
                "{bad}"
            );
        }
    }

    #[test]
    fn verification_uris_are_http_or_https() {
        assert!(check_verification_uri("https://auth.example.org/device").is_ok());
        assert!(check_verification_uri("http://127.0.0.1:1/device?user_code=X").is_ok());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ms-settings:network",
            "not a url",
        ] {
            assert!(check_verification_uri(bad).is_err(), "{bad}");
        }
    }
}
