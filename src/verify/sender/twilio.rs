//! The Twilio Messages sender (`BRIDGEKEEPER_SENDER=twilio`): posts the built-in engine's text
//! to Twilio's Programmable Messaging API and maps every answer onto a [`VerifyError`].
//!
//! One call: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP Basic auth
//! (account SID and auth token) and the form `To`, `From` (or `MessagingServiceSid`, when the
//! configured sender is a Messaging Service SID) and `Body`. Twilio answers 201 with the
//! Message resource; the text is on its way only when its `status` says so (`queued`,
//! `accepted`, `scheduled`, `sending`, `sent`, `delivered`). A `failed` or `undelivered`
//! message, and Twilio's codes about the number (not a valid number, not a mobile, opted
//! out, not reachable, not permitted, carrier refusals), are [`VerifyError::Refused`];
//! credentials, the sender, throttling and outages are [`VerifyError::Unavailable`].
//!
//! Twilio echoes the `To` number in some messages: every text from Twilio goes through
//! [`scrub`] before it reaches an error or a log line, and the body (which holds the code) is
//! never logged.

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::verify::twilio::ApiError;
use crate::verify::upstream::{self, TransportError, scrub};
use crate::verify::{Channel, Courier, VerifyError};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::{Duration, Instant};
use url::Url;

/// Twilio's production REST API (the Messages API lives under `/2010-04-01/…`).
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The default whole-request timeout: well inside the 15 s Twilio waits for our webhook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The name in logs and the banner.
pub const NAME: &str = "twilio-messages";

const MAX_BODY_BYTES: usize = upstream::MAX_BODY_BYTES;

/// Where and how to reach Twilio's Messages API.
#[derive(Debug, Clone)]
pub struct TwilioMessagesConfig {
    /// The API's origin (`https://api.twilio.com`, `TWILIO_API_BASE_URL`); tests point it at
    /// a fake. Plain `http` is accepted only for loopback hosts.
    pub base_url: Url,
    /// The Account SID (`AC…`): the Basic auth user name and the account in the path.
    pub account_sid: String,
    /// The auth token: the Basic auth password.
    pub auth_token: SecretString,
    /// The sender (`TWILIO_FROM_NUMBER`): a Twilio number in E.164, a short code or an
    /// alphanumeric sender ID, sent as `From`; or a Messaging Service SID (`MG` and 32 hex
    /// digits), sent as `MessagingServiceSid`.
    pub from: String,
    /// The whole-request timeout; the connect timeout is the smaller of this and 3 s.
    pub timeout: Duration,
}

