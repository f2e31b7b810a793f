//! The MessageBird (Bird) SMS sender: delivers the built-in engine's message with
//! `POST /messages` (JSON `originator`, `recipients` with the one number as MSISDN digits,
//! `body`) and `Authorization: AccessKey <key>`.
//!
//! A delivery succeeds only on a 2xx Message object with an `id` whose `recipients.items`
//! list the number with a status MessageBird uses for a message on its way (`scheduled`,
//! `sent`, `buffered`, `delivered`); a failed recipient is a refusal of the number, anything
//! else an outage. Errors map like the Verify client's ([`classify`] as a send). The message
//! text holds the code: it is never logged, and MessageBird's text is scrubbed.

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::verify::messagebird::{
    self as mb, MessageBirdError, Operation, classify, msisdn, parse_object, recipient_digits,
};
use crate::verify::sender::log_call;
use crate::verify::upstream;
use crate::verify::{Channel, Courier, VerifyError};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::SecretString;
use std::fmt;
use std::time::{Duration, Instant};
use url::Url;

/// The sender's name in logs and the banner.
pub const NAME: &str = "messagebird-messages";

/// Where and how to reach MessageBird's SMS API.
#[derive(Debug, Clone)]
pub struct MessageBirdMessagesConfig {
    /// The API's origin (`https://rest.messagebird.com`); the sender appends `/messages`.
    /// Plain `http` only to loopback.
    pub base_url: Url,
    /// The access key, sent as `Authorization: AccessKey <key>`.
    pub access_key: SecretString,
    /// The sender shown on the SMS: a number, or up to 11 letters, digits and spaces.
    pub originator: String,
    /// The whole-request timeout; the connect timeout is the smaller of this and 3 s.
    pub timeout: Duration,
}

/// The MessageBird SMS sender; cheap to share behind an `Arc`.
pub struct MessageBirdMessages {
    client: reqwest::Client,
    messages_url: Url,
    authorization: HeaderValue,
    originator: String,
    timeout: Duration,
}

impl fmt::Debug for MessageBirdMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageBirdMessages")
            .field("messages_url", &self.messages_url.as_str())
            .field("access_key", &"[redacted]")
            .field("originator", &self.originator)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl MessageBirdMessages {
    /// Checks the configuration (access key, originator, base URL, timeout) and builds the
    /// shared HTTP client; the error says what is wrong.
    pub fn new(config: MessageBirdMessagesConfig) -> Result<Self, String> {
        let MessageBirdMessagesConfig {
            base_url,
            access_key,
            originator,
            timeout,
        } = config;
        let authorization = mb::authorization(&access_key)?;
        mb::check_originator(&originator)?;
        if timeout.is_zero() {
            return Err("the timeout is zero".to_owned());
        }
        upstream::check_base_url(&base_url)?;
        let messages_url = upstream::endpoint(&base_url, &["messages"])?;
        let client = upstream::client(timeout)?;
        Ok(Self {
            client,
            messages_url,
            authorization,
            originator,
            timeout,
        })
    }

    /// The JSON body of `POST /messages`.
    pub fn message_body(&self, to: &PhoneNumber, text: &str) -> serde_json::Value {
        serde_json::json!({
            "originator": self.originator,
            "recipients": [msisdn(to)],
            "body": text,
        })
    }

    /// Posts one message, with MessageBird's own error; the HTTP status if an answer came.
    async fn post(
        &self,
        to: &PhoneNumber,
        text: &str,
    ) -> (Option<u16>, Result<(), MessageBirdError>) {
        let request = self
            .client
            .post(self.messages_url.clone())
            .header(AUTHORIZATION, self.authorization.clone())
            .json(&self.message_body(to, text));
        match upstream::exchange(request, self.timeout).await {
            Ok(answer) => (
                Some(answer.http),
                interpret_message(answer.http, &answer.body, msisdn(to)),
            ),
            Err(e) => (None, Err(mb::transport_error(e))),
        }
    }
}

