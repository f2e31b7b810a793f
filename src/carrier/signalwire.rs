//! SignalWire: cXML (TwiML-compatible) over form posts, signed like Twilio's webhooks but
//! keyed by the project's signing key (`SIGNALWIRE_SIGNING_KEY`, not the API token). The
//! signature comes as `X-SignalWire-Signature`, or as the legacy `X-Twilio-Signature`; either
//! is checked against the signing key and nothing else. Call ids are UUIDs.

use crate::call::Reply;
use crate::carrier::{
    CallEvent, Carrier, CarrierKind, Forbidden, Hook, Inbound, Links, Rendered, WebhookError, twiml,
};
use crate::domain::{CallSid, CallSidError, PhoneNumber};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

/// The signature header SignalWire sends.
pub const HEADER: &str = "X-SignalWire-Signature";

/// The SignalWire carrier.
pub struct SignalWire {
    signing_key: Option<SecretString>,
    public_url: Url,
}

impl SignalWire {
    /// SignalWire, authenticating webhooks with `signing_key` (none: development mode)
    /// against the public URL.
    pub fn new(signing_key: Option<SecretString>, public_url: Url) -> Self {
        Self {
            signing_key,
            public_url,
        }
    }
}

/// SignalWire's call ids: dashed UUIDs.
pub fn call_id(raw: &str) -> Result<CallSid, CallSidError> {
    let sid = CallSid::parse(raw)?;
    if crate::carrier::is_uuid(raw) {
        Ok(sid)
    } else {
        Err(CallSidError::Shape("a UUID"))
    }
}

/// SignalWire's caller-ID rule: the shared one (`anonymous`, `Restricted`, … never match).
pub fn caller(raw: &str) -> Option<PhoneNumber> {
    crate::carrier::caller_id_with(raw, &[])
}

impl Carrier for SignalWire {
    fn kind(&self) -> CarrierKind {
        CarrierKind::SignalWire
    }

    fn authenticated(&self) -> bool {
        self.signing_key.is_some()
    }

    fn authenticate(&self, request: &Inbound<'_>) -> Result<(), Forbidden> {
        match &self.signing_key {
            None => Ok(()),
            Some(key) => crate::carrier::twilio::check_form_signature(
                key.expose_secret(),
                &[HEADER, crate::signature::HEADER],
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
    use axum::http::{HeaderMap, HeaderValue};

    const KEY: &str = "PSKtestsigningkey0123456789";
    const BODY: &[u8] =
        b"CallSid=8c1f5c3e-2b4a-4f9e-9d2a-0123456789ab&From=%2B12025550101&To=%2B12025550100";

    fn signed(header: &'static str, key: &str) -> HeaderMap {
        let params = crate::carrier::Form::decode(BODY).unwrap();
        let sig = crate::signature::sign(
            key,
            "https://bk.example.com/signalwire/voice",
            params.pairs(),
        );
        let mut headers = HeaderMap::new();
        headers.insert(header, HeaderValue::from_str(&sig).unwrap());
        headers
    }

    fn check(headers: &HeaderMap) -> Result<(), Forbidden> {
        let carrier = SignalWire::new(
            Some(SecretString::from(KEY.to_owned())),
            Url::parse("https://bk.example.com").unwrap(),
        );
        carrier.authenticate(&Inbound {
            path_and_query: "/signalwire/voice",
            headers,
            body: BODY,
            now: 0,
        })
    }

    #[test]
    fn either_header_is_accepted_keyed_by_the_signing_key_only() {
        assert_eq!(check(&signed(HEADER, KEY)), Ok(()));
        assert_eq!(check(&signed("X-Twilio-Signature", KEY)), Ok(()));
        assert_eq!(
            check(&signed(HEADER, "the-api-token")),
            Err(Forbidden::Invalid)
        );
        assert_eq!(check(&HeaderMap::new()), Err(Forbidden::Missing));
    }

    #[test]
    fn call_ids_are_uuids() {
        assert!(call_id("8c1f5c3e-2b4a-4f9e-9d2a-0123456789ab").is_ok());
        assert!(call_id("CA0123456789abcdef0123456789abcdef").is_err());
        assert!(call_id("8c1f5c3e-2b4a-4f9e-9d2a").is_err());
    }
}
