//! A fake Twilio Verify v2 server for tests: a real HTTP server on 127.0.0.1:0 speaking
//! Twilio's wire format (Basic auth, form bodies, Twilio-shaped JSON and error codes), with
//! Verify's limits (10-minute codes, 5 sends per number per 10 minutes, 5 checks per code)
//! and failures that a test can inject.
//!
//! It is strict where Twilio is lenient: a form field the spec does not define for the
//! endpoint, a repeated field, or a missing `To`/`Channel`/`Code` is a 400 with code 60200,
//! so a client that strays from the spec fails loudly.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use url::Url;

/// How long a verification stays pending.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Sends allowed per number within [`SEND_WINDOW`].
pub const MAX_SENDS: usize = 5;
/// The sliding window for [`MAX_SENDS`].
pub const SEND_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Checks allowed against one verification.
pub const MAX_CHECKS: u32 = 5;

/// The form fields Twilio's spec defines for `POST .../Verifications`.
pub const VERIFICATION_FIELDS: &[&str] = &[
    "To",
    "Channel",
    "CustomFriendlyName",
    "CustomMessage",
    "SendDigits",
    "Locale",
    "CustomCode",
    "Amount",
    "Payee",
    "RateLimits",
    "ChannelConfiguration",
    "AppHash",
    "TemplateSid",
    "TemplateCustomSubstitutions",
    "DeviceIp",
    "EnableSnaClientToken",
    "RiskCheck",
    "Tags",
];

/// The form fields Twilio's spec defines for `POST .../VerificationCheck`.
pub const CHECK_FIELDS: &[&str] = &[
    "Code",
    "To",
    "VerificationSid",
    "Amount",
    "Payee",
    "SnaClientToken",
];

/// A way for the fake to fail a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Twilio's error JSON with this HTTP status and Twilio error code.
    Error { http: u16, code: u32 },
    /// This HTTP status with an HTML body (not JSON).
    Status(u16),
    /// Wait this long, then answer as usual.
    Hang(Duration),
    /// A success status (201 for a send, 200 for a check) with a body that is not JSON.
    NotJson,
    /// This status and this JSON body, verbatim.
    Json { http: u16, body: serde_json::Value },
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The HTTP method.
    pub method: String,
    /// The path exactly as sent (still percent-encoded).
    pub path: String,
    /// The form fields in the order sent, decoded.
    pub form: Vec<(String, String)>,
    /// Whether Basic auth carried exactly the account SID and auth token.
    pub auth_ok: bool,
    /// The Basic auth user name, if the request had Basic auth.
    pub basic_user: Option<String>,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
}

