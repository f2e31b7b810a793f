//! What every provider client shares: one pooled HTTP client with bounded timeouts and no
//! redirects, base URLs that never carry a credential in clear, bounded answers, and upstream
//! text scrubbed before it reaches an error or a log line.

use std::fmt;
use std::time::{Duration, Instant};
use url::{Host, Url};

/// Providers' answers are a few hundred bytes; more than this is not read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The connect timeout never exceeds this (nor the whole-request timeout).
pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Upstream text kept in errors and logs, in characters.
const MAX_UPSTREAM_TEXT: usize = 200;

/// The `User-Agent` of every upstream request.
pub const USER_AGENT: &str = concat!("bridgekeeper/", env!("CARGO_PKG_VERSION"));

/// An HTTP client for one provider: the whole-request `timeout`, a connect timeout of at most
/// 3 s, no redirects (a redirect could carry the credentials elsewhere).
pub fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    if timeout.is_zero() {
        return Err("the timeout is zero".to_owned());
    }
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .timeout(timeout)
        .connect_timeout(timeout.min(MAX_CONNECT_TIMEOUT))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("could not build the HTTP client: {}", error_chain(&e)))
}

/// Refuses base URLs that could not carry the API or would send a credential in clear: plain
/// `http` only to a loopback host (a test's fake).
pub fn check_base_url(base: &Url) -> Result<(), String> {
    if base.cannot_be_a_base() {
        return Err(format!("the base URL {base} cannot have a path"));
    }
    if !base.username().is_empty() || base.password().is_some() {
        return Err("the base URL must not carry credentials".to_owned());
    }
    match base.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(base) => Ok(()),
        "http" => Err(format!(
            "the base URL {base} is plain http to a non-loopback host; use https"
        )),
        other => Err(format!(
            "the base URL scheme {other:?} is not http or https"
        )),
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// `{base}/{segments…}`, each segment percent-encoded as one (so `/`, `?`, `#`, `%` and `\`
/// in an id stay inside it). Any query or fragment of the base is dropped; a path prefix of
/// the base is kept.
pub fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, String> {
    let mut url = base.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| format!("the base URL {base} cannot have a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// An error and its sources, joined: reqwest's own message alone rarely says what failed.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Makes upstream text safe for errors and logs: numbers and codes masked by the one rule
/// (`domain::redact`), control characters turned into spaces, cut to 200 characters.
pub fn scrub(text: &str) -> String {
    let out = crate::domain::redact::redact(text);
    if out.chars().count() > MAX_UPSTREAM_TEXT {
        let mut cut: String = out.chars().take(MAX_UPSTREAM_TEXT).collect();
        cut.push('…');
        cut
    } else {
        out
    }
}

/// The two calls of a code's life, for errors and logs: starting a verification (or sending
/// a message), and checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Starting a verification: the provider texts or calls a code (or a sender sends it).
    Send,
    /// Checking a code against the pending verification.
    Check,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Send => "send",
            Self::Check => "check",
        })
    }
}

/// Why no answer came back at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// No complete answer within the configured timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The provider could not be reached (DNS, TCP, TLS).
    #[error("could not connect: {0}")]
    Connect(String),
    /// The connection failed after it was made.
    #[error("HTTP error: {0}")]
    Transport(String),
}

/// An answer: its HTTP status and (bounded) body.
#[derive(Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub http: u16,
    /// The body, cut at [`MAX_BODY_BYTES`] (a cut body will not parse).
    pub body: Vec<u8>,
}

impl fmt::Debug for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Answer(HTTP {}, {} bytes)", self.http, self.body.len())
    }
}

impl Answer {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.http)
    }

    /// Whether the body was cut at [`MAX_BODY_BYTES`].
    pub fn is_cut(&self) -> bool {
        self.body.len() >= MAX_BODY_BYTES
    }
}

/// Sends the request and reads the status and (bounded) body; `timeout` is the client's,
/// named in the error.
pub async fn exchange(
    request: reqwest::RequestBuilder,
    timeout: Duration,
) -> Result<Answer, TransportError> {
    let failed = |e: &reqwest::Error| {
        if e.is_timeout() {
            TransportError::Timeout(timeout)
        } else if e.is_connect() {
            TransportError::Connect(error_chain(e))
        } else {
            TransportError::Transport(error_chain(e))
        }
    };
    let mut response = request
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| failed(&e))?;
    let http = response.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            // Leaves a truncated body: it will not parse, and an error status still
            // classifies by itself.
            let room = MAX_BODY_BYTES - body.len();
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer { http, body })
}

/// Milliseconds since `started`, for log lines.
pub fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A JSON body's string field at `path` (`["data", "response_code"]`), if there is one.
pub fn json_str<'a>(json: &'a serde_json::Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(json, |value, name| value.get(name))
        .and_then(serde_json::Value::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_never_carry_a_credential_in_clear() {
        let ok = |u: &str| check_base_url(&Url::parse(u).unwrap());
        assert!(ok("https://api.telnyx.com").is_ok());
        assert!(ok("http://127.0.0.1:9").is_ok());
        assert!(ok("http://localhost:9").is_ok());
        assert!(ok("http://[::1]:9").is_ok());
        assert!(ok("http://api.telnyx.com").is_err());
        assert!(ok("https://user:pw@api.telnyx.com").is_err());
        assert!(ok("ftp://127.0.0.1").is_err());
    }

    #[test]
    fn endpoints_keep_ids_inside_one_segment() {
        let base = Url::parse("https://rest.messagebird.com/prefix/?q=1#f").unwrap();
        let url = endpoint(&base, &["verify", "a/b?c#d"]).unwrap();
        assert_eq!(
            url.as_str(),
            "https://rest.messagebird.com/prefix/verify/a%2Fb%3Fc%23d"
        );
    }

    #[test]
    fn scrubbed_text_has_no_number_and_is_bounded() {
        let text = scrub("sent 123456 to +15551230001");
        assert!(!text.contains("123456"), "{text}");
        assert!(!text.contains("5551230001"), "{text}");
        assert!(scrub(&"x".repeat(1000)).chars().count() <= 201);
    }

    #[test]
    fn json_paths_read_nested_strings() {
        let json = serde_json::json!({"data": {"response_code": "accepted"}});
        assert_eq!(
            json_str(&json, &["data", "response_code"]),
            Some("accepted")
        );
        assert_eq!(json_str(&json, &["data", "missing"]), None);
    }
}
