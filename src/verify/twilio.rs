//! The Twilio Verify v2 client: starts a verification (Twilio texts the code) and checks
//! what the caller typed, over Twilio's REST API, mapping every answer and failure onto
//! [`VerifyError`].
//!
//! Only `POST /v2/Services/{ServiceSid}/Verifications` (`To`, `Channel=sms`) and
//! `POST /v2/Services/{ServiceSid}/VerificationCheck` (`To`, `Code`) are used, with HTTP Basic
//! auth. A check approves only when Twilio answers 200 or 201 with `status` exactly
//! `"approved"`; anything else is a wrong code, a typed refusal or an outage.
//!
//! Text that comes from Twilio (error messages, statuses) goes through [`scrub`] before it
//! reaches an error or a log line, since Twilio echoes the `To` number in some messages.

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::verify::upstream::{self, TransportError};
use crate::verify::{Channel, CheckOutcome, Delivery, Receipt, Verifier, VerifyError};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::{Duration, Instant};
use url::Url;

pub use upstream::scrub;

/// Twilio's production Verify API.
pub const DEFAULT_BASE_URL: &str = "https://verify.twilio.com";

/// The default whole-request timeout: well inside the 15 s Twilio waits for our webhook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

const MAX_BODY_BYTES: usize = upstream::MAX_BODY_BYTES;

/// Where and how to reach Twilio Verify.
#[derive(Debug, Clone)]
pub struct TwilioVerifyConfig {
    /// The API's origin (`https://verify.twilio.com`); tests point it at a fake. Plain `http`
    /// is accepted only for loopback hosts, so the auth token never crosses a network in clear.
    pub base_url: Url,
    /// The Account SID (`AC…`), or an API key SID (`SK…`): the Basic auth user name.
    pub account_sid: String,
    /// The auth token (or API key secret): the Basic auth password.
    pub auth_token: SecretString,
    /// The Verify service SID (`VA…`), sent as one percent-encoded path segment.
    pub service_sid: String,
    /// The whole-request timeout; the connect timeout is the smaller of this and 3 s.
    pub timeout: Duration,
}

impl TwilioVerifyConfig {
    /// A configuration for Twilio's production API with [`DEFAULT_TIMEOUT`].
    pub fn new(
        account_sid: impl Into<String>,
        auth_token: SecretString,
        service_sid: impl Into<String>,
    ) -> Self {
        Self {
            base_url: default_base_url(),
            account_sid: account_sid.into(),
            auth_token,
            service_sid: service_sid.into(),
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

/// What Twilio answered when it refused a request: the HTTP status and, when the body was
/// Twilio's error JSON, its error code and (scrubbed) message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub http: u16,
    /// Twilio's error code (`60200`, `20404`…), when the body carried one.
    pub code: Option<u32>,
    /// Twilio's message, scrubbed of anything that could be a phone number or a code.
    pub message: Option<String>,
}

impl ApiError {
    /// Reads Twilio's error JSON; a body that is not that leaves only the HTTP status.
    fn from_body(http: u16, body: &[u8]) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
        Self {
            http,
            code: field("code")
                .and_then(serde_json::Value::as_u64)
                .and_then(|c| u32::try_from(c).ok()),
            message: field("message")
                .and_then(serde_json::Value::as_str)
                .map(scrub),
        }
    }

    fn status_only(http: u16) -> Self {
        Self {
            http,
            code: None,
            message: None,
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.http)?;
        match (self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, ", Twilio error {code}: {message}"),
            (Some(code), None) => write!(f, ", Twilio error {code}"),
            (None, Some(message)) => write!(f, ": {message}"),
            (None, None) => f.write_str(", no Twilio error body"),
        }
    }
}

