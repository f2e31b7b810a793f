//! The web console: moderators sign in with a code to their phone and see and act on their
//! conferences' live rosters; invited people verify their own phone and are enrolled.
//!
//! Server-rendered pages (askama templates, checked at compile time), plain HTML forms that
//! work without JavaScript, one small embedded script that refreshes the rosters every second,
//! embedded CSS, and a Content-Security-Policy that allows nothing else. Sessions live in the
//! store (so sign-out and several instances work); cookies are signed with a key derived from
//! the server secret; every POST carries a CSRF token tied to the session (or, before sign-in,
//! to the browser's pre-sign-in cookie).

pub mod cookie;
pub mod enrolment;
pub mod export;
mod pages;

use crate::call::Ending;
use crate::directory::Participant;
use crate::domain::{Code, PhoneNumber, Role};
use crate::state::AppState;
use crate::store::Key;
use crate::verify::{Channel, CheckOutcome, Delivery, Receipt};
use askama::Template as _;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use enrolment::Enrolled;
use pages::{ConferenceView, EnrolledRow, Page, Row};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use tracing::{info, warn};

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 60 * 60);
/// How long a code typed on the console may take to arrive and be typed.
pub const PENDING_TTL: Duration = Duration::from_secs(10 * 60);
/// How long the browser's pre-sign-in cookie lives.
const PRE_TTL: Duration = Duration::from_secs(60 * 60);
/// The longest an invitation is valid, in days.
pub const MAX_INVITATION_DAYS: u64 = 30;

/// The Content-Security-Policy of every console page: nothing but the server's own script
/// and style, no framing, forms only to itself.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The neutral answer to a phone number at sign-in: the same for everyone.
pub const NEUTRAL: &str = "If this number may sign in, a code is on its way.";

const CSS: &str = include_str!("../../assets/console.css");
const JS: &str = include_str!("../../assets/console.js");

/// The console's routes, to merge into the server's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(home).post(send_code))
        .route("/console/code", get(code_page).post(check_code))
        .route("/console/signout", post(sign_out))
        .route("/console/state", get(state))
        .route("/console/assets/console.css", get(css))
        .route("/console/assets/console.js", get(js))
        .route(
            "/console/conferences/{name}/invitations",
            post(create_invitation),
        )
        .route(
            "/console/conferences/{name}/enrolments/{key}/remove",
            post(remove_enrolment),
        )
        .route(
            "/console/conferences/{name}/participants/{id}/{action}",
            post(participant_action),
        )
        .route(
            "/console/conferences/{name}/{action}",
            post(conference_action),
        )
        .route(
            "/console/invite/{token}",
            get(invite_page).post(invite_send),
        )
        .route("/console/invite/{token}/code", post(invite_check))
}

// ---------------------------------------------------------------------------------------
// Responses

/// A console page with the security headers.
fn html(status: StatusCode, body: String, cookies: &[String]) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure_headers(headers);
    for c in cookies {
        if let Ok(value) = HeaderValue::from_str(c) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn render(status: StatusCode, page: &Page, cookies: &[String]) -> Response {
    match page.render() {
        Ok(body) => html(status, body, cookies),
        Err(e) => {
            warn!(event = "console.render_failed", error = %e);
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page could not be rendered\n",
            )
                .into_response()
        }
    }
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    render(status, &Page::message(title, text), &[])
}

fn see_other(to: &str, cookies: &[String]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(to) {
        headers.insert(header::LOCATION, location);
    }
    secure_headers(headers);
    for c in cookies {
        if let Ok(value) = HeaderValue::from_str(c) {
            headers.append(header::SET_COOKIE, value);
        }
    }
    response
}

fn forbidden() -> Response {
    message(
        StatusCode::FORBIDDEN,
        "Forbidden",
        "This form has expired or did not come from this page. Go back, reload and try again.",
    )
}

fn unavailable() -> Response {
    message(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        "The server cannot reach its store right now.",
    )
}

fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found", "There is nothing here.")
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

fn secure(app: &AppState) -> bool {
    app.public_url.scheme() == "https"
}

// ---------------------------------------------------------------------------------------
// The browser before sign-in

