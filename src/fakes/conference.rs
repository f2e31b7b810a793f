//! A fake of the carriers' conference REST APIs, all three dialects on one server:
//! - Twilio: `/2010-04-01/Accounts/{AccountSid}/Conferences/{Sid}.json` and
//!   `…/Conferences/{ConferenceSid}/Participants/{CallSid}.json`, Basic sid:token;
//! - SignalWire: the same under `/api/laml`, Basic project:token;
//! - Telnyx TeXML: `/v2/texml/Accounts/{account_sid}/Conferences/{conference_sid}` and
//!   `…/Participants/{call_sid_or_participant_label}` (no `.json`, as the spec's paths), Bearer.
//!
//! It serves what moderators do: `POST` a participant (update: `Muted`, `Hold`…), `DELETE` a
//! participant (204), `POST` a conference (update: `Status=completed` ends it). Bodies are
//! form-encoded (both specs say `application/x-www-form-urlencoded`), answers JSON.
//!
//! It is strict where the carriers are lenient, so a client that strays from the specs
//! (`twilio_conference.json`, `telnyx_texml_rest.json`, `signalwire_cxml.json`) fails loudly:
//! a wrong or missing credential is the carrier's 401 (Twilio `20003`, Telnyx `10009`); a
//! body that is not a form, is empty, repeats a field, carries a field the spec does not
//! define for the operation, or a value not of the field's type or enum (booleans are exactly
//! `true`/`false`; `Status` only `completed`; methods `GET`/`POST`; URLs absolute) is refused —
//! Twilio-style as a 400 `20001` (the fake's choice: Twilio ignores unknown fields), Telnyx as
//! a 422 with the spec's codes (`10004` missing, `10015` undefined, `10026` type, `10032`
//! enum; a body that is not a form is a 415 `10014`), each pointing at the field. A `DELETE`
//! with a body, or any query string, is refused the same way. An unknown account, conference
//! or participant is the carrier's 404: Twilio's `20404` JSON, Telnyx's spec body
//! `{"errors": [{"detail": "Resource not found"}]}`.
//!
//! State is tiny: conferences (by sid, shared by the three dialects) with their participants'
//! muted and held flags. [`FakeConferenceApi::add_participant`] puts someone in;
//! removing the last participant ends the conference, as the carriers do; ending it removes
//! everyone. Ending an ended conference again answers 200 (the fake's choice).

use crate::fakes::{Control, DEFAULT_HISTORY, Failure, FakeServer, json_response, record, status};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use url::Url;

/// The Twilio account SID the fake accepts unless told otherwise (a test value).
pub const TWILIO_ACCOUNT_SID: &str = "ACfa4efa4efa4efa4efa4efa4efa4efa4e";
/// The Twilio auth token the fake accepts unless told otherwise (not a secret).
pub const TWILIO_AUTH_TOKEN: &str = "fake-twilio-auth-token-not-a-secret";
/// The SignalWire project id the fake accepts unless told otherwise (a test value).
pub const SIGNALWIRE_PROJECT_ID: &str = "fa4efa4e-fa4e-4fa4-8fa4-efa4efa45a1e";
/// The SignalWire API token the fake accepts unless told otherwise (not a secret).
pub const SIGNALWIRE_API_TOKEN: &str = "PTfake-signalwire-api-token-not-a-secret";
/// The Telnyx API key the fake accepts unless told otherwise (not a secret).
pub const TELNYX_API_KEY: &str = "KEYfa4efa4e_fake-telnyx-texml-key-not-a-secret";
/// The Telnyx TeXML account id the fake serves unless told otherwise (a test value).
pub const TELNYX_ACCOUNT_SID: &str = "fa4efa4e-fa4e-4fa4-8fa4-efa4efa47e1e";

