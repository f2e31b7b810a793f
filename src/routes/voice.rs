//! The voice webhooks: `POST /voice` when a call comes in, then `POST /voice/code?s=STATE`
//! with what the caller typed (or nothing). The call's state travels in `s`, signed and bound
//! to the CallSid, so any instance sharing the secret can take the next webhook, even after a
//! restart. Every reply is TwiML with HTTP 200; only a malformed, forged or stale request
//! gets a 4xx.

use crate::call::{self, CallState, Ending, Keypad, Next, Prompt, Reply};
use crate::dialect;
use crate::directory::{Conference, Participant};
use crate::domain::{CallSid, PhoneNumber};
use crate::routes::form::{Form, Webhook, WebhookError};
use crate::state::AppState;
use crate::store::StoreError;
use crate::token::{CallToken, Fingerprint};
use crate::verify::Receipt;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use tracing::{Span, info, instrument, warn};

/// How long a call's high-water mark is kept: longer than any token lives.
const MARK_TTL: Duration = Duration::from_secs(crate::token::MAX_AGE_SECS + 600);
const HOUR: Duration = Duration::from_secs(60 * 60);
const MINUTE: Duration = Duration::from_secs(60);

/// A reply and, when it asks for the code, the state to carry to the next webhook.
struct Answer {
    reply: Reply,
    carry: Option<CallToken>,
}

impl Answer {
    fn done(reply: Reply) -> Self {
        Self { reply, carry: None }
    }
}

/// Wraps an answer as an HTTP 200 TwiML response.
fn respond(app: &AppState, sid: &CallSid, answer: Answer) -> Response {
    let url = match &answer.carry {
        Some(token) => format!("{}?s={}", app.code_url, app.sealer.seal(sid, token)),
        None => app.code_url.clone(),
    };
    (
        [(CONTENT_TYPE, crate::twiml::CONTENT_TYPE)],
        dialect::twiml(&answer.reply, &url),
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
    let dialed = form
        .get("To")
        .and_then(|to| PhoneNumber::from_webhook(to).ok());
    let answer = answer_incoming(&app, &sid, dialed.as_ref(), from).await;
    respond(&app, &sid, answer)
}

async fn answer_incoming(
    app: &AppState,
    sid: &CallSid,
    dialed: Option<&PhoneNumber>,
    from: &str,
) -> Answer {
    let roster = app.roster.current();
    let (conference, participant) = match call::admit(roster.directory(), dialed, from) {
        Ok(found) => found,
        Err(refusal) => {
            info!(
                event = "call.rejected",
                reason = refusal.as_str(),
                "call refused, no code sent"
            );
            return Answer::done(Reply::refuse(refusal));
        }
    };
    let span = Span::current();
    span.record("conference", conference.name());
    span.record("caller", participant.phone.masked());
    let number = roster.number_key(&participant.phone);
    let mut token = CallToken {
        fingerprint: roster.fingerprint(conference, participant),
        seq: 1,
        wrong: 0,
        silences: 0,
        resends: 0,
        refreshed: false,
        issued: u32::try_from(app.unix_now()).unwrap_or(u32::MAX),
        receipt: Receipt::default(),
    };
    match app.store.get(&wrong_key(&number)).await {
        Ok(wrong) if wrong >= app.limits.wrong_per_number => {
            info!(
                event = "limit.wrong_per_number",
                "wrong codes for this number this hour spent; no code sent"
            );
            return end(Ending::TooManyChecks, "per-number wrong codes spent");
        }
        Ok(_) => {}
        Err(e) => return fault(&e),
    }
    match app.store.advance(sid, 0, MARK_TTL).await {
        Ok(true) => {}
        Ok(false) => {
            // The carrier posted this call's first webhook again: never a second code.
            info!(
                event = "call.repeated",
                "incoming webhook repeated; code already sent"
            );
            return Answer {
                reply: Reply::ask(Prompt::StillWaiting, conference.name()),
                carry: Some(token),
            };
        }
        Err(e) => return fault(&e),
    }
    if let Some(ending) = spend_code_budget(app, &number).await {
        return end(ending, "code budget spent");
    }
    let sent = app.verifier.send(&participant.phone, None).await;
    match sent {
        Ok(receipt) => {
            token.receipt = receipt;
            info!(
                event = "call.code_sent",
                role = %participant.role,
                "code sent, asking for it"
            );
            Answer {
                reply: Reply::ask(Prompt::Welcome, conference.name()),
                carry: Some(token),
            }
        }
        Err(e) => {
            warn!(event = "verify.send_failed", verifier = app.verifier.name(), error = %e);
            match CallState::default().after_send(Err::<(), _>(e), Prompt::Welcome) {
                Next::End(ending) => end(ending, "code could not be sent"),
                _ => end(Ending::Unavailable, "code could not be sent"),
            }
        }
    }
}

/// `POST /voice/code?s=STATE`: what the caller typed at the prompt, or nothing.
#[instrument(
    name = "webhook",
    skip_all,
    fields(kind = "code", call_sid, conference, caller)
)]
pub async fn code(
    State(app): State<AppState>,
    RawQuery(query): RawQuery,
    Webhook(form): Webhook,
) -> Response {
    let sid = match call_sid(&form) {
        Ok(sid) => sid,
        Err(e) => return e.into_response(),
    };
    Span::current().record("call_sid", sid.as_str());
    let state_text = query.as_deref().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "s")
            .map(|(_, v)| v.into_owned())
    });
    let Some(state_text) = state_text else {
        return WebhookError::BadParameter("the call state (s) is missing".into()).into_response();
    };
    let token = match app.sealer.open(&sid, &state_text, app.unix_now()) {
        Ok(token) => token,
        Err(e) => {
            if crate::log_throttle::allow("webhook.bad_state") {
                warn!(event = "webhook.bad_state", error = %e, "call state refused");
            }
            return WebhookError::BadParameter(e.to_string()).into_response();
        }
    };
    match app.store.advance(&sid, token.seq, MARK_TTL).await {
        Ok(true) => {}
        Ok(false) => {
            if crate::log_throttle::allow("webhook.stale_state") {
                warn!(
                    event = "webhook.stale_state",
                    seq = token.seq,
                    "call state already used: replayed or rolled back"
                );
            }
            return (
                StatusCode::CONFLICT,
                "this call state was already used (replayed or rolled back)\n",
            )
                .into_response();
        }
        Err(e) => return respond(&app, &sid, fault(&e)),
    }
    let keypad = Keypad::read(form.get("Digits"));
    let answer = answer_code(&app, token, keypad).await;
    respond(&app, &sid, answer)
}