/// The browser's pre-sign-in id (from its signed cookie), or a fresh one with the cookie
/// to set.
fn pre_id(app: &AppState, headers: &HeaderMap) -> (String, Option<String>) {
    if let Some(id) = cookie::read(headers, cookie::PRE)
        .and_then(|v| cookie::open(&app.console_key, cookie::PRE, v))
    {
        return (id.to_owned(), None);
    }
    let id = cookie::random_id();
    let set = cookie::set(
        cookie::PRE,
        &cookie::sign(&app.console_key, cookie::PRE, &id),
        PRE_TTL.as_secs(),
        secure(app),
    );
    (id, Some(set))
}

/// The CSRF token of the forms before sign-in, tied to the browser's pre-sign-in id.
fn pre_csrf(app: &AppState, pre: &str) -> String {
    cookie::tag(&app.console_key, "csrf-pre", pre)
}

/// The browser's pre-sign-in id, when its cookie is valid and the form's CSRF token
/// matches it.
fn checked_pre(app: &AppState, headers: &HeaderMap, csrf: Option<&str>) -> Option<String> {
    let pre = cookie::read(headers, cookie::PRE)
        .and_then(|v| cookie::open(&app.console_key, cookie::PRE, v))?;
    let given = csrf?;
    cookie::same(&pre_csrf(app, pre), given).then(|| pre.to_owned())
}

/// A code on its way: who to (E.164), the receipt, and what for.
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    /// The number typed (E.164); for a stranger too, so that the next step looks the same.
    phone: String,
    /// Whether a code was really sent (a moderator, within the limits).
    sent: bool,
    /// The verifier's receipt (base64).
    receipt: String,
    /// "signin", or "invite:<invitation id>".
    purpose: String,
    /// For an invitation: the channel chosen.
    channel: String,
}

async fn save_pending(app: &AppState, pre: &str, pending: &Pending) -> Result<(), Response> {
    let value = serde_json::to_vec(pending).unwrap_or_default();
    app.store
        .put(&Key::Pending(pre).to_string(), &value, PENDING_TTL)
        .await
        .map_err(|e| {
            warn!(event = "store.failed", error = %e, "console pending code not kept");
            unavailable()
        })
}

