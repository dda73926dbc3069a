//! `GET /api/devices/{id}/host-keys` and `DELETE /api/devices/{id}/host-keys`:
//! see the pinned SSH host keys of a device, and forget them so the next
//! connection trusts the key it is shown (re-trust after a legitimate key
//! change). Reading needs `read`, forgetting needs `admin`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::json;
use toolhost_devices::host_keys::HostKeyRepo;
use toolhost_devices::{CallerScopes, DeviceRepo};
use toolhost_ssh::SshPool;

use crate::api::error_response;
use crate::app::RegistryCaller;

#[derive(Clone)]
struct HostKeysState {
    devices: DeviceRepo,
    keys: HostKeyRepo,
    pool: SshPool,
}

/// Routes relative to `/api/devices`, to merge into the registry router.
pub fn router(devices: DeviceRepo, keys: HostKeyRepo, pool: SshPool) -> Router {
    Router::new()
        .route("/{id}/host-keys", get(list).delete(forget))
        .with_state(HostKeysState {
            devices,
            keys,
            pool,
        })
}

async fn device_id(state: &HostKeysState, id_or_name: &str) -> Result<String, Response> {
    match state.devices.get(id_or_name).await {
        Ok(Some(record)) => Ok(record.device.id),
        Ok(None) => Err(error_response(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no device {id_or_name:?}"),
        )),
        Err(e) => {
            tracing::error!(error = %e, "device lookup failed");
            Err(internal())
        }
    }
}

fn internal() -> Response {
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error".into(),
    )
}

fn forbidden(what: &str, scope: &str) -> Response {
    error_response(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("{what} needs the {scope} scope"),
    )
}

async fn list(
    State(state): State<HostKeysState>,
    Extension(caller): Extension<RegistryCaller>,
    Path(id): Path<String>,
) -> Response {
    if !caller.can_read() {
        return forbidden("reading host keys", "read");
    }
    let id = match device_id(&state, &id).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    match state.keys.list(&id).await {
        Ok(keys) => Json(json!({ "device_id": id, "host_keys": keys })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "listing host keys failed");
            internal()
        }
    }
}

async fn forget(
    State(state): State<HostKeysState>,
    Extension(caller): Extension<RegistryCaller>,
    Path(id): Path<String>,
) -> Response {
    if !caller.can_admin() {
        return forbidden("re-trusting a device", "admin");
    }
    let id = match device_id(&state, &id).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    match state.keys.forget(&id).await {
        Ok(n) => {
            // Connections made under the old key must not outlive it.
            state.pool.disconnect_device(&id);
            tracing::info!(device = %id, forgotten = n, "host keys forgotten; next connection re-pins");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "forgetting host keys failed");
            internal()
        }
    }
}
