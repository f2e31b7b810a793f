//! Fakes of the providers' APIs for tests, benchmarks and rehearsals: real HTTP servers on
//! loopback speaking each provider's wire format (auth, bodies, JSON and error shapes), strict
//! where the provider is lenient, so a client that strays from the spec fails loudly.
//!
//! What they share lives here: [`FakeServer`] (bind, serve, stop), [`Control`] (latency,
//! injected [`Failure`]s, the request history, a watcher of sent codes) and [`Book`] (Verify's
//! rules: 10-minute codes, the same code on a resend, 5 sends per number per 10 minutes, 5
//! checks per code). Each provider's module parses its requests and shapes its answers.
//! The Twilio Verify fake predates this module and lives in `fake_verify`.

pub mod cli;
pub mod conference;
pub mod messagebird;
pub mod telnyx;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use url::Url;

/// How long a code stays valid.
pub const CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Sends allowed per number within [`SEND_WINDOW`] (with limits on).
pub const MAX_SENDS: usize = 5;
/// The window for [`MAX_SENDS`].
pub const SEND_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Checks allowed against one code (with limits on).
pub const MAX_CHECKS: u32 = 5;
/// Requests kept for [`Control::requests`] by default.
pub const DEFAULT_HISTORY: usize = 10_000;
/// Codes kept per number for [`Book::sent_codes`].
pub const KEPT_CODES_PER_NUMBER: usize = 32;

/// A way for a fake to fail a request, instead of answering it.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// This HTTP status with an HTML body (not JSON), as a proxy or an outage gives.
    Status(u16),
    /// Wait this long (on top of the latency), then answer as usual.
    Hang(Duration),
    /// A success status with a body that is not JSON.
    NotJson,
    /// This status and this JSON body, verbatim: the provider's own error shapes (each
    /// provider's module has constructors for them).
    Json {
        /// The HTTP status.
        http: u16,
        /// The body.
        body: serde_json::Value,
    },
}

impl Failure {
    /// The response for a failure other than [`Failure::Hang`]; `success` is the status the
    /// endpoint answers with when it succeeds (for [`Failure::NotJson`]).
    pub fn response(&self, success: StatusCode) -> Option<Response> {
        match self {
            Failure::Hang(_) => None,
            Failure::Status(http) => {
                let status = status(*http);
                let reason = status.canonical_reason().unwrap_or("Error");
                Some(
                    (
                        status,
                        [(header::CONTENT_TYPE, "text/html")],
                        format!("<html><body><h1>{http} {reason}</h1></body></html>"),
                    )
                        .into_response(),
                )
            }
            Failure::NotJson => Some(
                (
                    success,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<html><body>OK</body></html>",
                )
                    .into_response(),
            ),
            Failure::Json { http, body } => Some(json_response(status(*http), body.clone())),
        }
    }
}

/// A code a fake delivered: one per successful send (a resend repeats the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    /// The number it went to, E.164.
    pub to: String,
    /// The code.
    pub code: String,
    /// `sms` or `voice`.
    pub channel: String,
}

/// One request a fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The HTTP method.
    pub method: String,
    /// The path, percent-encoded as sent.
    pub path: String,
    /// The `Authorization` header was the expected one.
    pub auth_ok: bool,
    /// The `Content-Type` header.
    pub content_type: Option<String>,
    /// The body as text (lossy).
    pub body: String,
}

struct ControlInner {
    requests: VecDeque<Recorded>,
    fail_next: Option<Failure>,
    fail_always: Option<Failure>,
    watcher: Option<tokio::sync::mpsc::UnboundedSender<SentCode>>,
}

/// What a test steers in any fake: latency, failures, the request history, a watcher.
pub struct Control {
    history: usize,
    latency_nanos: AtomicU64,
    received: AtomicU64,
    inner: Mutex<ControlInner>,
}

