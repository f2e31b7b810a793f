//! The server secret: the key for everything the server signs for itself (the call state it
//! carries in its own URLs, the local verifier's codes). Instances behind one load balancer
//! share it; a restart keeps it.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use std::io::Write;
use std::path::Path;

/// Bytes of a generated secret.
const GENERATED_LEN: usize = 32;
/// The shortest `BRIDGEKEEPER_SECRET` accepted.
pub const MIN_SECRET_LEN: usize = 16;

/// The server secret. `Debug` never shows it.
#[derive(Clone)]
pub struct ServerSecret(Vec<u8>);

/// Why a secret cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Too short to be a key.
    #[error("BRIDGEKEEPER_SECRET must be at least {MIN_SECRET_LEN} characters")]
    TooShort,
    /// The secret file could not be read or written.
    #[error("secret file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

impl fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerSecret([redacted])")
    }
}

impl ServerSecret {
    /// A secret given as text (`--secret` / `BRIDGEKEEPER_SECRET`).
    pub fn from_text(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        if text.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort);
        }
        Ok(Self(text.as_bytes().to_vec()))
    }

    /// A secret derived from the Twilio auth token, so that instances sharing the token share
    /// it without more configuration. Rotating the token invalidates calls in progress.
    pub fn derived_from_auth_token(token: &str) -> Self {
        Self(hmac(token.as_bytes(), b"bridgekeeper server secret v1").to_vec())
    }

    /// Reads the secret from `path`, or generates one from the OS CSPRNG and writes it there
    /// (mode 0600) so that restarts keep it.
    pub fn load_or_create(path: &Path) -> Result<Self, SecretError> {
        let fail = |reason: String| SecretError::File {
            path: path.display().to_string(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let hex = text.trim();
                let bytes = decode_hex(hex)
                    .filter(|b| b.len() >= MIN_SECRET_LEN)
                    .ok_or_else(|| {
                        fail("does not hold a hex secret; delete it to make a new one".into())
                    })?;
                Ok(Self(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; GENERATED_LEN];
                getrandom::fill(&mut bytes).map_err(|e| fail(format!("OS random source: {e}")))?;
                let text = hex(&bytes);
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                match options.open(path) {
                    Ok(mut file) => {
                        file.write_all(format!("{text}\n").as_bytes())
                            .map_err(|e| fail(e.to_string()))?;
                        Ok(Self(bytes.to_vec()))
                    }
                    // Another instance created it first: use theirs.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        Self::load_or_create(path)
                    }
                    Err(e) => Err(fail(e.to_string())),
                }
            }
            Err(e) => Err(fail(e.to_string())),
        }
    }

    /// A 32-byte key for one purpose, derived from the secret.
    pub fn key(&self, purpose: &str) -> [u8; 32] {
        hmac(&self.0, purpose.as_bytes())
    }
}

/// Lowercase hex of `bytes`, without a formatting call per byte (it is on the webhook path).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A store key for a phone number that does not spell the number out: hex of a truncated
/// HMAC of its E.164 form under `key`.
pub fn number_key(key: &MacKey, phone: &crate::domain::PhoneNumber) -> String {
    hex(&key.mac(&[b"number\0", phone.as_e164().as_bytes()])[..10])
}

/// An HMAC-SHA256 key made ready once: the padded key blocks are hashed when it is made, and
/// each MAC starts from a copy of that state, so a MAC of a short message costs two SHA-256
/// blocks instead of four (these are on every webhook).
#[derive(Clone)]
pub struct MacKey(Hmac<Sha256>);

impl MacKey {
    /// Prepares `key`.
    pub fn new(key: &[u8]) -> Self {
        Self(
            <Hmac<Sha256> as KeyInit>::new_from_slice(key)
                .unwrap_or_else(|_| unreachable!("HMAC accepts any key length")),
        )
    }

    /// HMAC-SHA256 of the concatenation of `parts`.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MacKey([redacted])")
    }
}

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prepared_key_macs_like_the_one_off_function() {
        for key in [&b""[..], b"k", &[7u8; 32], &[9u8; 100]] {
            let prepared = MacKey::new(key);
            for data in [&b""[..], b"number\0+12025550101", &[1u8; 200]] {
                let (head, tail) = data.split_at(data.len() / 2);
                assert_eq!(prepared.mac(&[head, tail]), hmac(key, data));
                assert_eq!(prepared.mac(&[data]), hmac(key, data), "used again");
            }
        }
        assert_eq!(
            format!("{:?}", MacKey::new(b"secret")),
            "MacKey([redacted])"
        );
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(matches!(
            ServerSecret::from_text("short"),
            Err(SecretError::TooShort)
        ));
        assert!(ServerSecret::from_text("a-long-enough-secret").is_ok());
    }

    #[test]
    fn keys_differ_by_purpose_and_secret() {
        let a = ServerSecret::from_text("secret number one!").unwrap();
        let b = ServerSecret::from_text("secret number two!").unwrap();
        assert_ne!(a.key("state"), a.key("other"));
        assert_ne!(a.key("state"), b.key("state"));
        assert_eq!(a.key("state"), a.clone().key("state"));
    }

    #[test]
    fn the_auth_token_derivation_is_stable() {
        let a = ServerSecret::derived_from_auth_token("token");
        let b = ServerSecret::derived_from_auth_token("token");
        assert_eq!(a.key("x"), b.key("x"));
        assert_ne!(
            a.key("x"),
            ServerSecret::derived_from_auth_token("other").key("x")
        );
    }

    #[test]
    fn a_generated_secret_is_kept_in_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let first = ServerSecret::load_or_create(&path).unwrap();
        let again = ServerSecret::load_or_create(&path).unwrap();
        assert_eq!(first.key("k"), again.key("k"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").unwrap();
        assert!(ServerSecret::load_or_create(&path).is_err());
    }

    #[test]
    fn hex_is_lowercase_two_digits_a_byte() {
        assert_eq!(hex(&[0, 1, 0xab, 0xff]), "0001abff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = ServerSecret::from_text("do-not-print-this").unwrap();
        assert!(!format!("{s:?}").contains("do-not-print"));
    }
}