/// Why a Twilio Verify call failed, as precisely as Twilio said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwilioVerifyError {
    /// The configuration was refused by [`TwilioVerify::new`].
    #[error("invalid Twilio Verify configuration: {0}")]
    Config(String),
    /// 60200: Twilio refused a parameter (usually the number).
    #[error("Twilio refused a parameter ({0})")]
    InvalidParameter(ApiError),
    /// 60202: too many checks against the pending verification.
    #[error("too many checks against the pending verification ({0})")]
    MaxCheckAttempts(ApiError),
    /// 60203: too many verifications started for this number lately.
    #[error("too many codes sent to this number ({0})")]
    MaxSendAttempts(ApiError),
    /// 60212: too many verifications started for this number at once.
    #[error("too many concurrent verifications for this number ({0})")]
    ConcurrentRequests(ApiError),
    /// 20404 on a check: nothing pending (expired, used up, already approved, never sent).
    #[error("no pending verification for this number ({0})")]
    NotFound(ApiError),
    /// 20404 on a send: the Verify service does not exist (check the service SID).
    #[error("the Verify service was not found; check the service SID ({0})")]
    ServiceNotFound(ApiError),
    /// 20429 or any other HTTP 429: Twilio is throttling the account.
    #[error("rate limited by Twilio ({0})")]
    RateLimited(ApiError),
    /// 60410: Fraud Guard blocked sending to this number's prefix.
    #[error("blocked by Twilio Fraud Guard ({0})")]
    FraudBlocked(ApiError),
    /// 60205, 60436, 60605, 60238: Twilio will not deliver a code to this number (a landline,
    /// not a valid recipient, blocked by geo-permissions or by Twilio).
    #[error("Twilio cannot deliver a code to this number ({0})")]
    Undeliverable(ApiError),
    /// 401, 403 or 20003: Twilio refused the credentials; the operator must fix them.
    #[error("Twilio refused the credentials; check the account SID and auth token ({0})")]
    Credentials(ApiError),
    /// Any other 4xx.
    #[error("Twilio rejected the request ({0})")]
    ClientError(ApiError),
    /// Any 5xx.
    #[error("Twilio failed ({0})")]
    ServerError(ApiError),
    /// A status that is neither an error nor one the call accepts (1xx, 3xx, other 2xx).
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
    /// A success status whose body is not the expected JSON.
    #[error("malformed answer from Twilio (HTTP {http}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        http: u16,
        /// What was wrong with the body (scrubbed).
        reason: String,
    },
    /// A check answered with status `max_attempts_reached`.
    #[error("Twilio says the verification reached its maximum check attempts")]
    ChecksExhausted,
    /// A check answered with status `expired`, `canceled` or `deleted`.
    #[error("Twilio says the verification is {status}")]
    VerificationClosed {
        /// The status Twilio gave.
        status: String,
    },
    /// A status the call does not accept (`failed`, unknown, `approved` on a send…).
    #[error("Twilio answered the {operation} with verification status {status:?}")]
    UnexpectedVerificationStatus {
        /// The call.
        operation: Operation,
        /// The status Twilio gave (scrubbed).
        status: String,
    },
}

impl TwilioVerifyError {
    /// Whether only the operator can fix this (credentials, service SID, configuration).
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Self::Credentials(_) | Self::ServiceNotFound(_) | Self::Config(_)
        )
    }
}

impl From<TwilioVerifyError> for VerifyError {
    fn from(e: TwilioVerifyError) -> Self {
        use TwilioVerifyError as T;
        match e {
            T::MaxSendAttempts(_) | T::ConcurrentRequests(_) => Self::TooManySends,
            T::MaxCheckAttempts(_) | T::ChecksExhausted => Self::TooManyChecks,
            T::NotFound(_) | T::VerificationClosed { .. } => Self::NotFound,
            T::FraudBlocked(_) | T::Undeliverable(_) | T::InvalidParameter(_) => {
                Self::Refused(e.to_string())
            }
            T::Config(_)
            | T::ServiceNotFound(_)
            | T::RateLimited(_)
            | T::Credentials(_)
            | T::ClientError(_)
            | T::ServerError(_)
            | T::UnexpectedStatus(_)
            | T::Timeout(_)
            | T::Connect(_)
            | T::Transport(_)
            | T::MalformedResponse { .. }
            | T::UnexpectedVerificationStatus { .. } => Self::Unavailable(e.to_string()),
        }
    }
}

/// The Twilio Verify client. Holds one connection-pooling HTTP client; cheap to share behind
/// an `Arc`.
pub struct TwilioVerify {
    client: reqwest::Client,
    verifications_url: Url,
    check_url: Url,
    account_sid: String,
    auth_token: SecretString,
    timeout: Duration,
}

