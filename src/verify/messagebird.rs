//! The MessageBird (Bird) Verify client: starts a verification (MessageBird makes the code and
//! texts it, or speaks it in a call) and checks what the caller typed, over MessageBird's REST
//! API, mapping every answer and failure onto [`VerifyError`].
//!
//! Only `POST /verify` (JSON: `recipient` as MSISDN digits without `+`, `type` `sms` or `tts`,
//! a `template` holding `%token`, `tokenLength` 6, `timeout` 600, and `originator` when
//! configured) and `GET /verify/{id}?token=CODE` are used, with `Authorization: AccessKey
//! <key>`. Every `POST /verify` starts a new verification with a new id and code, so the id of
//! the newest send is the [`Receipt`], and the check is made against that id.
//!
//! A check approves only when MessageBird answers 2xx with the Verify object for that id, its
//! `status` exactly `"verified"` and its `recipient` the number checked. A wrong token is
//! MessageBird's error `10` on the parameter `token` (a rejection, not a failure); `expired`,
//! `failed` or `deleted` verifications and unknown ids (error `20`) are "nothing pending";
//! everything else is a typed refusal or an outage.
//!
//! What the spec (`messagebird.json`, hand-built from MessageBird's SDKs) leaves unverified is
//! mapped on the safe side: MessageBird's error JSON with HTTP 429 is its own limit for the
//! number (too many sends, or too many checks), while a 429 without it (a gateway's page) is
//! throttling; a 404 without MessageBird's error `20` is a wrong base URL, never "nothing
//! pending".
//!
//! Text that comes from MessageBird (descriptions, parameter names, statuses) and transport
//! errors (whose text may hold the request URL, and so the token) go through [`scrub`] before
//! they reach an error or a log line.

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::verify::upstream::{self, TransportError};
use crate::verify::{Channel, CheckOutcome, Delivery, Receipt, Verifier, VerifyError};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::{Duration, Instant};
use url::Url;

pub use upstream::scrub;

/// MessageBird's production REST API (no path: the client appends `/verify`).
pub const DEFAULT_BASE_URL: &str = "https://rest.messagebird.com";

/// The default whole-request timeout: well inside the 15 s a carrier waits for our webhook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// What MessageBird says or speaks: `%token` is replaced by the code.
pub const TEMPLATE: &str = "Your bridgekeeper code is %token";

/// The code's length (`tokenLength`): bridgekeeper's codes are six digits.
pub const TOKEN_LENGTH: u32 = 6;

/// How long a code stays valid, in seconds (`timeout`; MessageBird's default is 30).
pub const VALIDITY_SECS: u32 = 600;

/// The longest alphanumeric originator MessageBird accepts.
pub const MAX_ALPHANUMERIC_ORIGINATOR: usize = 11;

/// The longest numeric originator (digits, after an optional `+`).
pub const MAX_NUMERIC_ORIGINATOR: usize = 17;

const MAX_BODY_BYTES: usize = upstream::MAX_BODY_BYTES;

/// Where and how to reach MessageBird Verify.
#[derive(Debug, Clone)]
pub struct MessageBirdVerifyConfig {
    /// The API's origin (`https://rest.messagebird.com`); tests point it at a fake. Plain
    /// `http` is accepted only for loopback hosts, so the access key never crosses a network
    /// in clear.
    pub base_url: Url,
    /// The access key (live or test), sent as `Authorization: AccessKey <key>`.
    pub access_key: SecretString,
    /// The sender shown on the SMS (a number, or up to 11 letters and digits); MessageBird's
    /// default when `None`.
    pub originator: Option<String>,
    /// The whole-request timeout; the connect timeout is the smaller of this and 3 s.
    pub timeout: Duration,
}

impl MessageBirdVerifyConfig {
    /// A configuration for MessageBird's production API with [`DEFAULT_TIMEOUT`] and
    /// MessageBird's default originator.
    pub fn new(access_key: SecretString) -> Self {
        Self {
            base_url: default_base_url(),
            access_key,
            originator: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// [`DEFAULT_BASE_URL`] as a [`Url`].
pub fn default_base_url() -> Url {
    Url::parse(DEFAULT_BASE_URL).unwrap_or_else(|_| unreachable!("the default base URL parses"))
}

/// The two calls, for errors and logs (one type for every provider).
pub use crate::verify::upstream::Operation;

/// What MessageBird answered when it refused a request: the HTTP status and, when the body
/// was MessageBird's error JSON (`{"errors":[{"code","description","parameter"}]}`), the
/// first error's code, (scrubbed) description and parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub http: u16,
    /// MessageBird's error code (`2`, `9`, `10`, `20`, `25`…), when the body carried one.
    pub code: Option<u32>,
    /// MessageBird's description, scrubbed of anything that could be a number or a code.
    pub description: Option<String>,
    /// The parameter the error is about (`recipient`, `token`…), scrubbed.
    pub parameter: Option<String>,
}

impl ApiError {
    /// Reads MessageBird's error JSON; a body that is not that leaves only the HTTP status.
    pub fn from_body(http: u16, body: &[u8]) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let first = json
            .as_ref()
            .and_then(|j| j.get("errors"))
            .and_then(serde_json::Value::as_array)
            .and_then(|errors| errors.first());
        let field = |name: &str| first.and_then(|e| e.get(name));
        Self {
            http,
            code: field("code")
                .and_then(serde_json::Value::as_u64)
                .and_then(|c| u32::try_from(c).ok()),
            description: field("description")
                .and_then(serde_json::Value::as_str)
                .map(scrub),
            parameter: field("parameter")
                .and_then(serde_json::Value::as_str)
                .map(scrub),
        }
    }

    /// Only the HTTP status.
    pub fn status_only(http: u16) -> Self {
        Self {
            http,
            code: None,
            description: None,
            parameter: None,
        }
    }

    /// Whether the body was MessageBird's error JSON (it carried an error code).
    pub fn is_messagebird(&self) -> bool {
        self.code.is_some()
    }

    /// Whether the error is about this parameter.
    fn about(&self, parameter: &str) -> bool {
        self.parameter.as_deref() == Some(parameter)
    }

    /// Whether the error is about the recipient (`recipient` on Verify, `recipients` on
    /// Messages).
    fn about_recipient(&self) -> bool {
        self.about("recipient") || self.about("recipients")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.http)?;
        match self.code {
            Some(code) => write!(f, ", MessageBird error {code}")?,
            None if self.description.is_none() => {
                return f.write_str(", no MessageBird error body");
            }
            None => {}
        }
        if let Some(parameter) = &self.parameter {
            write!(f, " ({parameter})")?;
        }
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        Ok(())
    }
}

