//! CarrierX: FlexML, with JSON webhook bodies (`CallSid`, `From`, `To`, `Digits`). CarrierX
//! does not sign its requests: the URL carries a secret key (`?key=…`,
//! `BRIDGEKEEPER_CARRIERX_KEY`), compared in constant time, and every URL the server writes
//! into its replies carries it again. The call's state rides in those URLs, signed like every
//! carrier's, so a changed value never helps anyone in. `From`/`To` may come without the
//! leading `+`: such digits are E.164 digits.

use crate::call::Reply;
use crate::carrier::{
    CallEvent, Carrier, CarrierKind, Forbidden, Form, Hook, Inbound, Links, Rendered, WebhookError,
    twiml,
};
use crate::domain::{CallSid, CallSidError, PhoneNumber};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use url::Url;

/// The CarrierX carrier.
pub struct CarrierX {
    key: Option<SecretString>,
}

impl CarrierX {
    /// CarrierX, requiring `key` in every webhook URL (none: development mode).
    pub fn new(key: Option<SecretString>) -> Self {
        Self { key }
    }
}

/// CarrierX's call ids: 32 hexadecimal digits, or a dashed UUID.
pub fn call_id(raw: &str) -> Result<CallSid, CallSidError> {
    let sid = CallSid::parse(raw)?;
    let hex32 = raw.len() == 32 && raw.bytes().all(|b| b.is_ascii_hexdigit());
    if hex32 || crate::carrier::is_uuid(raw) {
        Ok(sid)
    } else {
        Err(CallSidError::Shape("32 hexadecimal digits or a UUID"))
    }
}

/// CarrierX's caller-ID rule: digits without `+` are E.164 digits; the shared rule for the
/// rest (`anonymous`, `Restricted`, … never match).
pub fn caller(raw: &str) -> Option<PhoneNumber> {
    crate::carrier::caller_id_with(&plus(raw), &[])
}

/// Adds the `+` CarrierX may leave out of an E.164 number.
fn plus(raw: &str) -> String {
    let trimmed = raw.trim();
    if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{trimmed}")
    } else {
        trimmed.to_owned()
    }
}

/// Reads the JSON body into name/value pairs: strings as they are, numbers as their digits,
/// everything else (nulls, objects, arrays) left out.
fn json_params(body: &[u8]) -> Result<Form, WebhookError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| WebhookError::Malformed)?;
    let object = value.as_object().ok_or(WebhookError::Malformed)?;
    let mut pairs = Vec::with_capacity(object.len());
    for (name, value) in object {
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let text = if matches!(name.as_str(), "From" | "To") {
            plus(&text)
        } else {
            text
        };
        pairs.push((name.clone(), text));
    }
    Ok(Form::from_pairs(pairs))
}

impl Carrier for CarrierX {
    fn kind(&self) -> CarrierKind {
        CarrierKind::CarrierX
    }

    fn authenticated(&self) -> bool {
        self.key.is_some()
    }

    fn authenticate(&self, request: &Inbound<'_>) -> Result<(), Forbidden> {
        let Some(key) = &self.key else {
            return Ok(());
        };
        let given = request.query_param("key").ok_or(Forbidden::Missing)?;
        let expected = key.expose_secret().as_bytes();
        if bool::from(given.as_bytes().ct_eq(expected)) {
            Ok(())
        } else {
            Err(Forbidden::Invalid)
        }
    }

    fn decode(&self, request: &Inbound<'_>, hook: Hook) -> Result<CallEvent, WebhookError> {
        if !crate::carrier::form::has_content_type(request.headers, "application/json") {
            return Err(WebhookError::NotJson);
        }
        let params = json_params(request.body)?;
        twiml::decode_params(&params, request, hook, call_id, caller)
    }

    fn render(&self, reply: &Reply, links: &Links<'_>) -> Rendered {
        Rendered {
            content_type: crate::twiml::CONTENT_TYPE,
            body: crate::carrier::flexml::flexml(reply, links.next),
        }
    }

    fn joins_rooms(&self) -> bool {
        false
    }

    fn next_url(&self, base: &Url, state: Option<&str>) -> String {
        let mut url = format!(
            "{}{}",
            base.as_str().trim_end_matches('/'),
            self.kind().code_path()
        );
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if let Some(key) = &self.key {
            query.append_pair("key", key.expose_secret());
        }
        if let Some(state) = state {
            query.append_pair("s", state);
        }
        let query = query.finish();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn json_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h
    }

    fn inbound<'a>(path: &'a str, headers: &'a HeaderMap, body: &'a [u8]) -> Inbound<'a> {
        Inbound {
            path_and_query: path,
            headers,
            body,
            now: 0,
        }
    }

    #[test]
    fn the_url_key_is_required_and_compared_exactly() {
        let carrier = CarrierX::new(Some(SecretString::from("k3y+/=".to_owned())));
        let h = HeaderMap::new();
        assert_eq!(
            carrier.authenticate(&inbound("/carrierx/voice?key=k3y%2B%2F%3D", &h, b"")),
            Ok(())
        );
        assert_eq!(
            carrier.authenticate(&inbound("/carrierx/voice?key=k3y", &h, b"")),
            Err(Forbidden::Invalid)
        );
        assert_eq!(
            carrier.authenticate(&inbound("/carrierx/voice", &h, b"")),
            Err(Forbidden::Missing)
        );
        let next = carrier.next_url(&Url::parse("https://bk.example.com/").unwrap(), Some("ST"));
        assert_eq!(
            next,
            "https://bk.example.com/carrierx/voice/code?key=k3y%2B%2F%3D&s=ST"
        );
    }

    #[test]
    fn json_bodies_decode_with_plus_less_numbers() {
        let carrier = CarrierX::new(None);
        let h = json_headers();
        let body = br#"{"AccountSid":"","ApiVersion":"2.0","CallSid":"4f0d84c72ff90967f58351cbe8364a77","Digits":"654321","From":"19093189030","To":"19093189029","Extra":{"x":1}}"#;
        let event = carrier
            .decode(&inbound("/carrierx/voice/code?s=T", &h, body), Hook::Code)
            .unwrap();
        assert_eq!(event.caller.unwrap().as_e164(), "+19093189030");
        assert_eq!(event.dialed.unwrap().as_e164(), "+19093189029");
        assert_eq!(event.digits.as_deref(), Some("654321"));
        assert_eq!(event.state.as_deref(), Some("T"));
        assert_eq!(
            carrier
                .decode(
                    &inbound("/carrierx/voice", &HeaderMap::new(), body),
                    Hook::Entry
                )
                .unwrap_err(),
            WebhookError::NotJson
        );
        assert_eq!(
            carrier
                .decode(&inbound("/carrierx/voice", &h, b"CallSid=1"), Hook::Entry)
                .unwrap_err(),
            WebhookError::Malformed
        );
    }

    #[test]
    fn withheld_and_odd_callers_never_match() {
        for raw in ["", "anonymous", "Restricted", "unknown", "sip:a@b"] {
            assert_eq!(caller(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn call_ids_are_hex_or_uuids() {
        assert!(call_id("4f0d84c72ff90967f58351cbe8364a77").is_ok());
        assert!(call_id("8c1f5c3e-2b4a-4f9e-9d2a-0123456789ab").is_ok());
        assert!(call_id("CA4f0d84c72ff90967f58351cbe8364a77").is_err());
        assert!(call_id("4f0d84c72ff90967").is_err());
    }
}
