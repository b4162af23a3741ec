//! The optional key-encryption key (KEK): signing keys sealed at rest with AES-256-GCM (aws-lc), so a copy of
//! the database (a backup, a replica's disk, a leaked dump) does not hold usable private keys.
//!
//! The KEK is 32 random bytes, base64-encoded, read from `server.key_encryption_key_file` or the
//! `KEYPORT_KEY_ENCRYPTION_KEY` environment variable (make one with `openssl rand -base64 32`). A sealed key is
//! stored as `kek1:` + base64(nonce ‖ ciphertext ‖ tag); the associated data is the key's `kid` and algorithm,
//! so a sealed key cannot be moved to another row. Keys stored in clear still load (a store from before the
//! KEK); `keyport encrypt-keys` seals them in one transaction.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::config::ServerConfig;
use crate::keys::{KeyError, StoredKey};

/// What a sealed key's stored text starts with.
pub const SEALED_PREFIX: &str = "kek1:";

/// The key-encryption key. Its `Debug` shows nothing of it.
pub struct Kek(LessSafeKey);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

fn aad(key: &StoredKey) -> String {
    format!("keyport-signing-key:{}:{}", key.kid, key.alg.as_str())
}

impl Kek {
    /// A KEK from its base64 text (32 bytes once decoded).
    pub fn from_base64(text: &str) -> Result<Kek, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| "is not base64 (make one with `openssl rand -base64 32`)".to_owned())?;
        if bytes.len() != 32 {
            return Err(format!(
                "must be 32 bytes once base64-decoded, not {} (make one with `openssl rand -base64 32`)",
                bytes.len()
            ));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|e| e.to_string())?;
        Ok(Kek(LessSafeKey::new(key)))
    }

    /// The configured KEK: `key_encryption_key_file`, else `key_encryption_key` (from the environment), else
    /// none. The error names the setting.
    pub fn from_config(s: &ServerConfig) -> Result<Option<Kek>, (String, String)> {
        if let Some(path) = &s.key_encryption_key_file {
            let key = "server.key_encryption_key_file".to_owned();
            let text = std::fs::read_to_string(path)
                .map_err(|e| (key.clone(), format!("cannot read {}: {e}", path.display())))?;
            return Kek::from_base64(&text)
                .map(Some)
                .map_err(|m| (key, format!("{}: {m}", path.display())));
        }
        match &s.key_encryption_key {
            Some(text) => Kek::from_base64(text.expose())
                .map(Some)
                .map_err(|m| ("KEYPORT_KEY_ENCRYPTION_KEY".to_owned(), m)),
            None => Ok(None),
        }
    }

    /// The key with its PEM sealed.
    pub fn seal(&self, key: &StoredKey) -> StoredKey {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system random generator works");
        let mut data = key.private_pem.as_bytes().to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(key).as_bytes()),
                &mut data,
            )
            .expect("AES-GCM sealing of a PEM cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        StoredKey {
            private_pem: format!("{SEALED_PREFIX}{}", STANDARD.encode(out)),
            ..key.clone()
        }
    }

    /// The key with its PEM opened; a key stored in clear is returned as it is.
    pub fn open(&self, key: &StoredKey) -> Result<StoredKey, KeyError> {
        let Some(sealed) = key.private_pem.strip_prefix(SEALED_PREFIX) else {
            return Ok(key.clone());
        };
        let corrupt = |message: &str| KeyError::Corrupt {
            kid: key.kid.clone(),
            alg: key.alg,
            message: message.to_owned(),
        };
        let bytes = STANDARD
            .decode(sealed)
            .map_err(|_| corrupt("the sealed key is not base64"))?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt("the sealed key is truncated"));
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt("bad nonce"))?;
        let mut data = data.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(aad(key).as_bytes()), &mut data)
            .map_err(|_| {
                corrupt("it does not open with the configured key-encryption key (wrong key?)")
            })?;
        let pem =
            String::from_utf8(plain.to_vec()).map_err(|_| corrupt("not UTF-8 once opened"))?;
        Ok(StoredKey {
            private_pem: pem,
            ..key.clone()
        })
    }
}

/// Whether a stored key is sealed.
pub fn is_sealed(key: &StoredKey) -> bool {
    key.private_pem.starts_with(SEALED_PREFIX)
}

/// Every stored key opened: sealed keys need the KEK.
pub fn open_all(kek: Option<&Kek>, stored: &[StoredKey]) -> Result<Vec<StoredKey>, KeyError> {
    stored
        .iter()
        .map(|key| match (kek, is_sealed(key)) {
            (Some(kek), _) => kek.open(key),
            (None, false) => Ok(key.clone()),
            (None, true) => Err(KeyError::Sealed {
                kid: key.kid.clone(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SigningAlg;

    fn kek() -> Kek {
        Kek::from_base64(&STANDARD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn sealed_keys_open_only_with_their_kek_and_their_row() {
        let key = crate::keys::generate(SigningAlg::ES256, 1);
        let sealed = kek().seal(&key);
        assert!(is_sealed(&sealed));
        assert!(!sealed.private_pem.contains("PRIVATE KEY"));
        assert_eq!(kek().open(&sealed).unwrap().private_pem, key.private_pem);
        let other = Kek::from_base64(&STANDARD.encode([8u8; 32])).unwrap();
        assert!(other.open(&sealed).is_err());
        let moved = StoredKey {
            kid: "another".into(),
            ..sealed.clone()
        };
        assert!(kek().open(&moved).is_err(), "bound to its kid");
        assert!(matches!(
            open_all(None, &[sealed]),
            Err(KeyError::Sealed { .. })
        ));
        // A key stored in clear loads with or without a KEK.
        assert_eq!(kek().open(&key).unwrap().private_pem, key.private_pem);
        assert!(open_all(None, std::slice::from_ref(&key)).is_ok());
    }

    #[test]
    fn a_kek_must_be_32_base64_bytes() {
        assert!(Kek::from_base64("not base64!").is_err());
        assert!(Kek::from_base64(&STANDARD.encode([1u8; 16])).is_err());
        assert!(Kek::from_base64(&format!("{}\n", STANDARD.encode([1u8; 32]))).is_ok());
        assert!(!format!("{:?}", kek()).contains('7'));
    }
}
