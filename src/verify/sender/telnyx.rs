//! The Telnyx messaging sender: delivers the built-in engine's message by
//! `POST /v2/messages` (`{"from", "to", "text"}`, `Authorization: Bearer <API key>`), and maps
//! every answer onto [`VerifyError`].
//!
//! A send succeeds on a 2xx whose `data.id` names the queued message. Telnyx's errors are
//! `{"errors": [{"code", "title", "detail", "source"}]}`; the first error's code decides
//! before the HTTP status: a number that cannot take the message (invalid, inactive, not
//! routable, opted out with STOP) is [`VerifyError::Refused`]; a rejected API key or sending
//! number is [`VerifyError::Unavailable`] and logged as the operator's to fix; throttling,
//! 5xx, timeouts and malformed answers are [`VerifyError::Unavailable`].

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::verify::sender::log_call;
use crate::verify::telnyx::ApiError;
use crate::verify::upstream::{self, TransportError, scrub};
use crate::verify::{Channel, Courier, VerifyError};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::{Duration, Instant};
use url::Url;

/// The sender's name in logs and the banner.
pub const NAME: &str = "telnyx-messages";

/// Where and how to reach Telnyx's messaging API.
#[derive(Debug, Clone)]
pub struct TelnyxMessagesConfig {
    /// The API's origin (`https://api.telnyx.com`, no path); tests point it at a fake. Plain
    /// `http` only to loopback.
    pub base_url: Url,
    /// The API v2 key, sent as `Authorization: Bearer <key>`.
    pub api_key: SecretString,
    /// The sending number (E.164), short code or alphanumeric sender id (`TELNYX_FROM_NUMBER`).
    pub from: String,
    /// The whole-request timeout; the connect timeout is the smaller of this and 3 s.
    pub timeout: Duration,
}

/// Why a message was not accepted, as precisely as Telnyx said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelnyxMessagesError {
    /// 401, 403, 10009 or 10010: Telnyx refused the API key; the operator must fix it.
    #[error("Telnyx refused the API key; check TELNYX_API_KEY ({0})")]
    Credentials(ApiError),
    /// 40013 or 40003, or an error about `from`: Telnyx will not send from this number.
    #[error("Telnyx will not send from the configured number; check TELNYX_FROM_NUMBER ({0})")]
    From(ApiError),
    /// 40300: the recipient opted out (STOP) of messages from this number.
    #[error("the number opted out of messages from this sender ({0})")]
    OptedOut(ApiError),
    /// 10001, 10002, 10016, 40001, 40008, 40012: the number cannot take the message.
    #[error("Telnyx cannot deliver a message to this number ({0})")]
    Undeliverable(ApiError),
    /// 429, 10011 or 40011: Telnyx (or the carrier) is throttling the account.
    #[error("rate limited by Telnyx ({0})")]
    RateLimited(ApiError),
    /// Any other 4xx.
    #[error("Telnyx rejected the message ({0})")]
    ClientError(ApiError),
    /// Any 5xx.
    #[error("Telnyx failed ({0})")]
    ServerError(ApiError),
    /// A status that is neither an error nor a success (1xx, 3xx).
    #[error("unexpected answer from Telnyx ({0})")]
    UnexpectedStatus(ApiError),
    /// No complete answer within the configured timeout.
    #[error("no answer from Telnyx within {0:?}")]
    Timeout(Duration),
    /// Telnyx could not be reached (DNS, TCP, TLS).
    #[error("could not connect to Telnyx: {0}")]
    Connect(String),
    /// The connection failed after it was made.
    #[error("HTTP error talking to Telnyx: {0}")]
    Transport(String),
    /// A success status whose body is not a message with an id.
    #[error("malformed answer from Telnyx (HTTP {http}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        http: u16,
        /// What was wrong with the body (scrubbed).
        reason: String,
    },
}

impl TelnyxMessagesError {
    /// Whether only the operator can fix this (API key, sending number).
    pub fn needs_operator(&self) -> bool {
        matches!(self, Self::Credentials(_) | Self::From(_))
    }
}

