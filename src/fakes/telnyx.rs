//! A fake Telnyx API v2 serving both Verify (`POST /v2/verifications/sms`, `/call`,
//! `/by_phone_number/{phone_number}/actions/verify`) and messaging (`POST /v2/messages`) on
//! one server, speaking Telnyx's wire format: `Authorization: Bearer <key>`, JSON bodies,
//! `{"data": …}` answers and `{"errors": [{"code", "title", "detail", "source", "meta"}]}`
//! errors with Telnyx's generic codes.
//!
//! It is strict where Telnyx may be lenient, so a client that strays from the spec
//! (`telnyx_verify.json`, `telnyx_messaging.json`) fails loudly:
//! - a missing or wrong key is a 401 `10009`; a body that is not `application/json` a 415
//!   `10014`; a body that is not one JSON object, a field the spec does not define for the
//!   endpoint, a field given twice or of the wrong type a `10015`; a missing required field a
//!   `10004` (all with `source.pointer`); Verify answers these with HTTP 400 (the only error
//!   its spec declares), messaging with 422;
//! - a number not in E.164 is a `10016`; a `verify_profile_id` other than the one configured
//!   a 400 `10017` ("Associated resource does not exist") pointing at it;
//! - `custom_code` (defined by the spec) is refused: the fake makes its own codes.
//!
//! Verify follows [`Book`]'s rules (10-minute codes, the same code on a resend, 5 sends per
//! number per 10 minutes, 5 checks per code). Telnyx documents no Verify-specific codes for
//! those limits (the spec's `x-notes` say UNVERIFIED), so the fake answers them as a 429
//! `10011` "Too many requests" that points at the number (`source.pointer` `/phone_number`
//! on a send, `source.parameter` `phone_number` on a check); an account-wide throttle
//! ([`rate_limited`]) points at nothing. A check with nothing pending is a 404 `10005`; a
//! check answers 200 with `response_code` `accepted` or `rejected`.
//!
//! Messages are recorded ([`FakeTelnyx::messages`]); the six-digit code in a message's text
//! is reported to [`Control::delivered`] and kept for [`FakeTelnyx::sent_codes`], like the
//! codes Verify sends.

use crate::fakes::{
    Book, BookError, CODE_TTL, Control, DEFAULT_HISTORY, Failure, FakeServer,
    KEPT_CODES_PER_NUMBER, SentCode, code_in, is_e164, json_response, random_bytes, record, status,
    timestamp,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use url::Url;

/// The API key the fake accepts unless told otherwise (a test value, not a secret).
pub const DEFAULT_API_KEY: &str = "KEYfa4efa4e_fake-telnyx-test-key-not-a-secret";
/// The Verify profile the fake serves unless told otherwise.
pub const DEFAULT_PROFILE_ID: &str = "fa4efa4e-fa4e-4fa4-8fa4-efa4efa4efa4";

/// The properties the spec defines for `POST /verifications/sms`.
pub const SMS_FIELDS: &[&str] = &[
    "custom_code",
    "phone_number",
    "timeout_secs",
    "verify_profile_id",
];
/// The properties the spec defines for `POST /verifications/call`.
pub const CALL_FIELDS: &[&str] = &[
    "custom_code",
    "extension",
    "phone_number",
    "timeout_secs",
    "verify_profile_id",
];
/// The properties the spec defines for `POST /verifications/by_phone_number/…/actions/verify`.
pub const CHECK_FIELDS: &[&str] = &["code", "verify_profile_id"];
/// The properties the spec defines for `POST /messages`.
pub const MESSAGE_FIELDS: &[&str] = &[
    "auto_detect",
    "encoding",
    "from",
    "media_urls",
    "messaging_profile_id",
    "send_at",
    "subject",
    "text",
    "to",
    "type",
    "use_profile_webhooks",
    "webhook_failover_url",
    "webhook_url",
];

/// How to start a [`FakeTelnyx`].
#[derive(Debug, Clone)]
pub struct FakeTelnyxConfig {
    /// The address to bind, `127.0.0.1:0` (a random loopback port) by default.
    pub listen: String,
    /// The API key `Authorization: Bearer` must carry.
    pub api_key: String,
    /// The one Verify profile that exists.
    pub profile_id: String,
    /// How long every request waits before it is answered (none by default).
    pub latency: Duration,
    /// Every new verification gets this code; `None` (the default) draws a random one.
    pub fixed_code: Option<String>,
    /// Whether Verify's per-number limits apply (on by default; off for load runs).
    pub limits: bool,
    /// How many requests (and messages) are kept for inspection; 0 keeps none.
    pub history: usize,
}

impl Default for FakeTelnyxConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            api_key: DEFAULT_API_KEY.to_owned(),
            profile_id: DEFAULT_PROFILE_ID.to_owned(),
            latency: Duration::ZERO,
            fixed_code: None,
            limits: true,
            history: DEFAULT_HISTORY,
        }
    }
}

