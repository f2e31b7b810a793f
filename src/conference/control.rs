//! Moderator actions through the carrier's REST API: mute or unmute a participant, remove
//! one, end a conference. One typed client speaks three dialects:
//!
//! | carrier | base URL | path prefix | auth |
//! |---|---|---|---|
//! | Twilio | `https://api.twilio.com` | `/2010-04-01/Accounts/{AccountSid}` | Basic sid:token |
//! | SignalWire | `https://{space}.signalwire.com` | `/api/laml/2010-04-01/Accounts/{ProjectId}` | Basic project:token |
//! | Telnyx | `https://api.telnyx.com` | `/v2/texml/Accounts/{account_sid}` | Bearer key |
//!
//! Under the prefix, all three take the same calls with form-encoded bodies (Twilio's and
//! Telnyx's specs, `twilio_conference.json` and `telnyx_texml_rest.json`, declare
//! `application/x-www-form-urlencoded` for both updates):
//! - mute / unmute: `POST …/Conferences/{ConferenceSid}/Participants/{CallSid}` with
//!   `Muted=true|false` (200, the participant);
//! - remove: `DELETE` the same path (204);
//! - end: `POST …/Conferences/{ConferenceSid}` with `Status=completed` (200, the conference).
//!
//! Twilio and SignalWire end the last segment with `.json`; Telnyx's spec paths have no
//! suffix. Every id goes in as one percent-encoded segment.
//!
//! Answers are sorted into [`ControlError`]: a 404 carrying the carrier's error body (or
//! Twilio's `20404`, Telnyx's `10005`) means the participant or conference is gone — the
//! caller may have hung up, and callers treat it as done. A 404 without the carrier's body
//! is not read as "gone" (it is more likely a wrong base URL) but as [`ControlError::Rejected`].
//! Text from the carrier goes through [`scrub`] before it reaches an error or a log line.

use crate::BoxFuture;
use crate::verify::upstream::{self, TransportError, scrub};
use reqwest::Method;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::{Duration, Instant};
use url::Url;

/// Twilio's production REST API.
pub const TWILIO_BASE_URL: &str = "https://api.twilio.com";
/// Telnyx's production API (the client appends `/v2/texml/…`).
pub const TELNYX_BASE_URL: &str = "https://api.telnyx.com";
/// A sensible whole-request timeout: a moderator is waiting for the answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Ids longer than this (in bytes) are refused before any request.
pub const MAX_ID_LEN: usize = 256;

/// Which carrier, with its credentials.
#[derive(Debug, Clone)]
pub enum ControlFlavor {
    /// Twilio: Basic auth with the account SID and auth token.
    Twilio {
        /// The Account SID (`AC…`): the Basic user and the account in the path.
        account_sid: String,
        /// The auth token: the Basic password.
        auth_token: SecretString,
    },
    /// SignalWire's compatibility (LaML) API: Twilio's calls under `/api/laml`.
    SignalWire {
        /// The project id (a UUID): the Basic user and the account in the path.
        project_id: String,
        /// The API token: the Basic password.
        api_token: SecretString,
    },
    /// Telnyx's TeXML REST API.
    Telnyx {
        /// The API v2 key, sent as `Authorization: Bearer <key>`.
        api_key: SecretString,
        /// The TeXML account id in the path.
        account_sid: String,
    },
}

impl ControlFlavor {
    /// The carrier's name in logs and answers: `twilio`, `signalwire`, `telnyx`.
    pub fn carrier(&self) -> &'static str {
        match self {
            Self::Twilio { .. } => Dialect::Twilio.name(),
            Self::SignalWire { .. } => Dialect::SignalWire.name(),
            Self::Telnyx { .. } => Dialect::Telnyx.name(),
        }
    }
}

/// Where and how to reach the carrier's REST API.
#[derive(Debug, Clone)]
pub struct ControlConfig {
    /// The carrier and its credentials.
    pub flavor: ControlFlavor,
    /// The API's origin, no path: [`TWILIO_BASE_URL`], the SignalWire space URL,
    /// [`TELNYX_BASE_URL`]; tests point it at a fake. Plain `http` only to loopback.
    pub base_url: Url,
    /// The whole-request timeout; the connect timeout is the smaller of this and 3 s.
    pub timeout: Duration,
}

