//! `GET /healthz`.

/// 200 while the server is serving.
pub async fn healthz() -> &'static str {
    "ok\n"
}
