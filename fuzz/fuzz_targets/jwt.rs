//! JWS/JWT verification, both verifiers on every input: the server's (`keyport_server::keys::KeySet::verify`,
//! aws-lc signatures, for the tokens it receives back) and the resource servers' (`keyport_verifier::Verifier`,
//! `jsonwebtoken` with the server's JWKS served over loopback).
//!
//! The keys are fixed test keys (`fuzz/keys/`, so a finding replays). The first byte picks a mode:
//! 0. the rest is a token as received;
//! 1. the rest is a claims document, signed by the key set (RS256, ES256 or EdDSA), then one byte changed;
//! 2. the rest is claim values (`\0`-separated: sub, username, scope, email, role…) in an access token that is
//!    otherwise valid;
//! 3. the rest is a header and claims (`\0`-separated), signed with one of the keys, with no signature, or with
//!    HMAC keyed by a public key (the `alg` confusion attacks).
//!
//! Properties: no panic; neither verifier accepts a token whose signature an independent implementation (the
//! RustCrypto crates) does not verify with the key its header names, under that key's algorithm; what they accept
//! has the claims they require (issuer, unexpired, subject; the resource server's audience and `typ`), and the
//! server accepts every token its key set signed whose claims are valid; a valid access token with arbitrary
//! claim values is accepted by both and read as written.
#![no_main]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use keyport_server::config::SigningAlg;
use keyport_server::keys::{KeySet, StoredKey};
use keyport_verifier::{Caller, Verifier};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use sha2::Sha256;

const ISS: &str = "http://127.0.0.1/realms/fuzz";
const AUDIENCE: &str = "fuzz-api";
const KEYS: [(SigningAlg, &str, &str); 3] = [
    (
        SigningAlg::RS256,
        "fuzz-rs256",
        include_str!("../keys/rs256.pem"),
    ),
    (
        SigningAlg::ES256,
        "fuzz-es256",
        include_str!("../keys/es256.pem"),
    ),
    (
        SigningAlg::EdDSA,
        "fuzz-eddsa",
        include_str!("../keys/eddsa.pem"),
    ),
];

/// The same keys in the RustCrypto crates: the oracle and the signer of modes 3.
struct Oracle {
    rsa: rsa::pkcs1v15::SigningKey<Sha256>,
    rsa_public_pem: String,
    rsa_public_der: Vec<u8>,
    es256: p256::ecdsa::SigningKey,
    eddsa: ed25519_dalek::SigningKey,
}

impl Oracle {
    fn new() -> Oracle {
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let rsa = rsa::RsaPrivateKey::from_pkcs8_pem(KEYS[0].2).unwrap();
        let public = rsa.to_public_key();
        Oracle {
            rsa_public_pem: public.to_public_key_pem(LineEnding::LF).unwrap(),
            rsa_public_der: public.to_public_key_der().unwrap().as_bytes().to_vec(),
            rsa: rsa::pkcs1v15::SigningKey::new(rsa),
            es256: p256::ecdsa::SigningKey::from_pkcs8_pem(KEYS[1].2).unwrap(),
            eddsa: ed25519_dalek::SigningKey::from_pkcs8_pem(KEYS[2].2).unwrap(),
        }
    }

    fn sign(&self, alg: SigningAlg, message: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding, Signer};
        match alg {
            SigningAlg::RS256 => self.rsa.sign(message).to_vec(),
            SigningAlg::ES256 => {
                let s: p256::ecdsa::Signature = self.es256.sign(message);
                s.to_bytes().to_vec()
            }
            SigningAlg::EdDSA => self.eddsa.sign(message).to_bytes().to_vec(),
        }
    }

    /// Whether `token` carries a valid signature by the key its header names, under that key's algorithm.
    fn signed(&self, token: &str) -> bool {
        use rsa::signature::{Keypair as _, Verifier as _};
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts[..] else { return false };
        let Some(header) = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        else {
            return false;
        };
        let Some((alg, _, _)) = KEYS
            .iter()
            .find(|k| header.get("kid").and_then(Value::as_str) == Some(k.1))
        else {
            return false;
        };
        if header.get("alg").and_then(Value::as_str) != Some(alg.as_str()) {
            return false;
        }
        let Ok(sig) = B64.decode(s) else { return false };
        let message = &token.as_bytes()[..h.len() + 1 + p.len()];
        match alg {
            SigningAlg::RS256 => rsa::pkcs1v15::Signature::try_from(&sig[..])
                .is_ok_and(|sig| self.rsa.verifying_key().verify(message, &sig).is_ok()),
            SigningAlg::ES256 => p256::ecdsa::Signature::from_slice(&sig)
                .is_ok_and(|sig| self.es256.verifying_key().verify(message, &sig).is_ok()),
            SigningAlg::EdDSA => ed25519_dalek::Signature::from_slice(&sig)
                .is_ok_and(|sig| self.eddsa.verifying_key().verify(message, &sig).is_ok()),
        }
    }
}