async fn answer_code(app: &AppState, token: CallToken, keypad: Keypad) -> Answer {
    let roster = app.roster.current();
    let Some((conference, participant)) = roster.find(&token.fingerprint) else {
        return end(Ending::NoLongerListed, "caller no longer listed");
    };
    let span = Span::current();
    span.record("conference", conference.name());
    span.record("caller", participant.phone.masked());
    let mut flow = Flow {
        app,
        conference,
        participant,
        number: roster.number_key(&participant.phone),
        fingerprint: token.fingerprint,
        seq: token.seq,
        issued: token.issued,
        receipt: token.receipt,
        state: CallState {
            wrong: token.wrong,
            silences: token.silences,
            resends: token.resends,
            refreshed: token.refreshed,
        },
    };
    flow.run(keypad).await
}

/// One code webhook's work: the state machine's steps and the verifier and store calls
/// they ask for.
struct Flow<'a> {
    app: &'a AppState,
    conference: &'a Conference,
    participant: &'a Participant,
    number: String,
    fingerprint: Fingerprint,
    seq: u8,
    issued: u32,
    receipt: Receipt,
    state: CallState,
}

impl Flow<'_> {
    async fn run(&mut self, keypad: Keypad) -> Answer {
        let limits = self.app.limits.per_call;
        let wrong_before = self.state.wrong;
        let mut next = self.state.on_keypad(keypad, &limits);
        loop {
            next = match next {
                Next::Check(code) => {
                    let checked = self
                        .app
                        .verifier
                        .check(&self.participant.phone, &code, Some(&self.receipt))
                        .await;
                    if let Err(e) = &checked {
                        warn!(event = "verify.check_failed", verifier = self.app.verifier.name(), error = %e);
                    }
                    self.state.after_check(checked, &limits)
                }
                Next::Send(prompt) => match spend_code_budget(self.app, &self.number).await {
                    Some(ending) => Next::End(ending),
                    None => {
                        let sent = self
                            .app
                            .verifier
                            .send(&self.participant.phone, Some(&self.receipt))
                            .await;
                        match &sent {
                            Ok(receipt) => {
                                self.receipt = receipt.clone();
                                info!(event = "call.code_sent", reason = ?prompt, "code sent again");
                            }
                            Err(e) => {
                                warn!(event = "verify.send_failed", verifier = self.app.verifier.name(), error = %e);
                            }
                        }
                        self.state.after_send(sent, prompt)
                    }
                },
                other => break self.finish(other, wrong_before).await,
            };
        }
    }

    /// The last step: count a wrong try against the number, then ask, join or end.
    async fn finish(&mut self, mut next: Next, wrong_before: u8) -> Answer {
        if self.state.wrong > wrong_before {
            info!(
                event = "call.wrong_code",
                wrong = self.state.wrong,
                "wrong code"
            );
            match self.app.store.incr(&wrong_key(&self.number), HOUR).await {
                Ok(count) if count >= self.app.limits.wrong_per_number => {
                    info!(
                        event = "limit.wrong_per_number",
                        "wrong codes for this number this hour spent"
                    );
                    if matches!(next, Next::Ask(_)) {
                        next = Next::End(Ending::TooManyChecks);
                    }
                }
                Ok(_) => {}
                Err(e) => return fault(&e),
            }
        }
        match next {
            Next::Ask(prompt) => {
                if prompt == Prompt::NoInput {
                    info!(
                        event = "call.no_input",
                        silences = self.state.silences,
                        "no input, asking again"
                    );
                }
                Answer {
                    reply: Reply::ask(prompt, self.conference.name()),
                    carry: Some(CallToken {
                        fingerprint: self.fingerprint,
                        seq: self.seq.saturating_add(1),
                        wrong: self.state.wrong,
                        silences: self.state.silences,
                        resends: self.state.resends,
                        refreshed: self.state.refreshed,
                        issued: self.issued,
                        receipt: self.receipt.clone(),
                    }),
                }
            }
            Next::Join => {
                info!(
                    event = "call.joined",
                    role = %self.participant.role,
                    "code approved, joining"
                );
                Answer::done(Reply::join(self.participant, self.conference))
            }
            Next::End(ending) => end(ending, "call ended without joining"),
            other => {
                // Unreachable by the state machine's construction; answer safely all the same.
                warn!(event = "call.ended", reason = "internal", next = ?other, "unexpected step");
                Answer::done(Reply::end(Ending::Fault))
            }
        }
    }
}

