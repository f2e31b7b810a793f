//! The Telnyx Verify v2 client: starts a verification (Telnyx texts or calls the code) and
//! checks what the caller typed, over Telnyx's REST API, mapping every answer and failure onto
//! [`VerifyError`].
//!
//! Only `POST /v2/verifications/sms` or `/v2/verifications/call` (`phone_number`,
//! `verify_profile_id`, `timeout_secs` 600) and
//! `POST /v2/verifications/by_phone_number/{phone_number}/actions/verify` (`code`,
//! `verify_profile_id`) are used, with `Authorization: Bearer <API key>` and JSON bodies.
//! Telnyx keeps the pending verification by number, so no receipt is needed.
//!
//! A check approves only when Telnyx answers HTTP 200 with `data.response_code` exactly
//! `"accepted"` and, when the answer names a number, that number is the caller's. `"rejected"`
//! is a wrong code; anything else is a typed refusal or an outage, never an approval.
//!
//! **The Verify profile must send 6-digit codes.** Telnyx's default `code_length` is 5, and a
//! caller can only type six digits: set the profile's SMS and call code length to 6 (in the
//! portal, or `PATCH /v2/verify_profiles/{id}` with `sms.code_length` and `call.code_length`).
//!
//! Telnyx's errors are `{"errors": [{"code", "title", "detail", "source", "meta"}]}`; the
//! first error's code decides before the HTTP status, so that a refusal about the number is
//! never read as bad credentials. Telnyx documents no Verify-specific codes (see the spec's
//! `x-notes`): "too many" for one number is told apart from account throttling by the error
//! pointing at the number (`source.pointer` `/phone_number` or `source.parameter`
//! `phone_number`); an account-wide 429 or `10011` is an outage.
//!
//! Text that comes from Telnyx (titles, details, statuses) goes through [`scrub`] before it
//! reaches an error or a log line, since Telnyx may echo the number.

use crate::BoxFuture;
use crate::domain::{Code, PhoneNumber};
use crate::verify::upstream::{self, TransportError};
use crate::verify::{Channel, CheckOutcome, Delivery, Receipt, Verifier, VerifyError};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::{Duration, Instant};
use url::Url;

pub use upstream::scrub;

/// Telnyx's production API (the client appends `/v2/…`).
pub const DEFAULT_BASE_URL: &str = "https://api.telnyx.com";

/// The default whole-request timeout: well inside the time a carrier waits for our webhook.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a sent code stays valid, in seconds (`timeout_secs`): ten minutes, like every
/// other verifier here (Telnyx's profile default is 300).
pub const CODE_TIMEOUT_SECS: u64 = 600;

const MAX_BODY_BYTES: usize = upstream::MAX_BODY_BYTES;

/// Where and how to reach Telnyx Verify.
#[derive(Debug, Clone)]
pub struct TelnyxVerifyConfig {
    /// The API's origin (`https://api.telnyx.com`, no path); tests point it at a fake. Plain
    /// `http` is accepted only for loopback hosts, so the API key never crosses a network in
    /// clear.
    pub base_url: Url,
    /// The API v2 key, sent as `Authorization: Bearer <key>`.
    pub api_key: SecretString,
    /// The Verify profile's id (a UUID), sent in every body. The profile must send 6 digits.
    pub profile_id: String,
    /// The whole-request timeout; the connect timeout is the smaller of this and 3 s.
    pub timeout: Duration,
}