struct Harness {
    keys: KeySet,
    oracle: Oracle,
    verifier: Verifier,
    runtime: tokio::runtime::Runtime,
    now: i64,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Serves `body` to every request on a loopback port (the JWKS the resource-server verifier fetches).
fn serve(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/certs")
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let stored: Vec<StoredKey> = KEYS
            .iter()
            .map(|(alg, kid, pem)| StoredKey {
                kid: (*kid).into(),
                alg: *alg,
                private_pem: (*pem).into(),
                created_at: 0,
            })
            .collect();
        let keys = KeySet::new(&stored).expect("the fuzz keys load");
        let jwks_url = serve(serde_json::to_string(&keys.jwks()).unwrap());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut config = keyport_verifier::Config::new(ISS, AUDIENCE, "unused");
        config.jwks_url = jwks_url;
        config.introspection_url = "http://127.0.0.1:9/unused".into();
        config.jwks_refetch_interval = Duration::from_secs(24 * 3600);
        let verifier = {
            let _entered = runtime.enter();
            Verifier::new(config)
        };
        let h = Harness {
            keys,
            oracle: Oracle::new(),
            verifier,
            runtime,
            now: unix_now(),
        };
        // The harness works: a valid access token of each algorithm is accepted by both (this also fetches the
        // JWKS once; unknown key ids never fetch again within the refetch interval).
        for (alg, _, _) in KEYS {
            let token = h
                .keys
                .sign(alg, &access_claims("warm-up", "", "openid", None, &[]));
            h.verify_both(&token)
                .0
                .expect("the server accepts its own token");
            h.verify_both(&token)
                .1
                .expect("the verifier accepts the server's token")
                .expect("a JWT");
        }
        h
    })
}

fn access_claims(
    sub: &str,
    username: &str,
    scope: &str,
    email: Option<&str>,
    roles: &[&str],
) -> Value {
    let mut claims = json!({
        "iss": ISS, "sub": sub, "aud": AUDIENCE, "typ": "Bearer", "exp": unix_now() + 3600,
        "iat": unix_now(), "scope": scope, "jti": "fuzz-jti", "realm_access": {"roles": roles},
    });
    if !username.is_empty() {
        claims["preferred_username"] = json!(username);
    }
    if let Some(email) = email {
        claims["email"] = json!(email);
    }
    claims
}

impl Harness {
    /// The server's answer, and the resource server's (`None`: an API token, not this target's business).
    #[allow(clippy::type_complexity)]
    fn verify_both(&self, token: &str) -> (Result<Value, String>, Option<Result<Caller, String>>) {
        let server = self
            .keys
            .verify::<Value>(token, ISS, self.now)
            .map_err(|e| e.to_string());
        let resource = (!token.starts_with("kp_")).then(|| {
            self.runtime
                .block_on(self.verifier.verify(token))
                .map_err(|e| e.to_string())
        });
        (server, resource)
    }

    /// Verifies with both and checks what they accepted.
    fn check(&self, token: &str) -> (bool, Option<Caller>) {
        let (server, resource) = self.verify_both(token);
        if let Ok(claims) = &server {
            assert!(
                self.oracle.signed(token),
                "the server accepted a token not signed by its key: {token}"
            );
            assert_eq!(claims["iss"].as_str(), Some(ISS));
            assert!(
                claims["exp"].as_i64().is_some_and(|exp| exp > self.now),
                "expired: {claims}"
            );
            assert!(claims.get("sub").is_some());
        }
        let caller = resource.and_then(Result::ok);
        if let Some(caller) = &caller {
            assert!(
                self.oracle.signed(token),
                "the verifier accepted a token not signed by the key: {token}"
            );
            let claims: Value = token
                .split('.')
                .nth(1)
                .and_then(|p| B64.decode(p).ok())
                .and_then(|b| serde_json::from_slice(&b).ok())
                .expect("an accepted token has readable claims");
            assert_eq!(claims["iss"].as_str(), Some(ISS));
            assert_eq!(claims["typ"].as_str(), Some("Bearer"));
            assert_eq!(claims["sub"].as_str(), Some(caller.user_id.as_str()));
            let aud_ok = match &claims["aud"] {
                Value::String(a) => a == AUDIENCE,
                Value::Array(a) => a.iter().any(|a| a.as_str() == Some(AUDIENCE)),
                _ => false,
            };
            assert!(aud_ok, "accepted without this audience: {claims}");
            assert!(
                claims["exp"]
                    .as_f64()
                    .is_some_and(|exp| exp as i64 >= unix_now() - 10)
            );
        }
        (server.is_ok(), caller)
    }
}