impl fmt::Debug for TwilioVerify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioVerify")
            .field("verifications_url", &self.verifications_url.as_str())
            .field("check_url", &self.check_url.as_str())
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TwilioVerify {
    /// Checks the configuration and builds the shared HTTP client.
    pub fn new(config: TwilioVerifyConfig) -> Result<Self, TwilioVerifyError> {
        let TwilioVerifyConfig {
            base_url,
            account_sid,
            auth_token,
            service_sid,
            timeout,
        } = config;
        let refuse = |why: &str| Err(TwilioVerifyError::Config(why.to_owned()));
        if account_sid.is_empty() {
            return refuse("the account SID is empty");
        }
        if account_sid.contains(':') {
            return refuse("the account SID contains ':', which Basic auth cannot carry");
        }
        if auth_token.expose_secret().is_empty() {
            return refuse("the auth token is empty");
        }
        if service_sid.is_empty() {
            return refuse("the Verify service SID is empty");
        }
        if service_sid == "." || service_sid == ".." {
            return refuse("the Verify service SID cannot be '.' or '..'");
        }
        if timeout.is_zero() {
            return refuse("the timeout is zero");
        }
        upstream::check_base_url(&base_url).map_err(TwilioVerifyError::Config)?;
        if !looks_like_service_sid(&service_sid) {
            tracing::warn!(
                event = "verify.config_warning",
                "the Verify service SID does not look like VA followed by 32 hex digits; using it anyway"
            );
        }
        let verifications_url = endpoint(&base_url, &service_sid, "Verifications")?;
        let check_url = endpoint(&base_url, &service_sid, "VerificationCheck")?;
        let client = upstream::client(timeout).map_err(TwilioVerifyError::Config)?;
        Ok(Self {
            client,
            verifications_url,
            check_url,
            account_sid,
            auth_token,
            timeout,
        })
    }

    /// Starts a verification for `to` over `channel` (`sms`, or `call` for a voice call;
    /// Twilio resends the same code while one is pending), with Twilio's own error.
    pub async fn create_verification(
        &self,
        to: &PhoneNumber,
        channel: Channel,
    ) -> Result<(), TwilioVerifyError> {
        let channel = match channel {
            Channel::Sms => "sms",
            Channel::Voice => "call",
        };
        let form = [("To", to.as_e164()), ("Channel", channel)];
        self.call(Operation::Send, to, &form, interpret_send).await
    }

    /// Checks `code` against the verification pending for `to`, with Twilio's own error.
    pub async fn check_verification(
        &self,
        to: &PhoneNumber,
        code: &Code,
    ) -> Result<CheckOutcome, TwilioVerifyError> {
        let form = [("To", to.as_e164()), ("Code", code.expose())];
        self.call(Operation::Check, to, &form, interpret_check)
            .await
    }

    /// One upstream call: post the form, read the answer, interpret it, log it.
    async fn call<T>(
        &self,
        operation: Operation,
        to: &PhoneNumber,
        form: &[(&str, &str)],
        interpret: fn(u16, &[u8]) -> Result<T, TwilioVerifyError>,
    ) -> Result<T, TwilioVerifyError> {
        let url = match operation {
            Operation::Send => &self.verifications_url,
            Operation::Check => &self.check_url,
        };
        let started = Instant::now();
        let exchanged = self.exchange(url, form).await;
        let elapsed_ms = upstream::elapsed_ms(started);
        let http_status = exchanged.as_ref().ok().map(|(http, _)| *http);
        let result = exchanged.and_then(|(http, body)| interpret(http, &body));
        tracing::debug!(
            event = "verify.request",
            verifier = "twilio-verify",
            %operation,
            http_status,
            elapsed_ms,
            to = %to,
            ok = result.is_ok(),
            "Twilio Verify call"
        );
        if let Err(error) = &result {
            if error.needs_operator() {
                tracing::error!(
                    event = "verify.upstream_error",
                    verifier = "twilio-verify",
                    %operation,
                    http_status,
                    elapsed_ms,
                    to = %to,
                    %error,
                    "Twilio Verify call failed; the operator must fix the configuration"
                );
            } else {
                tracing::warn!(
                    event = "verify.upstream_error",
                    verifier = "twilio-verify",
                    %operation,
                    http_status,
                    elapsed_ms,
                    to = %to,
                    %error,
                    "Twilio Verify call failed"
                );
            }
        }
        result
    }

    /// Posts the form and reads the status and (bounded) body.
    async fn exchange(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<(u16, Vec<u8>), TwilioVerifyError> {
        let request = self
            .client
            .post(url.clone())
            .basic_auth(&self.account_sid, Some(self.auth_token.expose_secret()))
            .form(form);
        let answer = upstream::exchange(request, self.timeout)
            .await
            .map_err(|e| match e {
                TransportError::Timeout(t) => TwilioVerifyError::Timeout(t),
                TransportError::Connect(why) => TwilioVerifyError::Connect(why),
                TransportError::Transport(why) => TwilioVerifyError::Transport(why),
            })?;
        Ok((answer.http, answer.body))
    }
}

/// Twilio keeps the pending verification itself: no receipt is needed to find it again.
impl Verifier for TwilioVerify {
    fn send<'a>(
        &'a self,
        delivery: &'a Delivery<'a>,
        _previous: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<Receipt, VerifyError>> {
        Box::pin(async move {
            self.create_verification(delivery.to, delivery.channel)
                .await?;
            Ok(Receipt::default())
        })
    }

    fn check<'a>(
        &'a self,
        to: &'a PhoneNumber,
        code: &'a Code,
        _receipt: Option<&'a Receipt>,
    ) -> BoxFuture<'a, Result<CheckOutcome, VerifyError>> {
        Box::pin(async move { Ok(self.check_verification(to, code).await?) })
    }

    fn name(&self) -> &'static str {
        "twilio-verify"
    }

    fn channels(&self) -> &'static [Channel] {
        &Channel::ALL
    }
}