/// Telnyx's error JSON: one error with its code, title, detail and, when given, what it
/// points at (`("pointer", "/phone_number")` or `("parameter", "phone_number")`).
pub fn error_body(code: &str, title: &str, detail: &str, source: Option<(&str, &str)>) -> Value {
    let mut error = json!({
        "code": code,
        "title": title,
        "detail": detail,
        "meta": {"url": format!("https://developers.telnyx.com/docs/overview/errors/{code}")},
    });
    if let Some((kind, at)) = source {
        error["source"] = json!({ kind: at });
    }
    json!({ "errors": [error] })
}

/// A failure answering Telnyx's error JSON with this status, code, title and detail.
pub fn error(http: u16, code: &str, title: &str, detail: &str) -> Failure {
    Failure::Json {
        http,
        body: error_body(code, title, detail, None),
    }
}

/// Telnyx's "too many" for one number (what the fake answers past Verify's send limit): a
/// 429 `10011` pointing at `/phone_number`.
pub fn too_many() -> Failure {
    Failure::Json {
        http: 429,
        body: too_many_body(("pointer", "/phone_number")),
    }
}

/// Telnyx throttling the whole account: a 429 `10011` pointing at nothing.
pub fn rate_limited() -> Failure {
    error(
        429,
        "10011",
        "Too many requests",
        "You have exceeded the maximum number of allowed requests.",
    )
}

/// Telnyx cannot deliver to the number: a 400 `10002` "Invalid phone number".
pub fn undeliverable() -> Failure {
    error(
        400,
        "10002",
        "Invalid phone number",
        "The phone number is invalid.",
    )
}

/// The recipient opted out (STOP) of the sender's messages: a 400 `40300`.
pub fn opted_out() -> Failure {
    error(
        400,
        "40300",
        "Blocked due to STOP message",
        "Messages cannot be sent from the sending number to the destination due to an existing block rule.",
    )
}

/// A wrong or missing API key: a 401 `10009` "Authentication failed".
pub fn unauthorized() -> Failure {
    error(
        401,
        "10009",
        "Authentication failed",
        "The required authentication headers were either invalid or not included in the request.",
    )
}

/// Nothing pending for the number: a 404 `10005` "Resource not found".
pub fn not_found() -> Failure {
    error(
        404,
        "10005",
        "Resource not found",
        "The requested resource or URL could not be found.",
    )
}

fn too_many_body(source: (&str, &str)) -> Value {
    error_body(
        "10011",
        "Too many requests",
        "Too many verification attempts for this phone number. Try again later.",
        Some(source),
    )
}

struct Inner {
    /// Codes delivered per number (Verify and messages), with the last delivery's time.
    codes: HashMap<String, (VecDeque<String>, Instant)>,
    /// Messages received: (to, from, text), the last `history`.
    messages: VecDeque<(String, String, String)>,
    last_sweep: Instant,
}

struct Shared {
    api_key: String,
    profile_id: String,
    history: usize,
    control: Control,
    book: Book,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a delivered code for `sent_codes` and tells the watcher.
    fn delivered(&self, to: &str, code: &str, channel: &str) {
        let now = Instant::now();
        {
            let mut inner = self.lock();
            if now.duration_since(inner.last_sweep) > Duration::from_secs(10) {
                inner.last_sweep = now;
                inner
                    .codes
                    .retain(|_, (_, last)| now.duration_since(*last) < CODE_TTL);
            }
            let (codes, last) = inner
                .codes
                .entry(to.to_owned())
                .or_insert_with(|| (VecDeque::new(), now));
            if codes.len() >= KEPT_CODES_PER_NUMBER {
                codes.pop_front();
            }
            codes.push_back(code.to_owned());
            *last = now;
        }
        self.control.delivered(SentCode {
            to: to.to_owned(),
            code: code.to_owned(),
            channel: channel.to_owned(),
        });
    }
}

