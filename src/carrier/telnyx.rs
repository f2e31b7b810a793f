//! Telnyx: TeXML (TwiML-compatible) over form posts, each signed with Ed25519: the
//! `telnyx-signature-ed25519` header holds the base64 signature of
//! `"{telnyx-timestamp}|{raw body}"`, verified with the account's public key
//! (`TELNYX_PUBLIC_KEY`, base64 of 32 bytes). A timestamp more than 300 s away from now, in
//! either direction, is refused, so a captured request cannot be replayed later.

use crate::call::Reply;
use crate::carrier::{
    CallEvent, Carrier, CarrierKind, Forbidden, Hook, Inbound, Links, Rendered, WebhookError, twiml,
};
use crate::domain::{CallSid, CallSidError, PhoneNumber};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// The signature header.
pub const SIGNATURE_HEADER: &str = "telnyx-signature-ed25519";
/// The timestamp header (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "telnyx-timestamp";
/// How far a signed timestamp may be from now, either way.
pub const WINDOW_SECS: u64 = 300;

/// The Telnyx carrier.
pub struct Telnyx {
    public_key: Option<VerifyingKey>,
}

impl Telnyx {
    /// Telnyx, verifying webhooks with this public key (none: development mode).
    pub fn new(public_key: Option<[u8; 32]>) -> Result<Self, &'static str> {
        let public_key = match public_key {
            None => None,
            Some(bytes) => Some(VerifyingKey::from_bytes(&bytes).map_err(|_| NOT_A_KEY)?),
        };
        Ok(Self { public_key })
    }
}

const NOT_A_KEY: &str = "must be the base64 of a 32-byte Ed25519 public key";

/// Reads `TELNYX_PUBLIC_KEY`: base64 of a 32-byte Ed25519 public key that is a valid point.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], &'static str> {
    let bytes = STANDARD.decode(text.trim()).map_err(|_| NOT_A_KEY)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| NOT_A_KEY)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| NOT_A_KEY)?;
    Ok(bytes)
}

/// Verifies a Telnyx signature over `"{timestamp}|{body}"` at `now` (Unix seconds).
pub fn verify(
    key: &VerifyingKey,
    signature_b64: &str,
    timestamp: &str,
    body: &[u8],
    now: u64,
) -> Result<(), Forbidden> {
    let ts: u64 = timestamp.trim().parse().map_err(|_| Forbidden::Invalid)?;
    if ts.abs_diff(now) > WINDOW_SECS {
        return Err(Forbidden::Stale);
    }
    let raw = STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| Forbidden::Invalid)?;
    let signature = Signature::from_slice(&raw).map_err(|_| Forbidden::Invalid)?;
    let mut message = Vec::with_capacity(timestamp.len() + 1 + body.len());
    message.extend_from_slice(timestamp.trim().as_bytes());
    message.push(b'|');
    message.extend_from_slice(body);
    key.verify_strict(&message, &signature)
        .map_err(|_| Forbidden::Invalid)
}

/// Signs as Telnyx would (for the simulator and tests): `seed` is the 32-byte private seed.
pub fn sign(seed: &[u8; 32], timestamp: u64, body: &[u8]) -> String {
    let key = SigningKey::from_bytes(seed);
    let mut message = timestamp.to_string().into_bytes();
    message.push(b'|');
    message.extend_from_slice(body);
    STANDARD.encode(key.sign(&message).to_bytes())
}

/// The public key of a seed, base64 (what `TELNYX_PUBLIC_KEY` would hold).
pub fn public_key_of(seed: &[u8; 32]) -> String {
    STANDARD.encode(SigningKey::from_bytes(seed).verifying_key().to_bytes())
}

/// Telnyx's call ids: `v3:` followed by URL-safe base64 text (its call-control ids).
pub fn call_id(raw: &str) -> Result<CallSid, CallSidError> {
    let sid = CallSid::parse(raw)?;
    let rest = raw.strip_prefix("v3:").unwrap_or_default();
    if (16..=120).contains(&rest.len())
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
    {
        Ok(sid)
    } else {
        Err(CallSidError::Shape(
            "v3: followed by a Telnyx call-control id",
        ))
    }
}

/// Telnyx's caller-ID rule: the shared one (`anonymous`, `restricted`, … never match).
pub fn caller(raw: &str) -> Option<PhoneNumber> {
    crate::carrier::caller_id_with(raw, &[])
}

impl Carrier for Telnyx {
    fn kind(&self) -> CarrierKind {
        CarrierKind::Telnyx
    }

    fn authenticated(&self) -> bool {
        self.public_key.is_some()
    }