impl Recorded {
    /// The form field names, in order.
    pub fn field_names(&self) -> Vec<&str> {
        self.form.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

struct Verification {
    sid: String,
    code: String,
    expires: Instant,
    checks: u32,
    created: String,
}

#[derive(Default)]
struct Inner {
    pending: HashMap<String, Verification>,
    sends: HashMap<String, VecDeque<Instant>>,
    sent_codes: HashMap<String, Vec<String>>,
    requests: Vec<Recorded>,
    fixed_code: Option<String>,
    fail_next: Option<Failure>,
    fail_always: Option<Failure>,
}

struct Shared {
    base: String,
    account_sid: String,
    auth_token: String,
    service_sid: String,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running fake Twilio Verify server; it stops when dropped.
pub struct FakeVerify {
    /// Its origin, `http://127.0.0.1:PORT`: the client's base URL.
    pub base: Url,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl FakeVerify {
    /// Starts a fake on a random loopback port in the current tokio runtime, accepting these
    /// credentials and this service SID.
    pub async fn start(account_sid: &str, auth_token: &str, service_sid: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Verify server");
        let addr = listener.local_addr().expect("the fake's address");
        let base = Url::parse(&format!("http://{addr}")).expect("the fake's URL");
        let shared = Arc::new(Shared {
            base: base.as_str().trim_end_matches('/').to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            service_sid: service_sid.to_owned(),
            inner: Mutex::new(Inner::default()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Self {
            base,
            shared,
            shutdown: Some(tx),
        }
    }

    /// Codes sent from now on are this one (by default each verification gets a random code).
    pub fn fix_code(&self, code: &str) {
        self.shared.lock().fixed_code = Some(code.to_owned());
    }

    /// The next request (either endpoint) fails this way.
    pub fn fail_next(&self, failure: Failure) {
        self.shared.lock().fail_next = Some(failure);
    }

    /// Every request fails this way, until called with `None`.
    pub fn fail_always(&self, failure: Option<Failure>) {
        self.shared.lock().fail_always = failure;
    }

    /// Every request received so far, failed ones included.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// The codes "texted" to a number, oldest first (a resend repeats the code).
    pub fn sent_codes(&self, to: &str) -> Vec<String> {
        self.shared
            .lock()
            .sent_codes
            .get(to)
            .cloned()
            .unwrap_or_default()
    }

    /// The pending verification for `to` (if any) expires now.
    pub fn expire(&self, to: &str) {
        if let Some(v) = self.shared.lock().pending.get_mut(to) {
            v.expires = Instant::now();
        }
    }

    /// Whether a verification is pending (not expired) for `to`.
    pub fn is_pending(&self, to: &str) -> bool {
        self.shared
            .lock()
            .pending
            .get(to)
            .is_some_and(|v| v.expires > Instant::now())
    }
}

impl Drop for FakeVerify {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Every request comes here: record it, apply an injected failure, then act like Twilio.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let credentials = basic_credentials(&headers);
    let auth_ok = credentials.as_ref().is_some_and(|(user, password)| {
        *user == shared.account_sid && *password == shared.auth_token
    });
    let path = uri.path().to_owned();
    let failure = {
        let mut inner = shared.lock();
        inner.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            form: form.clone(),
            auth_ok,
            basic_user: credentials.map(|(user, _)| user),
            content_type: header_text(&headers, header::CONTENT_TYPE),
            user_agent: header_text(&headers, header::USER_AGENT),
        });
        inner.fail_next.take().or_else(|| inner.fail_always.clone())
    };
    let to = form.iter().find(|(k, _)| k == "To").map(|(_, v)| v.clone());
    match failure {
        None => {}
        Some(Failure::Hang(pause)) => tokio::time::sleep(pause).await,
        Some(Failure::Error { http, code }) => {
            return twilio_error(http, code, &error_message(code, &path, to.as_deref()));
        }
        Some(Failure::Status(http)) => {
            let status = status(http);
            let reason = status.canonical_reason().unwrap_or("Error");
            return (
                status,
                [(header::CONTENT_TYPE, "text/html")],
                format!("<html><body><h1>{http} {reason}</h1></body></html>"),
            )
                .into_response();
        }
        Some(Failure::NotJson) => {
            let http = if path.ends_with("/VerificationCheck") {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            return (
                http,
                [(header::CONTENT_TYPE, "text/html")],
                "<html><body>OK</body></html>",
            )
                .into_response();
        }
        Some(Failure::Json { http, body }) => return json_response(status(http), body),
    }
    shared.serve(&method, &path, auth_ok, &form)
}

impl Shared {
    fn serve(
        &self,
        method: &Method,
        path: &str,
        auth_ok: bool,
        form: &[(String, String)],
    ) -> Response {
        if !auth_ok {
            return twilio_error(401, 20003, "Authenticate");
        }
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (service, leaf) = match segments.as_slice() {
            [
                "v2",
                "Services",
                service,
                leaf @ ("Verifications" | "VerificationCheck"),
            ] => (*service, *leaf),
            _ => return not_found(path),
        };
        let service = percent_encoding::percent_decode_str(service).decode_utf8_lossy();
        if service != self.service_sid {
            return not_found(path);
        }
        if method != Method::POST {
            return twilio_error(405, 20004, "Method not allowed");
        }
        if leaf == "Verifications" {
            self.create(form)
        } else {
            self.check(path, form)
        }
    }

    /// `POST .../Verifications`: start or resend.
    fn create(&self, form: &[(String, String)]) -> Response {
        let fields = match fields(form, VERIFICATION_FIELDS, &["To", "Channel"]) {
            Ok(fields) => fields,
            Err(message) => return invalid_parameter(&message),
        };
        let to = fields["To"];
        let channel = fields["Channel"];
        if !is_e164(to) {
            return invalid_parameter(&format!("Invalid parameter `To`: {to}"));
        }
        if channel != "sms" {
            return invalid_parameter(&format!("Invalid parameter `Channel`: {channel}"));
        }
        let now = Instant::now();
        let mut inner = self.lock();
        let window = inner.sends.entry(to.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|t| now.duration_since(*t) >= SEND_WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= MAX_SENDS {
            return twilio_error(429, 60203, "Max send attempts reached");
        }
        window.push_back(now);
        let reusable = inner
            .pending
            .get(to)
            .is_some_and(|v| v.expires > now && v.checks < MAX_CHECKS);
        if !reusable {
            let code = inner.fixed_code.clone().unwrap_or_else(random_code);
            inner.pending.insert(
                to.to_owned(),
                Verification {
                    sid: sid("VE"),
                    code,
                    expires: now + CODE_TTL,
                    checks: 0,
                    created: timestamp(),
                },
            );
        }
        let Some(v) = inner.pending.get(to) else {
            unreachable!("a verification was just made");
        };
        let (vsid, code, created) = (v.sid.clone(), v.code.clone(), v.created.clone());
        inner
            .sent_codes
            .entry(to.to_owned())
            .or_default()
            .push(code);
        drop(inner);
        let body = json!({
            "sid": vsid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": to,
            "channel": "sms",
            "status": "pending",
            "valid": false,
            "date_created": created,
            "date_updated": timestamp(),
            "lookup": {},
            "amount": null,
            "payee": null,
            "send_code_attempts": [
                {"time": timestamp(), "channel": "SMS", "attempt_sid": sid("VL")}
            ],
            "sna": null,
            "url": format!(
                "{}/v2/Services/{}/Verifications/{vsid}",
                self.base, self.service_sid
            ),
        });
        json_response(StatusCode::CREATED, body)
    }

    /// `POST .../VerificationCheck`: count the check, approve the right code once.
    fn check(&self, path: &str, form: &[(String, String)]) -> Response {
        let fields = match fields(form, CHECK_FIELDS, &["To", "Code"]) {
            Ok(fields) => fields,
            Err(message) => return invalid_parameter(&message),
        };
        let (to, code) = (fields["To"], fields["Code"]);
        if !is_e164(to) {
            return invalid_parameter(&format!("Invalid parameter `To`: {to}"));
        }
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(v) = inner.pending.get_mut(to) else {
            return not_found(path);
        };
        if v.expires <= now {
            inner.pending.remove(to);
            return not_found(path);
        }
        if v.checks >= MAX_CHECKS {
            return twilio_error(429, 60202, "Max check attempts reached");
        }
        v.checks += 1;
        let approved = v.code == code;
        let (vsid, created) = (v.sid.clone(), v.created.clone());
        if approved {
            inner.pending.remove(to);
        }
        drop(inner);
        let body = json!({
            "sid": vsid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": to,
            "channel": "sms",
            "status": if approved { "approved" } else { "pending" },
            "valid": approved,
            "amount": null,
            "payee": null,
            "sna_attempts_error_codes": [],
            "date_created": created,
            "date_updated": timestamp(),
        });
        json_response(StatusCode::OK, body)
    }
}

/// The form as a map, or the 60200 message for an undefined, repeated or missing field.
fn fields<'a>(
    form: &'a [(String, String)],
    allowed: &[&str],
    required: &[&str],
) -> Result<HashMap<&'a str, &'a str>, String> {
    let mut map = HashMap::new();
    for (name, value) in form {
        if !allowed.contains(&name.as_str()) {
            return Err(format!(
                "Invalid parameter `{name}`: not defined for this resource"
            ));
        }
        if map.insert(name.as_str(), value.as_str()).is_some() {
            return Err(format!("Invalid parameter `{name}`: given more than once"));
        }
    }
    for name in required {
        if map.get(name).is_none_or(|v| v.is_empty()) {
            return Err(format!("Missing required parameter `{name}`"));
        }
    }
    Ok(map)
}

fn is_e164(to: &str) -> bool {
    to.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    })
}

fn status(http: u16) -> StatusCode {
    StatusCode::from_u16(http).expect("a valid HTTP status")
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Twilio's error JSON.
fn twilio_error(http: u16, code: u32, message: &str) -> Response {
    json_response(
        status(http),
        json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": http,
        }),
    )
}

fn invalid_parameter(message: &str) -> Response {
    twilio_error(400, 60200, message)
}

fn not_found(path: &str) -> Response {
    let resource = path.strip_prefix("/v2").unwrap_or(path);
    twilio_error(
        404,
        20404,
        &format!("The requested resource {resource} was not found"),
    )
}

/// Twilio's message for an error code; like Twilio, 60200 echoes the number.
fn error_message(code: u32, path: &str, to: Option<&str>) -> String {
    match code {
        20003 => "Authenticate".to_owned(),
        20404 => {
            let resource = path.strip_prefix("/v2").unwrap_or(path);
            format!("The requested resource {resource} was not found")
        }
        20429 => "Too many requests".to_owned(),
        20500 => "An internal server error has occurred".to_owned(),
        60200 => match to {
            Some(to) => format!("Invalid parameter `To`: {to}"),
            None => "Invalid parameter".to_owned(),
        },
        60202 => "Max check attempts reached".to_owned(),
        60203 => "Max send attempts reached".to_owned(),
        60205 => "SMS is not supported by landline phone number".to_owned(),
        60212 => "Too many concurrent requests for phone number".to_owned(),
        60410 => "Verification delivery attempt blocked".to_owned(),
        60605 => "Verification delivery attempt blocked".to_owned(),
        _ => "Error".to_owned(),
    }
}

/// The user name and password of a Basic `Authorization` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("OS random source");
    bytes
}

fn random_code() -> String {
    format!("{:06}", u32::from_be_bytes(random_bytes()) % 1_000_000)
}

/// A Twilio-style SID: two letters and 32 hex digits.
fn sid(prefix: &str) -> String {
    let hex: String = random_bytes::<16>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{prefix}{hex}")
}

/// Now, as Twilio writes it: `2015-07-30T20:00:00Z`.
fn timestamp() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("zero nanoseconds")
        .format(&time::format_description::well_known::Rfc3339)
        .expect("RFC 3339")
}