/// The part of a Verification or VerificationCheck resource that decides anything.
#[derive(serde::Deserialize)]
struct Resource {
    status: String,
}

fn is_success(http: u16) -> bool {
    (200..300).contains(&http)
}

/// Reads a success body; anything but JSON with a string `status` is malformed.
fn parse_resource(http: u16, body: &[u8]) -> Result<Resource, TwilioVerifyError> {
    if body.len() >= MAX_BODY_BYTES {
        return Err(TwilioVerifyError::MalformedResponse {
            http,
            reason: format!("body larger than {MAX_BODY_BYTES} bytes"),
        });
    }
    let malformed = |reason: String| TwilioVerifyError::MalformedResponse { http, reason };
    // The derived struct refuses a repeated `status`, but would also read the JSON array
    // `["approved"]`: only an object is a resource.
    let resource = serde_json::from_slice(body).map_err(|e| malformed(scrub(&e.to_string())))?;
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(malformed("the body is not a JSON object".to_owned()));
    }
    Ok(resource)
}

/// A send succeeds on any 2xx whose status is `pending`.
fn interpret_send(http: u16, body: &[u8]) -> Result<(), TwilioVerifyError> {
    if !is_success(http) {
        return Err(classify(Operation::Send, http, body));
    }
    match parse_resource(http, body)?.status.as_str() {
        "pending" => Ok(()),
        other => Err(TwilioVerifyError::UnexpectedVerificationStatus {
            operation: Operation::Send,
            status: scrub(other),
        }),
    }
}

/// A check approves only on HTTP 200 or 201 with status exactly `approved`.
fn interpret_check(http: u16, body: &[u8]) -> Result<CheckOutcome, TwilioVerifyError> {
    if !is_success(http) {
        return Err(classify(Operation::Check, http, body));
    }
    if http != 200 && http != 201 {
        return Err(TwilioVerifyError::UnexpectedStatus(ApiError::status_only(
            http,
        )));
    }
    check_outcome(&parse_resource(http, body)?.status)
}