fn wrong_key(number: &str) -> String {
    format!("wrong:{number}")
}

/// Counts a code against the server's per-minute budget and the number's hourly one; the
/// ending to give when either is spent.
async fn spend_code_budget(app: &AppState, number: &str) -> Option<Ending> {
    let minute = app.unix_now() / 60;
    match app
        .store
        .incr(&format!("codes:minute:{minute}"), MINUTE * 2)
        .await
    {
        Ok(count) if count > app.limits.codes_per_minute => {
            warn!(
                event = "limit.code_budget",
                "server-wide code budget for this minute spent"
            );
            return Some(Ending::Busy);
        }
        Ok(_) => {}
        Err(e) => {
            warn!(event = "store.failed", error = %e, "store unavailable");
            return Some(Ending::Fault);
        }
    }
    match app.store.incr(&format!("codes:{number}"), HOUR).await {
        Ok(count) if count > app.limits.codes_per_number => {
            info!(
                event = "limit.codes_per_number",
                "codes for this number this hour spent"
            );
            Some(Ending::TooManySends)
        }
        Ok(_) => None,
        Err(e) => {
            warn!(event = "store.failed", error = %e, "store unavailable");
            Some(Ending::Fault)
        }
    }
}

fn end(ending: Ending, message: &str) -> Answer {
    info!(event = "call.ended", reason = ending.as_str(), "{message}");
    Answer::done(Reply::end(ending))
}

/// A store failure: apologise and end the call (fail closed).
fn fault(error: &StoreError) -> Answer {
    warn!(event = "store.failed", error = %error, "store unavailable");
    end(Ending::Fault, "call ended on a fault")
}