impl Control {
    /// A control keeping the last `history` requests (0: none, for stand-alone fakes).
    pub fn new(history: usize, latency: Duration) -> Self {
        Self {
            history,
            latency_nanos: AtomicU64::new(nanos(latency)),
            received: AtomicU64::new(0),
            inner: Mutex::new(ControlInner {
                requests: VecDeque::new(),
                fail_next: None,
                fail_always: None,
                watcher: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ControlInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a request and waits the latency (and any [`Failure::Hang`]); the failure to
    /// answer with instead, if one was injected.
    pub async fn arrive(&self, recorded: Recorded) -> Option<Failure> {
        self.received.fetch_add(1, Ordering::Relaxed);
        let failure = {
            let mut inner = self.lock();
            if self.history > 0 {
                while inner.requests.len() >= self.history {
                    inner.requests.pop_front();
                }
                inner.requests.push_back(recorded);
            }
            inner.fail_next.take().or_else(|| inner.fail_always.clone())
        };
        let latency = Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed));
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        match failure {
            Some(Failure::Hang(pause)) => {
                tokio::time::sleep(pause).await;
                None
            }
            other => other,
        }
    }

    /// Tells the watcher, if any, about a delivered code.
    pub fn delivered(&self, sent: SentCode) {
        if let Some(watcher) = &self.lock().watcher {
            let _ = watcher.send(sent);
        }
    }

    /// Every request from now on waits this long before it is answered.
    pub fn set_latency(&self, latency: Duration) {
        self.latency_nanos.store(nanos(latency), Ordering::Relaxed);
    }

    /// The next request fails this way.
    pub fn fail_next(&self, failure: Failure) {
        self.lock().fail_next = Some(failure);
    }

    /// Every request fails this way, until called with `None`.
    pub fn fail_always(&self, failure: Option<Failure>) {
        self.lock().fail_always = failure;
    }

    /// The requests received so far, failed ones included, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.iter().cloned().collect()
    }

    /// How many requests were received in all.
    pub fn request_count(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// From now on, every code delivered is also sent here (replacing an earlier watcher).
    pub fn watch_sends(&self) -> tokio::sync::mpsc::UnboundedReceiver<SentCode> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.lock().watcher = Some(tx);
        rx
    }
}

/// One pending verification in a [`Book`].
#[derive(Debug, Clone)]
pub struct Pending {
    /// The provider's id for it.
    pub id: String,
    /// The code.
    pub code: String,
    /// When it stops being valid.
    pub expires: Instant,
    /// Checks made against it.
    pub checks: u32,
}

/// Why a [`Book`] refused a send or a check; each fake answers it in its provider's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookError {
    /// Too many sends to this number in the window.
    TooManySends,
    /// Too many checks against this code.
    TooManyChecks,
    /// Nothing pending (expired, used, never sent; or the id does not match).
    NotFound,
}

/// What a check said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The verification's id.
    pub id: String,
    /// Whether the code was right (the verification is then used up).
    pub approved: bool,
}

struct BookInner {
    pending: HashMap<String, Pending>,
    sends: HashMap<String, VecDeque<Instant>>,
    sent: HashMap<String, (VecDeque<String>, Instant)>,
    fixed_code: Option<String>,
    last_sweep: Instant,
}

/// Verify's rules, shared by every fake Verify API: keyed by number.
pub struct Book {
    limits: bool,
    inner: Mutex<BookInner>,
}

