//! A fake Twilio Verify v2: a real HTTP server speaking Twilio's wire format (Basic auth, form
//! bodies, Twilio-shaped JSON and error codes) with Verify's limits (10-minute codes, the same
//! code on a resend, 5 sends per number per 10 minutes, 5 checks per code), a configurable
//! response latency, and failures a test can inject. The tests start it in-process
//! ([`FakeVerify::start`]); `bridgekeeper fake-verify` ([`run`]) serves it on its own for
//! benchmarks and rehearsals.
//!
//! Verify's codes go out over `sms` or `call` (a voice call that speaks the code). The same
//! server also serves Twilio's Messages API (`POST /2010-04-01/Accounts/{AccountSid}/
//! Messages.json`), which the built-in engine's Twilio sender posts its texts to: the code in
//! each message's body is "texted" like a Verify code ([`FakeVerify::sent_codes`],
//! [`FakeVerify::watch_sends`]) and the message is kept ([`FakeVerify::messages`]).
//!
//! It is strict where Twilio is lenient: a form field the spec does not define for the
//! endpoint, a repeated field, or a missing `To`/`Channel`/`Code` is a 400 with code 60200 on
//! Verify (20001 on Messages, whose own codes for a missing or bad `To`, sender or `Body` are
//! answered as Twilio does), so a client that strays from the spec fails loudly.
//!
//! Its memory stays bounded on long runs: it keeps the last [`DEFAULT_HISTORY`] requests (by
//! default), at most [`KEPT_CODES_PER_NUMBER`] codes per number, and it sweeps out expired
//! verifications and numbers idle for [`CODE_TTL`].

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use clap::Args;
use serde_json::json;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// How long a verification stays pending.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Sends allowed per number within [`SEND_WINDOW`] (unless limits are off).
pub const MAX_SENDS: usize = 5;
/// The sliding window for [`MAX_SENDS`].
pub const SEND_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Checks allowed against one verification (unless limits are off).
pub const MAX_CHECKS: u32 = 5;
/// How many requests [`FakeVerify::requests`] keeps by default; older ones are dropped.
pub const DEFAULT_HISTORY: usize = 10_000;
/// How many codes [`FakeVerify::sent_codes`] keeps per number; older ones are dropped.
pub const KEPT_CODES_PER_NUMBER: usize = 32;
/// How often, at most, the fake sweeps out expired state (on the next request after this).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(10);

/// The account SID the fake accepts unless told otherwise (a test value, not a real account).
pub const DEFAULT_ACCOUNT_SID: &str = "ACfa4efa4efa4efa4efa4efa4efa4efa4e";
/// The auth token the fake accepts unless told otherwise (a test value, not a secret).
pub const DEFAULT_AUTH_TOKEN: &str = "fake-verify-test-token-not-a-secret";
/// The Verify service SID the fake serves unless told otherwise.
pub const DEFAULT_SERVICE_SID: &str = "VAfa4efa4efa4efa4efa4efa4efa4efa4e";
/// Where `bridgekeeper fake-verify` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8089";

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

/// The form fields Twilio's spec defines for `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`.
/// `MediaUrl` and `PersistentAction` are lists (they may repeat); the others may not.
pub const MESSAGE_FIELDS: &[&str] = &[
    "To",
    "StatusCallback",
    "ApplicationSid",
    "MaxPrice",
    "ProvideFeedback",
    "Attempt",
    "ValidityPeriod",
    "ForceDelivery",
    "ContentRetention",
    "AddressRetention",
    "SmartEncoded",
    "PersistentAction",
    "TrafficType",
    "ShortenUrls",
    "ScheduleType",
    "SendAt",
    "SendAsMms",
    "ContentVariables",
    "RiskCheck",
    "From",
    "FallbackFrom",
    "MessagingServiceSid",
    "Body",
    "MediaUrl",
    "ContentSid",
];

/// The Messages form fields that are lists, and so may repeat.
const MESSAGE_LIST_FIELDS: &[&str] = &["MediaUrl", "PersistentAction"];

/// The longest message body Twilio accepts, in characters.
pub const MAX_BODY_CHARS: usize = 1600;

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
    Error {
        /// The HTTP status.
        http: u16,
        /// The Twilio error code (`60203`, `20429`, …).
        code: u32,
    },
    /// This HTTP status with an HTML body (not JSON).
    Status(u16),
    /// Wait this long (on top of the configured latency), then answer as usual.
    Hang(Duration),
    /// A success status (201 for a send or a message, 200 for a check) with a body that is
    /// not JSON.
    NotJson,
    /// This status and this JSON body, verbatim.
    Json {
        /// The HTTP status.
        http: u16,
        /// The body.
        body: serde_json::Value,
    },
}

/// A code the fake "texted" or "called out": what [`FakeVerify::watch_sends`] delivers, one per
/// successful Verify send (a resend repeats the code) and one per message holding a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    /// The number it went to, E.164.
    pub to: String,
    /// The code.
    pub code: String,
    /// How: `sms` (a Verify `sms` send, or a message), or `voice` (a Verify `call` send), as
    /// every fake names its channels.
    pub channel: String,
}