/// Maps a VerificationCheck's `status`.
fn check_outcome(status: &str) -> Result<CheckOutcome, TwilioVerifyError> {
    match status {
        "approved" => Ok(CheckOutcome::Approved),
        "pending" => Ok(CheckOutcome::Rejected),
        "max_attempts_reached" => Err(TwilioVerifyError::ChecksExhausted),
        "expired" | "canceled" | "deleted" => Err(TwilioVerifyError::VerificationClosed {
            status: status.to_owned(),
        }),
        other => Err(TwilioVerifyError::UnexpectedVerificationStatus {
            operation: Operation::Check,
            status: scrub(other),
        }),
    }
}

/// Maps an error answer. Twilio's code decides first: Verify answers some refusals about
/// the number (60205, 60605) with HTTP 403, which must not read as bad credentials.
fn classify(operation: Operation, http: u16, body: &[u8]) -> TwilioVerifyError {
    use TwilioVerifyError as E;
    let api = ApiError::from_body(http, body);
    match api.code {
        Some(60200) => E::InvalidParameter(api),
        Some(60202) => E::MaxCheckAttempts(api),
        Some(60203) => E::MaxSendAttempts(api),
        Some(60212) => E::ConcurrentRequests(api),
        Some(20404) => match operation {
            Operation::Check => E::NotFound(api),
            Operation::Send => E::ServiceNotFound(api),
        },
        Some(60410) => E::FraudBlocked(api),
        Some(60205 | 60436 | 60605 | 60238) => E::Undeliverable(api),
        Some(20003) => E::Credentials(api),
        Some(20429) => E::RateLimited(api),
        _ => match http {
            401 | 403 => E::Credentials(api),
            429 => E::RateLimited(api),
            400..=499 => E::ClientError(api),
            500..=599 => E::ServerError(api),
            _ => E::UnexpectedStatus(api),
        },
    }
}

