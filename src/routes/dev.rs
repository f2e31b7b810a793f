//! `GET /dev/outbox`: what the local verifier "sent", in development mode only.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The outbox as a JSON array, oldest first; 503 while the store is unreachable.
pub async fn outbox(State(state): State<AppState>) -> Response {
    let Some(outbox) = state.outbox else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match outbox.messages().await {
        Ok(messages) => Json(messages).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}