/// The form fields Twilio's spec defines for updating a participant (`UpdateParticipant`).
pub const TWILIO_PARTICIPANT_FIELDS: &[&str] = &[
    "AnnounceMethod",
    "AnnounceUrl",
    "BeepOnExit",
    "CallSidToCoach",
    "Coaching",
    "EndConferenceOnExit",
    "Hold",
    "HoldMethod",
    "HoldUrl",
    "Muted",
    "WaitMethod",
    "WaitUrl",
];
/// The form fields Twilio's spec defines for updating a conference (`UpdateConference`).
pub const TWILIO_CONFERENCE_FIELDS: &[&str] = &["AnnounceMethod", "AnnounceUrl", "Status"];
/// The fields SignalWire documents for updating a participant (`signalwire_cxml.json`).
pub const SIGNALWIRE_PARTICIPANT_FIELDS: &[&str] = &[
    "AnnounceMethod",
    "AnnounceUrl",
    "CallSidToCoach",
    "Coaching",
    "Hold",
    "HoldMethod",
    "HoldUrl",
    "Muted",
    "WaitMethod",
    "WaitUrl",
];
/// The fields SignalWire documents for updating a conference.
pub const SIGNALWIRE_CONFERENCE_FIELDS: &[&str] = &["AnnounceMethod", "AnnounceUrl", "Status"];
/// The form fields Telnyx's spec defines for updating a participant
/// (`call-scripting_UpdateConferenceParticipantRequest`).
pub const TELNYX_PARTICIPANT_FIELDS: &[&str] = &[
    "AnnounceMethod",
    "AnnounceUrl",
    "BeepOnExit",
    "CallSidToCoach",
    "Coaching",
    "EndConferenceOnExit",
    "Hold",
    "HoldMethod",
    "HoldUrl",
    "Muted",
    "WaitUrl",
];
/// The form fields Telnyx's spec defines for updating a conference
/// (`call-scripting_UpdateConferenceRequest`).
pub const TELNYX_CONFERENCE_FIELDS: &[&str] = &["AnnounceMethod", "AnnounceUrl", "Status"];

/// The three dialects the fake speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// Twilio's API v2010.
    Twilio,
    /// SignalWire's compatibility API under `/api/laml`.
    SignalWire,
    /// Telnyx's TeXML REST API under `/v2/texml`.
    Telnyx,
}

impl Flavor {
    /// The path every request of this dialect starts with, up to the account.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Twilio => "/2010-04-01/Accounts/",
            Self::SignalWire => "/api/laml/2010-04-01/Accounts/",
            Self::Telnyx => "/v2/texml/Accounts/",
        }
    }

    fn of_path(path: &str) -> Option<Self> {
        [Self::Twilio, Self::SignalWire, Self::Telnyx]
            .into_iter()
            .find(|f| path.starts_with(f.prefix()))
    }

    fn twilio_like(self) -> bool {
        self != Self::Telnyx
    }

    /// The fields defined for updating a participant or a conference.
    fn fields(self, resource: &Resource) -> &'static [&'static str] {
        match (self, resource) {
            (Self::Twilio, Resource::Participant(_)) => TWILIO_PARTICIPANT_FIELDS,
            (Self::Twilio, Resource::Conference) => TWILIO_CONFERENCE_FIELDS,
            (Self::SignalWire, Resource::Participant(_)) => SIGNALWIRE_PARTICIPANT_FIELDS,
            (Self::SignalWire, Resource::Conference) => SIGNALWIRE_CONFERENCE_FIELDS,
            (Self::Telnyx, Resource::Participant(_)) => TELNYX_PARTICIPANT_FIELDS,
            (Self::Telnyx, Resource::Conference) => TELNYX_CONFERENCE_FIELDS,
        }
    }
}

/// How to start a [`FakeConferenceApi`].
#[derive(Debug, Clone)]
pub struct FakeConferenceApiConfig {
    /// The address to bind, `127.0.0.1:0` (a random loopback port) by default.
    pub listen: String,
    /// Twilio's account SID: the Basic user and the only account in Twilio paths.
    pub twilio_account_sid: String,
    /// Twilio's auth token: the Basic password.
    pub twilio_auth_token: String,
    /// SignalWire's project id: the Basic user and the only account in its paths.
    pub signalwire_project_id: String,
    /// SignalWire's API token: the Basic password.
    pub signalwire_api_token: String,
    /// Telnyx's API key, `Authorization: Bearer`.
    pub telnyx_api_key: String,
    /// Telnyx's TeXML account id: the only account in its paths.
    pub telnyx_account_sid: String,
    /// How long every request waits before it is answered (none by default).
    pub latency: Duration,
    /// How many requests are kept for inspection; 0 keeps none.
    pub history: usize,
}

impl Default for FakeConferenceApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".to_owned(),
            twilio_account_sid: TWILIO_ACCOUNT_SID.to_owned(),
            twilio_auth_token: TWILIO_AUTH_TOKEN.to_owned(),
            signalwire_project_id: SIGNALWIRE_PROJECT_ID.to_owned(),
            signalwire_api_token: SIGNALWIRE_API_TOKEN.to_owned(),
            telnyx_api_key: TELNYX_API_KEY.to_owned(),
            telnyx_account_sid: TELNYX_ACCOUNT_SID.to_owned(),
            latency: Duration::ZERO,
            history: DEFAULT_HISTORY,
        }
    }
}