/// Why a MessageBird call failed, as precisely as MessageBird said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageBirdError {
    /// The configuration was refused by [`MessageBirdVerify::new`].
    #[error("invalid MessageBird configuration: {0}")]
    Config(String),
    /// 401, 403, error 2 or 1001: MessageBird refused the access key; the operator must fix it.
    #[error("MessageBird refused the access key; check MESSAGEBIRD_ACCESS_KEY ({0})")]
    Credentials(ApiError),
    /// Error 25: the account has no credit left; the operator must top it up.
    #[error("the MessageBird account has not enough credit ({0})")]
    NotEnoughCredit(ApiError),
    /// A 404 or error 98 on a send: there is no such API at the base URL.
    #[error("MessageBird's API was not found; check the base URL ({0})")]
    EndpointNotFound(ApiError),
    /// Error 9 or 10 on the recipient: MessageBird will not (or cannot) deliver to this number.
    #[error("MessageBird cannot deliver a code to this number ({0})")]
    InvalidRecipient(ApiError),
    /// Error 9 or 10 on another parameter (the originator, usually): the request or the
    /// configuration is wrong.
    #[error("MessageBird refused a parameter ({0})")]
    InvalidParameter(ApiError),
    /// Error 10 on `token` on a check: the wrong code (the verification stays pending).
    #[error("MessageBird says the token is wrong ({0})")]
    WrongToken(ApiError),
    /// Error 20 on a check: no such verification (expired and gone, deleted, never made).
    #[error("no such verification ({0})")]
    NotFound(ApiError),
    /// MessageBird's error JSON with HTTP 429 on a send: too many codes for this number.
    #[error("too many codes sent to this number ({0})")]
    TooManySends(ApiError),
    /// MessageBird's error JSON with HTTP 429 on a check: too many checks of this code.
    #[error("too many checks against the pending verification ({0})")]
    TooManyChecks(ApiError),
    /// Any other HTTP 429: the account is being throttled.
    #[error("rate limited by MessageBird ({0})")]
    RateLimited(ApiError),
    /// Any other 4xx.
    #[error("MessageBird rejected the request ({0})")]
    ClientError(ApiError),
    /// Any 5xx, or error 99.
    #[error("MessageBird failed ({0})")]
    ServerError(ApiError),
    /// A status that is neither an error nor one the call accepts (1xx, 3xx).
    #[error("unexpected answer from MessageBird ({0})")]
    UnexpectedStatus(ApiError),
    /// No complete answer within the configured timeout.
    #[error("no answer from MessageBird within {0:?}")]
    Timeout(Duration),
    /// MessageBird could not be reached (DNS, TCP, TLS).
    #[error("could not connect to MessageBird: {0}")]
    Connect(String),
    /// The connection failed after it was made.
    #[error("HTTP error talking to MessageBird: {0}")]
    Transport(String),
    /// A success status whose body is not the expected JSON.
    #[error("malformed answer from MessageBird (HTTP {http}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        http: u16,
        /// What was wrong with the body (scrubbed).
        reason: String,
    },
    /// A success answer about another verification or another number than the one asked
    /// about: never an approval.
    #[error("MessageBird answered about another {what} than the one asked about")]
    Mismatch {
        /// `verification` or `recipient`.
        what: &'static str,
    },
    /// A check answered with status `expired`, `failed` or `deleted`.
    #[error("MessageBird says the verification is {status}")]
    VerificationClosed {
        /// The status MessageBird gave.
        status: String,
    },
    /// A status the call does not accept (unknown, `verified` on a send…).
    #[error("MessageBird answered the {operation} with verification status {status:?}")]
    UnexpectedVerificationStatus {
        /// The call.
        operation: Operation,
        /// The status MessageBird gave (scrubbed).
        status: String,
    },
}

impl MessageBirdError {
    /// Whether only the operator can fix this (access key, credit, base URL, originator,
    /// configuration).
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Self::Config(_)
                | Self::Credentials(_)
                | Self::NotEnoughCredit(_)
                | Self::EndpointNotFound(_)
                | Self::InvalidParameter(_)
        )
    }
}

impl From<MessageBirdError> for VerifyError {
    fn from(e: MessageBirdError) -> Self {
        use MessageBirdError as M;
        match e {
            M::TooManySends(_) => Self::TooManySends,
            M::TooManyChecks(_) => Self::TooManyChecks,
            M::NotFound(_) | M::VerificationClosed { .. } => Self::NotFound,
            M::InvalidRecipient(_) => Self::Refused(e.to_string()),
            // `interpret_check` turns a wrong token into a rejection; met anywhere else it is
            // no approval and no refusal of the number.
            M::WrongToken(_)
            | M::Config(_)
            | M::Credentials(_)
            | M::NotEnoughCredit(_)
            | M::EndpointNotFound(_)
            | M::InvalidParameter(_)
            | M::RateLimited(_)
            | M::ClientError(_)
            | M::ServerError(_)
            | M::UnexpectedStatus(_)
            | M::Timeout(_)
            | M::Connect(_)
            | M::Transport(_)
            | M::MalformedResponse { .. }
            | M::Mismatch { .. }
            | M::UnexpectedVerificationStatus { .. } => Self::Unavailable(e.to_string()),
        }
    }
}