impl TelnyxVerifyConfig {
    /// A configuration for Telnyx's production API with [`DEFAULT_TIMEOUT`].
    pub fn new(api_key: SecretString, profile_id: impl Into<String>) -> Self {
        Self {
            base_url: default_base_url(),
            api_key,
            profile_id: profile_id.into(),
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

/// What Telnyx answered when it refused a request: the HTTP status and, when the body was
/// Telnyx's error JSON, its first error (scrubbed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub http: u16,
    /// Telnyx's error code (`10011`, `10005`…), when the body carried one.
    pub code: Option<String>,
    /// Telnyx's title, scrubbed.
    pub title: Option<String>,
    /// Telnyx's detail, scrubbed of anything that could be a phone number or a code.
    pub detail: Option<String>,
    /// What the error points at: `source.pointer` (`/phone_number`) or `source.parameter`.
    pub source: Option<String>,
}

impl ApiError {
    /// Reads Telnyx's error JSON (the first of `errors`); a body that is not that leaves
    /// only the HTTP status.
    pub fn from_body(http: u16, body: &[u8]) -> Self {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let first = json
            .as_ref()
            .and_then(|j| j.get("errors"))
            .and_then(serde_json::Value::as_array)
            .and_then(|errors| errors.first());
        let text = |path: &[&str]| {
            first
                .and_then(|e| upstream::json_str(e, path))
                .map(scrub)
                .filter(|t| !t.is_empty())
        };
        // The spec types `code` as a string; a number is read the same.
        let code = first.and_then(|e| e.get("code")).and_then(|c| match c {
            serde_json::Value::String(s) => Some(scrub(s)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        Self {
            http,
            code,
            title: text(&["title"]),
            detail: text(&["detail"]),
            source: text(&["source", "pointer"]).or_else(|| text(&["source", "parameter"])),
        }
    }

    fn status_only(http: u16) -> Self {
        Self {
            http,
            code: None,
            title: None,
            detail: None,
            source: None,
        }
    }

    /// Whether the error points at this request field (`/name` or the parameter `name`).
    pub fn points_at(&self, field: &str) -> bool {
        self.source
            .as_deref()
            .is_some_and(|s| s.trim_start_matches('/') == field)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.http)?;
        match &self.code {
            Some(code) => write!(f, ", Telnyx error {code}")?,
            None if self.title.is_none() && self.detail.is_none() => {
                return f.write_str(", no Telnyx error body");
            }
            None => {}
        }
        if let Some(title) = &self.title {
            write!(f, " ({title})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(source) = &self.source {
            write!(f, " [at {source}]")?;
        }
        Ok(())
    }
}

/// Why a Telnyx Verify call failed, as precisely as Telnyx said.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TelnyxVerifyError {
    /// The configuration was refused by [`TelnyxVerify::new`].
    #[error("invalid Telnyx Verify configuration: {0}")]
    Config(String),
    /// 401, 403, 10009 or 10010: Telnyx refused the API key; the operator must fix it.
    #[error("Telnyx refused the API key; check TELNYX_API_KEY ({0})")]
    Credentials(ApiError),
    /// 10017, or an error about `verify_profile_id`: the Verify profile does not exist for
    /// this key (check the profile id).
    #[error("Telnyx does not know the Verify profile; check the profile id ({0})")]
    ProfileNotFound(ApiError),
    /// A 429 or 10011 that points at the number, on a send: too many codes for it lately.
    #[error("too many codes sent to this number ({0})")]
    TooManySends(ApiError),
    /// A 429 or 10011 that points at the number, on a check: too many checks of its code.
    #[error("too many checks against the pending verification ({0})")]
    TooManyChecks(ApiError),
    /// 10005 on a check: nothing pending for this number (expired, used up, never sent).
    #[error("no pending verification for this number ({0})")]
    NotFound(ApiError),
    /// Any other 429 or 10011: Telnyx is throttling the account.
    #[error("rate limited by Telnyx ({0})")]
    RateLimited(ApiError),
    /// 10001, 10002, 10016, 40001, 40008, 40012, 40300: Telnyx will not deliver a code to
    /// this number (inactive, invalid, not routable, undeliverable, opted out).
    #[error("Telnyx cannot deliver a code to this number ({0})")]
    Undeliverable(ApiError),
    /// Any other 4xx.
    #[error("Telnyx rejected the request ({0})")]
    ClientError(ApiError),
    /// Any 5xx.
    #[error("Telnyx failed ({0})")]
    ServerError(ApiError),
    /// A status that is neither an error nor one the call accepts (1xx, 3xx, other 2xx).
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
    /// A success status whose body is not the expected JSON.
    #[error("malformed answer from Telnyx (HTTP {http}): {reason}")]
    MalformedResponse {
        /// The HTTP status.
        http: u16,
        /// What was wrong with the body (scrubbed).
        reason: String,
    },
    /// A success whose `response_code` (check) or `status` (send) the call does not accept.
    #[error("Telnyx answered the {operation} with {field} {value:?}")]
    UnexpectedAnswer {
        /// The call.
        operation: Operation,
        /// The field (`response_code`, `status`).
        field: &'static str,
        /// What Telnyx gave (scrubbed).
        value: String,
    },
    /// A success about another number than the one asked about.
    #[error("Telnyx answered the {operation} about another number")]
    OtherNumber {
        /// The call.
        operation: Operation,
    },
}

impl TelnyxVerifyError {
    /// Whether only the operator can fix this (API key, profile id, configuration).
    pub fn needs_operator(&self) -> bool {
        matches!(
            self,
            Self::Credentials(_) | Self::ProfileNotFound(_) | Self::Config(_)
        )
    }
}

impl From<TelnyxVerifyError> for VerifyError {
    fn from(e: TelnyxVerifyError) -> Self {
        use TelnyxVerifyError as T;
        match e {
            T::TooManySends(_) => Self::TooManySends,
            T::TooManyChecks(_) => Self::TooManyChecks,
            T::NotFound(_) => Self::NotFound,
            T::Undeliverable(_) => Self::Refused(e.to_string()),
            T::Config(_)
            | T::Credentials(_)
            | T::ProfileNotFound(_)
            | T::RateLimited(_)
            | T::ClientError(_)
            | T::ServerError(_)
            | T::UnexpectedStatus(_)
            | T::Timeout(_)
            | T::Connect(_)
            | T::Transport(_)
            | T::MalformedResponse { .. }
            | T::UnexpectedAnswer { .. }
            | T::OtherNumber { .. } => Self::Unavailable(e.to_string()),
        }
    }
}

/// The Telnyx Verify client. Holds one connection-pooling HTTP client; cheap to share behind
/// an `Arc`.
pub struct TelnyxVerify {
    client: reqwest::Client,
    base_url: Url,
    sms_url: Url,
    call_url: Url,
    api_key: SecretString,
    profile_id: String,
    timeout: Duration,
}

impl fmt::Debug for TelnyxVerify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxVerify")
            .field("base_url", &self.base_url.as_str())
            .field("profile_id", &self.profile_id)
            .field("api_key", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl TelnyxVerify {
    /// Checks the configuration and builds the shared HTTP client.
    pub fn new(config: TelnyxVerifyConfig) -> Result<Self, TelnyxVerifyError> {
        let TelnyxVerifyConfig {
            base_url,
            api_key,
            profile_id,
            timeout,
        } = config;
        let refuse = |why: &str| Err(TelnyxVerifyError::Config(why.to_owned()));
        let key = api_key.expose_secret();
        if key.is_empty() {
            return refuse("the API key is empty");
        }
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return refuse("the API key has spaces or characters a header cannot carry");
        }
        if profile_id.trim().is_empty() {
            return refuse("the Verify profile id is empty");
        }
        if timeout.is_zero() {
            return refuse("the timeout is zero");
        }
        upstream::check_base_url(&base_url).map_err(TelnyxVerifyError::Config)?;
        if !looks_like_uuid(&profile_id) {
            tracing::warn!(
                event = "verify.config_warning",
                "the Telnyx Verify profile id does not look like a UUID; using it anyway"
            );
        }
        let sms_url = endpoint(&base_url, &["v2", "verifications", "sms"])?;
        let call_url = endpoint(&base_url, &["v2", "verifications", "call"])?;
        // The check URL is built per number; building one now refuses a base that cannot.
        check_url(&base_url, "+15550000000")?;
        let client = upstream::client(timeout).map_err(TelnyxVerifyError::Config)?;
        Ok(Self {
            client,
            base_url,
            sms_url,
            call_url,
            api_key,
            profile_id,
            timeout,
        })
    }

    /// Starts a verification for `to` over `channel` (`/verifications/sms`, or
    /// `/verifications/call` for a voice call), with Telnyx's own error.
    pub async fn create_verification(
        &self,
        to: &PhoneNumber,
        channel: Channel,
    ) -> Result<(), TelnyxVerifyError> {
        let url = match channel {
            Channel::Sms => &self.sms_url,
            Channel::Voice => &self.call_url,
        };
        let body = serde_json::json!({
            "phone_number": to.as_e164(),
            "verify_profile_id": self.profile_id,
            "timeout_secs": CODE_TIMEOUT_SECS,
        });
        self.call(Operation::Send, url, to, &body, interpret_send)
            .await
    }

    /// Checks `code` against the verification pending for `to`, with Telnyx's own error.
    pub async fn verify_code(
        &self,
        to: &PhoneNumber,
        code: &Code,
    ) -> Result<CheckOutcome, TelnyxVerifyError> {
        let url = check_url(&self.base_url, to.as_e164())?;
        let body = serde_json::json!({
            "code": code.expose(),
            "verify_profile_id": self.profile_id,
        });
        self.call(Operation::Check, &url, to, &body, interpret_check)
            .await
    }

    /// One upstream call: post the JSON, read the answer, interpret it, log it.
    async fn call<T>(
        &self,
        operation: Operation,
        url: &Url,
        to: &PhoneNumber,
        body: &serde_json::Value,
        interpret: fn(u16, &[u8], &str) -> Result<T, TelnyxVerifyError>,
    ) -> Result<T, TelnyxVerifyError> {
        let started = Instant::now();
        let request = self
            .client
            .post(url.clone())
            .bearer_auth(self.api_key.expose_secret())
            .json(body);
        let exchanged = upstream::exchange(request, self.timeout)
            .await
            .map_err(transport_error);
        let elapsed_ms = upstream::elapsed_ms(started);
        let http_status = exchanged.as_ref().ok().map(|a| a.http);
        let result =
            exchanged.and_then(|answer| interpret(answer.http, &answer.body, to.as_e164()));
        tracing::debug!(
            event = "verify.request",
            verifier = "telnyx-verify",
            %operation,
            http_status,
            elapsed_ms,
            to = %to,
            ok = result.is_ok(),
            "Telnyx Verify call"
        );
        if let Err(error) = &result {
            if error.needs_operator() {
                tracing::error!(
                    event = "verify.upstream_error",
                    verifier = "telnyx-verify",
                    %operation,
                    http_status,
                    elapsed_ms,
                    to = %to,
                    %error,
                    "Telnyx Verify call failed; the operator must fix the configuration"
                );
            } else {
                tracing::warn!(
                    event = "verify.upstream_error",
                    verifier = "telnyx-verify",
                    %operation,
                    http_status,
                    elapsed_ms,
                    to = %to,
                    %error,
                    "Telnyx Verify call failed"
                );
            }
        }
        result
    }
}

fn transport_error(e: TransportError) -> TelnyxVerifyError {
    match e {
        TransportError::Timeout(t) => TelnyxVerifyError::Timeout(t),
        TransportError::Connect(why) => TelnyxVerifyError::Connect(why),
        TransportError::Transport(why) => TelnyxVerifyError::Transport(why),
    }
}

/// Telnyx keeps the pending verification by number: no receipt is needed to find it again.
impl Verifier for TelnyxVerify {
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
        Box::pin(async move { Ok(self.verify_code(to, code).await?) })
    }

    fn name(&self) -> &'static str {
        "telnyx-verify"
    }

    fn channels(&self) -> &'static [Channel] {
        &Channel::ALL
    }
}

fn is_success(http: u16) -> bool {
    (200..300).contains(&http)
}

/// A success body's `data` object; anything else is malformed.
fn parse_data(
    http: u16,
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, TelnyxVerifyError> {
    let malformed = |reason: String| TelnyxVerifyError::MalformedResponse { http, reason };
    if body.len() >= MAX_BODY_BYTES {
        return Err(malformed(format!(
            "body larger than {MAX_BODY_BYTES} bytes"
        )));
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| malformed(scrub(&e.to_string())))?;
    match json.get("data") {
        Some(serde_json::Value::Object(data)) => Ok(data.clone()),
        Some(_) => Err(malformed("`data` is not an object".to_owned())),
        None => Err(malformed("no `data` object".to_owned())),
    }
}

/// A string field of `data`: `Ok(None)` when absent, malformed when not a string.
fn data_str<'a>(
    http: u16,
    data: &'a serde_json::Map<String, serde_json::Value>,
    name: &str,
) -> Result<Option<&'a str>, TelnyxVerifyError> {
    match data.get(name) {
        None => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(TelnyxVerifyError::MalformedResponse {
            http,
            reason: format!("`data.{name}` is not a string"),
        }),
    }
}

