//! Carriers: who sends the voice webhooks. Each carrier is one module behind [`Carrier`]: it
//! authenticates the raw request before anything in it is trusted, decodes it into one
//! carrier-neutral [`CallEvent`], renders the call's [`Reply`] in its own dialect, and knows
//! its call ids and its withheld caller IDs. The HTTP handlers and the call's use case
//! never know which carrier they serve.
//!
//! Adding a TwiML-family carrier is one new module here (its signature, call-id and
//! withheld-caller rules), a variant of [`CarrierKind`] and a line in
//! [`Carriers::from_settings`] in this file, and its credential in `config.rs`; the
//! simulator learns to sign as it in `simulator.rs`.

pub mod carrierx;
pub mod flexml;
pub mod form;
pub mod signalwire;
pub mod telnyx;
pub mod twilio;
pub mod twiml;

use crate::call::Reply;
use crate::domain::{CallSid, PhoneNumber};
use axum::http::HeaderMap;
use std::sync::Arc;
use url::Url;

pub use form::{Form, WebhookError};

/// The carriers bridgekeeper speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CarrierKind {
    /// Twilio: TwiML, `X-Twilio-Signature`.
    Twilio,
    /// SignalWire: cXML, `X-SignalWire-Signature` keyed by the signing key.
    SignalWire,
    /// Telnyx: TeXML, Ed25519 signatures.
    Telnyx,
    /// CarrierX: FlexML, JSON bodies, a key in the URL.
    CarrierX,
}

impl CarrierKind {
    /// Every carrier, in a fixed order.
    pub const ALL: [CarrierKind; 4] = [
        CarrierKind::Twilio,
        CarrierKind::SignalWire,
        CarrierKind::Telnyx,
        CarrierKind::CarrierX,
    ];

    /// The stable lower-case name (logs, flags, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            CarrierKind::Twilio => "twilio",
            CarrierKind::SignalWire => "signalwire",
            CarrierKind::Telnyx => "telnyx",
            CarrierKind::CarrierX => "carrierx",
        }
    }

    /// The entry webhook's path.
    pub fn entry_path(self) -> &'static str {
        match self {
            CarrierKind::Twilio => "/voice",
            CarrierKind::SignalWire => "/signalwire/voice",
            CarrierKind::Telnyx => "/telnyx/voice",
            CarrierKind::CarrierX => "/carrierx/voice",
        }
    }

    /// Where the keypad input of a call goes (the server writes it into its own replies).
    pub fn code_path(self) -> &'static str {
        match self {
            CarrierKind::Twilio => "/voice/code",
            CarrierKind::SignalWire => "/signalwire/voice/code",
            CarrierKind::Telnyx => "/telnyx/voice/code",
            CarrierKind::CarrierX => "/carrierx/voice/code",
        }
    }

    /// Where a carrier of the TwiML family posts its conference events.
    pub fn events_path(self) -> &'static str {
        match self {
            CarrierKind::Twilio => "/voice/conference",
            CarrierKind::SignalWire => "/signalwire/voice/conference",
            CarrierKind::Telnyx => "/telnyx/voice/conference",
            CarrierKind::CarrierX => "/carrierx/voice/conference",
        }
    }

    /// The byte that stands for this carrier in the signed call state.
    pub fn code(self) -> u8 {
        match self {
            CarrierKind::Twilio => 1,
            CarrierKind::SignalWire => 2,
            CarrierKind::Telnyx => 3,
            CarrierKind::CarrierX => 4,
        }
    }

    /// The carrier a state byte stands for.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }

    /// Reads a name as given to `--carrier`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for CarrierKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl clap::ValueEnum for CarrierKind {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

/// A webhook request as it arrived, before anything in it is trusted.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// The path and query the request arrived with (`/voice/code?s=…`).
    pub path_and_query: &'a str,
    /// The request headers.
    pub headers: &'a HeaderMap,
    /// The raw body bytes.
    pub body: &'a [u8],
    /// Unix seconds now (for signature windows).
    pub now: u64,
}