async fn load_pending(app: &AppState, pre: &str) -> Result<Option<Pending>, Response> {
    match app.store.fetch(&Key::Pending(pre).to_string()).await {
        Ok(raw) => Ok(raw.and_then(|raw| serde_json::from_slice(&raw).ok())),
        Err(e) => {
            warn!(event = "store.failed", error = %e);
            Err(unavailable())
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn unb64(text: &str) -> Receipt {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(Receipt::new)
        .unwrap_or_default()
}

/// The conferences `phone` moderates, and the entry that says how their code reaches them.
fn moderated(app: &AppState, phone: &PhoneNumber) -> Vec<(String, Participant)> {
    app.calls
        .roster
        .current()
        .directory()
        .conferences()
        .iter()
        .filter_map(|c| {
            c.participant(phone)
                .filter(|p| p.role == Role::Moderator)
                .map(|p| (c.name().to_owned(), p.clone()))
        })
        .collect()
}

/// Sends a code within the caller's per-number limits: the receipt, or `None` when a limit
/// is spent or the verifier failed (the page stays neutral either way).
async fn send_within_limits(
    app: &AppState,
    phone: &PhoneNumber,
    delivery: &Delivery<'_>,
) -> Result<Option<Receipt>, Response> {
    let number = app.calls.roster.current().number_key(phone);
    match app.calls.number_refusal(&number).await {
        Ok(Some(_)) => return Ok(None),
        Ok(None) => {}
        Err(e) => {
            warn!(event = "store.failed", error = %e);
            return Err(unavailable());
        }
    }
    if let Some(ending) = app.calls.spend_code_budget(&number).await {
        if ending == Ending::Fault {
            return Err(unavailable());
        }
        return Ok(None);
    }
    match app.calls.verifier.send(delivery, None).await {
        Ok(receipt) => {
            info!(
                event = "console.code_sent",
                channel = delivery.channel.as_str(),
                verifier = app.calls.verifier.name(),
                to = %delivery.to,
                "console code sent"
            );
            Ok(Some(receipt))
        }
        Err(e) => {
            warn!(event = "verify.send_failed", verifier = app.calls.verifier.name(), error = %e);
            Ok(None)
        }
    }
}

/// How a code typed on the console fared.
enum Checked {
    Right,
    Wrong,
    Spent,
}

/// Checks a code within the per-number wrong-code limit (reserved before the verifier is
/// asked, given back for a right code).
async fn check_within_limits(
    app: &AppState,
    pending: &Pending,
    code_phone: Option<&PhoneNumber>,
    typed: &str,
) -> Result<Checked, Response> {
    let Ok(phone) = PhoneNumber::parse(&pending.phone) else {
        return Ok(Checked::Wrong);
    };
    let number = app.calls.roster.current().number_key(&phone);
    match app.calls.reserve_wrong(&number).await {
        Ok(_) => {}
        Err(Ending::Fault) => return Err(unavailable()),
        Err(_) => return Ok(Checked::Spent),
    }
    let Ok(code) = Code::parse(typed.trim()) else {
        return Ok(Checked::Wrong);
    };
    if !pending.sent {
        // A stranger's "code": counted as wrong like any other, never checked.
        return Ok(Checked::Wrong);
    }
    let receipt = unb64(&pending.receipt);
    let to = code_phone.unwrap_or(&phone);
    match app.calls.verifier.check(to, &code, Some(&receipt)).await {
        Ok(CheckOutcome::Approved) => {
            app.calls.release_wrong(&number).await;
            Ok(Checked::Right)
        }
        Ok(CheckOutcome::Rejected) => Ok(Checked::Wrong),
        Err(e) => {
            warn!(event = "verify.check_failed", verifier = app.calls.verifier.name(), error = %e);
            app.calls.release_wrong(&number).await;
            Ok(Checked::Wrong)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Sessions

#[derive(Debug, Serialize, Deserialize)]
struct SessionData {
    phone: String,
    created: u64,
}

/// A signed-in moderator.
struct Session {
    id: String,
    phone: PhoneNumber,
    csrf: String,
}

impl Session {
    fn who(&self) -> String {
        self.phone.masked()
    }
}

/// The signed-in session of the request, if its cookie is valid, the store still has it and
/// it is younger than 12 hours.
async fn session(app: &AppState, headers: &HeaderMap) -> Result<Option<Session>, Response> {
    let Some(id) = cookie::read(headers, cookie::SESSION)
        .and_then(|v| cookie::open(&app.console_key, cookie::SESSION, v))
    else {
        return Ok(None);
    };
    let raw = match app.store.fetch(&Key::Session(id).to_string()).await {
        Ok(raw) => raw,
        Err(e) => {
            warn!(event = "store.failed", error = %e);
            return Err(unavailable());
        }
    };
    let Some(data) = raw.and_then(|raw| serde_json::from_slice::<SessionData>(&raw).ok()) else {
        return Ok(None);
    };
    if app.unix_now() >= data.created + SESSION_TTL.as_secs() {
        return Ok(None);
    }
    let Ok(phone) = PhoneNumber::parse(&data.phone) else {
        return Ok(None);
    };
    Ok(Some(Session {
        id: id.to_owned(),
        phone,
        csrf: cookie::tag(&app.console_key, "csrf", id),
    }))
}

/// The session of a POST whose CSRF token is right: the session, or the answer (403 for a
/// missing or wrong token, a redirect to sign in without a session).
async fn checked_session(
    app: &AppState,
    headers: &HeaderMap,
    csrf: Option<&str>,
) -> Result<Session, Response> {
    let Some(session) = session(app, headers).await? else {
        return Err(forbidden());
    };
    match csrf {
        Some(given) if cookie::same(&session.csrf, given) => Ok(session),
        _ => {
            warn!(event = "console.csrf_refused", who = %session.who(), "CSRF token missing or wrong");
            Err(forbidden())
        }
    }
}

/// Whether the session's moderator moderates `conference` (checked on every request).
fn moderates(app: &AppState, session: &Session, conference: &str) -> bool {
    moderated(app, &session.phone)
        .iter()
        .any(|(name, _)| name == conference)
}

// ---------------------------------------------------------------------------------------
// Handlers: sign in

#[derive(Debug, Deserialize)]
struct PhoneForm {
    phone: Option<String>,
    csrf: Option<String>,
    channel: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CodeForm {
    code: Option<String>,
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    csrf: Option<String>,
}

#[derive(Debug, Deserialize)]
struct InvitationForm {
    name: Option<String>,
    days: Option<String>,
    csrf: Option<String>,
}

/// `GET /console`: the live view when signed in, else the phone form.
async fn home(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match session(&app, &headers).await {
        Err(response) => response,
        Ok(Some(session)) => match dashboard(&app, &session).await {
            Ok(page) => render(StatusCode::OK, &page, &[]),
            Err(response) => response,
        },
        Ok(None) => {
            let (pre, set) = pre_id(&app, &headers);
            let page = Page::sign_in(pre_csrf(&app, &pre), None, None);
            render(StatusCode::OK, &page, set.as_slice())
        }
    }
}

/// `POST /console`: a phone number; a code to a moderator, the same answer to everyone.
async fn send_code(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PhoneForm>,
) -> Response {
    let Some(pre) = checked_pre(&app, &headers, form.csrf.as_deref()) else {
        return forbidden();
    };
    let csrf = pre_csrf(&app, &pre);
    let Some(phone) = form
        .phone
        .as_deref()
        .and_then(|p| PhoneNumber::parse(p.trim()).ok())
    else {
        let page = Page::sign_in(
            csrf,
            Some("Enter a phone number in international form, like +1 202 555 0100."),
            form.phone.as_deref(),
        );
        return render(StatusCode::BAD_REQUEST, &page, &[]);
    };
    let mut pending = Pending {
        phone: phone.as_e164().to_owned(),
        sent: false,
        receipt: String::new(),
        purpose: "signin".to_owned(),
        channel: String::new(),
    };
    if let Some((conference, participant)) = moderated(&app, &phone).into_iter().next() {
        let delivery = Delivery {
            to: participant.code_phone(),
            channel: participant.channel,
            conference: &conference,
        };
        match send_within_limits(&app, &phone, &delivery).await {
            Ok(Some(receipt)) => {
                pending.sent = true;
                pending.receipt = b64(receipt.as_bytes());
            }
            Ok(None) => {}
            Err(response) => return response,
        }
    } else {
        info!(event = "console.sign_in_refused", to = %phone, "not a moderator; no code sent");
    }
    if let Err(response) = save_pending(&app, &pre, &pending).await {
        return response;
    }
    render(StatusCode::OK, &Page::code(csrf, Some(NEUTRAL), None), &[])
}

/// `GET /console/code`: the code form again.
async fn code_page(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let (pre, set) = pre_id(&app, &headers);
    render(
        StatusCode::OK,
        &Page::code(pre_csrf(&app, &pre), None, None),
        set.as_slice(),
    )
}

/// `POST /console/code`: the code; signed in when it is right.
async fn check_code(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    let Some(pre) = checked_pre(&app, &headers, form.csrf.as_deref()) else {
        return forbidden();
    };
    let csrf = pre_csrf(&app, &pre);
    let pending = match load_pending(&app, &pre).await {
        Ok(Some(p)) if p.purpose == "signin" => p,
        Ok(_) => {
            let page = Page::sign_in(csrf, Some("Enter your phone number first."), None);
            return render(StatusCode::BAD_REQUEST, &page, &[]);
        }
        Err(response) => return response,
    };
    let phone = PhoneNumber::parse(&pending.phone).ok();
    let code_phone = phone.as_ref().and_then(|p| {
        moderated(&app, p)
            .into_iter()
            .next()
            .map(|(_, participant)| participant.code_phone().clone())
    });
    let typed = form.code.unwrap_or_default();
    match check_within_limits(&app, &pending, code_phone.as_ref(), &typed).await {
        Err(response) => response,
        Ok(Checked::Spent) => render(
            StatusCode::TOO_MANY_REQUESTS,
            &Page::code(
                csrf,
                None,
                Some("Too many wrong codes for this number. Try again in an hour."),
            ),
            &[],
        ),
        Ok(Checked::Wrong) => render(
            StatusCode::BAD_REQUEST,
            &Page::code(
                csrf,
                None,
                Some("That code is not right. Check it and try again."),
            ),
            &[],
        ),
        Ok(Checked::Right) => {
            let Some(phone) = phone.filter(|p| !moderated(&app, p).is_empty()) else {
                return render(
                    StatusCode::BAD_REQUEST,
                    &Page::code(
                        csrf,
                        None,
                        Some("That code is not right. Check it and try again."),
                    ),
                    &[],
                );
            };
            let _ = app.store.remove(&Key::Pending(&pre).to_string()).await;
            let id = cookie::random_id();
            let data = SessionData {
                phone: phone.as_e164().to_owned(),
                created: app.unix_now(),
            };
            let value = serde_json::to_vec(&data).unwrap_or_default();
            if let Err(e) = app
                .store
                .put(&Key::Session(&id).to_string(), &value, SESSION_TTL)
                .await
            {
                warn!(event = "store.failed", error = %e, "session not kept");
                return unavailable();
            }
            info!(event = "console.signed_in", who = %phone, "moderator signed in");
            let set = cookie::set(
                cookie::SESSION,
                &cookie::sign(&app.console_key, cookie::SESSION, &id),
                SESSION_TTL.as_secs(),
                secure(&app),
            );
            see_other("/console", &[set])
        }
    }
}

/// `POST /console/signout`.
async fn sign_out(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match checked_session(&app, &headers, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if let Err(e) = app
        .store
        .remove(&Key::Session(&session.id).to_string())
        .await
    {
        warn!(event = "store.failed", error = %e, "session not removed");
        return unavailable();
    }
    info!(event = "console.signed_out", who = %session.who(), "moderator signed out");
    see_other(
        "/console",
        &[cookie::set(cookie::SESSION, "", 0, secure(&app))],
    )
}

// ---------------------------------------------------------------------------------------
// Handlers: the live view and actions

/// The time of day (UTC) of a unix time, for "since".
fn clock_time(unix: u64) -> String {
    let day = unix % 86_400;
    format!("{:02}:{:02} UTC", day / 3600, day % 3600 / 60)
}

/// The live view of every conference the session's moderator moderates.
async fn conferences(app: &AppState, session: &Session) -> Result<Vec<ConferenceView>, Response> {
    let roster = app.calls.roster.current();
    let live = app.calls.moderation.live();
    let mut out = Vec::new();
    for conference in roster.directory().conferences() {
        let mine = conference
            .participant(&session.phone)
            .is_some_and(|p| p.role == Role::Moderator);
        if !mine {
            continue;
        }
        let view = match live.view(conference.name()).await {
            Ok(view) => view,
            Err(e) => {
                warn!(event = "store.failed", error = %e);
                return Err(unavailable());
            }
        };
        let enrolled = match enrolment::list(app.store.as_ref(), conference.name()).await {
            Ok(list) => list,
            Err(e) => {
                warn!(event = "store.failed", error = %e);
                return Err(unavailable());
            }
        };
        out.push(ConferenceView {
            name: conference.name().to_owned(),
            path: percent_encoding::utf8_percent_encode(
                conference.name(),
                percent_encoding::NON_ALPHANUMERIC,
            )
            .to_string(),
            started: view.meta.started && !view.meta.ended,
            ended: view.meta.ended,
            locked: view.meta.locked,
            dial_in: conference
                .numbers()
                .iter()
                .map(|n| n.as_e164().to_owned())
                .collect::<Vec<_>>()
                .join(", "),
            rows: view
                .present
                .iter()
                .map(|(id, e)| Row {
                    id: id.clone(),
                    name: e.member.name.clone(),
                    role: if e.member.guest {
                        "guest".to_owned()
                    } else {
                        e.member.role.as_str().to_owned()
                    },
                    phone: e.member.phone.clone(),
                    muted: e.muted,
                    since: clock_time(e.joined_at),
                })
                .collect(),
            enrolled: enrolled
                .into_iter()
                .map(|(key, e)| EnrolledRow {
                    key,
                    name: e.name.clone(),
                    phone: e.masked(),
                    channel: e.channel().as_str().to_owned(),
                    since: clock_time(e.enrolled_at),
                })
                .collect(),
        });
    }
    Ok(out)
}

async fn dashboard(app: &AppState, session: &Session) -> Result<Page, Response> {
    Ok(Page::dashboard(
        session.csrf.clone(),
        session.who(),
        conferences(app, session).await?,
    ))
}

/// `GET /console/state`: the live parts of the page, for the script to swap in.
async fn state(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let session = match session(&app, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return message(StatusCode::UNAUTHORIZED, "Signed out", "Sign in again."),
        Err(response) => return response,
    };
    match conferences(&app, &session).await {
        Ok(list) => render(StatusCode::OK, &Page::live(session.csrf.clone(), list), &[]),
        Err(response) => response,
    }
}

/// Runs an action through the admin API's code path, audited as the moderator.
async fn run_action(
    app: &AppState,
    session: &Session,
    conference: &str,
    call: Option<&str>,
    action: &str,
) -> Response {
    if !moderates(app, session, conference) {
        // Not theirs (or no such conference): nothing to see.
        warn!(event = "console.not_theirs", who = %session.who(), conference, "refused");
        return not_found();
    }
    let Some(result) = crate::routes::conference::act(app, conference, call, action).await else {
        return not_found();
    };
    crate::routes::conference::audit(action, &session.who(), conference, call, &result);
    match result {
        Ok(_) => see_other("/console", &[]),
        Err(e) => message(
            match e {
                crate::conference::moderation::ActionError::NotFound(_) => StatusCode::NOT_FOUND,
                crate::conference::moderation::ActionError::Carrier(_) => StatusCode::BAD_GATEWAY,
                crate::conference::moderation::ActionError::Store(_) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
            },
            "That did not work",
            &e.to_string(),
        ),
    }
}

/// `POST /console/conferences/{name}/{lock|unlock|end}`.
async fn conference_action(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match checked_session(&app, &headers, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !matches!(action.as_str(), "lock" | "unlock" | "end") {
        return not_found();
    }
    run_action(&app, &session, &name, None, &action).await
}

/// `POST /console/conferences/{name}/participants/{id}/{mute|unmute|remove}`.
async fn participant_action(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((name, id, action)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match checked_session(&app, &headers, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !matches!(action.as_str(), "mute" | "unmute" | "remove") {
        return not_found();
    }
    run_action(&app, &session, &name, Some(&id), &action).await
}

/// `POST /console/conferences/{name}/enrolments/{key}/remove`.
async fn remove_enrolment(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((name, key)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let session = match checked_session(&app, &headers, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !moderates(&app, &session, &name) {
        return not_found();
    }
    match enrolment::remove(app.store.as_ref(), &name, &key).await {
        Ok(true) => {
            info!(event = "admin.unenrol", who = %session.who(), conference = %name, "enrolment removed");
            see_other("/console", &[])
        }
        Ok(false) => not_found(),
        Err(e) => {
            warn!(event = "store.failed", error = %e);
            unavailable()
        }
    }
}

// ---------------------------------------------------------------------------------------
// Invitations

#[derive(Debug, Serialize, Deserialize)]
struct Invitation {
    conference: String,
    name: String,
    expires: u64,
}

/// `POST /console/conferences/{name}/invitations`: a single-use link.
async fn create_invitation(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(conference): Path<String>,
    Form(form): Form<InvitationForm>,
) -> Response {
    let session = match checked_session(&app, &headers, form.csrf.as_deref()).await {
        Ok(s) => s,
        Err(response) => return response,
    };
    if !moderates(&app, &session, &conference) {
        return not_found();
    }
    let name = form.name.unwrap_or_default().trim().to_owned();
    let days = form
        .days
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map_or(Some(7), |d| d.parse::<u64>().ok())
        .filter(|d| (1..=MAX_INVITATION_DAYS).contains(d));
    let mut errors = HashMap::new();
    if name.is_empty() || name.chars().count() > 80 || name.chars().any(char::is_control) {
        errors.insert("name", "Enter the invitee's name (up to 80 characters).");
    }
    if days.is_none() {
        errors.insert("days", "Valid for 1 to 30 days.");
    }
    let (Some(days), true) = (days, errors.is_empty()) else {
        let mut page = match dashboard(&app, &session).await {
            Ok(page) => page,
            Err(response) => return response,
        };
        page.invite_errors = Some((
            conference.clone(),
            errors.get("name").map(|s| (*s).to_owned()),
            errors.get("days").map(|s| (*s).to_owned()),
        ));
        return render(StatusCode::BAD_REQUEST, &page, &[]);
    };
    let id = cookie::random_id();
    let ttl = Duration::from_secs(days * 24 * 60 * 60);
    let invitation = Invitation {
        conference: conference.clone(),
        name: name.clone(),
        expires: app.unix_now() + ttl.as_secs(),
    };
    let value = serde_json::to_vec(&invitation).unwrap_or_default();
    if let Err(e) = app
        .store
        .put(&Key::Invitation(&id).to_string(), &value, ttl)
        .await
    {
        warn!(event = "store.failed", error = %e);
        return unavailable();
    }
    let token = cookie::sign(&app.console_key, "invite", &id);
    let base = app.public_url.as_str().trim_end_matches('/');
    let link = format!("{base}/console/invite/{token}");
    info!(
        event = "admin.invite",
        who = %session.who(),
        conference = %conference,
        days,
        "invitation created"
    );
    render(
        StatusCode::OK,
        &Page::invitation_created(
            session.csrf.clone(),
            session.who(),
            conference,
            name,
            days,
            link,
        ),
        &[],
    )
}

/// The invitation behind a link: its id and contents, or the page that refuses it (404 for
/// a forged link, 410 for a used or expired one).
async fn invitation(app: &AppState, token: &str) -> Result<(String, Invitation), Response> {
    let Some(id) = cookie::open(&app.console_key, "invite", token) else {
        return Err(message(
            StatusCode::NOT_FOUND,
            "This invitation link is not valid",
            "Check that you copied the whole link, or ask the moderator for a new one.",
        ));
    };
    let used = app.store.fetch(&Key::InvitationUsed(id).to_string()).await;
    let found = app.store.fetch(&Key::Invitation(id).to_string()).await;
    let (used, found) = match (used, found) {
        (Ok(used), Ok(found)) => (used, found),
        (Err(e), _) | (_, Err(e)) => {
            warn!(event = "store.failed", error = %e);
            return Err(unavailable());
        }
    };
    if used.is_some() {
        return Err(message(
            StatusCode::GONE,
            "This invitation was already used",
            "Each invitation link works once. Ask the moderator for a new one.",
        ));
    }
    match found.and_then(|raw| serde_json::from_slice::<Invitation>(&raw).ok()) {
        Some(inv) if inv.expires > app.unix_now() => Ok((id.to_owned(), inv)),
        _ => Err(message(
            StatusCode::GONE,
            "This invitation has expired",
            "Ask the moderator for a new one.",
        )),
    }
}

/// `GET /console/invite/{token}`: the phone number and channel form.
async fn invite_page(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let (_, invitation) = match invitation(&app, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let (pre, set) = pre_id(&app, &headers);
    let page = Page::invite_phone(
        pre_csrf(&app, &pre),
        token,
        invitation.conference,
        None,
        None,
    );
    render(StatusCode::OK, &page, set.as_slice())
}

/// `POST /console/invite/{token}`: sends the invitee a code by the channel they chose.
async fn invite_send(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<PhoneForm>,
) -> Response {
    let (id, invitation) = match invitation(&app, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(pre) = checked_pre(&app, &headers, form.csrf.as_deref()) else {
        return forbidden();
    };
    let csrf = pre_csrf(&app, &pre);
    let channel = match form.channel.as_deref() {
        Some("voice") => Channel::Voice,
        _ => Channel::Sms,
    };
    let Some(phone) = form
        .phone
        .as_deref()
        .and_then(|p| PhoneNumber::parse(p.trim()).ok())
    else {
        let page = Page::invite_phone(
            csrf,
            token,
            invitation.conference,
            Some("Enter a phone number in international form, like +1 202 555 0100."),
            form.phone.as_deref(),
        );
        return render(StatusCode::BAD_REQUEST, &page, &[]);
    };
    let delivery = Delivery {
        to: &phone,
        channel,
        conference: &invitation.conference,
    };
    let receipt = match send_within_limits(&app, &phone, &delivery).await {
        Ok(Some(receipt)) => receipt,
        Ok(None) => {
            let page = Page::invite_phone(
                csrf,
                token,
                invitation.conference,
                Some("No code could be sent to this number now. Try again later."),
                Some(phone.as_e164()),
            );
            return render(StatusCode::TOO_MANY_REQUESTS, &page, &[]);
        }
        Err(response) => return response,
    };
    let pending = Pending {
        phone: phone.as_e164().to_owned(),
        sent: true,
        receipt: b64(receipt.as_bytes()),
        purpose: format!("invite:{id}"),
        channel: channel.as_str().to_owned(),
    };
    if let Err(response) = save_pending(&app, &pre, &pending).await {
        return response;
    }
    let how = match channel {
        Channel::Sms => "We sent a code by text message to your phone.",
        Channel::Voice => "We are calling your phone with a code.",
    };
    let page = Page::invite_code(csrf, token, invitation.conference, Some(how), None);
    render(StatusCode::OK, &page, &[])
}

/// `POST /console/invite/{token}/code`: the code; enrolled when it is right.
async fn invite_check(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<CodeForm>,
) -> Response {
    let (id, invitation) = match invitation(&app, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(pre) = checked_pre(&app, &headers, form.csrf.as_deref()) else {
        return forbidden();
    };
    let csrf = pre_csrf(&app, &pre);
    let pending = match load_pending(&app, &pre).await {
        Ok(Some(p)) if p.purpose == format!("invite:{id}") => p,
        Ok(_) => {
            let page = Page::invite_phone(
                csrf,
                token,
                invitation.conference,
                Some("Enter your phone number first."),
                None,
            );
            return render(StatusCode::BAD_REQUEST, &page, &[]);
        }
        Err(response) => return response,
    };
    let typed = form.code.unwrap_or_default();
    match check_within_limits(&app, &pending, None, &typed).await {
        Err(response) => response,
        Ok(Checked::Spent) => render(
            StatusCode::TOO_MANY_REQUESTS,
            &Page::invite_code(
                csrf,
                token,
                invitation.conference,
                None,
                Some("Too many wrong codes for this number. Try again in an hour."),
            ),
            &[],
        ),
        Ok(Checked::Wrong) => render(
            StatusCode::BAD_REQUEST,
            &Page::invite_code(
                csrf,
                token,
                invitation.conference,
                None,
                Some("That code is not right. Check it and try again."),
            ),
            &[],
        ),
        Ok(Checked::Right) => {
            // Single use: the first right code takes the invitation.
            match app
                .store
                .claim(
                    &Key::InvitationUsed(&id).to_string(),
                    Duration::from_secs(MAX_INVITATION_DAYS * 24 * 60 * 60 + 3600),
                )
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return message(
                        StatusCode::GONE,
                        "This invitation was already used",
                        "Each invitation link works once. Ask the moderator for a new one.",
                    );
                }
                Err(e) => {
                    warn!(event = "store.failed", error = %e);
                    return unavailable();
                }
            }
            let enrolled = Enrolled {
                name: invitation.name.clone(),
                phone: pending.phone.clone(),
                channel: pending.channel.clone(),
                enrolled_at: app.unix_now(),
            };
            let roster = app.calls.roster.current();
            if let Err(e) = enrolment::add(
                app.store.as_ref(),
                &roster,
                &invitation.conference,
                &enrolled,
            )
            .await
            {
                warn!(event = "store.failed", error = %e, "enrolment not kept");
                return unavailable();
            }
            let _ = app.store.remove(&Key::Pending(&pre).to_string()).await;
            let _ = app.store.remove(&Key::Invitation(&id).to_string()).await;
            info!(
                event = "console.enrolled",
                conference = %invitation.conference,
                to = %enrolled.masked(),
                "invitee verified their phone and is enrolled"
            );
            let dial_in = roster
                .directory()
                .conferences()
                .iter()
                .find(|c| c.name() == invitation.conference)
                .map(|c| {
                    c.numbers()
                        .iter()
                        .map(|n| n.as_e164().to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            render(
                StatusCode::OK,
                &Page::enrolled(invitation.conference, invitation.name, dial_in),
                &[],
            )
        }
    }
}
