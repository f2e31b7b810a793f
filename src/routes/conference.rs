//! The conference side of the HTTP surface: the carriers' status callbacks (authenticated
//! like the carrier's other webhooks, then applied to the live roster), and the admin API the
//! web console and scripts use (`../shared/CARRIERS.md`, "Admin API").

use crate::carrier::{Carrier, Form, WebhookError};
use crate::conference::events;
use crate::conference::moderation::{ActionError, Done};
use crate::routes::voice::Raw;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::sync::Arc;
use tracing::{info, warn};

/// A conference status callback of `carrier`.
pub async fn status_callback(
    app: AppState,
    carrier: Arc<dyn Carrier>,
    request: Request,
) -> Response {
    let raw = match Raw::authenticated(&app, carrier.as_ref(), request).await {
        Ok(raw) => raw,
        Err(refused) => return refused,
    };
    if !crate::carrier::form::is_form(raw.headers()) {
        return WebhookError::NotAForm.into_response();
    }
    let event = match Form::decode(&raw.body).and_then(|form| events::decode(&form)) {
        Ok(event) => event,
        Err(e) => return e.into_response(),
    };
    let live = app.calls.moderation.live();
    match live.apply(&event).await {
        Ok(applied) => {
            info!(
                event = "conference.event",
                carrier = carrier.kind().as_str(),
                kind = event.kind.as_str(),
                conference = %event.name,
                call_sid = event.call_id.as_deref().unwrap_or(""),
                sequence = event.sequence,
                applied,
                "conference event"
            );
            if applied {
                if let Ok(view) = live.view(&event.name).await {
                    crate::metrics::set_participants(&event.name, view.count());
                }
                if event.kind == events::EventKind::Leave && !event.removed {
                    grant_rejoin(&app, &event).await;
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            warn!(event = "store.failed", error = %e, "conference event not recorded");
            // A 5xx makes the carrier retry the event later.
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the roster store is unavailable\n",
            )
                .into_response()
        }
    }
}

/// A caller whose call dropped (a leave that was not a removal) may come back without a new
/// code within the conference's `rejoin_minutes`, from the same number.
async fn grant_rejoin(app: &AppState, event: &events::ConferenceEvent) {
    let minutes = app
        .calls
        .roster
        .current()
        .directory()
        .conferences()
        .iter()
        .find(|c| c.name() == event.name)
        .map_or(0, |c| c.rejoin_minutes());
    let Some(call_id) = event.call_id.as_deref() else {
        return;
    };
    if minutes == 0 {
        return;
    }
    let live = app.calls.moderation.live();
    let member = match live.member(call_id).await {
        Ok(Some(member)) => member,
        _ => return,
    };
    let Some(number) = member.number else {
        return;
    };
    let until = app.clock.unix_now() + u64::from(minutes) * 60;
    match live.grant_rejoin(&event.name, &number, until).await {
        Ok(()) => info!(
            event = "conference.rejoin_granted",
            conference = %event.name,
            minutes,
            "a dropped call may rejoin without a code"
        ),
        Err(e) => warn!(event = "store.failed", error = %e, "rejoin not granted"),
    }
}

/// Checks the admin token: `None` to go on, or the answer. With a token configured it is
/// required (compared in constant time); without one the API is open in development mode and
/// off (404) otherwise.
fn guard(app: &AppState, headers: &HeaderMap) -> Option<Response> {
    match &app.admin_token {
        Some(token) if crate::admin::bearer_matches(headers, token) => None,
        Some(_) => Some(
            (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Bearer")],
                Json(json!({"error": "the admin API needs Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>"})),
            )
                .into_response(),
        ),
        None if app.development() => None,
        None => Some(StatusCode::NOT_FOUND.into_response()),
    }
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": message.to_string()}))).into_response()
}

fn rfc3339(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(i64::MAX))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// `GET /api/conferences`: every conference of the participants file with its live roster.
pub async fn list(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(refused) = guard(&app, &headers) {
        return refused;
    }
    let roster = app.calls.roster.current();
    let live = app.calls.moderation.live();
    let mut conferences = Vec::new();
    for conference in roster.directory().conferences() {
        let view = match live.view(conference.name()).await {
            Ok(view) => view,
            Err(e) => return error(StatusCode::SERVICE_UNAVAILABLE, e),
        };
        let participants: Vec<_> = view
            .present
            .iter()
            .map(|(id, e)| {
                json!({
                    "id": id,
                    "name": e.member.name,
                    "role": if e.member.guest { "guest" } else { e.member.role.as_str() },
                    "phone": e.member.phone,
                    "muted": e.muted,
                    "on_hold": e.hold,
                    "joined_at": rfc3339(e.joined_at),
                })
            })
            .collect();
        conferences.push(json!({
            "name": conference.name(),
            "started": view.meta.started && !view.meta.ended,
            "locked": view.meta.locked,
            "moderator_present": view.moderator_present(),
            "max_participants": conference.max_participants(),
            "participants": participants,
        }));
    }
    Json(json!({"conferences": conferences})).into_response()
}

/// Audits an action (`admin.<action>`, or `admin.failed`) by `who`: the admin token, or the
/// console's signed-in moderator by masked number.
pub(crate) fn audit(
    action: &str,
    who: &str,
    conference: &str,
    call: Option<&str>,
    result: &Result<Done, ActionError>,
) {
    match result {
        Ok(done) => info!(
            event = format!("admin.{action}").as_str(),
            who,
            conference,
            call_sid = call.unwrap_or(""),
            carrier_told = done.carrier_told,
            calls = done.calls,
            "admin action"
        ),
        Err(e) => warn!(
            event = "admin.failed",
            action,
            who,
            conference,
            call_sid = call.unwrap_or(""),
            error = %e,
            "admin action failed"
        ),
    }
}

/// Does a conference action (`lock`, `unlock`, `end`) or, with `call`, a participant action
/// (`mute`, `unmute`, `remove`); `None` for an unknown action. Not audited here.
pub(crate) async fn act(
    app: &AppState,
    conference: &str,
    call: Option<&str>,
    action: &str,
) -> Option<Result<Done, ActionError>> {
    let moderation = &app.calls.moderation;
    Some(match (call, action) {
        // A lock is the roster's own: no carrier needs telling.
        (None, "lock" | "unlock") => {
            moderation
                .lock(conference, action == "lock")
                .await
                .map(|_| Done {
                    carrier_told: true,
                    calls: 0,
                })
        }
        (None, "end") => moderation.end(conference).await,
        (Some(id), "mute") => moderation.mute(conference, id, true).await,
        (Some(id), "unmute") => moderation.mute(conference, id, false).await,
        (Some(id), "remove") => moderation.remove(conference, id).await,
        _ => return None,
    })
}

/// The answer to an action.
fn done(
    action: &str,
    conference: &str,
    call: Option<&str>,
    result: Result<Done, ActionError>,
) -> Response {
    audit(action, "admin-token", conference, call, &result);
    match result {
        Ok(done) => {
            let mut body = json!({"ok": true, "action": action, "carrier_told": done.carrier_told});
            if !done.carrier_told {
                body["note"] = json!(
                    "no carrier REST API is configured for this call: only the roster changed"
                );
            }
            Json(body).into_response()
        }
        Err(e) => {
            let status = match e {
                ActionError::NotFound(_) => StatusCode::NOT_FOUND,
                ActionError::Carrier(_) => StatusCode::BAD_GATEWAY,
                ActionError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            error(status, e)
        }
    }
}

/// Whether `name` is a conference of the participants file.
fn known(app: &AppState, name: &str) -> bool {
    app.calls
        .roster
        .current()
        .directory()
        .conferences()
        .iter()
        .any(|c| c.name() == name)
}

/// `POST /api/conferences/{name}/{lock|unlock|end}`.
pub async fn conference_action(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((name, action)): Path<(String, String)>,
) -> Response {
    if let Some(refused) = guard(&app, &headers) {
        return refused;
    }
    if !known(&app, &name) {
        return error(StatusCode::NOT_FOUND, "no such conference");
    }
    let Some(result) = act(&app, &name, None, &action).await else {
        return error(StatusCode::NOT_FOUND, "no such action (lock, unlock, end)");
    };
    done(&action, &name, None, result)
}

/// `POST /api/conferences/{name}/participants/{id}/{mute|unmute|remove}`.
pub async fn participant_action(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path((name, id, action)): Path<(String, String, String)>,
) -> Response {
    if let Some(refused) = guard(&app, &headers) {
        return refused;
    }
    if !known(&app, &name) {
        return error(StatusCode::NOT_FOUND, "no such conference");
    }
    let Some(result) = act(&app, &name, Some(&id), &action).await else {
        return error(
            StatusCode::NOT_FOUND,
            "no such action (mute, unmute, remove)",
        );
    };
    done(&action, &name, Some(&id), result)
}
