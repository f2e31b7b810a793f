//! The voice webhooks: `POST /voice` when a call comes in, then `POST /voice/code` with what
//! the caller typed (or nothing). Every reply is TwiML with HTTP 200; only a malformed
//! request gets a 4xx.

use crate::call::{self, CallState, Ending, Keypad, Next, Prompt, Reply};
use crate::dialect;
use crate::directory::{Conference, Participant};
use crate::domain::{CallSid, PhoneNumber};
use crate::routes::form::{Form, Webhook, WebhookError};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use tracing::{Span, info, instrument, warn};

/// Wraps a reply as an HTTP 200 TwiML response.
fn respond(app: &AppState, reply: &Reply) -> Response {
    (
        [(CONTENT_TYPE, crate::twiml::CONTENT_TYPE)],
        dialect::twiml(reply, &app.code_url),
    )
        .into_response()
}

fn call_sid(form: &Form) -> Result<CallSid, WebhookError> {
    CallSid::parse(form.get("CallSid").unwrap_or_default())
        .map_err(|e| WebhookError::BadParameter(e.to_string()))
}

/// `POST /voice`: a call comes in.
#[instrument(
    name = "webhook",
    skip_all,
    fields(kind = "incoming", call_sid, conference, caller)
)]
pub async fn incoming(State(app): State<AppState>, Webhook(form): Webhook) -> Response {
    let (sid, from) = match (call_sid(&form), form.required("From")) {
        (Ok(sid), Ok(from)) => (sid, from),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    Span::current().record("call_sid", sid.as_str());
    let dialed = form.get("To").and_then(|to| PhoneNumber::parse(to).ok());
    respond(
        &app,
        &answer_incoming(&app, &sid, dialed.as_ref(), from).await,
    )
}

async fn answer_incoming(
    app: &AppState,
    sid: &CallSid,
    dialed: Option<&PhoneNumber>,
    from: &str,
) -> Reply {
    let (conference, participant) = match call::admit(&app.directory, dialed, from) {
        Ok(found) => found,
        Err(refusal) => {
            info!(
                event = "call.rejected",
                reason = refusal.as_str(),
                "call refused, no code sent"
            );
            return Reply::refuse(refusal);
        }
    };
    let span = Span::current();
    span.record("conference", conference.name());
    span.record("caller", participant.phone.masked());
    match app.calls.load(sid).await {
        Ok(None) => {}
        Ok(Some(state)) => {
            // The carrier posted this call's first webhook again: never a second code.
            info!(
                event = "call.repeated",
                "incoming webhook repeated; code already sent"
            );
            return Reply::ask(Prompt::StillWaiting, &state.conference);
        }
        Err(e) => return fault(app, sid, &e.to_string()).await,
    }
    let state = CallState::new(conference.name(), participant.phone.clone());
    if let Err(e) = app.calls.save(sid, &state).await {
        return fault(app, sid, &e.to_string()).await;
    }
    let sent = app.verifier.send(&participant.phone).await;
    if let Err(e) = &sent {
        warn!(event = "verify.send_failed", verifier = app.verifier.name(), error = %e);
    }
    match state.after_send(sent, Prompt::Welcome) {
        Next::Ask(prompt) => {
            info!(event = "call.code_sent", role = %participant.role, "code sent, asking for it");
            Reply::ask(prompt, conference.name())
        }
        next => finish(app, sid, next, conference, participant).await,
    }
}

/// `POST /voice/code`: what the caller typed at the prompt, or nothing.
#[instrument(
    name = "webhook",
    skip_all,
    fields(kind = "code", call_sid, conference, caller)
)]
pub async fn code(State(app): State<AppState>, Webhook(form): Webhook) -> Response {
    let sid = match call_sid(&form) {
        Ok(sid) => sid,
        Err(e) => return e.into_response(),
    };
    Span::current().record("call_sid", sid.as_str());
    let reply = answer_code(&app, &sid, Keypad::read(form.get("Digits"))).await;
    respond(&app, &reply)
}