/// Twilio's (and SignalWire's) error JSON.
pub fn twilio_error_body(http: u16, code: u32, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": http,
    })
}

/// A failure answering Twilio's error JSON.
pub fn twilio_error(http: u16, code: u32, message: &str) -> Failure {
    Failure::Json {
        http,
        body: twilio_error_body(http, code, message),
    }
}

/// Telnyx's error JSON (`ErrorResponse`): one error, pointing at a field when given.
pub fn telnyx_error_body(code: &str, title: &str, detail: &str, pointer: Option<&str>) -> Value {
    let mut error = json!({
        "code": code,
        "title": title,
        "detail": detail,
        "meta": {"url": format!("https://developers.telnyx.com/docs/overview/errors/{code}")},
    });
    if let Some(pointer) = pointer {
        error["source"] = json!({ "pointer": pointer });
    }
    json!({ "errors": [error] })
}

/// A failure answering Telnyx's error JSON.
pub fn telnyx_error(http: u16, code: &str, title: &str, detail: &str) -> Failure {
    Failure::Json {
        http,
        body: telnyx_error_body(code, title, detail, None),
    }
}

/// The dialect's "not found": Twilio's 404 `20404`, Telnyx's spec body.
pub fn not_found(flavor: Flavor) -> Failure {
    Failure::Json {
        http: 404,
        body: not_found_body(flavor, "/"),
    }
}

/// The dialect's refusal of the credentials: a 401 `20003` or `10009`.
pub fn unauthorized(flavor: Flavor) -> Failure {
    Failure::Json {
        http: 401,
        body: unauthorized_body(flavor),
    }
}

/// The dialect's throttling: a 429 `20429` or `10011`.
pub fn rate_limited(flavor: Flavor) -> Failure {
    if flavor.twilio_like() {
        twilio_error(429, 20429, "Too Many Requests")
    } else {
        telnyx_error(
            429,
            "10011",
            "Too many requests",
            "You have exceeded the maximum number of allowed requests.",
        )
    }
}

fn not_found_body(flavor: Flavor, path: &str) -> Value {
    if flavor.twilio_like() {
        twilio_error_body(
            404,
            20404,
            &format!("The requested resource {path} was not found"),
        )
    } else {
        json!({ "errors": [{ "detail": "Resource not found" }] })
    }
}

fn unauthorized_body(flavor: Flavor) -> Value {
    if flavor.twilio_like() {
        twilio_error_body(401, 20003, "Authenticate")
    } else {
        telnyx_error_body(
            "10009",
            "Authentication failed",
            "The required authentication headers were either invalid or not included in the request.",
            None,
        )
    }
}

/// A participant's flags.
#[derive(Debug, Clone)]
struct Member {
    muted: bool,
    hold: bool,
    created: String,
}

/// A conference: who is in it, and whether it ended.
#[derive(Debug, Default)]
struct Room {
    members: BTreeMap<String, Member>,
    ended: Option<&'static str>,
    created: String,
}

struct Shared {
    config: FakeConferenceApiConfig,
    control: Control,
    rooms: Mutex<HashMap<String, Room>>,
}

impl Shared {
    fn rooms(&self) -> MutexGuard<'_, HashMap<String, Room>> {
        self.rooms.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn account(&self, flavor: Flavor) -> &str {
        match flavor {
            Flavor::Twilio => &self.config.twilio_account_sid,
            Flavor::SignalWire => &self.config.signalwire_project_id,
            Flavor::Telnyx => &self.config.telnyx_account_sid,
        }
    }

    fn authorized(&self, flavor: Flavor, headers: &HeaderMap) -> bool {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some((scheme, credential)) = value.and_then(|v| v.split_once(' ')) else {
            return false;
        };
        match flavor {
            Flavor::Telnyx => {
                scheme.eq_ignore_ascii_case("bearer") && credential == self.config.telnyx_api_key
            }
            Flavor::Twilio | Flavor::SignalWire => {
                let (user, password) = if flavor == Flavor::Twilio {
                    (
                        &self.config.twilio_account_sid,
                        &self.config.twilio_auth_token,
                    )
                } else {
                    (
                        &self.config.signalwire_project_id,
                        &self.config.signalwire_api_token,
                    )
                };
                scheme.eq_ignore_ascii_case("basic")
                    && base64::engine::general_purpose::STANDARD
                        .decode(credential.trim())
                        .is_ok_and(|d| d == format!("{user}:{password}").as_bytes())
            }
        }
    }
}

