//! Twilio: TwiML over form posts, each signed with `X-Twilio-Signature` (HMAC-SHA1 keyed by
//! the auth token over the URL and the sorted parameters, see [`crate::signature`]).

use crate::call::Reply;
use crate::carrier::{
    CallEvent, Carrier, CarrierKind, Forbidden, Form, Hook, Inbound, Links, Rendered, WebhookError,
    twiml,
};
use crate::domain::{CallSid, CallSidError, PhoneNumber};
use crate::signature;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// Caller IDs Twilio sends when the number is withheld or unknown (its keypad spellings of
/// "anonymous", "restricted", …). The shared caller-ID rule already refuses them, for every
/// carrier; this names them for Twilio's tests.
pub use crate::domain::WITHHELD_SENTINELS as WITHHELD;

/// The Twilio carrier.
pub struct Twilio {
    auth_token: Option<SecretString>,
    public_url: Url,
}

impl Twilio {
    /// Twilio, authenticating webhooks with `auth_token` (none: development mode) against
    /// the public URL.
    pub fn new(auth_token: Option<SecretString>, public_url: Url) -> Self {
        Self {
            auth_token,
            public_url,
        }
    }
}

/// Twilio's call ids: `CA` followed by 32 hexadecimal digits.
pub fn call_id(raw: &str) -> Result<CallSid, CallSidError> {
    let sid = CallSid::parse(raw)?;
    let hex = raw.strip_prefix("CA").unwrap_or_default();
    if hex.len() == 32 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(sid)
    } else {
        Err(CallSidError::Shape(
            "CA followed by 32 lower-case hexadecimal digits",
        ))
    }
}

/// Twilio's caller-ID rule: the shared one, which already holds its keypad sentinels.
pub fn caller(raw: &str) -> Option<PhoneNumber> {
    crate::carrier::caller_id_with(raw, &[])
}

/// Checks a Twilio-scheme form signature, read from the first of `headers` present, keyed
/// by `key`, over the public URL the request was sent to. Shared with SignalWire.
pub fn check_form_signature(
    key: &str,
    headers: &[&str],
    public_url: &Url,
    request: &Inbound<'_>,
) -> Result<(), Forbidden> {
    let given = headers
        .iter()
        .find_map(|name| request.header(name))
        .ok_or(Forbidden::Missing)?;
    let form = Form::decode(request.body).map_err(|_| Forbidden::Invalid)?;
    let urls = signature::candidate_urls(public_url, request.path_and_query);
    if signature::verify(key, &urls, form.pairs(), given) {
        Ok(())
    } else {
        Err(Forbidden::Invalid)
    }
}

impl Carrier for Twilio {
    fn kind(&self) -> CarrierKind {
        CarrierKind::Twilio
    }

    fn authenticated(&self) -> bool {
        self.auth_token.is_some()
    }

    fn authenticate(&self, request: &Inbound<'_>) -> Result<(), Forbidden> {
        match &self.auth_token {
            None => Ok(()),
            Some(token) => check_form_signature(
                token.expose_secret(),
                &[signature::HEADER],
                &self.public_url,
                request,
            ),
        }
    }

    fn decode(&self, request: &Inbound<'_>, hook: Hook) -> Result<CallEvent, WebhookError> {
        twiml::decode_form(request, hook, call_id, caller)
    }

    fn render(&self, reply: &Reply, links: &Links<'_>) -> Rendered {
        twiml::render(reply, links, twiml::TWILIO_EVENTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_are_ca_and_32_lower_case_hex() {
        assert!(call_id("CA0123456789abcdef0123456789abcdef").is_ok());
        for bad in [
            "",
            "CA1",
            "CA0123456789ABCDEF0123456789ABCDEF",
            "CA0123456789abcdef0123456789abcdeg",
            "CA0123456789abcdef0123456789abcdef0",
            "CA0123456789abcdef0123456789abcdefCallStatusringing",
            "PA0123456789abcdef0123456789abcdef",
            "v3:abc",
        ] {
            assert!(call_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn withheld_caller_ids_never_become_numbers() {
        for raw in WITHHELD
            .iter()
            .copied()
            .chain(["", "anonymous", "client:x"])
        {
            assert_eq!(caller(raw), None, "{raw:?}");
        }
        assert_eq!(caller("+15551230001").unwrap().as_e164(), "+15551230001");
    }
}