/// When the answer names a number, it must be the one asked about.
fn same_number(
    operation: Operation,
    http: u16,
    data: &serde_json::Map<String, serde_json::Value>,
    to: &str,
) -> Result<(), TelnyxVerifyError> {
    match data_str(http, data, "phone_number")? {
        Some(number) if number != to => Err(TelnyxVerifyError::OtherNumber { operation }),
        _ => Ok(()),
    }
}

/// A send succeeds on any 2xx whose `data` is a verification for `to` that is `pending`
/// (or carries no status).
fn interpret_send(http: u16, body: &[u8], to: &str) -> Result<(), TelnyxVerifyError> {
    if !is_success(http) {
        return Err(classify(Operation::Send, http, body));
    }
    let data = parse_data(http, body)?;
    same_number(Operation::Send, http, &data, to)?;
    match data_str(http, &data, "status")? {
        None | Some("pending") => Ok(()),
        Some(other) => Err(TelnyxVerifyError::UnexpectedAnswer {
            operation: Operation::Send,
            field: "status",
            value: scrub(other),
        }),
    }
}

/// A check approves only on HTTP 200 with `data.response_code` exactly `accepted` (and, when
/// `data.phone_number` is given, only for `to`); `rejected` is a wrong code.
fn interpret_check(http: u16, body: &[u8], to: &str) -> Result<CheckOutcome, TelnyxVerifyError> {
    if !is_success(http) {
        return Err(classify(Operation::Check, http, body));
    }
    if http != 200 {
        return Err(TelnyxVerifyError::UnexpectedStatus(ApiError::status_only(
            http,
        )));
    }
    let data = parse_data(http, body)?;
    let Some(response_code) = data_str(http, &data, "response_code")? else {
        return Err(TelnyxVerifyError::MalformedResponse {
            http,
            reason: "no `data.response_code`".to_owned(),
        });
    };
    same_number(Operation::Check, http, &data, to)?;
    match response_code {
        "accepted" => Ok(CheckOutcome::Approved),
        "rejected" => Ok(CheckOutcome::Rejected),
        other => Err(TelnyxVerifyError::UnexpectedAnswer {
            operation: Operation::Check,
            field: "response_code",
            value: scrub(other),
        }),
    }
}