impl Inbound<'_> {
    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.path_and_query.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Why a webhook was refused before it was read: the request does not come from the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Forbidden {
    /// No signature (or key) where one is required.
    #[error("signature missing")]
    Missing,
    /// A signature (or key) that does not match.
    #[error("signature invalid")]
    Invalid,
    /// A signed timestamp too old or in the future.
    #[error("timestamp outside the accepted window")]
    Stale,
}

/// One webhook of a call, in carrier-neutral terms.
#[derive(Debug, Clone)]
pub struct CallEvent {
    /// The carrier's call id, validated by the carrier's rule.
    pub call_id: CallSid,
    /// The caller: `None` when withheld, by the carrier's own rule, or not a number.
    pub caller: Option<PhoneNumber>,
    /// The dialed number, when it is a number.
    pub dialed: Option<PhoneNumber>,
    /// What the caller typed, when the webhook carries keypad input.
    pub digits: Option<String>,
    /// The call state the server carried from its previous reply, if any.
    pub state: Option<String>,
}

/// Where the carrier goes next: the URLs a rendered reply names.
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    /// The next keypad webhook (with the sealed call state): `Gather` and `Redirect` go there,
    /// and so does the `<Dial>` when it ends (`*` pressed in the room).
    pub next: &'a str,
    /// Where the conference's status callbacks go, when the dialect has conferences.
    pub events: Option<&'a str>,
}

/// A document for the carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The `Content-Type` to answer with.
    pub content_type: &'static str,
    /// The document.
    pub body: String,
}

/// Which webhook of a call this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// The call comes in.
    Entry,
    /// Keypad input (or silence) at a prompt.
    Code,
}

/// One carrier: its authentication, its wire format and its dialect.
pub trait Carrier: Send + Sync + 'static {
    /// Which carrier this is.
    fn kind(&self) -> CarrierKind;

    /// Whether webhooks are authenticated (a credential is set); `false` only in development
    /// mode.
    fn authenticated(&self) -> bool;

    /// Checks that the raw request comes from the carrier, before anything in it is parsed
    /// or trusted. A carrier without a credential (development mode) accepts everything.
    fn authenticate(&self, request: &Inbound<'_>) -> Result<(), Forbidden>;

    /// Decodes an authenticated request into a call event (4xx errors for what the carrier
    /// never sends).
    fn decode(&self, request: &Inbound<'_>, hook: Hook) -> Result<CallEvent, WebhookError>;

    /// Renders a reply; `links` say where keypad input (or silence) goes next, and where the
    /// carrier posts the conference's events.
    fn render(&self, reply: &Reply, links: &Links<'_>) -> Rendered;

    /// Where the carrier posts conference events (`None`: its dialect has no conferences).
    fn events_url(&self, base: &Url) -> Option<String> {
        self.joins_rooms().then(|| {
            format!(
                "{}{}",
                base.as_str().trim_end_matches('/'),
                self.kind().events_path()
            )
        })
    }

    /// Whether the dialect has a conference room noun (FlexML has none: it dials bridges).
    fn joins_rooms(&self) -> bool {
        true
    }

    /// The absolute URL of the next keypad webhook, carrying the sealed call state.
    fn next_url(&self, base: &Url, state: Option<&str>) -> String {
        let mut url = format!(
            "{}{}",
            base.as_str().trim_end_matches('/'),
            self.kind().code_path()
        );
        if let Some(state) = state {
            url.push_str("?s=");
            url.push_str(state);
        }
        url
    }
}

/// The carriers a server answers for, by kind; a kind that is absent answers 404.
#[derive(Clone, Default)]
pub struct Carriers {
    served: Vec<Arc<dyn Carrier>>,
}

impl std::fmt::Debug for Carriers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.served.iter().map(|c| c.kind()))
            .finish()
    }
}