impl Book {
    /// A book with Verify's limits (`limits`) or none (load runs), every code `fixed_code`
    /// or random.
    pub fn new(limits: bool, fixed_code: Option<String>) -> Self {
        Self {
            limits,
            inner: Mutex::new(BookInner {
                pending: HashMap::new(),
                sends: HashMap::new(),
                sent: HashMap::new(),
                fixed_code,
                last_sweep: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BookInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a verification for `to`, or resends the pending one's code (a new id when
    /// `new_each_time`, as MessageBird does); the pending verification after it.
    pub fn send(
        &self,
        to: &str,
        new_each_time: bool,
        id: impl Fn() -> String,
    ) -> Result<Pending, BookError> {
        let now = Instant::now();
        let mut inner = self.lock();
        if now.duration_since(inner.last_sweep) > Duration::from_secs(10) {
            inner.last_sweep = now;
            inner.pending.retain(|_, p| p.expires > now);
            inner.sends.retain(|_, w| {
                w.retain(|t| now.duration_since(*t) < SEND_WINDOW);
                !w.is_empty()
            });
            inner
                .sent
                .retain(|_, (_, last)| now.duration_since(*last) < CODE_TTL);
        }
        if self.limits {
            let window = inner.sends.entry(to.to_owned()).or_default();
            while window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= SEND_WINDOW)
            {
                window.pop_front();
            }
            if window.len() >= MAX_SENDS {
                return Err(BookError::TooManySends);
            }
            window.push_back(now);
        }
        let limits = self.limits;
        let reusable = inner
            .pending
            .get(to)
            .filter(|p| p.expires > now && (!limits || p.checks < MAX_CHECKS))
            .cloned();
        let pending = match reusable {
            Some(mut p) if new_each_time => {
                p.id = id();
                p.checks = 0;
                p.expires = now + CODE_TTL;
                p.code = inner.fixed_code.clone().unwrap_or_else(random_code);
                p
            }
            Some(p) => p,
            None => Pending {
                id: id(),
                code: inner.fixed_code.clone().unwrap_or_else(random_code),
                expires: now + CODE_TTL,
                checks: 0,
            },
        };
        inner.pending.insert(to.to_owned(), pending.clone());
        let (codes, last) = inner
            .sent
            .entry(to.to_owned())
            .or_insert_with(|| (VecDeque::new(), now));
        if codes.len() >= KEPT_CODES_PER_NUMBER {
            codes.pop_front();
        }
        codes.push_back(pending.code.clone());
        *last = now;
        Ok(pending)
    }

    /// Checks `code` against what is pending for `to` (and, when given, only if its id is
    /// `id`): counts the check, approves the right code once.
    pub fn check(&self, to: &str, id: Option<&str>, code: &str) -> Result<Checked, BookError> {
        let now = Instant::now();
        let mut inner = self.lock();
        let Some(p) = inner.pending.get_mut(to) else {
            return Err(BookError::NotFound);
        };
        if p.expires <= now || id.is_some_and(|id| id != p.id) {
            return Err(BookError::NotFound);
        }
        if self.limits && p.checks >= MAX_CHECKS {
            return Err(BookError::TooManyChecks);
        }
        p.checks = p.checks.saturating_add(1);
        let approved = p.code == code;
        let id = p.id.clone();
        if approved {
            inner.pending.remove(to);
        }
        Ok(Checked { id, approved })
    }

    /// The number a pending verification with this id is for.
    pub fn number_of(&self, id: &str) -> Option<String> {
        self.lock()
            .pending
            .iter()
            .find(|(_, p)| p.id == id)
            .map(|(to, _)| to.clone())
    }

    /// Codes of verifications started from now on are this one (`None`: random).
    pub fn fix_code(&self, code: Option<&str>) {
        self.lock().fixed_code = code.map(str::to_owned);
    }

    /// The codes sent to a number, oldest first (a resend repeats the code).
    pub fn sent_codes(&self, to: &str) -> Vec<String> {
        self.lock()
            .sent
            .get(to)
            .map(|(codes, _)| codes.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The pending verification for `to` expires now.
    pub fn expire(&self, to: &str) {
        if let Some(p) = self.lock().pending.get_mut(to) {
            p.expires = Instant::now();
        }
    }
}

/// A running fake: serves `router` on `listen` until dropped or stopped.
pub struct FakeServer {
    /// Its origin, `http://HOST:PORT/`: the client's base URL.
    pub base: Url,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl FakeServer {
    /// Binds `listen` and serves `router` in the current tokio runtime.
    pub async fn start(listen: &str, router: Router) -> io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let base = Url::parse(&format!("http://{addr}"))
            .map_err(|e| io::Error::other(format!("the fake's URL: {e}")))?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Self {
            base,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL without its trailing slash, for environment variables.
    pub fn origin(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
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

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A request's record: the `auth_ok` the fake decided, the rest from the request.
pub fn record(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    auth_ok: bool,
    body: &[u8],
) -> Recorded {
    Recorded {
        method: method.to_owned(),
        path: path.to_owned(),
        auth_ok,
        content_type: header_text(headers, header::CONTENT_TYPE),
        body: String::from_utf8_lossy(body).into_owned(),
    }
}

/// A header's value as text, if it is text.
pub fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A JSON answer.
pub fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// An HTTP status, 500 for a number that is not one.
pub fn status(http: u16) -> StatusCode {
    StatusCode::from_u16(http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// Whether text is a number in E.164 (`+` and 8 to 15 digits).
pub fn is_e164(to: &str) -> bool {
    to.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A random six-digit code.
pub fn random_code() -> String {
    let bytes: [u8; 4] = random_bytes();
    format!("{:06}", u32::from_le_bytes(bytes) % 1_000_000)
}

/// Random bytes from the OS (a fake's ids and codes need not be secret, only distinct).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    if getrandom::fill(&mut bytes).is_err() {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
            .to_le_bytes();
        for (b, t) in bytes.iter_mut().zip(t.iter().cycle()) {
            *b = *t;
        }
    }
    bytes
}

/// A random id of `N` bytes as lowercase hex.
pub fn hex_id<const N: usize>() -> String {
    crate::secret::hex(&random_bytes::<N>())
}

/// A six-digit run in a message text: the code a sender delivered.
pub fn code_in(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i - start == 6 {
                return Some(text[start..i].to_owned());
            }
        } else {
            i += 1;
        }
    }
    None
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The current time as RFC 3339 in UTC, whole seconds.
pub fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resend_keeps_the_code_unless_every_send_is_new() {
        let book = Book::new(true, None);
        let first = book.send("+15551230001", false, || "a".into()).unwrap();
        let again = book.send("+15551230001", false, || "b".into()).unwrap();
        assert_eq!((first.id.as_str(), &first.code), ("a", &again.code));
        assert_eq!(again.id, "a");
        book.fix_code(Some("111111"));
        let fresh = book.send("+15551230001", true, || "c".into()).unwrap();
        assert_eq!((fresh.id.as_str(), fresh.code.as_str()), ("c", "111111"));
        assert_eq!(
            book.check("+15551230001", Some("a"), "111111"),
            Err(BookError::NotFound)
        );
        assert!(
            book.check("+15551230001", Some("c"), "111111")
                .unwrap()
                .approved
        );
        assert_eq!(
            book.check("+15551230001", None, "111111"),
            Err(BookError::NotFound)
        );
    }

    #[test]
    fn limits_hold_per_number() {
        let book = Book::new(true, Some("123456".into()));
        for _ in 0..MAX_SENDS {
            book.send("+15551230001", false, || "v".into()).unwrap();
        }
        assert_eq!(
            book.send("+15551230001", false, || "v".into()).unwrap_err(),
            BookError::TooManySends
        );
        assert!(book.send("+15551230002", false, || "w".into()).is_ok());
        for _ in 0..MAX_CHECKS {
            assert!(!book.check("+15551230002", None, "000000").unwrap().approved);
        }
        assert_eq!(
            book.check("+15551230002", None, "123456"),
            Err(BookError::TooManyChecks)
        );
    }

    #[test]
    fn codes_are_found_in_message_texts() {
        assert_eq!(code_in("123456 is your code").as_deref(), Some("123456"));
        assert_eq!(
            code_in("Call +15551230001, code 004211.").as_deref(),
            Some("004211")
        );
        assert_eq!(code_in("no code 12345"), None);
    }
}