/// `VA` and 32 hex digits, the pattern Twilio's spec gives for a service SID.
fn looks_like_service_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("VA") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// `{base}/v2/Services/{service_sid}/{leaf}`, the SID as one percent-encoded segment.
fn endpoint(base: &Url, service_sid: &str, leaf: &str) -> Result<Url, TwilioVerifyError> {
    upstream::endpoint(base, &["v2", "Services", service_sid, leaf])
        .map_err(TwilioVerifyError::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "VAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn config(base: &str, service_sid: &str) -> TwilioVerifyConfig {
        TwilioVerifyConfig {
            base_url: Url::parse(base).unwrap(),
            account_sid: "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_owned(),
            auth_token: SecretString::from("s3cr3t-t0ken-value"),
            service_sid: service_sid.to_owned(),
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

    fn classified(operation: Operation, http: u16, code: u32) -> TwilioVerifyError {
        classify(operation, http, &error_json(code, "whatever", http))
    }

    /// An operation, an HTTP status, a Twilio code, and what the error must be.
    type Case = (Operation, u16, u32, fn(&TwilioVerifyError) -> bool);

    #[test]
    fn error_codes_map_to_their_variants() {
        use Operation::{Check, Send};
        use TwilioVerifyError as E;
        let cases: &[Case] = &[
            (Send, 400, 60200, |e| matches!(e, E::InvalidParameter(_))),
            (Check, 429, 60202, |e| matches!(e, E::MaxCheckAttempts(_))),
            (Send, 429, 60203, |e| matches!(e, E::MaxSendAttempts(_))),
            (Send, 429, 60212, |e| matches!(e, E::ConcurrentRequests(_))),
            (Check, 404, 20404, |e| matches!(e, E::NotFound(_))),
            (Send, 404, 20404, |e| matches!(e, E::ServiceNotFound(_))),
            (Send, 429, 20429, |e| matches!(e, E::RateLimited(_))),
            (Send, 403, 60410, |e| matches!(e, E::FraudBlocked(_))),
            (Send, 403, 60205, |e| matches!(e, E::Undeliverable(_))),
            (Send, 400, 60436, |e| matches!(e, E::Undeliverable(_))),
            (Send, 403, 60605, |e| matches!(e, E::Undeliverable(_))),
            (Send, 403, 60238, |e| matches!(e, E::Undeliverable(_))),
            (Send, 401, 20003, |e| matches!(e, E::Credentials(_))),
            (Check, 403, 20403, |e| matches!(e, E::Credentials(_))),
            (Send, 429, 12345, |e| matches!(e, E::RateLimited(_))),
            (Send, 400, 21211, |e| matches!(e, E::ClientError(_))),
            (Check, 500, 20500, |e| matches!(e, E::ServerError(_))),
            (Check, 302, 20001, |e| matches!(e, E::UnexpectedStatus(_))),
        ];
        for (operation, http, code, expected) in cases {
            let e = classified(*operation, *http, *code);
            assert!(expected(&e), "{operation} {http} {code} gave {e:?}");
        }
    }

    #[test]
    fn the_error_body_is_carried() {
        let e = classify(
            Operation::Send,
            400,
            &error_json(60200, "Invalid parameter", 400),
        );
        assert_eq!(
            e,
            TwilioVerifyError::InvalidParameter(ApiError {
                http: 400,
                code: Some(60200),
                message: Some("Invalid parameter".to_owned()),
            })
        );
        assert_eq!(
            e.to_string(),
            "Twilio refused a parameter (HTTP 400, Twilio error 60200: Invalid parameter)"
        );
    }

    #[test]
    fn a_body_that_is_not_twilio_json_falls_back_to_the_status() {
        use TwilioVerifyError as E;
        for (http, body) in [
            (503, &b"<html>Service Unavailable</html>"[..]),
            (502, b""),
            (500, b"{\"code\": \"sixty\"}"),
            (500, b"[1, 2, 3]"),
        ] {
            let e = classify(Operation::Check, http, body);
            assert!(
                matches!(&e, E::ServerError(api) if api.code.is_none() && api.message.is_none()),
                "{e:?}"
            );
        }
        assert!(matches!(
            classify(Operation::Send, 429, b"slow down"),
            E::RateLimited(ApiError { code: None, .. })
        ));
        assert!(matches!(
            classify(Operation::Send, 403, b"Forbidden"),
            E::Credentials(_)
        ));
        assert!(matches!(
            classify(Operation::Send, 418, b"teapot"),
            E::ClientError(_)
        ));
        // A plain 404 (no Twilio code) on a check is an outage, not "nothing pending".
        assert!(matches!(
            classify(Operation::Check, 404, b"Not Found"),
            E::ClientError(_)
        ));
    }

    #[test]
    fn twilio_errors_map_onto_verify_errors() {
        let refused = |e: VerifyError| matches!(e, VerifyError::Refused(_));
        let unavailable = |e: VerifyError| matches!(e, VerifyError::Unavailable(_));
        let of = |op, http, code| VerifyError::from(classified(op, http, code));
        use Operation::{Check, Send};
        assert_eq!(of(Send, 429, 60203), VerifyError::TooManySends);
        assert_eq!(of(Send, 429, 60212), VerifyError::TooManySends);
        assert_eq!(of(Check, 429, 60202), VerifyError::TooManyChecks);
        assert_eq!(of(Check, 404, 20404), VerifyError::NotFound);
        assert!(refused(of(Send, 403, 60410)));
        assert!(refused(of(Send, 403, 60205)));
        assert!(refused(of(Send, 400, 60200)));
        for (op, http, code) in [
            (Send, 404, 20404),
            (Send, 429, 20429),
            (Send, 429, 1),
            (Send, 401, 20003),
            (Send, 403, 1),
            (Send, 400, 21211),
            (Send, 500, 20500),
            (Send, 302, 1),
        ] {
            assert!(unavailable(of(op, http, code)), "{op} {http} {code}");
        }
        for e in [
            TwilioVerifyError::Timeout(Duration::from_secs(1)),
            TwilioVerifyError::Connect("refused".to_owned()),
            TwilioVerifyError::Transport("reset".to_owned()),
            TwilioVerifyError::MalformedResponse {
                http: 200,
                reason: "x".to_owned(),
            },
            TwilioVerifyError::Config("x".to_owned()),
        ] {
            assert!(unavailable(e.into()));
        }
    }

    #[test]
    fn a_check_approves_only_on_exactly_approved() {
        let answer = |http: u16, body: &str| interpret_check(http, body.as_bytes());
        assert_eq!(
            answer(200, r#"{"status":"approved","valid":true}"#),
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            answer(201, r#"{"status":"approved"}"#),
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            answer(200, r#"{"status":"pending","valid":false}"#),
            Ok(CheckOutcome::Rejected)
        );
        for (http, body) in [
            (200, r#"["approved"]"#),
            (200, r#"["approved", true]"#),
            (200, r#"{"status":"APPROVED","valid":true}"#),
            (200, r#"{"status":"approved ","valid":true}"#),
            (200, r#"{"status":" approved"}"#),
            (200, r#"{"valid":true}"#),
            (200, r#"{"status":null,"valid":true}"#),
            (200, r#"{"status":true}"#),
            (200, r#"{"status":"pending","status":"approved"}"#),
            (200, r#"{"data":{"status":"approved"}}"#),
            (200, r#""approved""#),
            (200, "approved"),
            (200, ""),
            (202, r#"{"status":"approved"}"#),
            (204, ""),
            (200, r#"{"status":"failed"}"#),
            (200, r#"{"status":"expired"}"#),
            (200, r#"{"status":"max_attempts_reached"}"#),
        ] {
            let got = answer(http, body);
            assert!(got.is_err(), "{http} {body} gave {got:?}");
        }
    }

    #[test]
    fn check_statuses_map_onto_verify_errors() {
        let verify = |status: &str| check_outcome(status).map_err(VerifyError::from);
        assert_eq!(verify("approved"), Ok(CheckOutcome::Approved));
        assert_eq!(verify("pending"), Ok(CheckOutcome::Rejected));
        assert_eq!(
            verify("max_attempts_reached"),
            Err(VerifyError::TooManyChecks)
        );
        for status in ["expired", "canceled", "deleted"] {
            assert_eq!(verify(status), Err(VerifyError::NotFound), "{status}");
        }
        for status in ["failed", "", "Approved", "unknown"] {
            assert!(
                matches!(verify(status), Err(VerifyError::Unavailable(_))),
                "{status}"
            );
        }
    }

    #[test]
    fn a_send_succeeds_only_when_pending() {
        assert_eq!(interpret_send(201, br#"{"status":"pending"}"#), Ok(()));
        assert_eq!(interpret_send(200, br#"{"status":"pending"}"#), Ok(()));
        for (http, body) in [
            (201, &br#"{"status":"approved"}"#[..]),
            (201, br#"{"status":"failed"}"#),
            (201, br#"{"sid":"VE1"}"#),
            (201, b"<html>ok</html>"),
            (201, b""),
        ] {
            let got = interpret_send(http, body);
            assert!(
                matches!(
                    VerifyError::from(got.clone().unwrap_err()),
                    VerifyError::Unavailable(_)
                ),
                "{http} gave {got:?}"
            );
        }
    }

    #[test]
    fn an_oversized_success_body_is_malformed() {
        let mut body = br#"{"status":"approved","padding":""#.to_vec();
        body.resize(MAX_BODY_BYTES, b'x');
        assert!(matches!(
            interpret_check(200, &body),
            Err(TwilioVerifyError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn urls_keep_an_odd_service_sid_inside_one_segment() {
        let base = Url::parse("https://verify.twilio.com").unwrap();
        let odd = "VA/../../x?y=1#z %2e\\..";
        let url = endpoint(&base, odd, "Verifications").unwrap();
        assert_eq!(url.host_str(), Some("verify.twilio.com"));
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        let segments: Vec<_> = url.path_segments().unwrap().collect();
        assert_eq!(segments.len(), 4, "{url}");
        assert_eq!(segments[..2], ["v2", "Services"]);
        assert_eq!(segments[3], "Verifications");
        let decoded = percent_encoding::percent_decode_str(segments[2])
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, odd);
        // A normal SID is left as it is.
        assert_eq!(
            endpoint(&base, SID, "VerificationCheck").unwrap().as_str(),
            format!("https://verify.twilio.com/v2/Services/{SID}/VerificationCheck")
        );
    }

    #[test]
    fn urls_keep_a_base_path_and_drop_its_query() {
        for base in [
            "http://127.0.0.1:8080/prefix/?x=1#f",
            "http://127.0.0.1:8080/prefix",
        ] {
            let url = endpoint(&Url::parse(base).unwrap(), SID, "Verifications").unwrap();
            assert_eq!(
                url.as_str(),
                format!("http://127.0.0.1:8080/prefix/v2/Services/{SID}/Verifications"),
                "{base}"
            );
        }
    }

    #[test]
    fn bad_configurations_are_refused() {
        let refused = |c: TwilioVerifyConfig| {
            matches!(TwilioVerify::new(c), Err(TwilioVerifyError::Config(_)))
        };
        let good = || config("https://verify.twilio.com", SID);
        assert!(!refused(good()));
        assert!(refused(TwilioVerifyConfig {
            account_sid: String::new(),
            ..good()
        }));
        assert!(refused(TwilioVerifyConfig {
            account_sid: "AC:x".to_owned(),
            ..good()
        }));
        assert!(refused(TwilioVerifyConfig {
            auth_token: SecretString::from(""),
            ..good()
        }));
        assert!(refused(TwilioVerifyConfig {
            timeout: Duration::ZERO,
            ..good()
        }));
        for sid in ["", ".", ".."] {
            assert!(refused(config("https://verify.twilio.com", sid)), "{sid:?}");
        }
        for base in [
            "http://verify.twilio.com",
            "http://10.0.0.1:8080",
            "ftp://127.0.0.1",
            "mailto:ops@example.com",
            "https://user:pass@verify.twilio.com",
        ] {
            assert!(refused(config(base, SID)), "{base}");
        }
        for base in [
            "http://127.0.0.1:9",
            "http://127.8.0.1:9",
            "http://localhost:9",
            "http://[::1]:9",
        ] {
            assert!(!refused(config(base, SID)), "{base}");
        }
        // Any other non-empty SID is accepted (and encoded).
        assert!(!refused(config(
            "https://verify.twilio.com",
            "not a sid/.."
        )));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = config("https://verify.twilio.com", SID);
        let client = TwilioVerify::new(c.clone()).unwrap();
        for text in [
            format!("{client:?}"),
            format!("{client:#?}"),
            format!("{c:?}"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        assert!(format!("{client:?}").contains("redacted"));
        assert_eq!(client.name(), "twilio-verify");
    }

    #[test]
    fn the_default_config_points_at_twilio() {
        let c = TwilioVerifyConfig::new("AC1", SecretString::from("t"), SID);
        assert_eq!(c.base_url.as_str(), "https://verify.twilio.com/");
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn scrub_masks_numbers_and_codes_but_not_error_codes() {
        assert_eq!(
            scrub("Invalid parameter `To`: +15551230001"),
            "Invalid parameter `To`: +1555•••0001"
        );
        assert_eq!(scrub("code 123456 is wrong"), "code ••• is wrong");
        assert_eq!(scrub("call +1 (555) 123-0001 now"), "call +1555•••0001 now");
        assert_eq!(
            scrub("see https://www.twilio.com/docs/errors/60200"),
            "see https://www.twilio.com/docs/errors/60200"
        );
        assert_eq!(scrub("60200 - 20404"), "60200 - 20404");
        assert_eq!(scrub("a\nb\u{7}c"), "a b c");
        let long = "x".repeat(1000);
        assert_eq!(scrub(&long).chars().count(), 201);
    }

    #[test]
    fn upstream_messages_reach_errors_scrubbed() {
        let e = classify(
            Operation::Send,
            400,
            &error_json(60200, "Invalid parameter `To`: +15551230001", 400),
        );
        let verify = VerifyError::from(e.clone());
        for text in [e.to_string(), format!("{e:?}"), verify.to_string()] {
            assert!(!text.contains("5551230001"), "{text}");
        }
        let status = interpret_check(200, br#"{"status":"sent to +15551230001"}"#).unwrap_err();
        assert!(!status.to_string().contains("5551230001"), "{status}");
        let malformed = interpret_check(200, br#"{"status": 15551230001}"#).unwrap_err();
        assert!(!malformed.to_string().contains("5551230001"), "{malformed}");
    }
}
