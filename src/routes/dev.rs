//! `GET /dev/outbox`: what the local verifier "sent", in development mode only.

use crate::domain::PhoneNumber;
use crate::state::AppState;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `?to=NUMBER` keeps only the messages to that number (any common format).
#[derive(Debug, Deserialize)]
pub struct Filter {
    to: Option<String>,
}

/// The outbox as a JSON array, oldest first; 503 while the store is unreachable.
pub async fn outbox(State(state): State<AppState>, Query(filter): Query<Filter>) -> Response {
    let Some(outbox) = state.outbox else {
        return StatusCode::NOT_FOUND.into_response();
    };
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