/// The MessageBird Verify client. Holds one connection-pooling HTTP client; cheap to share
/// behind an `Arc`.
pub struct MessageBirdVerify {
    client: reqwest::Client,
    base_url: Url,
    verify_url: Url,
    authorization: HeaderValue,
    originator: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for MessageBirdVerify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageBirdVerify")
            .field("verify_url", &self.verify_url.as_str())
            .field("access_key", &"[redacted]")
            .field("originator", &self.originator)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The `Authorization` header for an access key, marked sensitive; the key must be visible
/// ASCII (a header cannot carry anything else, and a space would end it early).
pub(crate) fn authorization(access_key: &SecretString) -> Result<HeaderValue, String> {
    let key = access_key.expose_secret();
    if key.is_empty() {
        return Err("the access key is empty".to_owned());
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("the access key holds a space, a control or a non-ASCII character".to_owned());
    }
    let mut value = HeaderValue::from_str(&format!("AccessKey {key}"))
        .map_err(|_| "the access key cannot be sent in a header".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

/// Checks an originator by MessageBird's rule: a number (digits after an optional `+`, at
/// most 17), or at most 11 letters, digits and spaces with at least one letter.
pub(crate) fn check_originator(originator: &str) -> Result<(), String> {
    let digits = originator.strip_prefix('+').unwrap_or(originator);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() > MAX_NUMERIC_ORIGINATOR {
            return Err(format!(
                "a numeric originator has at most {MAX_NUMERIC_ORIGINATOR} digits"
            ));
        }
        return Ok(());
    }
    let alphanumeric = originator
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b' ');
    if originator.trim().is_empty() || !alphanumeric {
        return Err("the originator must be a number or letters, digits and spaces".to_owned());
    }
    if originator.len() > MAX_ALPHANUMERIC_ORIGINATOR {
        return Err(format!(
            "an alphanumeric originator has at most {MAX_ALPHANUMERIC_ORIGINATOR} characters"
        ));
    }
    Ok(())
}

/// A number as MessageBird's `recipient`: the E.164 digits without the `+`.
pub fn msisdn(to: &PhoneNumber) -> &str {
    to.as_e164().trim_start_matches('+')
}

/// Maps a transport failure; its text can hold the request URL (and so the token): scrubbed.
pub(crate) fn transport_error(e: TransportError) -> MessageBirdError {
    match e {
        TransportError::Timeout(t) => MessageBirdError::Timeout(t),
        TransportError::Connect(why) => MessageBirdError::Connect(scrub(&why)),
        TransportError::Transport(why) => MessageBirdError::Transport(scrub(&why)),
    }
}

impl MessageBirdVerify {
    /// Checks the configuration and builds the shared HTTP client.
    pub fn new(config: MessageBirdVerifyConfig) -> Result<Self, MessageBirdError> {
        let MessageBirdVerifyConfig {
            base_url,
            access_key,
            originator,
            timeout,
        } = config;
        let authorization = authorization(&access_key).map_err(MessageBirdError::Config)?;
        if let Some(originator) = &originator {
            check_originator(originator).map_err(MessageBirdError::Config)?;
        }
        if timeout.is_zero() {
            return Err(MessageBirdError::Config("the timeout is zero".to_owned()));
        }
        upstream::check_base_url(&base_url).map_err(MessageBirdError::Config)?;
        let verify_url =
            upstream::endpoint(&base_url, &["verify"]).map_err(MessageBirdError::Config)?;
        let client = upstream::client(timeout).map_err(MessageBirdError::Config)?;
        Ok(Self {
            client,
            base_url,
            verify_url,
            authorization,
            originator,
            timeout,
        })
    }

    /// The JSON body of `POST /verify` for `to` over `channel`.
    pub fn create_body(&self, to: &PhoneNumber, channel: Channel) -> serde_json::Value {
        let kind = match channel {
            Channel::Sms => "sms",
            Channel::Voice => "tts",
        };
        let mut body = serde_json::json!({
            "recipient": msisdn(to),
            "type": kind,
            "template": TEMPLATE,
            "tokenLength": TOKEN_LENGTH,
            "timeout": VALIDITY_SECS,
        });
        if let (Some(originator), Some(map)) = (&self.originator, body.as_object_mut()) {
            map.insert("originator".to_owned(), originator.clone().into());
        }
        body
    }

    /// Starts a new verification for `to` over `channel` (`sms`, or `tts` for a voice call);
    /// its id, with MessageBird's own error.
    pub async fn create_verification(
        &self,
        to: &PhoneNumber,
        channel: Channel,
    ) -> Result<String, MessageBirdError> {
        let request = self
            .client
            .post(self.verify_url.clone())
            .json(&self.create_body(to, channel));
        let expected = msisdn(to).to_owned();
        self.call(Operation::Send, to, request, move |http, body| {
            interpret_send(http, body, &expected)
        })
        .await
    }