impl TwilioMessagesConfig {
    /// A configuration for Twilio's production API with [`DEFAULT_TIMEOUT`].
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: SecretString,
        from: impl Into<String>,
    ) -> Self {
        Self {
            base_url: default_base_url(),
            account_sid: account_sid.into(),
            auth_token,
            from: from.into(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// [`DEFAULT_BASE_URL`] as a [`Url`].
pub fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("the default base URL parses"))
}

/// Why a message was not sent, as precisely as Twilio said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioMessagesError {
    /// 21211: Twilio says `To` is not a valid phone number.
    #[error("Twilio says the number is not a valid phone number ({0})")]
    InvalidTo(ApiError),
    /// 21614: `To` is not a mobile number (a landline cannot get a text).
    #[error("Twilio says the number is not a mobile number ({0})")]
    NotMobile(ApiError),
    /// 21610: the recipient replied STOP to this sender.
    #[error("the recipient has opted out of messages from this sender ({0})")]
    OptedOut(ApiError),
    /// 21408, 21612: the account may not text this number's region, or the number cannot be
    /// reached by SMS from this sender.
    #[error("Twilio may not or cannot text this number ({0})")]
    NotPermitted(ApiError),
    /// 30xxx (other than 30001 and 30002): a carrier or handset refused the message.
    #[error("Twilio could not deliver to this number ({0})")]
    Undeliverable(ApiError),
    /// 21212, 21603, 21606, 21659, 21660, 21701: the configured sender (`From` or the
    /// Messaging Service) is missing, not the account's, or cannot send; the operator must
    /// fix `TWILIO_FROM_NUMBER`.
    #[error("Twilio refused the sender; check the from number or Messaging Service ({0})")]
    Sender(ApiError),
    /// 20404: the account in the path does not exist for these credentials.
    #[error("the Twilio account was not found; check the account SID ({0})")]
    AccountNotFound(ApiError),
    /// 30002: the account is suspended.
    #[error("the Twilio account is suspended ({0})")]
    AccountSuspended(ApiError),
    /// 401, 403 or 20003: Twilio refused the credentials; the operator must fix them.
    #[error("Twilio refused the credentials; check the account SID and auth token ({0})")]
    Credentials(ApiError),
    /// 20429, 30001 (queue overflow) or any other HTTP 429: Twilio is throttling the account.
    #[error("rate limited by Twilio ({0})")]
    RateLimited(ApiError),
    /// Any other 4xx.
    #[error("Twilio rejected the request ({0})")]
    ClientError(ApiError),
    /// Any 5xx.
    #[error("Twilio failed ({0})")]
    ServerError(ApiError),
    /// A status that is neither an error nor a success (1xx, 3xx).
    #[error("unexpected answer from Twilio ({0})")]
    UnexpectedStatus(ApiError),
    /// No complete answer within the configured timeout.
    #[error("no answer from Twilio within {0:?}")]
    Timeout(Duration),
    /// Twilio could not be reached (DNS, TCP, TLS).
    #[error("could not connect to Twilio: {0}")]
    Connect(String),
    /// The connection failed after it was made.
    #[error("HTTP error talking to Twilio: {0}")]
    Transport(String),
    /// A success status whose body is not a Message with a string `status`.
    #[error("malformed answer from Twilio (HTTP {http}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        http: u16,
        /// What was wrong with the body (scrubbed).
        reason: String,
    },
    /// The message was created `failed` or `undelivered`.
    #[error("Twilio says the message is {status}{}", failure_detail(.error_code, .error_message))]
    MessageFailed {
        /// The status Twilio gave.
        status: String,
        /// The Message's `error_code`, if any.
        error_code: Option<u32>,
        /// The Message's `error_message`, scrubbed, if any.
        error_message: Option<String>,
    },
    /// A Message status that is neither on its way nor failed (`canceled`, `received`…).
    #[error("Twilio answered with message status {status:?}")]
    UnexpectedMessageStatus {
        /// The status Twilio gave (scrubbed).
        status: String,
    },
    /// Asked for a channel other than SMS: the configuration should have refused it.
    #[error("the Twilio Messages sender sends SMS only, not {0}")]
    Channel(Channel),
}

/// ` (Twilio error 30006: …)` after a failed message's status, when Twilio said why.
fn failure_detail(code: &Option<u32>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(" (Twilio error {code}: {message})"),
        (Some(code), None) => format!(" (Twilio error {code})"),
        (None, Some(message)) => format!(" ({message})"),
        (None, None) => String::new(),
    }
}

impl TwilioMessagesError {
    /// Whether only the operator can fix this (credentials, account, sender, channel).
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Self::Credentials(_)
                | Self::AccountNotFound(_)
                | Self::AccountSuspended(_)
                | Self::Sender(_)
                | Self::Channel(_)
        )
    }
}

impl From<TwilioMessagesError> for VerifyError {
    fn from(e: TwilioMessagesError) -> Self {
        use TwilioMessagesError as T;
        match e {
            T::InvalidTo(_)
            | T::NotMobile(_)
            | T::OptedOut(_)
            | T::NotPermitted(_)
            | T::Undeliverable(_)
            | T::MessageFailed { .. } => Self::Refused(e.to_string()),
            T::Sender(_)
            | T::AccountNotFound(_)
            | T::AccountSuspended(_)
            | T::Credentials(_)
            | T::RateLimited(_)
            | T::ClientError(_)
            | T::ServerError(_)
            | T::UnexpectedStatus(_)
            | T::Timeout(_)
            | T::Connect(_)
            | T::Transport(_)
            | T::MalformedResponse { .. }
            | T::UnexpectedMessageStatus { .. }
            | T::Channel(_) => Self::Unavailable(e.to_string()),
        }
    }
}

