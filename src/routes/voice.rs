//! The voice webhooks of every carrier, thin: authenticate the raw request with the carrier,
//! decode it into a call event, hand it to the call service, render the answer in the
//! carrier's dialect. The call's state travels in the URL the reply carries, signed and bound
//! to the call and the carrier, so any instance sharing the secret can take the next webhook.
//! Every reply is a document with HTTP 200; only a malformed, forged or stale request gets a
//! 4xx.

use crate::call::Reply;
use crate::carrier::{CallEvent, Carrier, Forbidden, Hook, Inbound, Links};
use crate::service::{Answer, Dialect, Refused};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
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
    let raw = match Raw::authenticated(&app, carrier.as_ref(), request).await {
        Ok(raw) => raw,
        Err(refused) => return refused,
    };
    let inbound = raw.inbound(&app);
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

/// A carrier's request read whole and authenticated: what every webhook of a carrier
/// (voice, keypad, conference events) starts with.
pub(crate) struct Raw {
    path_and_query: String,
    headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Raw {
    /// Reads the request (bounded by the router's body limit) and authenticates it with the
    /// carrier before anything in it is trusted; the 403 (logged) or the body's rejection
    /// otherwise.
    pub(crate) async fn authenticated(
        app: &AppState,
        carrier: &dyn Carrier,
        request: Request,
    ) -> Result<Self, Response> {
        let path_and_query = request.uri().path_and_query().map_or_else(
            || request.uri().path().to_owned(),
            |pq| pq.as_str().to_owned(),
        );
        // The headers are kept by moving them out, not by copying the map.
        let (mut parts, body) = request.into_parts();
        let headers = std::mem::take(&mut parts.headers);
        let body = Bytes::from_request(Request::from_parts(parts, body), app)
            .await
            .map_err(IntoResponse::into_response)?;
        let raw = Self {
            path_and_query,
            headers,
            body,
        };
        match carrier.authenticate(&raw.inbound(app)) {
            Ok(()) => Ok(raw),
            Err(why) => Err(forbidden(carrier, &raw.path_and_query, why)),
        }
    }

    /// The request as the carrier modules read it.
    pub(crate) fn inbound(&self, app: &AppState) -> Inbound<'_> {
        Inbound {
            path_and_query: &self.path_and_query,
            headers: &self.headers,
            body: &self.body,
            now: app.clock.unix_now(),
        }
    }

    /// The request's headers.
    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }
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
    // Only a join opens a conference that reports its events.
    let events = matches!(answer.reply, Reply::Join { .. })
        .then(|| carrier.events_url(&app.public_url))
        .flatten();
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
