//! Signing keys: one RS256, one ES256 and one EdDSA key per deployment, generated at first start and kept in the
//! store, so every replica and every restart signs and verifies with the same keys.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    self as jws, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use keyport_proto::oauth::{Jwk, Jwks};
use rand::rngs::OsRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

use crate::config::SigningAlg;

/// A stored private key: what the store keeps.
#[derive(Clone)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    /// PKCS#8 PEM. Signing keys are the one secret that cannot be stored as a hash.
    pub private_pem: String,
    pub created_at: i64,
}

impl std::fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("stored {alg:?} key {kid} is unreadable: {message}")]
    Corrupt {
        kid: String,
        alg: SigningAlg,
        message: String,
    },
    #[error("the store holds no {0:?} signing key")]
    Missing(SigningAlg),
    #[error(
        "signing key {kid} is encrypted: set server.key_encryption_key_file (or KEYPORT_KEY_ENCRYPTION_KEY) to the key-encryption key it was sealed with"
    )]
    Sealed { kid: String },
}

struct LoadedKey {
    kid: String,
    alg: SigningAlg,
    /// `base64url({"alg","kid","typ"})`: the first part of every token this key signs.
    header_b64: String,
    signer: Signer,
    verifier: Verifier,
    jwk: Jwk,
}

/// A private key parsed once, at load: parsing it for every token (as `jsonwebtoken` does) costs about as much as
/// the signature. aws-lc (assembly P-256, RSA and Ed25519) signs ES256 several times faster than RustCrypto.
enum Signer {
    Ecdsa(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

impl Signer {
    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Signer::Ecdsa(key) => key
                .sign(&SystemRandom::new(), message)
                .expect("ECDSA signing with a loaded key cannot fail")
                .as_ref()
                .to_vec(),
            Signer::Rsa(key) => {
                let mut signature = vec![0; key.public_modulus_len()];
                key.sign(
                    &jws::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .expect("RSA signing with a loaded key cannot fail");
                signature
            }
            Signer::Ed25519(key) => key.sign(message).as_ref().to_vec(),
        }
    }
}

/// A public key: the SEC1 point, the RSA modulus and exponent, or the Ed25519 point.
enum Verifier {
    Ecdsa(Vec<u8>),
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ed25519(Vec<u8>),
}

impl Verifier {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Verifier::Ecdsa(point) => UnparsedPublicKey::new(&jws::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, signature)
                .is_ok(),
            Verifier::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&jws::RSA_PKCS1_2048_8192_SHA256, message, signature)
                .is_ok(),
            Verifier::Ed25519(point) => UnparsedPublicKey::new(&jws::ED25519, point)
                .verify(message, signature)
                .is_ok(),
        }
    }
}

/// The JOSE header fields `verify` needs.
#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
    kid: Option<String>,
}

/// The keys in memory, ready to sign and verify.
pub struct KeySet {
    keys: Vec<LoadedKey>,
    rsa_spki_b64: String,
}

/// Makes a new private key.
pub fn generate(alg: SigningAlg, now: i64) -> StoredKey {
    use p256::pkcs8::EncodePrivateKey as _;
    let private_pem = match alg {
        SigningAlg::RS256 => {
            let key = rsa::RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generation");
            key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
                .expect("RSA PEM")
                .to_string()
        }
        SigningAlg::ES256 => {
            let key = p256::SecretKey::random(&mut OsRng);
            key.to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
                .expect("P-256 PEM")
                .to_string()
        }
        SigningAlg::EdDSA => {
            let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
            key.to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
                .expect("Ed25519 PEM")
                .to_string()
        }
    };
    StoredKey {
        kid: crate::crypto::random_token(12),
        alg,
        private_pem,
        created_at: now,
    }
}

fn b64u(bytes: &[u8]) -> serde_json::Value {
    json!(URL_SAFE_NO_PAD.encode(bytes))
}

