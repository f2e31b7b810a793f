//! The voice webhooks of every carrier, thin: authenticate the raw request with the carrier,
//! decode it into a call event, hand it to the call service, render the answer in the
//! carrier's dialect. The call's state travels in the URL the reply carries, signed and bound
//! to the call and the carrier, so any instance sharing the secret can take the next webhook.
//! Every reply is a document with HTTP 200; only a malformed, forged or stale request gets a
//! 4xx.

use crate::carrier::{CallEvent, Carrier, Forbidden, Hook, Inbound, Links};
use crate::service::{Answer, Dialect, Refused};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tracing::{Span, instrument, warn};

/// A webhook of `carrier` at `hook`.
#[instrument(
    name = "webhook",
    skip_all,
    fields(kind = hook_name(hook), carrier = carrier.kind().as_str(), call_sid, conference, caller)
)]
pub async fn webhook(
    app: AppState,
    carrier: Arc<dyn Carrier>,
    hook: Hook,
    request: Request,
) -> Response {
    let path_and_query = request.uri().path_and_query().map_or_else(
        || request.uri().path().to_owned(),
        |pq| pq.as_str().to_owned(),
    );
    let headers = request.headers().clone();
    let body = match Bytes::from_request(request, &app).await {
        Ok(body) => body,
        Err(rejection) => return rejection.into_response(),
    };
    let inbound = Inbound {
        path_and_query: &path_and_query,
        headers: &headers,
        body: &body,
        now: app.clock.unix_now(),
    };
    if let Err(why) = carrier.authenticate(&inbound) {
        return forbidden(carrier.as_ref(), &path_and_query, why);
    }
    let event = match carrier.decode(&inbound, hook) {
        Ok(event) => event,
        Err(e) => return e.into_response(),
    };
    Span::current().record("call_sid", event.call_id.as_str());
    let dialect = Dialect {
        carrier: carrier.kind(),
        joins_rooms: carrier.joins_rooms(),
    };
    let answer = match hook {
        Hook::Entry => app.calls.incoming(dialect, &event).await,
        Hook::Code => match keypad(&app, dialect, &event).await {
            Ok(answer) => answer,
            Err(refused) => return refused_response(refused),
        },
    };
    respond(&app, carrier.as_ref(), &event, answer)
}

async fn keypad(app: &AppState, dialect: Dialect, event: &CallEvent) -> Result<Answer, Refused> {
    match app
        .calls
        .open(dialect, &event.call_id, event.state.as_deref())
        .await?
    {
        Ok(token) => Ok(app
            .calls
            .keypad(&event.call_id, token, event.digits.as_deref())
            .await),
        Err(answer) => Ok(answer),
    }
}

fn hook_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Entry => "incoming",
        Hook::Code => "code",
    }
}

/// Renders an answer as HTTP 200 in the carrier's dialect, sealing the state it carries.
fn respond(app: &AppState, carrier: &dyn Carrier, event: &CallEvent, answer: Answer) -> Response {
    let state = answer
        .carry
        .as_ref()
        .map(|token| app.calls.seal(&event.call_id, token));
    let next = carrier.next_url(&app.public_url, state.as_deref());
    let events = carrier.events_url(&app.public_url);
    let rendered = carrier.render(
        &answer.reply,
        &Links {
            next: &next,
            events: events.as_deref(),
        },
    );
    ([(CONTENT_TYPE, rendered.content_type)], rendered.body).into_response()
}

fn refused_response(refused: Refused) -> Response {
    let status = match refused {
        Refused::Stale => StatusCode::CONFLICT,
        Refused::NoState | Refused::BadState(_) => StatusCode::BAD_REQUEST,
    };
    (status, format!("{refused}\n")).into_response()
}

/// The one warning line for a refused webhook, and the 403.
fn forbidden(carrier: &dyn Carrier, path: &str, why: Forbidden) -> Response {
    let path = path.split('?').next().unwrap_or_default();
    if crate::log_throttle::allow("webhook.forbidden") {
        warn!(
            event = "webhook.forbidden",
            carrier = carrier.kind().as_str(),
            path,
            signature = %why,
            "webhook refused: {why} (is BRIDGEKEEPER_PUBLIC_URL the URL the carrier calls, and the credential right?)"
        );
    }
    (
        StatusCode::FORBIDDEN,
        "forbidden: the webhook signature is missing or wrong\n",
    )
        .into_response()
}
