//! A fake MessageBird (Bird) REST API: Verify (`POST /verify`, `GET /verify/{id}` with
//! `token`, `DELETE /verify/{id}`) and SMS (`POST /messages`) on one server, speaking
//! MessageBird's wire format: `Authorization: AccessKey <key>`, JSON bodies, Verify and
//! Message objects, and MessageBird's error shape `{"errors":[{"code","description",
//! "parameter"}]}` (2 bad access key, 9 missing parameter, 10 invalid parameter, 20 not
//! found).
//!
//! It is strict where MessageBird is lenient, so a client that strays from the spec
//! (`messagebird.json`) fails loudly: a body that is not a JSON object, a field the spec does
//! not define for the endpoint, a field given twice or of the wrong type is error 10 (HTTP
//! 422) naming the field; a missing required field is error 9. A recipient must be MSISDN
//! digits without `+`, a template must hold `%token`, `tokenLength` must be 6 (the fake's
//! codes are six digits), and the fake sends no email, binary, grouped or scheduled message.
//!
//! Verify follows [`Book`]'s rules with a new id and code on every `POST /verify` (as
//! MessageBird does): only the newest verification of a number can be checked (older ones
//! read as `failed`), a code lives for the request's `timeout` (MessageBird's default 30 s,
//! at most 10 minutes here), 5 sends per number per 10 minutes and 5 checks per code (both
//! answered with [`too_many`], with limits on). A check answers the Verify object with status
//! `verified` for the right token, error 10 on `token` for a wrong one, the object with
//! status `expired` or `failed` once it cannot be checked, and error 20 for an unknown,
//! deleted or already verified id (the fake never approves twice). `GET /verify/{id}` without
//! a token (or with an empty one, as MessageBird does) only reads the object.
//!
//! What MessageBird leaves unverified the fake settles on one answer, named in the spec
//! test: HTTP 429 with MessageBird's error JSON for its per-number limits, 201 for created
//! objects, the recipient as a JSON number for SMS and a string for `tts`.
//!
//! Every request is recorded ([`Control::requests`]; `path` holds the query too) before an
//! injected failure or the answer; codes sent (by Verify, or found with [`code_in`] in a
//! message body) go to [`Control::watch_sends`] and [`FakeMessageBird::sent_codes`].

use super::{
    Book, BookError, CODE_TTL, Control, DEFAULT_HISTORY, Failure, FakeServer,
    KEPT_CODES_PER_NUMBER, SentCode, code_in, hex_id, json_response, record, status,
};
use crate::verify::messagebird::check_originator;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use url::Url;

/// The access key the fake accepts unless told otherwise (a test value, not a secret).
pub const DEFAULT_ACCESS_KEY: &str = "fake-messagebird-test-key-not-a-secret";

/// The fields the spec defines for `POST /verify` (`VerifyCreate`).
pub const VERIFY_FIELDS: &[&str] = &[
    "recipient",
    "originator",
    "reference",
    "type",
    "template",
    "datacoding",
    "reportUrl",
    "voice",
    "language",
    "timeout",
    "tokenLength",
    "subject",
];

/// The fields the spec requires for `POST /verify`.
pub const VERIFY_REQUIRED: &[&str] = &["recipient"];

/// The fields the spec defines for `POST /messages` (`MessageCreate`).
pub const MESSAGE_FIELDS: &[&str] = &[
    "originator",
    "body",
    "recipients",
    "groupIds",
    "type",
    "reference",
    "validity",
    "gateway",
    "typeDetails",
    "datacoding",
    "mclass",
    "shortenUrls",
    "reportUrl",
    "scheduledDatetime",
];

/// The fields the spec requires for `POST /messages`.
pub const MESSAGE_REQUIRED: &[&str] = &["originator", "body", "recipients"];

/// The query parameters the spec defines for `GET /verify/{id}`.
pub const CHECK_QUERY: &[&str] = &["token"];

/// A verification's lifetime when the request gives no `timeout` (MessageBird's default).
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(30);