/// A running fake Telnyx; it stops accepting requests when dropped.
pub struct FakeTelnyx {
    server: FakeServer,
    shared: Arc<Shared>,
}

impl FakeTelnyx {
    /// Binds `config.listen` and serves in the current tokio runtime until dropped or
    /// [`stop`](Self::stop)ped.
    pub async fn start(config: FakeTelnyxConfig) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            api_key: config.api_key,
            profile_id: config.profile_id,
            history: config.history,
            control: Control::new(config.history, config.latency),
            book: Book::new(config.limits, config.fixed_code),
            inner: Mutex::new(Inner {
                codes: HashMap::new(),
                messages: VecDeque::new(),
                last_sweep: Instant::now(),
            }),
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let server = FakeServer::start(&config.listen, router).await?;
        Ok(Self { server, shared })
    }

    /// Its origin, `http://HOST:PORT/`: the clients' base URL (`TELNYX_API_BASE_URL`).
    pub fn base(&self) -> &Url {
        &self.server.base
    }

    /// The base URL without its trailing slash, for environment variables.
    pub fn origin(&self) -> String {
        self.server.origin()
    }

    /// Latency, injected failures, the request history, the watcher of sent codes.
    pub fn control(&self) -> &Control {
        &self.shared.control
    }

    /// Codes of verifications started from now on are this one (`None`: random).
    pub fn fix_code(&self, code: Option<&str>) {
        self.shared.book.fix_code(code);
    }

    /// The codes delivered to a number, oldest first, by Verify (SMS or call; a resend
    /// repeats the code) or found in a message's text: the last [`KEPT_CODES_PER_NUMBER`].
    pub fn sent_codes(&self, to: &str) -> Vec<String> {
        self.shared
            .lock()
            .codes
            .get(to)
            .map(|(codes, _)| codes.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The pending verification for `to` (if any) expires now.
    pub fn expire(&self, to: &str) {
        self.shared.book.expire(to);
    }

    /// The messages received by `POST /v2/messages`, oldest first: (to, from, text).
    pub fn messages(&self) -> Vec<(String, String, String)> {
        self.shared.lock().messages.iter().cloned().collect()
    }

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn stop(self) -> io::Result<()> {
        self.server.stop().await
    }
}

/// The endpoints served.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    Sms,
    Call,
    /// The check, with the number from the path, percent-decoded.
    Check(String),
    Messages,
}

impl Endpoint {
    /// The HTTP status of a refused request body: the Verify spec declares only 400; the
    /// messaging spec says `4XX`, and Telnyx's validation errors are 422.
    fn invalid_status(&self) -> u16 {
        match self {
            Self::Messages => 422,
            _ => 400,
        }
    }
}

/// Every request comes here: record it, wait out the latency, apply an injected failure,
/// then act like Telnyx.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth_ok = bearer(&headers).is_some_and(|key| key == shared.api_key);
    let path = uri.path().to_owned();
    let recorded = record(method.as_str(), &path, &headers, auth_ok, &body);
    if let Some(failure) = shared.control.arrive(recorded).await
        && let Some(response) = failure.response(StatusCode::OK)
    {
        return response;
    }
    serve(&shared, &method, &path, &headers, auth_ok, &body)
}

fn serve(
    shared: &Shared,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    auth_ok: bool,
    body: &[u8],
) -> Response {
    if !auth_ok {
        return answer(unauthorized());
    }
    let Some(endpoint) = route(path) else {
        return answer(not_found());
    };
    if method != Method::POST {
        return answer(error(
            405,
            "10015",
            "Bad Request",
            "The method is not allowed for this resource.",
        ));
    }
    let json_body = header_is_json(headers);
    let invalid = endpoint.invalid_status();
    if !json_body {
        return answer(error(
            415,
            "10014",
            "Unsupported Media Type",
            "The request failed because the server does not support the media type.",
        ));
    }
    let fields = match parse_object(body) {
        Ok(fields) => fields,
        Err(why) => return answer(error(invalid, "10015", "Bad Request", &why)),
    };
    let result = match &endpoint {
        Endpoint::Sms => send_verification(shared, &fields, SMS_FIELDS, "sms"),
        Endpoint::Call => send_verification(shared, &fields, CALL_FIELDS, "call"),
        Endpoint::Check(number) => check_code(shared, number, &fields),
        Endpoint::Messages => send_message(shared, &fields),
    };
    match result {
        Ok(response) => response,
        Err(refusal) => refusal.into_response(invalid),
    }
}