/// Who the message is from, as the form says it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sender {
    /// `From`: a number, a short code or an alphanumeric sender ID.
    From(String),
    /// `MessagingServiceSid`: Twilio picks a sender from the service's pool.
    Service(String),
}

impl Sender {
    fn of(from: String) -> Self {
        if looks_like_messaging_service_sid(&from) {
            Self::Service(from)
        } else {
            Self::From(from)
        }
    }

    fn field(&self) -> (&'static str, &str) {
        match self {
            Self::From(from) => ("From", from),
            Self::Service(sid) => ("MessagingServiceSid", sid),
        }
    }
}

/// The Twilio Messages sender. Holds one connection-pooling HTTP client; cheap to share
/// behind an `Arc`.
pub struct TwilioMessages {
    client: reqwest::Client,
    url: Url,
    account_sid: String,
    auth_token: SecretString,
    sender: Sender,
    timeout: Duration,
}

impl fmt::Debug for TwilioMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (field, sender) = self.sender.field();
        f.debug_struct("TwilioMessages")
            .field("url", &self.url.as_str())
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field(field, &sender)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TwilioMessages {
    /// Checks the configuration and builds the shared HTTP client; the error names what is
    /// wrong (never the token).
    pub fn new(config: TwilioMessagesConfig) -> Result<Self, String> {
        let TwilioMessagesConfig {
            base_url,
            account_sid,
            auth_token,
            from,
            timeout,
        } = config;
        let refuse = |why: &str| Err(why.to_owned());
        if account_sid.is_empty() {
            return refuse("the account SID is empty");
        }
        if account_sid.contains(':') {
            return refuse("the account SID contains ':', which Basic auth cannot carry");
        }
        if account_sid == "." || account_sid == ".." {
            return refuse("the account SID cannot be '.' or '..'");
        }
        if auth_token.expose_secret().is_empty() {
            return refuse("the auth token is empty");
        }
        if from.trim().is_empty() {
            return refuse("the from number (or Messaging Service SID) is empty");
        }
        if from.chars().any(char::is_control) {
            return refuse("the from number contains a control character");
        }
        upstream::check_base_url(&base_url)?;
        if !looks_like_account_sid(&account_sid) {
            tracing::warn!(
                event = "verify.config_warning",
                sender = NAME,
                "the account SID does not look like AC followed by 32 hex digits; using it anyway"
            );
        }
        let url = endpoint(&base_url, &account_sid)?;
        let client = upstream::client(timeout)?;
        Ok(Self {
            client,
            url,
            account_sid,
            auth_token,
            sender: Sender::of(from),
            timeout,
        })
    }

    /// Texts `body` to `to`, with Twilio's own error; logs the call (never the body).
    pub async fn send_message(
        &self,
        to: &PhoneNumber,
        body: &str,
    ) -> Result<(), TwilioMessagesError> {
        let started = Instant::now();
        let (sender_field, sender) = self.sender.field();
        let form = [("To", to.as_e164()), (sender_field, sender), ("Body", body)];
        let request = self
            .client
            .post(self.url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(&form);
        let exchanged = upstream::exchange(request, self.timeout).await;
        let elapsed_ms = upstream::elapsed_ms(started);
        let http_status = exchanged.as_ref().ok().map(|answer| answer.http);
        let result = match exchanged {
            Ok(answer) => interpret_send(answer.http, &answer.body),
            Err(TransportError::Timeout(t)) => Err(TwilioMessagesError::Timeout(t)),
            Err(TransportError::Connect(why)) => Err(TwilioMessagesError::Connect(why)),
            Err(TransportError::Transport(why)) => Err(TwilioMessagesError::Transport(why)),
        };
        log(to, http_status, elapsed_ms, &result);
        result
    }
}

/// One log line per call, through the senders' one way of logging.
fn log(
    to: &PhoneNumber,
    http_status: Option<u16>,
    elapsed_ms: u64,
    result: &Result<(), TwilioMessagesError>,
) {
    let needs_operator = result
        .as_ref()
        .err()
        .is_some_and(TwilioMessagesError::needs_operator);
    let verify = result.clone().map_err(VerifyError::from);
    super::log_call(NAME, to, http_status, elapsed_ms, &verify, needs_operator);
}

impl Courier for TwilioMessages {
    fn deliver<'a>(
        &'a self,
        to: &'a PhoneNumber,
        text: &'a str,
        _code: &'a Code,
        channel: Channel,
    ) -> BoxFuture<'a, Result<(), VerifyError>> {
        Box::pin(async move {
            if channel != Channel::Sms {
                let result = Err(TwilioMessagesError::Channel(channel));
                log(to, None, 0, &result);
                return result.map_err(VerifyError::from);
            }
            Ok(self.send_message(to, text).await?)
        })
    }

    fn name(&self) -> &'static str {
        NAME
    }

    fn channels(&self) -> &'static [Channel] {
        &[Channel::Sms]
    }
}