/// How often, at most, the fake forgets old verifications and idle numbers.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// MessageBird's error body.
pub fn error_body(code: u32, description: &str, parameter: Option<&str>) -> Value {
    json!({"errors": [{"code": code, "description": description, "parameter": parameter}]})
}

/// A failure answering MessageBird's error JSON with this HTTP status, code and description.
pub fn error(http: u16, code: u32, description: &str) -> Failure {
    Failure::Json {
        http,
        body: error_body(code, description, None),
    }
}

/// MessageBird's own per-number limit: HTTP 429 with its error JSON (too many codes on a
/// send, too many checks on a check).
pub fn too_many() -> Failure {
    Failure::Json {
        http: 429,
        body: error_body(10, "too many attempts for this recipient", None),
    }
}

/// MessageBird cannot deliver to the number: error 9 on `recipient`, HTTP 422.
pub fn undeliverable() -> Failure {
    Failure::Json {
        http: 422,
        body: error_body(9, "no (correct) recipients found", Some("recipient")),
    }
}

/// The access key was refused: error 2, HTTP 401.
pub fn unauthorized() -> Failure {
    Failure::Json {
        http: 401,
        body: error_body(
            2,
            "Request not allowed (incorrect access_key)",
            Some("access_key"),
        ),
    }
}

/// How to start a [`FakeMessageBird`].
#[derive(Debug, Clone)]
pub struct FakeMessageBirdConfig {
    /// The address to bind, `127.0.0.1:0` (a random loopback port) by default.
    pub listen: String,
    /// The access key `Authorization: AccessKey <key>` must carry.
    pub access_key: String,
    /// How long every request waits before it is answered (none by default).
    pub latency: Duration,
    /// Every new verification gets this code; `None` (the default) draws a random one.
    pub fixed_code: Option<String>,
    /// Whether Verify's per-number limits apply (5 sends per 10 minutes, 5 checks per code).
    /// On by default; off for load runs.
    pub limits: bool,
    /// How many requests (and messages) are kept; 0 keeps none.
    pub history: usize,
}

impl Default for FakeMessageBirdConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            access_key: DEFAULT_ACCESS_KEY.to_owned(),
            latency: Duration::ZERO,
            fixed_code: None,
            limits: true,
            history: DEFAULT_HISTORY,
        }
    }
}

/// A verification's status, as the spec names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Sent,
    Verified,
    Expired,
    Failed,
    Deleted,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Verified => "verified",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Deleted => "deleted",
        }
    }
}

struct Verification {
    /// E.164, with `+`.
    to: String,
    /// Spoken (`tts`) rather than texted.
    spoken: bool,
    status: Status,
    reference: Option<String>,
    message_id: String,
    created: String,
    valid_until_text: String,
    valid_until: Instant,
}

impl Verification {
    /// The status now: a pending one past its lifetime is `expired`.
    fn current(&mut self, now: Instant) -> Status {
        if self.status == Status::Sent && self.valid_until <= now {
            self.status = Status::Expired;
        }
        self.status
    }
}

struct Inner {
    verifications: HashMap<String, Verification>,
    /// The newest verification id of each number.
    latest: HashMap<String, String>,
    /// Codes sent to each number (Verify and messages), oldest first, and when last.
    codes: HashMap<String, (VecDeque<String>, Instant)>,
    /// (to, originator, body) of each message, oldest first.
    messages: VecDeque<(String, String, String)>,
    last_sweep: Instant,
}

impl Inner {
    fn sweep_if_due(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < SWEEP_INTERVAL {
            return;
        }
        self.last_sweep = now;
        self.verifications
            .retain(|_, v| now < v.valid_until + CODE_TTL);
        let verifications = &self.verifications;
        self.latest.retain(|_, id| verifications.contains_key(id));
        self.codes
            .retain(|_, (_, last)| now.duration_since(*last) < CODE_TTL);
    }

    fn keep_code(&mut self, to: &str, code: &str, now: Instant) {
        let (codes, last) = self
            .codes
            .entry(to.to_owned())
            .or_insert_with(|| (VecDeque::new(), now));
        if codes.len() >= KEPT_CODES_PER_NUMBER {
            codes.pop_front();
        }
        codes.push_back(code.to_owned());
        *last = now;
    }
}

