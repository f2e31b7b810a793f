//! Fuzz target: the signed call state. Opens arbitrary text as a token with a fixed key and
//! CallSid (it must never open unless it is, trimmed, exactly what `seal` makes of the token
//! it opened to), then seals a token made from the input bytes and checks that it opens to
//! itself, and that an input-chosen edit of the sealed text is refused.

#![no_main]

use bridgekeeper::call::CallState;
use bridgekeeper::carrier::CarrierKind;
use bridgekeeper::domain::CallSid;
use bridgekeeper::token::{CallToken, MAX_AGE_SECS, Sealer};
use bridgekeeper::verify::Receipt;
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [0x5a; 32];
const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let sealer = Sealer::new(KEY);
    let sid = CallSid::parse("CA0123456789abcdef0123456789abcdef").expect("a valid CallSid");

    // Arbitrary text: only a genuine seal of this call may open.
    let text = String::from_utf8_lossy(data);
    if let Ok(token) = sealer.open(CarrierKind::Twilio, &sid, &text, NOW) {
        assert_eq!(
            sealer.seal(&sid, &token),
            text.trim(),
            "forged token opened"
        );
    }

    // A token derived from the input: it round-trips.
    let token = token_from(data);
    let sealed = sealer.seal(&sid, &token);
    assert_eq!(sealer.open(CarrierKind::Twilio, &sid, &sealed, NOW), Ok(token));

    // One input-chosen edit of the sealed text: refused unless it changed nothing.
    if let [position, replacement, ..] = data {
        let i = usize::from(*position) % sealed.len();
        let mut edited = sealed.clone().into_bytes();
        edited[i] = *replacement;
        if let Ok(edited) = String::from_utf8(edited) {
            assert!(
                edited == sealed || sealer.open(CarrierKind::Twilio, &sid, &edited, NOW).is_err(),
                "edited token opened: {edited:?}"
            );
        }
    }
});

/// A token whose every field comes from the input bytes (zeros past its end).
fn token_from(data: &[u8]) -> CallToken {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let mut fingerprint = [0u8; 12];
    for (i, b) in fingerprint.iter_mut().enumerate() {
        *b = byte(i);
    }
    let age = u32::from_be_bytes([byte(17), byte(18), byte(19), byte(20)]) % (MAX_AGE_SECS as u32);
    let receipt_len = usize::from(byte(21)) % (Receipt::MAX_LEN + 1);
    let receipt: Vec<u8> = data.iter().skip(22).take(receipt_len).copied().collect();
    CallToken {
        carrier: CarrierKind::Twilio,
        fingerprint,
        seq: byte(12),
        state: CallState {
            wrong: byte(13),
            silences: byte(14),
            resends: byte(15),
            refreshed: byte(16) & 1 == 1,
        },
        guest: byte(16) & 2 == 2,
        issued: (NOW as u32) - age,
        stepped: (NOW as u32) - age % 600,
        receipt: Receipt::new(receipt).expect("at most MAX_LEN bytes"),
    }
}