    /// Checks `code` against the verification `id` made for `to`, with MessageBird's own
    /// error.
    pub async fn check_verification(
        &self,
        to: &PhoneNumber,
        code: &Code,
        id: &str,
    ) -> Result<CheckOutcome, MessageBirdError> {
        let mut url = upstream::endpoint(&self.base_url, &["verify", id])
            .map_err(MessageBirdError::Config)?;
        url.query_pairs_mut().append_pair("token", code.expose());
        let request = self.client.get(url);
        let expected = msisdn(to).to_owned();
        let id = id.to_owned();
        self.call(Operation::Check, to, request, move |http, body| {
            interpret_check(http, body, &id, &expected)
        })
        .await
    }

    /// One upstream call: authenticate, send, interpret, log.
    async fn call<T>(
        &self,
        operation: Operation,
        to: &PhoneNumber,
        request: reqwest::RequestBuilder,
        interpret: impl FnOnce(u16, &[u8]) -> Result<T, MessageBirdError>,
    ) -> Result<T, MessageBirdError> {
        let request = request.header(AUTHORIZATION, self.authorization.clone());
        let started = Instant::now();
        let exchanged = upstream::exchange(request, self.timeout)
            .await
            .map_err(transport_error);
        let elapsed_ms = upstream::elapsed_ms(started);
        let http_status = exchanged.as_ref().ok().map(|answer| answer.http);
        let result = exchanged.and_then(|answer| interpret(answer.http, &answer.body));
        tracing::debug!(
            event = "verify.request",
            verifier = "messagebird-verify",
            %operation,
            http_status,
            elapsed_ms,
            to = %to,
            ok = result.is_ok(),
            "MessageBird Verify call"
        );
        if let Err(error) = &result {
            if error.needs_operator() {
                tracing::error!(
                    event = "verify.upstream_error",
                    verifier = "messagebird-verify",
                    %operation,
                    http_status,
                    elapsed_ms,
                    to = %to,
                    %error,
                    "MessageBird Verify call failed; the operator must fix the configuration"
                );
            } else {
                tracing::warn!(
                    event = "verify.upstream_error",
                    verifier = "messagebird-verify",
                    %operation,
                    http_status,
                    elapsed_ms,
                    to = %to,
                    %error,
                    "MessageBird Verify call failed"
                );
            }
        }
        result
    }
}

/// The verification id a receipt carries, if it carries one.
fn receipt_id(receipt: Option<&Receipt>) -> Option<&str> {
    receipt
        .map(Receipt::as_bytes)
        .filter(|bytes| !bytes.is_empty())
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
}

/// Every send starts a new verification; the receipt is its id, and a check goes to it.
impl Verifier for MessageBirdVerify {
    fn send<'a>(
        &'a self,
        delivery: &'a Delivery<'a>,
        _previous: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<Receipt, VerifyError>> {
        Box::pin(async move {
            let id = self
                .create_verification(delivery.to, delivery.channel)
                .await?;
            // `interpret_send` lets only an id of at most `Receipt::MAX_LEN` bytes through.
            Receipt::new(id.into_bytes()).ok_or_else(|| {
                VerifyError::Unavailable("MessageBird's verification id is too long".to_owned())
            })
        })
    }

    fn check<'a>(
        &'a self,
        to: &'a PhoneNumber,
        code: &'a Code,
        receipt: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>> {
        Box::pin(async move {
            let Some(id) = receipt_id(receipt) else {
                tracing::debug!(
                    event = "verify.no_receipt",
                    to = %to,
                    "no MessageBird verification to check: nothing was sent on this call"
                );
                return Err(VerifyError::NotFound);
            };
            Ok(self.check_verification(to, code, id).await?)
        })
    }

    fn name(&self) -> &'static str {
        "messagebird-verify"
    }

    fn channels(&self) -> &'static [Channel] {
        &Channel::ALL
    }
}

fn is_success(http: u16) -> bool {
    (200..300).contains(&http)
}

fn malformed(http: u16, reason: &str) -> MessageBirdError {
    MessageBirdError::MalformedResponse {
        http,
        reason: scrub(reason),
    }
}

/// The parts of a Verify object that decide anything.
struct VerifyObject {
    id: String,
    status: String,
    recipient: String,
}

/// A success body's JSON object; anything else (cut, not JSON, not an object) is malformed.
pub(crate) fn parse_object(
    http: u16,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, MessageBirdError> {
    if body.len() >= MAX_BODY_BYTES {
        return Err(malformed(
            http,
            &format!("body larger than {MAX_BODY_BYTES} bytes"),
        ));
    }
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err(malformed(http, "the body is not a JSON object")),
        Err(e) => Err(malformed(http, &e.to_string())),
    }
}

/// A recipient as digits: MessageBird gives a JSON number for SMS and a string for others.
pub(crate) fn recipient_digits(value: Option<&serde_json::Value>) -> Option<String> {
    let text = match value? {
        serde_json::Value::Number(n) => n.as_u64()?.to_string(),
        serde_json::Value::String(s) => s.trim_start_matches('+').to_owned(),
        _ => return None,
    };
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then_some(text)
}

/// Reads a Verify object: a string `id` and `status`, a recipient of digits.
fn parse_verify(http: u16, body: &[u8]) -> Result<VerifyObject, MessageBirdError> {
    let map = parse_object(http, body)?;
    let text = |name: &str| map.get(name).and_then(serde_json::Value::as_str);
    let id = text("id").ok_or_else(|| malformed(http, "no string id"))?;
    let status = text("status").ok_or_else(|| malformed(http, "no string status"))?;
    let recipient = recipient_digits(map.get("recipient"))
        .ok_or_else(|| malformed(http, "no recipient of digits"))?;
    Ok(VerifyObject {
        id: id.to_owned(),
        status: status.to_owned(),
        recipient,
    })
}