fn load(key: &StoredKey) -> Result<(LoadedKey, Option<String>), KeyError> {
    let corrupt = |message: String| KeyError::Corrupt {
        kid: key.kid.clone(),
        alg: key.alg,
        message,
    };
    let mut params = BTreeMap::new();
    let mut spki = None;
    let (kty, signer, verifier) = match key.alg {
        SigningAlg::RS256 => {
            use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
            use rsa::traits::PublicKeyParts;
            let private = rsa::RsaPrivateKey::from_pkcs8_pem(&key.private_pem)
                .map_err(|e| corrupt(e.to_string()))?;
            let public = private.to_public_key();
            let n = public.n().to_bytes_be();
            let e = public.e().to_bytes_be();
            params.insert("n".into(), b64u(&n));
            params.insert("e".into(), b64u(&e));
            let der = public
                .to_public_key_der()
                .map_err(|e| corrupt(e.to_string()))?;
            spki = Some(STANDARD.encode(der.as_bytes()));
            use rsa::pkcs8::EncodePrivateKey;
            let pkcs8 = private.to_pkcs8_der().map_err(|e| corrupt(e.to_string()))?;
            let signer =
                RsaKeyPair::from_pkcs8(pkcs8.as_bytes()).map_err(|e| corrupt(e.to_string()))?;
            ("RSA", Signer::Rsa(signer), Verifier::Rsa { n, e })
        }
        SigningAlg::ES256 => {
            use p256::elliptic_curve::sec1::ToEncodedPoint;
            use p256::pkcs8::DecodePrivateKey;
            let private = p256::SecretKey::from_pkcs8_pem(&key.private_pem)
                .map_err(|e| corrupt(e.to_string()))?;
            let point = private.public_key().to_encoded_point(false);
            let (x, y) = (
                point.x().expect("uncompressed point"),
                point.y().expect("uncompressed point"),
            );
            params.insert("crv".into(), json!("P-256"));
            params.insert("x".into(), b64u(x));
            params.insert("y".into(), b64u(y));
            use p256::pkcs8::EncodePrivateKey;
            let pkcs8 = private.to_pkcs8_der().map_err(|e| corrupt(e.to_string()))?;
            let signer =
                EcdsaKeyPair::from_pkcs8(&jws::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_bytes())
                    .map_err(|e| corrupt(e.to_string()))?;
            (
                "EC",
                Signer::Ecdsa(signer),
                Verifier::Ecdsa(point.as_bytes().to_vec()),
            )
        }
        SigningAlg::EdDSA => {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            let private = ed25519_dalek::SigningKey::from_pkcs8_pem(&key.private_pem)
                .map_err(|e| corrupt(e.to_string()))?;
            let x = private.verifying_key().to_bytes();
            params.insert("crv".into(), json!("Ed25519"));
            params.insert("x".into(), b64u(&x));
            let signer = Ed25519KeyPair::from_seed_unchecked(&private.to_bytes())
                .map_err(|e| corrupt(e.to_string()))?;
            (
                "OKP",
                Signer::Ed25519(signer),
                Verifier::Ed25519(x.to_vec()),
            )
        }
    };
    let jwk = Jwk {
        kid: key.kid.clone(),
        kty: kty.into(),
        alg: key.alg.as_str().into(),
        use_: "sig".into(),
        params,
    };
    Ok((
        LoadedKey {
            kid: key.kid.clone(),
            alg: key.alg,
            header_b64: URL_SAFE_NO_PAD
                .encode(json!({"alg": key.alg.as_str(), "kid": key.kid, "typ": "JWT"}).to_string()),
            signer,
            verifier,
            jwk,
        },
        spki,
    ))
}

/// Why a JWT was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a JWT signed by this server")]
    Unknown,
    /// A well-formed JWT whose `kid` this key set does not hold (perhaps a key another replica just made).
    #[error("the token was signed with an unknown key")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

