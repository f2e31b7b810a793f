//! How the built-in engine's codes reach a phone: a [`Courier`] takes the finished message
//! (the operator's [`MessageTemplate`] filled in) and delivers it: the dev outbox, or a
//! sender's SMS API (`verify::sender`).

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::verify::{Channel, VerifyError};

/// Delivers the built-in engine's messages.
pub trait Courier: Send + Sync + 'static {
    /// Delivers `text` (which holds `code`) to `to` over `channel`, one of
    /// [`channels`](Self::channels). A failure is a [`VerifyError`] like a Verify API's.
    fn deliver<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
        code: &'a Code,
        channel: Channel,
    ) -> BoxFuture<'a, Result<(), VerifyError>>;
    /// A short name for logs and the banner (`outbox`, `twilio-messages`…).
    fn name(&self) -> &'static str;
    /// The channels it can deliver over.
    fn channels(&self) -> &'static [Channel];
}

/// Why `BRIDGEKEEPER_SMS_TEMPLATE` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// No `{code}` in it: the message would not carry the code.
    #[error("must contain {{code}}")]
    NoCode,
    /// A placeholder other than `{code}` and `{conference}`.
    #[error("has an unknown placeholder {0:?}; use {{code}} and {{conference}}")]
    Unknown(String),
    /// A `{` without its `}`.
    #[error("has a {{ without its }}")]
    Unclosed,
    /// Longer than [`MessageTemplate::MAX_LEN`] characters.
    #[error("is longer than {} characters", MessageTemplate::MAX_LEN)]
    TooLong,
}

/// The built-in engine's text message (`BRIDGEKEEPER_SMS_TEMPLATE`), with `{code}` and
/// `{conference}` to fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTemplate(String);

impl Default for MessageTemplate {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl MessageTemplate {
    /// The default message: the code first (phones show it in the notification), the
    /// conference, the lifetime and a warning, within one 160-character SMS for most names.
    pub const DEFAULT: &'static str =
        "{code} is your code for {conference}. It expires in 10 minutes. Never share it.";

    /// The longest template accepted (three SMS segments).
    pub const MAX_LEN: usize = 459;

    /// The longest conference name put into a message, in characters.
    const MAX_CONFERENCE: usize = 60;

    /// Reads a template, or says what is wrong with it.
    pub fn parse(raw: &str) -> Result<Self, TemplateError> {
        if raw.chars().count() > Self::MAX_LEN {
            return Err(TemplateError::TooLong);
        }
        let mut rest = raw;
        let mut has_code = false;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or(TemplateError::Unclosed)?;
            match &after[..close] {
                "code" => has_code = true,
                "conference" => {}
                other => return Err(TemplateError::Unknown(format!("{{{other}}}"))),
            }
            rest = &after[close + 1..];
        }
        if !has_code {
            return Err(TemplateError::NoCode);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The message for `code` and the conference `conference` (cut to 60 characters).
    pub fn render(&self, code: &Code, conference: &str) -> String {
        let conference: String = conference.chars().take(Self::MAX_CONFERENCE).collect();
        // One pass over the template, so that a conference name holding "{code}" stays text.
        let mut out = String::with_capacity(self.0.len() + conference.len());
        let mut rest = self.0.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open..];
            if let Some(tail) = after.strip_prefix("{code}") {
                out.push_str(code.expose());
                rest = tail;
            } else if let Some(tail) = after.strip_prefix("{conference}") {
                out.push_str(&conference);
                rest = tail;
            } else {
                // `parse` lets no other brace through.
                out.push('{');
                rest = &after[1..];
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_names_the_code_and_the_conference() {
        let text = MessageTemplate::default().render(&Code::from_number(42), "Board");
        assert_eq!(
            text,
            "000042 is your code for Board. It expires in 10 minutes. Never share it."
        );
    }

    #[test]
    fn templates_need_the_code_and_only_known_placeholders() {
        assert_eq!(MessageTemplate::parse("hi"), Err(TemplateError::NoCode));
        assert_eq!(
            MessageTemplate::parse("{code} {name}"),
            Err(TemplateError::Unknown("{name}".into()))
        );
        assert_eq!(
            MessageTemplate::parse("{code"),
            Err(TemplateError::Unclosed)
        );
        assert_eq!(
            MessageTemplate::parse(&format!("{{code}}{}", "x".repeat(500))),
            Err(TemplateError::TooLong)
        );
        let t = MessageTemplate::parse("Code {code} for {conference}, {code}").unwrap();
        assert_eq!(
            t.render(&Code::from_number(123456), "Ops"),
            "Code 123456 for Ops, 123456"
        );
    }

    #[test]
    fn a_conference_name_cannot_inject_a_placeholder_or_grow_the_message() {
        let t = MessageTemplate::default();
        let text = t.render(&Code::from_number(1), "{code}");
        assert!(text.contains("for {code}."), "{text}");
        let long = t.render(&Code::from_number(1), &"n".repeat(500));
        assert!(long.len() < 200, "{long}");
    }
}