struct Shared {
    /// `http://HOST:PORT`, set once bound.
    origin: OnceLock<String>,
    authorization: String,
    history: usize,
    control: Control,
    book: Book,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn origin(&self) -> &str {
        self.origin.get().map_or("", String::as_str)
    }
}

/// A running fake MessageBird; it stops accepting requests when dropped.
pub struct FakeMessageBird {
    server: FakeServer,
    shared: Arc<Shared>,
}

impl FakeMessageBird {
    /// Binds `config.listen` and serves in the current tokio runtime until dropped or
    /// [`stop`](Self::stop)ped.
    pub async fn start(config: FakeMessageBirdConfig) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            origin: OnceLock::new(),
            authorization: format!("AccessKey {}", config.access_key),
            history: config.history,
            control: Control::new(config.history, config.latency),
            book: Book::new(config.limits, config.fixed_code),
            inner: Mutex::new(Inner {
                verifications: HashMap::new(),
                latest: HashMap::new(),
                codes: HashMap::new(),
                messages: VecDeque::new(),
                last_sweep: Instant::now(),
            }),
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let server = FakeServer::start(&config.listen, router).await?;
        // The hrefs in answers need the origin, known only once bound.
        let _ = shared.origin.set(server.origin());
        Ok(Self { server, shared })
    }

    /// Its origin, `http://HOST:PORT/`: the client's base URL (`MESSAGEBIRD_BASE_URL`).
    pub fn base(&self) -> &Url {
        &self.server.base
    }

    /// The base URL without its trailing slash, for environment variables.
    pub fn origin(&self) -> String {
        self.server.origin()
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.server.local_addr()
    }

    /// Latency, injected failures, the request history, the watcher of sent codes.
    pub fn control(&self) -> &Control {
        &self.shared.control
    }

    /// Codes of verifications started from now on are this one (`None`: random).
    pub fn fix_code(&self, code: Option<&str>) {
        self.shared.book.fix_code(code);
    }

    /// The codes sent to a number (E.164 with `+`), oldest first: by Verify, and those found
    /// in messages' bodies. The last 32, forgotten once nothing was sent to it for 10 minutes.
    pub fn sent_codes(&self, to: &str) -> Vec<String> {
        self.shared
            .lock()
            .codes
            .get(to)
            .map(|(codes, _)| codes.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The pending verification for `to` (E.164 with `+`) expires now.
    pub fn expire(&self, to: &str) {
        let now = Instant::now();
        let mut inner = self.shared.lock();
        for v in inner.verifications.values_mut() {
            if v.to == to && v.status == Status::Sent {
                v.valid_until = now;
            }
        }
        self.shared.book.expire(to);
    }

    /// The messages sent with `POST /messages`, oldest first: (to in E.164 with `+`,
    /// originator, body).
    pub fn messages(&self) -> Vec<(String, String, String)> {
        self.shared.lock().messages.iter().cloned().collect()
    }

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn stop(self) -> io::Result<()> {
        self.server.stop().await
    }
}

/// Every request comes here: record it, wait out the latency, apply an injected failure,
/// then act like MessageBird.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth_ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == shared.authorization);
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| uri.path().to_owned(), |pq| pq.as_str().to_owned());
    let recorded = record(method.as_str(), &path_and_query, &headers, auth_ok, &body);
    if let Some(failure) = shared.control.arrive(recorded).await {
        let success = match method {
            Method::POST => StatusCode::CREATED,
            Method::DELETE => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        };
        if let Some(response) = failure.response(success) {
            return response;
        }
    }
    if !auth_ok {
        return mb_error(
            401,
            2,
            "Request not allowed (incorrect access_key)",
            Some("access_key"),
        );
    }
    let segments: Vec<&str> = uri.path().trim_start_matches('/').split('/').collect();
    match (segments.as_slice(), &method) {
        (["verify"], &Method::POST) => shared.create(&headers, &body),
        (["verify", id], &Method::GET) if !id.is_empty() => shared.check(&decode(id), uri.query()),
        (["verify", id], &Method::DELETE) if !id.is_empty() => shared.delete(&decode(id)),
        (["messages"], &Method::POST) => shared.message(&headers, &body),
        (["verify"] | ["messages"], _) => method_not_allowed(),
        (["verify", id], _) if !id.is_empty() => method_not_allowed(),
        _ => mb_error(404, 20, "Not found", None),
    }
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn mb_error(http: u16, code: u32, description: &str, parameter: Option<&str>) -> Response {
    json_response(status(http), error_body(code, description, parameter))
}