/// Why a moderator action did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The participant or conference is gone (404, Twilio 20404, Telnyx 10005): the caller
    /// may have hung up. Callers treat it as done.
    #[error("the participant or conference is no longer there")]
    NotFound,
    /// 401, 403, Twilio 20003, Telnyx 10009/10010: the operator must fix the credentials.
    #[error("the carrier refused the credentials ({0})")]
    Credentials(String),
    /// 429, Twilio 20429, Telnyx 10011: the carrier is throttling the account.
    #[error("rate limited by the carrier ({0})")]
    RateLimited(String),
    /// Any other 4xx, or an id that cannot be sent.
    #[error("the carrier rejected the request ({0})")]
    Rejected(String),
    /// 5xx, no answer in time, no connection, or an answer that makes no sense.
    #[error("the carrier is unavailable ({0})")]
    Unavailable(String),
}

impl ControlError {
    /// A short name for logs and metrics: `not_found`, `credentials`, `rate_limited`,
    /// `rejected`, `unavailable`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Credentials(_) => "credentials",
            Self::RateLimited(_) => "rate_limited",
            Self::Rejected(_) => "rejected",
            Self::Unavailable(_) => "unavailable",
        }
    }

    /// Whether only the operator can fix this.
    pub fn needs_operator(&self) -> bool {
        matches!(self, Self::Credentials(_))
    }
}

/// The moderator actions, as a trait for handles (`Arc<dyn ConferenceActions>`) and test
/// doubles; [`ConferenceControl`] is the carrier-backed one.
pub trait ConferenceActions: Send + Sync {
    /// Mutes (`true`) or unmutes a participant.
    fn mute<'a>(
        &'a self,
        conference_sid: &'a str,
        call_id: &'a str,
        muted: bool,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
    /// Removes a participant (hangs up their leg of the conference).
    fn remove<'a>(
        &'a self,
        conference_sid: &'a str,
        call_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
    /// Ends the conference for everyone.
    fn end<'a>(&'a self, conference_sid: &'a str) -> BoxFuture<'a, Result<(), ControlError>>;
    /// The carrier's name: `twilio`, `signalwire`, `telnyx`.
    fn carrier(&self) -> &'static str;
}

/// The three dialects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Twilio,
    SignalWire,
    Telnyx,
}

impl Dialect {
    fn name(self) -> &'static str {
        match self {
            Self::Twilio => "twilio",
            Self::SignalWire => "signalwire",
            Self::Telnyx => "telnyx",
        }
    }

    /// The segments before `Conferences`.
    fn prefix(self) -> &'static [&'static str] {
        match self {
            Self::Twilio => &["2010-04-01", "Accounts"],
            Self::SignalWire => &["api", "laml", "2010-04-01", "Accounts"],
            Self::Telnyx => &["v2", "texml", "Accounts"],
        }
    }

    /// What ends the last segment.
    fn suffix(self) -> &'static str {
        match self {
            Self::Twilio | Self::SignalWire => ".json",
            Self::Telnyx => "",
        }
    }

    /// What the operator should check when the credentials are refused.
    fn credentials_hint(self) -> &'static str {
        match self {
            Self::Twilio => "check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
            Self::SignalWire => "check SIGNALWIRE_PROJECT_ID and SIGNALWIRE_API_TOKEN",
            Self::Telnyx => "check TELNYX_API_KEY and TELNYX_ACCOUNT_SID",
        }
    }
}

enum Auth {
    Basic {
        user: String,
        password: SecretString,
    },
    Bearer(SecretString),
}

/// What was asked, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Mute,
    Unmute,
    Remove,
    End,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::Remove => "remove",
            Self::End => "end",
        }
    }
}

/// The carrier-backed moderator actions. Holds one pooled HTTP client; cheap to share
/// behind an `Arc`.
pub struct ConferenceControl {
    client: reqwest::Client,
    dialect: Dialect,
    base_url: Url,
    account: String,
    auth: Auth,
    timeout: Duration,
}

