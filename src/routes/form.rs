//! Webhook form bodies: parsed by hand from the raw bytes, so that malformed requests get a
//! plain 4xx reason and signature checks can see the exact parameters.

use crate::signature;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;

/// A webhook request that cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    /// Not `application/x-www-form-urlencoded`.
    #[error("expected a form body (application/x-www-form-urlencoded)")]
    NotAForm,
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
            WebhookError::NotAForm => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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
fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// An authenticated webhook's parameters. With an auth token configured, the
/// `X-Twilio-Signature` is checked against the public URL before anything else is looked at;
/// a missing or wrong one is a 403 and the handler never runs.
#[derive(Debug)]
pub struct Webhook(pub Form);

impl FromRequest<AppState> for Webhook {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let path = request.uri().path().to_owned();
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
        let headers = request.headers().clone();
        let signature = match &state.webhook_token {
            None => None,
            Some(_) => match headers.get(signature::HEADER).and_then(|v| v.to_str().ok()) {
                Some(sig) => Some(sig.to_owned()),
                None => return Err(forbidden(&path, "missing")),
            },
        };
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let decoded = Form::decode(&body);
        if let (Some(token), Some(signature)) = (&state.webhook_token, signature) {
            let urls = signature::candidate_urls(&state.public_url, &path_and_query);
            let valid = decoded.as_ref().is_ok_and(|form| {
                signature::verify(token.expose_secret(), &urls, &form.0, &signature)
            });
            if !valid {
                return Err(forbidden(&path, "invalid"));
            }
        }
        if !is_form(&headers) {
            return Err(WebhookError::NotAForm.into_response());
        }
        decoded.map(Webhook).map_err(IntoResponse::into_response)
    }
}

/// The one warning line for a refused signature, and the 403.
fn forbidden(path: &str, why: &str) -> Response {
    if crate::log_throttle::allow("webhook.forbidden") {
        tracing::warn!(
            event = "webhook.forbidden",
            path,
            signature = why,
            "webhook refused: X-Twilio-Signature {why} (is BRIDGEKEEPER_PUBLIC_URL the URL the carrier calls?)"
        );
    }
    (
        StatusCode::FORBIDDEN,
        "forbidden: the webhook signature is missing or wrong\n",
    )
        .into_response()
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