/// Maps an error answer. Telnyx's code (and what it points at) decides first, the HTTP
/// status after.
fn classify(operation: Operation, http: u16, body: &[u8]) -> TelnyxVerifyError {
    use TelnyxVerifyError as E;
    let api = ApiError::from_body(http, body);
    let about_number = api.points_at("phone_number");
    let too_many = |api: ApiError| match operation {
        Operation::Send => E::TooManySends(api),
        Operation::Check => E::TooManyChecks(api),
    };
    if api.points_at("verify_profile_id") {
        return E::ProfileNotFound(api);
    }
    match api.code.as_deref() {
        Some("10009" | "10010") => E::Credentials(api),
        Some("10011") if about_number => too_many(api),
        Some("10011") => E::RateLimited(api),
        Some("10017") => E::ProfileNotFound(api),
        Some("10005") if operation == Operation::Check => E::NotFound(api),
        Some("10001" | "10002" | "10016" | "40001" | "40008" | "40012" | "40300") => {
            E::Undeliverable(api)
        }
        _ => match http {
            429 if about_number => too_many(api),
            429 => E::RateLimited(api),
            401 | 403 => E::Credentials(api),
            400..=499 => E::ClientError(api),
            500..=599 => E::ServerError(api),
            _ => E::UnexpectedStatus(api),
        },
    }
}

