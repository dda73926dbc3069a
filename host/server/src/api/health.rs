//! `/healthz` (the process answers) and `/readyz` (database reachable and
//! the initial plugin scan finished). Neither needs a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use toolhost_db::Database;
use toolhost_runtime::Runtime;

#[derive(Clone)]
pub struct HealthState {
    pub db: Database,
    pub runtime: Arc<Runtime>,
    /// Set once the startup scan of the plugins directory is done.
    pub plugins_scanned: Arc<AtomicBool>,
}

pub fn router(state: HealthState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn ready(State(s): State<HealthState>) -> (StatusCode, Json<Value>) {
    let db = s.db.ping().await.is_ok();
    let scanned = s.plugins_scanned.load(Ordering::Acquire);
    let catalog = s.runtime.registry().snapshot();
    let ok = db && scanned;
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "ready": ok,
            "database": db,
            "pluginsScanned": scanned,
            "plugins": catalog.plugins().count(),
            "tools": catalog.tool_count(),
        })),
    )
}
