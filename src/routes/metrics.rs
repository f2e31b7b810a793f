//! `GET /metrics`: every metric in the Prometheus text format (see [`crate::metrics`]), with
//! the store's health checked at each scrape.

use crate::state::AppState;
use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// How long the store may take to answer the health check of a scrape.
const STORE_CHECK: Duration = Duration::from_secs(1);

/// The content type of the Prometheus text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// On the main listener, opened as `/dev/outbox` is: open in development mode; once a real
/// carrier can reach the server, only with `Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>`
/// (401 otherwise), and 404 without a token configured.
pub async fn guarded(State(app): State<AppState>, headers: HeaderMap) -> Response {
    if !app.development() {
        match &app.admin_token {
            None => return StatusCode::NOT_FOUND.into_response(),
            Some(token) if !crate::admin::bearer_matches(&headers, token) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(WWW_AUTHENTICATE, "Bearer")],
                    "the metrics need Authorization: Bearer <BRIDGEKEEPER_ADMIN_TOKEN>\n",
                )
                    .into_response();
            }
            Some(_) => {}
        }
    }
    open(State(app)).await
}

/// On the `--metrics-listen` address: no token asked (that address is kept private).
pub async fn open(State(app): State<AppState>) -> Response {
    let up = matches!(
        tokio::time::timeout(STORE_CHECK, app.store.health()).await,
        Ok(Ok(()))
    );
    crate::metrics::set_store_up(app.store.name(), up);
    ([(CONTENT_TYPE, TEXT_FORMAT)], crate::metrics::render()).into_response()
}