/// The part of a Message resource that decides anything.
#[derive(serde::Deserialize)]
struct Resource {
    status: String,
    #[serde(default)]
    error_code: Option<serde_json::Value>,
    #[serde(default)]
    error_message: Option<serde_json::Value>,
}

/// A send succeeds on a 2xx whose Message is on its way; a failed one is refused.
fn interpret_send(http: u16, body: &[u8]) -> Result<(), TwilioMessagesError> {
    if !(200..300).contains(&http) {
        return Err(classify(http, body));
    }
    let malformed = |reason: String| TwilioMessagesError::MalformedResponse { http, reason };
    if body.len() >= MAX_BODY_BYTES {
        return Err(malformed(format!(
            "body larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    // A JSON object (a derived `Deserialize` would also take an array, `["queued"]`, for a
    // struct) with one string `status` (the derived one refuses a repeated field).
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| malformed(scrub(&e.to_string())))?;
    if !json.is_object() {
        return Err(malformed("not a JSON object".to_owned()));
    }
    let resource: Resource =
        serde_json::from_slice(body).map_err(|e| malformed(scrub(&e.to_string())))?;
    match resource.status.as_str() {
        "queued" | "accepted" | "scheduled" | "sending" | "sent" | "delivered" => Ok(()),
        "failed" | "undelivered" => Err(TwilioMessagesError::MessageFailed {
            error_code: resource
                .error_code
                .as_ref()
                .and_then(number)
                .and_then(|c| u32::try_from(c).ok()),
            error_message: resource
                .error_message
                .as_ref()
                .and_then(serde_json::Value::as_str)
                .map(scrub),
            status: resource.status,
        }),
        other => Err(TwilioMessagesError::UnexpectedMessageStatus {
            status: scrub(other),
        }),
    }
}

/// A JSON number, or a string of digits (Twilio has written both for codes).
fn number(value: &serde_json::Value) -> Option<u64> {
    value
        .as_u64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// Reads Twilio's error JSON; a body that is not that leaves only the HTTP status.
fn api_error(http: u16, body: &[u8]) -> ApiError {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
    ApiError {
        http,
        code: field("code")
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u32::try_from(c).ok()),
        message: field("message")
            .and_then(serde_json::Value::as_str)
            .map(scrub),
    }
}

/// Maps an error answer. Twilio's code decides first, then the HTTP status.
fn classify(http: u16, body: &[u8]) -> TwilioMessagesError {
    use TwilioMessagesError as E;
    let api = api_error(http, body);
    match api.code {
        Some(21211) => E::InvalidTo(api),
        Some(21614) => E::NotMobile(api),
        Some(21610) => E::OptedOut(api),
        Some(21408 | 21612) => E::NotPermitted(api),
        Some(21212 | 21603 | 21606 | 21659 | 21660 | 21701) => E::Sender(api),
        Some(20003) => E::Credentials(api),
        Some(20404) => E::AccountNotFound(api),
        Some(20429 | 30001) => E::RateLimited(api),
        Some(30002) => E::AccountSuspended(api),
        Some(30000..=30999) => E::Undeliverable(api),
        _ => match http {
            401 | 403 => E::Credentials(api),
            429 => E::RateLimited(api),
            400..=499 => E::ClientError(api),
            500..=599 => E::ServerError(api),
            _ => E::UnexpectedStatus(api),
        },
    }
}

/// `MG` and 32 hex digits, the spec's pattern for a Messaging Service SID.
fn looks_like_messaging_service_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("MG") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `AC` and 32 hex digits, the spec's pattern for an account SID.
fn looks_like_account_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `{base}/2010-04-01/Accounts/{account_sid}/Messages.json`, the SID as one percent-encoded
/// segment.
fn endpoint(base: &Url, account_sid: &str) -> Result<Url, String> {
    upstream::endpoint(
        base,
        &["2010-04-01", "Accounts", account_sid, "Messages.json"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SERVICE: &str = "MGaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn config(base: &str, from: &str) -> TwilioMessagesConfig {
        TwilioMessagesConfig {
            base_url: Url::parse(base).unwrap(),
            account_sid: ACCOUNT.to_owned(),
            auth_token: SecretString::from("s3cr3t-t0ken-value"),
            from: from.to_owned(),
            timeout: Duration::from_secs(2),
        }
    }

    fn error_json(code: u32, message: &str, http: u16) -> Vec<u8> {
        serde_json::json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": http,
        })
        .to_string()
        .into_bytes()
    }

    fn classified(http: u16, code: u32) -> TwilioMessagesError {
        classify(http, &error_json(code, "whatever", http))
    }

    /// An HTTP status, a Twilio code, and what the error must be.
    type Case = (u16, u32, fn(&TwilioMessagesError) -> bool);

    #[test]
    fn error_codes_map_to_their_variants() {
        use TwilioMessagesError as E;
        let cases: &[Case] = &[
            (400, 21211, |e| matches!(e, E::InvalidTo(_))),
            (400, 21614, |e| matches!(e, E::NotMobile(_))),
            (400, 21610, |e| matches!(e, E::OptedOut(_))),
            (400, 21408, |e| matches!(e, E::NotPermitted(_))),
            (400, 21612, |e| matches!(e, E::NotPermitted(_))),
            (400, 30003, |e| matches!(e, E::Undeliverable(_))),
            (400, 30007, |e| matches!(e, E::Undeliverable(_))),
            (400, 21606, |e| matches!(e, E::Sender(_))),
            (400, 21212, |e| matches!(e, E::Sender(_))),
            (400, 21603, |e| matches!(e, E::Sender(_))),
            (400, 21701, |e| matches!(e, E::Sender(_))),
            (401, 20003, |e| matches!(e, E::Credentials(_))),
            (403, 20403, |e| matches!(e, E::Credentials(_))),
            (404, 20404, |e| matches!(e, E::AccountNotFound(_))),
            (429, 20429, |e| matches!(e, E::RateLimited(_))),
            (429, 30001, |e| matches!(e, E::RateLimited(_))),
            (400, 30002, |e| matches!(e, E::AccountSuspended(_))),
            (429, 12345, |e| matches!(e, E::RateLimited(_))),
            (400, 21602, |e| matches!(e, E::ClientError(_))),
            (400, 21617, |e| matches!(e, E::ClientError(_))),
            (500, 20500, |e| matches!(e, E::ServerError(_))),
            (302, 20001, |e| matches!(e, E::UnexpectedStatus(_))),
        ];
        for (http, code, expected) in cases {
            let e = classified(*http, *code);
            assert!(expected(&e), "{http} {code} gave {e:?}");
        }
    }

    #[test]
    fn twilio_errors_map_onto_verify_errors() {
        let of = |http, code| VerifyError::from(classified(http, code));
        for (http, code) in [
            (400, 21211),
            (400, 21614),
            (400, 21610),
            (400, 21408),
            (400, 21612),
            (400, 30005),
        ] {
            assert!(
                matches!(of(http, code), VerifyError::Refused(_)),
                "{http} {code}"
            );
        }
        for (http, code) in [
            (400, 21606),
            (401, 20003),
            (404, 20404),
            (429, 20429),
            (429, 30001),
            (400, 30002),
            (400, 21602),
            (500, 20500),
            (503, 1),
            (302, 1),
        ] {
            assert!(
                matches!(of(http, code), VerifyError::Unavailable(_)),
                "{http} {code}"
            );
        }
        for e in [
            TwilioMessagesError::Timeout(Duration::from_secs(1)),
            TwilioMessagesError::Connect("refused".to_owned()),
            TwilioMessagesError::Transport("reset".to_owned()),
            TwilioMessagesError::MalformedResponse {
                http: 201,
                reason: "x".to_owned(),
            },
            TwilioMessagesError::Channel(Channel::Voice),
        ] {
            assert!(matches!(VerifyError::from(e), VerifyError::Unavailable(_)));
        }
    }

    #[test]
    fn only_configuration_faults_need_the_operator() {
        for (http, code, operator) in [
            (401, 20003, true),
            (403, 1, true),
            (404, 20404, true),
            (400, 30002, true),
            (400, 21606, true),
            (400, 21211, false),
            (429, 20429, false),
            (500, 20500, false),
        ] {
            assert_eq!(
                classified(http, code).needs_operator(),
                operator,
                "{http} {code}"
            );
        }
        assert!(TwilioMessagesError::Channel(Channel::Voice).needs_operator());
    }

    #[test]
    fn a_body_that_is_not_twilio_json_falls_back_to_the_status() {
        use TwilioMessagesError as E;
        for (http, body) in [
            (503, &b"<html>Service Unavailable</html>"[..]),
            (502, b""),
            (500, b"{\"code\": \"sixty\"}"),
        ] {
            let e = classify(http, body);
            assert!(
                matches!(&e, E::ServerError(api) if api.code.is_none() && api.message.is_none()),
                "{e:?}"
            );
        }
        assert!(matches!(classify(429, b"slow down"), E::RateLimited(_)));
        assert!(matches!(classify(401, b""), E::Credentials(_)));
        assert!(matches!(classify(403, b"Forbidden"), E::Credentials(_)));
        assert!(matches!(classify(418, b"teapot"), E::ClientError(_)));
    }

    #[test]
    fn a_message_on_its_way_is_a_success() {
        for status in [
            "queued",
            "accepted",
            "scheduled",
            "sending",
            "sent",
            "delivered",
        ] {
            let body = serde_json::json!({"sid": "SM1", "status": status}).to_string();
            assert_eq!(interpret_send(201, body.as_bytes()), Ok(()), "{status}");
        }
        assert_eq!(interpret_send(200, br#"{"status":"queued"}"#), Ok(()));
    }

    #[test]
    fn a_failed_message_is_refused_with_its_error() {
        let e = interpret_send(
            201,
            br#"{"status":"failed","error_code":30006,"error_message":"Landline +15551230001"}"#,
        )
        .unwrap_err();
        assert_eq!(
            e,
            TwilioMessagesError::MessageFailed {
                status: "failed".to_owned(),
                error_code: Some(30006),
                error_message: Some("Landline +1555•••0001".to_owned()),
            }
        );
        assert!(!e.to_string().contains("5551230001"), "{e}");
        assert!(matches!(VerifyError::from(e), VerifyError::Refused(_)));
        let e = interpret_send(201, br#"{"status":"undelivered","error_code":"30003"}"#);
        assert!(
            matches!(
                &e,
                Err(TwilioMessagesError::MessageFailed {
                    error_code: Some(30003),
                    ..
                })
            ),
            "{e:?}"
        );
    }

    #[test]
    fn a_success_status_without_a_message_is_malformed_or_unexpected() {
        for (http, body) in [
            (201, &b""[..]),
            (201, b"<html>ok</html>"),
            (201, br#"{"sid":"SM1"}"#),
            (201, br#"{"status":null}"#),
            (201, br#"{"status":7}"#),
            (201, br#""queued""#),
            (201, br#"[{"status":"queued"}]"#),
            (201, br#"["queued"]"#),
            (201, br#"{"status":"failed","status":"queued"}"#),
        ] {
            let e = interpret_send(http, body).unwrap_err();
            assert!(
                matches!(e, TwilioMessagesError::MalformedResponse { http: 201, .. }),
                "{body:?} gave {e:?}"
            );
        }
        for status in ["canceled", "received", "QUEUED", "queued ", ""] {
            let body = serde_json::json!({ "status": status }).to_string();
            let e = interpret_send(201, body.as_bytes()).unwrap_err();
            assert!(
                matches!(e, TwilioMessagesError::UnexpectedMessageStatus { .. }),
                "{status:?} gave {e:?}"
            );
            assert!(matches!(VerifyError::from(e), VerifyError::Unavailable(_)));
        }
        let mut body = br#"{"status":"queued","padding":""#.to_vec();
        body.resize(MAX_BODY_BYTES, b'x');
        assert!(matches!(
            interpret_send(201, &body),
            Err(TwilioMessagesError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn upstream_messages_reach_errors_scrubbed() {
        let e = classify(
            400,
            &error_json(21211, "Invalid 'To' Phone Number: +15551230001", 400),
        );
        let verify = VerifyError::from(e.clone());
        for text in [e.to_string(), format!("{e:?}"), verify.to_string()] {
            assert!(!text.contains("5551230001"), "{text}");
        }
        let status = interpret_send(201, br#"{"status":"sent to +15551230001"}"#).unwrap_err();
        assert!(!status.to_string().contains("5551230001"), "{status}");
    }

    #[test]
    fn the_sender_is_a_number_or_a_messaging_service() {
        assert_eq!(
            Sender::of(SERVICE.to_owned()).field(),
            ("MessagingServiceSid", SERVICE)
        );
        for from in [
            "+15551230000",
            "Bridge",
            "12345",
            "MGnot-a-service",
            "MG123",
        ] {
            assert_eq!(Sender::of(from.to_owned()).field(), ("From", from));
        }
    }

    #[test]
    fn urls_keep_an_odd_account_sid_inside_one_segment() {
        let base = Url::parse("https://api.twilio.com").unwrap();
        assert_eq!(
            endpoint(&base, ACCOUNT).unwrap().as_str(),
            format!("https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json")
        );
        let odd = "AC/../x?y=1#z";
        let url = endpoint(&base, odd).unwrap();
        let segments: Vec<_> = url.path_segments().unwrap().collect();
        assert_eq!(segments.len(), 4, "{url}");
        assert_eq!(segments[3], "Messages.json");
        assert_eq!(
            percent_encoding::percent_decode_str(segments[2])
                .decode_utf8()
                .unwrap(),
            odd
        );
        assert_eq!(url.query(), None);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let good = || config("https://api.twilio.com", "+15551230000");
        assert!(TwilioMessages::new(good()).is_ok());
        let refused = |c: TwilioMessagesConfig| TwilioMessages::new(c).is_err();
        for sid in ["", "AC:x", ".", ".."] {
            assert!(
                refused(TwilioMessagesConfig {
                    account_sid: sid.to_owned(),
                    ..good()
                }),
                "{sid:?}"
            );
        }
        assert!(refused(TwilioMessagesConfig {
            auth_token: SecretString::from(""),
            ..good()
        }));
        assert!(refused(TwilioMessagesConfig {
            timeout: Duration::ZERO,
            ..good()
        }));
        for from in ["", "  ", "+1555\n"] {
            assert!(refused(config("https://api.twilio.com", from)), "{from:?}");
        }
        for base in [
            "http://api.twilio.com",
            "ftp://127.0.0.1",
            "mailto:ops@example.com",
            "https://user:pass@api.twilio.com",
        ] {
            assert!(refused(config(base, "+15551230000")), "{base}");
        }
        for base in ["http://127.0.0.1:9", "http://localhost:9"] {
            assert!(!refused(config(base, "+15551230000")), "{base}");
        }
        let e = TwilioMessages::new(TwilioMessagesConfig {
            auth_token: SecretString::from(""),
            ..good()
        })
        .unwrap_err();
        assert!(e.contains("auth token"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = config("https://api.twilio.com", SERVICE);
        let sender = TwilioMessages::new(c.clone()).unwrap();
        for text in [
            format!("{sender:?}"),
            format!("{sender:#?}"),
            format!("{c:?}"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        assert!(format!("{sender:?}").contains("MessagingServiceSid"));
        assert_eq!(sender.name(), "twilio-messages");
        assert_eq!(sender.channels(), &[Channel::Sms]);
    }

    #[test]
    fn the_default_config_points_at_twilio() {
        let c = TwilioMessagesConfig::new(ACCOUNT, SecretString::from("t"), "+15551230000");
        assert_eq!(c.base_url.as_str(), "https://api.twilio.com/");
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    }
}
