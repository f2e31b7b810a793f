//! The HTTP surface: one route table, used by `serve` and by the tests alike.

mod dev;
mod form;
mod health;
mod voice;

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};

pub use form::{Form, WebhookError};

/// The largest request body accepted; Twilio's webhooks are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the router for the given state.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/voice", post(voice::incoming))
        .route(crate::dialect::CODE_PATH, post(voice::code))
        .route("/healthz", get(health::healthz));
    if state.outbox.is_some() {
        router = router.route("/dev/outbox", get(dev::outbox));
    }
    router
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
