//! `GET /dev/outbox`: what the local verifier "sent", in development mode only.

use crate::state::AppState;
use crate::verify::OutboxMessage;
use axum::Json;
use axum::extract::State;

/// The outbox as a JSON array, oldest first.
pub async fn outbox(State(state): State<AppState>) -> Json<Vec<OutboxMessage>> {
    Json(state.outbox.map(|o| o.messages()).unwrap_or_default())
}