impl fmt::Debug for ConferenceControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConferenceControl")
            .field("carrier", &self.dialect.name())
            .field("base_url", &self.base_url.as_str())
            .field("account", &self.account)
            .field("credentials", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ConferenceControl {
    /// Checks the configuration and builds the HTTP client.
    pub fn new(config: ControlConfig) -> Result<Self, String> {
        let ControlConfig {
            flavor,
            base_url,
            timeout,
        } = config;
        upstream::check_base_url(&base_url)?;
        if base_url.path() != "/" || base_url.query().is_some() || base_url.fragment().is_some() {
            return Err(format!(
                "the base URL {base_url} must be an origin with no path (the client adds the API's path)"
            ));
        }
        let (dialect, account, auth) = match flavor {
            ControlFlavor::Twilio {
                account_sid,
                auth_token,
            } => {
                check_account("account SID", &account_sid)?;
                check_secret("auth token", &auth_token)?;
                if !looks_like_account_sid(&account_sid) {
                    tracing::warn!(
                        event = "conference.config_warning",
                        carrier = "twilio",
                        "the account SID does not look like AC followed by 32 hex digits; using it anyway"
                    );
                }
                let auth = Auth::Basic {
                    user: account_sid.clone(),
                    password: auth_token,
                };
                (Dialect::Twilio, account_sid, auth)
            }
            ControlFlavor::SignalWire {
                project_id,
                api_token,
            } => {
                check_account("project id", &project_id)?;
                check_secret("API token", &api_token)?;
                let auth = Auth::Basic {
                    user: project_id.clone(),
                    password: api_token,
                };
                (Dialect::SignalWire, project_id, auth)
            }
            ControlFlavor::Telnyx {
                api_key,
                account_sid,
            } => {
                check_account("account sid", &account_sid)?;
                check_secret("API key", &api_key)?;
                if !api_key
                    .expose_secret()
                    .bytes()
                    .all(|b| b.is_ascii_graphic())
                {
                    return Err(
                        "the API key has spaces or characters a header cannot carry".to_owned()
                    );
                }
                (Dialect::Telnyx, account_sid, Auth::Bearer(api_key))
            }
        };
        let client = upstream::client(timeout)?;
        Ok(Self {
            client,
            dialect,
            base_url,
            account,
            auth,
            timeout,
        })
    }

    /// The carrier's name: `twilio`, `signalwire`, `telnyx`.
    pub fn carrier(&self) -> &'static str {
        self.dialect.name()
    }

    /// Mutes (`muted`) or unmutes the participant `call_id` of `conference_sid`.
    pub async fn mute(
        &self,
        conference_sid: &str,
        call_id: &str,
        muted: bool,
    ) -> Result<(), ControlError> {
        let (action, value) = if muted {
            (Action::Mute, "true")
        } else {
            (Action::Unmute, "false")
        };
        let form = [("Muted", value)];
        self.run(action, conference_sid, Some(call_id), Some(&form))
            .await
    }

    /// Removes the participant `call_id` from `conference_sid`.
    pub async fn remove(&self, conference_sid: &str, call_id: &str) -> Result<(), ControlError> {
        self.run(Action::Remove, conference_sid, Some(call_id), None)
            .await
    }

    /// Ends `conference_sid` for everyone in it.
    pub async fn end(&self, conference_sid: &str) -> Result<(), ControlError> {
        let form = [("Status", "completed")];
        self.run(Action::End, conference_sid, None, Some(&form))
            .await
    }

    /// One call: checks the ids, sends, sorts the answer, logs it.
    async fn run(
        &self,
        action: Action,
        conference_sid: &str,
        call_id: Option<&str>,
        form: Option<&[(&str, &str)]>,
    ) -> Result<(), ControlError> {
        let started = Instant::now();
        let (result, http_status) = match self.url(conference_sid, call_id) {
            Err(e) => (Err(e), None),
            Ok(url) => {
                let method = if form.is_some() {
                    Method::POST
                } else {
                    Method::DELETE
                };
                let mut request = self.client.request(method, url);
                request = match &self.auth {
                    Auth::Basic { user, password } => {
                        request.basic_auth(user, Some(password.expose_secret()))
                    }
                    Auth::Bearer(key) => request.bearer_auth(key.expose_secret()),
                };
                if let Some(form) = form {
                    request = request.form(form);
                }
                match upstream::exchange(request, self.timeout).await {
                    Ok(answer) => (
                        interpret(self.dialect, action, answer.http, &answer.body),
                        Some(answer.http),
                    ),
                    Err(e) => (Err(transport(self.dialect, &e)), None),
                }
            }
        };
        log(
            self.dialect,
            action,
            conference_sid,
            call_id,
            http_status,
            upstream::elapsed_ms(started),
            &result,
        );
        result
    }

    /// The conference's URL, or its participant's.
    fn url(&self, conference_sid: &str, call_id: Option<&str>) -> Result<Url, ControlError> {
        check_id("conference id", conference_sid)?;
        let suffix = self.dialect.suffix();
        let mut segments: Vec<String> = self
            .dialect
            .prefix()
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        segments.push(self.account.clone());
        segments.push("Conferences".to_owned());
        match call_id {
            None => segments.push(format!("{conference_sid}{suffix}")),
            Some(call_id) => {
                check_id("call id", call_id)?;
                segments.push(conference_sid.to_owned());
                segments.push("Participants".to_owned());
                segments.push(format!("{call_id}{suffix}"));
            }
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        upstream::endpoint(&self.base_url, &segments).map_err(ControlError::Rejected)
    }
}

impl ConferenceActions for ConferenceControl {
    fn mute<'a>(
        &'a self,
        conference_sid: &'a str,
        call_id: &'a str,
        muted: bool,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(ConferenceControl::mute(
            self,
            conference_sid,
            call_id,
            muted,
        ))
    }

    fn remove<'a>(
        &'a self,
        conference_sid: &'a str,
        call_id: &'a str,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(ConferenceControl::remove(self, conference_sid, call_id))
    }

    fn end<'a>(&'a self, conference_sid: &'a str) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(ConferenceControl::end(self, conference_sid))
    }

    fn carrier(&self) -> &'static str {
        ConferenceControl::carrier(self)
    }
}