    fn authenticate(&self, request: &Inbound<'_>) -> Result<(), Forbidden> {
        let Some(key) = &self.public_key else {
            return Ok(());
        };
        let signature = request.header(SIGNATURE_HEADER).ok_or(Forbidden::Missing)?;
        let timestamp = request.header(TIMESTAMP_HEADER).ok_or(Forbidden::Missing)?;
        verify(key, signature, timestamp, request.body, request.now)
    }

    fn decode(&self, request: &Inbound<'_>, hook: Hook) -> Result<CallEvent, WebhookError> {
        twiml::decode_form(request, hook, call_id, caller)
    }

    fn render(&self, reply: &Reply, links: &Links<'_>) -> Rendered {
        twiml::render(reply, links, twiml::TELNYX_EVENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8032 section 7.1, tests 1 to 3: (secret key, public key, message, signature).
    const RFC8032: [(&str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    #[test]
    fn rfc_8032_vectors_sign_and_verify() {
        for (secret, public, message, signature) in RFC8032 {
            let seed: [u8; 32] = unhex(secret).try_into().unwrap();
            let signing = SigningKey::from_bytes(&seed);
            assert_eq!(signing.verifying_key().to_bytes().to_vec(), unhex(public));
            let sig = signing.sign(&unhex(message));
            assert_eq!(sig.to_bytes().to_vec(), unhex(signature));
            let key = VerifyingKey::from_bytes(&unhex(public).try_into().unwrap()).unwrap();
            let parsed = Signature::from_slice(&unhex(signature)).unwrap();
            assert!(key.verify_strict(&unhex(message), &parsed).is_ok());
            let mut other = unhex(message);
            other.push(0);
            assert!(key.verify_strict(&other, &parsed).is_err());
        }
    }

    fn seed() -> [u8; 32] {
        unhex(RFC8032[0].0).try_into().unwrap()
    }

    fn key() -> VerifyingKey {
        VerifyingKey::from_bytes(&parse_public_key(&public_key_of(&seed())).unwrap()).unwrap()
    }

    #[test]
    fn a_telnyx_signature_holds_for_its_body_and_window_only() {
        let now = 1_800_000_000;
        let body = b"CallSid=v3%3Aabc&From=%2B12025550101";
        let sig = sign(&seed(), now, body);
        let ts = now.to_string();
        assert_eq!(verify(&key(), &sig, &ts, body, now), Ok(()));
        // A clock 120 s ahead or behind still passes; 301 s does not.
        assert_eq!(verify(&key(), &sig, &ts, body, now + 120), Ok(()));
        assert_eq!(verify(&key(), &sig, &ts, body, now - 120), Ok(()));
        assert_eq!(
            verify(&key(), &sig, &ts, body, now + 301),
            Err(Forbidden::Stale)
        );
        assert_eq!(
            verify(&key(), &sig, &ts, body, now - 301),
            Err(Forbidden::Stale)
        );
        // Another body, another timestamp, garbage: refused.
        assert_eq!(
            verify(&key(), &sig, &ts, b"CallSid=v3%3Aabd", now),
            Err(Forbidden::Invalid)
        );
        assert_eq!(
            verify(&key(), &sig, &(now + 1).to_string(), body, now),
            Err(Forbidden::Invalid)
        );
        assert_eq!(
            verify(&key(), "AAAA", &ts, body, now),
            Err(Forbidden::Invalid)
        );
        assert_eq!(
            verify(&key(), &sig, "soon", body, now),
            Err(Forbidden::Invalid)
        );
        // An empty body (a GET instruction fetch) is signed over "{ts}|".
        let empty = sign(&seed(), now, b"");
        assert_eq!(verify(&key(), &empty, &ts, b"", now), Ok(()));
    }

    #[test]
    fn public_keys_must_be_32_bytes_of_base64() {
        assert!(parse_public_key(&public_key_of(&seed())).is_ok());
        assert!(parse_public_key("AAAA").is_err());
        assert!(parse_public_key("not base64").is_err());
        assert!(parse_public_key(&STANDARD.encode([0u8; 33])).is_err());
    }

    #[test]
    fn call_ids_are_v3_call_control_ids() {
        assert!(call_id("v3:MdI91X4lWFEs7IgbBEOT9M4AigoY08M0WWZFISt1Yw2axZ_IiE4pqg").is_ok());
        for bad in [
            "",
            "v3:",
            "v3:short",
            "CA0123456789abcdef0123456789abcdef",
            "v3:a b c d e f g h i j",
        ] {
            assert!(call_id(bad).is_err(), "{bad:?}");
        }
    }
}
