//! The HTTP surface: one route table, used by `serve` and by the tests alike. Each served
//! carrier gets its entry and keypad paths; a carrier that is not served answers 404.

pub(crate) mod conference;
mod dev;
mod health;
mod metrics;
mod voice;

use crate::carrier::Hook;
use crate::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

pub use crate::carrier::{Form, WebhookError};

/// The largest request body accepted; carriers' webhooks are a few KiB.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Builds the router for the given state.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::guarded));
    for carrier in state.carriers.served() {
        for hook in [Hook::Entry, Hook::Code] {
            let carrier = carrier.clone();
            let meter = crate::metrics::WebhookMeter::new(carrier.kind(), hook);
            let path = match hook {
                Hook::Entry => carrier.kind().entry_path(),
                Hook::Code => carrier.kind().code_path(),
            };
            router = router.route(
                path,
                post(move |State(app): State<AppState>, request: Request| {
                    let meter = meter.clone();
                    let webhook = voice::webhook(app, carrier, hook, request);
                    async move { meter.measure(webhook).await }
                }),
            );
        }
    }
    for carrier in state.carriers.served() {
        if !carrier.joins_rooms() {
            continue;
        }
        let carrier = carrier.clone();
        router = router.route(
            carrier.kind().events_path(),
            post(move |State(app): State<AppState>, request: Request| {
                conference::status_callback(app, carrier, request)
            }),
        );
    }
    router = router
        .route("/api/conferences", get(conference::list))
        .route(
            "/api/conferences/{name}/{action}",
            post(conference::conference_action),
        )
        .route(
            "/api/conferences/{name}/participants/{id}/{action}",
            post(conference::participant_action),
        );
    router = router.merge(crate::console::router());
    if state.outbox.is_some() {
        router = router.route("/dev/outbox", get(dev::outbox));
    }
    router
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The router of the `--metrics-listen` address: `GET /metrics` without a token, and nothing
/// else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::open))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
