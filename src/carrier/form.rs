//! Webhook form bodies: parsed by hand from the raw bytes, so that malformed requests get a
//! plain 4xx reason and signature checks can see the exact parameters.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// A webhook request that cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// Not `application/x-www-form-urlencoded`.
    #[error("expected a form body (application/x-www-form-urlencoded)")]
    NotAForm,
    /// Not `application/json` (CarrierX posts JSON).
    #[error("expected a JSON body (application/json)")]
    NotJson,
    /// The body is not valid form encoding.
    #[error("the form body is malformed")]
    Malformed,
    /// A parameter the carrier always sends is missing or unusable.
    #[error("{0}")]
    BadParameter(String),
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = match self {
            WebhookError::NotAForm | WebhookError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            WebhookError::Malformed | WebhookError::BadParameter(_) => StatusCode::BAD_REQUEST,
        };
        if crate::log_throttle::allow("webhook.bad_request") {
            tracing::info!(event = "webhook.bad_request", status = status.as_u16(), reason = %self);
        }
        (status, format!("{self}\n")).into_response()
    }
}

/// Decodes one form-encoded name or value: `+` is a space, `%XX` a byte, and the bytes must
/// be UTF-8 (no silent replacement characters).
fn decode(raw: &[u8]) -> Result<String, WebhookError> {
    let spaced: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    percent_encoding::percent_decode(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| WebhookError::Malformed)
}

/// Whether the request declares a form body.
pub fn is_form(headers: &HeaderMap) -> bool {
    has_content_type(headers, "application/x-www-form-urlencoded")
}

/// Whether the request declares this media type (parameters such as `charset` ignored).
pub fn has_content_type(headers: &HeaderMap, media_type: &str) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(media_type))
}

/// The parameters of a webhook, in the order sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Decodes a form body whatever its declared content type: `&`-separated `name=value`
    /// pairs (a pair without `=` has an empty value, empty pairs are skipped), `+` is a space,
    /// `%XX` a byte, and every decoded name and value must be UTF-8.
    pub fn decode(body: &[u8]) -> Result<Self, WebhookError> {
        body.split(|b| *b == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let mut halves = pair.splitn(2, |b| *b == b'=');
                let name = decode(halves.next().unwrap_or_default())?;
                let value = decode(halves.next().unwrap_or_default())?;
                Ok((name, value))
            })
            .collect::<Result<_, _>>()
            .map(Form)
    }

    /// Parameters read from another encoding (CarrierX's JSON).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// Every parameter, in the order sent (repeated names included).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The first value of a parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a parameter the carrier always sends.
    pub fn required(&self, name: &str) -> Result<&str, WebhookError> {
        self.get(name)
            .ok_or_else(|| WebhookError::BadParameter(format!("{name} is missing")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn form_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        h
    }

    #[test]
    fn parses_parameters_in_order() {
        let form =
            Form::decode(b"CallSid=CA1&From=%2B1555&From=x&Digits=&Name=O%27Brien+%26+Sons&Flag")
                .unwrap();
        assert_eq!(form.get("From"), Some("+1555"));
        assert_eq!(form.get("Name"), Some("O'Brien & Sons"));
        assert_eq!(form.get("Flag"), Some(""));
        assert_eq!(form.get("Digits"), Some(""));
        assert_eq!(form.get("To"), None);
        assert!(form.required("To").is_err());
    }

    #[test]
    fn refuses_other_content_types_and_bad_encoding() {
        assert!(is_form(&form_headers()));
        assert!(!is_form(&HeaderMap::new()));
        let mut json = HeaderMap::new();
        json.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert!(!is_form(&json));
        assert_eq!(Form::decode(b"a=%ff%fe"), Err(WebhookError::Malformed));
        assert_eq!(Form::decode(b"a=\xff"), Err(WebhookError::Malformed));
    }
}