impl KeySet {
    /// Loads stored keys; the newest of each algorithm signs, all of them verify. A set lacking an algorithm of
    /// [`KeySet::REQUIRED`] is refused (so a reload that finds one missing keeps the previous set instead of
    /// making every later signature of that algorithm fail).
    pub fn new(stored: &[StoredKey]) -> Result<KeySet, KeyError> {
        if let Some(alg) = Self::REQUIRED
            .into_iter()
            .find(|alg| !stored.iter().any(|k| k.alg == *alg))
        {
            return Err(KeyError::Missing(alg));
        }
        let mut sorted: Vec<&StoredKey> = stored.iter().collect();
        sorted.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.kid.cmp(&a.kid))
        });
        let mut keys = Vec::new();
        let mut rsa_spki_b64 = String::new();
        for key in sorted {
            let (loaded, spki) = load(key)?;
            if let Some(spki) = spki
                && rsa_spki_b64.is_empty()
            {
                rsa_spki_b64 = spki;
            }
            keys.push(loaded);
        }
        Ok(KeySet { keys, rsa_spki_b64 })
    }

    /// The algorithms a key set must hold.
    pub const REQUIRED: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    fn current(&self, alg: SigningAlg) -> &LoadedKey {
        // `KeySet::new` refuses a set without every required algorithm, so this finds one.
        let mut of_alg = self.keys.iter().filter(|k| k.alg == alg);
        match of_alg.next() {
            Some(key) => key,
            None => unreachable!("KeySet::new checked that {alg:?} is present"),
        }
    }

    /// Signs claims with the current key of `alg`: a compact JWS (RFC 7515) with `alg`, `kid` and `typ`.
    pub fn sign<T: Serialize>(&self, alg: SigningAlg, claims: &T) -> String {
        let key = self.current(alg);
        // Claims of an access token are 300-600 bytes: one buffer, no regrowth.
        let mut payload = Vec::with_capacity(768);
        serde_json::to_writer(&mut payload, claims).expect("claims serialise to JSON");
        let mut jwt = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 350);
        jwt.push_str(&key.header_b64);
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut jwt);
        let signature = key.signer.sign(jwt.as_bytes());
        jwt.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut jwt);
        jwt
    }

    /// Verifies the signature, `exp` (no leeway: the server's own clock) and `iss`. Audience is not checked here.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<T, VerifyError> {
        let invalid = |m: &str| VerifyError::Invalid(m.to_owned());
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifyError::Unknown);
        };
        let header: JoseHeader = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(VerifyError::Unknown)?;
        let kid = header.kid.ok_or(VerifyError::Unknown)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(VerifyError::UnknownKey)?;
        if header.alg != key.alg.as_str() {
            return Err(invalid("algorithm does not match the key"));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| invalid("malformed signature"))?;
        if !key
            .verifier
            .verify(&token.as_bytes()[..h.len() + 1 + p.len()], &signature)
        {
            return Err(invalid("bad signature"));
        }
        let payload = URL_SAFE_NO_PAD
            .decode(p)
            .map_err(|_| invalid("malformed payload"))?;
        let claims: serde_json::Value =
            serde_json::from_slice(&payload).map_err(|e| VerifyError::Invalid(e.to_string()))?;
        for required in ["exp", "iss", "sub"] {
            if claims.get(required).is_none() {
                return Err(VerifyError::Invalid(format!(
                    "missing required claim `{required}`"
                )));
            }
        }
        if claims["iss"].as_str() != Some(issuer) {
            return Err(invalid("wrong issuer"));
        }
        let exp = claims.get("exp").and_then(|v| v.as_i64()).unwrap_or(0);
        if exp <= now {
            return Err(invalid("the token has expired"));
        }
        serde_json::from_value(claims).map_err(|e| VerifyError::Invalid(e.to_string()))
    }

    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }

    /// Base64 DER SubjectPublicKeyInfo of the current RS256 key (Keycloak's realm `public_key`).
    pub fn rsa_public_key_b64(&self) -> &str {
        &self.rsa_spki_b64
    }
}

/// The replica's current [`KeySet`], reloaded from the store when a token names an unknown `kid` (another
/// replica rotated) and periodically (so this replica starts signing with rotated keys too).
pub struct KeyRing {
    current: std::sync::RwLock<std::sync::Arc<KeySet>>,
    last_reload: std::sync::Mutex<std::time::Instant>,
    /// Opens sealed keys at every reload ([`crate::key_encryption`]).
    kek: Option<crate::key_encryption::Kek>,
}