/// The endpoint a path names, if any.
fn route(path: &str) -> Option<Endpoint> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v2", "verifications", "sms"] => Some(Endpoint::Sms),
        ["v2", "verifications", "call"] => Some(Endpoint::Call),
        [
            "v2",
            "verifications",
            "by_phone_number",
            number,
            "actions",
            "verify",
        ] => {
            // A path segment is percent-decoded only: `+` stays a plus (it is not a form).
            let number = percent_encoding::percent_decode_str(number)
                .decode_utf8()
                .ok()?;
            Some(Endpoint::Check(number.into_owned()))
        }
        ["v2", "messages"] => Some(Endpoint::Messages),
        _ => None,
    }
}

/// Why a request body was refused, answered in Telnyx's words.
enum Refusal {
    /// A field the spec does not define, one given twice, or of the wrong type: 10015.
    Bad { field: String, detail: String },
    /// A required field is missing: 10004.
    Missing(String),
    /// A number that is not E.164: 10016.
    NotE164 { source: (&'static str, String) },
    /// Another Verify profile: 10017.
    NoSuchProfile,
}

impl Refusal {
    fn into_response(self, invalid: u16) -> Response {
        let (http, body) = match self {
            Refusal::Bad { field, detail } => (
                invalid,
                error_body(
                    "10015",
                    "Bad Request",
                    &detail,
                    Some(("pointer", &format!("/{field}"))),
                ),
            ),
            Refusal::Missing(field) => (
                invalid,
                error_body(
                    "10004",
                    "Missing required parameter",
                    &format!("The '{field}' parameter is required."),
                    Some(("pointer", &format!("/{field}"))),
                ),
            ),
            Refusal::NotE164 { source: (kind, at) } => (
                invalid,
                error_body(
                    "10016",
                    "Phone number must be in +E.164 format",
                    "The specified phone number parameter must be in +E.164 format.",
                    Some((kind, &at)),
                ),
            ),
            Refusal::NoSuchProfile => (
                400,
                error_body(
                    "10017",
                    "Associated resource does not exist",
                    "The requested parameter is invalid as the associated resource does not exist.",
                    Some(("pointer", "/verify_profile_id")),
                ),
            ),
        };
        json_response(status(http), body)
    }
}

type Fields = Vec<(String, Value)>;

/// The fields as a map, or the refusal for an undefined, repeated or missing one.
fn checked<'a>(
    fields: &'a Fields,
    allowed: &[&str],
    required: &[&str],
) -> Result<HashMap<&'a str, &'a Value>, Refusal> {
    let mut map = HashMap::new();
    for (name, value) in fields {
        if !allowed.contains(&name.as_str()) {
            return Err(Refusal::Bad {
                field: name.clone(),
                detail: format!("The '{name}' parameter is not defined for this request."),
            });
        }
        if map.insert(name.as_str(), value).is_some() {
            return Err(Refusal::Bad {
                field: name.clone(),
                detail: format!("The '{name}' parameter is given more than once."),
            });
        }
    }
    for name in required {
        if map.get(name).is_none_or(|v| v.is_null()) {
            return Err(Refusal::Missing((*name).to_owned()));
        }
    }
    Ok(map)
}

/// A field that must be a string (when present).
fn string<'a>(map: &HashMap<&str, &'a Value>, name: &str) -> Result<Option<&'a str>, Refusal> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Refusal::Bad {
            field: name.to_owned(),
            detail: format!("The '{name}' parameter must be a string."),
        }),
    }
}

/// `verify_profile_id`: required, a string, the configured profile.
fn profile(shared: &Shared, map: &HashMap<&str, &Value>) -> Result<(), Refusal> {
    match string(map, "verify_profile_id")? {
        Some(id) if id == shared.profile_id => Ok(()),
        Some(_) => Err(Refusal::NoSuchProfile),
        None => Err(Refusal::Missing("verify_profile_id".to_owned())),
    }
}