impl Carriers {
    /// Serves these carriers.
    pub fn new(served: Vec<Arc<dyn Carrier>>) -> Self {
        Self { served }
    }

    /// The carriers to serve: those with a credential, or, with none at all (development
    /// mode), every carrier unauthenticated. The one place that knows every carrier module.
    pub fn from_settings(
        settings: &crate::config::CarrierSettings,
        public_url: &Url,
    ) -> Result<Self, String> {
        let development = !settings.any();
        let mut served: Vec<Arc<dyn Carrier>> = Vec::new();
        if development || settings.twilio.is_some() {
            served.push(Arc::new(twilio::Twilio::new(
                settings.twilio.clone(),
                public_url.clone(),
            )));
        }
        if development || settings.signalwire.is_some() {
            served.push(Arc::new(signalwire::SignalWire::new(
                settings.signalwire.clone(),
                public_url.clone(),
            )));
        }
        if development || settings.telnyx.is_some() {
            served.push(Arc::new(
                telnyx::Telnyx::new(settings.telnyx)
                    .map_err(|e| format!("TELNYX_PUBLIC_KEY: {e}"))?,
            ));
        }
        if development || settings.carrierx.is_some() {
            served.push(Arc::new(carrierx::CarrierX::new(settings.carrierx.clone())));
        }
        Ok(Self { served })
    }

    /// Every carrier served.
    pub fn served(&self) -> &[Arc<dyn Carrier>] {
        &self.served
    }

    /// The carrier of this kind, if served.
    pub fn get(&self, kind: CarrierKind) -> Option<&Arc<dyn Carrier>> {
        self.served.iter().find(|c| c.kind() == kind)
    }

    /// Whether any carrier authenticates its webhooks (a real carrier can reach the server).
    pub fn any_authenticated(&self) -> bool {
        self.served.iter().any(|c| c.authenticated())
    }
}

/// Reads a caller ID by the rule every carrier shares: empty, `anonymous`, `restricted`,
/// `private`, `unknown`, `unavailable` and anything that is not a phone number never match;
/// `extra` lists a carrier's own sentinels (in E.164).
pub fn caller_id_with(raw: &str, extra: &[&str]) -> Option<PhoneNumber> {
    let number = crate::domain::caller_id(raw)?;
    (!extra.contains(&number.as_e164())).then_some(number)
}

/// Whether `text` is a lower-case or upper-case hexadecimal string of exactly `len` digits.
fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Whether `text` is a dashed UUID (8-4-4-4-12 hex digits).
pub fn is_uuid(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(len, part)| is_hex(part, *len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name_and_code() {
        for kind in CarrierKind::ALL {
            assert_eq!(CarrierKind::parse(kind.as_str()), Some(kind));
            assert_eq!(CarrierKind::from_code(kind.code()), Some(kind));
            assert!(kind.code_path().starts_with(kind.entry_path()));
        }
        assert_eq!(CarrierKind::from_code(0), None);
        assert_eq!(CarrierKind::parse("vonage"), None);
    }

    #[test]
    fn uuids_are_recognised() {
        assert!(is_uuid("8c1f5c3e-2b4a-4f9e-9d2a-0123456789ab"));
        assert!(!is_uuid("8c1f5c3e2b4a4f9e9d2a0123456789ab"));
        assert!(!is_uuid("8c1f5c3e-2b4a-4f9e-9d2a-0123456789ag"));
        assert!(!is_uuid("8c1f5c3e-2b4a-4f9e-9d2a"));
    }

    #[test]
    fn query_parameters_are_read_decoded() {
        let headers = HeaderMap::new();
        let inbound = Inbound {
            path_and_query: "/carrierx/voice/code?key=a%2Bb&s=XYZ",
            headers: &headers,
            body: b"",
            now: 0,
        };
        assert_eq!(inbound.query_param("key").as_deref(), Some("a+b"));
        assert_eq!(inbound.query_param("s").as_deref(), Some("XYZ"));
        assert_eq!(inbound.query_param("t"), None);
    }
}