/// One message the Messages API accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    to: String,
    /// `From`, or the `MessagingServiceSid` when that chose the sender.
    from: String,
    body: String,
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

/// How to start a [`FakeVerify`].
#[derive(Debug, Clone)]
pub struct FakeVerifyConfig {
    /// The address to bind, `127.0.0.1:0` (a random loopback port) by default.
    pub listen: String,
    /// The account SID Basic auth must carry.
    pub account_sid: String,
    /// The auth token Basic auth must carry.
    pub auth_token: String,
    /// The one Verify service SID that exists; any other is a 20404.
    pub service_sid: String,
    /// How long every request waits before it is answered (none by default).
    pub latency: Duration,
    /// Every new verification gets this code; `None` (the default) draws a random one.
    pub fixed_code: Option<String>,
    /// Whether Verify's per-number limits apply: 5 sends per 10 minutes (60203) and 5 checks
    /// per code (60202). On by default; off for load runs.
    pub limits: bool,
    /// How many requests [`FakeVerify::requests`] keeps; 0 keeps none.
    pub history: usize,
}

impl Default for FakeVerifyConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            account_sid: DEFAULT_ACCOUNT_SID.to_owned(),
            auth_token: DEFAULT_AUTH_TOKEN.to_owned(),
            service_sid: DEFAULT_SERVICE_SID.to_owned(),
            latency: Duration::ZERO,
            fixed_code: None,
            limits: true,
            history: DEFAULT_HISTORY,
        }
    }
}

struct Verification {
    sid: String,
    code: String,
    /// The channel of the latest send, as Twilio names it (`sms`, `call`).
    channel: &'static str,
    expires: Instant,
    checks: u32,
    created: String,
}

/// The codes texted to one number.
struct Texted {
    codes: VecDeque<String>,
    last: Instant,
}

struct Inner {
    pending: HashMap<String, Verification>,
    sends: HashMap<String, VecDeque<Instant>>,
    texted: HashMap<String, Texted>,
    requests: VecDeque<Recorded>,
    messages: VecDeque<Message>,
    fixed_code: Option<String>,
    fail_next: Option<Failure>,
    fail_always: Option<Failure>,
    last_sweep: Instant,
    watcher: Option<tokio::sync::mpsc::UnboundedSender<SentCode>>,
}

impl Inner {
    fn new(fixed_code: Option<String>) -> Self {
        Self {
            pending: HashMap::new(),
            sends: HashMap::new(),
            texted: HashMap::new(),
            requests: VecDeque::new(),
            messages: VecDeque::new(),
            fixed_code,
            fail_next: None,
            fail_always: None,
            last_sweep: Instant::now(),
            watcher: None,
        }
    }

    /// Drops expired verifications, spent send windows and numbers texted nothing for a
    /// code's lifetime, at most once per [`SWEEP_INTERVAL`]. None of it changes an answer.
    fn sweep_if_due(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < SWEEP_INTERVAL {
            return;
        }
        self.sweep(now);
    }

    fn sweep(&mut self, now: Instant) {
        self.last_sweep = now;
        self.pending.retain(|_, v| v.expires > now);
        self.sends.retain(|_, window| {
            window.retain(|t| now.duration_since(*t) < SEND_WINDOW);
            !window.is_empty()
        });
        self.texted
            .retain(|_, texted| now.duration_since(texted.last) < CODE_TTL);
    }

    /// Keeps a code sent to `to` for [`FakeVerify::sent_codes`] and tells the watcher.
    fn sent(&mut self, to: &str, code: String, channel: &str, now: Instant) {
        let texted = self.texted.entry(to.to_owned()).or_insert_with(|| Texted {
            codes: VecDeque::new(),
            last: now,
        });
        if texted.codes.len() >= KEPT_CODES_PER_NUMBER {
            texted.codes.pop_front();
        }
        texted.codes.push_back(code.clone());
        texted.last = now;
        if let Some(watcher) = &self.watcher {
            let _ = watcher.send(SentCode {
                to: to.to_owned(),
                code,
                channel: channel.to_owned(),
            });
        }
    }
}

struct Shared {
    base: String,
    account_sid: String,
    auth_token: String,
    service_sid: String,
    limits: bool,
    history: usize,
    latency_nanos: AtomicU64,
    received: AtomicU64,
    inner: Mutex<Inner>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }
}