/// One `conference.control` line per call; a failure adds a `conference.control_failed`
/// warning. Ids are logged (they are not phone numbers); credentials and bodies never.
fn log(
    dialect: Dialect,
    action: Action,
    conference_sid: &str,
    call_id: Option<&str>,
    http_status: Option<u16>,
    elapsed_ms: u64,
    result: &Result<(), ControlError>,
) {
    // Ids are logged as they are (like the webhooks' `call_sid`), once they passed
    // `check_id`; one that did not is not repeated.
    let loggable = |id: &str| {
        if check_id("id", id).is_ok() {
            id.to_owned()
        } else {
            "(invalid)".to_owned()
        }
    };
    let conference_sid = loggable(conference_sid);
    let call_id = call_id.map(loggable);
    tracing::info!(
        event = "conference.control",
        action = action.name(),
        carrier = dialect.name(),
        conference_sid = %conference_sid,
        call_id = call_id.as_deref(),
        http_status,
        elapsed_ms,
        ok = result.is_ok(),
    );
    if let Err(e) = result {
        tracing::warn!(
            event = "conference.control_failed",
            action = action.name(),
            carrier = dialect.name(),
            conference_sid = %conference_sid,
            call_id = call_id.as_deref(),
            http_status,
            elapsed_ms,
            error_kind = e.kind(),
            error = %e,
        );
    }
}

/// No answer at all: always [`ControlError::Unavailable`].
fn transport(dialect: Dialect, e: &TransportError) -> ControlError {
    ControlError::Unavailable(format!("{}: {}", dialect.name(), scrub(&e.to_string())))
}

/// Sorts an answer: a 2xx is done (a POST's answer must be the resource as JSON, and a
/// mute's must not contradict it); anything else is classified.
fn interpret(dialect: Dialect, action: Action, http: u16, body: &[u8]) -> Result<(), ControlError> {
    if !(200..300).contains(&http) {
        return Err(classify(dialect, http, body));
    }
    if action == Action::Remove {
        return Ok(());
    }
    let malformed = |why: &str| {
        ControlError::Unavailable(format!(
            "{}: malformed answer (HTTP {http}): {why}",
            dialect.name()
        ))
    };
    let json: serde_json::Value = match serde_json::from_slice(body) {
        Ok(json) => json,
        Err(_) if body.len() >= upstream::MAX_BODY_BYTES => return Err(malformed("too large")),
        Err(e) => return Err(malformed(&scrub(&e.to_string()))),
    };
    if !json.is_object() {
        return Err(malformed("not a JSON object"));
    }
    let wanted = match action {
        Action::Mute => Some(true),
        Action::Unmute => Some(false),
        Action::Remove | Action::End => None,
    };
    match (
        wanted,
        json.get("muted").and_then(serde_json::Value::as_bool),
    ) {
        (Some(wanted), Some(muted)) if wanted != muted => {
            Err(malformed(&format!("the participant is muted={muted}")))
        }
        _ => Ok(()),
    }
}

/// What an error answer said: its code and scrubbed text, if the body was the carrier's.
struct Said {
    /// The body was the carrier's error JSON.
    carrier_body: bool,
    code: Option<String>,
    text: Option<String>,
}