async fn answer_code(app: &AppState, sid: &CallSid, keypad: Keypad) -> Reply {
    let mut state = match app.calls.load(sid).await {
        Ok(Some(state)) => state,
        Ok(None) => {
            info!(
                event = "call.ended",
                reason = Ending::UnknownCall.as_str(),
                "no state for this call"
            );
            return Reply::end(Ending::UnknownCall);
        }
        Err(e) => return fault(app, sid, &e.to_string()).await,
    };
    let span = Span::current();
    span.record("conference", state.conference.as_str());
    span.record("caller", state.caller.masked());
    let Some((conference, participant)) = lookup(app, &state.conference, &state.caller) else {
        forget(app, sid).await;
        info!(
            event = "call.ended",
            reason = Ending::NoLongerListed.as_str(),
            "caller no longer listed"
        );
        return Reply::end(Ending::NoLongerListed);
    };
    let mut next = state.on_keypad(keypad);
    loop {
        next = match next {
            Next::Check(code) => {
                let checked = app.verifier.check(&state.caller, &code).await;
                match &checked {
                    Err(e) => {
                        warn!(event = "verify.check_failed", verifier = app.verifier.name(), error = %e)
                    }
                    Ok(outcome) => tracing::debug!(event = "verify.checked", ?outcome),
                }
                state.after_check(checked)
            }
            Next::Send(prompt) => {
                let sent = app.verifier.send(&state.caller).await;
                if let Err(e) = &sent {
                    warn!(event = "verify.send_failed", verifier = app.verifier.name(), error = %e);
                } else {
                    info!(event = "call.code_sent", reason = ?prompt, "code sent again");
                }
                state.after_send(sent, prompt)
            }
            Next::Ask(prompt) => {
                if matches!(prompt, Prompt::WrongCode | Prompt::NoMoreResends) {
                    info!(
                        event = "call.wrong_code",
                        wrong = state.wrong,
                        "wrong code, asking again"
                    );
                } else if prompt == Prompt::NoInput {
                    info!(
                        event = "call.no_input",
                        silences = state.silences,
                        "no input, asking again"
                    );
                }
                if let Err(e) = app.calls.save(sid, &state).await {
                    return fault(app, sid, &e.to_string()).await;
                }
                return Reply::ask(prompt, conference.name());
            }
            next => return finish(app, sid, next, conference, participant).await,
        };
    }
}

/// Ends a call: joined, or goodbye. Its state is forgotten either way.
async fn finish(
    app: &AppState,
    sid: &CallSid,
    next: Next,
    conference: &Conference,
    participant: &Participant,
) -> Reply {
    forget(app, sid).await;
    match next {
        Next::Join => {
            info!(event = "call.joined", role = %participant.role, "code approved, joining");
            Reply::join(participant, conference)
        }
        Next::End(ending) => {
            info!(
                event = "call.ended",
                reason = ending.as_str(),
                "call ended without joining"
            );
            Reply::end(ending)
        }
        other => {
            // Unreachable by the state machine's construction; answer safely all the same.
            warn!(event = "call.ended", reason = "internal", next = ?other, "unexpected step");
            Reply::end(Ending::Fault)
        }
    }
}

/// A store failure: apologise and end the call.
async fn fault(app: &AppState, sid: &CallSid, error: &str) -> Reply {
    warn!(event = "store.failed", error, "call state unavailable");
    forget(app, sid).await;
    info!(
        event = "call.ended",
        reason = Ending::Fault.as_str(),
        "call ended on a fault"
    );
    Reply::end(Ending::Fault)
}

async fn forget(app: &AppState, sid: &CallSid) {
    if let Err(e) = app.calls.remove(sid).await {
        warn!(event = "store.failed", error = %e, "could not forget a finished call");
    }
}

fn lookup<'d>(
    app: &'d AppState,
    conference: &str,
    caller: &PhoneNumber,
) -> Option<(&'d Conference, &'d Participant)> {
    let conference = app
        .directory
        .conferences()
        .iter()
        .find(|c| c.name() == conference)?;
    Some((conference, conference.participant(caller)?))
}
