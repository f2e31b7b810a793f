//! The call's state between webhooks, carried in the URLs the server puts in its own replies,
//! signed so that it cannot be forged, moved to another call or carrier, or edited. See
//! `docs/design.md` for the format and why.
//!
//! Layout (then base64url without padding):
//! `version u8 | carrier u8 | fingerprint [u8; 12] | seq u8 | wrong u8 | silences u8 |
//!  resends u8 | flags u8 | issued u32 | stepped u32 (unix seconds) | receipt length u8 |
//!  receipt | tag [u8; 16]`,
//! where `tag` is HMAC-SHA256(state key, "bridgekeeper call state" 0 CallSid 0 payload)
//! truncated to 128 bits.

use crate::call::CallState;
use crate::carrier::CarrierKind;
use crate::domain::CallSid;
use crate::verify::Receipt;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// The format version; a token of another version is refused.
pub const VERSION: u8 = 2;
/// The longest a call may keep using one token: far beyond any call's prompts.
pub const MAX_AGE_SECS: u64 = 2 * 60 * 60;
/// Clock skew tolerated between instances for a token "from the future".
pub const MAX_SKEW_SECS: u64 = 5 * 60;
/// The longest a step's token may wait for its answer: a prompt times out within seconds, so
/// anything much older is a capture being replayed (fifteen minutes leave room for a code
/// that expired at its prompt).
pub const MAX_STEP_AGE_SECS: u64 = 15 * 60;
/// Longest token text accepted before any work is done.
pub const MAX_TEXT_LEN: usize = 256;

const TAG_LEN: usize = 16;
const FIXED_LEN: usize = 1 + 1 + 12 + 1 + 4 + 4 + 4 + 1;
const FLAG_REFRESHED: u8 = 1;
const FLAG_GUEST: u8 = 2;
const FLAG_ROOM: u8 = 4;
const FLAG_MUTED: u8 = 8;
const FLAG_MENU: u8 = 16;

/// The longest a caller verified into a room may come back to it from the keypad menu
/// without a new code: a long meeting, not a day.
pub const ROOM_MAX_AGE_SECS: u64 = 12 * 60 * 60;

/// Identifies the caller and conference without carrying the phone number: an HMAC over the
/// conference name and the caller's E.164 number (or, for a guest, over the conference).
pub type Fingerprint = [u8; 12];

/// What a call carries from one webhook to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallToken {
    /// The carrier the call came in through; a token is refused at any other.
    pub carrier: CarrierKind,
    /// Which listed caller in which conference (or which conference, for a guest).
    pub fingerprint: Fingerprint,
    /// How many steps the call has taken; only ever grows.
    pub seq: u8,
    /// The call's counters, the one copy the state machine works on.
    pub state: CallState,
    /// Whether the caller is a guest asked for the conference's PIN, not a listed caller
    /// asked for a one-time code.
    pub guest: bool,
    /// Unix seconds when the call's first webhook was answered.
    pub issued: u32,
    /// Unix seconds when this step's token was issued (the reply it rides in).
    pub stepped: u32,
    /// The verifier's receipt for the code sent.
    pub receipt: Receipt,
    /// Set once the caller was verified and sent into the room: the keypad menu's state.
    pub room: Option<RoomState>,
}

/// A verified caller's state while in the room or its keypad menu.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoomState {
    /// Whether they muted themselves (kept when they go back in).
    pub muted: bool,
    /// Whether they are at the menu (false: in the room, or just out of it).
    pub menu: bool,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64url, too short or too long.
    #[error("the call state is malformed")]
    Malformed,
    /// Another format version.
    #[error("the call state has an unknown version")]
    Version,
    /// Made for a call of another carrier.
    #[error("the call state belongs to another carrier")]
    Carrier,
    /// The tag does not match: forged, edited, or made for another call.
    #[error("the call state is not signed for this call")]
    BadSignature,
    /// Older than [`MAX_AGE_SECS`] or from the future.
    #[error("the call state has expired")]
    Expired,
}

/// Seals and opens call tokens under one key.
#[derive(Clone)]
pub struct Sealer {
    key: crate::secret::MacKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    /// A sealer with a key derived from the server secret.
    pub fn new(key: [u8; 32]) -> Self {
        Self {
            key: crate::secret::MacKey::new(&key),
        }
    }