/// Reads Twilio's `{code, message, more_info, status}` or Telnyx's `{"errors": [{code,
/// title, detail}]}`.
fn read_error(dialect: Dialect, body: &[u8]) -> Said {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let code_of = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(scrub(s)),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    let nonempty = |s: String| (!s.trim().is_empty()).then_some(s);
    match dialect {
        Dialect::Twilio | Dialect::SignalWire => {
            let object = json.as_ref().filter(|j| {
                j.is_object() && (j.get("code").is_some() || j.get("message").is_some())
            });
            Said {
                carrier_body: object.is_some(),
                code: object.and_then(|j| j.get("code")).and_then(code_of),
                text: object
                    .and_then(|j| upstream::json_str(j, &["message"]))
                    .map(scrub)
                    .and_then(nonempty),
            }
        }
        Dialect::Telnyx => {
            let first = json
                .as_ref()
                .and_then(|j| j.get("errors"))
                .and_then(serde_json::Value::as_array)
                .and_then(|errors| errors.first());
            let text = |name: &str| {
                first
                    .and_then(|e| upstream::json_str(e, &[name]))
                    .map(scrub)
                    .and_then(nonempty)
            };
            let text = match (text("title"), text("detail")) {
                (Some(title), Some(detail)) => Some(format!("{title}: {detail}")),
                (title, detail) => title.or(detail),
            };
            Said {
                carrier_body: first.is_some(),
                code: first.and_then(|e| e.get("code")).and_then(code_of),
                text,
            }
        }
    }
}

/// Maps an error answer: the carrier's code decides first, then the HTTP status.
fn classify(dialect: Dialect, http: u16, body: &[u8]) -> ControlError {
    use ControlError as E;
    let said = read_error(dialect, body);
    let mut detail = format!("{}: HTTP {http}", dialect.name());
    if let Some(code) = &said.code {
        detail.push_str(&format!(", error {code}"));
    }
    if let Some(text) = &said.text {
        detail.push_str(&format!(" ({text})"));
    }
    let credentials =
        |detail: String| E::Credentials(format!("{detail}; {}", dialect.credentials_hint()));
    let family = match dialect {
        Dialect::Twilio | Dialect::SignalWire => Family::Twilio,
        Dialect::Telnyx => Family::Telnyx,
    };
    match (family, said.code.as_deref()) {
        (Family::Twilio, Some("20404")) | (Family::Telnyx, Some("10005")) => return E::NotFound,
        (Family::Twilio, Some("20003")) | (Family::Telnyx, Some("10009" | "10010")) => {
            return credentials(detail);
        }
        (Family::Twilio, Some("20429")) | (Family::Telnyx, Some("10011")) => {
            return E::RateLimited(detail);
        }
        _ => {}
    }
    match http {
        404 if said.carrier_body => E::NotFound,
        404 => E::Rejected(format!(
            "{detail}, not the carrier's error body; is the base URL right?"
        )),
        401 | 403 => credentials(detail),
        429 => E::RateLimited(detail),
        400..=499 => E::Rejected(detail),
        _ => E::Unavailable(detail),
    }
}

#[derive(Clone, Copy)]
enum Family {
    Twilio,
    Telnyx,
}

/// An account id must fit one path segment and a Basic user name.
fn check_account(what: &str, account: &str) -> Result<(), String> {
    if account.trim().is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if account == "." || account == ".." {
        return Err(format!("the {what} cannot be '.' or '..'"));
    }
    if account.contains(':') || account.chars().any(char::is_control) {
        return Err(format!("the {what} has a ':' or a control character"));
    }
    Ok(())
}

fn check_secret(what: &str, secret: &SecretString) -> Result<(), String> {
    let secret = secret.expose_secret();
    if secret.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if secret.chars().any(char::is_control) {
        return Err(format!("the {what} has a control character"));
    }
    Ok(())
}

/// Ids go in as one path segment: `.` and `..` would not stay one, an empty one is none.
fn check_id(what: &str, id: &str) -> Result<(), ControlError> {
    if id.is_empty() || id == "." || id == ".." || id.len() > MAX_ID_LEN {
        return Err(ControlError::Rejected(format!(
            "the {what} is empty, '.', '..' or longer than {MAX_ID_LEN} bytes"
        )));
    }
    if id.chars().any(char::is_control) {
        return Err(ControlError::Rejected(format!(
            "the {what} has a control character"
        )));
    }
    Ok(())
}