/// `POST /v2/verifications/sms` or `/call`: start or resend.
fn send_verification(
    shared: &Shared,
    fields: &Fields,
    allowed: &[&str],
    kind: &str,
) -> Result<Response, Refusal> {
    let map = checked(fields, allowed, &["phone_number", "verify_profile_id"])?;
    let to = string(&map, "phone_number")?.unwrap_or_default();
    if !is_e164(to) {
        return Err(Refusal::NotE164 {
            source: ("pointer", "/phone_number".to_owned()),
        });
    }
    profile(shared, &map)?;
    let timeout_secs = match map.get("timeout_secs") {
        None => CODE_TTL.as_secs(),
        Some(value) => value
            .as_u64()
            .filter(|secs| *secs > 0)
            .ok_or_else(|| Refusal::Bad {
                field: "timeout_secs".to_owned(),
                detail: "The 'timeout_secs' parameter must be a positive integer.".to_owned(),
            })?,
    };
    if string(&map, "custom_code")?.is_some() {
        return Err(Refusal::Bad {
            field: "custom_code".to_owned(),
            detail: "custom_code is not supported by this fake: it makes its own codes.".to_owned(),
        });
    }
    string(&map, "extension")?;
    let pending = match shared.book.send(to, false, uuid) {
        Ok(pending) => pending,
        Err(BookError::TooManySends) => {
            return Ok(json_response(
                StatusCode::TOO_MANY_REQUESTS,
                too_many_body(("pointer", "/phone_number")),
            ));
        }
        Err(BookError::TooManyChecks | BookError::NotFound) => {
            return Ok(answer(error(
                500,
                "10007",
                "Unexpected error",
                "An unexpected error occured.",
            )));
        }
    };
    let channel = if kind == "call" { "voice" } else { "sms" };
    shared.delivered(to, &pending.code, channel);
    let now = timestamp();
    Ok(json_response(
        StatusCode::OK,
        json!({"data": {
            "id": pending.id,
            "phone_number": to,
            "record_type": "verification",
            "status": "pending",
            "timeout_secs": timeout_secs,
            "type": kind,
            "verify_profile_id": shared.profile_id,
            "custom_code": null,
            "created_at": now,
            "updated_at": now,
        }}),
    ))
}

/// `POST /v2/verifications/by_phone_number/{phone_number}/actions/verify`.
fn check_code(shared: &Shared, number: &str, fields: &Fields) -> Result<Response, Refusal> {
    if !is_e164(number) {
        return Err(Refusal::NotE164 {
            source: ("parameter", "phone_number".to_owned()),
        });
    }
    let map = checked(fields, CHECK_FIELDS, &["code", "verify_profile_id"])?;
    let code = string(&map, "code")?.unwrap_or_default();
    profile(shared, &map)?;
    let checked = match shared.book.check(number, None, code) {
        Ok(checked) => checked,
        Err(BookError::NotFound) => return Ok(answer(not_found())),
        Err(BookError::TooManyChecks | BookError::TooManySends) => {
            return Ok(json_response(
                StatusCode::TOO_MANY_REQUESTS,
                too_many_body(("parameter", "phone_number")),
            ));
        }
    };
    let response_code = if checked.approved {
        "accepted"
    } else {
        "rejected"
    };
    Ok(json_response(
        StatusCode::OK,
        json!({"data": {"phone_number": number, "response_code": response_code}}),
    ))
}

/// A sending address Telnyx takes: E.164, a short code (3 to 8 digits) or an alphanumeric
/// sender id (1 to 11 letters, digits or spaces, at least one letter).
fn is_sender(from: &str) -> bool {
    let short_code = (3..=8).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&from.len())
        && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && from.bytes().any(|b| b.is_ascii_alphabetic());
    is_e164(from) || short_code || alphanumeric
}