impl From<TelnyxMessagesError> for VerifyError {
    fn from(e: TelnyxMessagesError) -> Self {
        use TelnyxMessagesError as T;
        match e {
            T::OptedOut(_) | T::Undeliverable(_) => Self::Refused(e.to_string()),
            T::Credentials(_)
            | T::From(_)
            | T::RateLimited(_)
            | T::ClientError(_)
            | T::ServerError(_)
            | T::UnexpectedStatus(_)
            | T::Timeout(_)
            | T::Connect(_)
            | T::Transport(_)
            | T::MalformedResponse { .. } => Self::Unavailable(e.to_string()),
        }
    }
}

/// The Telnyx messaging sender. Holds one connection-pooling HTTP client.
pub struct TelnyxMessages {
    client: reqwest::Client,
    url: Url,
    api_key: SecretString,
    from: String,
    timeout: Duration,
}

impl fmt::Debug for TelnyxMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxMessages")
            .field("url", &self.url.as_str())
            .field("from", &crate::domain::redact::mask_number(&self.from))
            .field("api_key", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TelnyxMessages {
    /// Checks the configuration and builds the shared HTTP client.
    pub fn new(config: TelnyxMessagesConfig) -> Result<Self, String> {
        let TelnyxMessagesConfig {
            base_url,
            api_key,
            from,
            timeout,
        } = config;
        let key = api_key.expose_secret();
        if key.is_empty() {
            return Err("the Telnyx API key is empty".to_owned());
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "the Telnyx API key has spaces or characters a header cannot carry".to_owned(),
            );
        }
        let from = from.trim().to_owned();
        if from.is_empty() {
            return Err("the Telnyx sending number (from) is empty".to_owned());
        }
        if timeout.is_zero() {
            return Err("the timeout is zero".to_owned());
        }
        upstream::check_base_url(&base_url)?;
        let url = upstream::endpoint(&base_url, &["v2", "messages"])?;
        let client = upstream::client(timeout)?;
        Ok(Self {
            client,
            url,
            api_key,
            from,
            timeout,
        })
    }

    /// Posts one SMS of `text` to `to`, with Telnyx's own error.
    pub async fn send_message(
        &self,
        to: &PhoneNumber,
        text: &str,
    ) -> Result<(), TelnyxMessagesError> {
        self.post(to, text).await.1
    }

    /// Posts the message: the HTTP status, if an answer came, and what it meant.
    async fn post(
        &self,
        to: &PhoneNumber,
        text: &str,
    ) -> (Option<u16>, Result<(), TelnyxMessagesError>) {
        let body = serde_json::json!({
            "from": self.from,
            "to": to.as_e164(),
            "text": text,
        });
        let request = self
            .client
            .post(self.url.clone())
            .bearer_auth(self.api_key.expose_secret())
            .json(&body);
        match upstream::exchange(request, self.timeout).await {
            Ok(answer) => (Some(answer.http), interpret(answer.http, &answer.body)),
            Err(e) => (
                None,
                Err(match e {
                    TransportError::Timeout(t) => TelnyxMessagesError::Timeout(t),
                    TransportError::Connect(why) => TelnyxMessagesError::Connect(why),
                    TransportError::Transport(why) => TelnyxMessagesError::Transport(why),
                }),
            ),
        }
    }
}

impl Courier for TelnyxMessages {
    fn deliver<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
        _code: &'a Code,
        channel: Channel,
    ) -> BoxFuture<'a, Result<(), VerifyError>> {
        Box::pin(async move {
            if channel != Channel::Sms {
                // The participants file is checked against the channels at start-up; this is
                // the backstop, never a code sent some other way than asked.
                return Err(VerifyError::Refused(format!(
                    "{NAME} cannot deliver by {channel}"
                )));
            }
            let started = Instant::now();
            let (http_status, sent) = self.post(to, text).await;
            let elapsed_ms = upstream::elapsed_ms(started);
            let needs_operator = sent.as_ref().is_err_and(|e| e.needs_operator());
            let result = sent.map_err(VerifyError::from);
            log_call(NAME, to, http_status, elapsed_ms, &result, needs_operator);
            result
        })
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn channels(&self) -> &'static [Channel] {
        &[Channel::Sms]
    }
}