fn method_not_allowed() -> Response {
    mb_error(405, 10, "Method not allowed", None)
}

/// A MessageBird error answer about a request, built before it is sent.
struct Refusal {
    http: u16,
    code: u32,
    description: String,
    parameter: Option<String>,
}

impl Refusal {
    fn response(self) -> Response {
        mb_error(
            self.http,
            self.code,
            &self.description,
            self.parameter.as_deref(),
        )
    }
}

/// Error 10 on a parameter (or on the body when `None`), HTTP 422.
fn refusal(code: u32, parameter: Option<&str>, description: &str) -> Refusal {
    Refusal {
        http: 422,
        code,
        description: description.to_owned(),
        parameter: parameter.map(str::to_owned),
    }
}

/// Error 10 on a parameter, HTTP 422.
fn invalid(parameter: &str, description: &str) -> Refusal {
    refusal(10, Some(parameter), description)
}

/// A JSON object's members in order, repeated names kept (a `Map` would hide them).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Collect;
        impl<'de> Visitor<'de> for Collect {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Collect)
    }
}

/// The body's fields, or MessageBird's error for a body that is not a JSON object, a field
/// not in `allowed`, a repeated field (10) or a missing `required` one (9).
fn fields(
    headers: &HeaderMap,
    body: &[u8],
    allowed: &[&str],
    required: &[&str],
) -> Result<HashMap<String, Value>, Refusal> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    if !json {
        return Err(refusal(
            10,
            None,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let Ok(Members(members)) = serde_json::from_slice::<Members>(body) else {
        return Err(refusal(10, None, "the body is not a JSON object"));
    };
    let mut map = HashMap::new();
    for (name, value) in members {
        if !allowed.contains(&name.as_str()) {
            return Err(invalid(&name, "not a parameter of this resource"));
        }
        if map.contains_key(&name) {
            return Err(invalid(&name, "given more than once"));
        }
        map.insert(name, value);
    }
    for name in required {
        if !map.contains_key(*name) {
            return Err(refusal(9, Some(name), "missing parameter"));
        }
    }
    Ok(map)
}

/// An optional string field, or error 10 when it is not a string.
fn opt_str<'a>(map: &'a HashMap<String, Value>, name: &str) -> Result<Option<&'a str>, Refusal> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(invalid(name, "must be a string")),
    }
}

/// An optional integer field, or error 10 when it is not one.
fn opt_int(map: &HashMap<String, Value>, name: &str) -> Result<Option<i64>, Refusal> {
    match map.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| invalid(name, "must be an integer")),
    }
}

/// An optional string field that must be one of `values`.
fn opt_enum<'a>(
    map: &'a HashMap<String, Value>,
    name: &str,
    values: &[&str],
) -> Result<Option<&'a str>, Refusal> {
    match opt_str(map, name)? {
        Some(v) if !values.contains(&v) => Err(invalid(name, "not an allowed value")),
        other => Ok(other),
    }
}

/// MSISDN digits without `+`, 8 to 15 of them.
fn is_msisdn(text: &str) -> bool {
    (8..=15).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit())
}

/// RFC 3339 the way MessageBird writes it (`2017-05-26T20:06:07+00:00`).
fn datetime(at: time::OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    let text = at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    match text.strip_suffix('Z') {
        Some(head) => format!("{head}+00:00"),
        None => text,
    }
}

/// A recipient as MessageBird answers it: a JSON number (a string if it does not fit).
fn number_value(msisdn: &str) -> Value {
    msisdn
        .parse::<u64>()
        .map_or_else(|_| Value::from(msisdn), Value::from)
}

