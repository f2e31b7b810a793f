//! `GET /dev/outbox`: what the local verifier "sent", in development mode only.

use crate::domain::PhoneNumber;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `?to=NUMBER` keeps only the messages to that number (any common format).
#[derive(Debug, Deserialize)]
pub struct Filter {
    to: Option<String>,
}

/// The outbox as a JSON array, oldest first; 503 while the store is unreachable. Open in
/// development mode; once a real carrier can reach the server (any carrier credential set),
/// only with `Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>`, and 404 without a token
/// configured: otherwise whoever spoofs a listed caller ID could read the code.
pub async fn outbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(filter): Query<Filter>,
) -> Response {
    let Some(outbox) = state.outbox.clone() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !state.development() {
        match &state.admin_token {
            None => return StatusCode::NOT_FOUND.into_response(),
            Some(token) if !crate::admin::bearer_matches(&headers, token) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    "the outbox needs Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>\n",
                )
                    .into_response();
            }
            Some(_) => {}
        }
    }
    let to = match filter.to.as_deref().map(PhoneNumber::parse) {
        None => None,
        Some(Ok(number)) => Some(number),
        Some(Err(e)) => {
            return (StatusCode::BAD_REQUEST, format!("to: {e}\n")).into_response();
        }
    };
    match outbox.messages().await {
        Ok(mut messages) => {
            if let Some(to) = to {
                messages.retain(|m| m.to == to.as_e164());
            }
            Json(messages).into_response()
        }
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