/// Whether an id can be carried as a receipt and put in a path: 1 to 64 bytes of ASCII
/// letters, digits, `-` and `_` (MessageBird's ids are 32 letters and digits).
fn is_usable_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= Receipt::MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A send succeeds on any 2xx carrying a Verify object with status `sent`, a usable id and
/// the recipient asked for; the id is returned.
pub fn interpret_send(http: u16, body: &[u8], recipient: &str) -> Result<String, MessageBirdError> {
    if !is_success(http) {
        return Err(classify(Operation::Send, http, body));
    }
    let verify = parse_verify(http, body)?;
    if !is_usable_id(&verify.id) {
        return Err(malformed(
            http,
            &format!(
                "the verification id is empty, longer than {} bytes or has odd characters",
                Receipt::MAX_LEN
            ),
        ));
    }
    if verify.recipient != recipient {
        return Err(MessageBirdError::Mismatch { what: "recipient" });
    }
    match verify.status.as_str() {
        "sent" => Ok(verify.id),
        other => Err(MessageBirdError::UnexpectedVerificationStatus {
            operation: Operation::Send,
            status: scrub(other),
        }),
    }
}

/// A check approves only on a 2xx Verify object for verification `id`, status exactly
/// `verified` and recipient `recipient` (digits without `+`); MessageBird's error 10 on
/// `token` is a wrong code.
pub fn interpret_check(
    http: u16,
    body: &[u8],
    id: &str,
    recipient: &str,
) -> Result<CheckOutcome, MessageBirdError> {
    if !is_success(http) {
        return match classify(Operation::Check, http, body) {
            MessageBirdError::WrongToken(_) => Ok(CheckOutcome::Rejected),
            other => Err(other),
        };
    }
    let verify = parse_verify(http, body)?;
    if verify.id != id {
        return Err(MessageBirdError::Mismatch {
            what: "verification",
        });
    }
    match verify.status.as_str() {
        "verified" if verify.recipient == recipient => Ok(CheckOutcome::Approved),
        "verified" => Err(MessageBirdError::Mismatch { what: "recipient" }),
        // Still pending: the token was not accepted.
        "sent" => Ok(CheckOutcome::Rejected),
        "expired" | "failed" | "deleted" => Err(MessageBirdError::VerificationClosed {
            status: verify.status,
        }),
        other => Err(MessageBirdError::UnexpectedVerificationStatus {
            operation: Operation::Check,
            status: scrub(other),
        }),
    }
}