    fn tag(&self, sid: &CallSid, payload: &[u8]) -> [u8; TAG_LEN] {
        let full = self.key.mac(&[
            b"bridgekeeper call state\0",
            sid.as_str().as_bytes(),
            b"\0",
            payload,
        ]);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// The token text for `token` on the call `sid`.
    pub fn seal(&self, sid: &CallSid, token: &CallToken) -> String {
        let receipt = token.receipt.as_bytes();
        let mut bytes = Vec::with_capacity(FIXED_LEN + receipt.len() + TAG_LEN);
        bytes.push(VERSION);
        bytes.push(token.carrier.code());
        bytes.extend_from_slice(&token.fingerprint);
        let flags = if token.state.refreshed {
            FLAG_REFRESHED
        } else {
            0
        } | if token.guest { FLAG_GUEST } else { 0 }
            | match token.room {
                None => 0,
                Some(room) => {
                    FLAG_ROOM
                        | if room.muted { FLAG_MUTED } else { 0 }
                        | if room.menu { FLAG_MENU } else { 0 }
                }
            };
        bytes.extend_from_slice(&[
            token.seq,
            token.state.wrong,
            token.state.silences,
            token.state.resends,
            flags,
        ]);
        bytes.extend_from_slice(&token.issued.to_be_bytes());
        bytes.extend_from_slice(&token.stepped.to_be_bytes());
        // Receipts are at most Receipt::MAX_LEN (< 256) bytes by construction.
        bytes.push(receipt.len() as u8);
        bytes.extend_from_slice(receipt);
        let tag = self.tag(sid, &bytes);
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Reads a token for the call `sid` that came in through `carrier`, checking its
    /// signature, carrier and age (`now` in unix seconds). Nothing in it is trusted before the
    /// signature is checked.
    pub fn open(
        &self,
        carrier: CarrierKind,
        sid: &CallSid,
        text: &str,
        now: u64,
    ) -> Result<CallToken, TokenError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(TokenError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| TokenError::Malformed)?;
        if bytes.len() < FIXED_LEN + TAG_LEN {
            return Err(TokenError::Malformed);
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        if !bool::from(self.tag(sid, payload).ct_eq(tag)) {
            return Err(TokenError::BadSignature);
        }
        if payload[0] != VERSION {
            return Err(TokenError::Version);
        }
        if CarrierKind::from_code(payload[1]) != Some(carrier) {
            return Err(TokenError::Carrier);
        }
        let receipt_len = usize::from(payload[FIXED_LEN - 1]);
        if payload.len() != FIXED_LEN + receipt_len {
            return Err(TokenError::Malformed);
        }
        let mut fingerprint = [0u8; 12];
        fingerprint.copy_from_slice(&payload[2..14]);
        let flags = payload[18];
        let issued = u32::from_be_bytes([payload[19], payload[20], payload[21], payload[22]]);
        let stepped = u32::from_be_bytes([payload[23], payload[24], payload[25], payload[26]]);
        // A caller verified into the room keeps coming back from the menu for a meeting's
        // length; every other step waits seconds for its answer.
        let limits = if flags & FLAG_ROOM != 0 {
            [(issued, ROOM_MAX_AGE_SECS), (stepped, ROOM_MAX_AGE_SECS)]
        } else {
            [(issued, MAX_AGE_SECS), (stepped, MAX_STEP_AGE_SECS)]
        };
        for (at, max_age) in limits {
            match now.checked_sub(u64::from(at)) {
                Some(age) if age > max_age => return Err(TokenError::Expired),
                None if u64::from(at) - now > MAX_SKEW_SECS => return Err(TokenError::Expired),
                _ => {}
            }
        }
        Ok(CallToken {
            carrier,
            fingerprint,
            seq: payload[14],
            state: CallState {
                wrong: payload[15],
                silences: payload[16],
                resends: payload[17],
                refreshed: flags & FLAG_REFRESHED != 0,
            },
            guest: flags & FLAG_GUEST != 0,
            issued,
            stepped,
            receipt: Receipt::new(payload[FIXED_LEN..].to_vec()).ok_or(TokenError::Malformed)?,
            room: (flags & FLAG_ROOM != 0).then_some(RoomState {
                muted: flags & FLAG_MUTED != 0,
                menu: flags & FLAG_MENU != 0,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn sealer() -> Sealer {
        Sealer::new([42; 32])
    }

    fn sid(s: &str) -> CallSid {
        CallSid::parse(s).unwrap()
    }

    fn token() -> CallToken {
        CallToken {
            carrier: CarrierKind::Twilio,
            fingerprint: [9; 12],
            seq: 3,
            state: CallState {
                wrong: 1,
                silences: 2,
                resends: 1,
                refreshed: true,
            },
            guest: false,
            issued: NOW as u32,
            stepped: NOW as u32,
            receipt: Receipt::new(vec![1, 2, 3]).unwrap(),
            room: None,
        }
    }

    #[test]
    fn a_room_state_round_trips_and_lives_a_meeting_not_a_day() {
        let mut t = token();
        t.room = Some(RoomState {
            muted: true,
            menu: false,
        });
        let text = sealer().seal(&sid("CA1"), &t);
        let later = NOW + MAX_STEP_AGE_SECS + 60;
        assert_eq!(sealer().open(TW, &sid("CA1"), &text, later), Ok(t.clone()));
        assert_eq!(
            sealer().open(TW, &sid("CA1"), &text, NOW + ROOM_MAX_AGE_SECS + 1),
            Err(TokenError::Expired)
        );
        // A state without the room flag still lives fifteen minutes a step.
        let plain = sealer().seal(&sid("CA1"), &token());
        assert_eq!(
            sealer().open(TW, &sid("CA1"), &plain, later),
            Err(TokenError::Expired)
        );
    }

    const TW: CarrierKind = CarrierKind::Twilio;

    #[test]
    fn a_sealed_token_opens_on_its_call() {
        let text = sealer().seal(&sid("CA1"), &token());
        assert!(text.len() < 90, "{} characters", text.len());
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(sealer().open(TW, &sid("CA1"), &text, NOW + 60), Ok(token()));
    }

    #[test]
    fn a_token_is_refused_on_another_call_or_under_another_key() {
        let text = sealer().seal(&sid("CA1"), &token());
        assert_eq!(
            sealer().open(TW, &sid("CA2"), &text, NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            Sealer::new([43; 32]).open(TW, &sid("CA1"), &text, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn every_edited_byte_is_detected() {
        let text = sealer().seal(&sid("CA1"), &token());
        let bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        for i in 0..bytes.len() {
            let mut edited = bytes.clone();
            edited[i] ^= 1;
            let edited = URL_SAFE_NO_PAD.encode(edited);
            assert!(
                sealer().open(TW, &sid("CA1"), &edited, NOW).is_err(),
                "byte {i}"
            );
        }
    }

    #[test]
    fn old_and_future_tokens_expire() {
        let text = sealer().seal(&sid("CA1"), &token());
        assert_eq!(
            sealer().open(TW, &sid("CA1"), &text, NOW + MAX_AGE_SECS + 1),
            Err(TokenError::Expired)
        );
        // A step's token is answered within seconds: fifteen minutes later it is a replay.
        assert_eq!(
            sealer().open(TW, &sid("CA1"), &text, NOW + MAX_STEP_AGE_SECS + 1),
            Err(TokenError::Expired)
        );
        let mut later = token();
        later.stepped = (NOW + 3600) as u32;
        let text_later = sealer().seal(&sid("CA1"), &later);
        assert!(
            sealer()
                .open(TW, &sid("CA1"), &text_later, NOW + 3600 + 60)
                .is_ok()
        );
        assert_eq!(
            sealer().open(TW, &sid("CA1"), &text, NOW - MAX_SKEW_SECS - 1),
            Err(TokenError::Expired)
        );
        assert!(sealer().open(TW, &sid("CA1"), &text, NOW - 10).is_ok());
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for text in ["", "!!!", "AAAA", &"A".repeat(300), "Zm9v"] {
            assert!(
                sealer().open(TW, &sid("CA1"), text, NOW).is_err(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn another_version_is_refused_even_when_signed() {
        let s = sealer();
        let text = s.seal(&sid("CA1"), &token());
        let mut bytes = URL_SAFE_NO_PAD.decode(&text).unwrap();
        let payload_len = bytes.len() - TAG_LEN;
        bytes[0] = VERSION + 1;
        let tag = s.tag(&sid("CA1"), &bytes[..payload_len]);
        bytes[payload_len..].copy_from_slice(&tag);
        assert_eq!(
            s.open(TW, &sid("CA1"), &URL_SAFE_NO_PAD.encode(bytes), NOW),
            Err(TokenError::Version)
        );
    }
}

#[cfg(test)]
mod carrier_tests {
    use super::*;

    #[test]
    fn a_token_is_refused_at_another_carrier_and_keeps_the_guest_flag() {
        let sealer = Sealer::new([7; 32]);
        let sid = CallSid::parse("8c1f5c3e-2b4a-4f9e-9d2a-0123456789ab").unwrap();
        let token = CallToken {
            carrier: CarrierKind::SignalWire,
            fingerprint: [1; 12],
            seq: 1,
            state: CallState::default(),
            guest: true,
            issued: 1_800_000_000,
            stepped: 1_800_000_000,
            receipt: Receipt::new(vec![5; Receipt::MAX_LEN]).unwrap(),
            room: None,
        };
        let text = sealer.seal(&sid, &token);
        assert!(text.len() <= MAX_TEXT_LEN);
        let now = 1_800_000_010;
        assert_eq!(
            sealer.open(CarrierKind::SignalWire, &sid, &text, now),
            Ok(token)
        );
        for other in [
            CarrierKind::Twilio,
            CarrierKind::Telnyx,
            CarrierKind::CarrierX,
        ] {
            assert_eq!(
                sealer.open(other, &sid, &text, now),
                Err(TokenError::Carrier)
            );
        }
    }
}