/// Whether the server must accept claims it signed itself.
fn server_claims_valid(claims: &Value, now: i64) -> bool {
    ["exp", "iss", "sub"]
        .iter()
        .all(|k| claims.get(k).is_some())
        && claims["iss"].as_str() == Some(ISS)
        && claims["exp"].as_i64().is_some_and(|exp| exp > now)
}

fn alg_of(selector: u8) -> SigningAlg {
    KEYS[selector as usize % 3].0
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 4 {
        0 => {
            if let Ok(token) = std::str::from_utf8(rest) {
                h.check(token);
            }
        }
        1 => {
            let claims: Value = serde_json::from_slice(rest).unwrap_or_else(
                |_| json!({"sub": String::from_utf8_lossy(rest), "iss": ISS, "exp": h.now + 60}),
            );
            let token = h.keys.sign(alg_of(selector / 4), &claims);
            let (accepted, _) = h.check(&token);
            assert_eq!(
                accepted,
                server_claims_valid(&claims, h.now),
                "the server on its own token {claims}"
            );
            // One byte changed: accepted only if it still verifies (the oracle decides; a real forgery fails it).
            let mut bytes = token.into_bytes();
            let at = rest.len().wrapping_mul(31) % bytes.len();
            bytes[at] = bytes[at].wrapping_add(1 + selector % 7);
            if let Ok(altered) = String::from_utf8(bytes) {
                h.check(&altered);
            }
        }
        2 => {
            let fields: Vec<String> = rest
                .split(|b| *b == 0)
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            let field = |i: usize| fields.get(i).map(String::as_str).unwrap_or("");
            let sub = if field(0).is_empty() { "s" } else { field(0) };
            let roles: Vec<&str> = fields.iter().skip(4).map(String::as_str).collect();
            let email = (!field(3).is_empty()).then(|| field(3));
            let claims = access_claims(sub, field(1), field(2), email, &roles);
            let token = h.keys.sign(alg_of(selector / 4), &claims);
            let (accepted, caller) = h.check(&token);
            assert!(accepted, "the server refused a valid token: {claims}");
            let caller =
                caller.unwrap_or_else(|| panic!("the verifier refused a valid token: {claims}"));
            assert_eq!(caller.user_id, sub);
            assert_eq!(
                caller.username,
                if field(1).is_empty() { sub } else { field(1) }
            );
            assert_eq!(caller.email.as_deref(), email);
            assert_eq!(
                caller.scopes,
                field(2).split_whitespace().collect::<Vec<_>>()
            );
            assert_eq!(caller.roles, roles);
            assert_eq!(caller.token_id.as_deref(), Some("fuzz-jti"));
        }
        _ => {
            let mut parts = rest.splitn(2, |b| *b == 0);
            let header = parts.next().unwrap_or_default();
            let mut claims: Value = parts
                .next()
                .and_then(|c| serde_json::from_slice(c).ok())
                .unwrap_or_else(|| json!({}));
            if let Value::Object(map) = &mut claims {
                // Everything valid but the signature, so that only the signature can refuse the token.
                for (k, v) in access_claims("attacker", "", "admin", None, &["admin"])
                    .as_object()
                    .unwrap()
                {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            let signing_input =
                format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
            let signature = match (selector / 4) % 6 {
                0 => Vec::new(),
                1 => hmac(h.oracle.rsa_public_pem.as_bytes(), &signing_input),
                2 => hmac(&h.oracle.rsa_public_der, &signing_input),
                k => h.oracle.sign(alg_of(k as u8), signing_input.as_bytes()),
            };
            h.check(&format!("{signing_input}.{}", B64.encode(signature)));
        }
    }
});

fn hmac(key: &[u8], message: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(message.as_bytes());
    mac.finalize().into_bytes().to_vec()
}