/// Reloads triggered by unknown `kid`s happen at most this often (forged `kid`s cannot hammer the store).
const MIN_RELOAD_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl KeyRing {
    pub fn new(keys: KeySet, kek: Option<crate::key_encryption::Kek>) -> KeyRing {
        KeyRing {
            current: std::sync::RwLock::new(std::sync::Arc::new(keys)),
            last_reload: std::sync::Mutex::new(std::time::Instant::now()),
            kek,
        }
    }

    /// The key-encryption key, when one is configured.
    pub fn kek(&self) -> Option<&crate::key_encryption::Kek> {
        self.kek.as_ref()
    }

    pub fn get(&self) -> std::sync::Arc<KeySet> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Loads every stored key again.
    pub async fn reload(
        &self,
        store: &dyn crate::store::Store,
    ) -> Result<(), crate::store::StoreError> {
        let stored = store.signing_keys().await?;
        let keys = crate::key_encryption::open_all(self.kek.as_ref(), &stored)
            .and_then(|opened| KeySet::new(&opened))
            .map_err(|e| {
                tracing::error!(error = %e, "signing keys not reloaded; keeping the loaded ones");
                crate::store::StoreError::Corrupt(e.to_string())
            })?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(keys);
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = std::time::Instant::now();
        Ok(())
    }

    pub fn sign<T: Serialize>(&self, alg: SigningAlg, claims: &T) -> String {
        self.get().sign(alg, claims)
    }

    /// Verifies with the keys in memory only.
    pub fn verify<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<T, VerifyError> {
        self.get().verify(token, issuer, now)
    }

    /// Claims the unknown-`kid` reload slot: true for exactly one caller per [`MIN_RELOAD_INTERVAL`], decided
    /// under one lock (check and claim together), so concurrent forged `kid`s cause one reload, not one each.
    fn claim_reload(&self) -> bool {
        let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= MIN_RELOAD_INTERVAL {
            *last = std::time::Instant::now();
            true
        } else {
            false
        }
    }

    /// Verifies; on an unknown `kid`, reloads the keys from the store (rate-limited) and tries once more.
    pub async fn verify_or_reload<T: DeserializeOwned>(
        &self,
        store: &dyn crate::store::Store,
        token: &str,
        issuer: &str,
        now: i64,
    ) -> Result<T, VerifyError> {
        match self.verify(token, issuer, now) {
            Err(VerifyError::UnknownKey) => {
                if self.claim_reload() && self.reload(store).await.is_ok() {
                    self.verify(token, issuer, now)
                } else {
                    Err(VerifyError::UnknownKey)
                }
            }
            other => other,
        }
    }

    pub fn jwks(&self) -> Jwks {
        self.get().jwks()
    }

    pub fn rsa_public_key_b64(&self) -> String {
        self.get().rsa_public_key_b64().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_unknown_kids_claim_one_reload() {
        let stored: Vec<StoredKey> = KeySet::REQUIRED.iter().map(|a| generate(*a, 1)).collect();
        let ring = KeyRing::new(KeySet::new(&stored).unwrap(), None);
        *ring.last_reload.lock().unwrap() -= MIN_RELOAD_INTERVAL;
        let claims = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..16 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        if ring.claim_reload() {
                            claims.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(claims.into_inner(), 1);
    }

    #[test]
    fn a_set_lacking_an_algorithm_is_refused() {
        let stored = vec![
            generate(SigningAlg::ES256, 1),
            generate(SigningAlg::EdDSA, 1),
        ];
        assert!(matches!(
            KeySet::new(&stored),
            Err(KeyError::Missing(SigningAlg::RS256))
        ));
    }

    #[test]
    fn every_algorithm_signs_and_verifies_and_publishes_a_jwk() {
        let stored: Vec<StoredKey> = KeySet::REQUIRED.iter().map(|a| generate(*a, 1)).collect();
        let keys = KeySet::new(&stored).unwrap();
        let now = 1_000;
        for alg in KeySet::REQUIRED {
            let claims = json!({"iss": "https://i", "sub": "s", "exp": now + 60});
            let jwt = keys.sign(alg, &claims);
            let back: serde_json::Value = keys.verify(&jwt, "https://i", now).unwrap();
            assert_eq!(back["sub"], "s");
            assert!(
                keys.verify::<serde_json::Value>(&jwt, "https://other", now)
                    .is_err()
            );
            assert!(
                keys.verify::<serde_json::Value>(&jwt, "https://i", now + 60)
                    .is_err(),
                "expired"
            );
        }
        let jwks = keys.jwks();
        assert_eq!(jwks.keys.len(), 3);
        assert!(
            jwks.keys
                .iter()
                .all(|k| k.use_ == "sig" && !k.kid.is_empty())
        );
        assert!(!keys.rsa_public_key_b64().is_empty());
        let forged = keys.sign(
            SigningAlg::ES256,
            &json!({"iss": "https://i", "sub": "s", "exp": now + 60}),
        );
        let other_keys: Vec<StoredKey> = KeySet::REQUIRED.iter().map(|a| generate(*a, 2)).collect();
        let other = KeySet::new(&other_keys).unwrap();
        assert!(
            other
                .verify::<serde_json::Value>(&forged, "https://i", now)
                .is_err()
        );
    }
}
