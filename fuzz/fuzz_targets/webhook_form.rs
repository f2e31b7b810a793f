//! Fuzz target: a webhook body as the carrier would post it. Decodes the form
//! (`Form::decode`), then reads every value as each parameter the handlers read (`CallSid`,
//! the caller ID in `From`, the keypad `Digits`), checking what each reader promises.

#![no_main]

use bridgekeeper::call::Keypad;
use bridgekeeper::domain::{CallSid, Code, PhoneNumber, caller_id};
use bridgekeeper::routes::Form;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let Ok(form) = Form::decode(body) else {
        return;
    };
    for (name, value) in form.pairs() {
        for text in [name.as_str(), value.as_str()] {
            read_parameters(text);
        }
    }
    for parameter in ["CallSid", "From", "Digits"] {
        if let Some(value) = form.get(parameter) {
            read_parameters(value);
        }
    }
    // Keypad input that is missing altogether is silence.
    assert_eq!(
        matches!(Keypad::read(form.get("Digits")), Keypad::Silence),
        form.get("Digits").is_none_or(|d| d.trim().is_empty())
    );
});

fn is_e164(text: &str) -> bool {
    text.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

fn read_parameters(text: &str) {
    if let Ok(sid) = CallSid::parse(text) {
        assert_eq!(sid.as_str(), text);
        assert!(text.len() <= CallSid::MAX_LEN);
    }
    if let Ok(number) = PhoneNumber::parse(text) {
        assert!(
            is_e164(number.as_e164()),
            "{text:?} gave {:?}",
            number.as_e164()
        );
        assert_eq!(
            PhoneNumber::parse(number.as_e164()).as_ref(),
            Ok(&number),
            "not idempotent for {text:?}"
        );
    }
    if let Some(number) = caller_id(text) {
        assert!(is_e164(number.as_e164()));
    }
    let trimmed = text.trim();
    match Keypad::read(Some(text)) {
        Keypad::Code(code) => {
            assert_eq!(code.expose(), trimmed);
            assert!(trimmed.len() == Code::LEN && trimmed.bytes().all(|b| b.is_ascii_digit()));
        }
        Keypad::Resend => assert_eq!(trimmed, "*"),
        Keypad::Silence => assert!(trimmed.is_empty()),
        Keypad::Garbage => assert!(!trimmed.is_empty() && trimmed != "*"),
    }
}