/// A send succeeds on a 2xx whose body is `{"data": {"id": "…"}}` with a non-empty id.
fn interpret(http: u16, body: &[u8]) -> Result<(), TelnyxMessagesError> {
    if !(200..300).contains(&http) {
        return Err(classify(http, body));
    }
    let malformed = |reason: String| TelnyxMessagesError::MalformedResponse { http, reason };
    if body.len() >= upstream::MAX_BODY_BYTES {
        return Err(malformed(format!(
            "body larger than {} bytes",
            upstream::MAX_BODY_BYTES
        )));
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| malformed(scrub(&e.to_string())))?;
    match upstream::json_str(&json, &["data", "id"]) {
        Some(id) if !id.trim().is_empty() => Ok(()),
        _ => Err(malformed("no `data.id` string".to_owned())),
    }
}

/// Maps an error answer: Telnyx's code (and what it points at) first, the status after.
fn classify(http: u16, body: &[u8]) -> TelnyxMessagesError {
    use TelnyxMessagesError as E;
    let api = ApiError::from_body(http, body);
    match api.code.as_deref() {
        Some("10009" | "10010") => E::Credentials(api),
        Some("40013" | "40003") => E::From(api),
        Some("10001" | "10002" | "10016") if api.points_at("from") => E::From(api),
        Some("40300") => E::OptedOut(api),
        Some("10001" | "10002" | "10016" | "40001" | "40008" | "40012") => E::Undeliverable(api),
        Some("10011" | "40011") => E::RateLimited(api),
        _ => match http {
            401 | 403 => E::Credentials(api),
            429 => E::RateLimited(api),
            400..=499 => E::ClientError(api),
            500..=599 => E::ServerError(api),
            _ => E::UnexpectedStatus(api),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(base: &str, key: &str, from: &str) -> TelnyxMessagesConfig {
        TelnyxMessagesConfig {
            base_url: Url::parse(base).unwrap(),
            api_key: SecretString::from(key),
            from: from.to_owned(),
            timeout: Duration::from_secs(2),
        }
    }

    fn error_json(code: &str, pointer: Option<&str>) -> Vec<u8> {
        let mut error = serde_json::json!({"code": code, "title": "t", "detail": "d"});
        if let Some(pointer) = pointer {
            error["source"] = serde_json::json!({ "pointer": pointer });
        }
        serde_json::json!({ "errors": [error] })
            .to_string()
            .into_bytes()
    }

    /// An HTTP status, a Telnyx code, what it points at, and what the error must be.
    type Case = (
        u16,
        &'static str,
        Option<&'static str>,
        fn(&TelnyxMessagesError) -> bool,
    );

    #[test]
    fn error_codes_map_to_their_variants() {
        use TelnyxMessagesError as E;
        let cases: &[Case] = &[
            (401, "10009", None, |e| matches!(e, E::Credentials(_))),
            (403, "10010", None, |e| matches!(e, E::Credentials(_))),
            (400, "40013", None, |e| matches!(e, E::From(_))),
            (400, "10002", Some("/from"), |e| matches!(e, E::From(_))),
            (400, "10002", Some("/to"), |e| {
                matches!(e, E::Undeliverable(_))
            }),
            (400, "10002", None, |e| matches!(e, E::Undeliverable(_))),
            (422, "10016", None, |e| matches!(e, E::Undeliverable(_))),
            (403, "40300", None, |e| matches!(e, E::OptedOut(_))),
            (400, "40001", None, |e| matches!(e, E::Undeliverable(_))),
            (400, "40012", None, |e| matches!(e, E::Undeliverable(_))),
            (429, "10011", None, |e| matches!(e, E::RateLimited(_))),
            (400, "40011", None, |e| matches!(e, E::RateLimited(_))),
            (422, "10004", None, |e| matches!(e, E::ClientError(_))),
            (403, "12345", None, |e| matches!(e, E::Credentials(_))),
            (500, "10007", None, |e| matches!(e, E::ServerError(_))),
            (302, "1", None, |e| matches!(e, E::UnexpectedStatus(_))),
        ];
        for (http, code, pointer, expected) in cases {
            let e = classify(*http, &error_json(code, *pointer));
            assert!(expected(&e), "{http} {code} {pointer:?} gave {e:?}");
        }
        assert!(matches!(classify(429, b"slow down"), E::RateLimited(_)));
        assert!(matches!(classify(503, b"<html>"), E::ServerError(_)));
        assert!(matches!(classify(401, b""), E::Credentials(_)));
    }

    #[test]
    fn errors_map_onto_verify_errors_and_operator_faults_are_flagged() {
        let verify = |http, code: &str| VerifyError::from(classify(http, &error_json(code, None)));
        for (http, code) in [(400, "40300"), (400, "10002"), (400, "40001")] {
            assert!(
                matches!(verify(http, code), VerifyError::Refused(_)),
                "{code}"
            );
        }
        for (http, code) in [
            (401, "10009"),
            (400, "40013"),
            (429, "10011"),
            (500, "10007"),
            (422, "10004"),
        ] {
            assert!(
                matches!(verify(http, code), VerifyError::Unavailable(_)),
                "{code}"
            );
        }
        assert!(classify(401, b"").needs_operator());
        assert!(classify(400, &error_json("40013", None)).needs_operator());
        assert!(!classify(429, b"").needs_operator());
        assert!(!classify(400, &error_json("40300", None)).needs_operator());
    }

    #[test]
    fn a_success_needs_a_message_id() {
        assert_eq!(
            interpret(
                200,
                br#"{"data":{"id":"40385f64-5717-4562-b3fc-2c963f66afa6"}}"#
            ),
            Ok(())
        );
        for body in [
            &br#"{"data":{"id":""}}"#[..],
            br#"{"data":{"id":7}}"#,
            br#"{"data":{}}"#,
            br#"{"id":"x"}"#,
            b"<html>OK</html>",
            b"",
        ] {
            let got = interpret(200, body);
            assert!(
                matches!(got, Err(TelnyxMessagesError::MalformedResponse { .. })),
                "{got:?}"
            );
        }
        let mut big = br#"{"data":{"id":"x","padding":""#.to_vec();
        big.resize(upstream::MAX_BODY_BYTES, b'x');
        assert!(interpret(200, &big).is_err());
    }

    #[test]
    fn bad_configurations_are_refused() {
        let good = || config("https://api.telnyx.com", "KEYabc", "+15551230000");
        assert!(TelnyxMessages::new(good()).is_ok());
        for c in [
            config("https://api.telnyx.com", "", "+15551230000"),
            config("https://api.telnyx.com", "KEY abc", "+15551230000"),
            config("https://api.telnyx.com", "KEYabc", " "),
            config("http://api.telnyx.com", "KEYabc", "+15551230000"),
            config("https://u:p@api.telnyx.com", "KEYabc", "+15551230000"),
            config("mailto:ops@example.com", "KEYabc", "+15551230000"),
            TelnyxMessagesConfig {
                timeout: Duration::ZERO,
                ..good()
            },
        ] {
            assert!(TelnyxMessages::new(c.clone()).is_err(), "{c:?}");
        }
    }

    #[test]
    fn debug_never_shows_the_key_or_the_full_number() {
        let c = config("https://api.telnyx.com", "KEY-s3cr3t", "+15551230000");
        let sender = TelnyxMessages::new(c.clone()).unwrap();
        for text in [format!("{sender:?}"), format!("{c:?}")] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        assert!(!format!("{sender:?}").contains("5551230000"));
        assert_eq!(sender.name(), NAME);
        assert_eq!(sender.channels(), &[Channel::Sms]);
    }
}