/// 8-4-4-4-12 hex digits, the form of Telnyx's ids.
fn looks_like_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, TelnyxVerifyError> {
    upstream::endpoint(base, segments).map_err(TelnyxVerifyError::Config)
}

/// `{base}/v2/verifications/by_phone_number/{number}/actions/verify`, the number as one
/// percent-encoded path segment (`+` and digits stay as they are).
fn check_url(base: &Url, number: &str) -> Result<Url, TelnyxVerifyError> {
    endpoint(
        base,
        &[
            "v2",
            "verifications",
            "by_phone_number",
            number,
            "actions",
            "verify",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = "12ade33a-21c0-473b-b055-b3c836e1c292";
    const TO: &str = "+15551230001";

    fn config(base: &str, profile_id: &str) -> TelnyxVerifyConfig {
        TelnyxVerifyConfig {
            base_url: Url::parse(base).unwrap(),
            api_key: SecretString::from("KEY0123-s3cr3t-value"),
            profile_id: profile_id.to_owned(),
            timeout: Duration::from_secs(2),
        }
    }

    fn error_json(code: &str, source: Option<(&str, &str)>) -> Vec<u8> {
        let mut error = serde_json::json!({
            "code": code,
            "title": "Some title",
            "detail": "Some detail",
        });
        if let Some((kind, at)) = source {
            error["source"] = serde_json::json!({ kind: at });
        }
        serde_json::json!({ "errors": [error] })
            .to_string()
            .into_bytes()
    }

    fn classified(operation: Operation, http: u16, code: &str) -> TelnyxVerifyError {
        classify(operation, http, &error_json(code, None))
    }

    type Case = (Operation, u16, &'static str, fn(&TelnyxVerifyError) -> bool);

    #[test]
    fn error_codes_map_to_their_variants() {
        use Operation::{Check, Send};
        use TelnyxVerifyError as E;
        let cases: &[Case] = &[
            (Send, 401, "10009", |e| matches!(e, E::Credentials(_))),
            (Check, 403, "10010", |e| matches!(e, E::Credentials(_))),
            (Send, 429, "10011", |e| matches!(e, E::RateLimited(_))),
            (Check, 429, "10011", |e| matches!(e, E::RateLimited(_))),
            (Send, 400, "10017", |e| matches!(e, E::ProfileNotFound(_))),
            (Check, 404, "10005", |e| matches!(e, E::NotFound(_))),
            (Send, 404, "10005", |e| matches!(e, E::ClientError(_))),
            (Send, 400, "10002", |e| matches!(e, E::Undeliverable(_))),
            (Send, 400, "10001", |e| matches!(e, E::Undeliverable(_))),
            (Send, 400, "10016", |e| matches!(e, E::Undeliverable(_))),
            (Send, 403, "40300", |e| matches!(e, E::Undeliverable(_))),
            (Send, 400, "40008", |e| matches!(e, E::Undeliverable(_))),
            (Send, 400, "10015", |e| matches!(e, E::ClientError(_))),
            (Send, 422, "10004", |e| matches!(e, E::ClientError(_))),
            (Send, 403, "99999", |e| matches!(e, E::Credentials(_))),
            (Check, 500, "10007", |e| matches!(e, E::ServerError(_))),
            (Check, 302, "10007", |e| matches!(e, E::UnexpectedStatus(_))),
        ];
        for (operation, http, code, expected) in cases {
            let e = classified(*operation, *http, code);
            assert!(expected(&e), "{operation} {http} {code} gave {e:?}");
        }
    }

    #[test]
    fn too_many_for_the_number_is_told_apart_from_account_throttling() {
        use TelnyxVerifyError as E;
        let at_number = error_json("10011", Some(("pointer", "/phone_number")));
        let at_parameter = error_json("10011", Some(("parameter", "phone_number")));
        assert!(matches!(
            classify(Operation::Send, 429, &at_number),
            E::TooManySends(_)
        ));
        assert!(matches!(
            classify(Operation::Check, 429, &at_parameter),
            E::TooManyChecks(_)
        ));
        // An account throttle names no field.
        assert!(matches!(
            classify(Operation::Send, 429, &error_json("10011", None)),
            E::RateLimited(_)
        ));
        assert!(matches!(
            classify(Operation::Check, 429, b"slow down"),
            E::RateLimited(_)
        ));
        // Anything about the profile id is the operator's.
        let profile = error_json("10015", Some(("pointer", "/verify_profile_id")));
        let e = classify(Operation::Check, 400, &profile);
        assert!(matches!(e, E::ProfileNotFound(_)), "{e:?}");
        assert!(e.needs_operator());
    }

    #[test]
    fn a_body_that_is_not_telnyx_json_falls_back_to_the_status() {
        use TelnyxVerifyError as E;
        for (http, body) in [
            (503, &b"<html>Service Unavailable</html>"[..]),
            (502, b""),
            (500, b"{\"errors\": \"x\"}"),
            (500, b"[1, 2, 3]"),
            (500, b"{\"errors\": []}"),
        ] {
            let e = classify(Operation::Check, http, body);
            assert!(
                matches!(&e, E::ServerError(api) if api.code.is_none() && api.detail.is_none()),
                "{e:?}"
            );
        }
        assert!(matches!(
            classify(Operation::Send, 403, b"Forbidden"),
            E::Credentials(_)
        ));
        assert!(matches!(
            classify(Operation::Send, 418, b"teapot"),
            E::ClientError(_)
        ));
        // A plain 404 (no Telnyx code) on a check is an outage, not "nothing pending".
        assert!(matches!(
            classify(Operation::Check, 404, b"Not Found"),
            E::ClientError(_)
        ));
    }

    #[test]
    fn telnyx_errors_map_onto_verify_errors() {
        use Operation::{Check, Send};
        let of = |op, http, code: &str| VerifyError::from(classified(op, http, code));
        let source = |op, code: &str| {
            VerifyError::from(classify(
                op,
                429,
                &error_json(code, Some(("pointer", "/phone_number"))),
            ))
        };
        assert_eq!(source(Send, "10011"), VerifyError::TooManySends);
        assert_eq!(source(Check, "10011"), VerifyError::TooManyChecks);
        assert_eq!(of(Check, 404, "10005"), VerifyError::NotFound);
        for code in [
            "10001", "10002", "10016", "40001", "40008", "40012", "40300",
        ] {
            assert!(
                matches!(of(Send, 400, code), VerifyError::Refused(_)),
                "{code}"
            );
        }
        for (op, http, code) in [
            (Send, 401, "10009"),
            (Send, 403, "10010"),
            (Send, 429, "10011"),
            (Send, 400, "10017"),
            (Send, 404, "10005"),
            (Send, 400, "10015"),
            (Check, 500, "10007"),
            (Send, 302, "1"),
        ] {
            assert!(
                matches!(of(op, http, code), VerifyError::Unavailable(_)),
                "{op} {http} {code}"
            );
        }
        for e in [
            TelnyxVerifyError::Timeout(Duration::from_secs(1)),
            TelnyxVerifyError::Connect("refused".to_owned()),
            TelnyxVerifyError::Transport("reset".to_owned()),
            TelnyxVerifyError::MalformedResponse {
                http: 200,
                reason: "x".to_owned(),
            },
            TelnyxVerifyError::Config("x".to_owned()),
            TelnyxVerifyError::OtherNumber {
                operation: Operation::Check,
            },
        ] {
            assert!(matches!(VerifyError::from(e), VerifyError::Unavailable(_)));
        }
    }

    #[test]
    fn a_check_approves_only_on_accepted_for_the_number() {
        let answer = |http: u16, body: &str| interpret_check(http, body.as_bytes(), TO);
        assert_eq!(
            answer(
                200,
                r#"{"data":{"phone_number":"+15551230001","response_code":"accepted"}}"#
            ),
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            answer(200, r#"{"data":{"response_code":"accepted"}}"#),
            Ok(CheckOutcome::Approved)
        );
        assert_eq!(
            answer(
                200,
                r#"{"data":{"phone_number":"+15551230001","response_code":"rejected"}}"#
            ),
            Ok(CheckOutcome::Rejected)
        );
        for (http, body) in [
            (
                200,
                r#"{"data":{"phone_number":"+15551230002","response_code":"accepted"}}"#,
            ),
            (
                200,
                r#"{"data":{"phone_number":15551230001,"response_code":"accepted"}}"#,
            ),
            (200, r#"{"data":{"response_code":"ACCEPTED"}}"#),
            (200, r#"{"data":{"response_code":"accepted "}}"#),
            (200, r#"{"data":{"response_code":true}}"#),
            (200, r#"{"data":{"response_code":null}}"#),
            (200, r#"{"data":{"status":"accepted"}}"#),
            (200, r#"{"data":{}}"#),
            (200, r#"{"data":"accepted"}"#),
            (200, r#"{"response_code":"accepted"}"#),
            (200, r#"{"data":{"response_code":"expired"}}"#),
            (200, r#""accepted""#),
            (200, "accepted"),
            (200, ""),
            (201, r#"{"data":{"response_code":"accepted"}}"#),
            (202, r#"{"data":{"response_code":"accepted"}}"#),
            (204, ""),
        ] {
            let got = answer(http, body);
            assert!(got.is_err(), "{http} {body} gave {got:?}");
            assert!(
                matches!(
                    VerifyError::from(got.unwrap_err()),
                    VerifyError::Unavailable(_)
                ),
                "{http} {body}"
            );
        }
    }

    #[test]
    fn a_send_succeeds_only_with_a_pending_verification() {
        let ok =
            br#"{"data":{"id":"x","phone_number":"+15551230001","status":"pending","type":"sms"}}"#;
        assert_eq!(interpret_send(200, ok, TO), Ok(()));
        assert_eq!(interpret_send(200, br#"{"data":{"id":"x"}}"#, TO), Ok(()));
        for (http, body) in [
            (200, &br#"{"data":{"status":"accepted"}}"#[..]),
            (200, br#"{"data":{"status":"error"}}"#),
            (200, br#"{"data":{"status":7}}"#),
            (
                200,
                br#"{"data":{"phone_number":"+15551230002","status":"pending"}}"#,
            ),
            (200, br#"{"id":"x"}"#),
            (200, br#"{"data":null}"#),
            (200, b"<html>ok</html>"),
            (200, b""),
        ] {
            let got = interpret_send(http, body, TO);
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
        let mut body = br#"{"data":{"response_code":"accepted","padding":""#.to_vec();
        body.resize(MAX_BODY_BYTES, b'x');
        assert!(matches!(
            interpret_check(200, &body, TO),
            Err(TelnyxVerifyError::MalformedResponse { .. })
        ));
    }

    #[test]
    fn the_number_is_one_segment_of_the_check_url() {
        let base = Url::parse("https://api.telnyx.com").unwrap();
        assert_eq!(
            check_url(&base, TO).unwrap().as_str(),
            "https://api.telnyx.com/v2/verifications/by_phone_number/+15551230001/actions/verify"
        );
        let odd = "+1/../x?y=1#z %2e\\..";
        let url = check_url(&base, odd).unwrap();
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        let segments: Vec<_> = url.path_segments().unwrap().collect();
        assert_eq!(segments.len(), 6, "{url}");
        assert_eq!(segments[..3], ["v2", "verifications", "by_phone_number"]);
        assert_eq!(segments[4..], ["actions", "verify"]);
        let decoded = percent_encoding::percent_decode_str(segments[3])
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, odd);
    }

    #[test]
    fn bad_configurations_are_refused() {
        let refused = |c: TelnyxVerifyConfig| {
            matches!(TelnyxVerify::new(c), Err(TelnyxVerifyError::Config(_)))
        };
        let good = || config("https://api.telnyx.com", PROFILE);
        assert!(!refused(good()));
        for key in ["", "KEY with space", "KEY\n"] {
            assert!(
                refused(TelnyxVerifyConfig {
                    api_key: SecretString::from(key),
                    ..good()
                }),
                "{key:?}"
            );
        }
        assert!(refused(TelnyxVerifyConfig {
            timeout: Duration::ZERO,
            ..good()
        }));
        assert!(refused(config("https://api.telnyx.com", " ")));
        for base in [
            "http://api.telnyx.com",
            "http://10.0.0.1:8080",
            "ftp://127.0.0.1",
            "mailto:ops@example.com",
            "https://user:pass@api.telnyx.com",
        ] {
            assert!(refused(config(base, PROFILE)), "{base}");
        }
        for base in ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"] {
            assert!(!refused(config(base, PROFILE)), "{base}");
        }
        // Any other non-empty profile id is accepted (with a warning).
        assert!(!refused(config("https://api.telnyx.com", "not-a-uuid")));
        assert!(looks_like_uuid(PROFILE));
        assert!(!looks_like_uuid("12ade33a21c0473bb055b3c836e1c292"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        let c = config("https://api.telnyx.com", PROFILE);
        let client = TelnyxVerify::new(c.clone()).unwrap();
        for text in [
            format!("{client:?}"),
            format!("{client:#?}"),
            format!("{c:?}"),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
        }
        assert!(format!("{client:?}").contains("redacted"));
        assert_eq!(client.name(), "telnyx-verify");
        assert_eq!(client.channels(), &[Channel::Sms, Channel::Voice]);
    }

    #[test]
    fn the_default_config_points_at_telnyx() {
        let c = TelnyxVerifyConfig::new(SecretString::from("k"), PROFILE);
        assert_eq!(c.base_url.as_str(), "https://api.telnyx.com/");
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn upstream_text_reaches_errors_scrubbed() {
        let body = serde_json::json!({"errors": [{
            "code": "10002",
            "title": "Invalid phone number +15551230001",
            "detail": "The phone number +15551230001 is invalid (code 482913).",
            "source": {"pointer": "/phone_number"},
        }]})
        .to_string();
        let e = classify(Operation::Send, 400, body.as_bytes());
        let verify = VerifyError::from(e.clone());
        for text in [e.to_string(), format!("{e:?}"), verify.to_string()] {
            assert!(!text.contains("5551230001"), "{text}");
            assert!(!text.contains("482913"), "{text}");
        }
        assert!(e.to_string().contains("Telnyx error 10002"), "{e}");
        let answer = interpret_check(
            200,
            br#"{"data":{"response_code":"sent +15551230001"}}"#,
            TO,
        )
        .unwrap_err();
        assert!(!answer.to_string().contains("5551230001"), "{answer}");
    }
}