/// `AC` and 32 hex digits, the spec's pattern for an account SID.
fn looks_like_account_sid(sid: &str) -> bool {
    sid.len() == 34 && sid.starts_with("AC") && sid[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(value: serde_json::Value) -> Vec<u8> {
        value.to_string().into_bytes()
    }

    fn twilio(code: u32, http: u16) -> Vec<u8> {
        body(json!({"code": code, "message": "m", "more_info": "x", "status": http}))
    }

    fn telnyx(code: &str) -> Vec<u8> {
        body(json!({"errors": [{"code": code, "title": "t", "detail": "d"}]}))
    }

    #[test]
    fn twilio_codes_decide_before_statuses() {
        use Dialect::*;
        assert_eq!(
            classify(Twilio, 404, &twilio(20404, 404)),
            ControlError::NotFound
        );
        assert_eq!(
            classify(SignalWire, 400, &twilio(20404, 400)),
            ControlError::NotFound
        );
        assert!(matches!(
            classify(Twilio, 400, &twilio(20003, 400)),
            ControlError::Credentials(_)
        ));
        assert!(matches!(
            classify(Twilio, 400, &twilio(20429, 400)),
            ControlError::RateLimited(_)
        ));
        assert!(matches!(
            classify(Twilio, 400, &twilio(21000, 400)),
            ControlError::Rejected(_)
        ));
        assert!(matches!(
            classify(Twilio, 503, &twilio(20500, 503)),
            ControlError::Unavailable(_)
        ));
    }

    #[test]
    fn telnyx_codes_decide_before_statuses() {
        use Dialect::Telnyx;
        let not_found = body(json!({"errors": [{"detail": "Resource not found"}]}));
        assert_eq!(classify(Telnyx, 404, &not_found), ControlError::NotFound);
        assert_eq!(
            classify(Telnyx, 400, &telnyx("10005")),
            ControlError::NotFound
        );
        assert!(matches!(
            classify(Telnyx, 400, &telnyx("10009")),
            ControlError::Credentials(_)
        ));
        assert!(matches!(
            classify(Telnyx, 400, &telnyx("10011")),
            ControlError::RateLimited(_)
        ));
        assert!(matches!(
            classify(Telnyx, 422, &telnyx("10015")),
            ControlError::Rejected(_)
        ));
    }

    #[test]
    fn a_bare_404_is_not_read_as_gone() {
        for dialect in [Dialect::Twilio, Dialect::Telnyx] {
            let e = classify(dialect, 404, b"<html>404</html>");
            assert!(
                matches!(&e, ControlError::Rejected(t) if t.contains("base URL")),
                "{e}"
            );
        }
    }

    #[test]
    fn statuses_sort_without_a_body() {
        use ControlError as E;
        let kind = |http| classify(Dialect::Twilio, http, b"").kind();
        assert_eq!(kind(401), E::Credentials(String::new()).kind());
        assert_eq!(kind(403), "credentials");
        assert_eq!(kind(429), "rate_limited");
        assert_eq!(kind(400), "rejected");
        assert_eq!(kind(500), "unavailable");
        assert_eq!(kind(302), "unavailable");
    }

    #[test]
    fn upstream_text_is_scrubbed() {
        let text =
            body(json!({"code": 21000, "message": "no call from +15551230001", "status": 400}));
        let e = classify(Dialect::Twilio, 400, &text).to_string();
        assert!(!e.contains("5551230001"), "{e}");
    }

    #[test]
    fn a_success_must_be_the_resource_and_agree() {
        use Dialect::Twilio;
        assert_eq!(interpret(Twilio, Action::Remove, 204, b""), Ok(()));
        assert_eq!(
            interpret(Twilio, Action::Mute, 200, &body(json!({"muted": true}))),
            Ok(())
        );
        assert!(matches!(
            interpret(Twilio, Action::Unmute, 200, &body(json!({"muted": true}))),
            Err(ControlError::Unavailable(_))
        ));
        assert!(matches!(
            interpret(Twilio, Action::End, 200, b"<html>OK</html>"),
            Err(ControlError::Unavailable(_))
        ));
        assert!(matches!(
            interpret(Twilio, Action::End, 200, b"[1]"),
            Err(ControlError::Unavailable(_))
        ));
    }

    #[test]
    fn ids_that_cannot_stay_one_segment_are_refused() {
        for id in ["", ".", "..", "a\nb"] {
            assert!(check_id("call id", id).is_err(), "{id:?}");
        }
        assert!(check_id("call id", &"a".repeat(MAX_ID_LEN + 1)).is_err());
        assert!(check_id("call id", "v3:a/b?c#d%e f").is_ok());
    }
}
