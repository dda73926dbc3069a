//! `GET /api/tools` and `POST /api/tools/{name}`: every MCP tool over REST.
//!
//! The body of a call is the arguments object. A tool that ran returns 200
//! with `{"content":…, "structuredContent":…, "isError":…}` (the MCP result
//! shape); unknown tool is 404, missing scope 403, invalid arguments 422.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use toolhost_auth::Principal;

use crate::api::error_response;
use crate::mcp::{failure, success_result};
use crate::tools::{ToolCallError, ToolService, required_scope};

pub fn router(tools: Arc<ToolService>) -> Router {
    Router::new()
        .route("/", get(list))
        .route("/{name}", post(call))
        .with_state(tools)
}

async fn list(State(tools): State<Arc<ToolService>>) -> Json<Value> {
    let catalog = tools.runtime().registry().snapshot();
    let list: Vec<Value> = catalog
        .plugins()
        .flat_map(|p| {
            p.manifest.tools.iter().map(move |t| {
                json!({
                    "name": t.name,
                    "title": t.title,
                    "description": t.description,
                    "plugin": p.name(),
                    "pluginVersion": p.manifest.version,
                    "inputSchema": &*t.input_schema,
                    "outputSchema": t.output_schema.as_deref(),
                    "annotations": t.annotations,
                    "requiredScope": required_scope(t).to_string(),
                })
            })
        })
        .collect();
    Json(json!({ "tools": list }))
}

async fn call(
    State(tools): State<Arc<ToolService>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: Option<Json<Value>>,
) -> Response {
    let args = match body {
        Some(Json(v @ Value::Object(_))) => v,
        None => json!({}),
        Some(_) => {
            return error_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "the request body must be a JSON object of tool arguments".into(),
            );
        }
    };
    match tools
        .call(&principal, &name, args, None, CancellationToken::new())
        .await
    {
        Ok(out) => Json(success_result(out)).into_response(),
        Err(e @ ToolCallError::UnknownTool(_)) => {
            error_response(StatusCode::NOT_FOUND, "not_found", e.to_string())
        }
        Err(e @ ToolCallError::Forbidden { .. }) => {
            error_response(StatusCode::FORBIDDEN, "insufficient_scope", e.to_string())
        }
        Err(ToolCallError::InvalidArguments { tool, problems }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": {
                "code": "validation_failed",
                "message": format!("invalid arguments for {tool}"),
                "problems": problems,
            }})),
        )
            .into_response(),
        Err(e @ ToolCallError::Failed(_)) => match failure(e) {
            Ok(result) => Json(result).into_response(),
            Err(_) => error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error".into(),
            ),
        },
        Err(ToolCallError::Internal) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error".into(),
        ),
    }
}