/// Maps an error answer. MessageBird's code decides first where it is unambiguous
/// (credentials, credit, not found, internal error); HTTP 429 is a limit; error 9 or 10 is
/// about its parameter.
pub fn classify(operation: Operation, http: u16, body: &[u8]) -> MessageBirdError {
    use MessageBirdError as E;
    let api = ApiError::from_body(http, body);
    match api.code {
        Some(2 | 1001) => return E::Credentials(api),
        Some(25) => return E::NotEnoughCredit(api),
        _ => {}
    }
    if http == 429 {
        return match (api.is_messagebird(), operation) {
            (true, Operation::Send) => E::TooManySends(api),
            (true, Operation::Check) => E::TooManyChecks(api),
            (false, _) => E::RateLimited(api),
        };
    }
    match api.code {
        Some(20) => match operation {
            Operation::Check => return E::NotFound(api),
            Operation::Send => return E::EndpointNotFound(api),
        },
        Some(98) => return E::EndpointNotFound(api),
        Some(99) => return E::ServerError(api),
        Some(9 | 10) if (400..500).contains(&http) => {
            return match operation {
                Operation::Check if api.about("token") => E::WrongToken(api),
                Operation::Send if api.about_recipient() => E::InvalidRecipient(api),
                _ => E::InvalidParameter(api),
            };
        }
        _ => {}
    }
    match http {
        401 | 403 => E::Credentials(api),
        404 if operation == Operation::Send => E::EndpointNotFound(api),
        400..=499 => E::ClientError(api),
        500..=599 => E::ServerError(api),
        _ => E::UnexpectedStatus(api),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "15498233759288aaf929661v21936686";
    const ADA: &str = "15551230001";

    fn config(base: &str) -> MessageBirdVerifyConfig {
        MessageBirdVerifyConfig {
            base_url: Url::parse(base).unwrap(),
            access_key: SecretString::from("live_s3cr3tk3yvalue"),
            originator: Some("Bridge".to_owned()),
            timeout: Duration::from_secs(2),
        }
    }

    fn errors(http: u16, code: u32, parameter: Option<&str>) -> (u16, Vec<u8>) {
        let body = serde_json::json!({
            "errors": [{"code": code, "description": "whatever", "parameter": parameter}]
        });
        (http, body.to_string().into_bytes())
    }

    fn verify_json(id: &str, status: &str, recipient: serde_json::Value) -> Vec<u8> {
        serde_json::json!({
            "id": id,
            "href": format!("https://rest.messagebird.com/verify/{id}"),
            "recipient": recipient,
            "reference": null,
            "messages": {"href": "https://rest.messagebird.com/messages/x"},
            "status": status,
            "createdDatetime": "2017-05-26T20:06:07+00:00",
            "validUntilDatetime": "2017-05-26T20:16:07+00:00",
        })
        .to_string()
        .into_bytes()
    }

    /// An operation, an HTTP status, a code, a parameter, and what the error must be.
    type Case = (
        Operation,
        u16,
        u32,
        Option<&'static str>,
        fn(&MessageBirdError) -> bool,
    );

    #[test]
    fn error_codes_map_to_their_variants() {
        use MessageBirdError as E;
        use Operation::{Check, Send};
        let cases: &[Case] = &[
            (Send, 401, 2, Some("access_key"), |e| {
                matches!(e, E::Credentials(_))
            }),
            (Check, 403, 1001, None, |e| matches!(e, E::Credentials(_))),
            (Send, 422, 2, None, |e| matches!(e, E::Credentials(_))),
            (Send, 429, 2, None, |e| matches!(e, E::Credentials(_))),
            (Send, 402, 25, None, |e| matches!(e, E::NotEnoughCredit(_))),
            (Send, 422, 9, Some("recipient"), |e| {
                matches!(e, E::InvalidRecipient(_))
            }),
            (Send, 422, 10, Some("recipients"), |e| {
                matches!(e, E::InvalidRecipient(_))
            }),
            (Send, 422, 10, Some("originator"), |e| {
                matches!(e, E::InvalidParameter(_))
            }),
            (Send, 422, 9, None, |e| matches!(e, E::InvalidParameter(_))),
            (Check, 422, 10, Some("token"), |e| {
                matches!(e, E::WrongToken(_))
            }),
            (Check, 400, 10, Some("token"), |e| {
                matches!(e, E::WrongToken(_))
            }),
            (Check, 422, 10, Some("recipient"), |e| {
                matches!(e, E::InvalidParameter(_))
            }),
            (Send, 422, 10, Some("token"), |e| {
                matches!(e, E::InvalidParameter(_))
            }),
            (Check, 500, 10, Some("token"), |e| {
                matches!(e, E::ServerError(_))
            }),
            (Check, 404, 20, None, |e| matches!(e, E::NotFound(_))),
            (Check, 422, 20, None, |e| matches!(e, E::NotFound(_))),
            (Send, 404, 20, None, |e| matches!(e, E::EndpointNotFound(_))),
            (Check, 404, 98, None, |e| {
                matches!(e, E::EndpointNotFound(_))
            }),
            (Check, 422, 99, None, |e| matches!(e, E::ServerError(_))),
            (Send, 429, 10, None, |e| matches!(e, E::TooManySends(_))),
            (Check, 429, 10, Some("token"), |e| {
                matches!(e, E::TooManyChecks(_))
            }),
            (Send, 422, 21, None, |e| matches!(e, E::ClientError(_))),
            (Check, 401, 21, None, |e| matches!(e, E::Credentials(_))),
            (Check, 503, 21, None, |e| matches!(e, E::ServerError(_))),
            (Check, 302, 21, None, |e| {
                matches!(e, E::UnexpectedStatus(_))
            }),
        ];
        for (operation, http, code, parameter, expected) in cases {
            let (http, body) = errors(*http, *code, *parameter);
            let e = classify(*operation, http, &body);
            assert!(
                expected(&e),
                "{operation} {http} {code} {parameter:?} gave {e:?}"
            );
        }
    }

    #[test]
    fn bodies_that_are_not_messagebird_json_fall_back_to_the_status() {
        use MessageBirdError as E;
        use Operation::{Check, Send};
        for (http, body) in [
            (503, &b"<html>Service Unavailable</html>"[..]),
            (502, b""),
            (500, br#"{"errors":"x"}"#),
            (500, br#"{"errors":[]}"#),
            (500, b"[1]"),
        ] {
            let e = classify(Check, http, body);
            assert!(
                matches!(&e, E::ServerError(api) if api.code.is_none()),
                "{e:?}"
            );
        }
        assert!(matches!(
            classify(Send, 429, b"<html>slow down</html>"),
            E::RateLimited(ApiError { code: None, .. })
        ));
        assert!(matches!(classify(Check, 429, b""), E::RateLimited(_)));
        assert!(matches!(classify(Send, 401, b"nope"), E::Credentials(_)));
        assert!(matches!(classify(Check, 403, b""), E::Credentials(_)));
        assert!(matches!(classify(Send, 404, b""), E::EndpointNotFound(_)));
        // A plain 404 (no MessageBird code) on a check is an outage, not "nothing pending".
        assert!(matches!(
            classify(Check, 404, b"Not Found"),
            E::ClientError(_)
        ));
        assert!(matches!(classify(Send, 418, b"teapot"), E::ClientError(_)));
    }

    #[test]
    fn the_error_body_is_carried_scrubbed() {
        let body = serde_json::json!({"errors": [
            {"code": 9, "description": "no (correct) recipients found for 15551230001",
             "parameter": "recipient"},
            {"code": 10, "description": "second", "parameter": "x"}
        ]});
        let e = classify(Operation::Send, 422, body.to_string().as_bytes());
        let MessageBirdError::InvalidRecipient(api) = &e else {
            panic!("{e:?}");
        };
        assert_eq!(api.code, Some(9));
        assert_eq!(api.parameter.as_deref(), Some("recipient"));
        let text = e.to_string();
        assert!(!text.contains("5551230001"), "{text}");
        assert!(
            text.starts_with(
                "MessageBird cannot deliver a code to this number (HTTP 422, MessageBird error 9 (recipient): no (correct) recipients found for"
            ),
            "{text}"
        );
    }

    #[test]
    fn messagebird_errors_map_onto_verify_errors() {
        use Operation::{Check, Send};
        let of = |op, http, code, parameter| {
            let (http, body) = errors(http, code, parameter);
            VerifyError::from(classify(op, http, &body))
        };
        assert_eq!(of(Send, 429, 10, None), VerifyError::TooManySends);
        assert_eq!(of(Check, 429, 10, None), VerifyError::TooManyChecks);
        assert_eq!(of(Check, 404, 20, None), VerifyError::NotFound);
        assert!(matches!(
            of(Send, 422, 9, Some("recipient")),
            VerifyError::Refused(_)
        ));
        for (op, http, code, parameter) in [
            (Send, 401, 2, None),
            (Send, 402, 25, None),
            (Send, 404, 20, None),
            (Send, 422, 10, Some("originator")),
            (Send, 422, 21, None),
            (Check, 500, 99, None),
            (Check, 422, 10, Some("id")),
        ] {
            assert!(
                matches!(of(op, http, code, parameter), VerifyError::Unavailable(_)),
                "{op} {http} {code}"
            );
        }
        for e in [
            MessageBirdError::Timeout(Duration::from_secs(1)),
            MessageBirdError::Connect("refused".to_owned()),
            MessageBirdError::Transport("reset".to_owned()),
            MessageBirdError::MalformedResponse {
                http: 200,
                reason: "x".to_owned(),
            },
            MessageBirdError::Mismatch { what: "recipient" },
            MessageBirdError::Config("x".to_owned()),
            MessageBirdError::WrongToken(ApiError::status_only(422)),
        ] {
            assert!(matches!(VerifyError::from(e), VerifyError::Unavailable(_)));
        }
    }

    #[test]
    fn only_what_the_operator_must_fix_needs_the_operator() {
        use MessageBirdError as E;
        let api = || ApiError::status_only(400);
        for e in [
            E::Config("x".into()),
            E::Credentials(api()),
            E::NotEnoughCredit(api()),
            E::EndpointNotFound(api()),
            E::InvalidParameter(api()),
        ] {
            assert!(e.needs_operator(), "{e:?}");
        }
        for e in [
            E::InvalidRecipient(api()),
            E::RateLimited(api()),
            E::ServerError(api()),
            E::TooManySends(api()),
            E::Timeout(Duration::from_secs(1)),
            E::NotFound(api()),
        ] {
            assert!(!e.needs_operator(), "{e:?}");
        }
    }

    #[test]
    fn a_check_approves_only_a_verified_answer_for_this_id_and_number() {
        let answer = |http: u16, body: &[u8]| interpret_check(http, body, ID, ADA);
        let num = || serde_json::json!(15551230001_u64);
        assert_eq!(
            answer(200, &verify_json(ID, "verified", num())),
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            answer(200, &verify_json(ID, "verified", "15551230001".into())),
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            answer(200, &verify_json(ID, "verified", "+15551230001".into())),
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            answer(200, &verify_json(ID, "sent", num())),
            Ok(CheckOutcome::Rejected)
        );
        let (http, body) = errors(422, 10, Some("token"));
        assert_eq!(answer(http, &body), Ok(CheckOutcome::Rejected));
        for (http, body) in [
            (200, verify_json(ID, "verified", "15551230002".into())),
            (
                200,
                verify_json(ID, "verified", serde_json::json!(15551230002_u64)),
            ),
            (200, verify_json("another", "verified", num())),
            (200, verify_json(ID, "Verified", num())),
            (200, verify_json(ID, "verified ", num())),
            (
                200,
                verify_json(ID, "verified", serde_json::json!(1.5551230001e10)),
            ),
            (200, verify_json(ID, "verified", serde_json::Value::Null)),
            (200, verify_json(ID, "verified", "1555123000x".into())),
            (
                200,
                br#"{"status":"verified","recipient":15551230001}"#.to_vec(),
            ),
            (
                200,
                format!(r#"{{"id":"{ID}","status":"verified"}}"#).into_bytes(),
            ),
            (
                200,
                format!(r#"{{"id":"{ID}","status":true,"recipient":15551230001}}"#).into_bytes(),
            ),
            (200, br#""verified""#.to_vec()),
            (200, b"verified".to_vec()),
            (200, Vec::new()),
            (204, Vec::new()),
            (200, verify_json(ID, "expired", num())),
            (200, verify_json(ID, "failed", num())),
            (200, verify_json(ID, "deleted", num())),
            (200, verify_json(ID, "unknown", num())),
        ] {
            let got = answer(http, &body);
            assert!(
                got.is_err(),
                "{http} {} gave {got:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn check_statuses_map_onto_verify_errors() {
        let of = |status: &str| {
            interpret_check(200, &verify_json(ID, status, ADA.into()), ID, ADA)
                .map_err(VerifyError::from)
        };
        assert_eq!(of("verified"), Ok(CheckOutcome::Approved));
        assert_eq!(of("sent"), Ok(CheckOutcome::Rejected));
        for status in ["expired", "failed", "deleted"] {
            assert_eq!(of(status), Err(VerifyError::NotFound), "{status}");
        }
        for status in ["", "VERIFIED", "pending", "approved"] {
            assert!(
                matches!(of(status), Err(VerifyError::Unavailable(_))),
                "{status}"
            );
        }
        let mismatch = interpret_check(
            200,
            &verify_json(ID, "verified", "15551230002".into()),
            ID,
            ADA,
        );
        assert!(matches!(
            mismatch.map_err(VerifyError::from),
            Err(VerifyError::Unavailable(_))
        ));
    }

    #[test]
    fn a_send_returns_the_id_of_a_sent_verification_for_the_number() {
        let num = || serde_json::json!(15551230001_u64);
        assert_eq!(
            interpret_send(201, &verify_json(ID, "sent", num()), ADA),
            Ok(ID.to_owned())
        );
        assert_eq!(
            interpret_send(200, &verify_json(ID, "sent", ADA.into()), ADA),
            Ok(ID.to_owned())
        );
        let long = "a".repeat(Receipt::MAX_LEN + 1);
        let fits = "a".repeat(Receipt::MAX_LEN);
        assert_eq!(
            interpret_send(201, &verify_json(&fits, "sent", num()), ADA),
            Ok(fits.clone())
        );
        for (http, body) in [
            (201, verify_json(&long, "sent", num())),
            (201, verify_json("", "sent", num())),
            (201, verify_json("a/b", "sent", num())),
            (201, verify_json("a b", "sent", num())),
            (201, verify_json(ID, "verified", num())),
            (201, verify_json(ID, "failed", num())),
            (201, verify_json(ID, "sent", "15551230002".into())),
            (
                201,
                br#"{"status":"sent","recipient":15551230001}"#.to_vec(),
            ),
            (
                201,
                br#"{"id":5,"status":"sent","recipient":15551230001}"#.to_vec(),
            ),
            (201, b"<html>ok</html>".to_vec()),
            (201, Vec::new()),
        ] {
            let got = interpret_send(http, &body, ADA);
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
    fn an_oversized_success_body_is_malformed() {
        let mut body = verify_json(ID, "verified", ADA.into());
        body.pop();
        body.extend_from_slice(br#","padding":""#);
        body.resize(MAX_BODY_BYTES, b'x');
        assert!(matches!(
            interpret_check(200, &body, ID, ADA),
            Err(MessageBirdError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn upstream_text_reaches_errors_scrubbed() {
        let status = interpret_check(
            200,
            &verify_json(ID, "sent to +15551230001 482913", ADA.into()),
            ID,
            ADA,
        )
        .unwrap_err();
        let text = status.to_string();
        assert!(
            !text.contains("5551230001") && !text.contains("482913"),
            "{text}"
        );
        let e = transport_error(TransportError::Connect(
            "error sending request for url (http://127.0.0.1:9/verify/x?token=482913)".into(),
        ));
        assert!(!e.to_string().contains("482913"), "{e}");
    }

    #[test]
    fn the_request_body_has_the_spec_fields() {
        let client = MessageBirdVerify::new(config("https://rest.messagebird.com")).unwrap();
        let to = PhoneNumber::parse("+15551230001").unwrap();
        assert_eq!(
            client.create_body(&to, Channel::Sms),
            serde_json::json!({
                "recipient": "15551230001",
                "type": "sms",
                "template": "Your bridgekeeper code is %token",
                "tokenLength": 6,
                "timeout": 600,
                "originator": "Bridge",
            })
        );
        let voice = client.create_body(&to, Channel::Voice);
        assert_eq!(voice["type"], "tts");
        let bare = MessageBirdVerify::new(MessageBirdVerifyConfig {
            originator: None,
            ..config("https://rest.messagebird.com")
        })
        .unwrap();
        assert!(
            bare.create_body(&to, Channel::Sms)
                .get("originator")
                .is_none()
        );
    }

    #[test]
    fn receipts_carry_the_id_or_nothing() {
        assert_eq!(receipt_id(None), None);
        assert_eq!(receipt_id(Some(&Receipt::default())), None);
        assert_eq!(
            receipt_id(Some(&Receipt::new(vec![0xff, 0xfe]).unwrap())),
            None
        );
        let r = Receipt::new(ID.as_bytes().to_vec()).unwrap();
        assert_eq!(receipt_id(Some(&r)), Some(ID));
    }

    #[test]
    fn bad_configurations_are_refused() {
        let refused = |c: MessageBirdVerifyConfig| {
            matches!(MessageBirdVerify::new(c), Err(MessageBirdError::Config(_)))
        };
        let good = || config("https://rest.messagebird.com");
        assert!(!refused(good()));
        for key in ["", "two words", "line\nbreak", "ключ"] {
            assert!(
                refused(MessageBirdVerifyConfig {
                    access_key: SecretString::from(key),
                    ..good()
                }),
                "{key:?}"
            );
        }
        assert!(refused(MessageBirdVerifyConfig {
            timeout: Duration::ZERO,
            ..good()
        }));
        for originator in [
            "",
            " ",
            "TwelveChars1",
            "Bridge!",
            "+123456789012345678",
            "+",
        ] {
            assert!(
                refused(MessageBirdVerifyConfig {
                    originator: Some(originator.to_owned()),
                    ..good()
                }),
                "{originator:?}"
            );
        }
        for originator in [
            "Bridge",
            "Bridge Keep",
            "+15551230001",
            "3197010240126",
            "ELEVENCHARS",
        ] {
            assert!(
                !refused(MessageBirdVerifyConfig {
                    originator: Some(originator.to_owned()),
                    ..good()
                }),
                "{originator:?}"
            );
        }
        for base in [
            "http://rest.messagebird.com",
            "http://10.0.0.1:8080",
            "ftp://127.0.0.1",
            "mailto:ops@example.com",
            "https://user:pass@rest.messagebird.com",
        ] {
            assert!(refused(config(base)), "{base}");
        }
        for base in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
            assert!(!refused(config(base)), "{base}");
        }
    }

    #[test]
    fn urls_keep_the_id_inside_one_segment() {
        let client = MessageBirdVerify::new(config("https://rest.messagebird.com/p/")).unwrap();
        assert_eq!(
            client.verify_url.as_str(),
            "https://rest.messagebird.com/p/verify"
        );
        let url = upstream::endpoint(&client.base_url, &["verify", "../x?token=1#f"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://rest.messagebird.com/p/verify/..%2Fx%3Ftoken=1%23f"
        );
    }

    #[test]
    fn debug_never_shows_the_access_key() {
        let c = config("https://rest.messagebird.com");
        let client = MessageBirdVerify::new(c.clone()).unwrap();
        for text in [
            format!("{client:?}"),
            format!("{client:#?}"),
            format!("{c:?}"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        assert!(format!("{client:?}").contains("redacted"));
        assert_eq!(client.name(), "messagebird-verify");
        assert_eq!(client.channels(), &[Channel::Sms, Channel::Voice]);
    }

    #[test]
    fn the_default_config_points_at_messagebird() {
        let c = MessageBirdVerifyConfig::new(SecretString::from("k"));
        assert_eq!(c.base_url.as_str(), "https://rest.messagebird.com/");
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.originator, None);
    }
}
