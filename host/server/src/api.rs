//! REST endpoints owned by the server crate: tools over HTTP and health.

pub mod health;
pub mod host_keys;
pub mod tools;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// The JSON error body every REST endpoint uses:
/// `{"error":{"code":…,"message":…}}` plus optional extra fields.
pub fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}
