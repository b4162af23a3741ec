//! The SDK's files from elsewhere: token files (`keyport_client::TokenFile`, TOML, also written by hand) and
//! OpenID Connect discovery documents (`keyport_client::Endpoints`, JSON from the network, then
//! `check_discovery`). Every input is read as both.
//!
//! Token file properties: no panic; what parses writes back to TOML and reads again to the same file;
//! `Token::from_token_file` accepts it exactly when it names this client's issuer (or none) and holds a refresh
//! token, a client secret or an access token, and then keeps every secret, the expiry and the username (or the
//! access token's, read without verification) unchanged; `has_expired` never panics.
//! Discovery properties: no panic; the document roundtrips through JSON; `check_discovery` accepts exactly when
//! the issuer is the expected one and every endpoint is on its origin (an independent reading of OIDC
//! Discovery §4.3); and an accepted document whose token endpoint is moved to another host, or from https to
//! http, is refused.
#![no_main]

use std::sync::OnceLock;

use keyport_client::fuzzing::check_discovery;
use keyport_client::{Client, Config, Endpoints, Token, TokenFile};
use libfuzzer_sys::fuzz_target;
use url::Url;

const ISSUER: &str = "http://127.0.0.1:8080/realms/fuzz";

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::new(Config::for_issuer(ISSUER, "keyport-cli")).expect("a loopback client")
    })
}

fn toml_of(file: &TokenFile) -> String {
    toml::to_string(file).expect("a token file serialises")
}

fn token_file(text: &str) {
    let Ok(file) = toml::from_str::<TokenFile>(text) else {
        return;
    };
    let written = toml_of(&file);
    let reread: TokenFile = match toml::from_str(&written) {
        Ok(f) => f,
        Err(e) => panic!("a token file as written does not read back: {e}\n{written}"),
    };
    assert_eq!(
        toml_of(&reread),
        written,
        "the token file changed on a roundtrip"
    );

    let issuer_ok = file
        .issuer
        .as_deref()
        .is_none_or(|i| i.trim_end_matches('/') == ISSUER);
    let has_grant =
        file.refresh_token.is_some() || file.client_secret.is_some() || file.access_token.is_some();
    let token = Token::from_token_file(client(), file.clone());
    assert_eq!(
        token.is_ok(),
        issuer_ok && has_grant,
        "from_token_file on\n{text}"
    );
    let Ok(token) = token else { return };
    let _ = token.has_expired();
    let back = token.to_token_file();
    let secret = |s: Option<&str>| s.map(str::to_owned);
    assert_eq!(
        secret(back.refresh_token.as_ref().map(|s| s.secret())),
        secret(file.refresh_token.as_ref().map(|s| s.secret()))
    );
    if file.refresh_token.is_none() {
        assert_eq!(
            secret(back.client_secret.as_ref().map(|s| s.secret())),
            secret(file.client_secret.as_ref().map(|s| s.secret()))
        );
    }
    assert_eq!(
        secret(back.access_token.as_ref().map(|s| s.secret())),
        secret(file.access_token.as_ref().map(|s| s.secret()))
    );
    assert_eq!(back.expires_at, file.expires_at, "the expiry moved");
    let from_jwt = file
        .access_token
        .as_ref()
        .and_then(|a| keyport_client::jwt::unverified_claims(a.secret()))
        .and_then(|claims| {
            ["preferred_username", "username", "sub"]
                .iter()
                .find_map(|k| claims.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
        });
    assert_eq!(
        back.username,
        file.username.clone().or(from_jwt),
        "the username"
    );
    assert_eq!(
        back.issuer.as_deref().map(|i| i.trim_end_matches('/')),
        Some(ISSUER)
    );
}

/// OIDC Discovery §4.3 read independently: issuer equal up to one trailing slash, every endpoint same origin.
fn acceptable(expected: &Url, e: &Endpoints) -> bool {
    let origin = expected.origin();
    e.issuer.trim_end_matches('/') == expected.as_str().trim_end_matches('/')
        && [
            Some(&e.token_endpoint),
            e.authorization_endpoint.as_ref(),
            e.device_authorization_endpoint.as_ref(),
            e.userinfo_endpoint.as_ref(),
            e.end_session_endpoint.as_ref(),
            e.revocation_endpoint.as_ref(),
            e.introspection_endpoint.as_ref(),
            e.jwks_uri.as_ref(),
        ]
        .into_iter()
        .flatten()
        .all(|u| Url::parse(u).is_ok_and(|u| u.origin() == origin))
}

fn discovery(data: &[u8]) {
    let Ok(endpoints) = serde_json::from_slice::<Endpoints>(data) else {
        return;
    };
    let json = serde_json::to_vec(&endpoints).expect("endpoints serialise");
    let back: Endpoints = serde_json::from_slice(&json).expect("endpoints read back");
    assert_eq!(
        back, endpoints,
        "the discovery document changed on a roundtrip"
    );

    let mut expected_issuers = vec![Url::parse(ISSUER).unwrap()];
    expected_issuers.extend(Url::parse(&endpoints.issuer));
    for expected in expected_issuers {
        let ok = check_discovery(&expected, &endpoints).is_ok();
        assert_eq!(
            ok,
            acceptable(&expected, &endpoints),
            "check_discovery({expected}) on {endpoints:?}"
        );
        if !ok {
            continue;
        }
        let mut elsewhere = endpoints.clone();
        elsewhere.token_endpoint = "https://evil.example/token".into();
        if expected.host_str() != Some("evil.example") {
            assert!(
                check_discovery(&expected, &elsewhere).is_err(),
                "a foreign token endpoint was accepted"
            );
        }
        if let Ok(mut url) = Url::parse(&endpoints.token_endpoint)
            && matches!(url.scheme(), "http" | "https")
        {
            let other = if url.scheme() == "https" {
                "http"
            } else {
                "https"
            };
            if url.set_scheme(other).is_ok() {
                let mut downgraded = endpoints.clone();
                downgraded.token_endpoint = url.to_string();
                assert!(
                    check_discovery(&expected, &downgraded).is_err(),
                    "a token endpoint with another scheme was accepted: {url}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        token_file(text);
    }
    discovery(data);
});