/// `POST /v2/messages`: record the message, find its code.
fn send_message(shared: &Shared, fields: &Fields) -> Result<Response, Refusal> {
    let map = checked(fields, MESSAGE_FIELDS, &["to"])?;
    let to = string(&map, "to")?.unwrap_or_default();
    if !is_e164(to) {
        return Err(Refusal::NotE164 {
            source: ("pointer", "/to".to_owned()),
        });
    }
    // The fake has no number pool behind a messaging profile: it needs `from`.
    let Some(from) = string(&map, "from")? else {
        return Err(Refusal::Missing("from".to_owned()));
    };
    if !is_sender(from) {
        return Err(Refusal::NotE164 {
            source: ("pointer", "/from".to_owned()),
        });
    }
    let has_media = map
        .get("media_urls")
        .and_then(|v| v.as_array())
        .is_some_and(|urls| !urls.is_empty());
    let text = string(&map, "text")?.unwrap_or_default();
    if text.is_empty() && !has_media {
        return Err(Refusal::Missing("text".to_owned()));
    }
    let kind = match string(&map, "type")? {
        None if has_media => "MMS",
        None | Some("SMS") => "SMS",
        Some("MMS") => "MMS",
        Some(_) => {
            return Err(Refusal::Bad {
                field: "type".to_owned(),
                detail: "The 'type' parameter must be SMS or MMS.".to_owned(),
            });
        }
    };
    if shared.history > 0 {
        let mut inner = shared.lock();
        while inner.messages.len() >= shared.history {
            inner.messages.pop_front();
        }
        inner
            .messages
            .push_back((to.to_owned(), from.to_owned(), text.to_owned()));
    }
    if let Some(code) = code_in(text) {
        shared.delivered(to, &code, "sms");
    }
    let now = timestamp();
    Ok(json_response(
        StatusCode::OK,
        json!({"data": {
            "id": uuid(),
            "record_type": "message",
            "direction": "outbound",
            "type": kind,
            "from": {"phone_number": from, "carrier": "TELNYX LLC", "line_type": "VoIP"},
            "to": [{
                "phone_number": to,
                "status": "queued",
                "carrier": "FAKE WIRELESS",
                "line_type": "Wireless",
            }],
            "cc": [],
            "text": text,
            "subject": null,
            "media": [],
            "encoding": "GSM-7",
            "parts": 1,
            "errors": [],
            "received_at": now,
            "sent_at": null,
            "completed_at": null,
            "valid_until": null,
            "webhook_url": null,
            "webhook_failover_url": null,
        }}),
    ))
}

/// The response of a failure that is not a hang.
fn answer(failure: Failure) -> Response {
    failure
        .response(StatusCode::OK)
        .unwrap_or_else(|| json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({})))
}

/// The key of a `Bearer` `Authorization` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(key)
}

/// Whether the body is declared JSON (`application/json`, any parameters).
fn header_is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// The body's fields in order, repeated ones kept (so they can be refused), or why the body
/// is not one JSON object.
fn parse_object(body: &[u8]) -> Result<Fields, String> {
    struct Object(Fields);
    impl<'de> serde::Deserialize<'de> for Object {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Object;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Object, A::Error> {
                    let mut fields = Vec::new();
                    while let Some(entry) = map.next_entry::<String, Value>()? {
                        fields.push(entry);
                    }
                    Ok(Object(fields))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_slice::<Object>(body)
        .map(|o| o.0)
        .map_err(|e| format!("The request body is not a JSON object: {e}"))
}

/// A random UUID (version 4 form), as Telnyx's ids are.
fn uuid() -> String {
    let mut bytes = random_bytes::<16>();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::secret::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_telnyx_uuids() {
        let id = uuid();
        let groups: Vec<&str> = id.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'));
        assert_ne!(uuid(), id);
    }

    #[test]
    fn paths_route_with_the_number_decoded_as_a_path_segment() {
        assert_eq!(route("/v2/verifications/sms"), Some(Endpoint::Sms));
        assert_eq!(route("/v2/verifications/call"), Some(Endpoint::Call));
        assert_eq!(route("/v2/messages"), Some(Endpoint::Messages));
        for raw in ["+15551230001", "%2B15551230001"] {
            assert_eq!(
                route(&format!(
                    "/v2/verifications/by_phone_number/{raw}/actions/verify"
                )),
                Some(Endpoint::Check("+15551230001".to_owned()))
            );
        }
        assert_eq!(route("/verifications/sms"), None);
        assert_eq!(route("/v2/verifications/sms/"), None);
        assert_eq!(route("/v2/verifications/flashcall"), None);
    }

    #[test]
    fn bodies_keep_repeated_fields_and_refuse_non_objects() {
        let fields = parse_object(br#"{"a":1,"a":2}"#).unwrap();
        assert_eq!(fields.len(), 2);
        for body in [&b"[1]"[..], b"\"x\"", b"", b"{", b"null"] {
            assert!(parse_object(body).is_err(), "{body:?}");
        }
    }

    #[test]
    fn senders_are_numbers_short_codes_or_names() {
        for ok in ["+15551230000", "12345", "Bridge", "Bridge 1"] {
            assert!(is_sender(ok), "{ok}");
        }
        for bad in ["", "12", "5551230000000", "Bridgekeeper!", "Bridgekeeper1"] {
            assert!(!is_sender(bad), "{bad}");
        }
    }
}