impl Shared {
    /// The Verify object.
    fn view(&self, id: &str, v: &Verification) -> Value {
        let msisdn = v.to.trim_start_matches('+');
        let (recipient, messages) = if v.spoken {
            (Value::from(msisdn), "voicemessages")
        } else {
            (number_value(msisdn), "messages")
        };
        json!({
            "id": id,
            "href": format!("{}/verify/{id}", self.origin()),
            "recipient": recipient,
            "reference": v.reference,
            "messages": {"href": format!("{}/{messages}/{}", self.origin(), v.message_id)},
            "status": v.status.as_str(),
            "createdDatetime": v.created,
            "validUntilDatetime": v.valid_until_text,
        })
    }

    /// `POST /verify`: a new verification, with a new id and code, every time.
    fn create(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let map = match fields(headers, body, VERIFY_FIELDS, VERIFY_REQUIRED) {
            Ok(map) => map,
            Err(refusal) => return refusal.response(),
        };
        let checked = (|| {
            let recipient = opt_str(&map, "recipient")?.unwrap_or_default();
            if !is_msisdn(recipient) {
                return Err(invalid(
                    "recipient",
                    "recipient must be an MSISDN: 8 to 15 digits, no +",
                ));
            }
            let kind = opt_enum(&map, "type", &["sms", "flash", "tts", "email"])?.unwrap_or("sms");
            if kind == "email" {
                return Err(invalid("type", "the fake sends no email"));
            }
            if opt_str(&map, "subject")?.is_some() {
                return Err(invalid("subject", "subject is for type email only"));
            }
            if opt_str(&map, "template")?.is_some_and(|t| !t.contains("%token")) {
                return Err(invalid("template", "the template must contain %token"));
            }
            if opt_int(&map, "tokenLength")?.is_some_and(|n| n != 6) {
                return Err(invalid("tokenLength", "the fake makes 6-digit tokens"));
            }
            let validity = match opt_int(&map, "timeout")? {
                None => DEFAULT_VALIDITY,
                Some(secs) => match u64::try_from(secs) {
                    Ok(secs) if secs > 0 => Duration::from_secs(secs).min(CODE_TTL),
                    _ => return Err(invalid("timeout", "the timeout must be positive")),
                },
            };
            if let Some(originator) = opt_str(&map, "originator")? {
                check_originator(originator).map_err(|why| invalid("originator", &why))?;
            }
            opt_enum(&map, "datacoding", &["plain", "unicode", "auto"])?;
            opt_enum(&map, "voice", &["male", "female"])?;
            opt_str(&map, "language")?;
            opt_str(&map, "reportUrl")?;
            let reference = opt_str(&map, "reference")?.map(str::to_owned);
            Ok((recipient.to_owned(), kind == "tts", validity, reference))
        })();
        let (recipient, spoken, validity, reference) = match checked {
            Ok(checked) => checked,
            Err(refusal) => return refusal.response(),
        };
        let to = format!("+{recipient}");
        let now = Instant::now();
        let mut inner = self.lock();
        inner.sweep_if_due(now);
        let pending = match self.book.send(&to, true, hex_id::<16>) {
            Ok(pending) => pending,
            Err(_) => {
                drop(inner);
                return too_many_response();
            }
        };
        if let Some(previous) = inner.latest.insert(to.clone(), pending.id.clone())
            && let Some(old) = inner.verifications.get_mut(&previous)
            && old.status == Status::Sent
        {
            old.status = Status::Failed;
        }
        let created_at = time::OffsetDateTime::now_utc();
        let verification = Verification {
            to: to.clone(),
            spoken,
            status: Status::Sent,
            reference,
            message_id: hex_id::<16>(),
            created: datetime(created_at),
            valid_until_text: datetime(created_at + validity),
            valid_until: now + validity,
        };
        let answer = self.view(&pending.id, &verification);
        inner.verifications.insert(pending.id.clone(), verification);
        inner.keep_code(&to, &pending.code, now);
        drop(inner);
        self.control.delivered(SentCode {
            to,
            code: pending.code,
            channel: if spoken { "voice" } else { "sms" }.to_owned(),
        });
        json_response(StatusCode::CREATED, answer)
    }