/// A running fake; it stops accepting requests when dropped.
pub struct FakeConferenceApi {
    server: FakeServer,
    shared: Arc<Shared>,
}

impl FakeConferenceApi {
    /// Binds `config.listen` and serves in the current tokio runtime until dropped or
    /// [`stop`](Self::stop)ped.
    pub async fn start(config: FakeConferenceApiConfig) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            control: Control::new(config.history, config.latency),
            config,
            rooms: Mutex::new(HashMap::new()),
        });
        let router = Router::new().fallback(handle).with_state(shared.clone());
        let server = FakeServer::start(&shared.config.listen, router).await?;
        Ok(Self { server, shared })
    }

    /// Its origin, `http://HOST:PORT/`: the client's base URL (for every dialect).
    pub fn base(&self) -> &Url {
        &self.server.base
    }

    /// The base URL without its trailing slash, for environment variables.
    pub fn origin(&self) -> String {
        self.server.origin()
    }

    /// Latency, injected failures, the request history.
    pub fn control(&self) -> &Control {
        &self.shared.control
    }

    /// Puts `call_id` (unmuted) into `conference_sid`, starting the conference (again, if it
    /// had ended); someone already there keeps their flags.
    pub fn add_participant(&self, conference_sid: &str, call_id: &str) {
        let now = rfc2822_now();
        let mut rooms = self.shared.rooms();
        let room = rooms
            .entry(conference_sid.to_owned())
            .or_insert_with(|| Room {
                created: now.clone(),
                ..Room::default()
            });
        if room.ended.take().is_some() {
            room.created.clone_from(&now);
        }
        room.members
            .entry(call_id.to_owned())
            .or_insert_with(|| Member {
                muted: false,
                hold: false,
                created: now,
            });
    }

    /// Whether the participant is muted; `None` when they are not in the conference.
    pub fn is_muted(&self, conference_sid: &str, call_id: &str) -> Option<bool> {
        let rooms = self.shared.rooms();
        let room = rooms.get(conference_sid).filter(|r| r.ended.is_none())?;
        room.members.get(call_id).map(|m| m.muted)
    }

    /// Whether the participant is in the conference (and it has not ended).
    pub fn is_present(&self, conference_sid: &str, call_id: &str) -> bool {
        self.is_muted(conference_sid, call_id).is_some()
    }

    /// Whether the conference has ended (by the API, or when its last participant left).
    pub fn is_ended(&self, conference_sid: &str) -> bool {
        self.shared
            .rooms()
            .get(conference_sid)
            .is_some_and(|r| r.ended.is_some())
    }

    /// Stops accepting connections and waits for the requests in flight to be answered.
    pub async fn stop(self) -> io::Result<()> {
        self.server.stop().await
    }
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resource {
    Conference,
    /// A participant, by call id (percent-decoded).
    Participant(String),
}

#[derive(Debug)]
struct Target {
    account: String,
    conference: String,
    resource: Resource,
}