/// A running fake Twilio Verify server; it stops accepting requests when dropped.
pub struct FakeVerify {
    /// Its origin, `http://HOST:PORT/`: the clients' base URL (`TWILIO_VERIFY_BASE_URL` and
    /// `TWILIO_API_BASE_URL`).
    pub base: Url,
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl FakeVerify {
    /// Binds `config.listen` and serves in the current tokio runtime until dropped or
    /// [`stop`](Self::stop)ped.
    pub async fn start(config: FakeVerifyConfig) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(&config.listen).await?;
        let addr = listener.local_addr()?;
        let base = Url::parse(&format!("http://{addr}"))
            .map_err(|e| io::Error::other(format!("the fake's URL: {e}")))?;
        let shared = Arc::new(Shared {
            base: base.as_str().trim_end_matches('/').to_owned(),
            account_sid: config.account_sid,
            auth_token: config.auth_token,
            service_sid: config.service_sid,
            limits: config.limits,
            history: config.history,
            latency_nanos: AtomicU64::new(nanos(config.latency)),
            received: AtomicU64::new(0),
            inner: Mutex::new(Inner::new(config.fixed_code)),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            base,
            addr,
            shared,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Codes of verifications started from now on are this one.
    pub fn fix_code(&self, code: &str) {
        self.shared.lock().fixed_code = Some(code.to_owned());
    }

    /// Codes of verifications started from now on are random again.
    pub fn random_codes(&self) {
        self.shared.lock().fixed_code = None;
    }

    /// Every request from now on waits this long before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.shared
            .latency_nanos
            .store(nanos(latency), Ordering::Relaxed);
    }

    /// The next request (either endpoint) fails this way.
    pub fn fail_next(&self, failure: Failure) {
        self.shared.lock().fail_next = Some(failure);
    }

    /// Every request fails this way, until called with `None`.
    pub fn fail_always(&self, failure: Option<Failure>) {
        self.shared.lock().fail_always = failure;
    }

    /// The requests received so far, failed ones included, oldest first: the last
    /// [`FakeVerifyConfig::history`] of them.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.iter().cloned().collect()
    }

    /// How many requests it has received in all, including those dropped from
    /// [`requests`](Self::requests).
    pub fn request_count(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// The codes sent to a number, oldest first, whether by a Verify send (over either
    /// channel; a resend repeats the code) or in a message's body: the last
    /// [`KEPT_CODES_PER_NUMBER`], forgotten once nothing was sent to it for [`CODE_TTL`].
    pub fn sent_codes(&self, to: &str) -> Vec<String> {
        self.shared
            .lock()
            .texted
            .get(to)
            .map(|t| t.codes.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The messages the Messages API accepted, oldest first, as `(To, From, Body)`; `From` is
    /// the `MessagingServiceSid` when that chose the sender. The last
    /// [`FakeVerifyConfig::history`] of them, like [`requests`](Self::requests).
    pub fn messages(&self) -> Vec<(String, String, String)> {
        self.shared
            .lock()
            .messages
            .iter()
            .map(|m| (m.to.clone(), m.from.clone(), m.body.clone()))
            .collect()
    }

    /// From now on, every code sent is also delivered here (replacing an earlier watcher).
    pub fn watch_sends(&self) -> tokio::sync::mpsc::UnboundedReceiver<SentCode> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.shared.lock().watcher = Some(tx);
        rx
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

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for FakeVerify {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Every request comes here: record it, wait out the latency, apply an injected failure,
/// then act like Twilio.
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
    shared.received.fetch_add(1, Ordering::Relaxed);
    let failure = {
        let mut inner = shared.lock();
        if shared.history > 0 {
            while inner.requests.len() >= shared.history {
                inner.requests.pop_front();
            }
            inner.requests.push_back(Recorded {
                method: method.to_string(),
                path: path.clone(),
                form: form.clone(),
                auth_ok,
                basic_user: credentials.map(|(user, _)| user),
                content_type: header_text(&headers, header::CONTENT_TYPE),
                user_agent: header_text(&headers, header::USER_AGENT),
            });
        }
        inner.fail_next.take().or_else(|| inner.fail_always.clone())
    };
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
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
            ["2010-04-01", "Accounts", account, "Messages.json"] => {
                let account = percent_encoding::percent_decode_str(account).decode_utf8_lossy();
                if account != self.account_sid {
                    return not_found(path);
                }
                if method != Method::POST {
                    return twilio_error(405, 20004, "Method not allowed");
                }
                return self.message(form);
            }
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
        let (Some(&to), Some(&channel)) = (fields.get("To"), fields.get("Channel")) else {
            return invalid_parameter("Missing required parameter `To`");
        };
        if !is_e164(to) {
            return invalid_parameter(&format!("Invalid parameter `To`: {to}"));
        }
        let (channel, watched) = match channel {
            "sms" => ("sms", "sms"),
            "call" => ("call", "voice"),
            other => {
                return invalid_parameter(&format!("Invalid parameter `Channel`: {other}"));
            }
        };
        let now = Instant::now();
        let mut guard = self.lock();
        guard.sweep_if_due(now);
        let inner = &mut *guard;
        if self.limits {
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
        }
        let limits = self.limits;
        let fresh = || Verification {
            sid: sid("VE"),
            code: inner.fixed_code.clone().unwrap_or_else(random_code),
            channel,
            expires: now + CODE_TTL,
            checks: 0,
            created: timestamp(),
        };
        let v = match inner.pending.entry(to.to_owned()) {
            Entry::Occupied(mut occupied) => {
                let v = occupied.get();
                let reusable = v.expires > now && (!limits || v.checks < MAX_CHECKS);
                if !reusable {
                    occupied.insert(fresh());
                }
                occupied.into_mut()
            }
            Entry::Vacant(vacant) => vacant.insert(fresh()),
        };
        // A resend over another channel keeps the code and says how it went this time.
        v.channel = channel;
        let (vsid, code, created) = (v.sid.clone(), v.code.clone(), v.created.clone());
        inner.sent(to, code, watched, now);
        drop(guard);
        let body = json!({
            "sid": vsid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": to,
            "channel": channel,
            "status": "pending",
            "valid": false,
            "date_created": created,
            "date_updated": timestamp(),
            "lookup": {},
            "amount": null,
            "payee": null,
            "send_code_attempts": [
                {"time": timestamp(), "channel": channel.to_ascii_uppercase(), "attempt_sid": sid("VL")}
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
        let (Some(&to), Some(&code)) = (fields.get("To"), fields.get("Code")) else {
            return invalid_parameter("Missing required parameter `To`");
        };
        if !is_e164(to) {
            return invalid_parameter(&format!("Invalid parameter `To`: {to}"));
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.sweep_if_due(now);
        let Some(v) = inner.pending.get_mut(to) else {
            return not_found(path);
        };
        if v.expires <= now {
            inner.pending.remove(to);
            return not_found(path);
        }
        if self.limits && v.checks >= MAX_CHECKS {
            return twilio_error(429, 60202, "Max check attempts reached");
        }
        v.checks = v.checks.saturating_add(1);
        let approved = v.code == code;
        let (vsid, created, channel) = (v.sid.clone(), v.created.clone(), v.channel);
        if approved {
            inner.pending.remove(to);
        }
        drop(inner);
        let body = json!({
            "sid": vsid,
            "service_sid": self.service_sid,
            "account_sid": self.account_sid,
            "to": to,
            "channel": channel,
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

impl Shared {
    /// `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`: queue a text, keep the code
    /// in its body. Twilio ignores fields it does not know; the fake refuses them (20001).
    fn message(&self, form: &[(String, String)]) -> Response {
        let mut fields: HashMap<&str, &str> = HashMap::new();
        for (name, value) in form {
            let name = name.as_str();
            if !MESSAGE_FIELDS.contains(&name) {
                return twilio_error(
                    400,
                    20001,
                    &format!("Unknown parameter `{name}`: not defined for this resource"),
                );
            }
            if fields.insert(name, value).is_some() && !MESSAGE_LIST_FIELDS.contains(&name) {
                return twilio_error(
                    400,
                    20001,
                    &format!("Parameter `{name}` given more than once"),
                );
            }
        }
        let given = |name: &str| fields.get(name).copied().filter(|v| !v.is_empty());
        let Some(to) = given("To") else {
            return twilio_error(400, 21604, &error_message(21604, "", None));
        };
        if !is_e164(to) {
            return twilio_error(400, 21211, &error_message(21211, "", Some(to)));
        }
        let (from, service) = (given("From"), given("MessagingServiceSid"));
        let sender = match (from, service) {
            (None, None) => return twilio_error(400, 21603, &error_message(21603, "", None)),
            // Twilio takes both (a sender from the service's pool); the fake wants one.
            (Some(_), Some(_)) => {
                return twilio_error(
                    400,
                    21603,
                    "Give one of 'From' and 'MessagingServiceSid', not both",
                );
            }
            (Some(from), None) if !is_sender(from) => {
                return twilio_error(400, 21606, &error_message(21606, "", None));
            }
            (None, Some(service)) if !is_messaging_service_sid(service) => {
                return twilio_error(
                    400,
                    21701,
                    &format!("The Messaging Service Sid {service} is invalid"),
                );
            }
            (Some(sender), None) | (None, Some(sender)) => sender,
        };
        let Some(body) = given("Body") else {
            return twilio_error(400, 21602, &error_message(21602, "", None));
        };
        if body.chars().count() > MAX_BODY_CHARS {
            return twilio_error(400, 21617, &error_message(21617, "", None));
        }
        let now = Instant::now();
        let mut inner = self.lock();
        inner.sweep_if_due(now);
        if self.history > 0 {
            while inner.messages.len() >= self.history {
                inner.messages.pop_front();
            }
            inner.messages.push_back(Message {
                to: to.to_owned(),
                from: sender.to_owned(),
                body: body.to_owned(),
            });
        }
        if let Some(code) = crate::fakes::code_in(body) {
            inner.sent(to, code, "sms", now);
        }
        drop(inner);
        let msid = sid("SM");
        let date = rfc2822();
        let resource = format!("/2010-04-01/Accounts/{}/Messages/{msid}", self.account_sid);
        let body = json!({
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": date,
            "date_sent": null,
            "date_updated": date,
            "direction": "outbound-api",
            "error_code": null,
            "error_message": null,
            "from": from,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": segments(body).to_string(),
            "price": null,
            "price_unit": "USD",
            "sid": msid,
            // A service picks its sender before the message is queued.
            "status": if from.is_some() { "queued" } else { "accepted" },
            "subresource_uris": {"media": format!("{resource}/Media.json")},
            "to": to,
            "uri": format!("{resource}.json"),
        });
        json_response(StatusCode::CREATED, body)
    }
}

/// A sender the fake's account "owns": any E.164 number, a short code (5 or 6 digits) or an
/// alphanumeric sender ID (up to 11 letters, digits and spaces, at least one letter).
fn is_sender(from: &str) -> bool {
    let short_code = (5..=6).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&from.len())
        && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ')
        && from.bytes().any(|b| b.is_ascii_alphabetic());
    is_e164(from) || short_code || alphanumeric
}

/// `MG` and 32 hex digits, the spec's pattern for a Messaging Service SID.
fn is_messaging_service_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("MG") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// How many SMS segments Twilio would bill for a body (GSM-7 sizes: 160, or 153 each).
fn segments(body: &str) -> usize {
    match body.chars().count() {
        0..=160 => 1,
        n => n.div_ceil(153),
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

/// The status for an injected code; an impossible one (outside 100–999) becomes a 500.
fn status(http: u16) -> StatusCode {
    StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
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
        20001 => "Unknown parameters".to_owned(),
        20003 => "Authenticate".to_owned(),
        20404 => {
            let resource = path.strip_prefix("/v2").unwrap_or(path);
            format!("The requested resource {resource} was not found")
        }
        20429 => "Too many requests".to_owned(),
        20500 => "An internal server error has occurred".to_owned(),
        // The Messages API's, from Twilio's error dictionary; like Twilio, some echo the number.
        21211 => format!("Invalid 'To' Phone Number: {}", to.unwrap_or_default()),
        21408 => format!(
            "Permission to send an SMS has not been enabled for the region indicated by the \
             'To' number: {}",
            to.unwrap_or_default()
        ),
        21602 => "Message body is required.".to_owned(),
        21603 => "A 'From' phone number is required.".to_owned(),
        21604 => "A 'To' phone number is required.".to_owned(),
        21606 => "The 'From' phone number provided is not a valid message-capable Twilio phone \
                  number for this destination/account"
            .to_owned(),
        21610 => "Attempt to send to unsubscribed recipient".to_owned(),
        21612 => format!(
            "The 'To' phone number: {}, is not currently reachable using the 'From' phone \
             number via SMS.",
            to.unwrap_or_default()
        ),
        21614 => format!(
            "'To' number {} is not a valid mobile number",
            to.unwrap_or_default()
        ),
        21617 => "The concatenated message body exceeds the 1600 character limit.".to_owned(),
        30003 => "Unreachable destination handset".to_owned(),
        30005 => "Unknown destination handset".to_owned(),
        30006 => "Landline or unreachable carrier".to_owned(),
        30007 => "Message filtered".to_owned(),
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

/// Random bytes from the OS; should that ever fail, bytes mixed from the clock and a counter
/// (the fake's codes and SIDs guard nothing real).
fn random_bytes<const N: usize>() -> [u8; N] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let mut state = (nanos as u64) ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(32);
        for chunk in bytes.chunks_mut(8) {
            // splitmix64
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..chunk.len()]);
        }
    }
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

/// Now, as Twilio's 2010 API writes it: `Thu, 30 Jul 2015 20:12:31 +0000`.
fn rfc2822() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

/// Now, as Twilio Verify writes it: `2015-07-30T20:00:00Z`.
fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// `bridgekeeper fake-verify`: a fake Twilio Verify v2 and Messages API for benchmarks and
/// rehearsals.
///
/// It prints one line with its base URL and the environment to give `bridgekeeper serve`,
/// then serves until Ctrl-C or SIGTERM, printing a line for each code it "texts" (unless
/// `--quiet`).
#[derive(Debug, Clone, Args)]
pub struct FakeVerifyArgs {
    /// Which provider to fake: Twilio (Verify and Messages), Telnyx (Verify and messages) or
    /// MessageBird (Verify and messages), each on one server.
    #[arg(long, value_enum, default_value_t = Provider::Twilio)]
    pub provider: Provider,
    /// Print the environment for the built-in engine texting through this provider's SMS API
    /// (BRIDGEKEEPER_SENDER) rather than for its Verify API.
    #[arg(long)]
    pub sender: bool,
    /// Address to bind (port 0 picks a free port; the printed line names it).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Wait this long before answering each request, like `100ms`, `2s` or `0`.
    #[arg(long, default_value = "0", value_parser = crate::config::parse_duration)]
    pub latency: Duration,
    /// Text this six-digit code every time (random codes by default).
    #[arg(long, value_parser = parse_code)]
    pub code: Option<String>,
    /// The account SID to accept (a fixed test value by default).
    #[arg(long, default_value = DEFAULT_ACCOUNT_SID)]
    pub account_sid: String,
    /// The auth token to accept (a fixed test value by default).
    #[arg(long, default_value = DEFAULT_AUTH_TOKEN)]
    pub auth_token: String,
    /// The Verify service SID to serve (a fixed test value by default).
    #[arg(long, default_value = DEFAULT_SERVICE_SID)]
    pub service_sid: String,
    /// Switch off Verify's per-number limits (5 sends per 10 minutes, 5 checks per code),
    /// for load runs.
    #[arg(long)]
    pub no_limits: bool,
    /// Print no line per code sent (only the first line, with the environment).
    #[arg(long)]
    pub quiet: bool,
}

/// The providers `fake-verify` can stand in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Provider {
    /// Twilio Verify v2 and the Messages API.
    Twilio,
    /// Telnyx Verify v2 and `POST /v2/messages`.
    Telnyx,
    /// MessageBird Verify and `POST /messages`.
    #[value(name = "messagebird")]
    MessageBird,
}

/// Accepts a six-digit code, as bridgekeeper asks callers for.
fn parse_code(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Ok(raw.to_owned())
    } else {
        Err("must be six digits (bridgekeeper asks callers for six)".to_owned())
    }
}

/// A value as a POSIX shell word: bare when that is safe, single-quoted otherwise.
pub fn shell_word(value: &str) -> String {
    let safe = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.,:/@%+=".contains(&b));
    if safe {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// The one line `bridgekeeper fake-verify` prints when it is up.
pub fn banner(fake: &FakeVerify, args: &FakeVerifyArgs) -> String {
    let base = fake.base.as_str().trim_end_matches('/');
    let latency = if args.latency.is_zero() {
        "no latency".to_owned()
    } else {
        format!("latency {:?}", args.latency)
    };
    let limits = if args.no_limits {
        "no limits"
    } else {
        "Verify's limits"
    };
    let codes = match &args.code {
        Some(code) => format!("every code {code}"),
        None => "random codes".to_owned(),
    };
    if args.sender {
        return format!(
            "fake Twilio Messages on {base} ({latency}, {codes}); give the server: \
             BRIDGEKEEPER_SENDER=twilio TWILIO_API_BASE_URL={} TWILIO_ACCOUNT_SID={} \
             TWILIO_AUTH_TOKEN={} TWILIO_FROM_NUMBER={}",
            shell_word(base),
            shell_word(&args.account_sid),
            shell_word(&args.auth_token),
            crate::fakes::cli::FROM_NUMBER,
        );
    }
    format!(
        "fake Twilio Verify and Messages on {base} ({latency}, {limits}, {codes}); give the \
         server: TWILIO_VERIFY_BASE_URL={} TWILIO_API_BASE_URL={} TWILIO_ACCOUNT_SID={} \
         TWILIO_AUTH_TOKEN={} TWILIO_VERIFY_SERVICE_SID={}",
        shell_word(base),
        shell_word(base),
        shell_word(&args.account_sid),
        shell_word(&args.auth_token),
        shell_word(&args.service_sid),
    )
}

/// The line `bridgekeeper fake-verify` prints for a code it sent: the number masked, as
/// everywhere else, and the code in full. The fake's codes are not secrets: no text message
/// is sent, and whoever reads this line could as well have asked the fake itself.
pub fn sent_line(sent: &SentCode) -> String {
    let how = if sent.channel == "voice" {
        " (voice call)"
    } else {
        ""
    };
    format!(
        "code {} sent to {}{how}",
        sent.code,
        crate::domain::redact::mask_number(&sent.to)
    )
}

/// Runs `bridgekeeper fake-verify` until Ctrl-C or SIGTERM; 0 after a clean stop, 1 if it
/// cannot listen.
pub async fn run(args: FakeVerifyArgs) -> ExitCode {
    if args.provider != Provider::Twilio {
        return Box::pin(crate::fakes::cli::run(args)).await;
    }
    let config = FakeVerifyConfig {
        listen: args.listen.clone(),
        account_sid: args.account_sid.clone(),
        auth_token: args.auth_token.clone(),
        service_sid: args.service_sid.clone(),
        latency: args.latency,
        fixed_code: args.code.clone(),
        limits: !args.no_limits,
        // Nobody can read the history of a stand-alone fake: keep none.
        history: 0,
    };
    let fake = match FakeVerify::start(config).await {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!(
                "bridgekeeper fake-verify: cannot listen on {}: {e}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    println!("{}", banner(&fake, &args));
    if !args.quiet {
        let mut sends = fake.watch_sends();
        tokio::spawn(async move {
            use std::io::Write;
            while let Some(sent) = sends.recv().await {
                // A closed pipe (`fake-verify | head`) is not worth a panic.
                let _ = writeln!(io::stdout().lock(), "{}", sent_line(&sent));
            }
        });
    }
    crate::startup::ctrl_c_or_sigterm().await;
    let count = fake.request_count();
    let served = match count {
        1 => "1 request".to_owned(),
        n => format!("{n} requests"),
    };
    // In-flight requests get their answer, within reason.
    let grace = Duration::from_secs(5).saturating_add(args.latency);
    match tokio::time::timeout(grace, fake.stop()).await {
        Ok(Ok(())) => eprintln!("fake Twilio Verify stopped after {served}"),
        Ok(Err(e)) => eprintln!("fake Twilio Verify stopped after {served} ({e})"),
        Err(_) => eprintln!("fake Twilio Verify stopped after {served} (some still in flight)"),
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    const TO: &str = "+15551230001";

    async fn start(config: FakeVerifyConfig) -> (FakeVerify, reqwest::Client) {
        let fake = FakeVerify::start(config).await.unwrap();
        (fake, reqwest::Client::builder().no_proxy().build().unwrap())
    }

    async fn post(
        fake: &FakeVerify,
        client: &reqwest::Client,
        leaf: &str,
        form: &[(&str, &str)],
    ) -> (u16, serde_json::Value) {
        let url = fake
            .base
            .join(&format!("/v2/Services/{DEFAULT_SERVICE_SID}/{leaf}"))
            .unwrap();
        let response = client
            .post(url)
            .basic_auth(DEFAULT_ACCOUNT_SID, Some(DEFAULT_AUTH_TOKEN))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    #[test]
    fn durations_read_like_the_flag_says() {
        use crate::config::parse_duration;
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn codes_are_six_digits_and_words_are_quoted_when_needed() {
        assert_eq!(parse_code("123456"), Ok("123456".to_owned()));
        assert!(parse_code("12345").is_err());
        assert!(parse_code("12345a").is_err());
        assert_eq!(shell_word(DEFAULT_AUTH_TOKEN), DEFAULT_AUTH_TOKEN);
        assert_eq!(shell_word("http://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn senders_and_segments_are_read_like_twilio() {
        for from in ["+15550009999", "12345", "Bridge Ops", "MyCo2"] {
            assert!(is_sender(from), "{from}");
        }
        for from in [
            "",
            "+1555-000",
            "whatsapp:+15550009999",
            "A long sender",
            "1234",
        ] {
            assert!(!is_sender(from), "{from}");
        }
        assert!(is_messaging_service_sid(
            "MGfa4efa4efa4efa4efa4efa4efa4efa4e"
        ));
        assert!(!is_messaging_service_sid("MGfa4e"));
        assert!(!is_messaging_service_sid(
            "VAfa4efa4efa4efa4efa4efa4efa4efa4e"
        ));
        for (chars, expected) in [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (1600, 11)] {
            assert_eq!(segments(&"x".repeat(chars)), expected, "{chars}");
        }
    }

    #[test]
    fn the_banner_names_both_apis_and_the_line_names_the_channel() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let fake = FakeVerify::start(FakeVerifyConfig::default())
                .await
                .unwrap();
            let args = FakeVerifyArgs {
                provider: Provider::Twilio,
                sender: false,
                listen: "127.0.0.1:0".to_owned(),
                latency: Duration::ZERO,
                code: None,
                account_sid: DEFAULT_ACCOUNT_SID.to_owned(),
                auth_token: DEFAULT_AUTH_TOKEN.to_owned(),
                service_sid: DEFAULT_SERVICE_SID.to_owned(),
                no_limits: false,
                quiet: false,
            };
            let line = banner(&fake, &args);
            let base = fake.base.as_str().trim_end_matches('/');
            for var in ["TWILIO_VERIFY_BASE_URL", "TWILIO_API_BASE_URL"] {
                assert!(line.contains(&format!(" {var}={base} ")), "{line}");
            }
        });
        let sent = |channel: &str| SentCode {
            to: "+15551230001".to_owned(),
            code: "123456".to_owned(),
            channel: channel.to_owned(),
        };
        assert_eq!(sent_line(&sent("sms")), "code 123456 sent to +1555•••0001");
        assert_eq!(
            sent_line(&sent("voice")),
            "code 123456 sent to +1555•••0001 (voice call)"
        );
    }

    #[test]
    fn the_default_sids_look_like_twilio_sids() {
        for (sid, prefix) in [(DEFAULT_ACCOUNT_SID, "AC"), (DEFAULT_SERVICE_SID, "VA")] {
            assert_eq!(sid.len(), 34);
            assert!(sid.starts_with(prefix));
            assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn a_sweep_forgets_only_what_cannot_matter_any_more() {
        let start = Instant::now();
        let mut inner = Inner::new(None);
        let verification = |expires| Verification {
            sid: sid("VE"),
            code: "123456".to_owned(),
            channel: "sms",
            expires,
            checks: 0,
            created: timestamp(),
        };
        inner.pending.insert("old".into(), verification(start));
        inner
            .pending
            .insert("live".into(), verification(start + 2 * CODE_TTL));
        inner.sends.insert("old".into(), VecDeque::from([start]));
        inner
            .sends
            .insert("live".into(), VecDeque::from([start, start + SEND_WINDOW]));
        for (number, last) in [("old", start), ("live", start + CODE_TTL)] {
            inner.texted.insert(
                number.into(),
                Texted {
                    codes: VecDeque::from(["123456".to_owned()]),
                    last,
                },
            );
        }

        // Not due yet: nothing changes.
        inner.sweep_if_due(start);
        assert_eq!(inner.pending.len(), 2);

        inner.sweep_if_due(start + SEND_WINDOW + Duration::from_secs(1));
        assert_eq!(inner.pending.keys().collect::<Vec<_>>(), ["live"]);
        assert_eq!(inner.sends.keys().collect::<Vec<_>>(), ["live"]);
        assert_eq!(inner.sends["live"].len(), 1);
        assert_eq!(inner.texted.keys().collect::<Vec<_>>(), ["live"]);
    }

    #[tokio::test]
    async fn the_history_keeps_the_latest_requests() {
        let (fake, client) = start(FakeVerifyConfig {
            history: 3,
            ..FakeVerifyConfig::default()
        })
        .await;
        for n in 0..5 {
            let to = format!("+1555123000{n}");
            let (status, _) = post(
                &fake,
                &client,
                "Verifications",
                &[("To", &to), ("Channel", "sms")],
            )
            .await;
            assert_eq!(status, 201);
        }
        let kept: Vec<String> = fake
            .requests()
            .iter()
            .map(|r| r.field("To").unwrap().to_owned())
            .collect();
        assert_eq!(kept, ["+15551230002", "+15551230003", "+15551230004"]);
        assert_eq!(fake.request_count(), 5);
    }

    #[tokio::test]
    async fn without_limits_sends_and_checks_never_run_out() {
        let (fake, client) = start(FakeVerifyConfig {
            limits: false,
            fixed_code: Some("123456".to_owned()),
            ..FakeVerifyConfig::default()
        })
        .await;
        for _ in 0..MAX_SENDS + 3 {
            let (status, body) = post(
                &fake,
                &client,
                "Verifications",
                &[("To", TO), ("Channel", "sms")],
            )
            .await;
            assert_eq!(status, 201, "{body}");
        }
        for _ in 0..MAX_CHECKS + 3 {
            let (status, body) = post(
                &fake,
                &client,
                "VerificationCheck",
                &[("To", TO), ("Code", "000000")],
            )
            .await;
            assert_eq!(
                (status, &body["status"]),
                (200, &json!("pending")),
                "{body}"
            );
        }
        let (_, body) = post(
            &fake,
            &client,
            "VerificationCheck",
            &[("To", TO), ("Code", "123456")],
        )
        .await;
        assert_eq!(body["status"], "approved");
        assert_eq!(fake.sent_codes(TO).len(), MAX_SENDS + 3);
    }

    #[tokio::test]
    async fn with_limits_the_sixth_send_and_check_are_refused() {
        let (fake, client) = start(FakeVerifyConfig::default()).await;
        for _ in 0..MAX_SENDS {
            let (status, _) = post(
                &fake,
                &client,
                "Verifications",
                &[("To", TO), ("Channel", "sms")],
            )
            .await;
            assert_eq!(status, 201);
        }
        let (status, body) = post(
            &fake,
            &client,
            "Verifications",
            &[("To", TO), ("Channel", "sms")],
        )
        .await;
        assert_eq!((status, body["code"].as_u64()), (429, Some(60203)));
        let codes = fake.sent_codes(TO);
        assert!(codes.windows(2).all(|w| w[0] == w[1]), "a resend repeats");
        for _ in 0..MAX_CHECKS {
            let wrong = if codes[0] == "000000" {
                "111111"
            } else {
                "000000"
            };
            let (status, _) = post(
                &fake,
                &client,
                "VerificationCheck",
                &[("To", TO), ("Code", wrong)],
            )
            .await;
            assert_eq!(status, 200);
        }
        let (status, body) = post(
            &fake,
            &client,
            "VerificationCheck",
            &[("To", TO), ("Code", &codes[0])],
        )
        .await;
        assert_eq!((status, body["code"].as_u64()), (429, Some(60202)));
    }

    #[tokio::test]
    async fn latency_delays_every_answer_and_can_change() {
        let (fake, client) = start(FakeVerifyConfig {
            latency: Duration::from_millis(150),
            ..FakeVerifyConfig::default()
        })
        .await;
        let started = Instant::now();
        let (status, _) = post(
            &fake,
            &client,
            "VerificationCheck",
            &[("To", TO), ("Code", "1")],
        )
        .await;
        assert_eq!(status, 404);
        assert!(started.elapsed() >= Duration::from_millis(150));
        // Changed to a latency far beyond any scheduling noise, then back: the long one is
        // waited out (a lower bound only, never a tight upper one on a shared machine).
        fake.set_latency(Duration::from_millis(600));
        let started = Instant::now();
        post(
            &fake,
            &client,
            "VerificationCheck",
            &[("To", TO), ("Code", "1")],
        )
        .await;
        assert!(started.elapsed() >= Duration::from_millis(600));
    }

    #[tokio::test]
    async fn stop_waits_for_the_server_to_finish() {
        let (fake, _) = start(FakeVerifyConfig::default()).await;
        let addr = fake.local_addr();
        fake.stop().await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