impl Courier for MessageBirdMessages {
    fn deliver<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
        _code: &'a Code,
        channel: Channel,
    ) -> BoxFuture<'a, Result<(), VerifyError>> {
        Box::pin(async move {
            if channel != Channel::Sms {
                return Err(VerifyError::Refused(format!(
                    "{NAME} cannot deliver by {channel}"
                )));
            }
            let started = Instant::now();
            let (http_status, result) = self.post(to, text).await;
            let needs_operator = result
                .as_ref()
                .err()
                .is_some_and(MessageBirdError::needs_operator);
            let result = result.map_err(VerifyError::from);
            log_call(
                NAME,
                to,
                http_status,
                upstream::elapsed_ms(started),
                &result,
                needs_operator,
            );
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

/// Recipient statuses of a message on its way.
const UNDER_WAY: &[&str] = &["scheduled", "sent", "buffered", "delivered"];
/// Recipient statuses of a message that will not arrive.
const FAILED: &[&str] = &["delivery_failed", "expired"];

/// A message is accepted on a 2xx Message object with a non-empty string `id` whose
/// `recipients.items` hold `recipient` (digits) with a status of a message on its way.
pub fn interpret_message(http: u16, body: &[u8], recipient: &str) -> Result<(), MessageBirdError> {
    if !(200..300).contains(&http) {
        return Err(match classify(Operation::Send, http, body) {
            // The SMS API's 429 throttles the account, not this number: an outage to the
            // caller, not "too many codes for your number".
            MessageBirdError::TooManySends(api) => MessageBirdError::RateLimited(api),
            other => other,
        });
    }
    let malformed = |reason: &str| MessageBirdError::MalformedResponse {
        http,
        reason: reason.to_owned(),
    };
    let map = parse_object(http, body)?;
    if map
        .get("id")
        .and_then(serde_json::Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(malformed("no message id"));
    }
    let items = map
        .get("recipients")
        .and_then(|r| r.get("items"))
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| malformed("no recipients.items list"))?;
    let ours = items
        .iter()
        .find(|item| recipient_digits(item.get("recipient")).as_deref() == Some(recipient))
        .ok_or(MessageBirdError::Mismatch { what: "recipient" })?;
    let status = ours
        .get("status")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed("no recipient status"))?;
    if UNDER_WAY.contains(&status) {
        Ok(())
    } else if FAILED.contains(&status) {
        Err(MessageBirdError::InvalidRecipient(mb::ApiError {
            http,
            code: None,
            description: Some(format!("recipient status {status}")),
            parameter: Some("recipients".to_owned()),
        }))
    } else {
        Err(MessageBirdError::UnexpectedVerificationStatus {
            operation: Operation::Send,
            status: mb::scrub(status),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADA: &str = "15551230001";

    fn config() -> MessageBirdMessagesConfig {
        MessageBirdMessagesConfig {
            base_url: Url::parse("https://rest.messagebird.com").unwrap(),
            access_key: SecretString::from("live_s3cr3tk3yvalue"),
            originator: "Bridge".to_owned(),
            timeout: Duration::from_secs(2),
        }
    }

    fn message(recipient: serde_json::Value, status: &str) -> Vec<u8> {
        serde_json::json!({
            "id": "6fe65f90454aa61536e6a88b88972670",
            "href": "https://rest.messagebird.com/messages/6fe65f90454aa61536e6a88b88972670",
            "direction": "mt",
            "type": "sms",
            "originator": "Bridge",
            "body": "123456 is your code",
            "recipients": {
                "totalCount": 1,
                "totalSentCount": 1,
                "totalDeliveredCount": 0,
                "totalDeliveryFailedCount": 0,
                "items": [{"recipient": recipient, "status": status,
                           "statusDatetime": "2022-01-05T10:02:59+00:00",
                           "messagePartCount": 1}]
            }
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_message_is_accepted_only_when_on_its_way_to_the_number() {
        let num = || serde_json::json!(15551230001_u64);
        for status in ["sent", "scheduled", "buffered", "delivered"] {
            assert_eq!(interpret_message(201, &message(num(), status), ADA), Ok(()));
        }
        assert_eq!(
            interpret_message(200, &message(ADA.into(), "sent"), ADA),
            Ok(())
        );
        for status in ["delivery_failed", "expired"] {
            assert!(matches!(
                interpret_message(201, &message(num(), status), ADA).map_err(VerifyError::from),
                Err(VerifyError::Refused(_))
            ));
        }
        for (http, body) in [
            (201, message(num(), "weird")),
            (201, message("15551230002".into(), "sent")),
            (201, message(serde_json::Value::Null, "sent")),
            (201, br#"{"id":"x"}"#.to_vec()),
            (
                201,
                br#"{"id":"","recipients":{"items":[{"recipient":15551230001,"status":"sent"}]}}"#
                    .to_vec(),
            ),
            (
                201,
                br#"{"recipients":{"items":[{"recipient":15551230001,"status":"sent"}]}}"#.to_vec(),
            ),
            (
                201,
                br#"{"id":"x","recipients":{"items":[{"recipient":15551230001}]}}"#.to_vec(),
            ),
            (201, b"<html>ok</html>".to_vec()),
            (201, Vec::new()),
        ] {
            let got = interpret_message(http, &body, ADA);
            assert!(
                matches!(
                    got.clone().map_err(VerifyError::from),
                    Err(VerifyError::Unavailable(_))
                ),
                "{http} {} gave {got:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn errors_map_like_a_verify_send() {
        let of = |http: u16, code: u32, parameter: Option<&str>| {
            let body = serde_json::json!({"errors": [
                {"code": code, "description": "x", "parameter": parameter}]});
            interpret_message(http, body.to_string().as_bytes(), ADA).unwrap_err()
        };
        assert!(matches!(of(401, 2, None), MessageBirdError::Credentials(_)));
        assert!(matches!(
            of(422, 9, Some("recipient")),
            MessageBirdError::InvalidRecipient(_)
        ));
        assert!(matches!(
            of(422, 10, Some("originator")),
            MessageBirdError::InvalidParameter(_)
        ));
        assert!(matches!(
            VerifyError::from(of(429, 10, None)),
            VerifyError::Unavailable(_)
        ));
        assert!(matches!(
            interpret_message(500, b"", ADA),
            Err(MessageBirdError::ServerError(_))
        ));
    }

    #[test]
    fn the_request_body_has_the_spec_fields() {
        let sender = MessageBirdMessages::new(config()).unwrap();
        let to = PhoneNumber::parse("+15551230001").unwrap();
        assert_eq!(
            sender.message_body(&to, "123456 is your code"),
            serde_json::json!({
                "originator": "Bridge",
                "recipients": ["15551230001"],
                "body": "123456 is your code",
            })
        );
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(MessageBirdMessages::new(config()).is_ok());
        for c in [
            MessageBirdMessagesConfig {
                access_key: SecretString::from(""),
                ..config()
            },
            MessageBirdMessagesConfig {
                originator: String::new(),
                ..config()
            },
            MessageBirdMessagesConfig {
                originator: "Bridgekeeper1".to_owned(),
                ..config()
            },
            MessageBirdMessagesConfig {
                timeout: Duration::ZERO,
                ..config()
            },
            MessageBirdMessagesConfig {
                base_url: Url::parse("http://rest.messagebird.com").unwrap(),
                ..config()
            },
        ] {
            assert!(MessageBirdMessages::new(c).is_err());
        }
    }

    #[test]
    fn debug_never_shows_the_access_key() {
        let c = config();
        let sender = MessageBirdMessages::new(c.clone()).unwrap();
        for text in [
            format!("{sender:?}"),
            format!("{sender:#?}"),
            format!("{c:?}"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        assert_eq!(sender.name(), "messagebird-messages");
        assert_eq!(sender.channels(), &[Channel::Sms]);
    }
}