/// Why the fake refused a request (answered in the dialect's words).
#[derive(Debug)]
enum Refusal {
    NotFound,
    MethodNotAllowed,
    NotAForm,
    Empty,
    Undefined(String),
    Repeated(String),
    Missing(&'static str),
    WrongType(String, &'static str),
    NotInEnum(String, &'static str),
    Query,
    BodyOnDelete,
}

impl Refusal {
    fn response(&self, flavor: Flavor, path: &str) -> Response {
        if let Self::NotFound = self {
            return json_response(StatusCode::NOT_FOUND, not_found_body(flavor, path));
        }
        let message = self.message();
        if flavor.twilio_like() {
            let http = match self {
                Self::MethodNotAllowed => 405,
                _ => 400,
            };
            let code = match self {
                Self::MethodNotAllowed => 20004,
                _ => 20001,
            };
            return json_response(status(http), twilio_error_body(http, code, &message));
        }
        let (http, code, title, pointer) = match self {
            Self::MethodNotAllowed => (405, "10015", "Bad Request", None),
            Self::NotAForm => (415, "10014", "Unsupported Media Type", None),
            Self::Empty => (422, "10004", "Missing required parameter", None),
            Self::Missing(name) => (422, "10004", "Missing required parameter", Some(*name)),
            Self::Undefined(name) | Self::Repeated(name) => {
                (422, "10015", "Bad Request", Some(name.as_str()))
            }
            Self::WrongType(name, _) => {
                (422, "10026", "Invalid parameter type", Some(name.as_str()))
            }
            Self::NotInEnum(name, _) => (
                422,
                "10032",
                "Invalid enumerated value",
                Some(name.as_str()),
            ),
            Self::Query | Self::BodyOnDelete => (422, "10015", "Bad Request", None),
            Self::NotFound => unreachable!("answered above"),
        };
        let pointer = pointer.map(|p| format!("/{p}"));
        json_response(
            status(http),
            telnyx_error_body(code, title, &message, pointer.as_deref()),
        )
    }

    fn message(&self) -> String {
        match self {
            Self::NotFound => "Resource not found".to_owned(),
            Self::MethodNotAllowed => "Method not allowed".to_owned(),
            Self::NotAForm => "The body must be application/x-www-form-urlencoded".to_owned(),
            Self::Empty => "The request body is required and cannot be empty".to_owned(),
            Self::Undefined(name) => {
                format!("Unknown parameter `{name}`: not defined for this operation")
            }
            Self::Repeated(name) => format!("Parameter `{name}` given more than once"),
            Self::Missing(name) => format!("Can't be blank: {name}"),
            Self::WrongType(name, kind) => format!("The '{name}' parameter must be {kind}"),
            Self::NotInEnum(name, values) => format!("{name} must be one of {values}"),
            Self::Query => "Query parameters are not defined for this operation".to_owned(),
            Self::BodyOnDelete => "A DELETE takes no body".to_owned(),
        }
    }
}

/// Every request comes here: record it, wait out the latency, apply an injected failure,
/// then act like the carrier whose path it is.
async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let flavor = Flavor::of_path(&path);
    let auth_ok = flavor.is_some_and(|f| shared.authorized(f, &headers));
    let path_and_query = uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let recorded = record(method.as_str(), &path_and_query, &headers, auth_ok, &body);
    if let Some(failure) = shared.control.arrive(recorded).await {
        let success = if method == Method::DELETE {
            StatusCode::NO_CONTENT
        } else {
            StatusCode::OK
        };
        if let Some(response) = failure.response(success) {
            return response;
        }
    }
    let Some(flavor) = flavor else {
        return Refusal::NotFound.response(Flavor::Twilio, &path);
    };
    if !auth_ok {
        return json_response(StatusCode::UNAUTHORIZED, unauthorized_body(flavor));
    }
    match serve(&shared, flavor, &method, &uri, &headers, &body) {
        Ok(response) => response,
        Err(refusal) => refusal.response(flavor, &path),
    }
}

fn serve(
    shared: &Shared,
    flavor: Flavor,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Refusal> {
    let target = route(flavor, uri.path()).ok_or(Refusal::NotFound)?;
    if target.account != shared.account(flavor) {
        return Err(Refusal::NotFound);
    }
    let is_participant = matches!(target.resource, Resource::Participant(_));
    match *method {
        Method::DELETE if is_participant => {
            if uri.query().is_some() {
                return Err(Refusal::Query);
            }
            if !body.is_empty() {
                return Err(Refusal::BodyOnDelete);
            }
            remove(shared, flavor, &target)
        }
        Method::POST => {
            let form = parse_form(flavor, &target.resource, uri, headers, body)?;
            if is_participant {
                update_participant(shared, flavor, &target, uri.path(), &form)
            } else {
                update_conference(shared, flavor, &target, uri.path(), &form)
            }
        }
        _ => Err(Refusal::MethodNotAllowed),
    }
}

/// The account, conference and participant a path names, ids percent-decoded.
fn route(flavor: Flavor, path: &str) -> Option<Target> {
    let rest = path.strip_prefix(flavor.prefix())?;
    let segments: Vec<&str> = rest.split('/').collect();
    let last = |segment: &str| -> Option<String> {
        let segment = if flavor.twilio_like() {
            segment.strip_suffix(".json")?
        } else {
            segment
        };
        decode(segment)
    };
    let (account, conference, resource) = match segments.as_slice() {
        [account, "Conferences", conference] => {
            (decode(account)?, last(conference)?, Resource::Conference)
        }
        [account, "Conferences", conference, "Participants", call] => (
            decode(account)?,
            decode(conference)?,
            Resource::Participant(last(call)?),
        ),
        _ => return None,
    };
    Some(Target {
        account,
        conference,
        resource,
    })
}

/// A percent-decoded, non-empty UTF-8 segment.
fn decode(segment: &str) -> Option<String> {
    let text = percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!text.is_empty()).then_some(text)
}

/// The update's fields, each defined for the operation, given once, of its type.
fn parse_form(
    flavor: Flavor,
    resource: &Resource,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, Refusal> {
    if uri.query().is_some() {
        return Err(Refusal::Query);
    }
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !is_form {
        return Err(Refusal::NotAForm);
    }
    if body.is_empty() {
        return Err(Refusal::Empty);
    }
    let defined = flavor.fields(resource);
    let mut form = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let name = name.into_owned();
        if !defined.contains(&name.as_str()) {
            return Err(Refusal::Undefined(name));
        }
        check_value(flavor, &name, &value)?;
        if form.insert(name.clone(), value.into_owned()).is_some() {
            return Err(Refusal::Repeated(name));
        }
    }
    if form.get("Coaching").is_some_and(|c| c == "true") && !form.contains_key("CallSidToCoach") {
        return Err(Refusal::Missing("CallSidToCoach"));
    }
    Ok(form)
}

/// A field's value against its type in the spec.
fn check_value(flavor: Flavor, name: &str, value: &str) -> Result<(), Refusal> {
    let wrong = |kind| Err(Refusal::WrongType(name.to_owned(), kind));
    let not_in = |values| Err(Refusal::NotInEnum(name.to_owned(), values));
    let is_twilio_call_sid = value.len() == 34
        && value.starts_with("CA")
        && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
    match name {
        "Muted" | "Hold" | "BeepOnExit" | "EndConferenceOnExit" | "Coaching"
            if value != "true" && value != "false" =>
        {
            wrong("a boolean, true or false")
        }
        "Status" if value != "completed" => not_in("completed"),
        "AnnounceMethod" | "HoldMethod" | "WaitMethod" if value != "GET" && value != "POST" => {
            not_in("GET, POST")
        }
        // Twilio: an empty WaitUrl plays nothing while waiting.
        "WaitUrl" if value.is_empty() => Ok(()),
        "AnnounceUrl" | "HoldUrl" | "WaitUrl" if Url::parse(value).is_err() => {
            wrong("an absolute URL")
        }
        "CallSidToCoach"
            if value.is_empty() || (flavor == Flavor::Twilio && !is_twilio_call_sid) =>
        {
            wrong("a call SID")
        }
        _ => Ok(()),
    }
}

fn update_participant(
    shared: &Shared,
    flavor: Flavor,
    target: &Target,
    path: &str,
    form: &HashMap<String, String>,
) -> Result<Response, Refusal> {
    let Resource::Participant(call) = &target.resource else {
        return Err(Refusal::NotFound);
    };
    let member = {
        let mut rooms = shared.rooms();
        let room = rooms
            .get_mut(&target.conference)
            .filter(|r| r.ended.is_none())
            .ok_or(Refusal::NotFound)?;
        let member = room.members.get_mut(call).ok_or(Refusal::NotFound)?;
        if let Some(muted) = form.get("Muted") {
            member.muted = muted == "true";
        }
        if let Some(hold) = form.get("Hold") {
            member.hold = hold == "true";
        }
        member.clone()
    };
    let now = rfc2822_now();
    let mut body = json!({
        "account_sid": target.account,
        "call_sid": call,
        "conference_sid": target.conference,
        "date_created": member.created,
        "date_updated": now,
        "end_conference_on_exit": false,
        "hold": member.hold,
        "muted": member.muted,
        "status": "connected",
        "coaching": false,
        "uri": path,
    });
    if flavor.twilio_like() {
        body["label"] = Value::Null;
        body["start_conference_on_enter"] = json!(true);
        body["call_sid_to_coach"] = Value::Null;
        body["queue_time"] = Value::Null;
    } else {
        body["api_version"] = json!("v2/texml");
        body["call_sid_legacy"] = json!(call);
    }
    Ok(json_response(StatusCode::OK, body))
}

fn remove(shared: &Shared, flavor: Flavor, target: &Target) -> Result<Response, Refusal> {
    let Resource::Participant(call) = &target.resource else {
        return Err(Refusal::NotFound);
    };
    let mut rooms = shared.rooms();
    let room = rooms
        .get_mut(&target.conference)
        .filter(|r| r.ended.is_none())
        .ok_or(Refusal::NotFound)?;
    room.members.remove(call).ok_or(Refusal::NotFound)?;
    if room.members.is_empty() {
        // Each spec's own reason (Telnyx's enum has no "kicked").
        room.ended = Some(if flavor.twilio_like() {
            "last-participant-kicked"
        } else {
            "last-participant-left"
        });
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn update_conference(
    shared: &Shared,
    flavor: Flavor,
    target: &Target,
    path: &str,
    form: &HashMap<String, String>,
) -> Result<Response, Refusal> {
    let (created, ended) = {
        let mut rooms = shared.rooms();
        let room = rooms.get_mut(&target.conference).ok_or(Refusal::NotFound)?;
        if form.get("Status").is_some_and(|s| s == "completed") && room.ended.is_none() {
            room.ended = Some("conference-ended-via-api");
            room.members.clear();
        }
        (room.created.clone(), room.ended)
    };
    let api_version = if flavor.twilio_like() {
        "2010-04-01"
    } else {
        "v2/texml"
    };
    let base = path.strip_suffix(".json").unwrap_or(path);
    let suffix = if flavor.twilio_like() { ".json" } else { "" };
    let mut body = json!({
        "account_sid": target.account,
        "api_version": api_version,
        "date_created": created,
        "date_updated": rfc2822_now(),
        "friendly_name": Value::Null,
        "region": if flavor.twilio_like() { "us1" } else { "dc2" },
        "sid": target.conference,
        "status": if ended.is_some() { "completed" } else { "in-progress" },
        "subresource_uris": {
            "participants": format!("{base}/Participants{suffix}"),
            "recordings": format!("{base}/Recordings{suffix}"),
        },
        "uri": path,
        "reason_conference_ended": ended,
        "call_sid_ending_conference": Value::Null,
    });
    // Twilio writes `null` for what is not there; Telnyx's schema has no nullable fields.
    if let (false, Some(fields)) = (flavor.twilio_like(), body.as_object_mut()) {
        fields.retain(|_, value| !value.is_null());
    }
    Ok(json_response(StatusCode::OK, body))
}

/// Now in RFC 2822, as both carriers write dates.
fn rfc2822_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_resources_in_each_dialect() {
        let t = route(
            Flavor::Twilio,
            "/2010-04-01/Accounts/AC1/Conferences/CF1/Participants/a%2Fb.json",
        )
        .unwrap();
        assert_eq!(t.resource, Resource::Participant("a/b".into()));
        assert_eq!((t.account.as_str(), t.conference.as_str()), ("AC1", "CF1"));
        let t = route(
            Flavor::SignalWire,
            "/api/laml/2010-04-01/Accounts/P/Conferences/c.json",
        )
        .unwrap();
        assert_eq!(t.resource, Resource::Conference);
        assert!(route(Flavor::Twilio, "/2010-04-01/Accounts/AC1/Conferences/CF1").is_none());
        let t = route(
            Flavor::Telnyx,
            "/v2/texml/Accounts/A/Conferences/c/Participants/v3:x",
        )
        .unwrap();
        assert_eq!(t.resource, Resource::Participant("v3:x".into()));
        assert!(
            route(
                Flavor::Telnyx,
                "/v2/texml/Accounts/A/Conferences//Participants/x"
            )
            .is_none()
        );
    }

    #[test]
    fn values_must_be_of_the_specs_type() {
        assert!(check_value(Flavor::Twilio, "Muted", "true").is_ok());
        assert!(check_value(Flavor::Twilio, "Muted", "True").is_err());
        assert!(check_value(Flavor::Telnyx, "Status", "completed").is_ok());
        assert!(check_value(Flavor::Telnyx, "Status", "ended").is_err());
        assert!(check_value(Flavor::Twilio, "HoldMethod", "PUT").is_err());
        assert!(check_value(Flavor::Twilio, "WaitUrl", "").is_ok());
        assert!(check_value(Flavor::Twilio, "AnnounceUrl", "/relative").is_err());
        assert!(check_value(Flavor::Twilio, "CallSidToCoach", "v3:abc").is_err());
        assert!(check_value(Flavor::Telnyx, "CallSidToCoach", "v3:abc").is_ok());
    }
}
