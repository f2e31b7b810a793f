//! `GET /healthz`: whether the server serves, and the state of its shared store.

use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// How long the store may take to answer a health check.
const STORE_CHECK: Duration = Duration::from_secs(1);

/// 200 with the store's state while the server serves; 503 while its store is unreachable
/// (calls then end with an apology, nobody joins), so that a load balancer can tell.
pub async fn healthz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let store = match tokio::time::timeout(STORE_CHECK, app.store.health()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 1 s".to_owned()),
    };
    let mode = if app.development() {
        "development"
    } else {
        "production"
    };
    match store {
        Ok(()) => (
            StatusCode::OK,
            Json(
                json!({"status": "ok", "mode": mode, "store": {"kind": app.store.name(), "ok": true}}),
            ),
        ),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "degraded",
                "mode": mode,
                "store": {"kind": app.store.name(), "ok": false, "error": error},
            })),
        ),
    }
}