    /// `GET /verify/{id}`: with a token, a check; without one (or an empty one), a read.
    fn check(&self, id: &str, query: Option<&str>) -> Response {
        let mut token: Option<String> = None;
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            if !CHECK_QUERY.contains(&name.as_ref()) {
                return invalid(&name, "not a parameter of this resource").response();
            }
            if token.replace(value.into_owned()).is_some() {
                return invalid("token", "given more than once").response();
            }
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.sweep_if_due(now);
        let Some(v) = inner.verifications.get_mut(id) else {
            return mb_error(404, 20, "verification id not found", None);
        };
        let status = v.current(now);
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return json_response(StatusCode::OK, self.view(id, v));
        };
        match status {
            Status::Verified | Status::Deleted => {
                return mb_error(404, 20, "verification id not found", None);
            }
            Status::Expired | Status::Failed => {
                return json_response(StatusCode::OK, self.view(id, v));
            }
            Status::Sent => {}
        }
        let checked = match self.book.number_of(id) {
            // Replaced by a newer verification of the number.
            None => Err(BookError::NotFound),
            Some(to) => self.book.check(&to, Some(id), &token),
        };
        match checked {
            Ok(c) if c.approved => {
                v.status = Status::Verified;
                json_response(StatusCode::OK, self.view(id, v))
            }
            Ok(_) => invalid("token", "The token is invalid.").response(),
            Err(BookError::TooManyChecks | BookError::TooManySends) => {
                drop(inner);
                too_many_response()
            }
            Err(BookError::NotFound) => {
                v.status = if v.valid_until <= now {
                    Status::Expired
                } else {
                    Status::Failed
                };
                json_response(StatusCode::OK, self.view(id, v))
            }
        }
    }

    /// `DELETE /verify/{id}`.
    fn delete(&self, id: &str) -> Response {
        let mut inner = self.lock();
        match inner.verifications.get_mut(id) {
            Some(v) if v.status != Status::Deleted => {
                v.status = Status::Deleted;
                StatusCode::NO_CONTENT.into_response()
            }
            _ => mb_error(404, 20, "verification id not found", None),
        }
    }

    /// `POST /messages`: record the message; the code in its body counts as sent.
    fn message(&self, headers: &HeaderMap, body: &[u8]) -> Response {
        let map = match fields(headers, body, MESSAGE_FIELDS, MESSAGE_REQUIRED) {
            Ok(map) => map,
            Err(refusal) => return refusal.response(),
        };
        let checked = (|| {
            let originator = opt_str(&map, "originator")?.unwrap_or_default();
            check_originator(originator).map_err(|why| invalid("originator", &why))?;
            let text = opt_str(&map, "body")?.unwrap_or_default();
            if text.is_empty() {
                return Err(invalid("body", "the body is empty"));
            }
            let recipients: Vec<&str> = match map.get("recipients") {
                Some(Value::Array(items)) if !items.is_empty() => items
                    .iter()
                    .map(|item| item.as_str().filter(|r| is_msisdn(r)))
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        invalid(
                            "recipients",
                            "recipients must be MSISDNs: 8 to 15 digits, no +",
                        )
                    })?,
                _ => {
                    return Err(invalid(
                        "recipients",
                        "recipients must be a non-empty array",
                    ));
                }
            };
            if map.contains_key("groupIds") {
                return Err(invalid("groupIds", "the fake has no groups"));
            }
            if map.contains_key("scheduledDatetime") {
                return Err(invalid("scheduledDatetime", "the fake does not schedule"));
            }
            if opt_enum(&map, "type", &["sms", "binary", "flash"])? == Some("binary") {
                return Err(invalid("type", "the fake sends no binary messages"));
            }
            opt_str(&map, "reference")?;
            opt_str(&map, "datacoding")?;
            opt_str(&map, "reportUrl")?;
            opt_int(&map, "validity")?;
            opt_int(&map, "gateway")?;
            if opt_int(&map, "mclass")?.is_some_and(|m| m != 0 && m != 1) {
                return Err(invalid("mclass", "mclass is 0 or 1"));
            }
            if map.get("typeDetails").is_some_and(|v| !v.is_object()) {
                return Err(invalid("typeDetails", "must be an object"));
            }
            if map.get("shortenUrls").is_some_and(|v| !v.is_boolean()) {
                return Err(invalid("shortenUrls", "must be a boolean"));
            }
            Ok((originator, text, recipients))
        })();
        let (originator, text, recipients) = match checked {
            Ok(checked) => checked,
            Err(refusal) => return refusal.response(),
        };
        let now = Instant::now();
        let at = datetime(time::OffsetDateTime::now_utc());
        let id = hex_id::<16>();
        let code = code_in(text);
        let mut items = Vec::new();
        let mut delivered = Vec::new();
        {
            let mut inner = self.lock();
            inner.sweep_if_due(now);
            for recipient in &recipients {
                let to = format!("+{recipient}");
                if self.history > 0 {
                    while inner.messages.len() >= self.history {
                        inner.messages.pop_front();
                    }
                    inner
                        .messages
                        .push_back((to.clone(), originator.to_owned(), text.to_owned()));
                }
                if let Some(code) = &code {
                    inner.keep_code(&to, code, now);
                    delivered.push(SentCode {
                        to,
                        code: code.clone(),
                        channel: "sms".to_owned(),
                    });
                }
                items.push(json!({
                    "recipient": number_value(recipient),
                    "status": "sent",
                    "statusDatetime": at,
                    "messagePartCount": 1,
                }));
            }
        }
        for sent in delivered {
            self.control.delivered(sent);
        }
        let optional = |name: &str| map.get(name).cloned().unwrap_or(Value::Null);
        let answer = json!({
            "id": id,
            "href": format!("{}/messages/{id}", self.origin()),
            "direction": "mt",
            "type": opt_str(&map, "type").ok().flatten().unwrap_or("sms"),
            "originator": originator,
            "body": text,
            "reference": optional("reference"),
            "validity": optional("validity"),
            "gateway": map.get("gateway").cloned().unwrap_or(Value::from(10)),
            "typeDetails": map.get("typeDetails").cloned().unwrap_or_else(|| json!({})),
            "datacoding": map.get("datacoding").cloned().unwrap_or(Value::from("plain")),
            "mclass": map.get("mclass").cloned().unwrap_or(Value::from(1)),
            "scheduledDatetime": null,
            "createdDatetime": at,
            "recipients": {
                "totalCount": items.len(),
                "totalSentCount": items.len(),
                "totalDeliveredCount": 0,
                "totalDeliveryFailedCount": 0,
                "items": items,
            },
        });
        json_response(StatusCode::CREATED, answer)
    }
}

fn too_many_response() -> Response {
    too_many()
        .response(StatusCode::CREATED)
        .unwrap_or_else(|| StatusCode::TOO_MANY_REQUESTS.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_read_like_messagebirds() {
        let at = time::OffsetDateTime::from_unix_timestamp(1_495_829_167).unwrap();
        assert_eq!(datetime(at), "2017-05-26T20:06:07+00:00");
    }

    #[test]
    fn msisdns_are_digits_only() {
        assert!(is_msisdn("15551230001"));
        assert!(!is_msisdn("+15551230001"));
        assert!(!is_msisdn("1555"));
        assert!(!is_msisdn("1555123000x"));
    }

    #[test]
    fn the_failures_carry_messagebirds_error_shape() {
        for (failure, http, code) in [
            (too_many(), 429, 10),
            (undeliverable(), 422, 9),
            (unauthorized(), 401, 2),
            (error(500, 99, "internal error"), 500, 99),
        ] {
            let Failure::Json { http: got, body } = failure else {
                panic!("not JSON");
            };
            assert_eq!(got, http);
            assert_eq!(body["errors"][0]["code"], code);
            assert!(body["errors"][0]["description"].is_string());
        }
    }
}
